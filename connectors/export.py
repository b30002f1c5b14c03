"""Rows of the access export (CONTRACT.md): recorded grants, or effective access derived from them.

Effective access expands each grant onto every account it reaches (members of
a team or organization, including child teams' members) and every resource it
reaches (the resource itself and its descendants named by the entitlement's
cascade). A resource whose attributes carry ``reach`` (a list of external ids)
also passes its cascading grants to those resources, of the cascade's types,
although they are not its descendants: an Artifactory permission target reaches
the repositories it names or its ``ANY`` stands for, recorded once on the target.
Grants stream from the database; only the resource tree, accounts
and memberships are held in memory, which grow with the upstream's size, not
with the output's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from . import risk
from .choices import GrantKind, Level
from .models import Account, Connector, Grant, Resource


@dataclass(frozen=True)
class Filters:
    at: datetime | None = None
    person: str | None = None
    resource_path: str | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class _Snapshot:
    """The inventory of one connector at one time, ready to expand."""

    def __init__(self, connector: Connector, at: datetime | None):
        self.connector = connector
        grants = Grant.objects.filter(connector=connector)
        self.grants = grants.at(at) if at else grants.current()
        runs = connector.runs.filter(applied_at__isnull=False)
        if at:
            runs = runs.filter(applied_at__lte=at)
        last = runs.order_by("-applied_at").first()
        self.last_seen = last.applied_at if last else None
        self.resources = {
            r["id"]: r
            for r in Resource.objects.filter(connector=connector).values(
                "id", "type", "external_id", "path", "parent_id"
            )
        }
        # Risk signals of each row (connectors.risk), computed from the same inputs as the stored ones.
        self.assess = risk.Assessor(connector)
        self.public = set()
        for r in Resource.objects.filter(connector=connector).values(*risk.RESOURCE_FIELDS).iterator():
            if risk.resource_is_public(r):
                self.public.add(r["id"])
        self.children: dict[int, list[int]] = defaultdict(list)
        for r in self.resources.values():
            if r["parent_id"]:
                self.children[r["parent_id"]].append(r["id"])
        by_external_id = {r["external_id"]: rid for rid, r in self.resources.items()}
        self.reach: dict[int, list[int]] = {}
        self.reached_by: dict[int, list[int]] = defaultdict(list)
        linking = Resource.objects.filter(connector=connector, attributes__has_key="reach")
        for rid, attributes in linking.values_list("id", "attributes"):
            self.reach[rid] = [by_external_id[e] for e in attributes.get("reach") or () if e in by_external_id]
            for reached in self.reach[rid]:
                self.reached_by[reached].append(rid)
        kept = ("id", "external_id", "login", "type", "email", "state", "identity__email")
        self.accounts = {}
        # account id -> (type, the account's own risk codes)
        self.holders: dict[int, tuple[str, list[str]]] = {}
        fields = dict.fromkeys((*kept, *risk.ACCOUNT_FIELDS))
        for a in Account.objects.filter(connector=connector).values(*fields).iterator(chunk_size=2000):
            self.accounts[a["id"]] = {key: a[key] for key in kept}
            self.holders[a["id"]] = self.assess.holder(a)
        # Memberships held by accounts: group -> [(account, level, rolls_up)], and those that cascade to subgroups.
        self._members: dict[int, list[tuple[int, int, bool]]] = defaultdict(list)
        self._cascading_members: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        memberships = self.grants.filter(entitlement__kind=GrantKind.MEMBERSHIP, account__isnull=False).values_list(
            "account_id",
            "resource_id",
            "entitlement__level",
            "entitlement__rolls_up",
            "entitlement__cascade_to",
            "entitlement__cascade_level",
        )
        for holder, group, level, rolls_up, cascade_to, cascade_level in memberships:
            self._members[group].append((holder, level, rolls_up))
            if cascade_to:
                self._cascading_members[group].append((holder, cascade_level or level, cascade_to))
        # Groups that are members of groups (GitLab: a group invited into a group): group -> [(member group,
        # level, cascade types)]. Their members come along, capped at that level, one level deep.
        self._member_groups: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
        group_memberships = self.grants.filter(entitlement__kind=GrantKind.MEMBERSHIP, group__isnull=False)
        for holder, group, level, cascade_to, cascade_level in group_memberships.values_list(
            "group_id", "resource_id", "entitlement__level", "entitlement__cascade_to", "entitlement__cascade_level"
        ):
            self._member_groups[group].append((holder, cascade_level or level, cascade_to))
        # Resources that do not inherit from their parents (a Jenkins item with a non-inheriting matrix).
        self.sealed = set(
            Resource.objects.filter(connector=connector, attributes__inherits=False).values_list("id", flat=True)
        )
        self._member_cache: dict[int, dict[int, int]] = {}  # keyed by id, negated when not through groups
        self._descendant_cache: dict[tuple[int, str], list[int]] = {}

    def descendants(self, resource_id: int, types: str) -> list[int]:
        key = (resource_id, types)
        if key not in self._descendant_cache:
            wanted = set(types.split(","))
            found, stack = [], [c for c in self.children.get(resource_id, ()) if c not in self.sealed]
            while stack:
                rid = stack.pop()
                if self.resources[rid]["type"] in wanted:
                    found.append(rid)
                stack.extend(c for c in self.children.get(rid, ()) if c not in self.sealed)
            self._descendant_cache[key] = sorted(found)
        return self._descendant_cache[key]

    def cascade(self, resource_id: int, types: str) -> list[int]:
        """Resources of these types a cascading grant on resource_id reaches: descendants and explicit reach."""
        linked = self.reach.get(resource_id)
        if not linked:
            return self.descendants(resource_id, types)
        key = (resource_id, f"reach:{types}")
        if key not in self._descendant_cache:
            wanted = set(types.split(","))
            found = set(self.descendants(resource_id, types))
            found.update(rid for rid in linked if self.resources[rid]["type"] in wanted)
            self._descendant_cache[key] = sorted(found)
        return self._descendant_cache[key]

    def sources(self, resource_id: int) -> list[int]:
        """Resources whose grants can reach resource_id: its ancestors and the resources that name it in reach."""
        return [*self.ancestors(resource_id), *self.reached_by.get(resource_id, ())]

    def members(self, group_id: int, *, through_groups: bool = True) -> dict[int, int]:
        """Accounts that receive what is granted to a group, with their level in it.

        Its own members; members of its child groups of the same type when their membership rolls up
        (GitHub: a child team's members reach the parent's grants); members of ancestor groups whose
        membership cascades down to it (GitLab: a parent group's members are members of its subgroups);
        and, one level deep, the members of groups that are members of it or of an ancestor that
        cascades to it (GitLab: groups invited into it), capped at that membership's level.
        """
        key = group_id if through_groups else -group_id
        if key not in self._member_cache:
            group = self.resources[group_id]
            found: dict[int, int] = {}

            def add(account_id: int, level: int) -> None:
                found[account_id] = max(level, found.get(account_id, 0))

            for account_id, level, _rolls_up in self._members.get(group_id, ()):
                add(account_id, level)
            for child in self.descendants(group_id, group["type"]):
                for account_id, level, rolls_up in self._members.get(child, ()):
                    if rolls_up:
                        add(account_id, level)
            for ancestor in self.ancestors(group_id)[1:]:
                for account_id, level, types in self._cascading_members.get(ancestor, ()):
                    if group["type"] in types.split(","):
                        add(account_id, level)
            if through_groups:
                for holder_of in self.ancestors(group_id):
                    for member_group, cap, types in self._member_groups.get(holder_of, ()):
                        if holder_of == group_id or group["type"] in types.split(","):
                            for account_id, level in self.members(member_group, through_groups=False).items():
                                add(account_id, min(level, cap))
            self._member_cache[key] = found
        return self._member_cache[key]

    def ancestors(self, resource_id: int) -> list[int]:
        chain, current = [], resource_id
        while current is not None:
            chain.append(current)
            current = self.resources[current]["parent_id"]
        return chain

    def account_row(self, account_id: int) -> dict:
        a = self.accounts[account_id]
        return {
            "external_id": a["external_id"],
            "login": a["login"],
            "type": a["type"],
            "email": a["email"],
            "state": a["state"],
        }

    def group_row(self, resource_id: int) -> dict:
        r = self.resources[resource_id]
        return {"external_id": r["external_id"], "login": r["path"], "type": "group", "email": "", "state": "active"}

    def risk(self, holder: int | None, g: dict, *, resource_id: int, level: int, via: str) -> list[str]:
        """Signal codes of a row: HOLDER (an account id, None for a group principal) on RESOURCE_ID at LEVEL."""
        codes = self.assess.codes(
            self.holders[holder] if holder is not None else None,
            resource_type=self.resources[resource_id]["type"],
            public=resource_id in self.public,
            level=level,
            via=via,
            kind=g["entitlement__kind"],
            valid_from=g["valid_from"],
        )
        return list(codes)

    def resource_row(self, resource_id: int) -> dict:
        r = self.resources[resource_id]
        return {"type": r["type"], "external_id": r["external_id"], "path": r["path"]}

    def person_accounts(self, email: str) -> set[int]:
        email = email.lower()
        return {
            aid
            for aid, a in self.accounts.items()
            if (a["email"] or "").lower() == email or (a["identity__email"] or "").lower() == email
        }

    def groups_of(self, account_ids: set[int]) -> set[int]:
        """Groups whose grants reach these accounts (the inverse of members())."""
        groups: set[int] = set()
        for gid, holders in self._members.items():
            mine = [rolls_up for account_id, _level, rolls_up in holders if account_id in account_ids]
            if not mine:
                continue
            groups.add(gid)
            group_type = self.resources[gid]["type"]
            if any(mine):
                groups.update(a for a in self.ancestors(gid) if self.resources[a]["type"] == group_type)
            for account_id, _level, types in self._cascading_members.get(gid, ()):
                if account_id in account_ids:
                    groups.update(self.descendants(gid, types))
        for gid, member_groups in self._member_groups.items():
            for member_group, _cap, types in member_groups:
                if member_group in groups:
                    groups.add(gid)
                    if types:
                        groups.update(self.descendants(gid, types))
        return groups


def _grant_values(qs):
    return (
        qs.values(
            "id",
            "account_id",
            "group_id",
            "resource_id",
            "via",
            "valid_from",
            "last_seen_at",
            "entitlement__kind",
            "entitlement__name",
            "entitlement__level",
            "entitlement__cascade_to",
            "entitlement__cascade_level",
            "entitlement__applies_to_self",
            "entitlement__cascade_via",
            "entitlement__capped",
        )
        .order_by("id")
        .iterator(chunk_size=2000)
    )


def rows(connectors: list[Connector], filters: Filters, *, as_granted: bool) -> Iterator[dict]:
    for connector in connectors:
        snap = _Snapshot(connector, filters.at)
        yield from _connector_rows(snap, filters, as_granted=as_granted)


def _connector_rows(snap: _Snapshot, filters: Filters, *, as_granted: bool) -> Iterator[dict]:
    qs = snap.grants
    person_ids: set[int] | None = None
    target: int | None = None
    if filters.person:
        person_ids = snap.person_accounts(filters.person)
        if not person_ids:
            return
        groups = snap.groups_of(person_ids)
        qs = qs.filter(Q(account_id__in=person_ids) | Q(group_id__in=groups))
    if filters.resource_path is not None:
        matches = [rid for rid, r in snap.resources.items() if r["path"] == filters.resource_path]
        if not matches:
            return
        target = matches[0]
        qs = qs.filter(resource_id__in=[target] if as_granted else snap.sources(target))

    base = {"connector": snap.connector.name, "system": snap.connector.kind}
    for g in _grant_values(qs):
        common = {
            **base,
            "permission": g["entitlement__name"],
            "via": g["via"],
            "grant_kind": g["entitlement__kind"],
            "first_seen": _iso(g["valid_from"]),
            "last_seen": _iso(g["last_seen_at"] or snap.last_seen),
        }
        if as_granted:
            account_id = g["account_id"]
            holder = snap.account_row(account_id) if account_id else snap.group_row(g["group_id"])
            level = g["entitlement__level"]
            yield {
                **common,
                "account": holder,
                "resource": snap.resource_row(g["resource_id"]),
                "level": Level(level).label,
                "identity": snap.accounts[account_id]["identity__email"] if account_id else None,
                "risk": snap.risk(account_id, g, resource_id=g["resource_id"], level=level, via=g["via"]),
            }
            continue
        # holder -> their level in the holding group (None: the account holds the grant itself).
        holders: dict[int, int | None] = (
            {g["account_id"]: None} if g["account_id"] else dict(snap.members(g["group_id"]))
        )
        if person_ids is not None:
            holders = {h: lvl for h, lvl in holders.items() if h in person_ids}
        if not holders:
            continue
        reach: list[tuple[int, int, str]] = []
        if g["entitlement__applies_to_self"]:
            reach.append((g["resource_id"], g["entitlement__level"], g["via"]))
        if g["entitlement__cascade_to"]:
            level = g["entitlement__cascade_level"] or g["entitlement__level"]
            via = g["entitlement__cascade_via"] or g["via"]
            cascade = snap.cascade(g["resource_id"], g["entitlement__cascade_to"])
            reach.extend((rid, level, via) for rid in cascade)
        if target is not None:
            reach = [entry for entry in reach if entry[0] == target]
        capped = g["entitlement__capped"]
        for rid, level, via in reach:
            resource = snap.resource_row(rid)
            for holder, member_level in holders.items():
                # A capped grant (a GitLab group share) confers no more than the member has in the group.
                conferred = min(level, member_level) if capped and member_level else level
                yield {
                    **common,
                    "via": via,
                    "account": snap.account_row(holder),
                    "resource": resource,
                    "level": Level(conferred).label,
                    "identity": snap.accounts[holder]["identity__email"],
                    "risk": snap.risk(holder, g, resource_id=rid, level=conferred, via=via),
                }


CSV_FIELDS = [
    "connector",
    "system",
    "account_external_id",
    "account_login",
    "account_type",
    "account_email",
    "account_state",
    "resource_type",
    "resource_external_id",
    "resource_path",
    "permission",
    "level",
    "via",
    "grant_kind",
    "first_seen",
    "last_seen",
    "identity",
    "risk",
]


def flat(row: dict) -> dict:
    """One CSV row: nested objects become prefixed columns, the risk list one cell of codes joined by ";"."""
    out = {k: ";".join(v) if isinstance(v, list) else v for k, v in row.items() if not isinstance(v, dict)}
    for prefix in ("account", "resource"):
        for key, value in row[prefix].items():
            out[f"{prefix}_{key}"] = value
    return out


def csv_safe(value) -> str:
    """Neutralize spreadsheet formulas: synced names are untrusted input.

    A cell starting with any character a spreadsheet reads as the start of a formula (ASVS 5.0 V1.2.10: =, +, -,
    @, tab, NUL; and carriage return) gets a leading apostrophe. The JSON exports stay verbatim.
    """
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r\0":
        return "'" + text
    return text
