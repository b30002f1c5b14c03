"""Inventory rows made directly, for correlation and owner tests that do not need an upstream's quirks."""

import hashlib
import itertools

from django.utils import timezone

from connectors.choices import AccountType, GrantKind, Level, ResourceType, SyncStatus
from connectors.models import Account, Connector, Entitlement, Grant, Resource, SyncRun

_ids = itertools.count(1)


class Inventory:
    """One connector with an applied run; accounts, resources and grants added as a sync would record them."""

    def __init__(self, name: str, kind: str = "github"):
        self.connector = Connector.objects.create(name=name, kind=kind, base_url="http://127.0.0.1:9")
        now = timezone.now()
        self.run = SyncRun.objects.create(
            connector=self.connector,
            status=SyncStatus.SUCCEEDED,
            started_at=now,
            heartbeat_at=now,
            finished_at=now,
            applied_at=now,
        )

    def account(self, login: str, *, type=AccountType.HUMAN, email: str = "", **fields) -> Account:
        return Account.objects.create(
            connector=self.connector,
            external_id=fields.pop("external_id", f"{type}:{login}:{next(_ids)}"),
            login=login,
            type=type,
            email=email,
            digest="x",
            first_seen_run=self.run,
            **fields,
        )

    def resource(self, path: str, type=ResourceType.REPOSITORY, *, parent: Resource | None = None) -> Resource:
        return Resource.objects.create(
            connector=self.connector,
            external_id=f"{type}:{path}",
            type=type,
            path=path,
            name=path.rsplit("/", 1)[-1],
            parent=parent,
            digest="x",
            first_seen_run=self.run,
        )

    def grant(
        self,
        resource: Resource,
        name: str,
        level: Level,
        *,
        account: Account | None = None,
        group: Resource | None = None,
        kind=GrantKind.PERMISSION,
        via: str = "direct",
    ) -> Grant:
        entitlement, _ = Entitlement.objects.get_or_create(resource=resource, kind=kind, name=name, level=level)
        holder = f"a{account.pk}" if account else f"g{group.pk}"
        key = hashlib.sha1(f"{holder}|{resource.pk}|{kind}|{via}".encode()).hexdigest()  # noqa: S324 - a test key
        return Grant.objects.create(
            connector=self.connector,
            key=key,
            digest=key,
            account=account,
            group=group,
            entitlement=entitlement,
            resource=resource,
            via=via,
            added_run=self.run,
            valid_from=self.run.started_at,
        )
