"""Campaign lifecycle: templates from configuration, launch (freeze items and route them), close, schedule.

On PostgreSQL a launch freezes every item in one INSERT…SELECT over the scope's grants (1,000,000 grants
within 1.5x of a bare INSERT…SELECT): only the distinct (subject, resource owner) pairs come out to be routed
in Python against an in-memory directory of people, and go back in as arrays. Elsewhere (and for preview)
build_items reads joined ``values()`` rows and routes every item in Python.
The items are copies: later syncs change nothing under review; a grant that vanishes before its decision
is marked gone.
"""

from __future__ import annotations

import logging
import operator
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from connectors import staging
from connectors.choices import AccountType, GrantKind, Level, SyncStatus
from connectors.models import Connector, Grant, Identity
from connectors.sync import AlreadyRunning, run_sync

from . import audit
from .choices import CampaignState, Change, DecisionKind, ItemState, OnTimeout, Verdict
from .config import ConfigError, next_launch, parse_template
from .models import Campaign, CampaignTemplate, Decision, ReviewerProgress, ReviewItem, Revocation
from .routing import Directory, route

log = logging.getLogger(__name__)
BATCH = 2000
NON_HUMAN = {
    AccountType.BOT,
    AccountType.SERVICE_ACCOUNT,
    AccountType.ROBOT,
    AccountType.DEPLOY_KEY,
    AccountType.ACCESS_TOKEN,
    AccountType.APP_INSTALLATION,
}


class LaunchError(Exception):
    """The campaign cannot launch (a connector in scope has no fresh successful sync, no grants, …)."""


# --- Templates ----------------------------------------------------------------


def apply_templates(docs: list, *, actor=None) -> list[CampaignTemplate]:
    """Create or update templates from parsed YAML documents; all or nothing."""
    parsed = [parse_template(doc) for doc in docs]
    names = [p["name"] for p in parsed]
    if len(set(names)) != len(names):
        raise ConfigError("a template name appears twice in the file")
    known = set(Connector.objects.values_list("name", flat=True))
    for p in parsed:
        missing = set(p["scope"]["connectors"]) - known
        if missing:
            raise ConfigError(f"template {p['name']!r}: unknown connector(s) {', '.join(sorted(missing))}")
    saved = []
    with transaction.atomic():
        now = timezone.now()
        for fields in parsed:
            template, created = CampaignTemplate.objects.update_or_create(name=fields["name"], defaults=fields)
            if template.schedule and (created or "schedule" in fields):
                first = next_launch(template.schedule, now)
                if template.next_launch_at is None or template.next_launch_at > first or created:
                    CampaignTemplate.objects.filter(pk=template.pk).update(next_launch_at=first)
            elif not template.schedule:
                CampaignTemplate.objects.filter(pk=template.pk).update(next_launch_at=None)
            template.refresh_from_db()
            audit.record(
                "template.created" if created else "template.updated", actor=actor, obj=template, name=template.name
            )
            saved.append(template)
    return saved


def snapshot(template: CampaignTemplate) -> dict:
    """The template's settings as JSON, frozen into the campaign."""
    return {
        "template": template.name,
        "scope": template.scope,
        "reviewers": template.reviewers,
        "duration_seconds": template.duration.total_seconds(),
        "reminders": template.reminders,
        "escalate_after_seconds": template.escalate_after.total_seconds() if template.escalate_after else None,
        "escalate_reassign": template.escalate_reassign,
        "on_timeout": template.on_timeout,
        "carry_forward": template.carry_forward,
        "approve_revocations": template.approve_revocations,
    }


# --- Scope ----------------------------------------------------------------------


def glob_regex(globs: list[str]) -> str:
    """Path globs as one anchored regex both PostgreSQL and SQLite accept: * within a segment, ** across."""

    def one(glob: str) -> str:
        special = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
        return "".join(special.get(token) or re.escape(token) for token in re.split(r"(\*\*|\*|\?)", glob))

    return "^(" + "|".join(one(g) for g in globs) + ")$"


def scope_grants(scope: dict):
    """Current grants the scope selects (before the changed-since-last-review filter)."""
    qs = Grant.objects.current().filter(connector__enabled=True)
    if scope.get("connectors"):
        qs = qs.filter(connector__name__in=scope["connectors"])
    if scope.get("resources"):
        qs = qs.filter(resource__path__regex=glob_regex(scope["resources"]))
    qs = qs.filter(entitlement__level__gte=Level.from_name(scope.get("min_level", "read")))
    types = scope.get("account_types") or []
    if types:
        holder = Q(account__type__in=types)
        if AccountType.GROUP in types:
            holder |= Q(group__isnull=False)
        qs = qs.filter(holder)
    if scope.get("risk"):
        risky = Q()
        for code in scope["risk"]:
            risky |= Q(risk__codes__contains=f",{code},")
        qs = qs.filter(risky)
    return qs


_ROW = (
    "pk",
    "key",
    "connector_id",
    "connector__name",
    "account_id",
    "account__login",
    "account__type",
    "account__identity_id",
    "account__owner_id",
    "account__last_active_at",
    "group_id",
    "group__path",
    "group__type",
    "resource_id",
    "resource__path",
    "resource__type",
    "resource__owner_id",
    "entitlement__kind",
    "entitlement__name",
    "entitlement__level",
    "entitlement__cascade_to",
    "entitlement__cascade_level",
    "via",
    "risk__score",
    "risk__codes",
)


def _effects(groups: list[int]) -> dict[int, dict]:
    """What each group held at launch: resources it holds grants on (and their top level), and its cascades."""
    held: dict[int, dict] = {}
    for start in range(0, len(groups), 5000):
        current = Grant.objects.current().filter(group_id__in=groups[start : start + 5000])
        for g in (
            current.filter(entitlement__cascade_to="")
            .values("group_id")
            .annotate(n=Count("resource_id", distinct=True), top=Max("entitlement__level"))
        ):
            held.setdefault(g["group_id"], {}).update(n=g["n"], top=g["top"])
        for g in current.exclude(entitlement__cascade_to="").values(
            "group_id", "resource__path", "entitlement__cascade_to", "entitlement__cascade_level", "entitlement__level"
        ):
            held.setdefault(g["group_id"], {}).setdefault("cascades", []).append(_cascade_text(g))
    return held


def _cascade_text(row: dict) -> str:
    level = Level(row["entitlement__cascade_level"] or row["entitlement__level"]).label
    kinds = row["entitlement__cascade_to"].replace(",", ", ")
    return f"{level} on every {kinds} under {row['resource__path']}"


def _effect_text(row: dict, held: dict) -> str:
    """'membership in team acme/platform -> write on 12 resources', or what a cascading grant reaches."""
    if row["entitlement__cascade_to"]:
        return _cascade_text(row)
    if row["entitlement__kind"] != GrantKind.MEMBERSHIP:
        return ""
    group = held.get(row["resource_id"], {})
    parts = []
    if group.get("n"):
        parts.append(f"{Level(group['top']).label} on {group['n']} resource{'s' if group['n'] != 1 else ''}")
    parts.extend(group.get("cascades", []))
    where = f"membership in {row['resource__type']} {row['resource__path']}"
    return f"{where} -> {', '.join(parts)}" if parts else where


def _last_review(template_id: int | None) -> Campaign | None:
    if template_id is None:
        return None
    return Campaign.objects.filter(template_id=template_id, state=CampaignState.CLOSED).order_by("-closed_at").first()


def _previous(template_id: int | None) -> tuple[Campaign | None, dict]:
    last = _last_review(template_id)
    if last is None:
        return None, {}
    previous = {
        (i["connector_id"], i["grant_key"]): i
        for i in last.items.values("connector_id", "grant_key", "level", "permission", "verdict", "reviewer__email")
    }
    return last, previous


def _change(row: dict, before: dict | None) -> str:
    if before is None:
        return Change.NEW
    if before["level"] < row["entitlement__level"]:
        return Change.LEVEL_UP
    if before["level"] > row["entitlement__level"]:
        return Change.LEVEL_DOWN
    if before["permission"] != row["entitlement__name"]:
        return Change.CHANGED
    return Change.UNCHANGED


def _subject(row: dict) -> int | None:
    """Whose access it is: the account's person; for a non-human account, its owner; none for a group."""
    if row["account_id"] is None:
        return None
    if row["account__type"] in NON_HUMAN:
        return row["account__owner_id"]
    return row["account__identity_id"]


def build_items(campaign: Campaign, config: dict, *, template_id: int | None) -> list[dict]:
    """Freeze the scope into item field values, routed and compared with the last completed review."""
    rows = list(scope_grants(config["scope"]).values(*_ROW))
    held = _effects(list({r["resource_id"] for r in rows if r["entitlement__kind"] == GrantKind.MEMBERSHIP}))
    _, previous = _previous(template_id)
    people = Directory()
    reviewers = config["reviewers"]
    max_carry_risk = settings.CARRY_FORWARD_MAX_RISK
    routes: dict[tuple, tuple[int | None, str]] = {}
    items = []
    for row in rows:
        before = previous.get((row["connector_id"], row["key"]))
        change = _change(row, before)
        if config["scope"].get("changed_since_last_review") and change == Change.UNCHANGED:
            continue
        subject = _subject(row)
        # The route depends on the subject and the resource owner only: a large scope repeats them a lot.
        where = (subject, row["resource__owner_id"])
        if where not in routes:
            routes[where] = route(
                reviewers["strategies"],
                reviewers.get("fallback"),
                people,
                subject_id=subject,
                resource_owner_id=where[1],
            )
        reviewer, routed_by = routes[where]
        score = row["risk__score"] or 0
        item = dict(
            campaign_id=campaign.pk,
            grant_id=row["pk"],
            grant_key=row["key"],
            connector_id=row["connector_id"],
            account_id=row["account_id"],
            group_id=row["group_id"],
            resource_id=row["resource_id"],
            holder_label=row["account__login"] if row["account_id"] else row["group__path"],
            holder_type=row["account__type"] if row["account_id"] else AccountType.GROUP,
            resource_path=row["resource__path"],
            resource_type=row["resource__type"],
            kind=row["entitlement__kind"],
            permission=row["entitlement__name"],
            level=row["entitlement__level"],
            via=row["via"],
            effect=_effect_text(row, held)[:500],
            last_active_at=row["account__last_active_at"],
            subject_id=subject,
            risk_score=score,
            risk_codes=row["risk__codes"] or ",",
            change=change,
            previous_level=before["level"] if before else None,
            previous_verdict=before["verdict"] if before else "",
            previous_reviewer=(before["reviewer__email"] or "") if before else "",
            reviewer_id=reviewer,
            routed_by=routed_by,
        )
        if (
            config["carry_forward"]
            and change == Change.UNCHANGED
            and before["verdict"] == Verdict.APPROVE
            and score <= max_carry_risk
        ):
            item.update(state=ItemState.DECIDED, verdict=Verdict.APPROVE, carried_forward=True)
        items.append(item)
    return items


# Aliases of the scope's columns in the launch's INSERT…SELECT (none may clash with a Grant field name).
_SCOPE = {
    "g_id": F("pk"),
    "g_key": F("key"),
    "g_connector": F("connector_id"),
    "g_account": F("account_id"),
    "a_login": F("account__login"),
    "a_type": F("account__type"),
    "a_identity": F("account__identity_id"),
    "a_owner": F("account__owner_id"),
    "a_last_active": F("account__last_active_at"),
    "g_group": F("group_id"),
    "h_path": F("group__path"),
    "g_resource": F("resource_id"),
    "r_path": F("resource__path"),
    "r_type": F("resource__type"),
    "r_owner": F("resource__owner_id"),
    "e_kind": F("entitlement__kind"),
    "e_name": F("entitlement__name"),
    "e_level": F("entitlement__level"),
    "e_cascade_to": F("entitlement__cascade_to"),
    "e_cascade_level": F("entitlement__cascade_level"),
    "g_via": F("via"),
    "k_score": F("risk__score"),
    "k_codes": F("risk__codes"),
}


def freeze_items(campaign: Campaign, config: dict, *, template_id: int | None) -> None:
    """build_items + insert_items as one INSERT…SELECT on PostgreSQL: the items never pass through Python.

    Only what is small comes out: the distinct (subject, resource owner) pairs, routed by routing.route as
    build_items does, and the groups whose membership effect names what they hold; both go back in as arrays.
    """
    scope_sql, scope_params = scope_grants(config["scope"]).values(**_SCOPE).order_by().query.sql_with_params()
    subject = "CASE WHEN s.g_account IS NULL THEN NULL WHEN s.a_type = ANY(%s) THEN s.a_owner ELSE s.a_identity END"
    subject_params = [sorted(NON_HUMAN)]
    plain_membership = "s.e_kind = %s AND s.e_cascade_to = ''"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT GROUPING(subject, owner) = 0, subject, owner, grp, grp_type, grp_path FROM (
                SELECT {subject} AS subject, s.r_owner AS owner,
                    CASE WHEN {plain_membership} THEN s.g_resource END AS grp,
                    CASE WHEN {plain_membership} THEN s.r_type END AS grp_type,
                    CASE WHEN {plain_membership} THEN s.r_path END AS grp_path
                FROM ({scope_sql}) s) x
            GROUP BY GROUPING SETS ((subject, owner), (grp, grp_type, grp_path))""",  # noqa: S608 # nosec B608 # SQL built here and by the ORM, values are parameters
            [*subject_params, *[GrantKind.MEMBERSHIP] * 3, *scope_params],
        )
        pairs, groups = [], []
        for is_pair, subject_id, owner_id, group, group_type, group_path in cursor.fetchall():
            if is_pair:
                pairs.append((subject_id, owner_id))
            elif group is not None:
                groups.append((group, group_type, group_path))
    people = Directory()
    reviewers = config["reviewers"]
    routes = [
        route(reviewers["strategies"], reviewers.get("fallback"), people, subject_id=s, resource_owner_id=o)
        for s, o in pairs
    ]
    held = _effects([g for g, _, _ in groups])
    effects = [
        _effect_text(
            {
                "entitlement__cascade_to": "",
                "entitlement__kind": GrantKind.MEMBERSHIP,
                "resource_id": g,
                "resource__type": t,
                "resource__path": p,
            },
            held,
        )
        for g, t, p in groups
    ]
    last = _last_review(template_id)
    level_label = " ".join("WHEN %s THEN %s" for _ in Level)
    carried = "COALESCE(%s AND x.change = %s AND x.p_verdict = %s AND COALESCE(x.k_score, 0) <= %s, FALSE)"
    carried_params = [bool(config["carry_forward"]), Change.UNCHANGED, Verdict.APPROVE, settings.CARRY_FORWARD_MAX_RISK]
    computed: dict[str, tuple[str, list]] = {
        "campaign_id": ("%s", [campaign.pk]),
        "grant_id": ("x.g_id", []),
        "grant_key": ("x.g_key", []),
        "connector_id": ("x.g_connector", []),
        "account_id": ("x.g_account", []),
        "group_id": ("x.g_group", []),
        "resource_id": ("x.g_resource", []),
        "holder_label": ("CASE WHEN x.g_account IS NOT NULL THEN x.a_login ELSE x.h_path END", []),
        "holder_type": ("CASE WHEN x.g_account IS NOT NULL THEN x.a_type ELSE %s END", [AccountType.GROUP]),
        "resource_path": ("x.r_path", []),
        "resource_type": ("x.r_type", []),
        "kind": ("x.e_kind", []),
        "permission": ("x.e_name", []),
        "level": ("x.e_level", []),
        "via": ("x.g_via", []),
        "effect": (
            f"""LEFT(CASE WHEN x.e_cascade_to <> ''
                    THEN (CASE COALESCE(NULLIF(x.e_cascade_level, 0), x.e_level) {level_label} END)
                        || ' on every ' || REPLACE(x.e_cascade_to, ',', ', ') || ' under ' || x.r_path
                WHEN x.e_kind = %s THEN COALESCE(ef.text, '') ELSE '' END, 500)""",
            [*(v for level in Level for v in (level.value, level.label)), GrantKind.MEMBERSHIP],
        ),
        "last_active_at": ("x.a_last_active", []),
        "subject_id": ("x.subject", []),
        "risk_score": ("COALESCE(x.k_score, 0)", []),
        "risk_codes": ("COALESCE(NULLIF(x.k_codes, ''), ',')", []),
        "change": ("x.change", []),
        "previous_level": ("x.p_level", []),
        "previous_verdict": ("COALESCE(x.p_verdict, '')", []),
        "previous_reviewer": ("COALESCE(x.p_reviewer, '')", []),
        "reviewer_id": ("rt.reviewer", []),
        "routed_by": ("rt.how", []),
        "state": (f"CASE WHEN {carried} THEN %s ELSE %s END", [*carried_params, ItemState.DECIDED, ItemState.PENDING]),
        "verdict": (f"CASE WHEN {carried} THEN %s ELSE '' END", [*carried_params, Verdict.APPROVE]),
        "carried_forward": (carried, carried_params),
    }
    columns, values, params = [], [], []
    for f in ReviewItem._meta.concrete_fields:
        if f.column == "id":
            continue
        columns.append(connection.ops.quote_name(f.column))
        expression, expression_params = computed.get(f.column) or (
            "%s",
            [f.get_db_prep_save(f.get_default(), connection)],
        )
        values.append(expression)
        params.extend(expression_params)
    change = """CASE WHEN p.grant_key IS NULL THEN %s WHEN p.level < s.e_level THEN %s
        WHEN p.level > s.e_level THEN %s WHEN p.permission <> s.e_name THEN %s ELSE %s END"""
    # p: per key, the item _previous' dict keeps, the last in ReviewItem's order (-risk_score, id).
    change_params = [Change.NEW, Change.LEVEL_UP, Change.LEVEL_DOWN, Change.CHANGED, Change.UNCHANGED]
    only_changed = "WHERE x.change <> %s" if config["scope"].get("changed_since_last_review") else ""
    query = f"""INSERT INTO {ReviewItem._meta.db_table} ({", ".join(columns)})
        SELECT {", ".join(values)} FROM (
            SELECT s.*, {subject} AS subject, {change} AS change,
                p.level AS p_level, p.verdict AS p_verdict, p.reviewer AS p_reviewer
            FROM ({scope_sql}) s
            LEFT JOIN (
                SELECT DISTINCT ON (i.connector_id, i.grant_key)
                    i.connector_id, i.grant_key, i.level, i.permission, i.verdict, r.email AS reviewer
                FROM {ReviewItem._meta.db_table} i LEFT JOIN {Identity._meta.db_table} r ON r.id = i.reviewer_id
                WHERE i.campaign_id = %s
                ORDER BY i.connector_id, i.grant_key, i.risk_score, i.id DESC
            ) p ON p.connector_id = s.g_connector AND p.grant_key = s.g_key
        ) x
        LEFT JOIN UNNEST(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) AS rt(subject, owner, reviewer, how)
            ON COALESCE(rt.subject, 0) = COALESCE(x.subject, 0) AND COALESCE(rt.owner, 0) = COALESCE(x.r_owner, 0)
        LEFT JOIN UNNEST(%s::bigint[], %s::text[]) AS ef(grp, text) ON ef.grp = x.g_resource
        {only_changed}"""  # noqa: S608 # nosec B608 # SQL built here and by the ORM, values are parameters
    params = [
        *params,
        *subject_params,
        *change_params,
        *scope_params,
        last.pk if last else None,
        [s for s, _ in pairs],
        [o for _, o in pairs],
        [r for r, _ in routes],
        [h for _, h in routes],
        [g for g, _, _ in groups],
        effects,
        *([Change.UNCHANGED] if only_changed else []),
    ]
    with connection.cursor() as cursor:
        cursor.execute(query, params)


# --- Launch -------------------------------------------------------------------


def _fresh_runs(config: dict, *, now: datetime, max_age: timedelta) -> dict:
    """The applied run of each connector in scope, syncing first where the inventory is older than max_age."""
    names = config["scope"].get("connectors") or list(
        Connector.objects.filter(enabled=True).values_list("name", flat=True)
    )
    runs = {}
    for connector in Connector.objects.filter(name__in=names, enabled=True):
        last = connector.last_applied_run()
        if last is None or last.applied_at < now - max_age:
            try:
                run = run_sync(connector, trigger="campaign")
            except AlreadyRunning as exc:
                raise LaunchError(
                    f"{connector.name}: a sync is running; launch again when it is done ({exc})"
                ) from None
            if run.status != SyncStatus.SUCCEEDED:
                raise LaunchError(f"{connector.name}: the sync before launch {run.status}: {run.error or 'held'}")
            last = run
        runs[str(connector.pk)] = last.pk
    if not runs:
        raise LaunchError("no enabled connector in scope")
    return runs


def start(template: CampaignTemplate, *, actor=None, now: datetime | None = None) -> Campaign:
    """Create the campaign (state launching); populate() freezes its items."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.create(
            template=template,
            name=f"{template.name} {now:%Y-%m-%d}",
            config=snapshot(template),
            launched_at=now,
            due_at=now + template.duration,
            launched_by=actor,
        )
        audit.record("campaign.created", actor=actor, obj=campaign, campaign=campaign, template=template.name)
    return campaign


def populate(campaign: Campaign, *, max_sync_age: timedelta, actor=None, now: datetime | None = None) -> Campaign:
    """Sync what is stale, freeze the items, open the campaign; a failure closes it with the reason."""
    now = now or timezone.now()
    config = campaign.config
    try:
        runs = _fresh_runs(config, now=now, max_age=max_sync_age)
        # PostgreSQL freezes the items in one statement inside the transaction below; elsewhere in Python here.
        items = (
            None
            if connection.vendor == "postgresql"
            else build_items(campaign, config, template_id=campaign.template_id)
        )
    except (LaunchError, ConfigError) as exc:
        with transaction.atomic():
            Campaign.objects.filter(pk=campaign.pk).update(
                state=CampaignState.FAILED, closed_at=timezone.now(), config={**config, "launch_error": str(exc)}
            )
            audit.record("campaign.launch_failed", actor=actor, obj=campaign, campaign=campaign, error=str(exc))
        campaign.refresh_from_db()
        raise LaunchError(str(exc)) from None
    with transaction.atomic():
        if items is None:
            freeze_items(campaign, config, template_id=campaign.template_id)
        else:
            insert_items(items)
        per_reviewer = {
            r["reviewer_id"]: r
            for r in ReviewItem.objects.filter(campaign=campaign)
            .order_by()
            .values("reviewer_id")
            .annotate(n=Count("pk"), carried=Count("pk", filter=Q(carried_forward=True)))
        }
        carried = sum(r["carried"] for r in per_reviewer.values())
        if carried:
            created = ReviewItem.objects.filter(campaign=campaign, carried_forward=True).values_list("pk", flat=True)
            Decision.objects.bulk_create(
                [
                    Decision(
                        item_id=pk,
                        kind=DecisionKind.CARRY_FORWARD,
                        actor_label="system",
                        justification="unchanged and approved in the last review",
                        created=now,
                    )
                    for pk in created.iterator()
                ],
                batch_size=BATCH,
            )
        reviewer_ids = {r for r in per_reviewer if r}
        ReviewerProgress.objects.bulk_create(
            [ReviewerProgress(campaign=campaign, reviewer_id=r) for r in reviewer_ids], batch_size=BATCH
        )
        Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.OPEN, runs=runs)
        audit.record(
            "campaign.launched",
            actor=actor,
            obj=campaign,
            campaign=campaign,
            items=sum(r["n"] for r in per_reviewer.values()),
            carried_forward=carried,
            unassigned=per_reviewer[None]["n"] if None in per_reviewer else 0,
            reviewers=len(reviewer_ids),
            runs=runs,
        )
        transaction.on_commit(lambda: _announce(campaign))
    campaign.refresh_from_db()
    return campaign


def insert_items(items: list[dict]) -> None:
    """Write the frozen items: COPY on PostgreSQL (100,000 rows in seconds), bulk INSERT elsewhere."""
    if connection.vendor != "postgresql":
        ReviewItem.objects.bulk_create([ReviewItem(**values) for values in items], batch_size=BATCH)
        return
    fields = [f for f in ReviewItem._meta.concrete_fields if f.column != "id"]
    defaults = {f.attname: f.get_default() for f in fields}
    # Merge and pick in C: a per-field loop in Python was most of the COPY's time at 250,000 items.
    pick = operator.itemgetter(*(f.attname for f in fields))
    rows = (pick({**defaults, **values}) for values in items)
    staging.write_rows(ReviewItem, rows)


def _announce(campaign: Campaign) -> None:
    """Launch mails go through a task: a campaign of thousands of reviewers must not wait for its outbox."""
    from .tasks.campaigns import announce_campaign

    announce_campaign.delay(campaign.pk)


def launch(template: CampaignTemplate, *, actor=None, now: datetime | None = None) -> Campaign:
    """Start and populate in one go (CLI --wait, tests, bench); raises LaunchError with the reason."""
    campaign = start(template, actor=actor, now=now)
    return populate(campaign, max_sync_age=template.max_sync_age, actor=actor, now=now)


def preview(template: CampaignTemplate) -> dict:
    """How many items and which reviewers a launch would produce now (no sync, nothing written)."""
    config = snapshot(template)
    items = build_items(Campaign(config=config), config, template_id=template.pk)
    counts: dict[int | None, int] = {}
    for item in items:
        counts[item["reviewer_id"]] = counts.get(item["reviewer_id"], 0) + 1
    emails = dict(Identity.objects.filter(pk__in=[k for k in counts if k]).values_list("pk", "email"))
    return {
        "items": len(items),
        "carried_forward": sum(1 for i in items if i.get("carried_forward")),
        "reviewers": {emails.get(k, "(unassigned)") if k else "(unassigned)": n for k, n in counts.items()},
    }


def notify(function: str, *args) -> None:
    """Queue a mail through reviews.emails; mail problems never undo a campaign change."""
    from . import emails

    try:
        getattr(emails, function)(*args)
    except Exception:  # noqa: BLE001 - the outbox records its own failures; log anything else
        log.exception("could not queue %s", function)


# --- Close --------------------------------------------------------------------


def close(campaign: Campaign, *, actor=None, now: datetime | None = None, deadline: bool = False) -> Campaign:
    """Close the campaign, applying the on-timeout rule to undecided items; revocations are planned.

    At the deadline, on_timeout=extend moves the deadline once instead; closing by hand (or after the
    extension) keeps undecided access and records the items as timed out.
    """
    from . import revocations

    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.state != CampaignState.OPEN:
            raise ValueError(f"campaign {campaign.pk} is {campaign.state}, not open")
        rule = campaign.config.get("on_timeout", OnTimeout.KEEP)
        if deadline and rule == OnTimeout.EXTEND and not campaign.extended:
            campaign.due_at = campaign.due_at + timedelta(seconds=campaign.config["duration_seconds"])
            campaign.extended = True
            campaign.save(update_fields=["due_at", "extended"])
            audit.record("campaign.extended", actor=actor, obj=campaign, campaign=campaign, due_at=campaign.due_at)
            return campaign
        mark_gone(campaign.items.filter(state=ItemState.PENDING))
        pending = campaign.items.filter(state=ItemState.PENDING)
        verdict = Verdict.REVOKE if rule == OnTimeout.REVOKE else Verdict.APPROVE
        timed_out = list(pending.values_list("pk", flat=True))
        Decision.objects.bulk_create(
            [
                Decision(
                    item_id=pk,
                    kind=DecisionKind.TIMEOUT,
                    actor_label="system",
                    justification=f"undecided at close: {verdict}",
                    before={"state": ItemState.PENDING},
                    created=now,
                )
                for pk in timed_out
            ],
            batch_size=BATCH,
        )
        pending.update(state=ItemState.DECIDED, verdict=verdict, timed_out=True, decided_at=now)
        campaign.state, campaign.closed_at = CampaignState.CLOSED, now
        campaign.save(update_fields=["state", "closed_at"])
        planned = revocations.plan(campaign)
        audit.record(
            "campaign.closed",
            actor=actor,
            obj=campaign,
            campaign=campaign,
            timed_out=len(timed_out),
            timeout_rule=verdict,
            revocations=len(planned),
            by="deadline" if deadline else "hand",
        )
        transaction.on_commit(lambda: notify("queue_close_summary", campaign))
    return campaign


def mark_gone(items) -> int:
    """Pending items whose grant is no longer current: nothing left to decide or revoke."""
    gone = items.filter(Q(grant__isnull=True) | Q(grant__removed_run__isnull=False))
    return gone.update(state=ItemState.GONE)


def after_sync(run) -> None:
    """A sync applied: pending items of open campaigns whose grant vanished are marked gone."""
    mark_gone(
        ReviewItem.objects.filter(
            connector_id=run.connector_id, state=ItemState.PENDING, campaign__state=CampaignState.OPEN
        )
    )


# --- Status -------------------------------------------------------------------


def status(campaign: Campaign) -> dict:
    """The contract's `campaign status --format json` document."""
    from .choices import RevocationState

    items = campaign.items.aggregate(
        total=Count("pk"),
        decided=Count("pk", filter=Q(state=ItemState.DECIDED)),
        approved=Count("pk", filter=Q(verdict=Verdict.APPROVE)),
        revoked=Count("pk", filter=Q(verdict=Verdict.REVOKE)),
        downgraded=Count("pk", filter=Q(verdict=Verdict.DOWNGRADE)),
        pending=Count("pk", filter=Q(state=ItemState.PENDING)),
        gone=Count("pk", filter=Q(state=ItemState.GONE)),
        carried_forward=Count("pk", filter=Q(carried_forward=True)),
        timed_out=Count("pk", filter=Q(timed_out=True)),
        unassigned=Count("pk", filter=Q(reviewer__isnull=True, state=ItemState.PENDING)),
    )
    reviewers = [
        {"email": r["reviewer__email"], "total": r["total"], "pending": r["pending"]}
        for r in campaign.items.filter(reviewer__isnull=False)
        .values("reviewer__email")
        .annotate(total=Count("pk"), pending=Count("pk", filter=Q(state=ItemState.PENDING)))
        .order_by("reviewer__email")
    ]
    states = dict(Revocation.objects.filter(item__campaign=campaign).values_list("state").annotate(n=Count("pk")))
    revocations = {
        "queued": sum(states.get(s, 0) for s in (RevocationState.QUEUED, RevocationState.RUNNING)),
        "done": states.get(RevocationState.DONE, 0),
        "verified": states.get(RevocationState.VERIFIED, 0),
        "failed": states.get(RevocationState.FAILED, 0),
        "reappeared": states.get(RevocationState.REAPPEARED, 0),
        "manual": states.get(RevocationState.MANUAL, 0),
        "awaiting_approval": states.get(RevocationState.AWAITING_APPROVAL, 0),
        "dry_run": states.get(RevocationState.DRY_RUN, 0),
    }
    return {
        "id": campaign.pk,
        "template": campaign.config.get("template"),
        "name": campaign.name,
        "state": campaign.state,
        "launched_at": campaign.launched_at.isoformat(),
        "due_at": campaign.due_at.isoformat(),
        "closed_at": campaign.closed_at.isoformat() if campaign.closed_at else None,
        "error": campaign.config.get("launch_error"),
        "items": items,
        "reviewers": reviewers,
        "revocations": revocations,
    }


# --- Schedule -----------------------------------------------------------------


def due_templates(now: datetime) -> list[CampaignTemplate]:
    """Claim every template whose next launch has come, moving next_launch_at forward (one launch per beat)."""
    claimed = []
    for template in CampaignTemplate.objects.filter(enabled=True, next_launch_at__lte=now).exclude(schedule=""):
        # Anchored to the schedule, not to the beat; periods missed while nothing ran are skipped, not replayed.
        following = next_launch(template.schedule, template.next_launch_at)
        while following <= now:
            following = next_launch(template.schedule, following)
        if CampaignTemplate.objects.filter(pk=template.pk, next_launch_at=template.next_launch_at).update(
            next_launch_at=following
        ):
            claimed.append(template)
    return claimed


def escalate(campaign: Campaign, *, now: datetime) -> int:
    """Reviewers with pending items past escalate_after go to their manager (or the fallback reviewer)."""
    seconds = campaign.config.get("escalate_after_seconds")
    if not seconds or now < campaign.launched_at + timedelta(seconds=seconds):
        return 0
    fallback = campaign.config["reviewers"].get("fallback")
    # Taken before anything moves, so items reassigned in this pass are not escalated again at once.
    pending: dict[int, list[int]] = {}
    for pk, reviewer_id in campaign.items.filter(state=ItemState.PENDING, reviewer__isnull=False).values_list(
        "pk", "reviewer_id"
    ):
        pending.setdefault(reviewer_id, []).append(pk)
    escalated = []
    for progress in campaign.reviewers.filter(escalated_at__isnull=True, reviewer_id__in=pending).select_related(
        "reviewer__manager"
    ):
        with transaction.atomic():
            if not ReviewerProgress.objects.filter(pk=progress.pk, escalated_at__isnull=True).update(escalated_at=now):
                continue
            manager = progress.reviewer.manager
            target = manager if manager and manager.status == "active" else None
            if target is None and fallback:
                target = Identity.objects.filter(email=fallback).first()
            progress.escalated_at, progress.escalated_to = now, target
            ReviewerProgress.objects.filter(pk=progress.pk).update(escalated_to=target)
            audit.record(
                "campaign.escalated",
                obj=progress,
                campaign=campaign,
                reviewer=progress.reviewer.email,
                to=target.email if target else None,
            )
            if campaign.config.get("escalate_reassign") and target is not None:
                from .decisions import reassign

                items = campaign.items.filter(pk__in=pending[progress.reviewer_id], state=ItemState.PENDING)
                reassign(items, to=target, actor=None, reason=f"escalated: {progress.reviewer.email} overdue")
            escalated.append(progress)
    # After every escalation of this pass is committed: one mail per person escalated to, naming them all.
    for progress in escalated:
        notify("queue_escalation", progress)
    return len(escalated)


def tick(now: datetime | None = None) -> dict:
    """One beat of the campaign clock: launch due templates, close or extend due campaigns, escalate."""
    now = now or timezone.now()
    launched = [start(template, now=now) for template in due_templates(now)]
    closed, escalated = [], 0
    for campaign in Campaign.objects.filter(state=CampaignState.OPEN, due_at__lte=now):
        try:
            if close(campaign, now=now, deadline=True).state == CampaignState.CLOSED:
                closed.append(campaign.pk)
        except ValueError:
            continue  # closed by another beat or by hand meanwhile
    for campaign in Campaign.objects.filter(state=CampaignState.OPEN, due_at__gt=now):
        escalated += escalate(campaign, now=now)
    return {"launched": [c.pk for c in launched], "closed": closed, "escalated": escalated}
