"""Added, removed and changed grants between two applied runs, computed in SQL."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from .choices import Level
from .models import Connector, Grant, SyncRun


def applied_runs(connector: Connector):
    return connector.runs.filter(applied_at__isnull=False).order_by("applied_at", "id")


def default_runs(connector: Connector) -> tuple[SyncRun | None, SyncRun]:
    """The last applied run and the one before it (None when there is only one)."""
    runs = list(applied_runs(connector).reverse()[:2])
    if not runs:
        raise LookupError(f"connector {connector.name} has no successful sync yet")
    return (runs[1] if len(runs) > 1 else None), runs[0]


def diff(connector: Connector, from_run: SyncRun | None, to_run: SyncRun) -> dict:
    grants = Grant.objects.filter(connector=connector).select_related("entitlement", "resource", "account", "group")
    before = grants.at(from_run.applied_at) if from_run else grants.none()
    after = grants.at(to_run.applied_at)
    same_key_before = before.filter(key=OuterRef("key"))
    same_key_after = after.filter(key=OuterRef("key"))
    added = after.exclude(Exists(same_key_before))
    removed = before.exclude(Exists(same_key_after))
    # Same key in both, but a different version of the grant (different row).
    changed = after.filter(Exists(same_key_before.exclude(pk=OuterRef("pk"))))
    previous = {g.key: g for g in before.filter(key__in=changed.values("key"))}
    seen = to_run.applied_at
    changed_rows = []
    for grant in changed.order_by("id"):
        row = grant_row(connector, grant, seen)
        old = previous[grant.key]
        row["level_before"] = Level(old.entitlement.level).label
        row["permission_before"] = old.entitlement.name
        changed_rows.append(row)
    return {
        "connector": connector.name,
        "from_run": from_run.pk if from_run else None,
        "to_run": to_run.pk,
        "added": [grant_row(connector, g, seen) for g in added.order_by("id")],
        "removed": [grant_row(connector, g, seen) for g in removed.order_by("id")],
        "changed": changed_rows,
    }


def grant_row(connector: Connector, grant: Grant, last_seen) -> dict:
    """A grant as recorded, in export-row form."""
    if grant.account_id:
        a = grant.account
        holder = {"external_id": a.external_id, "login": a.login, "type": a.type, "email": a.email, "state": a.state}
    else:
        g = grant.group
        holder = {"external_id": g.external_id, "login": g.path, "type": "group", "email": "", "state": "active"}
    r = grant.resource
    return {
        "connector": connector.name,
        "system": connector.kind,
        "account": holder,
        "resource": {"type": r.type, "external_id": r.external_id, "path": r.path},
        "permission": grant.entitlement.name,
        "level": Level(grant.entitlement.level).label,
        "via": grant.via,
        "grant_kind": grant.entitlement.kind,
        "first_seen": grant.valid_from.isoformat(),
        "last_seen": (grant.last_seen_at or last_seen).isoformat() if (grant.last_seen_at or last_seen) else None,
    }
