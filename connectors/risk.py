"""Risk signals of every current grant: why a grant matters, stored so lists filter and sort by it.

A signal is a code with a weight and a label (SIGNALS). Signals come from three places:

- the holder account: org_owner_or_admin (the account is an administrator), outside, orphan, leaver, no_2fa,
  inactive, the three non-human signals, and public when the holder is ``anonymous``/``authenticated``;
- the grant: privileged (admin or owner level), org_owner_or_admin (granted via org_owner, system_admin,
  instance_admin, admin or org_admin), direct_bypass, new_since_review;
- the resource it is granted on: public.

A grant held by a group principal (a team, group or organization, or a group account such as an LDAP group)
gets only the grant and resource signals: its members' own signals belong to their memberships.

refresh(connector) recomputes a connector's rows after each applied sync (after_sync) and after anything that
changes a signal's inputs (a roster import, an owner set by hand: refresh_all()). It reads accounts and
resources once, streams grants in id order, and rewrites only the rows whose codes changed, in batches:
memory stays flat in the number of grants and a re-sync that changed nothing writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, Value
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .choices import AccountType, GrantKind, IdentityStatus, Level, ResourceType
from .models import Account, Connector, Entitlement, Grant, GrantRisk, Resource

log = logging.getLogger(__name__)

BATCH = 5000


class Signal(NamedTuple):
    weight: int
    label: str


# Code -> default weight and label, in the order codes are stored and shown. settings.RISK_WEIGHTS overrides weights.
SIGNALS: dict[str, Signal] = {
    "leaver": Signal(40, "Leaver still holds access"),
    "org_owner_or_admin": Signal(30, "Organization owner or system administrator"),
    "orphan": Signal(25, "Account linked to no person"),
    "privileged": Signal(25, "Admin or owner level"),
    "public": Signal(20, "Open to anyone or a public resource"),
    "nonhuman_unowned": Signal(20, "Non-human identity without an owner"),
    "outside": Signal(15, "Outside collaborator or external user"),
    "no_2fa": Signal(15, "Two-factor authentication disabled"),
    "nonhuman_unused": Signal(15, "Non-human identity unused"),
    "inactive": Signal(10, "Inactive account"),
    "nonhuman_no_expiry": Signal(10, "Non-human credential without expiry"),
    "direct_bypass": Signal(10, "Direct grant bypassing teams or groups"),
    "new_since_review": Signal(10, "Appeared since the last completed review"),
}
ORDER = {code: i for i, code in enumerate(SIGNALS)}

NONHUMAN_TYPES = frozenset(
    {
        AccountType.BOT,
        AccountType.SERVICE_ACCOUNT,
        AccountType.ROBOT,
        AccountType.DEPLOY_KEY,
        AccountType.ACCESS_TOKEN,
        AccountType.APP_INSTALLATION,
    }
)
GROUP_ACCOUNT_TYPES = frozenset({AccountType.GROUP, AccountType.USER_OR_GROUP})
# App installations authenticate with tokens the app mints for one hour: "no expiry" does not apply to them.
EXPIRING_TYPES = NONHUMAN_TYPES - {AccountType.APP_INSTALLATION}
ADMIN_VIAS = frozenset({"org_owner", "system_admin", "instance_admin", "admin", "org_admin"})
# Resource types on which a human's direct grant bypasses the teams or groups the connector otherwise uses.
BYPASS_TYPES = frozenset({ResourceType.REPOSITORY, ResourceType.PROJECT, ResourceType.REGISTRY_REPOSITORY})
BROAD_VISIBILITY = frozenset({"public", "internal"})

# The fields each computation reads (values() keys): accounts_codes() and the export use the same ones.
ACCOUNT_FIELDS = (
    "id",
    "type",
    "login",
    "state",
    "two_factor",
    "is_admin",
    "is_outside",
    "last_active_at",
    "identity_id",
    "identity__email",
    "identity__status",
    "identity__end_date",
    "owner_id",
    "owner__email",
    "owner__status",
    "attributes__external",
    "attributes__expires_at",
    "attributes__expiration",
    "attributes__expiry",
    "attributes__last_used_at",
)
RESOURCE_FIELDS = ("id", "type", "attributes__visibility", "attributes__public", "attributes__private")


def weight(code: str) -> int:
    return int(getattr(settings, "RISK_WEIGHTS", {}).get(code, SIGNALS[code].weight))


def score(codes: Iterable[str]) -> int:
    """Sum of the signals' weights, capped at 100."""
    return min(100, sum(weight(code) for code in set(codes) if code in SIGNALS))


def ordered(codes: Iterable[str]) -> list[str]:
    return sorted(set(codes), key=lambda code: ORDER.get(code, len(ORDER)))


def stored(codes: Iterable[str]) -> str:
    """The GrantRisk.codes form: ",a,b," (or "," when there is none)."""
    return "," + "".join(f"{code}," for code in ordered(codes))


def parse_codes(value: str | None) -> list[str]:
    return [code for code in (value or "").split(",") if code]


# --- what each part contributes -----------------------------------------------------------------------


def _when(value) -> datetime | None:
    """A time from a model field or an attribute string (ISO date-time, or a date)."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    parsed = parse_datetime(text)
    if parsed is None:
        day = parse_date(text[:10]) if len(text) >= 10 else None
        if day is None:
            return None
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def last_used(account: Mapping) -> datetime | None:
    """When the account was last active, as the upstream reports it (None: not reported)."""
    return account.get("last_active_at") or _when(account.get("attributes__last_used_at"))


def expiry(account: Mapping) -> str | None:
    for key in ("attributes__expires_at", "attributes__expiration", "attributes__expiry"):
        if account.get(key) not in (None, "", -1, 0):
            return str(account[key])
    return None


def account_codes(account: Mapping, *, now: datetime) -> list[str]:
    """Signals of the holder account itself (a values() row with ACCOUNT_FIELDS)."""
    codes = []
    kind = account["type"]
    if account.get("is_admin"):
        codes.append("org_owner_or_admin")
    if kind == AccountType.PSEUDO:
        return [*codes, "public"]
    if kind in GROUP_ACCOUNT_TYPES:
        return codes
    if account.get("is_outside") or account.get("attributes__external") is True:
        codes.append("outside")
    if kind == AccountType.HUMAN:
        if account.get("identity_id") is None:
            codes.append("orphan")
        elif account.get("identity__status") == IdentityStatus.LEAVER:
            codes.append("leaver")
        if account.get("two_factor") is False:
            codes.append("no_2fa")
        seen = last_used(account)
        if seen is not None and seen < now - timedelta(days=settings.RISK_INACTIVE_DAYS):
            codes.append("inactive")
    elif kind in NONHUMAN_TYPES:
        if account.get("owner_id") is None or account.get("owner__status") == IdentityStatus.LEAVER:
            codes.append("nonhuman_unowned")
        if kind in EXPIRING_TYPES and expiry(account) is None:
            codes.append("nonhuman_no_expiry")
        seen = last_used(account)
        if seen is not None and seen < now - timedelta(days=settings.RISK_NONHUMAN_UNUSED_DAYS):
            codes.append("nonhuman_unused")
    return codes


def resource_is_public(resource: Mapping) -> bool:
    """Public per the upstream's own attribute: visibility (GitHub, GitLab), public (Harbor, Quay), private (Hub)."""
    visibility = resource.get("attributes__visibility")
    if visibility is not None:
        return str(visibility).lower() in BROAD_VISIBILITY
    return resource.get("attributes__public") is True or resource.get("attributes__private") is False


def grant_codes(
    *,
    level: int,
    via: str,
    kind: str,
    holder_type: str | None,
    resource_type: str,
    valid_from: datetime | None,
    bypass_types: frozenset[str] | set[str] = frozenset(),
    reviewed_at: datetime | None = None,
) -> list[str]:
    """Signals of the grant itself; holder_type is the account type, None for a group principal."""
    codes = []
    if level >= Level.ADMIN:
        codes.append("privileged")
    if via in ADMIN_VIAS:
        codes.append("org_owner_or_admin")
    if (
        via == "direct"
        and kind == GrantKind.PERMISSION
        and holder_type == AccountType.HUMAN
        and resource_type in BYPASS_TYPES
        and resource_type in bypass_types
    ):
        codes.append("direct_bypass")
    if reviewed_at is not None and valid_from is not None and valid_from > reviewed_at:
        codes.append("new_since_review")
    return codes


def team_reached_types(connector: Connector) -> set[str]:
    """Resource types this connector grants through teams or groups: where a human's direct grant is a bypass.

    Counted: grants held by a team or group (not an organization's own base permission), grants held by a group
    account (an LDAP group on a Harbor project), and group memberships that cascade (GitLab).
    """
    # Three narrow queries rather than one OR: each can use its own index (one OR over joins scans every grant).
    grants = Grant.objects.current().filter(connector=connector)
    pairs = set(
        grants.filter(group__isnull=False)
        .exclude(group_id=F("resource_id"))
        .values_list("resource__type", "entitlement__cascade_to")
        .distinct()
    )
    group_accounts = list(
        Account.objects.filter(connector=connector, type__in=GROUP_ACCOUNT_TYPES).values_list("id", flat=True)
    )
    if group_accounts:
        held = grants.filter(account_id__in=group_accounts)
        pairs.update(held.values_list("resource__type", "entitlement__cascade_to").distinct())
    cascading = Entitlement.objects.filter(
        resource__connector=connector,
        kind=GrantKind.MEMBERSHIP,
        resource__type__in=(ResourceType.GROUP, ResourceType.TEAM),
        cascade_to__gt="",
    ).filter(Exists(Grant.objects.current().filter(entitlement=OuterRef("pk"))))
    pairs.update(cascading.values_list("resource__type", "cascade_to").distinct())
    types: set[str] = set()
    for resource_type, cascade_to in pairs:
        types.add(resource_type)
        types.update(t for t in (cascade_to or "").split(",") if t)
    return types


def last_review(connector: Connector) -> datetime | None:
    """When the inventory of the last completed review covering this connector was frozen (its launch).

    A review looks at the grants as they were at launch: a grant that appeared after the launch was never
    reviewed, even if the campaign closed later. A campaign whose scope names no connectors covers them all.
    """
    return last_reviews([connector.name]).get(connector.name)


def last_reviews(names: Iterable[str]) -> dict[str, datetime]:
    """last_review() of several connectors by name, in one query."""
    from reviews.choices import CampaignState
    from reviews.models import Campaign

    wanted, found = set(names), {}
    # The newest reviewed inventory: the latest launch among closed campaigns (they may overlap).
    closed = Campaign.objects.filter(state=CampaignState.CLOSED, closed_at__isnull=False).order_by("-launched_at")
    for launched_at, config in closed.values_list("launched_at", "config"):
        scope = ((config or {}).get("scope") or {}).get("connectors") or list(wanted)
        for name in wanted.intersection(scope) - found.keys():
            found[name] = launched_at
        if found.keys() == wanted:
            break
    return found


# --- refresh ------------------------------------------------------------------------------------------


def refresh(connector: Connector, *, now: datetime | None = None) -> dict:
    """Recompute the signals of every current grant of the connector; returns counts."""
    now = now or timezone.now()
    with transaction.atomic():
        return _refresh(connector, now)


class Assessor:
    """Signals of one connector's grants: loads what is connector-wide once (team norm, last review).

    holder(account_row) gives (type, codes) of an account row with ACCOUNT_FIELDS; codes(...) gives the
    signals of one grant, or of one effective row (the level it confers on the resource it reaches).
    """

    def __init__(self, connector: Connector, *, now: datetime | None = None):
        self.now = now or timezone.now()
        self.bypass_types = frozenset(team_reached_types(connector))
        self.reviewed_at = last_review(connector)
        # Grants repeat a few shapes (holder signals, resource type, level, kind of via): computed once per shape.
        self._memo: dict[tuple, tuple[str, ...]] = {}

    def holder(self, account: Mapping) -> tuple[str, tuple[str, ...]]:
        return account["type"], tuple(account_codes(account, now=self.now))

    def is_new(self, valid_from: datetime | str | None) -> bool:
        return self.reviewed_at is not None and valid_from is not None and _when(valid_from) > self.reviewed_at

    def codes(
        self,
        holder: tuple[str, tuple[str, ...]] | None,
        *,
        resource_type: str,
        public: bool,
        level: int,
        via: str,
        kind: str,
        valid_from: datetime | None = None,
        new: bool | None = None,
    ) -> tuple[str, ...]:
        """Ordered codes; holder: (account type, account codes), None for a group principal.

        new (appeared since the last review) may be given instead of valid_from, when the query computed it.
        """
        new = self.is_new(valid_from) if new is None else new
        shape = via if via in ADMIN_VIAS or via == "direct" else ""
        key = (holder, resource_type, public, level >= Level.ADMIN, shape, kind, new)
        found = self._memo.get(key)
        if found is None:
            holder_type, codes = holder if holder else (None, ())
            codes = [
                *codes,
                *grant_codes(
                    level=level,
                    via=via,
                    kind=kind,
                    holder_type=holder_type,
                    resource_type=resource_type,
                    valid_from=None,
                    bypass_types=self.bypass_types,
                ),
            ]
            if new:
                codes.append("new_since_review")
            if public:
                codes.append("public")
            found = self._memo[key] = tuple(ordered(codes))
        return found


def _refresh(connector: Connector, now: datetime) -> dict:
    assess = Assessor(connector, now=now)
    accounts: dict[int, tuple[str, tuple[str, ...]]] = {
        a["id"]: assess.holder(a)
        for a in Account.objects.filter(connector=connector).values(*ACCOUNT_FIELDS).iterator(chunk_size=BATCH)
    }
    resources: dict[int, tuple[str, bool]] = {
        r["id"]: (r["type"], resource_is_public(r))
        for r in Resource.objects.filter(connector=connector).values(*RESOURCE_FIELDS).iterator(chunk_size=BATCH)
    }
    counts = {"grants": 0, "flagged": 0, "written": 0, "removed": 0}

    def flush(chunk: list[tuple[int, str, int]]) -> None:
        # Only rows whose codes or score (weights are settings) changed are rewritten.
        first, last = chunk[0][0], chunk[-1][0]
        existing = {
            gid: (codes, value)
            for gid, codes, value in GrantRisk.objects.filter(
                connector=connector, grant_id__gte=first, grant_id__lte=last
            ).values_list("grant_id", "codes", "score")
        }
        changed = [row for row in chunk if existing.get(row[0]) != row[1:]]
        if not changed:
            return
        stale = [row[0] for row in changed if row[0] in existing]
        if stale:
            GrantRisk.objects.filter(grant_id__in=stale).delete()
        _insert(connector, changed)
        counts["written"] += len(changed)

    # "Appeared since the last review" is compared in SQL: no date-time per row to read and parse.
    new = (
        ExpressionWrapper(Q(valid_from__gt=assess.reviewed_at), output_field=BooleanField())
        if assess.reviewed_at is not None
        else Value(False)
    )
    grants = (
        Grant.objects.current()
        .filter(connector=connector)
        .order_by("id")
        .annotate(new=new)
        .values_list("id", "account_id", "resource_id", "via", "new", "entitlement__level", "entitlement__kind")
    )
    written: dict[tuple[str, ...], tuple[str, int]] = {}  # codes -> (stored form, score)
    chunk: list[tuple[int, str, int]] = []
    for gid, account_id, resource_id, via, is_new, level, kind in grants.iterator(chunk_size=BATCH):
        resource_type, public = resources[resource_id]
        codes = assess.codes(
            accounts[account_id] if account_id else None,
            resource_type=resource_type,
            public=public,
            level=level,
            via=via,
            kind=kind,
            new=bool(is_new),
        )
        counts["grants"] += 1
        counts["flagged"] += bool(codes)
        if codes not in written:
            written[codes] = (stored(codes), score(codes))
        chunk.append((gid, *written[codes]))
        if len(chunk) >= BATCH:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    # Rows of grants that are no longer current (closed by this sync).
    counts["removed"], _ = GrantRisk.objects.filter(connector=connector, grant__removed_run__isnull=False).delete()
    return counts


def _insert(connector: Connector, rows: list[tuple[int, str, int]]) -> None:
    """Insert (grant id, codes, score) rows: COPY on PostgreSQL (a first refresh writes every grant), else bulk."""
    if connection.vendor != "postgresql":
        GrantRisk.objects.bulk_create(
            [GrantRisk(grant_id=gid, connector=connector, codes=codes, score=value) for gid, codes, value in rows],
            batch_size=BATCH,
        )
        return
    table = GrantRisk._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {table} (grant_id, connector_id, codes, score) FROM STDIN"  # noqa: S608 - from model metadata
        ) as copy,
    ):
        for gid, codes, value in rows:
            copy.write_row((gid, connector.pk, codes, value))


def refresh_all(*, now: datetime | None = None) -> dict[str, dict]:
    """Refresh every connector (after a roster import or an owner change): {connector name: counts}."""
    return {connector.name: refresh(connector, now=now) for connector in Connector.objects.order_by("name")}


def after_sync(run) -> None:
    """Called after each applied sync (settings.SYNC_APPLIED_HOOKS): refresh the synced connector's signals."""
    counts = refresh(run.connector)
    log.info("risk of %s: %s", run.connector.name, counts)


# --- words --------------------------------------------------------------------------------------------

TYPE_WORDS = {
    AccountType.DEPLOY_KEY: "deploy key",
    AccountType.ACCESS_TOKEN: "access token",
    AccountType.APP_INSTALLATION: "app installation",
    AccountType.SERVICE_ACCOUNT: "service account",
    AccountType.USER_OR_GROUP: "user or group",
    ResourceType.REGISTRY_REPOSITORY: "registry repository",
    ResourceType.PERMISSION_TARGET: "permission target",
}
VIA_WORDS = {
    "org_owner": "organization owner",
    "org_admin": "organization administrator",
    "system_admin": "system administrator",
    "instance_admin": "instance administrator",
    "admin": "administrator",
}


def _words(kind: str | None, default: str) -> str:
    return TYPE_WORDS.get(kind, kind) if kind else default


def _day(value) -> str | None:
    when = _when(value)
    return when.date().isoformat() if when else None


def _level_label(level) -> str | None:
    if level is None or isinstance(level, str):
        return level
    return Level(level).label


def explain(codes: Iterable[str], *, context: Mapping | None = None) -> list[str]:
    """One sentence per signal, in SIGNALS order, worded from what the context knows.

    Context keys (all optional): level (label or number), permission, via, resource_type, resource_path,
    resource_public, account_type, account_login, identity_email, end_date, last_active_at, expires_at,
    owner_email, owner_left, valid_from, reviewed_at, inactive_days, unused_days.
    """
    c = dict(context or {})
    level = _level_label(c.get("level")) or "privileged access"
    on = " ".join(x for x in (_words(c.get("resource_type"), ""), c.get("resource_path") or "") if x)
    on = f" on {on}" if on else ""
    holder = _words(c.get("account_type"), "account")
    login = c.get("account_login")
    sentences = []
    for code in ordered(codes):
        if code == "privileged":
            text = f"{level}{on}"
        elif code == "org_owner_or_admin":
            via = c.get("via")
            text = VIA_WORDS[via] + (f"{on}" if on else "") if via in VIA_WORDS else "administrator of the system"
        elif code == "outside":
            text = "outside collaborator or external user"
        elif code == "orphan":
            text = f"account {login} is linked to no person" if login else "account linked to no person"
        elif code == "leaver":
            since = _day(c.get("end_date"))
            text = f"leaver since {since} still holds access" if since else "leaver still holds access"
        elif code == "no_2fa":
            text = "two-factor authentication disabled"
        elif code in ("inactive", "nonhuman_unused"):
            seen = _day(c.get("last_active_at"))
            days = c.get("inactive_days" if code == "inactive" else "unused_days") or (
                settings.RISK_INACTIVE_DAYS if code == "inactive" else settings.RISK_NONHUMAN_UNUSED_DAYS
            )
            subject = "inactive" if code == "inactive" else f"{holder} unused"
            text = f"{subject} since {seen}" if seen else f"{subject} for more than {days} days"
        elif code == "nonhuman_unowned":
            left = c.get("owner_left") and c.get("owner_email")
            text = f"{holder} owned by a leaver ({c['owner_email']})" if left else f"{holder} without an owner"
        elif code == "nonhuman_no_expiry":
            text = f"{holder} that never expires"
        elif code == "public":
            if c.get("account_type") == AccountType.PSEUDO:
                text = f"{level} for everyone ({login or 'anonymous'}){on}"
            else:
                text = f"{on[4:] or 'resource'} is public"
        elif code == "direct_bypass":
            text = f"direct grant{on}, bypassing teams and groups"
        elif code == "new_since_review":
            seen, reviewed = _day(c.get("valid_from")), _day(c.get("reviewed_at"))
            text = "appeared since the last completed review"
            if seen and reviewed:
                text = f"appeared {seen}, after the last completed review ({reviewed})"
        else:
            continue
        sentences.append(text)
    return sentences
