"""Revocations run by real Celery workers: a worker killed mid-call never makes a write go out twice,
and many revocations against one connector keep to its rate whichever worker sends them.

Two `celery worker` processes (one task at a time each) consume a queue of their own; the Harbor simulator
runs in this process and can hold one request open, before or after applying it, while the test kills the
worker's pool process with SIGKILL. Celery (acks late, reject on worker lost) puts the message back; the
next delivery finds the revocation running and asks Harbor before sending anything again.
CI runs this on PostgreSQL and Redis.
"""

import os
import signal
import time

import pytest

from reviews.choices import RevocationState
from reviews.models import AuditEvent, Revocation
from reviews.revocations import plan
from reviews.tasks.revocations import execute_revocation
from tests.workers import Worker, Workers, celery_workers

from . import factories
from .conftest import PASSWORD, TOKEN_ENV, TimedHarbor, harbor_org, live_harbor_connector

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

RATE = "5/s"
DONE_TIMEOUT = 60


@pytest.fixture(scope="module")
def module_org():
    org = harbor_org()
    for number in range(6):
        name = f"rate{number}"
        org.add_user(name)
        org.add_member("shared", user=name, role="developer")
    return org


@pytest.fixture(scope="module")
def harbor(module_org):
    with TimedHarbor(module_org) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory):
    env = {
        TOKEN_ENV: PASSWORD,
        "HTTP_MAX_RETRIES": "0",
        "REVOCATION_RATE_LIMIT": RATE,
        "REVOCATION_BUSY_RETRY_SECONDS": "1",
    }
    with celery_workers(2, tmp_path_factory.mktemp("revocation-workers"), env, prefix="test-revocations") as group:
        yield group


@pytest.fixture
def live_connector(harbor, monkeypatch):
    connector = live_harbor_connector(harbor, monkeypatch)
    from connectors.sync import run_sync

    assert run_sync(connector).applied_at is not None
    harbor.reset_counters()
    harbor.writes.clear()
    harbor.holds.clear()
    return connector


def queued(logins: list[str]) -> list[Revocation]:
    """Revocations of these members of project shared, planned and queued (sent to the test queue by hand)."""
    from connectors.models import Grant

    campaign = factories.campaign(approve_revocations=True)  # planned without enqueueing to the default queue
    for login in logins:
        grant = Grant.objects.current().get(account__login=login, resource__path="shared", via="direct")
        factories.decided_item(campaign, grant)
    revs = plan(campaign)
    Revocation.objects.filter(pk__in=[r.pk for r in revs]).update(state=RevocationState.QUEUED)
    return revs


def send(workers: Workers, rev: Revocation) -> str:
    return execute_revocation.apply_async((rev.pk,), queue=workers.queue).id


def wait_for(rev: Revocation, workers: Workers, *states) -> Revocation:
    deadline = time.monotonic() + DONE_TIMEOUT
    while time.monotonic() < deadline:
        rev.refresh_from_db()
        if rev.state in states:
            return rev
        time.sleep(0.1)
    pytest.fail(f"revocation {rev.pk} is {rev.state}, not {states}:\n{workers.logs()}")


def kill_during(workers: Workers, harbor: TimedHarbor, rev: Revocation, *, method: str, after: bool) -> Worker:
    hold = harbor.hold(method, "/projects/*/members/*", after=after)
    task_id = send(workers, rev)
    assert hold.arrived.wait(30), workers.logs()
    victim = workers.receiver(task_id)
    os.kill(victim.pool_child(), signal.SIGKILL)
    time.sleep(0.5)  # the worker's connection is closed and the message put back
    hold.release.set()
    return victim


def member_deletes(harbor: TimedHarbor) -> list:
    return [r for r in harbor.requests if r.method == "DELETE" and "/members/" in r.path]


def test_a_worker_killed_after_harbor_applied_the_delete_never_sends_it_again(workers, harbor, live_connector):
    (rev,) = queued(["olivia"])

    kill_during(workers, harbor, rev, method="DELETE", after=True)
    rev = wait_for(rev, workers, RevocationState.DONE, RevocationState.FAILED)

    assert (rev.state, rev.outcome, rev.attempts) == (RevocationState.DONE, "already_absent", 2), workers.logs()
    assert len(member_deletes(harbor)) == 1, workers.logs()
    events = AuditEvent.objects.filter(object_type="reviews.revocation", object_id=str(rev.pk))
    assert [e.data.get("redelivered") for e in events.filter(action="revocation.running")] == [False, True]
    assert "signal 9" in workers.logs() or "SIGKILL" in workers.logs()


def test_a_worker_killed_before_the_delete_went_out_sends_it_exactly_once(workers, harbor, live_connector):
    (rev,) = queued(["peter"])

    # Harbor's revocation reads the membership first: hold that read, so the worker dies before its DELETE.
    kill_during(workers, harbor, rev, method="GET", after=False)
    rev = wait_for(rev, workers, RevocationState.DONE, RevocationState.FAILED)

    assert (rev.state, rev.outcome, rev.attempts) == (RevocationState.DONE, "revoked", 2), workers.logs()
    assert len(member_deletes(harbor)) == 1, workers.logs()


def test_revocations_against_one_connector_keep_to_its_rate_across_workers(workers, harbor, live_connector):
    revs = queued([f"rate{number}" for number in range(6)])

    for rev in revs:
        send(workers, rev)
    for rev in revs:
        assert wait_for(rev, workers, RevocationState.DONE, RevocationState.FAILED).state == RevocationState.DONE

    times = sorted(at for at, method, _ in harbor.writes if method == "DELETE")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    interval = 1 / 5
    assert len(times) == 6
    # Each write waits for a slot of its own that has not begun: writes are one interval apart or more.
    assert min(gaps) > interval * 0.9, gaps
    assert times[-1] - times[0] >= 5 * interval * 0.9, gaps
    received = [len(w.received()) for w in workers.members]
    assert all(received), workers.logs()  # both workers sent some
