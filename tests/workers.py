"""Real `celery worker` processes for tests whose behaviour depends on separate processes racing through a broker.

Each group consumes a fresh queue (Redis when REDIS_URL is set, else the filesystem broker under var/), so
messages left by another run or a running demo are never taken. CELERY_QUEUE makes it the workers' default
queue and this process sends there too, so tasks enqueued on either side reach these workers and no others.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Exchange, Queue

from pipeaccess.celery import app as celery_app
from tests.cli import ROOT, database_env

START_TIMEOUT = 30
STOP_TIMEOUT = 10
FIND_TIMEOUT = 10


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

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool processes (the ones that run tasks)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def pool_child(self) -> int:
        """The pid of the single pool process, waiting for one: a killed one is replaced only after a moment."""
        deadline = time.monotonic() + FIND_TIMEOUT
        while time.monotonic() < deadline:
            children = self.pool_children()
            if len(children) == 1:
                return children[0]
            time.sleep(0.05)
        pytest.fail(f"worker {self.name} has no single pool process: {children}")


@dataclass
class Workers:
    queue: str
    members: list[Worker]

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.output()}" for w in self.members)

    def receiver(self, task_id: str) -> Worker:
        """The worker that took ``task_id``, waiting until its log says so."""
        deadline = time.monotonic() + FIND_TIMEOUT
        while time.monotonic() < deadline:
            for worker in self.members:
                if task_id in worker.received():
                    return worker
            time.sleep(0.05)
        pytest.fail(f"no worker received {task_id}:\n{self.logs()}")

    def wait_until_idle(self, timeout: float = 60) -> None:
        """Wait until every task a worker took has ended (its log says succeeded, raised, failed or retry), so a
        task enqueued by another task (a sync's follow-ups) is not still writing when the test database is
        flushed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = "\n".join(worker.output() for worker in self.members)
            received = set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", output))
            ended = set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] (?:succeeded|raised|failed|retry)", output))
            if received <= ended:
                return
            time.sleep(0.1)
        pytest.fail(f"workers still busy after {timeout:.0f} s:\n{self.logs()}")

    def kill_pool_children(self) -> list[int]:
        killed = []
        for worker in self.members:
            for pid in worker.pool_children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        return killed


@contextlib.contextmanager
def celery_workers(count: int, log_dir: Path, env: dict[str, str], *, prefix: str = "test") -> Iterator[Workers]:
    """``count`` workers (one task at a time each) consuming the fresh queue ``<prefix>-<random>``.

    The parent's EMAIL_* settings are left out so that only ``env`` decides where the workers send mail.
    """
    queue = f"{prefix}-{uuid.uuid4().hex[:12]}"
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")},
        **database_env(),
        "PIPEACCESS_VAR_DIR": str(settings.VAR_DIR),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": queue,
        **env,
    }
    members: list[Worker] = []
    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        for number in range(1, count + 1):
            name = f"worker{number}-{queue}"
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
                    env=child_env,
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
        celery_app.conf.task_default_queue = previous_queue
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
