"""Syncs run by two real Celery workers: one connector is never synced twice at once, nor enqueued twice.

The lock is a database row and the dispatcher's claim a conditional UPDATE; both only
mean something when separate processes race for them through a real broker, so these
tests start two `celery worker` processes against the test database. Each test run
consumes from its own queue, so messages left by another run (or a running demo) are
never taken. Without REDIS_URL the workers share the filesystem broker under var/.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Exchange, Queue

from connectors.choices import SyncStatus
from connectors.models import Connector, SyncRun
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token, generate_token
from connectors.tasks import sync_connector, sync_due_connectors
from pipeaccess.celery import app as celery_app
from tests.cli import ROOT, database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

TOKEN_VARIABLE = "PIPEACCESS_TEST_WORKER_GITHUB_TOKEN"
# With this latency a sync of the org below makes ~28 requests and takes about two seconds:
# long enough that the second worker picks up its task while the first still holds the lock.
LATENCY_SECONDS = 0.1
RESULT_TIMEOUT = 30
START_TIMEOUT = 30
STOP_TIMEOUT = 10


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def received(self) -> set[str]:
        """Ids of the tasks this worker took from the broker, as its log reports them."""
        return set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", self.output()))


@dataclass
class Workers:
    queue: str
    members: list[Worker]

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.output()}" for w in self.members)


@pytest.fixture(scope="module")
def token():
    return generate_token()


@pytest.fixture(scope="module")
def github(token):
    org = GitHubOrg.generate("acme", seed=3, members=8, outside_collaborators=2, teams=2, repos=4)
    with GitHubSimulator(org, tokens={token: Token(org.owner_login)}, latency=LATENCY_SECONDS) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def workers(django_db_setup, token, tmp_path_factory):
    """Two `celery worker` processes, one task at a time each, on a queue of their own.

    CELERY_QUEUE makes that queue their default too, so the syncs the dispatcher
    enqueues travel through the broker to these workers and no stray worker (a
    running demo) can take them.
    """
    queue = f"test-sync-workers-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        **database_env(),
        "PIPEACCESS_VAR_DIR": str(settings.VAR_DIR),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": queue,
        TOKEN_VARIABLE: token,
    }
    log_dir = tmp_path_factory.mktemp("workers")
    members: list[Worker] = []
    try:
        for number in (1, 2):
            name = f"sync{number}-{queue}"
            log = log_dir / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603 - our own interpreter and the celery module
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "pipeaccess",
                        "worker",
                        "--concurrency",
                        "1",
                        "-n",
                        f"{name}@%h",
                        "-Q",
                        queue,
                        "-l",
                        "INFO",
                        # Start-up handshakes with other workers: not under test, and slow.
                        "--without-mingle",
                        "--without-gossip",
                        "--without-heartbeat",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Its own process group, so a worker that ignores SIGTERM is killed with its pool child.
                    start_new_session=True,
                )
            members.append(Worker(name, process, log))
        group = Workers(queue, members)
        for worker in members:
            _wait_until_ready(worker, group)
        yield group
    finally:
        _stop(members)
        _delete_queue(queue)


def _wait_until_ready(worker: Worker, group: Workers) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if re.search(rf"{re.escape(worker.name)}@\S+ ready\.", worker.output()):
            return
        if worker.process.poll() is not None:
            pytest.fail(f"worker {worker.name} exited with {worker.process.returncode}:\n{group.logs()}")
        time.sleep(0.2)
    pytest.fail(f"worker {worker.name} was not ready after {START_TIMEOUT} s:\n{group.logs()}")


def _stop(members: list[Worker]) -> None:
    for worker in members:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in members:
        try:
            worker.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait()


def _delete_queue(queue: str) -> None:
    """Drop the run's queue and anything a failed test left in it."""
    with celery_app.connection_for_write() as connection:
        # Declared first: a new connection knows no bindings, and deleting a queue removes those it knows.
        bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(connection.default_channel)
        bound.declare()
        bound.delete()
    if not settings.REDIS_URL:
        # The filesystem transport keeps an emptied binding table per exchange; the queue's own is not reused.
        control = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["control_folder"])
        (control / f"{queue}.exchange").unlink(missing_ok=True)


def _send(workers: Workers, task, *args, **kwargs) -> list:
    """Send the task twice through the broker and wait for both outcomes."""
    results = [task.apply_async(args, kwargs, queue=workers.queue) for _ in range(2)]
    try:
        return [(result.id, result.get(timeout=RESULT_TIMEOUT)) for result in results]
    except Exception as exc:  # noqa: BLE001 - any failure here is reported with the workers' logs
        pytest.fail(f"a task did not finish ({exc!r}):\n{workers.logs()}")
    finally:
        for result in results:
            result.forget()


def _assert_each_worker_ran_one(workers: Workers, task_ids: list[str]) -> None:
    first, second = (worker.received() & set(task_ids) for worker in workers.members)
    assert len(first) == 1 and len(second) == 1 and first != second, workers.logs()


def _github_connector(github, **fields) -> Connector:
    return Connector.objects.create(
        name="acme-github",
        kind="github",
        base_url=github.url,
        options={"org": "acme", "allow_private_network": "true"},
        secrets={"token": f"env:{TOKEN_VARIABLE}"},
        **fields,
    )


def test_two_workers_never_sync_the_same_connector_at_once(workers, github):
    connector = _github_connector(github)

    outcomes = _send(workers, sync_connector, connector.pk, trigger="test")

    refused = [message for _, message in outcomes if message.startswith("already running: ")]
    ran = [message for _, message in outcomes if not message.startswith("already running: ")]
    assert refused == ["already running: a sync of acme-github is already running"], workers.logs()
    run = SyncRun.objects.get(connector=connector)
    assert len(ran) == 1 and ran[0].startswith(f"acme-github: run {run.pk} succeeded;"), workers.logs()
    assert run.status == SyncStatus.SUCCEEDED
    assert run.trigger == "test"
    assert run.counts["grants"] > 0
    _assert_each_worker_ran_one(workers, [task_id for task_id, _ in outcomes])


def test_two_workers_dispatching_at_once_enqueue_a_due_connector_once(workers, github):
    now = timezone.now()
    connector = _github_connector(github, sync_interval=timedelta(minutes=15), next_sync_at=now - timedelta(minutes=1))

    outcomes = _send(workers, sync_due_connectors)

    assert sorted(message for _, message in outcomes) == ["enqueued 1: acme-github", "nothing due"], workers.logs()
    # The dispatcher enqueued the sync itself; one of the workers picks it up from the broker.
    deadline = time.monotonic() + 60
    while not SyncRun.objects.filter(connector=connector, finished_at__isnull=False).exists():
        assert time.monotonic() < deadline, workers.logs()
        time.sleep(0.2)
    run = SyncRun.objects.get(connector=connector)
    assert (run.trigger, run.status) == ("schedule", SyncStatus.SUCCEEDED)
    connector.refresh_from_db()
    assert connector.next_sync_at >= now + timedelta(minutes=15)
    _assert_each_worker_ran_one(workers, [task_id for task_id, _ in outcomes])
