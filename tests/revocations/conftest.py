"""A Harbor simulator synced into the inventory, a live (not dry-run) connector, and fast retries."""

import threading
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch

import pytest

from connectors.models import Connector, Grant
from connectors.simulators.harbor import HarborOrg, HarborSimulator
from connectors.sync import run_sync
from pipeaccess.celery import app as celery_app
from tests.connectors.helpers import add_simulated_connector

PASSWORD = "Revocations-harbor-admin-1"
TOKEN_ENV = "PIPEACCESS_TEST_REVOCATIONS_HARBOR"


@dataclass
class Hold:
    """Keep the first request matching method/path waiting, before or after the simulator applies it."""

    method: str
    path: str
    after: bool
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def matches(self, request) -> bool:
        return not self.arrived.is_set() and request.method == self.method and fnmatch(request.path, self.path)

    def wait(self) -> None:
        self.arrived.set()
        self.release.wait(timeout=60)


class TimedHarbor(HarborSimulator):
    """Harbor that notes when each write arrived (the request log has no times) and can hold one request."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes: list[tuple[float, str, str]] = []
        self.holds: list[Hold] = []

    def hold(self, method: str, path: str, *, after: bool) -> Hold:
        hold = Hold(method, path, after)
        self.holds.append(hold)
        return hold

    def handle(self, request):
        hold = next((h for h in self.holds if h.matches(request)), None)
        if hold is not None and not hold.after:
            hold.wait()
        response = super().handle(request)
        if request.method != "GET":
            with self.lock:
                self.writes.append((time.monotonic(), request.method, request.path))
        if hold is not None and hold.after:
            hold.wait()
        return response

    def stop(self) -> None:
        for hold in self.holds:
            hold.release.set()
        super().stop()

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


def live_harbor_connector(harbor, monkeypatch) -> Connector:
    """The connector "harbor" on this Harbor simulator, out of dry run: its revocations go upstream for real."""
    connector = add_simulated_connector(
        monkeypatch,
        name="harbor",
        kind="harbor",
        base_url=harbor.url,
        token_env=TOKEN_ENV,
        token=PASSWORD,
        username="admin",
    )
    Connector.objects.filter(pk=connector.pk).update(dry_run=False)
    connector.refresh_from_db()
    return connector


@pytest.fixture
def connector(sim, monkeypatch, db) -> Connector:
    return live_harbor_connector(sim, monkeypatch)


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
