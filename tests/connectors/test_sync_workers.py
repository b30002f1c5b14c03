"""Syncs run by two real Celery workers: one connector is never synced twice at once, nor enqueued twice, and
what the race leaves equals one clean sync.

The lock is a database row and the dispatcher's claim a conditional UPDATE; both only
mean something when separate processes race for them through a real broker, so these
tests start two `celery worker` processes against the test database.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.choices import SyncStatus
from connectors.models import Account, Connector, Grant, Resource, SyncRun
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token, generate_token
from connectors.sync import run_sync
from connectors.tasks import sync_connector, sync_due_connectors
from tests.workers import Workers, celery_workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

TOKEN_VARIABLE = "PIPEACCESS_TEST_WORKER_GITHUB_TOKEN"
# With this latency a sync of the org below makes ~28 requests and takes about two seconds:
# long enough that the second worker picks up its task while the first still holds the lock.
LATENCY_SECONDS = 0.1
RESULT_TIMEOUT = 30


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
    with celery_workers(
        2, tmp_path_factory.mktemp("workers"), {TOKEN_VARIABLE: token}, prefix="test-sync-workers"
    ) as group:
        yield group


@pytest.fixture(autouse=True)
def idle_workers_at_teardown(workers):
    """The database is flushed after each test: no task of this test may still be writing to it."""
    yield
    workers.wait_until_idle()


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


def _inventory(connector: Connector) -> dict[str, set]:
    """What a sync left for ``connector``, in terms that do not depend on row ids or the connector's name."""
    grants = Grant.objects.current().filter(connector=connector)
    return {
        "grants": set(grants.values_list("key", "digest")),
        "readable": set(
            grants.values_list(
                "account__login", "group__path", "resource__path", "entitlement__kind", "entitlement__name", "via"
            )
        ),
        "accounts": set(
            Account.objects.filter(connector=connector, present=True).values_list("external_id", "login", "type")
        ),
        "resources": set(
            Resource.objects.filter(connector=connector, present=True).values_list("external_id", "type", "path")
        ),
    }


def test_two_workers_never_sync_the_same_connector_at_once(workers, github, token, monkeypatch):
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

    # The raced result is exactly what one clean sync of a fresh copy of the connector gives.
    monkeypatch.setenv(TOKEN_VARIABLE, token)
    fresh = Connector.objects.create(
        name="acme-github-fresh",
        kind="github",
        base_url=github.url,
        options=connector.options,
        secrets=connector.secrets,
    )
    clean = run_sync(fresh, trigger="test")
    assert clean.status == SyncStatus.SUCCEEDED, clean.error
    raced, single = _inventory(connector), _inventory(fresh)
    assert raced["grants"] and raced == single
    assert Grant.objects.filter(connector=connector).count() == run.counts["grants"]  # nothing written twice


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
