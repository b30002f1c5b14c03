"""Reports for auditors: a campaign's outcome and the access inventory, as plain rows and dicts.

No HTTP and no files here: the pages (reviews.views.reports), the `report` command and the evidence
package (reviews.evidence) all render what these functions return. Every value is plain JSON
(strings, numbers, booleans, None); datetimes are ISO 8601 strings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from connectors import export, risk
from connectors.choices import AccountType, IdentityStatus, Level
from connectors.models import Account, Connector, Grant

from . import campaigns
from .choices import DecisionKind, ItemState, RevocationState
from .models import Campaign, Decision, ReviewerProgress, ReviewItem, Revocation


class ReportError(ValueError):
    """Bad report parameters (an unknown kind, a missing date, an unknown connector): a message for the user."""


class UnknownConnector(ReportError):
    """The connector named in CONNECTOR:PATH does not exist."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _level(value: int | None) -> str:
    return Level(value).label if value else ""


# --- CSV ----------------------------------------------------------------------


def write_csv(fh, fields: list[str], rows: Iterable[dict]) -> None:
    """RFC 4180 CSV (QUOTE_MINIMAL, CRLF) with every cell formula-neutralized (connectors.export.csv_safe)."""
    writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({f: export.csv_safe(_cell(row.get(f))) for f in fields})


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def csv_text(fields: list[str], rows: Iterable[dict]) -> str:
    buffer = io.StringIO(newline="")
    write_csv(buffer, fields, rows)
    return buffer.getvalue()


# --- campaign report ----------------------------------------------------------

DECISION_FIELDS = [
    "item",
    "connector",
    "holder",
    "holder_type",
    "subject",
    "resource",
    "resource_type",
    "permission",
    "level",
    "via",
    "risk",
    "state",
    "verdict",
    "downgrade_to",
    "reviewer",
    "decided_by",
    "decided_at",
    "justification",
    "carried_forward",
    "timed_out",
]
REVOCATION_FIELDS = [
    "revocation",
    "item",
    "connector",
    "action",
    "downgrade_to",
    "state",
    "outcome",
    "attempts",
    "last_error",
    "created",
    "executed_at",
    "verified",
    "verified_at",
    "verified_run",
    "closed_by",
]
# report.csv: one row per item, its decision and what became of it.
REPORT_FIELDS = [*DECISION_FIELDS, "revocation", "revocation_state", "verified_at", "verified_run", "exception"]
EXCEPTION_FIELDS = ["kind", "item", "revocation", "holder", "resource", "permission", "level", "detail"]
REVIEWER_FIELDS = ["reviewer", "total", "decided", "approved", "revoked", "downgraded", "pending", "signed_off_at"]
# Revocations that left access in place or need a person.
_REV_EXCEPTIONS = {
    RevocationState.REAPPEARED: "reappeared",
    RevocationState.FAILED: "revocation_failed",
    RevocationState.MANUAL: "manual_task",
}
_VERDICT_KINDS = (
    DecisionKind.APPROVE,
    DecisionKind.REVOKE,
    DecisionKind.DOWNGRADE,
    DecisionKind.CARRY_FORWARD,
    DecisionKind.TIMEOUT,
)


def decision_rows(campaign: Campaign) -> Iterator[dict]:
    """Every item of the campaign with its outcome (pending and gone items too, so the list is complete)."""
    qs = (
        ReviewItem.objects.filter(campaign=campaign)
        .order_by("id")
        .values(
            "id",
            "connector__name",
            "holder_label",
            "holder_type",
            "subject__email",
            "resource_path",
            "resource_type",
            "permission",
            "level",
            "via",
            "risk_codes",
            "state",
            "verdict",
            "downgrade_to",
            "reviewer__email",
            "decided_by__email",
            "decided_at",
            "justification",
            "carried_forward",
            "timed_out",
        )
    )
    for r in qs.iterator(chunk_size=2000):
        decided_by = r["decided_by__email"] or ("system" if r["decided_at"] else "")
        yield {
            "item": r["id"],
            "connector": r["connector__name"] or "",
            "holder": r["holder_label"],
            "holder_type": r["holder_type"],
            "subject": r["subject__email"] or "",
            "resource": r["resource_path"],
            "resource_type": r["resource_type"],
            "permission": r["permission"],
            "level": _level(r["level"]),
            "via": r["via"],
            "risk": risk.parse_codes(r["risk_codes"]),
            "state": r["state"],
            "verdict": r["verdict"],
            "downgrade_to": _level(r["downgrade_to"]),
            "reviewer": r["reviewer__email"] or "",
            "decided_by": decided_by,
            "decided_at": _iso(r["decided_at"]),
            "justification": r["justification"],
            "carried_forward": r["carried_forward"],
            "timed_out": r["timed_out"],
        }


class _RevocationRows:
    """A sliceable, filterable view of a campaign's revocations as report rows."""

    def __init__(self, qs):
        self.qs = qs

    def filter(self, **lookup) -> _RevocationRows:
        return _RevocationRows(self.qs.filter(**lookup))

    def __getitem__(self, index: slice) -> list[dict]:
        return [_revocation_row(r) for r in self.qs[index]]

    def __iter__(self) -> Iterator[dict]:
        for r in self.qs.iterator(chunk_size=2000):
            yield _revocation_row(r)


def revocation_rows_qs(campaign: Campaign) -> _RevocationRows:
    return _RevocationRows(
        Revocation.objects.filter(item__campaign=campaign)
        .order_by("id")
        .values(
            "id",
            "item_id",
            "connector__name",
            "action",
            "downgrade_to",
            "state",
            "outcome",
            "attempts",
            "last_error",
            "created",
            "executed_at",
            "verified_at",
            "verified_run_id",
            "closed_by__email",
        )
    )


def revocation_rows(campaign: Campaign) -> Iterator[dict]:
    return iter(revocation_rows_qs(campaign))


def _revocation_row(r: dict) -> dict:
    return {
        "revocation": r["id"],
        "item": r["item_id"],
        "connector": r["connector__name"] or "",
        "action": r["action"],
        "downgrade_to": _level(r["downgrade_to"]),
        "state": r["state"],
        "state_label": RevocationState(r["state"]).label,
        "outcome": r["outcome"],
        "attempts": r["attempts"],
        "last_error": r["last_error"],
        "created": _iso(r["created"]),
        "executed_at": _iso(r["executed_at"]),
        "verified": r["state"] == RevocationState.VERIFIED,
        "verified_at": _iso(r["verified_at"]),
        "verified_run": r["verified_run_id"],
        "closed_by": r["closed_by__email"] or "",
    }


def reviewer_rows(campaign: Campaign) -> list[dict]:
    signed = dict(ReviewerProgress.objects.filter(campaign=campaign).values_list("reviewer__email", "signed_off_at"))
    counts = (
        campaign.items.values("reviewer__email")
        .annotate(
            total=Count("pk"),
            decided=Count("pk", filter=Q(state=ItemState.DECIDED)),
            approved=Count("pk", filter=Q(verdict="approve")),
            revoked=Count("pk", filter=Q(verdict="revoke")),
            downgraded=Count("pk", filter=Q(verdict="downgrade")),
            pending=Count("pk", filter=Q(state=ItemState.PENDING)),
        )
        .order_by("reviewer__email")
    )
    return [
        {
            "reviewer": c["reviewer__email"] or "(unassigned)",
            **{k: c[k] for k in ("total", "decided", "approved", "revoked", "downgraded", "pending")},
            "signed_off_at": _iso(signed.get(c["reviewer__email"])),
        }
        for c in counts
    ]


def completion(campaign: Campaign) -> list[dict]:
    """Items decided per day (from the decision history: people, carry-forwards and timeouts), with a running total.

    An item decided, undone and decided again on another day counts on both days; the running total is
    capped at the item count.
    """
    total = campaign.items.count()
    per_day = (
        Decision.objects.filter(item__campaign=campaign, kind__in=_VERDICT_KINDS)
        .annotate(day=TruncDate("created"))
        .values("day")
        .annotate(n=Count("item_id", distinct=True))
        .order_by("day")
    )
    out, running = [], 0
    for row in per_day:
        running = min(total, running + row["n"])
        out.append(
            {
                "day": row["day"].isoformat(),
                "decided": row["n"],
                "cumulative": running,
                "percent": round(100 * running / total) if total else 100,
            }
        )
    return out


def exception_rows(decisions: list[dict], revocations: list[dict]) -> list[dict]:
    """What an auditor asks about: timeouts, carry-forwards, revocations that failed, need a person or came back."""
    out = []
    for d in decisions:
        base = {k: d[k] for k in ("item", "holder", "resource", "permission", "level")}
        if d["timed_out"]:
            out.append(
                {"kind": "timed_out", **base, "revocation": None, "detail": f"undecided at close: {d['verdict']}"}
            )
        if d["carried_forward"]:
            out.append({"kind": "carried_forward", **base, "revocation": None, "detail": d["justification"]})
    items = {d["item"]: d for d in decisions}
    for r in revocations:
        kind = _REV_EXCEPTIONS.get(r["state"])
        if kind is None:
            continue
        d = items.get(r["item"], {})
        out.append(
            {
                "kind": kind,
                "item": r["item"],
                "revocation": r["revocation"],
                "holder": d.get("holder", ""),
                "resource": d.get("resource", ""),
                "permission": d.get("permission", ""),
                "level": d.get("level", ""),
                "detail": r["last_error"] or r["action"],
            }
        )
    return out


def campaign_report(campaign: Campaign) -> dict:
    """Everything the campaign report shows: scope, reviewers, completion, decisions, revocations, exceptions."""
    decisions = list(decision_rows(campaign))
    revocations = list(revocation_rows(campaign))
    config = campaign.config or {}
    return {
        "generated_at": timezone.now().isoformat(),
        "campaign": campaigns.status(campaign),
        "scope": config.get("scope", {}),
        "config": config,
        "reviewers": reviewer_rows(campaign),
        "completion": completion(campaign),
        "decisions": decisions,
        "revocations": revocations,
        "exceptions": exception_rows(decisions, revocations),
    }


PAGE_LIMIT = 100


def campaign_summary(campaign: Campaign, *, limit: int = PAGE_LIMIT) -> dict:
    """The campaign page's report without the full decision list (the page paginates items itself).

    A fixed number of queries whatever the campaign's size; each exception list holds at most `limit` rows
    (the counts are exact), revocations too.
    """
    revocations = list(revocation_rows_qs(campaign)[:limit])
    flagged = (
        ReviewItem.objects.filter(campaign=campaign)
        .filter(Q(timed_out=True) | Q(carried_forward=True))
        .order_by("id")
        .values(
            "id",
            "holder_label",
            "resource_path",
            "permission",
            "level",
            "verdict",
            "justification",
            "timed_out",
            "carried_forward",
        )[:limit]
    )
    decisions = [
        {
            "item": r["id"],
            "holder": r["holder_label"],
            "resource": r["resource_path"],
            "permission": r["permission"],
            "level": _level(r["level"]),
            "verdict": r["verdict"],
            "justification": r["justification"],
            "timed_out": r["timed_out"],
            "carried_forward": r["carried_forward"],
        }
        for r in flagged
    ]
    failing = (
        Revocation.objects.filter(item__campaign=campaign, state__in=list(_REV_EXCEPTIONS))
        .order_by("id")
        .values(
            "id",
            "item_id",
            "state",
            "action",
            "last_error",
            "item__holder_label",
            "item__resource_path",
            "item__permission",
            "item__level",
        )[:limit]
    )
    exceptions = exception_rows(decisions, [])
    for r in failing:
        exceptions.append(
            {
                "kind": _REV_EXCEPTIONS[r["state"]],
                "item": r["item_id"],
                "revocation": r["id"],
                "holder": r["item__holder_label"] or "",
                "resource": r["item__resource_path"] or "",
                "permission": r["item__permission"] or "",
                "level": _level(r["item__level"]),
                "detail": r["last_error"] or r["action"],
            }
        )
    config = campaign.config or {}
    return {
        "campaign": campaigns.status(campaign),
        "scope": config.get("scope", {}),
        "config": config,
        "reviewers": reviewer_rows(campaign),
        "completion": completion(campaign),
        "revocations": revocations,
        "exceptions": exceptions[: 3 * limit],
        "limit": limit,
    }


def report_rows(report: dict) -> list[dict]:
    """report.csv: one row per item with its decision, its revocation and any exception."""
    revs = {}
    for r in report["revocations"]:
        revs.setdefault(r["item"], r)
    exceptions: dict[int, list[str]] = {}
    for e in report["exceptions"]:
        exceptions.setdefault(e["item"], []).append(e["kind"])
    out = []
    for d in report["decisions"]:
        r = revs.get(d["item"], {})
        out.append(
            {
                **d,
                "revocation": r.get("revocation"),
                "revocation_state": r.get("state", ""),
                "verified_at": r.get("verified_at"),
                "verified_run": r.get("verified_run"),
                "exception": exceptions.get(d["item"], []),
            }
        )
    return out


def record_export(
    report: str, fmt: str, *, actor=None, actor_label: str | None = None, campaign: Campaign | None = None, **data
) -> None:
    """The audit event of an export: who took which report in which format."""
    from django.db import transaction

    from . import audit

    with transaction.atomic():
        audit.record("report.exported", actor=actor, obj=campaign, campaign=campaign, report=report, format=fmt, **data)


# --- access inventory ---------------------------------------------------------


def parse_moment(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date-time (UTC when it has no offset) or a bare date (its start, UTC); None when empty."""
    if not value or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        when = parse_datetime(text)
        if when is None:
            day = parse_date(text)
            when = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    except ValueError:
        when = None
    if when is None:
        raise ReportError(f"{name} {text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-25T14:00Z)")
    if not timezone.is_aware(when):
        return when.replace(tzinfo=UTC)
    # In UTC: databases refuse odd offsets (PostgreSQL: "-18:56"); a moment beyond year 1 or 9999 is clamped.
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if when.year < 2 else datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class InventoryParams:
    at: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    resource: str = ""  # CONNECTOR:PATH


GRANT_FIELDS = [
    "connector",
    "system",
    "holder",
    "holder_type",
    "identity",
    "resource",
    "resource_type",
    "permission",
    "level",
    "via",
    "reach",
    "first_seen",
    "risk",
]
ACCOUNT_FIELDS = [
    "connector",
    "system",
    "login",
    "type",
    "name",
    "email",
    "state",
    "identity",
    "identity_status",
    "owner",
    "grants",
    "highest_level",
    "last_active_at",
    "risk",
    "explanation",
]
CHANGE_FIELDS = ["change", "when", *GRANT_FIELDS]


def _grant_query(qs):
    return qs.order_by("connector__name", "resource__path", "id").values(
        "id",
        "connector__name",
        "connector__kind",
        "account__login",
        "account__type",
        "account__identity__email",
        "group__path",
        "resource__path",
        "resource__type",
        "entitlement__name",
        "entitlement__level",
        "entitlement__cascade_to",
        "via",
        "valid_from",
        "valid_to",
        "risk__codes",
    )


def _grant_row(g: dict) -> dict:
    cascade = g["entitlement__cascade_to"] or ""
    return {
        "connector": g["connector__name"],
        "system": g["connector__kind"],
        "holder": g["account__login"] if g["account__login"] is not None else g["group__path"],
        "holder_type": g["account__type"] or "group",
        "identity": g["account__identity__email"] or "",
        "resource": g["resource__path"],
        "resource_type": g["resource__type"],
        "permission": g["entitlement__name"],
        "level": _level(g["entitlement__level"]),
        "via": g["via"],
        # The effective reach, cheaply: which resource types below this one the grant also covers.
        "reach": f"{g['resource__path']} and every {cascade.replace(',', '/')} below it" if cascade else "",
        "first_seen": _iso(g["valid_from"]),
        "risk": risk.parse_codes(g["risk__codes"]),
    }


def admins(params: InventoryParams) -> Iterator[dict]:
    """Every current grant at admin or owner level, anywhere in the pipeline."""
    qs = Grant.objects.current().filter(entitlement__level__gte=Level.ADMIN)
    for g in _grant_query(qs).iterator(chunk_size=2000):
        yield _grant_row(g)


def public(params: InventoryParams) -> Iterator[dict]:
    """Current grants open to anyone: anonymous / authenticated pseudo-principals and public resources."""
    qs = Grant.objects.current().filter(Q(risk__codes__contains=",public,") | Q(account__type=AccountType.PSEUDO))
    for g in _grant_query(qs).iterator(chunk_size=2000):
        yield _grant_row(g)


def _account_rows(qs, *, codes: tuple[str, ...] = (), codes_of: dict | None = None) -> Iterator[dict]:
    current = Q(grants__removed_run__isnull=True)
    qs = (
        qs.filter(present=True)
        .annotate(n=Count("grants", filter=current), top=Max("grants__entitlement__level", filter=current))
        .order_by("connector__name", "login", "id")
        .values(
            "id",
            "connector__name",
            "connector__kind",
            "login",
            "type",
            "name",
            "email",
            "state",
            "identity__email",
            "identity__status",
            "owner__email",
            "last_active_at",
            "n",
            "top",
        )
    )
    for a in qs.iterator(chunk_size=2000):
        mine = codes_of.get(a["id"], ()) if codes_of is not None else codes
        yield {
            "connector": a["connector__name"],
            "system": a["connector__kind"],
            "login": a["login"],
            "type": a["type"],
            "name": a["name"],
            "email": a["email"],
            "state": a["state"],
            "identity": a["identity__email"] or "",
            "identity_status": a["identity__status"] or "",
            "owner": a["owner__email"] or "",
            "grants": a["n"],
            "highest_level": _level(a["top"]),
            "last_active_at": _iso(a["last_active_at"]),
            "risk": list(mine),
            "explanation": "; ".join(risk.explain(mine, context=_context(a))) if mine else "",
        }


def _context(a: dict) -> dict:
    return {"account_type": a["type"], "account_login": a["login"], "owner_email": a["owner__email"]}


def outside(params: InventoryParams) -> Iterator[dict]:
    """Outside collaborators and external users."""
    return _account_rows(Account.objects.filter(is_outside=True), codes=("outside",))


def orphaned(params: InventoryParams) -> Iterator[dict]:
    """Human accounts linked to no person."""
    return _account_rows(Account.objects.filter(type=AccountType.HUMAN, identity__isnull=True), codes=("orphan",))


def leavers(params: InventoryParams) -> Iterator[dict]:
    """Accounts of people who left that still hold current grants."""
    qs = Account.objects.filter(identity__status=IdentityStatus.LEAVER, grants__removed_run__isnull=True).distinct()
    return (row for row in _account_rows(qs, codes=("leaver",)) if row["grants"])


def nonhuman(params: InventoryParams) -> Iterator[dict]:
    """Non-human identities without an owner or whose credential never expires (risk codes on their grants)."""
    wanted = ("nonhuman_unowned", "nonhuman_no_expiry")
    flagged: dict[int, set[str]] = {}
    qs = Grant.objects.current().filter(
        Q(risk__codes__contains=",nonhuman_unowned,") | Q(risk__codes__contains=",nonhuman_no_expiry,"),
        account__isnull=False,
    )
    for account_id, codes in qs.values_list("account_id", "risk__codes").iterator(chunk_size=5000):
        flagged.setdefault(account_id, set()).update(c for c in risk.parse_codes(codes) if c in wanted)
    per_account = {pk: tuple(risk.ordered(codes)) for pk, codes in flagged.items()}
    return _account_rows(Account.objects.filter(pk__in=list(per_account)), codes_of=per_account)


def changes(params: InventoryParams) -> Iterator[dict]:
    """Grants added or removed in (since, until]."""
    if not params.since or not params.until:
        raise ReportError("the changes report needs --since and --until (ISO 8601)")
    if params.since >= params.until:
        raise ReportError("--since must be before --until")
    window = {"gt": params.since, "lte": params.until}
    added = Grant.objects.filter(valid_from__gt=window["gt"], valid_from__lte=window["lte"])
    removed = Grant.objects.filter(valid_to__gt=window["gt"], valid_to__lte=window["lte"])
    for change, qs, field in (("added", added, "valid_from"), ("removed", removed, "valid_to")):
        for g in _grant_query(qs).iterator(chunk_size=2000):
            yield {"change": change, "when": _iso(g[field]), **_grant_row(g)}


def access_at(params: InventoryParams) -> Iterator[dict]:
    """Who had access to CONNECTOR:PATH at a moment (effective access, connectors.export)."""
    name, sep, path = params.resource.partition(":")
    if not sep or not name or not path:
        raise ReportError("the access-at report needs --resource CONNECTOR:PATH (e.g. github:acme/api)")
    connector = Connector.objects.filter(name=name).first()
    if connector is None:
        raise UnknownConnector(f"unknown connector {name!r}")
    at = params.at or timezone.now()
    for row in export.rows([connector], export.Filters(at=at, resource_path=path), as_granted=False):
        yield export.flat(row)


@dataclass(frozen=True)
class InventoryKind:
    title: str
    description: str
    fields: list[str]
    rows: object  # Callable[[InventoryParams], Iterator[dict]]


INVENTORY: dict[str, InventoryKind] = {
    "admins": InventoryKind(
        "Admins and owners", "Current grants at admin or owner level anywhere in the pipeline.", GRANT_FIELDS, admins
    ),
    "outside": InventoryKind(
        "Outside collaborators",
        "Accounts the upstream marks as outside collaborators or external.",
        ACCOUNT_FIELDS,
        outside,
    ),
    "orphaned": InventoryKind(
        "Orphaned accounts", "Human accounts linked to no person in the roster.", ACCOUNT_FIELDS, orphaned
    ),
    "leavers": InventoryKind(
        "Leaver accounts", "Accounts of people marked as leavers that still hold access.", ACCOUNT_FIELDS, leavers
    ),
    "nonhuman": InventoryKind(
        "Non-human identities without owner or expiry",
        "Robots, bots, tokens and keys flagged nonhuman_unowned or nonhuman_no_expiry.",
        ACCOUNT_FIELDS,
        nonhuman,
    ),
    "public": InventoryKind(
        "Public and anonymous access",
        "Grants to anonymous or authenticated pseudo-principals and on public resources.",
        GRANT_FIELDS,
        public,
    ),
    "changes": InventoryKind(
        "Changes between two dates", "Grants added or removed after SINCE and up to UNTIL.", CHANGE_FIELDS, changes
    ),
    "access-at": InventoryKind(
        "Who had access to a resource at a date",
        "Effective access to CONNECTOR:PATH at AT (default now).",
        export.CSV_FIELDS,
        access_at,
    ),
}


def inventory(kind: str, params: InventoryParams) -> tuple[InventoryKind, Iterator[dict]]:
    spec = INVENTORY.get(kind)
    if spec is None:
        raise ReportError(f"unknown inventory report {kind!r}; known: {', '.join(INVENTORY)}")
    return spec, spec.rows(params)
