"""The audit trail: every change of state is one hash-chained event, written in the change's own transaction.

Each event's hash is an HMAC-SHA256 (key outside the database: settings.AUDIT_KEY, or the key file at
settings.AUDIT_KEY_PATH) over its canonical content and the previous event's hash, so editing, deleting,
inserting or reordering a row breaks the chain at that row. Writers serialize on one lock, so concurrent
transactions still produce one linear chain with contiguous sequence numbers.

What the chain alone cannot show (the tail cut off, or every row rewritten by someone holding the key) is
caught by signed checkpoints (sequence, head hash, time) appended to files in settings.AUDIT_CHECKPOINT_DIR,
outside the database; `verify()` compares the chain with every checkpoint it finds there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .models import AuditEvent

GENESIS = "0" * 64
# pg_advisory_xact_lock key: "audit" in ASCII.
_LOCK_KEY = 0x6175646974
# Rows read per query while walking the chain: memory stays flat whatever the chain's length.
CHUNK = 5000
# The columns a walk, an export and a checkpoint read (never whole model instances).
_COLUMNS = (
    "id",
    "seq",
    "created",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "campaign_id",
    "data",
    "prev_hash",
    "hash",
)


# --- the key ------------------------------------------------------------------


def _key() -> bytes:
    return _load_key(settings.AUDIT_KEY or "", str(settings.AUDIT_KEY_PATH))


@lru_cache(maxsize=4)
def _load_key(inline: str, path_name: str) -> bytes:
    if inline:
        return inline.encode()
    path = Path(path_name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created once, readable by the owner only; losing it makes the existing chain unverifiable.
        try:
            with open(path, "x", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32))
            path.chmod(0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise RuntimeError(f"the audit key file {path} is empty")
    return key.encode()


def _checkpoint_key() -> bytes:
    # A key of its own, derived from the chain key: an event hash can never pass for a checkpoint signature.
    return hmac.new(_key(), b"pipeaccess audit checkpoint v1", hashlib.sha256).digest()


# --- writing ------------------------------------------------------------------


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _body(seq, created, actor_label, action, object_type, object_id, campaign_id, data, prev_hash) -> bytes:
    """The bytes an event's hash covers: every field but the hash, the row id and the actor link.

    The actor is covered by actor_label (the user's e-mail at the time): the actor foreign key is set to
    NULL when a user is deleted, which must not break the chain. Anything that shows who acted should show
    actor_label.
    """
    body = {
        "seq": seq,
        "created": created.isoformat(),
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "campaign_id": campaign_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return _ENCODER.encode(body).encode()


def canonical(event: AuditEvent) -> bytes:
    return _body(
        event.seq,
        event.created,
        event.actor_label,
        event.action,
        event.object_type,
        event.object_id,
        event.campaign_id,
        event.data,
        event.prev_hash,
    )


def compute_hash(event: AuditEvent) -> str:
    return hmac.digest(_key(), canonical(event), "sha256").hex()


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    # SQLite: the write transaction already serializes writers (IMMEDIATE mode).


def record(action: str, *, actor=None, obj=None, campaign=None, actor_label: str | None = None, **data) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction; raises if it cannot (and so does the action).

    actor is a user (None for the system), obj the changed object (type and id are recorded), data plain JSON.
    Call it as late in the transaction as possible: on PostgreSQL it holds the chain's lock until commit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of the change they record")
    _lock()
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    if actor_label is None:
        actor_label = (getattr(actor, "email", "") or str(actor)) if actor is not None else "system"
    event = AuditEvent(
        seq=seq,
        created=timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label[:254],
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        campaign=campaign,
        data=json.loads(json.dumps(data, default=str)),
        prev_hash=prev,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


def head() -> tuple[int, str]:
    """(seq, hash) of the newest committed event; (0, GENESIS) for an empty chain."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return last if last else (0, GENESIS)


# --- reading ------------------------------------------------------------------

FILTERS = ("action", "actor", "object", "object_type", "object_id", "campaign", "since", "until")


def events(filters: Mapping | None = None) -> models.QuerySet:
    """Audit events matching `filters`, oldest first (add .order_by("-seq") for newest first).

    Keys (empty values are ignored, other keys too, so a request's GET can be passed as it is):
    action: a prefix ("connector." or "sync.applied"); actor: the acting user's e-mail (case-insensitive)
    or a user; object: "app.model:id" or a model instance (object_type / object_id separately also work);
    campaign: a campaign or its id; since / until: datetimes or ISO 8601 strings; a bare date means that whole
    day (until is inclusive). A value that cannot be understood raises ValueError with a message for the user.
    """
    filters = filters or {}
    qs = AuditEvent.objects.order_by("seq")
    get = filters.get
    if get("action"):
        qs = qs.filter(action__startswith=str(get("action")).strip())
    actor = get("actor")
    if actor:
        label = getattr(actor, "email", None) or str(actor)
        qs = qs.filter(actor_label__iexact=label.strip())
    obj = get("object")
    if obj:
        if isinstance(obj, models.Model):
            qs = qs.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
        else:
            obj_type, sep, obj_id = str(obj).strip().partition(":")
            if not sep or not obj_type or not obj_id:
                raise ValueError(f"object {obj!r}: expected TYPE:ID, e.g. connectors.connector:3")
            qs = qs.filter(object_type=obj_type.lower(), object_id=obj_id)
    if get("object_type"):
        qs = qs.filter(object_type=str(get("object_type")).strip().lower())
    if get("object_id"):
        qs = qs.filter(object_id=str(get("object_id")).strip())
    campaign = get("campaign")
    if campaign:
        pk = getattr(campaign, "pk", campaign)
        try:
            qs = qs.filter(campaign_id=int(pk))
        except (TypeError, ValueError):
            raise ValueError(f"campaign {campaign!r}: expected a campaign id") from None
    if get("since"):
        qs = qs.filter(created__gte=_moment(get("since"), "since", end_of_day=False))
    if get("until"):
        until = get("until")
        bound = _moment(until, "until", end_of_day=True)
        qs = qs.filter(created__lt=bound) if _is_bare_date(until) else qs.filter(created__lte=bound)
    return qs


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_bare_date(value) -> bool:
    return isinstance(value, str) and _DATE.fullmatch(value.strip()) is not None


def _moment(value, name: str, *, end_of_day: bool) -> datetime:
    """A datetime (UTC when naive) from a datetime or an ISO 8601 string; a bare date is a day's start or end."""
    if isinstance(value, datetime):
        when = value
    else:
        text = str(value).strip()
        try:
            if _is_bare_date(text):
                day = parse_date(text)
                when = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 if end_of_day else 0)
            else:
                when = parse_datetime(text)
        except ValueError:
            when = None
        if when is None:
            raise ValueError(f"{name} {text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-25T14:00Z)")
    return when if timezone.is_aware(when) else when.replace(tzinfo=UTC)


def _pages(qs: models.QuerySet, *, after: int = 0, chunk: int = CHUNK) -> Iterator[list[tuple]]:
    """Rows of `qs` in seq order, by keyset pagination: a bounded query per page, whatever the database.

    (Server-side cursors would also stream on PostgreSQL, but not behind a transaction-pooling proxy
    that needs DISABLE_SERVER_SIDE_CURSORS, nor on SQLite.)
    """
    while True:
        page = list(qs.filter(seq__gt=after).order_by("seq").values_list(*_COLUMNS)[:chunk])
        if not page:
            return
        yield page
        after = page[-1][1]


def rows(qs: models.QuerySet | None = None) -> Iterator[dict]:
    """Export rows (plain JSON) of the events of `qs` (default: all), oldest first, streaming."""
    for page in _pages(AuditEvent.objects.all() if qs is None else qs):
        for r in page:
            yield {
                "seq": r[1],
                "id": r[0],
                "created": r[2].isoformat(),
                "actor": r[4],
                "actor_id": r[3],
                "action": r[5],
                "object_type": r[6],
                "object_id": r[7],
                "campaign_id": r[8],
                "data": r[9],
                "prev_hash": r[10],
                "hash": r[11],
            }


CSV_FIELDS = [
    "seq",
    "id",
    "created",
    "actor",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "campaign_id",
    "data",
    "prev_hash",
    "hash",
]


# --- verifying ----------------------------------------------------------------


@dataclass
class Problem:
    """One thing wrong with the chain or a checkpoint. seq/id name the event (None for a checkpoint file)."""

    kind: str
    message: str
    seq: int | None = None
    id: int | None = None
    checkpoint: str | None = None  # FILE:LINE

    def describe(self) -> str:
        if self.seq is None:
            where = ""
        else:
            where = f"event #{self.seq} (id {self.id})" if self.id is not None else f"event #{self.seq} (missing)"
        if self.checkpoint:
            where = f"{where}, checkpoint {self.checkpoint}" if where else f"checkpoint {self.checkpoint}"
        return f"{where}: {self.message}" if where else self.message


# Problem kinds. Chain: found walking the rows. Checkpoint: found comparing with the signed checkpoints.
CONTENT = "content_edited"
LINK = "prev_link_broken"
GAP = "seq_gap"
TRUNCATED = "truncated"
REWRITTEN = "rewritten"
BAD_CHECKPOINT = "tampered_checkpoint"
CONTENT_MESSAGE = (
    "content edited: its hash is not the HMAC of its content (the row was changed, or written without the key)"
)
# Details kept per report; the count covers all.
MAX_PROBLEMS = 50


@dataclass
class Report:
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    checkpoint_dir: str = ""
    checkpoint_files: int = 0
    checkpoints_checked: int = 0
    latest_checkpoint: dict | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_broken(self) -> Problem | None:
        chain = [p for p in self.problems if p.kind in (CONTENT, LINK, GAP)]
        return chain[0] if chain else (self.problems[0] if self.problems else None)

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def as_json(self) -> dict:
        first = self.first_broken
        return {
            "ok": self.ok,
            "events": self.count,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "first_broken": asdict(first) if first else None,
            "problem_count": self.problem_count,
            "problems": [asdict(p) for p in self.problems],
            "checkpoints": {
                "dir": self.checkpoint_dir,
                "files": self.checkpoint_files,
                "checked": self.checkpoints_checked,
                "latest": self.latest_checkpoint,
            },
            "seconds": round(self.seconds, 3),
        }


def _walk(
    report: Report, *, after: int = 0, prev_hash: str = GENESIS, wanted: set[int] | None = None, chunk: int = CHUNK
) -> dict:
    """Check every event after seq `after` in order; return {seq: stored hash} for the seqs in `wanted`.

    Each event must (1) follow its predecessor's seq, (2) carry its predecessor's stored hash as prev_hash
    and (3) carry the HMAC of its own content. The walk compares each event with its predecessor's stored
    hash, so one edited row is named alone and the rows after it still check.
    """
    key = _key()
    found: dict[int, str] = {}
    expected = after + 1
    for page in _pages(AuditEvent.objects.all(), after=after, chunk=chunk):
        for pk, seq, created, _actor_id, label, action, otype, oid, camp, data, prev, stored in page:
            problem = None
            if seq != expected:
                missing = f"#{expected}" if seq == expected + 1 else f"#{expected}..#{seq - 1}"
                problem = Problem(GAP, f"sequence gap: event(s) {missing} are missing (deleted)", seq=seq, id=pk)
            elif prev != prev_hash:
                problem = Problem(LINK, _link_message(prev, seq), seq=seq, id=pk)
            body = _body(seq, created, label, action, otype, oid, camp, data, prev)
            if not hmac.compare_digest(hmac.digest(key, body, "sha256").hex(), stored):
                if problem is None:
                    problem = Problem(CONTENT, CONTENT_MESSAGE, seq=seq, id=pk)
                else:
                    problem.message += "; its hash does not match its content either"
            if problem is not None:
                report.add(problem)
            if wanted is not None and seq in wanted:
                found[seq] = stored
            report.count += 1
            report.head_seq, report.head_hash = seq, stored
            expected, prev_hash = seq + 1, stored
    return found


def _link_message(prev: str, seq: int) -> str:
    # Runs only on a broken link: one lookup (a scan; the hash column has no index) to say what it points at.
    target = AuditEvent.objects.filter(hash=prev).values_list("seq", flat=True).first()
    if prev == GENESIS:
        why = "it claims to be the first event"
    elif target is not None:
        why = f"its prev_hash is the hash of event #{target}: events were reordered or renumbered"
    else:
        why = "no event has the hash it points to: its predecessor was deleted or replaced, or it was inserted"
    return f"previous-hash link broken ({why}); the previous event #{seq - 1} is not the one it was chained to"


def verify(*, checkpoint_dir: Path | str | None = None, chunk: int = CHUNK) -> Report:
    """Walk the whole chain, then compare it with every signed checkpoint in `checkpoint_dir`."""
    started = time.monotonic()
    directory = Path(checkpoint_dir or settings.AUDIT_CHECKPOINT_DIR)
    report = Report(checkpoint_dir=str(directory))
    read = Report()
    checkpoints = list(_read_checkpoints(directory, read))
    report.checkpoint_files = read.checkpoint_files
    # The chain first, so first_broken is the earliest broken event; checkpoint problems follow.
    stored = _walk(report, wanted={cp.seq for cp in checkpoints}, chunk=chunk)
    for p in read.problems:
        report.add(p)
    report.problem_count += read.problem_count - len(read.problems)
    for cp in sorted(checkpoints, key=lambda c: (c.seq, c.time)):
        report.checkpoints_checked += 1
        if cp.seq > report.head_seq:
            report.add(
                Problem(
                    TRUNCATED,
                    f"truncated: the checkpoint of {cp.time} recorded event #{cp.seq} but the chain ends at "
                    f"#{report.head_seq}; event(s) #{report.head_seq + 1}..#{cp.seq} at least were removed",
                    seq=report.head_seq + 1,
                    checkpoint=cp.where,
                )
            )
        elif cp.seq in stored and not hmac.compare_digest(stored[cp.seq], cp.hash):
            report.add(
                Problem(
                    REWRITTEN,
                    f"rewritten: event #{cp.seq} does not have the hash the checkpoint of {cp.time} recorded "
                    f"({cp.hash[:16]}…); the chain was rewritten at or before #{cp.seq}",
                    seq=cp.seq,
                    checkpoint=cp.where,
                )
            )
    if checkpoints:
        latest = max(checkpoints, key=lambda c: (c.time, c.seq))
        report.latest_checkpoint = {"seq": latest.seq, "hash": latest.hash, "time": latest.time}
    report.seconds = time.monotonic() - started
    return report


# --- checkpoints --------------------------------------------------------------

CHECKPOINT_PREFIX = "audit-checkpoints-"


class CheckpointError(Exception):
    """A checkpoint was not written: the chain or the earlier checkpoints do not verify."""


@dataclass
class Checkpoint:
    seq: int
    hash: str
    time: str
    where: str = ""


def _sign(entry: dict) -> str:
    body = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_checkpoint_key(), body, hashlib.sha256).hexdigest()


def checkpoint_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{CHECKPOINT_PREFIX}*.jsonl")) if directory.is_dir() else []


def _read_checkpoints(directory: Path, report: Report) -> Iterator[Checkpoint]:
    """Every correctly signed checkpoint; each line that is not one is a problem on `report`."""
    files = checkpoint_files(directory)
    report.checkpoint_files = len(files)
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                where = f"{path.name}:{number}"
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    sig = entry.pop("sig")
                    cp = Checkpoint(
                        seq=int(entry["seq"]), hash=str(entry["hash"]), time=str(entry["time"]), where=where
                    )
                except (ValueError, KeyError, TypeError, AttributeError):
                    report.add(
                        Problem(BAD_CHECKPOINT, "tampered checkpoint: the line is not a checkpoint", checkpoint=where)
                    )
                    continue
                if not isinstance(sig, str) or not hmac.compare_digest(_sign(entry), sig):
                    report.add(
                        Problem(
                            BAD_CHECKPOINT,
                            "tampered checkpoint: its signature does not match its content (or another key signed it)",
                            checkpoint=where,
                        )
                    )
                    continue
                yield cp


def write_checkpoint(*, directory: Path | str | None = None, now: datetime | None = None) -> tuple[Checkpoint, Path]:
    """Append a signed checkpoint of the current head to today's file, after checking what it vouches for.

    The chain is verified from the newest existing checkpoint to the head first (the whole chain the first
    time), so a checkpoint never signs a chain that was already tampered with; raises CheckpointError then.
    """
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    report = Report()
    checkpoints = list(_read_checkpoints(directory, report))
    if report.problems:
        raise CheckpointError(f"refusing to add a checkpoint: {report.problems[0].describe()}")
    after, prev_hash = 0, GENESIS
    if checkpoints:
        newest = max(checkpoints, key=lambda c: (c.seq, c.time))
        at = AuditEvent.objects.filter(seq=newest.seq).values_list("hash", flat=True).first()
        if newest.seq and at is None:
            raise CheckpointError(
                f"refusing to add a checkpoint: event #{newest.seq} of checkpoint {newest.where} is gone (truncated)"
            )
        if newest.seq and not hmac.compare_digest(at, newest.hash):
            raise CheckpointError(
                f"refusing to add a checkpoint: event #{newest.seq} differs from checkpoint {newest.where} (rewritten)"
            )
        after, prev_hash = newest.seq, newest.hash
    _walk(report, after=after, prev_hash=prev_hash)
    if report.problems:
        raise CheckpointError(f"refusing to add a checkpoint: {report.problems[0].describe()}")
    seq, hash_ = (report.head_seq, report.head_hash) if report.count else (after, prev_hash)
    now = now or timezone.now()
    entry = {"seq": seq, "hash": hash_, "time": now.astimezone(UTC).isoformat()}
    line = json.dumps({**entry, "sig": _sign(entry)}, sort_keys=True, separators=(",", ":")) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{CHECKPOINT_PREFIX}{now.astimezone(UTC):%Y-%m-%d}.jsonl"
    # O_APPEND: one write of a short line is never interleaved with another writer's.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return Checkpoint(seq=seq, hash=hash_, time=entry["time"], where=path.name), path
