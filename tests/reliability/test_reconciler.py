"""The revocation reconciler's rules: which queued rows it sends again, and what it records.

Sending goes through transaction.on_commit, captured here; the real broker round trip after a Redis restart is
tests/reliability/test_broker_restart.py.
"""

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from reviews.choices import RevocationState
from reviews.models import AuditEvent, Revocation
from reviews.tasks.revocations import reconcile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.REVOCATION_RECONCILE_AFTER_SECONDS = 600
    settings.REVOCATION_RETRY_BACKOFF = 30
    settings.REVOCATION_RETRY_BACKOFF_MAX = 3600


def revocation(name: str, *, age: timedelta, state=RevocationState.QUEUED, attempts: int = 0) -> Revocation:
    return Revocation.objects.create(
        key=f"reconciler:{name}",
        grant_key=name,
        action=f"remove {name} from shared",
        state=state,
        attempts=attempts,
        created=timezone.now() - age,
    )


def reconciled(**kwargs) -> tuple[list[int], int]:
    with TestCase.captureOnCommitCallbacks() as callbacks:
        sent = reconcile(**kwargs)
    return sent, len(callbacks)


def test_only_rows_queued_longer_than_the_threshold_are_sent_again_and_each_is_audited():
    lost = revocation("lost", age=timedelta(minutes=11))
    revocation("young", age=timedelta(minutes=9))
    for state in (RevocationState.DONE, RevocationState.FAILED, RevocationState.DRY_RUN):
        revocation(f"old-{state}", age=timedelta(days=1), state=state)

    sent, enqueued = reconciled()

    assert (sent, enqueued) == ([lost.pk], 1)
    event = AuditEvent.objects.get(action="revocation.reenqueued")
    assert (event.object_id, event.actor_label) == (str(lost.pk), "system")
    assert event.data["attempts"] == 0


def test_a_resent_row_waits_a_full_threshold_before_it_is_sent_once_more():
    revocation("lost", age=timedelta(minutes=11))
    assert reconciled()[1] == 1
    # Its re-enqueue event restarts the wait: the next beat leaves it alone.
    assert reconciled() == ([], 0)
    later = timezone.now() + timedelta(minutes=11)
    assert reconciled(now=later)[1] == 1


def test_a_row_waiting_for_a_scheduled_retry_is_left_alone_until_that_retry_is_overdue_too():
    # Three failed attempts: the retry scheduled after the last may come up to 30 * 2**2 = 120 s later.
    # Queued 640 s at the first beat: past the 600 s threshold, but not past threshold + retry wait.
    waiting = revocation("backing-off", age=timedelta(seconds=540), attempts=3)
    assert reconciled(now=timezone.now() + timedelta(seconds=100)) == ([], 0)
    assert reconciled(now=timezone.now() + timedelta(seconds=200)) == ([waiting.pk], 1)


def test_a_row_left_running_by_a_dead_worker_is_sent_again_once_its_wait_is_over():
    # No process holds its execution lock: the worker that claimed it is gone (live holders:
    # tests/reliability/test_worker_kill.py).
    abandoned = revocation("abandoned", age=timedelta(minutes=11), state=RevocationState.RUNNING, attempts=1)
    revocation("just-claimed", age=timedelta(minutes=9), state=RevocationState.RUNNING, attempts=1)

    assert reconciled() == ([abandoned.pk], 1)
    assert AuditEvent.objects.get(action="revocation.reenqueued").data["state"] == RevocationState.RUNNING


def test_a_beat_with_nothing_lost_costs_one_query(django_assert_num_queries):
    revocation("empty", age=timedelta(days=1), state=RevocationState.DONE)
    with django_assert_num_queries(1):
        assert reconciled() == ([], 0)
