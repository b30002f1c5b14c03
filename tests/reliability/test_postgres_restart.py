"""PostgreSQL crashes under load and comes back: requests fail cleanly, the same processes recover, nothing is lost.

A private PostgreSQL cluster (tests/reliability/servers.py) serves gunicorn (2 workers x 4 threads) and a real
Celery worker. Six reviewers decide their items through the API, concurrently. Once decisions flow, the server is
stopped with ``pg_ctl stop -m immediate`` (a crash: connections cut, no checkpoint) for three seconds and started
again. A reviewer whose request failed tries that item again later, as a person would.

- During the outage every request gets a 503 with a clear message (JSON for the API, a page for the browser),
  never a stack trace or a bare 500 (ASVS 5.0 V16.5.1, V16.5.2); a task fails in the worker without taking it
  down.
- After the restart the same gunicorn workers and the same Celery pool process serve again (no restart).
- Afterwards the database holds exactly the acknowledged decisions, each once, each with its audit event, and
  the audit chain verifies. A retry answered 409 ("changed since you loaded it") is an attempt that committed
  just before the crash without its answer getting out: it is in the database, once, and never answered 200.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings

from pipeaccess.celery import app as celery_app
from pipeaccess.db_outage import MESSAGE
from reviews.tasks.audit import write_audit_checkpoint
from tests.cli import ROOT
from tests.reliability.open_campaign import seed
from tests.reliability.servers import PrivatePostgres, free_port, migrate
from tests.workers import celery_workers

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

REVIEWERS = 6
ITEMS_EACH = 25
DECISIONS_BEFORE_CRASH = 30
OUTAGE_SECONDS = 3
LOAD_DEADLINE = 60
START_TIMEOUT = 60
PACE = 0.05  # between one reviewer's decisions
RETRY_PAUSE = 0.2  # before a reviewer tries a failed item again
TRACES = ("Traceback", "psycopg", "OperationalError", "InterfaceError", 'File "')


@dataclass
class Answer:
    item: int
    sent: float
    at: float
    status: int  # 0: no HTTP answer at all
    body: str
    content_type: str
    retry: bool


def _process_children(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


class Gunicorn:
    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and gunicorn
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "pipeaccess.wsgi:application",
                    f"--bind=127.0.0.1:{self.port}",
                    # The app is imported once, before the workers fork: they answer from their first request.
                    "--preload",
                    "--workers=2",
                    "--threads=4",
                    "--timeout=60",
                    "--error-logfile=-",
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/accounts/login/", timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"gunicorn did not start:\n{self.output()}")

    def workers(self) -> set[int]:
        return _process_children(self.process.pid)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Reviewer(threading.Thread):
    """Approves each of its items through the API; an item whose request failed goes to the back of the line."""

    def __init__(self, base_url: str, person: dict, deadline: float):
        super().__init__(daemon=True)
        self.url = f"{base_url}/api/v1/items/{{}}/decision/"
        self.token = person["token"]
        self.pending = deque(person["items"])
        self.deadline = deadline
        self.answers: list[Answer] = []

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        failed: set[int] = set()
        while self.pending and time.monotonic() < self.deadline:
            item = self.pending.popleft()
            sent = time.monotonic()
            try:
                response = session.post(self.url.format(item), json={"decision": "approve", "version": 0}, timeout=15)
                status, body = response.status_code, response.text
                content_type = response.headers.get("Content-Type", "")
            except requests.RequestException as exc:
                status, body, content_type = 0, repr(exc), ""
            self.answers.append(Answer(item, sent, time.monotonic(), status, body, content_type, item in failed))
            if status == 0 or status >= 500:
                failed.add(item)
                self.pending.append(item)
                time.sleep(RETRY_PAUSE)
            else:
                time.sleep(PACE)


def _sign_in(base_url: str, email: str, password: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base_url}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    browser.post(
        f"{base_url}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "login": email, "password": password},
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=10,
    )
    assert browser.get(f"{base_url}/reviews/", timeout=10).status_code == 200
    return browser


def _wait_for(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(what)


@pytest.fixture(autouse=True)
def tasks_go_to_the_worker():
    """Checkpoint tasks must run in the worker on the private cluster, never in this process."""
    previous, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
    yield
    celery_app.conf.task_always_eager = previous


def test_a_database_crash_under_load_fails_requests_cleanly_and_loses_no_acknowledged_decision(tmp_path):
    with PrivatePostgres() as cluster:
        database_url = cluster.create_database("pipeaccess")
        env = {
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "reliability-postgres-restart-secret-key-0123456789",
            "AUDIT_KEY": "reliability-postgres-restart-audit-key",
            "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
            "REDIS_URL": settings.REDIS_URL,
            "DATABASE_CONNECT_TIMEOUT": "3",
        }
        migrate(database_url, env)
        campaign = seed(database_url, env, reviewers=REVIEWERS, items_each=ITEMS_EACH)
        people = campaign["reviewers"]
        web = Gunicorn(env, tmp_path / "gunicorn.log")
        try:
            with celery_workers(1, tmp_path, env, prefix="test-postgres-restart") as workers:
                (worker,) = workers.members
                web_workers, pool = web.workers(), worker.pool_child()
                assert len(web_workers) == 2
                browser = _sign_in(web.url, people[0]["email"], people[0]["password"])
                assert write_audit_checkpoint.delay().get(timeout=30).startswith("checkpoint #")

                reviewers = [Reviewer(web.url, person, time.monotonic() + LOAD_DEADLINE) for person in people]
                for reviewer in reviewers:
                    reviewer.start()

                def decided() -> int:
                    return sum(a.status == 200 for r in reviewers for a in list(r.answers))

                _wait_for(lambda: decided() >= DECISIONS_BEFORE_CRASH, "the reviewers decided nothing", 30)
                crashed = time.monotonic()
                cluster.stop("immediate")
                page = browser.get(f"{web.url}/reviews/", timeout=15)
                lost_task = write_audit_checkpoint.delay()
                lost_task.get(timeout=15, propagate=False)
                time.sleep(max(0.0, crashed + OUTAGE_SECONDS - time.monotonic()))
                restarting = time.monotonic()
                cluster.start()
                back = time.monotonic()

                assert page.status_code == 503, page.text
                assert page.headers["Content-Type"].startswith("text/html") and MESSAGE in page.text
                assert page.headers["Retry-After"]
                assert not any(trace in page.text for trace in TRACES), page.text
                assert lost_task.state == "FAILURE"
                # The same signed-in browser, the same processes: everything works again without a restart.
                assert browser.get(f"{web.url}/reviews/", timeout=15).status_code == 200
                assert write_audit_checkpoint.delay().get(timeout=30).startswith("checkpoint #"), workers.logs()

                for reviewer in reviewers:
                    reviewer.join(timeout=LOAD_DEADLINE + 20)
                assert web.workers() == web_workers, web.output()
                assert worker.pool_children() == [pool], workers.logs()
        finally:
            web.stop()

        answers = [a for r in reviewers for a in r.answers]
        assert all(not r.pending for r in reviewers), f"items left undecided:\n{web.output()}"
        statuses = Counter(a.status for a in answers)
        assert set(statuses) <= {200, 409, 503}, (statuses, [a.body for a in answers if a.status not in (200, 503)])
        failures = [a for a in answers if a.status == 503]
        assert failures, "no request met the outage"
        during = [a for a in answers if a.sent > crashed + 0.5 and a.at < restarting]
        assert during and {a.status for a in during} == {503}, Counter(a.status for a in during)
        for answer in failures:
            assert answer.content_type == "application/json", answer.body
            assert answer.body == f'{{"detail": "{MESSAGE}"}}', answer.body
        assert any(a.status == 200 and a.sent > back for a in answers), "no decision after the restart"
        acknowledged = {a.item for a in answers if a.status == 200}
        # A 409 only ever answers the retry of an item whose earlier attempt failed.
        assert all(a.retry for a in answers if a.status == 409), [a for a in answers if a.status == 409]
        committed_unanswered = {a.item for a in answers if a.status == 409}
        assert acknowledged.isdisjoint(committed_unanswered)

        def rows(sql: str) -> list[tuple]:
            return cluster.query(sql, database="pipeaccess")

        decided_items = {pk for (pk,) in rows("SELECT id FROM reviews_reviewitem WHERE state = 'decided'")}
        assert len(acknowledged) + len(committed_unanswered) == REVIEWERS * ITEMS_EACH
        assert decided_items == acknowledged | committed_unanswered
        decisions = Counter(dict(rows("SELECT item_id, count(*) FROM reviews_decision GROUP BY item_id")))
        assert decisions == Counter(dict.fromkeys(decided_items, 1))
        audited = Counter(
            dict(
                rows(
                    "SELECT object_id::bigint, count(*) FROM reviews_auditevent "
                    "WHERE action = 'decision.approve' AND object_type = 'reviews.reviewitem' GROUP BY object_id"
                )
            )
        )
        assert audited == decisions
        verify = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, str(ROOT / "manage.py"), "audit", "verify"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
