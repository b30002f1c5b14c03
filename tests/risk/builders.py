"""A small pipeline inventory built from records through the real sync engine, for the risk and access tests."""

from datetime import date, timedelta

from django.utils import timezone

from connectors import risk
from connectors.base import AccountRecord, GrantRecord, ResourceRecord
from connectors.choices import AccountState, AccountType, GrantKind, IdentityStatus, Level, LinkRule
from connectors.models import Account, Connector, Grant, GrantRisk, Identity
from connectors.sync import run_sync
from tests.connectors.records import RecordSource

LEAVER_END = date(2026, 10, 1)


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def org(path="acme"):
    return ResourceRecord("org:1", "organization", path)


def team(slug="eng", parent="org:1"):
    return ResourceRecord(f"team:{slug}", "team", f"acme/team/{slug}", parent_external_id=parent)


def repo(name, *, visibility="private"):
    return ResourceRecord(
        f"repo:{name}", "repository", f"acme/{name}", parent_external_id="org:1", attributes={"visibility": visibility}
    )


def human(login, **fields):
    return AccountRecord(f"user:{login}", login, email=fields.pop("email", f"{login}@acme.test"), **fields)


def nonhuman(login, kind=AccountType.ROBOT, **fields):
    return AccountRecord(f"{kind}:{login}", login, kind, **fields)


def grant(resource, holder, *, level=Level.WRITE, via="direct", kind=GrantKind.PERMISSION, permission=None, **extra):
    """A grant on RESOURCE (external id) held by HOLDER: "user:x"/"robot:y"… (an account) or "team:z"/"org:1"."""
    group = holder.startswith(("team:", "org:", "group:"))
    return GrantRecord(
        resource,
        kind,
        permission or Level(level).label,
        level,
        via,
        account_external_id=None if group else holder,
        group_external_id=holder if group else None,
        **extra,
    )


def member(group, account, *, level=Level.READ, **extra):
    return grant(group, account, level=level, via="membership", kind=GrantKind.MEMBERSHIP, permission="member", **extra)


def sync(name, records, *, kind="github"):
    connector, _ = Connector.objects.get_or_create(
        name=name, defaults={"kind": kind, "base_url": "https://example.test", "options": {}, "removal_threshold": 1.0}
    )
    run = run_sync(connector, connector_factory=RecordSource(list(records)))
    assert run.status == "succeeded", run.error
    return connector


def person(email, *, leaver=False, name="", manager=None):
    return Identity.objects.create(
        email=email,
        name=name or email.split("@")[0].title(),
        status=IdentityStatus.LEAVER if leaver else IdentityStatus.ACTIVE,
        end_date=LEAVER_END if leaver else None,
        manager=manager,
    )


def link(connector, login, identity):
    """A link by hand (correlation never changes it), as the people issue's `link` makes it."""
    Account.objects.filter(connector=connector, login=login).update(
        identity=identity, identity_rule=LinkRule.MANUAL, identity_confidence=100
    )


def own(connector, login, identity):
    Account.objects.filter(connector=connector, login=login).update(owner=identity, owner_rule="manual")


def codes(connector, holder, resource_path, **filters) -> list[str]:
    """The stored risk codes of the one current grant of HOLDER (login or group path) on RESOURCE_PATH."""
    grants = Grant.objects.current().filter(connector=connector, resource__path=resource_path, **filters)
    grants = grants.filter(account__login=holder) | grants.filter(group__path=holder)
    (found,) = grants
    return GrantRisk.objects.get(grant=found).code_list


def refresh(connector):
    return risk.refresh(Connector.objects.get(pk=connector.pk))


__all__ = ["AccountState", "AccountType", "GrantKind", "Level"]
