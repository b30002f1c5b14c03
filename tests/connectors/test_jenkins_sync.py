"""Jenkins end to end: the simulator over real HTTP, the connector, the sync engine, the database and the export.

One controller per authorization strategy (role-strategy, matrix-auth, folder-auth), because Jenkins runs one
at a time; the export rows are what a reviewer reads, so the via and level of each one are asserted there.
"""

import contextlib
import functools

import pytest

from connectors.actions import do_add_connector
from connectors.choices import AccountType, SyncStatus
from connectors.client import build_connector
from connectors.export import Filters, rows
from connectors.models import Account, Grant, Resource
from connectors.simulators.jenkins import JenkinsOrg, JenkinsSimulator
from connectors.simulators.jenkins_org import Entry
from connectors.simulators.server import DELAY, ERROR, TRUNCATE
from connectors.sync import run_sync
from tests.connectors.helpers import fail_with_fault_and_check_nothing_moved
from tests.fakes import FakeTime

TOKEN = "11e2e0jenkins0api0token0aa77"
SCRIPT = "<script>alert(1)</script>"
RTL = "build\u202egpj.exe"
ZERO_WIDTH = "de\u200bploy\ufeff"
FORMULA = '=HYPERLINK("http://evil","x")'
ITEM_FORMULA = "=SUM(A1+A2)"  # Jenkins refuses ?*/\\%!@#$^&|<>[]:; in item names
LONG = "x" * 10_000
HOSTILE_ITEMS = (RTL, ZERO_WIDTH, ITEM_FORMULA)
READ = ["hudson.model.Hudson.Read", "hudson.model.Item.Read"]
BUILD = ["hudson.model.Item.Read", "hudson.model.Item.Build"]


def role_org() -> JenkinsOrg:
    org = JenkinsOrg("roleBased")
    org.add_user("admin", admin=True, api_token=TOKEN)
    for user in ("alice", "bob", SCRIPT):
        org.add_user(user)
    for name, kind in (
        ("folder", "folder"),
        ("folder/app", "folder"),
        ("folder/app/deploy-prod", "job"),
        ("folder/app/test", "job"),
        ("other", "job"),
    ):
        org.add_item(name, kind)
    for name in HOSTILE_ITEMS:
        org.add_item(f"folder/app/deploy-{name}", "job")
    org.add_agent("linux-1")
    org.add_role("globalRoles", "admin", ["hudson.model.Hudson.Administer"], sids=[("USER", "admin")])
    org.add_role("globalRoles", "readers", READ, sids=[("GROUP", "authenticated"), ("USER", "anonymous")])
    org.add_role(
        "projectRoles",
        "deployers",
        BUILD,
        "folder/app/deploy-.*",
        sids=[("USER", "alice"), ("GROUP", "ops"), ("EITHER", SCRIPT), ("EITHER", RTL)],
    )
    # A 10 kB pattern and a role name a spreadsheet would run as a formula.
    org.add_role("projectRoles", FORMULA, BUILD, f"(?:{LONG})|folder/app/test", sids=[("USER", "bob")])
    org.add_role("slaveRoles", "agent-ops", ["hudson.model.Computer.Connect"], "linux-.*", sids=[("GROUP", "ops")])
    return org


def matrix_org() -> JenkinsOrg:
    org = JenkinsOrg("projectMatrix")
    org.add_user("admin", admin=True, api_token=TOKEN)
    org.global_matrix = [
        Entry("USER", "hudson.model.Hudson.Administer", "admin"),
        Entry("GROUP", "hudson.model.Item.Read", "authenticated"),
        Entry("USER", "hudson.model.Hudson.Read", "anonymous"),
    ]
    for name, kind in (
        ("a", "folder"),
        ("a/b", "folder"),
        ("a/b/job", "job"),
        ("a/locked", "folder"),
        ("a/locked/job", "job"),
        ("global", "folder"),
        ("global/job", "job"),
    ):
        org.add_item(name, kind)
    org.set_matrix("a", [("USER", p, "bob") for p in BUILD])
    org.set_matrix("a/b/job", [("EITHER", "hudson.model.Item.Read", "carol")])
    org.set_matrix("a/locked", [("GROUP", "hudson.model.Item.Configure", "devs")], inheritance="none")
    org.set_matrix("global", [("USER", "hudson.model.Item.Build", "eve")], inheritance="global")
    return org


def folder_org() -> JenkinsOrg:
    org = JenkinsOrg("folderBased")
    org.add_user("admin", admin=True, api_token=TOKEN)
    for name, kind in (("team", "folder"), ("team/job", "job"), ("other", "folder"), ("other/job", "job")):
        org.add_item(name, kind)
    org.add_agent("linux-1")
    org.add_folder_role("global", "admin", ["Overall/Administer"], sids=["admin"])
    org.add_folder_role("global", "read", ["Overall/Read", "Job/Read"], sids=["authenticated"])
    org.add_folder_role("folder", "builders", ["Job/Read", "Job/Build"], ["team"], sids=["alice"])
    org.add_folder_role("agent", "connectors", ["Agent/Connect"], ["linux-1"], sids=["ops"])
    return org


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def controllers(fake_time):
    with contextlib.ExitStack() as stack:

        def start(org: JenkinsOrg) -> JenkinsSimulator:
            return stack.enter_context(JenkinsSimulator(org, clock=fake_time.clock))

        yield start


@pytest.fixture
def factory(fake_time):
    return functools.partial(build_connector, sleep=fake_time.sleep, clock=fake_time.clock, timeout=1, max_retries=2)


@pytest.fixture
def setup(controllers, factory, monkeypatch, db):
    """start(org) -> (simulator, connector, sync): one Jenkins connector in the database per controller."""
    monkeypatch.setenv("JENKINS_E2E_TOKEN", TOKEN)

    def start(org: JenkinsOrg):
        sim = controllers(org)
        connector = do_add_connector(
            name=f"jenkins-{org.strategy}",
            kind="jenkins",
            base_url=sim.url,
            options={"username": "admin", "allow_private_network": "true"},
            secrets={"token": "env:JENKINS_E2E_TOKEN"},
        )
        return sim, connector, lambda: run_sync(connector, connector_factory=factory)

    return start


def synced(setup, org):
    sim, connector, sync = setup(org)
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    return sim, connector, sync


def export(connector, *, as_granted=False) -> list[dict]:
    return list(rows([connector], Filters(), as_granted=as_granted))


def on(effective, login) -> dict[tuple[str, str], str]:
    """(resource path, via) -> level for one account."""
    return {(r["resource"]["path"], r["via"]): r["level"] for r in effective if r["account"]["login"] == login}


def current():
    return set(Grant.objects.current().values_list("id", flat=True))


# --- role-strategy


@pytest.mark.django_db
def test_a_project_role_gives_its_level_on_the_items_its_pattern_matches(setup):
    _, connector, _ = synced(setup, role_org())
    alice = [r for r in export(connector) if r["account"]["login"] == "alice"]
    prod = [r for r in alice if r["resource"]["path"] == "folder/app/deploy-prod"]
    assert [(r["permission"], r["via"], r["level"], r["resource"]["type"]) for r in prod] == [
        ("deployers", "role:deployers", "write", "job")
    ]
    assert {r["resource"]["path"] for r in alice} == {f"folder/app/deploy-{n}" for n in ("prod", *HOSTILE_ITEMS)}
    # The role is recorded once, with what it reaches; the grant sits on it, not on each job.
    role = Resource.objects.get(path="role/project/deployers")
    assert len(role.attributes["reach"]) == 4
    assert Grant.objects.current().filter(account__login="alice", via="role:deployers").count() == 1


@pytest.mark.django_db
def test_global_roles_cascade_onto_items_at_the_level_of_their_item_permissions(setup):
    _, connector, _ = synced(setup, role_org())
    effective = export(connector)
    admin = on(effective, "admin")
    assert admin[("/", "role:admin")] == "owner"
    assert admin[("folder/app/deploy-prod", "role:admin")] == "admin"
    assert admin[("agent/linux-1", "role:admin")] == "admin"
    readers = on(effective, "authenticated")
    assert readers[("/", "role:readers")] == "read"
    assert readers[("folder", "role:readers")] == readers[("other", "role:readers")] == "read"
    assert ("agent/linux-1", "role:readers") not in readers  # no Agent permission in the role


@pytest.mark.django_db
def test_pseudo_principals_and_group_sids_keep_their_type(setup):
    _, connector, _ = synced(setup, role_org())
    effective = export(connector)
    types = {(r["account"]["login"], r["account"]["type"]) for r in effective}
    assert {("anonymous", "pseudo"), ("authenticated", "pseudo"), ("ops", "group")} <= types
    assert (SCRIPT, "user_or_group") in types
    for login in ("anonymous", "authenticated"):
        account = Account.objects.get(login=login)
        assert account.type == AccountType.PSEUDO and account.attributes["risk"] == ["pseudo_principal"]
        grant = Grant.objects.current().get(account=account)
        assert grant.attributes["risk"] == ["pseudo_principal"]
    ops = on(effective, "ops")
    assert ops[("folder/app/deploy-prod", "role:deployers")] == "write"
    assert ops[("agent/linux-1", "role:agent-ops")] == "admin"


@pytest.mark.django_db
def test_hostile_names_are_stored_and_exported_verbatim(setup):
    _, connector, _ = synced(setup, role_org())
    paths = set(Resource.objects.values_list("path", flat=True))
    assert {f"folder/app/deploy-{n}" for n in HOSTILE_ITEMS} <= paths
    assert f"role/project/{FORMULA}" in paths
    assert {SCRIPT, RTL} <= set(Account.objects.values_list("login", flat=True))
    role = Resource.objects.get(path=f"role/project/{FORMULA}")
    assert role.attributes["pattern"] == f"(?:{LONG})|folder/app/test"
    assert role.attributes["reach"] == ["item:folder/app/test"]
    bob = on(export(connector), "bob")
    assert bob == {("folder/app/test", f"role:{FORMULA}"): "write"}


@pytest.mark.django_db
def test_an_unchanged_resync_adds_and_removes_nothing(setup):
    _, _, sync = synced(setup, role_org())
    before = current()
    second = sync()
    assert second.status == SyncStatus.SUCCEEDED, second.error
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    assert current() == before


@pytest.mark.django_db
def test_an_unassignment_upstream_shows_in_the_next_sync(setup):
    sim, connector, sync = synced(setup, role_org())
    sim.org.unassign("projectRoles", "deployers", "USER", "alice")
    second = sync()
    assert (second.counts["removed"], second.counts["added"]) == (1, 0)
    assert not [r for r in export(connector) if r["account"]["login"] == "alice"]


FAULTS = [
    pytest.param(
        {"kind": ERROR, "path": "/role-strategy/strategy/getRole", "status": 500, "times": None}, "500", id="5xx"
    ),
    pytest.param({"kind": TRUNCATE, "path": "/api/json", "times": None}, "", id="truncated-body"),
    pytest.param(
        {"kind": DELAY, "path": "/asynchPeople/api/json", "seconds": 1.5, "times": None}, "timed out", id="timeout"
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(setup, fault, message):
    sim, connector, sync = synced(setup, role_org())
    failed = fail_with_fault_and_check_nothing_moved(
        sync,
        sim,
        connector,
        fault,
        change=lambda: sim.org.unassign("projectRoles", "deployers", "USER", "alice"),
        state=current,
        good=connector.last_applied_run(),
    )
    assert message in failed.error.lower()


# --- matrix-auth


@pytest.mark.django_db
def test_matrix_entries_reach_the_items_below_theirs(setup):
    _, connector, _ = synced(setup, matrix_org())
    effective = export(connector)
    assert on(effective, "bob") == {
        ("a", "matrix:a"): "write",
        ("a/b", "matrix:a"): "write",
        ("a/b/job", "matrix:a"): "write",
    }
    assert on(effective, "carol") == {("a/b/job", "matrix:a/b/job"): "read"}
    authenticated = on(effective, "authenticated")
    assert authenticated[("/", "matrix:/")] == "read"
    assert authenticated[("a/b/job", "matrix:/")] == "read"
    assert on(effective, "admin")[("a/b/job", "matrix:/")] == "admin"


@pytest.mark.django_db
def test_a_non_inheriting_item_is_not_reached_from_above(setup):
    _, connector, _ = synced(setup, matrix_org())
    effective = export(connector)
    locked = {
        (r["account"]["login"], r["via"], r["level"]) for r in effective if r["resource"]["path"] == "a/locked/job"
    }
    # Neither bob's entry on a nor the global read of authenticated; the global administrator stays.
    assert locked == {("devs", "matrix:a/locked", "admin"), ("admin", "matrix:/", "admin")}
    assert Resource.objects.get(path="a/locked").attributes["inherits"] is False
    # Inherit-global: entries of the parent folders stop, global entries still apply.
    inside = {(r["account"]["login"], r["via"]) for r in effective if r["resource"]["path"] == "global/job"}
    assert inside == {("eve", "matrix:global"), ("authenticated", "matrix:/"), ("admin", "matrix:/")}


@pytest.mark.django_db
def test_a_config_xml_fault_keeps_the_previous_matrix_state(setup):
    sim, connector, sync = synced(setup, matrix_org())
    before = current()
    sim.org.set_matrix("a", [])
    sim.add_fault(ERROR, "/job/*/config.xml", status=503, times=None)
    failed = sync()
    assert failed.status == SyncStatus.FAILED and "503" in failed.error
    assert current() == before


# --- folder-auth


@pytest.mark.django_db
def test_folder_roles_reach_their_folders_and_everything_inside(setup):
    _, connector, _ = synced(setup, folder_org())
    effective = export(connector)
    assert on(effective, "alice") == {
        ("team", "folder_role:builders"): "write",
        ("team/job", "folder_role:builders"): "write",
    }
    assert on(effective, "ops") == {("agent/linux-1", "folder_role:connectors"): "admin"}
    readers = on(effective, "authenticated")
    assert readers[("/", "folder_role:read")] == readers[("other/job", "folder_role:read")] == "read"
    assert on(effective, "admin")[("other/job", "folder_role:admin")] == "admin"
