"""The pipeline-wide views: everything one person can reach, and everyone who can reach one resource.

person_access(identity) reads a fixed number of queries whatever the number of grants (at most five: the
person's accounts, their grants, the team/group tree around their memberships, the grants those teams and
groups hold, and the last completed reviews), and lists per system every account the person holds (linked to
them by correlation) with:

- every current grant the account holds itself, as granted (direct grants, memberships, invitations, org-wide
  grants), with level, permission, via, first-seen date and stored risk signals explained in words;
- for every team, group or organization the account is a member of, what that group holds (a team's
  repository permissions, a group shared into a project, an organization's base permission), at the level it
  confers on this member (a GitLab share is capped at the member's own level). The groups followed are the
  ones the account is a member of, the parent teams a membership rolls up to (GitHub: a child team's members
  reach the parent's repositories) and the subgroups a cascading membership reaches (GitLab: a member of a
  group is a member of its subgroups, so a share of a subgroup reaches them).

Depth, and what is not enumerated: a grant that cascades (an org owner's admin on every repository, a GitLab
group role on every subgroup and project, an org base permission) is listed once, where it is granted, with the
resource types it cascades to; the resources below are not listed one by one (``access export --person``
does that). Groups that are themselves members of a group (GitLab: a group invited into a group) are shown as
that membership; what the inviting group holds further is not followed.

resource_access(resource) is the effective-access expansion of connectors.export for one resource (the same
code, not a copy): every account that reaches it, through which path, at which level, with their person and
risk. It reads the connector's resource tree and memberships once (a fixed number of queries), so its time
grows with the connector's size rather than with the answer's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

from . import export, risk
from .choices import GrantKind, Level, ResourceType
from .models import Account, Grant, Identity, Resource

LEVELS = {level.value: level.label for level in Level}
GROUP_TYPES = (ResourceType.TEAM, ResourceType.GROUP, ResourceType.ORGANIZATION, ResourceType.INSTANCE)

_GRANT_FIELDS = (
    "id",
    "connector_id",
    "account_id",
    "group_id",
    "resource_id",
    "resource__type",
    "resource__path",
    "resource__external_id",
    "via",
    "valid_from",
    "entitlement__kind",
    "entitlement__name",
    "entitlement__level",
    "entitlement__cascade_to",
    "entitlement__cascade_level",
    "entitlement__applies_to_self",
    "entitlement__rolls_up",
    "entitlement__capped",
    "risk__codes",
)
_ACCOUNT_FIELDS = (
    *risk.ACCOUNT_FIELDS,
    "connector_id",
    "connector__name",
    "connector__kind",
    "external_id",
    "email",
    "name",
    "identity_rule",
    "identity_confidence",
    "first_seen_run__started_at",
)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


@dataclass
class GrantEntry:
    """One grant in a view: what it confers, where, through which path, since when, and why it matters."""

    resource: dict  # {type, path, external_id}
    permission: str
    level: str
    via: str
    kind: str
    first_seen: str | None
    risk: list[str]
    explanations: list[str]
    score: int
    # Set when the grant is held by a team, group or organization the account is a member of.
    through: str | None = None
    # Resource types a cascading grant also reaches, and at which level ("every repository of acme: admin").
    cascades_to: list[str] = field(default_factory=list)
    cascade_level: str | None = None


@dataclass
class AccountEntry:
    external_id: str
    login: str
    type: str
    state: str
    email: str
    link_rule: str
    link_confidence: int | None
    first_seen: str | None
    last_active_at: str | None
    risk: list[str]
    grants: list[GrantEntry] = field(default_factory=list)


@dataclass
class SystemEntry:
    connector: str
    system: str
    accounts: list[AccountEntry] = field(default_factory=list)


@dataclass
class PersonAccess:
    person: dict
    systems: list[SystemEntry]

    @property
    def grant_count(self) -> int:
        return sum(len(a.grants) for s in self.systems for a in s.accounts)

    def as_dict(self) -> dict:
        return {"person": self.person, "systems": [asdict(s) for s in self.systems]}


def person_row(identity: Identity) -> dict:
    manager = identity.manager if identity.manager_id and Identity.manager.is_cached(identity) else None
    return {
        "email": identity.email,
        "name": identity.name,
        "department": identity.department,
        "status": identity.status,
        "end_date": identity.end_date.isoformat() if identity.end_date else None,
        "manager": manager.email if manager else None,
    }


def person_access(identity: Identity, *, now: datetime | None = None) -> PersonAccess:
    """Every account the person holds and every grant they reach through it (module docstring)."""
    now = now or timezone.now()
    accounts = list(
        Account.objects.filter(identity=identity, present=True)
        .order_by("connector__name", "login", "id")
        .values(*_ACCOUNT_FIELDS)
    )
    by_id = {a["id"]: a for a in accounts}
    held = _grant_rows(Grant.objects.current().filter(account_id__in=list(by_id))) if by_id else []

    # The groups whose grants reach the accounts: group id -> [(account id, level in the group)].
    members: dict[int, dict[int, int]] = defaultdict(dict)

    def join(group_id: int, account_id: int, level: int) -> None:
        members[group_id][account_id] = max(level, members[group_id].get(account_id, 0))

    rolling, cascading = {}, {}
    paths: dict[int, str] = {}  # group id -> path, for "member of GROUP"
    for g in held:
        if g["entitlement__kind"] != GrantKind.MEMBERSHIP or g["resource__type"] not in GROUP_TYPES:
            continue
        paths[g["resource_id"]] = g["resource__path"]
        join(g["resource_id"], g["account_id"], g["entitlement__level"])
        if g["entitlement__rolls_up"]:
            rolling[g["resource_id"]] = g
        types = [t for t in (g["entitlement__cascade_to"] or "").split(",") if t in GROUP_TYPES]
        if types:
            cascading[g["resource_id"]] = (g, types)
    for origin, group_id, group_type, path in _tree(
        list(rolling), [(gid, types) for gid, (_, types) in cascading.items()]
    ):
        paths[group_id] = path
        if origin in rolling:
            g = rolling[origin]
            if group_type == g["resource__type"]:
                join(group_id, g["account_id"], g["entitlement__level"])
        if origin in cascading:
            g, _types = cascading[origin]
            join(group_id, g["account_id"], g["entitlement__cascade_level"] or g["entitlement__level"])
    through = _grant_rows(Grant.objects.current().filter(group_id__in=list(members))) if members else []

    connectors = {a["connector__name"] for a in accounts}
    reviewed = risk.last_reviews(connectors) if connectors else {}
    holders = {aid: risk.account_codes(a, now=now) for aid, a in by_id.items()}

    systems: dict[int, SystemEntry] = {}
    entries: dict[int, AccountEntry] = {}
    for a in accounts:
        system = systems.setdefault(a["connector_id"], SystemEntry(a["connector__name"], a["connector__kind"]))
        entry = AccountEntry(
            external_id=a["external_id"],
            login=a["login"],
            type=a["type"],
            state=a["state"],
            email=a["email"],
            link_rule=a["identity_rule"],
            link_confidence=a["identity_confidence"],
            first_seen=_iso(a["first_seen_run__started_at"]),
            last_active_at=_iso(risk.last_used(a)),
            risk=holders[a["id"]],
        )
        system.accounts.append(entry)
        entries[a["id"]] = entry

    for g in held:
        a = by_id[g["account_id"]]
        codes = risk.parse_codes(g["risk__codes"])
        entries[a["id"]].grants.append(_entry(g, a, codes, g["entitlement__level"], reviewed, through=None))
    for g in through:
        for account_id, member_level in members[g["group_id"]].items():
            if by_id[account_id]["connector_id"] != g["connector_id"]:
                continue
            a = by_id[account_id]
            level = g["entitlement__level"]
            if g["entitlement__capped"]:
                level = min(level, member_level)
            # The group grant's own signals (its level, public, new) with the member's signals and conferred level.
            codes = [c for c in risk.parse_codes(g["risk__codes"]) if c != "privileged"] + holders[account_id]
            if level >= Level.ADMIN:
                codes.append("privileged")
            entries[account_id].grants.append(_entry(g, a, codes, level, reviewed, through=paths[g["group_id"]]))
    for entry in entries.values():
        entry.grants.sort(key=lambda e: (e.through is not None, e.resource["path"], e.via, e.permission))
    return PersonAccess(person=person_row(identity), systems=list(systems.values()))


def _grant_rows(qs) -> list[dict]:
    return list(qs.order_by("id").values(*_GRANT_FIELDS))


def _tree(up_from: list[int], down_from: list[tuple[int, list[str]]]) -> list[tuple[int, int, str, str]]:
    """(origin, id, type, path): the ancestors of UP_FROM, and the groups below DOWN_FROM of the listed types.

    One recursive query, whatever the depth of the tree.
    """
    if not up_from and not down_from:
        return []
    table = Resource._meta.db_table
    marks = lambda values: ", ".join(["%s"] * len(values))  # noqa: E731
    ctes, selects, params = [], [], []
    # Table names come from model metadata and every value is a parameter. Only the directions needed are
    # queried: a recursive term over no rows still makes PostgreSQL scan the table.
    if up_from:
        ctes.append(
            f"up(id, parent_id, type, path, origin) AS ("  # noqa: S608
            f"SELECT id, parent_id, type, path, id FROM {table} WHERE id IN ({marks(up_from)}) UNION ALL "
            f"SELECT r.id, r.parent_id, r.type, r.path, up.origin FROM {table} r JOIN up ON r.id = up.parent_id)"  # nosec B608 # table/column names are ours, values are parameters
        )
        selects.append("SELECT origin, id, type, path FROM up WHERE id <> origin")
        params += [int(i) for i in up_from]
    if down_from:
        down_types = sorted({t for _, types in down_from for t in types})
        ctes.append(
            f"down(id, type, path, origin) AS ("  # noqa: S608
            f"SELECT id, type, path, id FROM {table} WHERE id IN ({marks(down_from)}) UNION ALL "
            f"SELECT r.id, r.type, r.path, down.origin FROM {table} r JOIN down ON r.parent_id = down.id)"  # nosec B608 # table/column names are ours, values are parameters
        )
        types_in = marks(down_types)
        selects.append(f"SELECT origin, id, type, path FROM down WHERE id <> origin AND type IN ({types_in})")  # noqa: S608 # nosec B608 # table/column names are ours, values are parameters
        params += [int(i) for i, _ in down_from]
    # Parameters in text order: every CTE's ids first, then the type filter of the down select.
    if down_from:
        params += down_types
    query = f"WITH RECURSIVE {', '.join(ctes)} {' UNION ALL '.join(selects)}"  # noqa: S608 - model metadata
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [tuple(row) for row in cursor.fetchall()]


def _entry(g: dict, a: dict, codes: list[str], level: int, reviewed: dict, *, through: str | None) -> GrantEntry:
    codes = risk.ordered(codes) if codes else []
    context = {
        "level": level,
        "permission": g["entitlement__name"],
        "via": g["via"],
        "resource_type": g["resource__type"],
        "resource_path": g["resource__path"],
        "account_type": a["type"],
        "account_login": a["login"],
        "end_date": a["identity__end_date"],
        "last_active_at": risk.last_used(a),
        "owner_email": a["owner__email"],
        "owner_left": a["owner__status"] == "leaver",
        "valid_from": g["valid_from"],
        "reviewed_at": reviewed.get(a["connector__name"]),
    }
    cascade = [t for t in (g["entitlement__cascade_to"] or "").split(",") if t]
    return GrantEntry(
        resource={
            "type": g["resource__type"],
            "path": g["resource__path"],
            "external_id": g["resource__external_id"],
        },
        permission=g["entitlement__name"],
        level=LEVELS[level],
        via=g["via"],
        kind=g["entitlement__kind"],
        first_seen=_iso(g["valid_from"]),
        risk=codes,
        explanations=risk.explain(codes, context=context) if codes else [],
        score=risk.score(codes) if codes else 0,
        through=through,
        cascades_to=cascade,
        cascade_level=LEVELS[g["entitlement__cascade_level"] or g["entitlement__level"]] if cascade else None,
    )


# --- one resource -------------------------------------------------------------------------------------


@dataclass
class Reach:
    """One path by which one account reaches the resource (an effective export row, with words)."""

    account: dict
    identity: str | None
    person: dict | None
    permission: str
    level: str
    via: str
    kind: str
    first_seen: str | None
    risk: list[str]
    explanations: list[str]
    score: int


@dataclass
class ResourceAccess:
    connector: str
    system: str
    resource: dict
    owner: str | None
    reach: list[Reach]

    def as_dict(self) -> dict:
        return {
            "connector": self.connector,
            "system": self.system,
            "resource": self.resource,
            "owner": self.owner,
            "reach": [asdict(r) for r in self.reach],
        }


def resource_access(resource: Resource) -> ResourceAccess:
    """Everyone who can reach RESOURCE and how: connectors.export's effective rows for it, highest level first."""
    connector = resource.connector
    rows = list(
        export.rows([connector], export.Filters(resource_path=resource.path), as_granted=False)
    )  # the connector's snapshot and its grants on the resource's sources
    external_ids = {row["account"]["external_id"] for row in rows}
    accounts = {
        a["external_id"]: a
        for a in Account.objects.filter(connector=connector, external_id__in=external_ids).values(
            *dict.fromkeys(("external_id", "identity__name", *risk.ACCOUNT_FIELDS))
        )
    }
    reviewed = risk.last_reviews([connector.name]).get(connector.name)
    reach = []
    for row in rows:
        a = accounts.get(row["account"]["external_id"], {})
        codes = row["risk"]
        context = {
            "level": row["level"],
            "permission": row["permission"],
            "via": row["via"],
            "resource_type": resource.type,
            "resource_path": resource.path,
            "account_type": row["account"]["type"],
            "account_login": row["account"]["login"],
            "end_date": a.get("identity__end_date"),
            "last_active_at": risk.last_used(a) if a else None,
            "owner_email": a.get("owner__email"),
            "owner_left": a.get("owner__status") == "leaver",
            "valid_from": row["first_seen"],
            "reviewed_at": reviewed,
        }
        person = None
        if row["identity"]:
            person = {
                "email": row["identity"],
                "name": a.get("identity__name") or "",
                "status": a.get("identity__status"),
                "end_date": _iso(a.get("identity__end_date")),
            }
        reach.append(
            Reach(
                account=row["account"],
                identity=row["identity"],
                person=person,
                permission=row["permission"],
                level=row["level"],
                via=row["via"],
                kind=row["grant_kind"],
                first_seen=row["first_seen"],
                risk=codes,
                explanations=risk.explain(codes, context=context),
                score=risk.score(codes),
            )
        )
    reach.sort(key=lambda r: (-Level.from_name(r.level), -r.score, r.account["login"], r.via))
    owner = resource.owner.email if resource.owner_id else None
    return ResourceAccess(
        connector=connector.name,
        system=connector.kind,
        resource={"type": resource.type, "path": resource.path, "external_id": resource.external_id},
        owner=owner,
        reach=reach,
    )
