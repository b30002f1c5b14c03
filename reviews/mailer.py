"""Send one OutboundMail row through Django's email backend, at most once.

Protocol (the reasoning is in the README's mail section):

1. Take the row's *sender lock*: a PostgreSQL session advisory lock, or on SQLite an exclusive ``flock`` on a file
   under ``var/mail/locks/``. Both die with the process that holds them. Not available: another worker is sending
   this row right now, so this one stops.
2. With the lock held, a row in ``queued`` is claimed (``queued → sending``, attempts + 1) by a conditional UPDATE
   that commits before any byte goes to the SMTP server.
3. The message goes out with a Message-ID derived from the row's key; then the row becomes ``sent``
   (or ``queued`` again for a transient error, ``failed`` for a permanent one).
4. A row found in ``sending`` *while the lock is free* was left by a worker that died between the claim and the
   record: the SMTP server may have accepted it. It is **not** resent: it becomes ``failed`` with an
   "outcome unknown" error naming its Message-ID, shown with the other failures to the security team, who can
   check the mail server's log and :func:`requeue` it. A lost mail is visible; a duplicate would not be undoable.

SMTP errors: 4xx replies, refused/dropped connections and timeouts are transient (retried with exponential
backoff up to EMAIL_MAX_ATTEMPTS); 5xx replies are permanent and recorded at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import random
import smtplib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from pipeaccess.redact import redact

from . import audit
from .models import OutboundMail

log = logging.getLogger(__name__)

State = OutboundMail.State
# pg_advisory_lock(key1, key2): "mail" in ASCII, the row id.
_LOCK_CLASS = 0x6D61696C
UNKNOWN_OUTCOME = "Outcome unknown"
# SQLite: lock files per database; a queued row whose file is busy is retried after LOCK_BUSY_RETRY seconds.
_LOCK_FILES = 64
LOCK_BUSY_RETRY = 5.0


@dataclass
class Outcome:
    """What one attempt did; ``retry_in`` set means: try again after that many seconds."""

    message: str
    retry_in: float | None = None


class TransientError(Exception):
    """The SMTP server may accept later (4xx, refused connection, timeout): retried with backoff."""


class PermanentError(Exception):
    """The SMTP server refused for good (5xx): recorded as failed and shown to the security team."""


# --- the sender lock ------------------------------------------------------------------


@contextlib.contextmanager
def sender_lock(row_id: int) -> Iterator[bool]:
    """Yield True when this process holds the row's sender lock (released on exit or when the process dies)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, row_id % 2**31])
            held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, row_id % 2**31])
        return
    directory = settings.VAR_DIR / "mail" / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    # A fixed set of lock files per database file (so two databases under one var/ never share a lock):
    # rows that share a file only wait for each other.
    database = hashlib.sha256(str(connection.settings_dict["NAME"]).encode()).hexdigest()[:12]
    path = directory / f"{database}-{row_id % _LOCK_FILES}.lock"
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- classification ---------------------------------------------------------------


def classify(exc: BaseException) -> type[TransientError] | type[PermanentError]:
    """4xx, refused or dropped connections and timeouts are transient; 5xx and configuration errors are not."""
    code = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = max(codes) if codes else None
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
    if code is not None:
        return PermanentError if code >= 500 else TransientError
    if isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout, TimeoutError)):
        return TransientError
    if isinstance(exc, OSError):
        # Unreachable network, DNS failure: the next attempt may succeed.
        return TransientError
    return PermanentError


def backoff(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from EMAIL_RETRY_BACKOFF_SECONDS, capped at an hour."""
    base = settings.EMAIL_RETRY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)
    return min(base, 3600) * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not cryptography


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(
            f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for code, msg in exc.recipients.values()
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        text = f"{exc.smtp_code} {error}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact(text)[:2000]


# --- sending ----------------------------------------------------------------------


def build_message(row: OutboundMail, *, connection=None) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[row.recipient],
        # Auto-Submitted keeps out-of-office replies away; the kind lets people filter (and tests count) by mail.
        headers={"Message-ID": row.message_id, "Auto-Submitted": "auto-generated", "X-PipeAccess-Kind": row.kind},
        connection=connection,
    )
    message.attach_alternative(row.html, "text/html")
    return message


def _send(row: OutboundMail) -> None:
    try:
        with get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT) as conn:
            sent = build_message(row, connection=conn).send()
    except Exception as exc:  # noqa: BLE001 - classified below, nothing is swallowed
        raise classify(exc)(_describe(exc)) from exc
    if sent != 1:
        raise TransientError("the email backend reported that nothing was sent")


def deliver(row_id: int) -> Outcome:
    """Send the row once; see the module docstring for the protocol."""
    with sender_lock(row_id) as held:
        if not held:
            if OutboundMail.objects.filter(pk=row_id, state=State.QUEUED).exists():
                # Not claimed yet (another task about to claim it, or a row sharing the lock file): look again soon.
                return Outcome(f"mail {row_id}: locked by another worker, trying again", retry_in=LOCK_BUSY_RETRY)
            return Outcome(f"mail {row_id}: another worker is sending it")
        claimed = OutboundMail.objects.filter(pk=row_id, state=State.QUEUED).update(
            state=State.SENDING, attempts=F("attempts") + 1
        )
        row = OutboundMail.objects.filter(pk=row_id).first()
        if row is None:
            return Outcome(f"mail {row_id}: gone")
        if not claimed:
            if row.state == State.SENDING:
                return _unknown_outcome(row)
            return Outcome(f"mail {row_id}: already {row.state}")
        try:
            _send(row)
        except TransientError as exc:
            return _transient(row, str(exc))
        except PermanentError as exc:
            _fail(row, str(exc))
            return Outcome(f"mail {row_id}: failed permanently: {exc}")
        with transaction.atomic():
            OutboundMail.objects.filter(pk=row_id, state=State.SENDING).update(
                state=State.SENT, sent_at=timezone.now(), last_error=""
            )
            audit.record(
                "mail.sent", obj=row, campaign=row.campaign, kind=row.kind, recipient=row.recipient, key=row.key
            )
        return Outcome(f"mail {row_id}: sent {row.kind} to {row.recipient}")


def _transient(row: OutboundMail, error: str) -> Outcome:
    attempts = row.attempts  # read after the claim: includes this attempt
    if attempts >= settings.EMAIL_MAX_ATTEMPTS:
        _fail(row, f"gave up after {attempts} attempts: {error}")
        return Outcome(f"mail {row.pk}: failed after {attempts} attempts: {error}")
    delay = backoff(attempts)
    OutboundMail.objects.filter(pk=row.pk, state=State.SENDING).update(
        state=State.QUEUED, last_error=error, retry_at=timezone.now() + timedelta(seconds=delay)
    )
    log.warning("mail %s to %s: transient error, retry in %.0f s: %s", row.pk, row.recipient, delay, error)
    return Outcome(f"mail {row.pk}: transient error, retry in {delay:.0f} s: {error}", retry_in=delay)


def _fail(row: OutboundMail, error: str) -> None:
    with transaction.atomic():
        OutboundMail.objects.filter(pk=row.pk, state=State.SENDING).update(state=State.FAILED, last_error=error)
        audit.record("mail.failed", obj=row, campaign=row.campaign, kind=row.kind, recipient=row.recipient, error=error)
    log.error("mail %s (%s to %s) failed: %s", row.pk, row.kind, row.recipient, error)


def _unknown_outcome(row: OutboundMail) -> Outcome:
    error = (
        f"{UNKNOWN_OUTCOME}: the worker stopped while sending (Message-ID {row.message_id}); the server may have "
        "accepted it. Not resent automatically so nobody gets it twice: check the mail server's log for the "
        "Message-ID and resend if it is missing."
    )
    _fail(row, error)
    return Outcome(f"mail {row.pk}: {error}")


# --- for the UI and the tick --------------------------------------------------------


def failed_mails() -> QuerySet[OutboundMail]:
    """Mails that did not go out (5xx, retries exhausted, outcome unknown), newest first: for the security team."""
    return OutboundMail.objects.filter(state=State.FAILED).select_related("campaign").order_by("-created", "-id")


def requeue(row: OutboundMail, *, actor) -> bool:
    """Send a failed mail again (security role, after checking it did not arrive). False if it was not failed."""
    with transaction.atomic():
        changed = OutboundMail.objects.filter(pk=row.pk, state=State.FAILED).update(state=State.QUEUED)
        if not changed:
            return False
        audit.record(
            "mail.requeued", actor=actor, obj=row, campaign=row.campaign, kind=row.kind, recipient=row.recipient
        )
        from .tasks.mail import send_mail

        transaction.on_commit(lambda: send_mail.delay(row.pk), robust=True)
    return True


def recover(*, older_than_seconds: float = 300) -> dict[str, int]:
    """Hand lost rows to the worker again (called by mail_tick).

    A queued row lost its task when it never had an attempt and is older than ``older_than_seconds`` (broker down
    at commit), or when its retry was due more than ``older_than_seconds`` ago (the retry's delayed message went
    with a broker that kept nothing): it is enqueued again; the claim makes a duplicate harmless. A row in
    ``sending`` whose sender lock is free lost its worker: it is marked with an unknown outcome, never resent.
    """
    from .tasks.mail import send_mail

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    never_tried = Q(attempts=0, created__lt=cutoff)
    retry_overdue = Q(attempts__gt=0, retry_at__lt=cutoff)
    lost = list(
        OutboundMail.objects.filter(never_tried | retry_overdue, state=State.QUEUED).values_list("pk", flat=True)
    )
    for pk in lost:
        send_mail.delay(pk)
    interrupted = 0
    for pk in OutboundMail.objects.filter(state=State.SENDING).values_list("pk", flat=True):
        with sender_lock(pk) as held:
            if not held:
                continue
            row = OutboundMail.objects.filter(pk=pk, state=State.SENDING).first()
            if row is not None:
                _unknown_outcome(row)
                interrupted += 1
    return {"requeued": len(lost), "interrupted": interrupted}
