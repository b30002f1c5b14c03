"""Celery tasks: thin wrappers that take ids, re-fetch, and delegate to the sync engine."""

import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from .models import Connector
from .sync import AlreadyRunning, run_sync, summary

log = logging.getLogger(__name__)


@shared_task
def sync_connector(connector_id: int, trigger: str = "task") -> str:
    connector = Connector.objects.filter(pk=connector_id, enabled=True).first()
    if connector is None:
        return f"connector {connector_id} is gone or disabled"
    try:
        run = run_sync(connector, trigger=trigger)
    except AlreadyRunning as exc:
        return f"already running: {exc}"
    return summary(run)


@shared_task
def sync_due_connectors() -> str:
    """Enqueue a sync for every connector whose schedule says it is due.

    Each connector is claimed by moving next_sync_at forward with a
    conditional UPDATE, so two beats (or two dispatchers) never enqueue it twice.
    """
    now = timezone.now()
    due = Connector.objects.filter(enabled=True, sync_interval__isnull=False).filter(
        Q(next_sync_at__lte=now) | Q(next_sync_at__isnull=True)
    )
    enqueued = []
    for connector in due:
        # filter(next_sync_at=None) matches NULL, so first-time schedules are claimed the same way.
        claimed = Connector.objects.filter(pk=connector.pk, next_sync_at=connector.next_sync_at).update(
            next_sync_at=now + connector.sync_interval
        )
        if claimed:
            sync_connector.delay(connector.pk, trigger="schedule")
            enqueued.append(connector.name)
    return f"enqueued {len(enqueued)}: {', '.join(enqueued)}" if enqueued else "nothing due"
