"""Sync faults, property-based: a failure at any request of a sync, of any kind, changes nothing.

Hypothesis picks the request (every page of every listing is one request; the fault fires on the n-th request
of the sync and on every one after it, retries included) and the kind of fault. After each failed run the
inventory is exactly what the last good run left (same current grants, keys, digests and validity), nothing is
recorded as removed, no Revocation row changed (a done one is not verified by the failed run) and no
revocation task was enqueued.
"""

import pytest
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.choices import SyncStatus
from connectors.models import Grant
from connectors.simulators.harbor import HarborOrg, HarborSimulator
from connectors.simulators.server import DELAY, DISCONNECT, ERROR, SECONDARY_RATE_LIMIT, TRUNCATE
from connectors.sync import run_sync
from reviews.choices import RevocationState
from reviews.models import Revocation
from reviews.tasks import revocations as revocation_tasks
from tests.connectors.helpers import add_simulated_connector, sync_factory
from tests.fakes import FakeTime

PASSWORD = "Reliability-harbor-admin-1"
TOKEN_ENV = "PIPEACCESS_TEST_RELIABILITY_HARBOR"

# Each fault, as the simulator takes it; every one fires on every request from the chosen one on.
FAULTS = {
    "5xx": {"kind": ERROR, "status": 503},
    "4xx": {"kind": ERROR, "status": 404},
    "truncated body": {"kind": TRUNCATE},
    "disconnect": {"kind": DISCONNECT},
    "timeout": {"kind": DELAY, "seconds": 1.3},  # the client's timeout is 1 s
    "secondary rate limit": {"kind": SECONDARY_RATE_LIMIT, "seconds": 120_000},
}


def _org() -> HarborOrg:
    # 105 projects: the project listing crosses a page of 100, so "page 2" is one of the requests drawn.
    org = HarborOrg.generate(seed=11, projects=105, users=15, robots=3, groups=2)
    org.user("admin").password = PASSWORD
    org.add_user("olivia")
    org.add_user("peter")
    org.add_project("shared")
    org.add_member("shared", user="olivia", role="developer")
    org.add_member("shared", user="peter", role="maintainer")
    return org


def _grants(connector) -> set[tuple]:
    return set(
        Grant.objects.filter(connector=connector)
        .order_by("pk")
        .values_list(
            "pk", "key", "digest", "entitlement_id", "valid_from", "valid_to", "removed_run_id", "added_run_id"
        )
    )


def _revocations() -> list[dict]:
    return list(Revocation.objects.order_by("pk").values())


@pytest.mark.django_db
def test_a_fault_at_any_request_of_a_sync_leaves_the_previous_state_exact(monkeypatch):
    fake_time = FakeTime(1_800_000_000.0)
    with HarborSimulator(_org(), clock=fake_time.clock) as sim:
        connector = add_simulated_connector(
            monkeypatch,
            name="harbor",
            kind="harbor",
            base_url=sim.url,
            token_env=TOKEN_ENV,
            token=PASSWORD,
            username="admin",
        )
        factory = sync_factory(fake_time, max_concurrency=1)  # one request at a time: "the n-th" is well defined
        before_requests = len(sim.requests)
        good = run_sync(connector, connector_factory=factory)
        assert good.status == SyncStatus.SUCCEEDED, good.error
        requests_per_sync = len(sim.requests) - before_requests

        olivia = Grant.objects.current().get(account__login="olivia", resource__path="shared", via="direct")
        peter = Grant.objects.current().get(account__login="peter", resource__path="shared", via="direct")
        now = timezone.now()
        for grant, state in ((olivia, RevocationState.DONE), (peter, RevocationState.QUEUED)):
            Revocation.objects.create(
                key=f"reliability:{grant.key}",
                grant=grant,
                grant_key=grant.key,
                connector=connector,
                action=f"remove {grant.account.login} from shared",
                state=state,
                outcome="revoked" if state == RevocationState.DONE else "",
                created=now,
                executed_at=now if state == RevocationState.DONE else None,
            )
        # Upstream really changes: a run that half-applied would record olivia's grant as removed and verify
        # her revocation, or add the new member's grant.
        sim.org.remove_member("shared", sim.org.find_member("shared", user="olivia").id)
        sim.org.add_user("quentin")
        sim.org.add_member("shared", user="quentin", role="guest")

        grants_before = _grants(connector)
        revocations_before = _revocations()
        enqueued = []
        monkeypatch.setattr(revocation_tasks.execute_revocation, "delay", lambda *a, **k: enqueued.append(a))
        monkeypatch.setattr(revocation_tasks.execute_revocation, "apply_async", lambda *a, **k: enqueued.append(a))
        tried = []
        kinds = sorted(FAULTS)
        # Every kind at least once, at the first, a middle and the last request; Hypothesis draws the rest.
        spread = [1 + (requests_per_sync - 1) * i // (len(kinds) - 1) for i in range(len(kinds))]

        def with_examples(test):
            for number, kind in zip(spread, kinds, strict=True):
                test = example(request_number=number, fault=kind)(test)
            return test

        @settings(
            max_examples=12,
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(request_number=st.integers(min_value=1, max_value=requests_per_sync), fault=st.sampled_from(kinds))
        @with_examples
        def check(request_number, fault):
            tried.append((request_number, fault))
            sim.faults.clear()
            sim.add_fault(path="*", on=request_number, times=None, **FAULTS[fault])
            with TestCase.captureOnCommitCallbacks(execute=True):
                failed = run_sync(connector, connector_factory=factory)
            sim.faults.clear()
            assert failed.status == SyncStatus.FAILED, (request_number, fault, failed.counts)
            assert failed.error
            assert failed.applied_at is None
            assert _grants(connector) == grants_before
            assert not Grant.objects.filter(connector=connector, removed_run__isnull=False).exists()
            assert connector.last_applied_run() == good
            assert _revocations() == revocations_before
            assert enqueued == []

        check()
        # The property was exercised over the whole sync: early, late, and every kind of fault.
        assert {fault for _, fault in tried} == set(FAULTS)
        numbers = {n for n, _ in tried}
        assert {1, requests_per_sync} <= numbers and len(numbers) >= 10

        # And the upstream change itself goes through once the faults are gone.
        healed = run_sync(connector, connector_factory=factory)
        assert healed.status == SyncStatus.SUCCEEDED, healed.error
        assert healed.counts["removed"] >= 1 and healed.counts["added"] >= 1
