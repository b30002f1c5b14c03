"""Revocations: every revoke or downgrade decision becomes one action at the node that grants the access.

A Revocation row is an outbox entry for the Celery task ``reviews.tasks.revocations.execute_revocation``.
States (reviews.choices.RevocationState)::

    plan() ─┬─ manual             the connector cannot do it: instructions for a person; close_manual() → done
            ├─ dry_run            the connector is in dry-run: listed, never sent; retry() once it is live
            ├─ awaiting_approval  the template asks for approval; approve() → queued
            └─ queued ── running ─┬─ done ─┬─ verified    (the next sync no longer sees the grant)
                  ↑               │        └─ reappeared  (the next sync sees it again)
                  └── transient ──┤
                                  └─ failed   (permanent error; retry() → queued)
    cancel(): any state before running (and failed, manual, dry_run) → cancelled

Every transition is one conditional UPDATE plus its audit event in one transaction. The task never sends a
write twice: it claims queued → running; a message redelivered after its worker died finds the row running
and first asks the upstream (``is_present``) whether the grant is still there, sending nothing if it is gone.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from copy import copy
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors import export
from connectors.base import ConnectorConfig, ConnectorError, Outcome, Unsupported
from connectors.choices import AccountType, GrantKind, Level, ResourceType
from connectors.client import build_connector
from connectors.models import Connector, Grant
from connectors.registry import connector_class
from connectors.revocation import grant_target
from pipeaccess.redact import redact

from . import audit
from .choices import ItemState, RevocationState, Verdict
from .models import Campaign, ReviewItem, Revocation

log = logging.getLogger(__name__)

S = RevocationState
# Paths listed in a blast radius; counts are always complete.
BLAST_SAMPLE = 20
# pg_advisory_lock(key, revocation id): held by the worker executing a revocation, released when its
# connection closes, so a duplicate delivery while the first worker is alive is dropped, never run twice.
_EXECUTION_LOCK = 0x7265766F  # "revo"


class RevocationError(Exception):
    """An operation that does not apply to the revocation in its current state (the message says why)."""


class Transient(Exception):
    """The upstream failed in a way a later attempt may fix; the task retries with backoff."""


class Busy(Exception):
    """Another live process holds this revocation's execution lock (or its dead holder is not yet released)."""


# --- planning ------------------------------------------------------------------------


def plan(campaign: Campaign) -> list[Revocation]:
    """One revocation per revoke/downgrade decision of the campaign whose grant still exists; idempotent.

    Returns the revocations created now (a second call creates and returns nothing).
    """
    items = list(
        ReviewItem.objects.filter(
            campaign=campaign, state=ItemState.DECIDED, verdict__in=[Verdict.REVOKE, Verdict.DOWNGRADE]
        )
        .select_related("connector")
        .order_by("id")
    )
    planned = set(Revocation.objects.filter(key__in=[_item_key(i) for i in items]).values_list("key", flat=True))
    todo = [item for item in items if _item_key(item) not in planned]
    current = _current_grants(todo)
    snapshots: dict[int, export._Snapshot] = {}
    created = []
    for item in todo:
        grant = current.get((item.connector_id, item.grant_key))
        if grant is None:
            continue  # gone upstream since launch: nothing to revoke
        if grant.connector_id not in snapshots:
            snapshots[grant.connector_id] = export._Snapshot(grant.connector, None)
        created.append(_plan_item(campaign, item, grant, snapshots[grant.connector_id]))
    return [rev for rev in created if rev is not None]


def _item_key(item: ReviewItem) -> str:
    return f"item:{item.pk}"


def _current_grants(items: list[ReviewItem]) -> dict[tuple[int, str], Grant]:
    """The current grant of each item (by key: a permission change since launch is the same grant)."""
    by_connector: dict[int, set[str]] = {}
    for item in items:
        by_connector.setdefault(item.connector_id, set()).add(item.grant_key)
    found: dict[tuple[int, str], Grant] = {}
    for connector_id, keys in by_connector.items():
        grants = Grant.objects.current().filter(connector_id=connector_id, key__in=keys).select_related(*_GRANT_JOINS)
        for grant in grants:
            found[(connector_id, grant.key)] = grant
    return found


_GRANT_JOINS = ("connector", "account", "group", "resource", "entitlement")


def _plan_item(campaign: Campaign, item: ReviewItem, grant: Grant, snapshot) -> Revocation | None:
    downgrade_to = Level(item.downgrade_to) if item.verdict == Verdict.DOWNGRADE and item.downgrade_to else None
    state, instructions = _initial_state(grant, downgrade_to, approval=_approval_required(campaign))
    with transaction.atomic():
        rev, created = Revocation.objects.get_or_create(
            key=_item_key(item),
            defaults={
                "item": item,
                "grant": grant,
                "grant_key": grant.key,
                "connector": grant.connector,
                "downgrade_to": downgrade_to,
                "action": describe(grant, downgrade_to),
                "blast_radius": blast_radius(grant, downgrade_to=downgrade_to, snapshot=snapshot),
                "state": state,
                "instructions": instructions,
                "created": timezone.now(),
            },
        )
        if not created:
            return None
        audit.record(
            "revocation.planned",
            obj=rev,
            campaign=campaign,
            item=item.pk,
            action_text=rev.action,
            state=rev.state,
            connector=grant.connector.name,
        )
        if state == S.QUEUED:
            _enqueue_on_commit(rev)
    return rev


def _approval_required(campaign: Campaign | None) -> bool:
    return bool(campaign and campaign.config.get("approve_revocations"))


def _initial_state(grant: Grant, downgrade_to: Level | None, *, approval: bool) -> tuple[str, str]:
    reason = refusal(grant, downgrade_to)
    if reason:
        return S.MANUAL, instructions_for(grant, downgrade_to, reason)
    if grant.connector.dry_run:
        return S.DRY_RUN, ""
    if approval:
        return S.AWAITING_APPROVAL, ""
    return S.QUEUED, ""


def _offline_provider(connector: Connector):
    """A provider without HTTP or secrets: enough to ask what it can revoke (cannot_revoke reads no upstream)."""
    cls = connector_class(connector.kind)

    def no_secret(key: str) -> str:
        raise ConnectorError("no secrets while planning")

    config = ConnectorConfig(
        name=connector.name,
        api_url=cls.api_url(connector.base_url),
        options=connector.options,
        secret=no_secret,
        allow_private_network=connector.allow_private_network,
    )
    return cls(config, http=None)


def refusal(grant: Grant, downgrade_to: Level | None) -> str | None:
    """Why the grant's connector cannot do this (None: it can)."""
    try:
        return _offline_provider(grant.connector).cannot_revoke(grant_target(grant), downgrade_to=downgrade_to)
    except (ConnectorError, LookupError, KeyError, ValueError) as exc:
        return f"the connector cannot plan this revocation: {redact(str(exc))}"


def instructions_for(grant: Grant, downgrade_to: Level | None, reason: str) -> str:
    system = f"{grant.connector.name} ({grant.connector.kind}, {grant.connector.base_url})"
    return (
        f"{describe(grant, downgrade_to)[:1].upper()}{describe(grant, downgrade_to)[1:]} in {system}.\n"
        f"PipeAccess cannot do this itself: {reason}.\n"
        "Make the change upstream, then close this task with a note saying what was done; "
        "the next sync verifies it."
    )


# --- what the action says -----------------------------------------------------------


def holder_label(grant: Grant) -> str:
    if grant.account_id:
        account = grant.account
        if account.type == AccountType.DEPLOY_KEY:
            return f"deploy key {account.login.rsplit(':', 1)[-1]}"
        if account.type == AccountType.ROBOT:
            return f"robot {account.login}"
        if account.type == AccountType.ACCESS_TOKEN:
            return f"access token {account.name or account.login}"
        if account.type == AccountType.APP_INSTALLATION:
            return f"app {account.login.removeprefix('app:')}"
        return account.login
    return _group_label(grant.group)


def _group_label(resource) -> str:
    kind = {ResourceType.TEAM: "team", ResourceType.ORGANIZATION: "organization", ResourceType.GROUP: "group"}
    return f"{kind.get(resource.type, resource.type)} {resource.path}"


def describe(grant: Grant, downgrade_to: Level | None = None) -> str:
    """The action in words, at the node that grants the access."""
    holder = holder_label(grant)
    resource = grant.resource
    current = Level(grant.entitlement.level).label
    where = _group_label(resource) if resource.type in _GROUP_TYPES else resource.path
    if downgrade_to is not None:
        return f"downgrade {holder} on {where} from {current} to {Level(downgrade_to).label}"
    if grant.via.startswith("shared_group:"):
        return f"remove the share of {where} with {holder}"
    if grant.via.startswith("role:"):
        return f"unassign role {grant.via.removeprefix('role:')} from {holder}"
    if grant.via == "system_admin":
        return f"remove the system administrator role from {holder}"
    if grant.entitlement.kind == GrantKind.INVITATION:
        return f"cancel the invitation of {holder} to {where}"
    if grant.account_id and grant.account.type == AccountType.PSEUDO:
        return f"remove {holder} access to {where} (make it private)"
    if grant.account_id and grant.account.type in (AccountType.DEPLOY_KEY, AccountType.ACCESS_TOKEN):
        return f"delete {holder} on {where}"
    if grant.entitlement.kind == GrantKind.MEMBERSHIP:
        return f"remove {holder} from {where}"
    return f"remove {holder}'s {grant.entitlement.name} access on {where}"


_GROUP_TYPES = (ResourceType.TEAM, ResourceType.ORGANIZATION, ResourceType.GROUP)


# --- blast radius -------------------------------------------------------------------


def blast_radius(grant: Grant, *, downgrade_to: Level | None = None, snapshot=None) -> dict:
    """What the action takes away besides the grant's own resource, from the current inventory.

    An account's grant: its effective access with and without the grant (or with it lowered), compared;
    access it keeps through another path is not counted as lost. A group's grant: what each of its members
    reaches through it (a member may keep some of it through other paths).
    """
    snap = snapshot or export._Snapshot(grant.connector, None)
    if grant.account_id:
        before = _reached(snap, grant.account_id)
        after = _reached(_without(snap, grant, downgrade_to), grant.account_id, grant=grant, cap=downgrade_to)
        lost = sorted(rid for rid in before if rid not in after)
        lowered = sorted(rid for rid in before if rid in after and after[rid] < before[rid])
        holders = [grant.account.login]
        people = 1
    else:
        members = snap.members(grant.group_id)
        reach = _grant_reach(snap, _values(grant), cap=downgrade_to)
        lost = [] if downgrade_to is not None else sorted(reach)
        lowered = sorted(rid for rid, level in reach.items() if downgrade_to is not None and level < grant_level(grant))
        holders = sorted(snap.accounts[a]["login"] for a in members)
        people = len(members)
    radius = {
        "holders": people,
        "holder_sample": holders[:BLAST_SAMPLE],
        "removed": _listing(snap, lost),
        "lowered": _listing(snap, lowered),
    }
    radius["summary"] = _summary(grant, downgrade_to, radius)
    return radius


def grant_level(grant: Grant) -> int:
    return grant.entitlement.level


def _values(grant: Grant) -> dict:
    """A grant in the shape export._grant_values yields."""
    e = grant.entitlement
    return {
        "id": grant.pk,
        "account_id": grant.account_id,
        "group_id": grant.group_id,
        "resource_id": grant.resource_id,
        "entitlement__kind": e.kind,
        "entitlement__level": e.level,
        "entitlement__cascade_to": e.cascade_to,
        "entitlement__cascade_level": e.cascade_level,
        "entitlement__applies_to_self": e.applies_to_self,
        "entitlement__capped": e.capped,
    }


def _grant_reach(snap, g: dict, *, cap: int | None = None, member_level: int | None = None) -> dict[int, int]:
    """resource id -> level one grant confers (as the export expands it)."""
    reach: dict[int, int] = {}
    if g["entitlement__applies_to_self"]:
        reach[g["resource_id"]] = g["entitlement__level"]
    if g["entitlement__cascade_to"]:
        level = g["entitlement__cascade_level"] or g["entitlement__level"]
        for rid in snap.cascade(g["resource_id"], g["entitlement__cascade_to"]):
            reach[rid] = max(level, reach.get(rid, 0))
    for rid, level in reach.items():
        if g["entitlement__capped"] and member_level:
            level = min(level, member_level)
        if cap is not None:
            level = min(level, cap)
        reach[rid] = level
    return reach


def _reached(snap, account_id: int, *, grant: Grant | None = None, cap: int | None = None) -> dict[int, int]:
    """resource id -> highest level the account reaches; ``grant`` left out (or lowered to ``cap``)."""
    groups = snap.groups_of({account_id})
    grants = snap.grants.filter(Q(account_id=account_id) | Q(group_id__in=groups)).exclude(
        entitlement__kind=GrantKind.INVITATION
    )
    reached: dict[int, int] = {}
    for g in export._grant_values(grants):
        member_level = None
        if g["group_id"]:
            member_level = snap.members(g["group_id"]).get(account_id)
            if member_level is None:
                continue
        limit = None
        if grant is not None and g["id"] == grant.pk:
            if cap is None:
                continue
            limit = cap
        for rid, level in _grant_reach(snap, g, cap=limit, member_level=member_level).items():
            reached[rid] = max(level, reached.get(rid, 0))
    return reached


def _without(snap, grant: Grant, downgrade_to: Level | None):
    """The snapshot as it would be without the account's membership (or with it lowered); others unchanged."""
    if grant.entitlement.kind != GrantKind.MEMBERSHIP or not grant.account_id:
        return snap
    changed = copy(snap)
    group, account = grant.resource_id, grant.account_id

    def edit(entries):
        kept = []
        for entry in entries:
            if entry[0] != account:
                kept.append(entry)
            elif downgrade_to is not None:
                kept.append((entry[0], min(entry[1], downgrade_to), *entry[2:]))
        return kept

    changed._members = {**snap._members, group: edit(snap._members.get(group, []))}
    changed._cascading_members = {**snap._cascading_members, group: edit(snap._cascading_members.get(group, []))}
    changed._member_cache = {}
    return changed


def _listing(snap, ids: list[int]) -> dict:
    types = Counter(snap.resources[rid]["type"] for rid in ids)
    paths = sorted(snap.resources[rid]["path"] for rid in ids)
    return {"count": len(ids), "by_type": dict(sorted(types.items())), "paths": paths[:BLAST_SAMPLE]}


def _plural(n: int, word: str) -> str:
    word = word.replace("_", " ")
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1] + 'ies' if word.endswith('y') else word + 's'}"


def _summary(grant: Grant, downgrade_to: Level | None, radius: dict) -> str:
    def counted(part: dict) -> str:
        by_type = dict(part["by_type"])
        return ", ".join(_plural(n, t) for t, n in by_type.items()) or "nothing"

    removed, lowered = radius["removed"], radius["lowered"]
    if grant.account_id:
        subject = holder_label(grant)
        if downgrade_to is None:
            text = f"{subject} loses access to {counted(removed)}"
        else:
            text = f"{subject} drops to {Level(downgrade_to).label} on {counted(lowered)}"
            if removed["count"]:
                text += f" and loses {counted(removed)}"
        return text
    people = _plural(radius["holders"], "member")
    part = lowered if downgrade_to is not None else removed
    verb = f"drop to {Level(downgrade_to).label} on" if downgrade_to is not None else "lose access to"
    return f"{people} of {_group_label(grant.group)} {verb} {counted(part)} through it (other paths may remain)"


# --- security-role operations -------------------------------------------------------


def _transition(rev: Revocation, allowed, *, to: str, action: str, actor, **changes) -> Revocation:
    """Move rev from one of ``allowed`` to ``to`` (conditional UPDATE) and record it, in one transaction."""
    with transaction.atomic():
        updated = Revocation.objects.filter(pk=rev.pk, state__in=list(allowed)).update(state=to, **changes)
        if not updated:
            current = Revocation.objects.filter(pk=rev.pk).values_list("state", flat=True).first()
            shown = S(current).label.lower() if current else "deleted"
            raise RevocationError(f"revocation {rev.pk} is {shown}: it cannot be {action.split('.')[-1]}")
        rev.refresh_from_db()
        audit.record(action, actor=actor, obj=rev, campaign=_campaign_of(rev), state=to, action_text=rev.action)
        if to == S.QUEUED:
            _enqueue_on_commit(rev)
    return rev


def _campaign_of(rev: Revocation) -> Campaign | None:
    return rev.item.campaign if rev.item_id else None


def approve(rev: Revocation, *, actor) -> Revocation:
    """awaiting_approval → queued (or dry_run while the connector is in dry-run)."""
    to = S.DRY_RUN if _connector(rev).dry_run else S.QUEUED
    return _transition(rev, [S.AWAITING_APPROVAL], to=to, action="revocation.approved", actor=actor)


def retry(rev: Revocation, *, actor) -> Revocation:
    """failed, dry_run or reappeared → queued; needs the connector out of dry-run."""
    connector = _connector(rev)
    if connector.dry_run:
        raise RevocationError(
            f"connector {connector.name} is in dry-run: switch it to live first (revocations are listed, not sent)"
        )
    return _transition(rev, [S.FAILED, S.DRY_RUN, S.REAPPEARED], to=S.QUEUED, action="revocation.retried", actor=actor)


def close_manual(rev: Revocation, *, actor, note: str) -> Revocation:
    """A person did the manual task: manual → done; the next sync verifies it like any other."""
    note = (note or "").strip()
    if not note:
        raise RevocationError("say what was done: a note is required to close a manual task")
    with transaction.atomic():
        rev = _transition(
            rev,
            [S.MANUAL],
            to=S.DONE,
            action="revocation.closed_manually",
            actor=actor,
            outcome=Outcome.REVOKED,
            executed_at=timezone.now(),
            closed_by=actor if getattr(actor, "pk", None) else None,
        )
        audit.record("revocation.note", actor=actor, obj=rev, campaign=_campaign_of(rev), note=note[:2000])
    return rev


def cancel(rev: Revocation, *, actor, reason: str = "") -> Revocation:
    """Drop an action that has not run (or failed, or is manual): nothing is sent."""
    allowed = [S.AWAITING_APPROVAL, S.QUEUED, S.DRY_RUN, S.MANUAL, S.FAILED, S.REAPPEARED]
    with transaction.atomic():
        rev = _transition(rev, allowed, to=S.CANCELLED, action="revocation.cancelled", actor=actor)
        if reason:
            audit.record("revocation.note", actor=actor, obj=rev, campaign=_campaign_of(rev), note=reason[:2000])
    return rev


NARROWABLE = (S.AWAITING_APPROVAL, S.DRY_RUN, S.MANUAL, S.FAILED)


def narrow(rev: Revocation, *, level, actor) -> Revocation:
    """Take away less: a removal becomes a downgrade to ``level`` (or a downgrade a milder one).

    Refused when the connector cannot do that downgrade (unless the task is manual anyway).
    """
    level = Level.from_name(level) if isinstance(level, str) else Level(level)
    grant = _current_grant(rev)
    if grant is None:
        raise RevocationError("the grant is no longer in the inventory: nothing to narrow")
    if level >= grant.entitlement.level:
        raise RevocationError(f"{level.label} is not below the grant's level ({Level(grant.entitlement.level).label})")
    if rev.downgrade_to is not None and level <= rev.downgrade_to:
        raise RevocationError(f"{level.label} is not narrower than the planned {Level(rev.downgrade_to).label}")
    reason = refusal(grant, level)
    if reason and rev.state != S.MANUAL:
        raise RevocationError(f"{grant.connector.name} cannot downgrade this grant: {reason}")
    with transaction.atomic():
        locked = Revocation.objects.select_for_update().get(pk=rev.pk)
        if locked.state not in NARROWABLE:
            raise RevocationError(f"revocation {rev.pk} is {S(locked.state).label.lower()}: it cannot be narrowed")
        before = locked.action
        locked.downgrade_to = level
        locked.grant = grant
        locked.action = describe(grant, level)
        locked.blast_radius = blast_radius(grant, downgrade_to=level)
        if locked.state == S.MANUAL:
            state, locked.instructions = _initial_state(grant, level, approval=True)
            locked.state = state
        locked.save(update_fields=["downgrade_to", "grant", "action", "blast_radius", "state", "instructions"])
        audit.record(
            "revocation.narrowed",
            actor=actor,
            obj=locked,
            campaign=_campaign_of(locked),
            before=before,
            after=locked.action,
            level=level.label,
            state=locked.state,
        )
    return locked


def set_dry_run(connector: Connector, value: bool, *, actor) -> Connector:
    """Switch a connector's revocations between listed-only (dry run) and sent; recorded."""
    with transaction.atomic():
        before = Connector.objects.select_for_update().values_list("dry_run", flat=True).get(pk=connector.pk)
        Connector.objects.filter(pk=connector.pk).update(dry_run=bool(value))
        connector.dry_run = bool(value)
        if before != connector.dry_run:
            audit.record("connector.dry_run_changed", actor=actor, obj=connector, dry_run=connector.dry_run)
    return connector


def _connector(rev: Revocation) -> Connector:
    return Connector.objects.get(pk=rev.connector_id)


def _current_grant(rev: Revocation) -> Grant | None:
    """The grant as the inventory has it now (same key), or the recorded one when it is gone."""
    current = (
        Grant.objects.current()
        .filter(connector_id=rev.connector_id, key=rev.grant_key)
        .select_related(*_GRANT_JOINS)
        .first()
    )
    if current is not None:
        return current
    if rev.grant_id:
        return Grant.objects.select_related(*_GRANT_JOINS).get(pk=rev.grant_id)
    return None


# --- execution ----------------------------------------------------------------------


def _enqueue_on_commit(rev: Revocation) -> None:
    from .tasks.revocations import execute_revocation

    pk = rev.pk
    # Robust: the committed row is the outbox. With the broker down, the caller (closing a campaign, a sync's
    # hook) must neither fail after its commit nor skip the rows after this one; the reconciler sends them later.
    transaction.on_commit(lambda: execute_revocation.delay(pk), robust=True)


@dataclass(frozen=True)
class Rate:
    """REVOCATION_RATE_LIMIT ("30/m"): writes per connector per second, minute or hour, across every worker."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        number, _, unit = str(text).strip().partition("/")
        periods = {"s": 1.0, "m": 60.0, "h": 3600.0}
        try:
            count = int(number)
        except ValueError:
            count = 0
        if count <= 0 or unit not in periods:
            raise ValueError(f"REVOCATION_RATE_LIMIT={text!r}: use N/s, N/m or N/h with N > 0")
        return cls(count, periods[unit])

    @property
    def interval(self) -> float:
        return self.seconds / self.count


class Throttle:
    """The write rate of one connector, shared by every worker: REVOCATION_RATE_LIMIT writes per period.

    Time is cut into slots one interval wide; each write (any request but GET) first reserves the next free
    slot that has not begun, with an atomic cache add (Redis in production), and waits for it to begin.
    """

    def __init__(self, connector_id: int):
        self.connector_id = connector_id
        self.interval = Rate.parse(settings.REVOCATION_RATE_LIMIT).interval

    def _key(self, slot: int) -> str:
        return f"revocation-slot:{self.connector_id}:{slot}"

    def next_free(self, now: float | None = None) -> float:
        """When the next write could go out (epoch seconds), without reserving it."""
        now = time.time() if now is None else now
        slot = math.ceil(now / self.interval)
        # Looking further than a task would sleep tells nothing more: it comes back later anyway.
        horizon = int((now + settings.REVOCATION_THROTTLE_MAX_SLEEP) / self.interval) + 1
        while slot <= horizon and cache.get(self._key(slot)) is not None:
            slot += 1
        return max(now, slot * self.interval)

    def reserve(self) -> float:
        """Reserve the next free slot; returns when it begins."""
        now = time.time()
        # Writes go out at slot boundaries only (never in a slot already begun): two writes of one connector
        # are always at least one interval apart, whichever workers send them.
        slot = math.ceil(now / self.interval)
        timeout = int(self.interval * 2) + 60
        while not cache.add(self._key(slot), 1, timeout=timeout):
            slot += 1
        return max(now, slot * self.interval)

    def wait(self) -> None:
        delay = self.reserve() - time.time()
        if delay > 0:
            time.sleep(delay)


def backoff(retries: int) -> float:
    """Seconds before retry number ``retries`` + 1: exponential, capped, with jitter (half fixed, half random)."""
    delay = min(settings.REVOCATION_RETRY_BACKOFF_MAX, settings.REVOCATION_RETRY_BACKOFF * 2**retries)
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


class _Watch:
    """Paces the provider's writes to the connector's rate, and notes transient errors the provider swallowed
    into a failed outcome (providers report failures, they do not raise them)."""

    def __init__(self, http, throttle: Throttle):
        self.transient: ConnectorError | None = None
        original = http.request

        def request(method, *args, **kwargs):
            if method.upper() != "GET":
                throttle.wait()
            try:
                return original(method, *args, **kwargs)
            except ConnectorError as exc:
                if not exc.permanent:
                    self.transient = exc
                raise

        http.request = request


class _ExecutionLock:
    """A session advisory lock on PostgreSQL: held while this process works on the revocation."""

    def __init__(self, rev_id: int):
        self.rev_id = rev_id
        self.held = False

    def acquire(self) -> bool:
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_EXECUTION_LOCK, self.rev_id])
            self.held = bool(cursor.fetchone()[0])
        return self.held

    def release(self) -> None:
        if self.held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_EXECUTION_LOCK, self.rev_id])
            self.held = False


def held_elsewhere(rev_id: int) -> bool:
    """Whether a live process is executing the revocation (its execution lock is held). Without PostgreSQL
    there is no such lock to ask, and a row left running is taken for abandoned."""
    lock = _ExecutionLock(rev_id)
    if not lock.acquire():
        return True
    lock.release()
    return False


def execute(rev_id: int, *, connector_factory=build_connector) -> str:
    """Run one revocation through its connector; returns a one-line summary.

    Raises Transient for an upstream failure a later attempt may fix (the row is back in queued), Busy
    when another process holds the revocation.
    """
    rev = Revocation.objects.filter(pk=rev_id).first()
    if rev is None:
        return f"revocation {rev_id} no longer exists"
    if rev.state not in (S.QUEUED, S.RUNNING):
        return f"revocation {rev_id} is {rev.state}: nothing to do"
    # A long queue of writes for this connector: come back when it is our turn instead of holding a worker.
    wait = Throttle(rev.connector_id).next_free() - time.time()
    if wait > settings.REVOCATION_THROTTLE_MAX_SLEEP:
        _later(rev_id, wait)
        return f"revocation {rev_id} throttled: looks again in {wait:.0f} s"

    lock = _ExecutionLock(rev_id)
    if not lock.acquire():
        # Either a duplicate delivery while the first worker runs, or a redelivery that arrived before the
        # database noticed the dead worker's connection: look again later (by then it is done, or free).
        raise Busy(f"revocation {rev_id} is being executed by another worker")
    try:
        return _run(rev_id, connector_factory)
    finally:
        lock.release()


def _later(rev_id: int, wait: float) -> None:
    from .tasks.revocations import execute_revocation

    execute_revocation.apply_async((rev_id,), countdown=wait)


def _run(rev_id: int, connector_factory) -> str:
    redelivered = False
    with transaction.atomic():
        claimed = Revocation.objects.filter(pk=rev_id, state=S.QUEUED).update(
            state=S.RUNNING, attempts=F("attempts") + 1
        )
        if not claimed:
            # Running already: the worker that claimed it died (this is the redelivered message).
            row = Revocation.objects.filter(pk=rev_id, state=S.RUNNING)
            if not row.update(attempts=F("attempts") + 1):
                return f"revocation {rev_id} was taken by another worker"
            redelivered = True
        rev = Revocation.objects.select_related("connector").get(pk=rev_id)
        audit.record(
            "revocation.running", obj=rev, campaign=_campaign_of(rev), attempt=rev.attempts, redelivered=redelivered
        )
    if redelivered and rev.attempts > settings.REVOCATION_MAX_ATTEMPTS:
        return _finish(rev, S.FAILED, error=f"gave up after {rev.attempts - 1} attempts that never finished")

    grant = _current_grant(rev)
    if grant is None:
        return _finish(rev, S.FAILED, error="the grant is no longer in the inventory: nothing to address upstream")
    target = grant_target(grant)
    downgrade_to = Level(rev.downgrade_to) if rev.downgrade_to else None
    try:
        provider = connector_factory(rev.connector)
    except ConnectorError as exc:
        return _failed_or_transient(rev, exc)
    watch = _Watch(provider.http, Throttle(rev.connector_id))
    try:
        if redelivered:
            # The previous attempt may have sent the write before its worker died: ask before sending again.
            present = provider.is_present(target)
            if present is False:
                return _finish(
                    rev,
                    S.DONE,
                    outcome=Outcome.ALREADY_ABSENT,
                    message="absent upstream when the interrupted attempt was resumed; nothing sent again",
                )
        result = provider.revoke(target, downgrade_to=downgrade_to)
    except Unsupported as exc:
        return _finish(rev, S.MANUAL, instructions=instructions_for(grant, downgrade_to, str(exc)))
    except ConnectorError as exc:
        return _failed_or_transient(rev, exc)
    except Exception as exc:  # noqa: BLE001 - a bug must not leave the row running for ever
        log.exception("revocation %s crashed", rev.pk)
        return _finish(rev, S.FAILED, error=f"unexpected error: {type(exc).__name__}: {exc}")
    finally:
        provider.http.close()
    if result.outcome in (Outcome.REVOKED, Outcome.ALREADY_ABSENT):
        return _finish(rev, S.DONE, outcome=result.outcome, message=result.message)
    if watch.transient is not None:
        return _failed_or_transient(rev, watch.transient, message=result.message)
    return _finish(rev, S.FAILED, error=result.message or "the connector reported a failure")


def _failed_or_transient(rev: Revocation, exc: ConnectorError, *, message: str = "") -> str:
    text = redact(message or str(exc))
    if exc.permanent:
        return _finish(rev, S.FAILED, error=text)
    with transaction.atomic():
        Revocation.objects.filter(pk=rev.pk, state=S.RUNNING).update(state=S.QUEUED, last_error=text)
        audit.record("revocation.transient_error", obj=rev, campaign=_campaign_of(rev), error=text[:500])
    raise Transient(text)


def give_up(rev_id: int, error: str) -> str:
    """Retries are spent: queued (waiting for a retry) → failed."""
    rev = Revocation.objects.get(pk=rev_id)
    return _finish(rev, S.FAILED, error=f"still failing after retries: {error}", allowed=(S.QUEUED, S.RUNNING))


def _finish(
    rev: Revocation,
    state: str,
    *,
    outcome: str = "",
    message: str = "",
    error: str = "",
    instructions: str = "",
    allowed=(S.RUNNING,),
) -> str:
    changes: dict = {"state": state}
    if state == S.DONE:
        changes.update(outcome=outcome, executed_at=timezone.now(), last_error="")
    if state == S.FAILED:
        changes["last_error"] = redact(error)[:5000]
    if state == S.MANUAL:
        changes["instructions"] = instructions
    with transaction.atomic():
        if not Revocation.objects.filter(pk=rev.pk, state__in=list(allowed)).update(**changes):
            return f"revocation {rev.pk} changed state meanwhile; left as it is"
        rev.refresh_from_db()
        audit.record(
            f"revocation.{state}",
            obj=rev,
            campaign=_campaign_of(rev),
            outcome=outcome,
            message=redact(message)[:500],
            error=changes.get("last_error", ""),
        )
        if state == S.DONE:
            _mail_on_commit("queue_revocation_notice", rev)
        elif state == S.FAILED:
            _mail_on_commit("queue_revocation_failed", rev)
    return f"revocation {rev.pk} {state}: {outcome or redact(error)[:200] or 'manual task'}"


def _mail_on_commit(function: str, rev: Revocation) -> None:
    """Queue a mail after the state change commits; a mail problem never undoes the recorded revocation."""
    pk = rev.pk

    def send() -> None:
        from . import emails

        row = Revocation.objects.select_related("connector", "item__campaign", "item__subject").get(pk=pk)
        with transaction.atomic():
            getattr(emails, function)(row)

    transaction.on_commit(send, robust=True)


# --- the closed loop ----------------------------------------------------------------


def after_sync(run) -> None:
    """After an applied sync: each revocation executed before the run started is verified or has reappeared."""
    with transaction.atomic():
        _verify(run)


def _verify(run) -> None:
    executed = list(
        Revocation.objects.filter(
            connector_id=run.connector_id, state=S.DONE, executed_at__lt=run.started_at
        ).select_related("item__campaign")
    )
    if not executed:
        return
    present = dict(
        Grant.objects.current()
        .filter(connector_id=run.connector_id, key__in={rev.grant_key for rev in executed})
        .values_list("key", "entitlement__level")
    )
    now = timezone.now()
    verified, reappeared = [], []
    for rev in executed:
        level = present.get(rev.grant_key)
        if level is None or (rev.downgrade_to is not None and level <= rev.downgrade_to):
            verified.append(rev)
        else:
            reappeared.append((rev, level))
    if verified:
        Revocation.objects.filter(pk__in=[r.pk for r in verified], state=S.DONE).update(
            state=S.VERIFIED, verified_at=now, verified_run=run
        )
        for rev in verified:
            audit.record("revocation.verified", obj=rev, campaign=_campaign_of(rev), run=run.pk)
    if reappeared:
        Revocation.objects.filter(pk__in=[r.pk for r, _ in reappeared], state=S.DONE).update(
            state=S.REAPPEARED, verified_at=now, verified_run=run
        )
        for rev, level in reappeared:
            audit.record(
                "revocation.reappeared",
                obj=rev,
                campaign=_campaign_of(rev),
                run=run.pk,
                level=Level(level).label,
                action_text=rev.action,
            )
            _mail_on_commit("queue_access_reappeared", rev)
