"""Celery tasks: revocations (the work itself is reviews.revocations.execute)."""

from celery import shared_task
from django.conf import settings

from .. import revocations

__all__ = ["execute_revocation"]


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
