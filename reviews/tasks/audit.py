"""Celery tasks: the audit trail's periodic signed checkpoint (settings.CELERY_BEAT_SCHEDULE "audit-checkpoint")."""

import logging

from celery import shared_task

from reviews import audit

__all__ = ["write_audit_checkpoint"]

log = logging.getLogger(__name__)


@shared_task
def write_audit_checkpoint() -> str:
    """Append a signed checkpoint of the chain's head; fails loudly (logged, task failed) if the chain is broken."""
    try:
        checkpoint, path = audit.write_checkpoint()
    except audit.CheckpointError as exc:
        log.error("audit checkpoint not written: %s", exc)
        raise
    return f"checkpoint #{checkpoint.seq} {checkpoint.hash[:16]} appended to {path.name}"
