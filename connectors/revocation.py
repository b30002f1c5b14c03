"""Take one recorded grant away through its connector: the seam campaigns call."""

from .base import GrantTarget, Principal, RevocationResult, Target
from .choices import Level
from .client import build_connector
from .models import Grant


def grant_target(grant: Grant) -> GrantTarget:
    def resource(r) -> Target:
        return Target(external_id=r.external_id, type=r.type, path=r.path, attributes=r.attributes)

    account = grant.account
    return GrantTarget(
        kind=grant.entitlement.kind,
        permission=grant.entitlement.name,
        level=Level(grant.entitlement.level),
        via=grant.via,
        resource=resource(grant.resource),
        account=Principal(account.external_id, account.login, account.type, account.attributes) if account else None,
        group=resource(grant.group) if grant.group_id else None,
        attributes=grant.attributes,
    )


def revoke_grant(
    grant: Grant, *, downgrade_to: Level | None = None, connector_factory=build_connector
) -> RevocationResult:
    provider = connector_factory(grant.connector)
    try:
        return provider.revoke(grant_target(grant), downgrade_to=downgrade_to)
    finally:
        provider.http.close()
