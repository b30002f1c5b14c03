"""Load: 50 reviewers deciding at once for 3 minutes against gunicorn on PostgreSQL; nothing fails, nothing is
lost, nothing is recorded twice, and the audit chain still verifies.

gunicorn (sync workers) serves the app on this test's database; locust (tests/reliability/locustfile.py,
headless) runs one user per reviewer, each with its own session and its own items (load_setup.py). Afterwards:
no failed request (the deliberately refused revokes without justification are 400s the locustfile expects),
Decision rows match the successful decide and undo responses one for one, each with its audit event, the
items' states add up, and reviews.audit.verify walks the whole chain without a problem. The figures go to
the test output and var/test-load.json.

PIPEACCESS_LOAD_SECONDS (default 180), PIPEACCESS_LOAD_USERS (50) and PIPEACCESS_LOAD_WORKERS (gunicorn
workers, 4) change the run; CI runs the defaults.
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from reviews import audit
from reviews.choices import DecisionKind, ItemState
from reviews.models import AuditEvent, Decision, ReviewItem
from tests.cli import ROOT, database_env
from tests.reliability import load_setup

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

SECONDS = int(os.environ.get("PIPEACCESS_LOAD_SECONDS", "180"))
USERS = int(os.environ.get("PIPEACCESS_LOAD_USERS", "50"))
GUNICORN_WORKERS = int(os.environ.get("PIPEACCESS_LOAD_WORKERS", "4"))
ITEMS_PER_REVIEWER = 60
REPORT = ROOT / "var" / "test-load.json"
DECIDED = (DecisionKind.APPROVE, DecisionKind.REVOKE, DecisionKind.DOWNGRADE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def plan(tmp_path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(load_setup.build(reviewers=USERS, items_per_reviewer=ITEMS_PER_REVIEWER)))
    return path


@pytest.fixture
def server(tmp_path):
    """gunicorn serving the app on this test's database; yields its base URL."""
    assert connection.vendor == "postgresql", "the load test measures the app on PostgreSQL (set DATABASE_URL)"
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        **database_env(),
        "DEBUG": "false",
        "REDIS_URL": settings.REDIS_URL,
        "PIPEACCESS_VAR_DIR": str(settings.VAR_DIR),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and gunicorn
            [
                sys.executable,
                "-m",
                "gunicorn",
                "pipeaccess.wsgi:application",
                "--workers",
                str(GUNICORN_WORKERS),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGINT)  # quick shutdown: nothing is in flight any more
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-5000:]


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=10):  # noqa: S310 - loopback http
                return
        except OSError:  # not listening yet, or still booting its workers
            time.sleep(0.3)
    pytest.fail(f"gunicorn did not answer within 60 s:\n{log.read_text(errors='replace')}")


def run_locust(url: str, plan: Path, out: Path) -> dict[str, dict]:
    """Locust headless for SECONDS; returns what the locustfile counted, by request name."""
    results = out / "results.json"
    finished = subprocess.run(  # noqa: S603 - our own locust, from the venv
        [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(ROOT / "tests" / "reliability" / "locustfile.py"),
            "--headless",
            "--users",
            str(USERS),
            "--spawn-rate",
            "10",
            "--run-time",
            f"{SECONDS}s",
            # Users finish the request they are in: every response the server sent is counted.
            "--stop-timeout",
            "30",
            "--host",
            url,
            "--csv",
            str(out / "load"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "PIPEACCESS_LOAD_PLAN": str(plan), "PIPEACCESS_LOAD_RESULTS": str(results)},
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
    )
    assert results.exists(), finished.stdout[-3000:] + finished.stderr[-3000:]
    return json.loads(results.read_text())


def percentile(values: list[float], p: float) -> float:
    """Nearest rank, as locust reports it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else 0.0


def timings(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 0.50)),
        "p95_ms": round(percentile(values, 0.95)),
        "p99_ms": round(percentile(values, 0.99)),
        "max_ms": round(max(values, default=0)),
    }


def test_fifty_reviewers_deciding_at_once_lose_nothing_and_keep_the_audit_chain_whole(plan, server, tmp_path, capsys):
    results = run_locust(server, plan, tmp_path)
    every = [ms for entry in results.values() for ms in entry["ms"]]
    decide_ok = sum(results.get(f"decide {kind}", {}).get("ok", 0) for kind in DECIDED)
    undo_ok = results.get("undo", {}).get("ok", 0)
    failed = {name: entry["errors"] for name, entry in results.items() if entry["failed"]}
    figures = {
        "users": USERS,
        "seconds": SECONDS,
        "gunicorn_workers": GUNICORN_WORKERS,
        "requests": len(every),
        "failures": sum(entry["failed"] for entry in results.values()),
        "requests_per_second": round(len(every) / SECONDS, 1),
        **timings(every),
        "decide": timings([ms for kind in DECIDED for ms in results.get(f"decide {kind}", {}).get("ms", [])]),
        "decisions": decide_ok,
        "undos": undo_ok,
        "refused_revokes": results.get("refused revoke", {}).get("ok", 0),
        "by_request": {name: {"requests": len(entry["ms"]), **timings(entry["ms"])} for name, entry in results.items()},
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2) + "\n")
    with capsys.disabled():
        sys.stdout.write(
            f"\nload: {USERS} reviewers, {SECONDS} s, {figures['requests']} requests "
            f"({figures['requests_per_second']}/s), {figures['failures']} failed; "
            f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms (decide p95 {figures['decide']['p95_ms']} ms); "
            f"{decide_ok} decisions, {undo_ok} undos -> {REPORT}\n"
        )

    assert figures["failures"] == 0, failed
    assert decide_ok > USERS and undo_ok > 0 and figures["refused_revokes"] > 0, figures
    # One Decision row per successful response, no more, no fewer; each with its audit event.
    assert Decision.objects.filter(kind__in=DECIDED).count() == decide_ok
    assert Decision.objects.filter(kind=DecisionKind.UNDO).count() == undo_ok
    assert Decision.objects.count() == decide_ok + undo_ok
    assert AuditEvent.objects.filter(action__startswith="decision.").count() == decide_ok + undo_ok
    assert ReviewItem.objects.filter(state=ItemState.DECIDED).count() == decide_ok - undo_ok
    report = audit.verify(checkpoint_dir=tmp_path / "no-checkpoints")
    assert report.ok, report.as_json()
    assert report.count == AuditEvent.objects.count()
