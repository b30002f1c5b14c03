"""Builders shared by the connector tests: a client on a simulator, a sync factory, and record lookups."""

import functools
from dataclasses import dataclass

from connectors.actions import do_add_connector
from connectors.base import AccountRecord, BaseConnector, GrantRecord, GrantTarget, Principal, ResourceRecord, Target
from connectors.choices import GrantKind, SyncStatus
from connectors.client import build_connector
from connectors.http import HttpClient
from connectors.models import Grant
from tests.fakes import FakeTime


def attach_http(conn: BaseConnector, api_url: str, **options) -> BaseConnector:
    """Give a connector made with ``http=None`` a client for a loopback simulator.

    Sleeping is fake unless a test passes its own ``sleep``; timeouts are short and the pool small.
    """
    options.setdefault("sleep", FakeTime().sleep)
    options.setdefault("timeout", 5)
    options.setdefault("max_retries", 2)
    options.setdefault("max_concurrency", 4)
    conn.http = HttpClient(api_url, headers=conn.auth_headers(), allow_private_network=True, **options)
    return conn


def add_simulated_connector(monkeypatch, *, name: str, kind: str, base_url: str, token_env: str, token: str, **options):
    """Add a connector for a loopback simulator through do_add_connector; its token comes from ``token_env``.

    Tests that swap the token later just set ``token_env`` again.
    """
    monkeypatch.setenv(token_env, token)
    return do_add_connector(
        name=name,
        kind=kind,
        base_url=base_url,
        options={**options, "allow_private_network": "true"},
        secrets={"token": f"env:{token_env}"},
    )


def sync_factory(fake_time: FakeTime, **options) -> functools.partial:
    """The ``connector_factory`` for run_sync/revoke_grant: the real builder on the fake clock, failing fast."""
    options.setdefault("timeout", 1)
    options.setdefault("max_retries", 2)
    return functools.partial(build_connector, sleep=fake_time.sleep, clock=fake_time.clock, **options)


@dataclass
class Records:
    """What one connector.fetch() yielded, indexed the way the tests look things up."""

    records: list

    @property
    def accounts(self) -> dict[str, AccountRecord]:
        return {r.login: r for r in self.records if isinstance(r, AccountRecord)}

    @property
    def resources(self) -> dict[str, ResourceRecord]:
        return {r.path: r for r in self.records if isinstance(r, ResourceRecord)}

    @property
    def grants(self) -> list[GrantRecord]:
        return [r for r in self.records if isinstance(r, GrantRecord)]

    def grants_of(self, login: str) -> list[GrantRecord]:
        account = self.accounts[login].external_id
        return [grant for grant in self.grants if grant.account_external_id == account]

    def grants_on(self, path: str) -> list[GrantRecord]:
        resource = self.resources[path].external_id
        return [grant for grant in self.grants if grant.resource_external_id == resource]

    def members_of(self, path: str) -> dict[str, str]:
        """login -> permission of the membership grants on a team or the organization."""
        logins = {r.external_id: r.login for r in self.records if isinstance(r, AccountRecord)}
        return {
            logins[grant.account_external_id]: grant.permission
            for grant in self.grants_on(path)
            if grant.kind == GrantKind.MEMBERSHIP
        }

    def target(self, grant: GrantRecord) -> GrantTarget:
        """The GrantTarget revoke() gets, built as connectors.revocation builds it from the stored rows."""
        by_id = {r.external_id: r for r in self.records if not isinstance(r, GrantRecord)}

        def place(record: ResourceRecord) -> Target:
            return Target(record.external_id, record.type, record.path, record.attributes)

        account = by_id.get(grant.account_external_id) if grant.account_external_id else None
        return GrantTarget(
            kind=grant.kind,
            permission=grant.permission,
            level=grant.level,
            via=grant.via,
            resource=place(by_id[grant.resource_external_id]),
            account=Principal(account.external_id, account.login, account.type, account.attributes)
            if account
            else None,
            group=place(by_id[grant.group_external_id]) if grant.group_external_id else None,
            attributes=grant.attributes,
        )


def fail_with_fault_and_check_nothing_moved(sync, sim, connector, fault: dict, *, change, state, good=None):
    """Sync (unless ``good`` is given), change the upstream, inject ``fault``, sync again, and check fail-closed.

    The failed run must leave ``state()`` (the current grants) as it was, record nothing as removed and keep the
    good run current. Returns the failed run so callers can check its message.
    """
    good = good or sync()
    before = state()
    change()  # a real upstream change the failed run must not half-apply
    fault = dict(fault)
    sim.add_fault(fault.pop("kind"), fault.pop("path"), **fault)
    failed = sync()
    assert failed.status == SyncStatus.FAILED
    assert state() == before
    assert not Grant.objects.filter(removed_run__isnull=False).exists()
    assert connector.last_applied_run() == good
    return failed
