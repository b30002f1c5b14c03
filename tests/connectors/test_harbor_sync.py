"""Harbor end to end: the simulator over real HTTP, the connector, the sync engine, the database and the export.

The simulator runs with an injected clock shared with the client's injected sleep, so waits are decided
without real waiting and robot expiry is judged against the same time on both sides.
"""

import logging

import pytest

from connectors.base import Outcome
from connectors.choices import AccountState, AccountType, Level, SyncStatus
from connectors.export import Filters, rows
from connectors.models import Account, Grant, Resource
from connectors.revocation import revoke_grant
from connectors.simulators.harbor import HarborOrg, HarborSimulator
from connectors.simulators.server import DELAY, DISCONNECT, ERROR, SECONDARY_RATE_LIMIT, TRUNCATE
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, fail_with_fault_and_check_nothing_moved, sync_factory
from tests.fakes import FakeTime

PASSWORD = "E2e-harbor-admin-password-1"


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def org():
    # 110 projects: the project list crosses a page of 100.
    org = HarborOrg.generate(seed=4, projects=110, users=40, robots=12, groups=4)
    org.user("admin").password = PASSWORD
    org.add_user("olivia", sysadmin=True)
    org.add_project("shared", public=True)
    org.add_member("shared", group=next(iter(org.groups.values())).name, role="developer")
    org.add_member("shared", user="olivia", role="guest")
    org.add_system_robot("puller", {"*": [("repository", "pull")]}, [("registry", "list")])
    org.add_project_robot("shared", "ci", [("repository", "push")], duration=7)  # long expired at the fake time
    return org


@pytest.fixture
def sim(org, fake_time):
    with HarborSimulator(org, clock=fake_time.clock) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch,
        name="harbor",
        kind="harbor",
        base_url=sim.url,
        token_env="HARBOR_E2E_TOKEN",
        token=PASSWORD,
        username="admin",
    )


@pytest.fixture
def factory(fake_time):
    return sync_factory(fake_time, max_concurrency=4)


@pytest.fixture
def sync(connector, factory):
    def run():
        return run_sync(connector, connector_factory=factory)

    return run


def current():
    return set(Grant.objects.current().values_list("id", flat=True))


def export(connector, *, as_granted=False) -> list[dict]:
    return list(rows([connector], Filters(), as_granted=as_granted))


@pytest.mark.django_db
def test_a_full_sync_records_every_entity_of_the_instance(sync, org):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    facts = org.facts()
    grants = Grant.objects.current().select_related("entitlement", "account", "resource")
    members = {(g.resource.path, g.account.login, g.entitlement.name) for g in grants if "member_id" in g.attributes}
    assert members == facts.user_members | facts.group_members
    projects = Resource.objects.filter(type="project")
    assert set(projects.values_list("path", flat=True)) == set(facts.projects)
    assert {p.parent.path for p in projects.select_related("parent")} == {"/"}
    robots = Account.objects.filter(type=AccountType.ROBOT)
    assert set(robots.values_list("login", flat=True)) == set(facts.robots)
    assert set(Account.objects.filter(type=AccountType.GROUP).values_list("login", flat=True)) == set(facts.groups)
    admins = {g.account.login for g in grants if g.via == "system_admin" and g.account.type == AccountType.HUMAN}
    assert admins == set(facts.sysadmins)
    assert Account.objects.get(login="robot$shared+ci").state == AccountState.EXPIRED
    assert run.requests_made == org.rest_lower_bound()


@pytest.mark.django_db
def test_effective_rows_expand_system_administrators_onto_every_project_as_owner(sync, org, connector):
    sync()
    olivia = [r for r in export(connector) if r["account"]["login"] == "olivia"]
    on = {(r["resource"]["path"], r["via"]): r["level"] for r in olivia}
    assert on[("/", "system_admin")] == "owner"
    assert all(on[(project, "system_admin")] == "owner" for project in org.facts().projects)
    assert on[("shared", "direct")] == "read"  # her own guest membership stays visible beside it


@pytest.mark.django_db
def test_effective_rows_show_groups_anonymous_and_robots_with_their_type_via_and_level(sync, org, connector):
    sync()
    effective = export(connector)
    shared = {
        (r["account"]["login"], r["account"]["type"], r["via"], r["level"])
        for r in effective
        if r["resource"]["path"] == "shared"
    }
    group = next(iter(org.groups.values())).name
    assert (group, "group", "direct", "write") in shared
    assert ("anonymous", "pseudo", "direct", "read") in shared
    assert ("robot$puller", "robot", "direct", "read") in shared
    assert ("robot$shared+ci", "robot", "direct", "write") in shared
    puller = {
        r["resource"]["path"]
        for r in effective
        if r["account"]["login"] == "robot$puller" and r["permission"] == "repository:pull"
    }
    assert puller == set(org.facts().projects)  # every project, not the instance itself
    system = [r for r in effective if r["account"]["login"] == "robot$puller" and r["resource"]["path"] == "/"]
    assert [(r["permission"], r["level"]) for r in system] == [("registry:list", "read")]
    granted = export(connector, as_granted=True)
    assert len([r for r in granted if r["account"]["login"] == "robot$puller"]) == 2


@pytest.mark.django_db
def test_an_unchanged_resync_changes_nothing(sync):
    sync()
    before = current()
    second = sync()
    assert second.status == SyncStatus.SUCCEEDED
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    assert current() == before


@pytest.mark.django_db
def test_a_change_upstream_shows_in_the_next_sync(sync, org):
    first = sync()
    member = org.find_member("shared", user="olivia")
    org.remove_member("shared", member.id)
    org.set_public("shared", False)
    second = sync()
    assert (second.counts["removed"], second.counts["added"]) == (2, 0)
    removed = Grant.objects.filter(removed_run=second).select_related("account")
    assert {(g.account.login, g.via) for g in removed} == {("olivia", "direct"), ("anonymous", "direct")}
    assert {g.last_seen_at for g in removed} == {first.applied_at}


FAULTS = [
    pytest.param({"kind": ERROR, "path": "/projects/*/members", "status": 500, "times": None}, "500", id="5xx"),
    pytest.param({"kind": TRUNCATE, "path": "/projects", "times": None}, "", id="truncated-body"),
    pytest.param({"kind": DISCONNECT, "path": "/users", "times": None}, "", id="disconnect"),
    pytest.param({"kind": DELAY, "path": "/usergroups", "seconds": 2, "times": None}, "timed out", id="timeout"),
    pytest.param(
        {"kind": SECONDARY_RATE_LIMIT, "path": "/robots", "seconds": 120000, "times": None},
        "rate limit",
        id="rate-limited",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(sync, sim, connector, fault, message):
    failed = fail_with_fault_and_check_nothing_moved(
        sync,
        sim,
        connector,
        fault,
        change=lambda: sim.org.remove_member("shared", sim.org.find_member("shared", user="olivia").id),
        state=current,
    )
    assert message in failed.error.lower()


@pytest.mark.django_db
def test_a_token_that_is_not_an_administrators_fails_the_run_and_keeps_the_state(sync, org, connector, monkeypatch):
    good = sync()
    org.add_user("dev", password="Dev-password-123")
    connector.options["username"] = "dev"
    connector.save()
    monkeypatch.setenv("HARBOR_E2E_TOKEN", "Dev-password-123")
    failed = sync()
    assert failed.status == SyncStatus.FAILED
    assert "not a system administrator" in failed.error
    assert Grant.objects.current().count() > 0
    assert connector.last_applied_run() == good


@pytest.mark.django_db
def test_the_password_never_reaches_logs_or_errors(sync, sim, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sync()
    sim.add_fault(ERROR, "/usergroups", status=500, times=None)
    failed = sync()
    monkeypatch.setenv("HARBOR_E2E_TOKEN", PASSWORD[:-1] + "X")
    unauthorized = sync()
    assert "401" in unauthorized.error
    for text in (caplog.text, failed.error, unauthorized.error):
        assert PASSWORD not in text


@pytest.mark.django_db
def test_revoking_recorded_grants_removes_them_upstream_and_the_next_sync_sees_it(sync, org, factory):
    sync()
    membership = Grant.objects.current().get(account__login="olivia", via="direct", resource__path="shared")
    robot = Grant.objects.current().get(
        account__login="robot$puller", resource__path="/", entitlement__applies_to_self=False
    )
    admin = Grant.objects.current().get(account__login="olivia", via="system_admin")
    for grant in (membership, robot, admin):
        result = revoke_grant(grant, connector_factory=factory)
        assert result.outcome == Outcome.REVOKED, result.message
    assert revoke_grant(membership, connector_factory=factory).outcome == Outcome.ALREADY_ABSENT
    assert not org.user("olivia").sysadmin
    assert [p.namespace for p in org.robot("robot$puller").permissions] == ["/"]
    after = sync()
    assert after.counts["removed"] == 3
    assert not Grant.objects.current().filter(pk__in=[membership.pk, robot.pk, admin.pk]).exists()


@pytest.mark.django_db
def test_a_downgrade_through_the_inventory_changes_the_role_upstream(sync, org, factory):
    sync()
    grant = Grant.objects.current().get(
        account__login=org.users[org.project("shared").owner_id].username, resource__path="shared"
    )
    assert grant.entitlement.level == Level.OWNER
    result = revoke_grant(grant, downgrade_to=Level.READ, connector_factory=factory)
    assert result.outcome == Outcome.REVOKED, result.message
    after = sync()
    assert after.counts["changed"] == 1
    now = Grant.objects.current().select_related("entitlement").get(key=grant.key)
    assert (now.entitlement.name, now.entitlement.level) == ("guest", Level.READ)
