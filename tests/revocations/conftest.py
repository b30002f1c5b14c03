"""A Harbor simulator synced into the inventory, a live (not dry-run) connector, and fast retries."""

import time

import pytest

from connectors.models import Connector, Grant
from connectors.simulators.harbor import HarborOrg, HarborSimulator
from connectors.sync import run_sync
from pipeaccess.celery import app as celery_app
from tests.connectors.helpers import add_simulated_connector

PASSWORD = "Revocations-harbor-admin-1"
TOKEN_ENV = "PIPEACCESS_TEST_REVOCATIONS_HARBOR"


class TimedHarbor(HarborSimulator):
    """Harbor that also notes when each write arrived (the request log has no times)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes: list[tuple[float, str, str]] = []

    def handle(self, request):
        response = super().handle(request)
        if request.method != "GET":
            with self.lock:
                self.writes.append((time.monotonic(), request.method, request.path))
        return response

    def logged(self, method: str) -> list:
        return [r for r in self.requests if r.method == method]


def harbor_org() -> HarborOrg:
    org = HarborOrg.generate(seed=7, projects=6, users=12, robots=2, groups=2)
    org.user("admin").password = PASSWORD
    org.add_user("olivia", sysadmin=True)
    org.add_user("peter")
    org.add_project("shared")
    org.add_member("shared", user="olivia", role="developer")
    org.add_member("shared", user="peter", role="maintainer")
    return org


@pytest.fixture
def org():
    return harbor_org()


@pytest.fixture
def sim(org):
    with TimedHarbor(org) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db) -> Connector:
    connector = add_simulated_connector(
        monkeypatch,
        name="harbor",
        kind="harbor",
        base_url=sim.url,
        token_env=TOKEN_ENV,
        token=PASSWORD,
        username="admin",
    )
    Connector.objects.filter(pk=connector.pk).update(dry_run=False)
    connector.refresh_from_db()
    return connector


@pytest.fixture
def sync(connector):
    def run():
        result = run_sync(connector)
        assert result.applied_at is not None, result.error
        return result

    return run


@pytest.fixture
def grant_of(sync):
    """grant_of(login, path, via="direct"): the current grant, after a first sync."""
    sync()

    def find(login: str, path: str = "shared", via: str = "direct") -> Grant:
        return Grant.objects.current().get(account__login=login, resource__path=path, via=via)

    return find


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.HTTP_MAX_RETRIES = 0
    settings.REVOCATION_RATE_LIMIT = "1000/s"
    settings.REVOCATION_RETRY_BACKOFF = 0.01


@pytest.fixture
def eager():
    """Tasks enqueued on commit run in this process (mail sending included), as a worker would run them."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
