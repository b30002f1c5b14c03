"""Concurrent writers (threads with their own connections, and separate processes) produce one linear chain."""

import threading

import pytest
from django.db import connection, connections, transaction

from reviews import audit
from reviews.models import AuditEvent
from tests.cli import manage

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 6
EACH = 40


def write_many(writer: int, errors: list, start: threading.Barrier) -> None:
    try:
        start.wait()
        for i in range(EACH):
            # One short transaction per event, as actions write them; some with a second event in the same one.
            with transaction.atomic():
                audit.record("test.concurrent", writer=writer, i=i)
                if i % 5 == 0:
                    audit.record("test.concurrent.pair", writer=writer, i=i)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(repr(exc))
    finally:
        connections.close_all()


def assert_one_linear_chain(expected: int) -> None:
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, expected + 1))
    report = audit.verify()
    assert report.problems == [] and report.count == expected


def test_threads_writing_at_once_produce_one_contiguous_verified_chain():
    errors: list = []
    start = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=write_many, args=(n, errors, start)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    per_writer = EACH + EACH // 5
    assert_one_linear_chain(WRITERS * per_writer)
    # Every writer's events are all there, in its own order (interleaved with the others').
    for n in range(WRITERS):
        mine = [e.data["i"] for e in AuditEvent.objects.filter(action="test.concurrent", data__writer=n)]
        assert mine == list(range(EACH))


SCRIPT = """
from django.db import transaction
from reviews import audit
for i in range(30):
    with transaction.atomic():
        audit.record("test.process", i=i)
"""


@pytest.mark.subprocess
def test_separate_processes_writing_at_once_produce_one_chain(audit_env):
    import subprocess
    import sys

    from tests.cli import ROOT, database_env

    if connection.vendor == "sqlite":
        # The child processes must see the test database file the parent created.
        connection.close()
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", SCRIPT],
            cwd=ROOT,
            env={**__import__("os").environ, **database_env(), **audit_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert_one_linear_chain(4 * 30)
    assert manage("audit", "verify", env=audit_env).returncode == 0
