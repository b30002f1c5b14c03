"""The audit trail: every change of state is one hash-chained event, written in the change's own transaction.

Each event's hash is an HMAC (key outside the database, settings.AUDIT_KEY) over its content and the
previous event's hash, so editing, deleting, inserting or reordering a row breaks the chain from that
row on. Writers serialize on one lock so concurrent transactions still produce one linear chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEvent

GENESIS = "0" * 64
# pg_advisory_xact_lock key: "audit" in ASCII.
_LOCK_KEY = 0x6175646974


@cache
def _key() -> bytes:
    if settings.AUDIT_KEY:
        return settings.AUDIT_KEY.encode()
    path = settings.AUDIT_KEY_PATH
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created once, readable by the owner only; losing it makes the existing chain unverifiable.
        with open(path, "x", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip().encode()


def canonical(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers: every field but the hash itself."""
    body = {
        "seq": event.seq,
        "created": event.created.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "campaign_id": event.campaign_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hmac.new(_key(), canonical(event), hashlib.sha256).hexdigest()


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
    # SQLite: the write transaction already serializes writers (IMMEDIATE mode).


def record(action: str, *, actor=None, obj=None, campaign=None, actor_label: str | None = None, **data) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction; raises if it cannot (and so does the action).

    actor is a user (None for the system), obj the changed object (type and id are recorded), data plain JSON.
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
        actor_label=actor_label,
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
