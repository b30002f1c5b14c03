"""Quay end to end: the simulator over real HTTP, the connector, the sync engine, the database and the export.

The simulator and the client share a fake clock, so Quay's header-less 429s are waited out without waiting.
"""

import logging

import pytest

from connectors.base import Outcome
from connectors.choices import AccountState, AccountType, SyncStatus
from connectors.export import Filters, rows
from connectors.models import Account, Grant
from connectors.revocation import revoke_grant
from connectors.simulators.quay import QuayOrg, QuaySimulator, Token
from connectors.simulators.server import DELAY, DISCONNECT, ERROR, TRUNCATE
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, fail_with_fault_and_check_nothing_moved, sync_factory
from tests.fakes import FakeTime

TOKEN = "quayE2eOwnerToken0123456789abcdefghijklmn"


def make_org() -> QuayOrg:
    """A generated org (120 repos: two pages) plus a few fixed grants the export assertions name."""
    org = QuayOrg.generate("acme", seed=3, members=40, teams=6, repos=120, robots=5, owner="olivia")
    org.add_robot("pusher", last_accessed="Tue, 03 Oct 2023 08:00:00 -0000")
    org.add_team("platform", "admin")
    org.add_team_member("platform", "ada")
    org.add_team("readers", "member")
    org.add_team_member("readers", "bob")
    org.add_repo("fixed")
    org.add_repo("open", public=True)
    org.grant_team("fixed", "readers", "read")
    org.grant_user("fixed", "acme+pusher", "write")
    org.grant_user("fixed", "eve", "read")
    org.invite("readers", email="new@example.com")
    org.add_prototype("write", "readers", kind="team")
    return org


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def org():
    return make_org()


@pytest.fixture
def sim(org, fake_time):
    tokens = {TOKEN: Token("olivia")}
    with QuaySimulator(org, tokens=tokens, clock=fake_time.clock, rate_limit=60, rate_window=1.0) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch, name="quay", kind="quay", base_url=sim.url, token_env="QUAY_E2E_TOKEN", token=TOKEN, org=["acme"]
    )


@pytest.fixture
def factory(fake_time):
    return sync_factory(fake_time)


@pytest.fixture
def sync(connector, factory):
    return lambda: run_sync(connector, connector_factory=factory)


def current():
    return set(Grant.objects.current().values_list("id", flat=True))


def export(connector, *, as_granted=False) -> list[dict]:
    return list(rows([connector], Filters(), as_granted=as_granted))


def find(found: list[dict], login: str, path: str) -> list[tuple[str, str, str, str]]:
    return sorted(
        (r["via"], r["level"], r["permission"], r["account"]["type"])
        for r in found
        if r["account"]["login"] == login and r["resource"]["path"] == path
    )


@pytest.mark.django_db
def test_a_full_sync_records_the_org_and_the_export_shows_quays_paths_vias_and_levels(sync, connector, org):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    effective = export(connector)
    # An admin team's member owns the org and administers every repository through org_admin.
    assert find(effective, "ada", "acme") == [
        ("direct", "read", "member", "human"),
        ("org_admin", "owner", "admin", "human"),
    ]
    assert ("org_admin", "admin", "admin", "human") in find(effective, "ada", "acme/fixed")
    assert find(effective, "ada", "acme/team/platform") == [("direct", "admin", "admin", "human")]
    # A team's repository permission reaches its members as team:ORG/NAME.
    assert ("team:acme/readers", "read", "read", "human") in find(effective, "bob", "acme/fixed")
    assert find(effective, "acme+pusher", "acme/fixed") == [("direct", "write", "write", "robot")]
    assert find(effective, "eve", "acme/fixed") == [("direct", "read", "read", "human")]
    assert find(effective, "anonymous", "acme/open") == [("direct", "read", "read", "pseudo")]
    invited = [r for r in effective if r["account"]["login"] == "new@example.com"]
    assert [(r["via"], r["account"]["state"]) for r in invited] == [("invitation", "pending")]
    repos = {r["resource"]["path"] for r in effective if r["resource"]["type"] == "repository"}
    assert repos == {f"acme/{name}" for name in org.repos}
    assert Account.objects.get(login="eve").is_outside
    robot = Account.objects.get(login="acme+pusher")
    assert (robot.type, robot.state, robot.last_active_at.isoformat()) == (
        AccountType.ROBOT,
        AccountState.ACTIVE,
        "2023-10-03T08:00:00+00:00",
    )


@pytest.mark.django_db
def test_default_permissions_show_as_granted_but_never_as_effective_access(sync, connector):
    sync()
    granted = [r for r in export(connector, as_granted=True) if r["via"] == "default_permission"]
    assert ("acme/team/readers", "acme", "write") in {
        (r["account"]["login"], r["resource"]["path"], r["permission"]) for r in granted
    }
    assert not [r for r in export(connector) if r["via"].startswith("default_permission")]


@pytest.mark.django_db
def test_an_immediate_resync_writes_nothing(sync):
    sync()
    before = current()
    second = sync()
    assert second.status == SyncStatus.SUCCEEDED, second.error
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    assert current() == before


@pytest.mark.django_db
def test_a_change_upstream_shows_in_the_next_sync(sync, org):
    first = sync()
    org.repos["fixed"].users.pop("eve")
    org.repos["fixed"].users["acme+pusher"] = "admin"
    second = sync()
    assert (second.counts["removed"], second.counts["added"], second.counts["changed"]) == (1, 0, 1)
    removed = Grant.objects.get(removed_run=second, account__login="eve")
    assert (removed.account.login, removed.via, removed.last_seen_at) == ("eve", "direct", first.applied_at)


@pytest.mark.django_db
def test_quays_rate_limit_is_waited_out_without_real_sleeping(sync, sim, fake_time):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert sim.stats()["by_status"].get("429", 0) > 0
    assert fake_time.sleeps and run.requests_made > 60


FAULTS = [
    pytest.param(
        {"kind": ERROR, "path": "/organization/*/team/*/members", "status": 500, "times": None}, "500", id="5xx"
    ),
    pytest.param({"kind": TRUNCATE, "path": "/organization/*/members", "times": None}, "", id="truncated-body"),
    pytest.param({"kind": DISCONNECT, "path": "/repository", "times": None}, "", id="disconnect"),
    pytest.param(
        {"kind": DELAY, "path": "/repository/acme/fixed/permissions/user/", "seconds": 1.5, "times": None},
        "",
        id="timeout",
    ),
    pytest.param(
        {"kind": ERROR, "path": "/organization/*/prototypes", "status": 403, "times": None}, "403", id="forbidden"
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(sync, sim, org, connector, fault, message):
    failed = fail_with_fault_and_check_nothing_moved(
        sync, sim, connector, fault, change=lambda: org.remove_member("bob"), state=current
    )
    assert message in failed.error


@pytest.mark.django_db
def test_a_second_page_of_repositories_that_fails_records_nothing_as_removed(sync, sim, connector):
    good = sync()
    before = current()
    sim.add_fault(ERROR, "/repository", status=502, on=2, times=None)  # the first page works, the next never
    failed = sync()
    assert failed.status == SyncStatus.FAILED and "502" in failed.error
    assert current() == before and connector.last_applied_run() == good


@pytest.mark.django_db
def test_the_token_and_robot_secrets_never_reach_logs_or_errors(sync, sim, org, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sync()
    sim.add_fault(ERROR, "/organization/*/collaborators", status=500, times=None)
    failed = sync()
    monkeypatch.setenv("QUAY_E2E_TOKEN", TOKEN[:-4] + "ZZZZ")
    sim.clear_faults()
    unauthorized = sync()
    assert "401" in unauthorized.error
    stored = str(list(Account.objects.values_list("attributes", flat=True)))
    for text in (caplog.text, failed.error, unauthorized.error, stored):
        assert TOKEN not in text
        for robot in org.robots.values():
            assert robot.token not in text


@pytest.mark.django_db
def test_a_revocation_through_the_inventory_is_verified_and_the_next_sync_agrees(sync, connector, factory, org):
    sync()
    grant = Grant.objects.current().get(account__login="acme+pusher", resource__path="acme/fixed")
    result = revoke_grant(grant, connector_factory=factory)
    assert result.outcome == Outcome.REVOKED, result.message
    assert "acme+pusher" not in org.repos["fixed"].users
    assert revoke_grant(grant, connector_factory=factory).outcome == Outcome.ALREADY_ABSENT
    after = sync()
    assert after.counts["removed"] == 1
    assert not Grant.objects.current().filter(account__login="acme+pusher", resource__path="acme/fixed").exists()


@pytest.mark.django_db
def test_a_team_membership_revoked_through_the_inventory(sync, connector, factory, org):
    sync()
    grant = Grant.objects.current().get(account__login="bob", resource__path="acme/team/readers")
    assert revoke_grant(grant, connector_factory=factory).outcome == Outcome.REVOKED
    assert "bob" not in org.teams["readers"].members
    again = revoke_grant(grant, connector_factory=factory)
    assert again.outcome == Outcome.ALREADY_ABSENT and "does not belong" in again.message
