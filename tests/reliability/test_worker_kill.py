"""A Celery worker killed before, during and after a revocation's call upstream: the member is removed exactly
once and the revocation ends done.

Real `celery worker` processes consume a queue of their own (tests/workers.py); the Harbor simulator runs in
this process. The worker that takes the revocation is SIGKILLed, either its pool child (the main process sees
the child die and, with reject_on_worker_lost, puts the message back at once) or the whole worker, main process
and child together (the message stays unacknowledged in Redis until its visibility timeout, an hour). Three
moments: before (Harbor holds the membership read that precedes the DELETE), during (a delay fault holds the
DELETE itself; Harbor applies it after the worker died, possibly after the resumed attempt looked) and after
(Harbor applied the DELETE and holds the answer, so the database never hears of it). Then the reconciler runs
as its beat would once the wait is over, and another worker finishes the job. Harbor's request log counts
the DELETEs that took effect (200; a repeat on a removed member is 404).
"""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Grant
from connectors.simulators.server import DELAY
from connectors.sync import run_sync
from reviews.choices import RevocationState
from reviews.models import AuditEvent, Revocation
from reviews.revocations import held_elsewhere, plan
from reviews.tasks.revocations import execute_revocation, reconcile
from tests.revocations import factories
from tests.revocations.conftest import PASSWORD, TOKEN_ENV, TimedHarbor, harbor_org, live_harbor_connector
from tests.workers import Worker, Workers, celery_workers

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

MEMBER = "/projects/*/members/*"
DONE_TIMEOUT = 20
# How long Harbor holds the DELETE in the "during" case: the worker is killed well inside it.
DELETE_DELAY = 2.0


@pytest.fixture
def harbor():
    with TimedHarbor(harbor_org()) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory):
    """Four workers for the module: each whole-worker case kills one, and every case needs one more to finish."""
    env = {TOKEN_ENV: PASSWORD, "HTTP_MAX_RETRIES": "0", "REVOCATION_BUSY_RETRY_SECONDS": "0.5"}
    with celery_workers(4, tmp_path_factory.mktemp("worker-kill"), env, prefix="test-worker-kill") as group:
        yield group


@pytest.fixture
def revocation(harbor, monkeypatch) -> Revocation:
    """peter's membership of project shared, decided "revoke", planned and queued (not yet sent)."""
    connector = live_harbor_connector(harbor, monkeypatch)
    assert run_sync(connector).applied_at is not None
    harbor.reset_counters()
    campaign = factories.campaign(approve_revocations=True)  # planned without enqueueing to the default queue
    grant = Grant.objects.current().get(account__login="peter", resource__path="shared", via="direct")
    factories.decided_item(campaign, grant)
    (rev,) = plan(campaign)
    Revocation.objects.filter(pk=rev.pk).update(state=RevocationState.QUEUED)
    return rev


def hold_at(moment: str, harbor: TimedHarbor):
    """Make Harbor stop the revocation at ``moment``; returns (arrived, release) callables."""
    if moment == "during":
        fault = harbor.add_fault(DELAY, MEMBER, method="DELETE", seconds=DELETE_DELAY)
        return (lambda: _poll(lambda: fault.fired == 1)), (lambda: None)
    # before: the membership read that precedes the DELETE; after: the DELETE's answer, once applied.
    hold = harbor.hold("GET" if moment == "before" else "DELETE", MEMBER, after=moment == "after")
    return (lambda: hold.arrived.wait(DONE_TIMEOUT)), hold.release.set


def _poll(condition) -> bool:
    deadline = time.monotonic() + DONE_TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def kill(victim: Worker, what: str) -> None:
    if what == "child":
        os.kill(victim.pool_child(), signal.SIGKILL)
    else:
        os.killpg(victim.process.pid, signal.SIGKILL)  # its own process group: main process and pool child
        victim.process.wait()


def reconciler_beat() -> list[int]:
    """The reconciler as its beat runs once REVOCATION_RECONCILE_AFTER_SECONDS have passed."""
    return reconcile(now=timezone.now() + timedelta(hours=1))


def effective_deletes(harbor: TimedHarbor) -> int:
    return sum(1 for r in harbor.requests if r.method == "DELETE" and "/members/" in r.path and r.status == 200)


def final(rev: Revocation, workers: Workers) -> Revocation:
    settled = (RevocationState.DONE, RevocationState.FAILED)
    _poll(lambda: Revocation.objects.filter(pk=rev.pk, state__in=settled).exists())
    rev.refresh_from_db()
    assert rev.state in settled, f"revocation is {rev.state}:\n{workers.logs()}"
    return rev


@pytest.mark.parametrize("moment", ["before", "during", "after"])
@pytest.mark.parametrize("what", ["child", "worker"])
def test_a_killed_worker_leaves_the_revocation_applied_upstream_exactly_once_and_done(
    what, moment, workers, harbor, revocation
):
    arrived, release = hold_at(moment, harbor)
    task_id = execute_revocation.apply_async((revocation.pk,), queue=workers.queue).id
    assert arrived(), workers.logs()
    victim = workers.receiver(task_id)
    # A live worker holds the running revocation: the reconciler leaves it alone, however long it runs.
    assert reconciler_beat() == []

    kill(victim, what)
    release()
    if what == "worker":
        # Nothing comes back from the broker for an hour; once PostgreSQL has dropped the dead worker's session
        # (and with it the execution lock), the reconciler sends the revocation again.
        assert _poll(lambda: not held_elsewhere(revocation.pk)), workers.logs()
        assert reconciler_beat() == [revocation.pk]
    rev = final(revocation, workers)

    assert rev.state == RevocationState.DONE, f"{rev.last_error}\n{workers.logs()}"
    if moment == "during":
        time.sleep(DELETE_DELAY)  # the held DELETE has been answered (and logged) by now
    assert effective_deletes(harbor) == 1, (list(harbor.requests), workers.logs())
    shared = harbor.org.project("shared")
    assert "peter" not in {harbor.org.entity_name(m) for m in shared.members.values()}
    # Before: the resumed attempt finds peter still there and removes him. After: it finds him gone and sends
    # nothing. During: either, depending on whether the held DELETE landed before the resumed attempt looked.
    expected = {"before": {"revoked"}, "during": {"revoked", "already_absent"}, "after": {"already_absent"}}
    assert rev.outcome in expected[moment], workers.logs()
    resumed = AuditEvent.objects.filter(object_id=str(rev.pk), action="revocation.running", data__redelivered=True)
    assert resumed.exists(), workers.logs()
