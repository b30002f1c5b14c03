"""Celery tasks: revocations (the work itself is reviews.revocations.execute) and their reconciler."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .. import audit, revocations
from ..choices import RevocationState
from ..models import AuditEvent, Revocation

__all__ = ["execute_revocation", "reconcile", "reconcile_revocations"]


@shared_task(
    bind=True,
    # Acknowledged only when finished, and put back when the worker dies: the claim in the database, not
    # the broker, decides who sends, and a redelivered revocation asks the upstream before sending again.
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.REVOCATION_MAX_RETRIES,
)
def execute_revocation(self, rev_id: int) -> str:
    try:
        return revocations.execute(rev_id)
    except revocations.Busy as exc:
        raise self.retry(countdown=settings.REVOCATION_BUSY_RETRY_SECONDS, exc=exc, max_retries=None) from None
    except revocations.Transient as exc:
        if self.request.retries >= self.max_retries:
            return revocations.give_up(rev_id, str(exc))
        raise self.retry(countdown=revocations.backoff(self.request.retries), exc=exc) from None


@shared_task
def reconcile_revocations() -> str:
    """Beat: enqueue again the revocations whose message was lost (see reconcile)."""
    sent = reconcile()
    return f"re-enqueued {len(sent)}" + (f": {', '.join(map(str, sent))}" if sent else "")


def _longest_backoff(attempts: int) -> float:
    """The longest a queued row may legitimately wait for the retry its last failed attempt scheduled."""
    if attempts <= 0:
        return 0.0
    return min(settings.REVOCATION_RETRY_BACKOFF_MAX, settings.REVOCATION_RETRY_BACKOFF * 2 ** (attempts - 1))


def reconcile(*, now=None) -> list[int]:
    """Enqueue every revocation ``queued`` for longer than settings.REVOCATION_RECONCILE_AFTER_SECONDS, and every
    one ``running`` that long whose worker is gone.

    The database row is the outbox; the broker message only wakes a worker. A message is lost when the broker
    restarts without persistence or is down when the row commits, and nothing else would send it again. A row
    is left running when its whole worker is killed (SIGKILL, OOM, a lost host): Redis hands the unacknowledged
    message out again only after its visibility timeout (an hour by default). Its execution lock tells a dead
    worker from a live one; the resumed execution asks the upstream before sending again.
    "Queued since" is the row's last audit event (queued, approved, retried, a transient error) or its creation;
    a row waiting for a scheduled retry is left alone until that retry is overdue too. Re-sending is safe:
    execution claims queued → running conditionally, so a message that was not lost after all does nothing.
    Each re-enqueue is audited (``revocation.reenqueued``), which also restarts the row's wait.
    Returns the ids enqueued.
    """
    now = now or timezone.now()
    threshold = timedelta(seconds=settings.REVOCATION_RECONCILE_AFTER_SECONDS)
    rows = list(
        Revocation.objects.filter(
            state__in=[RevocationState.QUEUED, RevocationState.RUNNING], created__lt=now - threshold
        ).values_list("pk", "created", "attempts", "state")
    )
    if not rows:
        return []
    last_event = dict(
        AuditEvent.objects.filter(object_type=Revocation._meta.label_lower, object_id__in=[str(pk) for pk, *_ in rows])
        .values("object_id")
        .annotate(last=Max("created"))
        .values_list("object_id", "last")
    )
    sent = []
    for pk, created, attempts, state in rows:
        since = max(created, last_event.get(str(pk)) or created)
        waiting = _longest_backoff(attempts) if state == RevocationState.QUEUED else 0.0
        if now - since - timedelta(seconds=waiting) <= threshold:
            continue
        if state == RevocationState.RUNNING and revocations.held_elsewhere(pk):
            continue
        with transaction.atomic():
            rev = Revocation.objects.select_for_update().filter(pk=pk, state=state).first()
            if rev is None:
                continue  # picked up meanwhile
            audit.record(
                "revocation.reenqueued",
                obj=rev,
                campaign=rev.item.campaign if rev.item_id else None,
                queued_since=since.isoformat(),
                attempts=attempts,
                state=state,
            )
            # Robust: a broker still down leaves the row queued for the next beat, and the other rows are tried.
            transaction.on_commit(lambda pk=pk: execute_revocation.delay(pk), robust=True)
        sent.append(pk)
    return sent
