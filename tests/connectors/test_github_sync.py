"""GitHub end to end: the simulator over real HTTP, the connector, the sync engine and the database.

The simulator runs with an injected clock shared with the client's injected
sleep, so rate-limit waits are real decisions without real waiting.
"""

import logging

import pytest

from connectors.choices import AccountState, AccountType, Level, SyncStatus
from connectors.models import Account, Grant, Resource
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.simulators.server import DELAY, DISCONNECT, ERROR, SECONDARY_RATE_LIMIT, TRUNCATE
from connectors.sync import run_sync
from tests.cli import manage
from tests.connectors.helpers import add_simulated_connector, fail_with_fault_and_check_nothing_moved, sync_factory
from tests.fakes import FakeTime

TOKEN = "ghp_" + "e2eOwnerToken0123456789abcdefghijklmn"


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def org():
    # 120 members: every member list crosses a page of 100.
    return GitHubOrg.generate(
        "acme", seed=3, members=120, outside_collaborators=4, teams=8, repos=12, default_repository_permission="read"
    )


@pytest.fixture
def sim(org, fake_time):
    owner = org.owner_login
    tokens = {TOKEN: Token(owner), "ghp_" + "noOrgScope000000000000000000000000000": Token(owner, scopes=("repo",))}
    with GitHubSimulator(org, tokens=tokens, clock=fake_time.clock) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch, name="gh", kind="github", base_url=sim.url, token_env="GH_E2E_TOKEN", token=TOKEN, org="acme"
    )


@pytest.fixture
def sync(connector, fake_time):
    factory = sync_factory(fake_time, max_concurrency=4)

    def run():
        return run_sync(connector, connector_factory=factory)

    return run


def current():
    return set(Grant.objects.current().values_list("id", flat=True))


@pytest.mark.django_db
def test_a_full_sync_records_every_entity_of_the_org(sync, org):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    facts = org.facts()
    grants = Grant.objects.current().select_related("entitlement", "account", "resource", "group")
    members = {
        g.account.login: g.entitlement.name
        for g in grants
        if g.via in ("membership", "org_owner") and g.resource.type == "organization"
    }
    assert len(members) == 120
    assert members[org.owner_login] == "admin"
    outside = set(Account.objects.filter(is_outside=True).values_list("login", flat=True))
    assert outside == set(facts.outside_collaborators)
    pending = set(Account.objects.filter(state=AccountState.PENDING).values_list("login", flat=True))
    assert {login for login, _ in facts.invitations} <= pending
    direct = {
        (g.account.login, g.resource.path.split("/")[1], g.entitlement.name)
        for g in grants
        if g.via == "direct" and g.account.type in (AccountType.HUMAN, AccountType.BOT)
    }
    assert direct == set(facts.direct_grants)
    team_repo = {
        (g.group.path.split("/")[-1], g.resource.path.split("/")[1], g.entitlement.name)
        for g in grants
        if g.via.startswith("team:")
    }
    assert team_repo == set(facts.team_repos)
    keys = {g.account.login: g.entitlement.level for g in grants if g.account and g.account.type == "deploy_key"}
    assert len(keys) == len(facts.deploy_keys)
    assert {Level.READ, Level.WRITE} >= set(keys.values())
    apps = Account.objects.filter(type=AccountType.APP_INSTALLATION)
    assert {a.login for a in apps} == {f"app:{slug}" for slug in facts.installations}
    base = grants.get(via="org_base_permission")
    assert (base.group.type, base.entitlement.name, base.entitlement.cascade_to) == (
        "organization",
        "read",
        "repository",
    )
    teams = Resource.objects.filter(type="team")
    assert teams.count() == 8
    assert all(t.parent is not None for t in teams)


@pytest.mark.django_db
def test_an_immediate_resync_is_answered_by_304s_and_writes_nothing(sync):
    first = sync()
    before = current()
    second = sync()
    assert second.status == SyncStatus.SUCCEEDED
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    assert current() == before
    assert second.requests_not_modified > 0
    assert second.requests_made - second.requests_not_modified <= 0.05 * first.requests_made


@pytest.mark.django_db
def test_a_change_upstream_shows_in_the_next_sync_and_its_diff(sync, org, sim):
    first = sync()
    victim = sorted(org.facts().direct_grants)[0]
    org.remove_collaborator(victim[1], victim[0])
    second = sync()
    assert second.counts["removed"] == 1 and second.counts["added"] == 0
    removed = Grant.objects.get(removed_run=second)
    assert (removed.account.login, removed.via, removed.last_seen_at) == (victim[0], "direct", first.applied_at)


@pytest.mark.django_db
def test_primary_rate_limit_waits_until_the_reset_without_real_sleeping(org, fake_time, connector, sync):
    with GitHubSimulator(org, tokens={TOKEN: Token(org.owner_login, rate_limit=40)}, clock=fake_time.clock) as limited:
        connector.base_url = limited.url
        connector.save()
        run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    # Several hours of budget waits were decided, and none was slept for real.
    assert sum(fake_time.sleeps) >= 3600
    assert run.requests_made > 40


@pytest.mark.django_db
def test_a_transient_fault_is_retried_and_the_sync_completes(sync, sim):
    sim.add_fault(ERROR, "/repos/*/collaborators", status=502, on=2, times=1)
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error


FAULTS = [
    pytest.param({"kind": ERROR, "path": "/repos/*/keys", "status": 500, "times": None}, "500", id="5xx"),
    pytest.param({"kind": TRUNCATE, "path": "/orgs/*/members", "times": None}, "", id="truncated-body"),
    pytest.param({"kind": DISCONNECT, "path": "/orgs/*/members", "times": None}, "", id="disconnect"),
    pytest.param({"kind": DELAY, "path": "/repos/*/collaborators", "seconds": 2, "times": None}, "", id="timeout"),
    pytest.param(
        {"kind": SECONDARY_RATE_LIMIT, "path": "/orgs/*/repos", "seconds": 120000, "times": None},
        "rate limit",
        id="secondary-rate-limit",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(sync, sim, connector, fault, message):
    failed = fail_with_fault_and_check_nothing_moved(
        sync, sim, connector, fault, change=lambda: sim.org.remove_member(sorted(sim.org.members)[5]), state=current
    )
    assert message in failed.error.lower()


@pytest.mark.django_db
def test_a_token_without_the_org_scope_is_a_permission_problem_not_an_empty_org(sync, connector, monkeypatch):
    good = sync()
    monkeypatch.setenv("GH_E2E_TOKEN", "ghp_" + "noOrgScope000000000000000000000000000")
    failed = sync()
    assert failed.status == SyncStatus.FAILED
    assert "scope" in failed.error.lower() or "permission" in failed.error.lower()
    assert Grant.objects.current().count() > 0
    assert connector.last_applied_run() == good


@pytest.mark.django_db
def test_the_token_never_reaches_logs_errors_or_output(sync, sim, connector, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sync()
    sim.add_fault(ERROR, "/orgs/*/teams", status=500, times=None)
    failed = sync()
    monkeypatch.setenv("GH_E2E_TOKEN", TOKEN[:-4] + "ZZZZ")
    unauthorized = sync()
    assert "401" in unauthorized.error
    for text in (caplog.text, failed.error, unauthorized.error):
        assert TOKEN not in text and TOKEN[4:] not in text


@pytest.mark.django_db(transaction=True)
@pytest.mark.subprocess
def test_a_sync_that_would_remove_too_much_is_held_exit_3_until_confirmed(sim, org, connector, security_user):
    env = {"GH_E2E_TOKEN": TOKEN}
    assert manage("sync", "gh", env=env).returncode == 0
    for login in sorted(org.members)[: len(org.members) // 2]:
        if login != org.owner_login:
            org.remove_member(login)
    held = manage("sync", "gh", env=env)
    assert held.returncode == 3, held.stderr
    assert "held" in held.stderr
    run_id = connector.runs.get(status=SyncStatus.HELD).pk
    before = Grant.objects.current().count()
    assert manage("connector", "list").returncode == 0
    assert TOKEN not in held.stdout + held.stderr
    confirmed = manage("syncrun", "confirm", str(run_id), "--user", security_user.email)
    assert confirmed.returncode == 0, confirmed.stderr
    assert Grant.objects.current().count() < before


@pytest.mark.django_db(transaction=True)
@pytest.mark.subprocess
def test_connector_test_reports_what_the_token_sees_and_fails_cleanly_on_a_bad_token(sim, connector):
    ok = manage("connector", "test", "gh", env={"GH_E2E_TOKEN": TOKEN})
    assert ok.returncode == 0, ok.stderr
    assert "acme" in ok.stdout and "owner" in ok.stdout
    bad_token = TOKEN[:-4] + "ZZZZ"
    bad = manage("connector", "test", "gh", env={"GH_E2E_TOKEN": bad_token})
    assert bad.returncode == 1
    assert "401" in bad.stderr
    assert bad_token not in bad.stdout + bad.stderr
