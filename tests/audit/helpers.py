"""Builders for chains of audit events, and the audit command run in-process."""

import io

from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from reviews import audit
from reviews.models import AuditEvent

TEST_KEY = "audit-test-key-" + "0123456789abcdef" * 2
# The simulated organization's owner token: a canary that must never reach the audit trail.
TOKEN = "ghp_" + "auditCanaryToken0123456789abcdefghijk"


def members(org) -> list[str]:
    """The simulated organization's members other than its owner, sorted."""
    return sorted(login for login in org.facts().members if login != org.owner_login)


def write_events(n: int, action: str = "test.event", **data) -> list[AuditEvent]:
    """n events through record(), the way the app writes them."""
    with transaction.atomic():
        return [audit.record(action, step=i, **data) for i in range(n)]


def bulk_chain(n: int, *, start: int = 1, batch: int = 5000) -> None:
    """n valid events appended quickly (bulk insert, hashes computed as record() does) for the large-chain tests."""
    seq, prev = audit.head()
    assert seq == start - 1
    now = timezone.now()
    for offset in range(0, n, batch):
        rows = []
        for i in range(offset, min(n, offset + batch)):
            seq += 1
            event = AuditEvent(
                seq=seq,
                created=now,
                actor_label="system",
                action="bulk.event",
                object_type="connectors.connector",
                object_id=str(i % 97),
                data={"i": i, "note": "x" * 40},
                prev_hash=prev,
            )
            event.hash = prev = audit.compute_hash(event)
            rows.append(event)
        AuditEvent.objects.bulk_create(rows)


def run_command(*args) -> tuple[int, str, str]:
    """manage.py audit ARGS in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        err.write(str(exc))
        code = exc.returncode
    return code, out.getvalue(), err.getvalue()
