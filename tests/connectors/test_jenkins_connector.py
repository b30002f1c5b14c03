"""Jenkins connector against the Jenkins simulator over real HTTP on loopback (no database)."""

import pytest

from connectors.base import (
    AccountRecord,
    ConnectorConfig,
    GrantRecord,
    GrantTarget,
    Outcome,
    PermissionProblem,
    Principal,
    ResourceRecord,
    Target,
    Unsupported,
)
from connectors.choices import AccountType, Level
from connectors.http import HttpClient
from connectors.providers.jenkins import JenkinsConnector
from connectors.simulators.jenkins import JenkinsOrg, JenkinsSimulator

TOKEN = "11aa22bb33cc44dd55ee66ff77"
PASSWORD = "jenkins-password-1"
HOSTILE = "déploy \"prod\" 'x' <&> (v2)"


def role_org() -> JenkinsOrg:
    org = JenkinsOrg("roleBased")
    org.add_user("admin", admin=True, api_token=TOKEN, password=PASSWORD)
    org.add_user("alice")
    for name, kind in (("app", "folder"), ("app/deploy-prod", "job"), ("app/test", "job"), ("other", "job")):
        org.add_item(name, kind)
    org.add_item(f"app/{HOSTILE}", "job")
    org.add_agent("linux-1")
    org.add_role("globalRoles", "admin", ["hudson.model.Hudson.Administer"], sids=[("USER", "admin")])
    org.add_role(
        "globalRoles",
        "read",
        ["hudson.model.Hudson.Read", "hudson.model.Item.Read"],
        sids=[("GROUP", "authenticated"), ("USER", "anonymous")],
    )
    org.add_role(
        "projectRoles",
        "deployers",
        ["hudson.model.Item.Read", "hudson.model.Item.Build"],
        "app/deploy-.*",
        sids=[("USER", "alice"), ("GROUP", "ops"), ("EITHER", HOSTILE)],
    )
    org.add_role("slaveRoles", "agent-ops", ["hudson.model.Computer.Connect"], "linux-.*", sids=[("USER", "alice")])
    return org


def matrix_org() -> JenkinsOrg:
    org = JenkinsOrg("projectMatrix")
    org.add_user("admin", admin=True, api_token=TOKEN)
    org.global_matrix = [
        ("USER", "hudson.model.Hudson.Administer", "admin"),
        ("GROUP", "hudson.model.Item.Read", "authenticated"),
    ]
    from connectors.simulators.jenkins_org import Entry

    org.global_matrix = [Entry(*e) for e in org.global_matrix]
    for name, kind in (
        ("a", "folder"),
        ("a/b", "folder"),
        ("a/b/job", "job"),
        ("sealed", "folder"),
        ("sealed/j", "job"),
    ):
        org.add_item(name, kind)
    org.set_matrix("a", [("USER", "hudson.model.Item.Build", "bob"), ("USER", "hudson.model.Item.Read", "bob")])
    org.set_matrix("sealed", [("GROUP", "hudson.model.Item.Configure", "devs")], inheritance="none")
    org.set_matrix("a/b/job", [("EITHER", "hudson.model.Item.Read", "carol")])
    return org


def connect(sim, *, secret=TOKEN, auth=None) -> JenkinsConnector:
    options = {"username": "admin"} | ({"auth": auth} if auth else {})
    connector = JenkinsConnector(ConnectorConfig("j", sim.url, options, lambda key: secret, True), None)
    connector.http = HttpClient(sim.url, headers=connector.auth_headers(), allow_private_network=True, max_retries=0)
    return connector


def records(connector):
    found = list(connector.fetch())
    return (
        {r.external_id: r for r in found if isinstance(r, AccountRecord)},
        {r.external_id: r for r in found if isinstance(r, ResourceRecord)},
        [r for r in found if isinstance(r, GrantRecord)],
    )


@pytest.fixture
def role_sim():
    with JenkinsSimulator(role_org()) as sim:
        yield sim


@pytest.fixture
def matrix_sim():
    with JenkinsSimulator(matrix_org()) as sim:
        yield sim


def test_it_reads_items_agents_and_users_with_paths(role_sim):
    accounts, resources, _ = records(connect(role_sim))
    paths = {r.path: r.type for r in resources.values()}
    assert paths["/"] == "instance"
    assert paths["app"] == "folder" and paths["app/deploy-prod"] == "job" and paths[f"app/{HOSTILE}"] == "job"
    assert paths["agent/linux-1"] == "agent"
    assert resources["item:app/deploy-prod"].parent_external_id == "item:app"
    assert accounts["user:alice"].type == AccountType.HUMAN


def test_it_records_a_project_role_once_with_the_items_its_pattern_reaches(role_sim):
    accounts, resources, grants = records(connect(role_sim))
    role = resources["role:project:deployers"]
    assert role.path == "role/project/deployers" and role.attributes["reach"] == ["item:app/deploy-prod"]
    alice = [g for g in grants if g.account_external_id == "user:alice" and g.via == "role:deployers"]
    assert len(alice) == 1 and alice[0].level == Level.WRITE and not alice[0].applies_to_self
    assert alice[0].cascade_level == Level.WRITE
    assert accounts["group:ops"].type == AccountType.GROUP
    assert accounts[f"either:{HOSTILE}"].type == AccountType.USER_OR_GROUP
    assert accounts[f"either:{HOSTILE}"].login == HOSTILE


def test_global_roles_sit_on_the_instance_and_cascade_at_their_item_level(role_sim):
    _, _, grants = records(connect(role_sim))
    admin = [g for g in grants if g.via == "role:admin" and g.applies_to_self]
    assert admin[0].resource_external_id == "instance" and admin[0].level == Level.OWNER
    assert admin[0].cascade_level == Level.ADMIN
    pseudo = [g for g in grants if g.account_external_id.startswith("pseudo:")]
    assert {g.account_external_id for g in pseudo} == {"pseudo:anonymous", "pseudo:authenticated"}
    assert all(g.attributes["risk"] == ["pseudo_principal"] for g in pseudo)


def test_agent_roles_reach_matching_agents(role_sim):
    _, resources, _ = records(connect(role_sim))
    assert resources["role:agent:agent-ops"].attributes["reach"] == ["agent:linux-1"]


def test_matrix_entries_record_inheritance_and_sealed_items(matrix_sim):
    accounts, resources, grants = records(connect(matrix_sim))
    assert resources["item:sealed"].attributes["inherits"] is False
    assert "inherits" not in resources["item:a"].attributes
    bob = [g for g in grants if g.account_external_id == "user:bob"]
    assert [(g.resource_external_id, g.via, g.level) for g in bob] == [("item:a", "matrix:a", Level.WRITE)]
    carol = [g for g in grants if g.account_external_id == "either:carol"]
    assert carol[0].via == "matrix:a/b/job"
    # Overall/Administer survives a non-inheriting item: re-granted on it.
    assert any(g.resource_external_id == "item:sealed" and g.via == "matrix:/" for g in grants)


def test_a_bad_token_is_a_permission_problem(role_sim):
    with pytest.raises(PermissionProblem):
        list(connect(role_sim, secret="wrong").fetch())


def test_it_reads_with_the_lower_bound_of_requests(role_sim):
    list(connect(role_sim).fetch())
    assert role_sim.stats()["total"] == role_sim.org.rest_lower_bound()


def role_grant(sid_type="USER", sid="alice", role="deployers", role_type="projectRoles") -> GrantTarget:
    return GrantTarget(
        kind="permission",
        permission=role,
        level=Level.WRITE,
        via=f"role:{role}",
        resource=Target(f"role:project:{role}", "role", f"role/project/{role}"),
        account=Principal(f"user:{sid}", sid, AccountType.HUMAN),
        attributes={"role_type": role_type, "role_name": role, "sid_type": sid_type, "sid": sid},
    )


def test_it_unassigns_a_role_and_then_reports_already_absent(role_sim):
    connector = connect(role_sim)
    assert connector.revoke(role_grant()).outcome == Outcome.REVOKED
    assert ("USER", "alice") not in role_sim.org.roles["projectRoles"]["deployers"].sids
    assert connector.revoke(role_grant()).outcome == Outcome.ALREADY_ABSENT


def test_a_200_that_changed_nothing_is_a_failure(role_sim):
    role_sim.ignore_unassign = True
    result = connect(role_sim).revoke(role_grant(sid_type="GROUP", sid="ops"))
    assert result.outcome == Outcome.FAILED and "still assigned" in result.message


def test_with_a_password_it_sends_a_crumb_from_the_same_session(role_sim):
    result = connect(role_sim, secret=PASSWORD, auth="password").revoke(role_grant(sid_type="EITHER", sid=HOSTILE))
    assert result.outcome == Outcome.REVOKED, result.message


def matrix_grant(item="a", sid="bob", sid_type="USER") -> GrantTarget:
    return GrantTarget(
        kind="permission",
        permission="Job/Build, Job/Read",
        level=Level.WRITE,
        via=f"matrix:{item}",
        resource=Target(f"item:{item}", "folder", item),
        account=Principal(f"user:{sid}", sid, AccountType.HUMAN),
        attributes={"item": item, "sid_type": sid_type, "sid": sid},
    )


def test_it_removes_only_that_matrix_entry_from_config_xml(matrix_sim):
    connector = connect(matrix_sim)
    assert connector.revoke(matrix_grant(), downgrade_to=Level.READ).outcome == Outcome.REVOKED
    assert [e.permission for e in matrix_sim.org.items["a"].matrix] == ["hudson.model.Item.Read"]
    assert connector.revoke(matrix_grant()).outcome == Outcome.REVOKED
    assert matrix_sim.org.items["a"].matrix == [] and matrix_sim.org.items["a"].inheritance == "parent"
    assert connector.revoke(matrix_grant()).outcome == Outcome.ALREADY_ABSENT


def test_it_refuses_to_write_a_config_xml_that_changed_meanwhile(matrix_sim):
    def change(item):
        matrix_sim.org.items[item].description += "x"

    matrix_sim.on_config_read = change
    result = connect(matrix_sim).revoke(matrix_grant())
    assert result.outcome == Outcome.FAILED and "changed" in result.message
    assert len(matrix_sim.org.items["a"].matrix) == 2


def test_global_matrix_entries_are_unsupported(matrix_sim):
    grant = matrix_grant()
    grant = GrantTarget(**{**grant.__dict__, "via": "matrix:/"})
    with pytest.raises(Unsupported):
        connect(matrix_sim).revoke(grant)


def test_folders_nested_deeper_than_the_tree_query_are_read_from_their_own_api(role_sim):
    org = role_sim.org
    path = "deep"
    org.add_item(path, "folder")
    for n in range(1, 10):  # nine folders deep: past two tree queries
        path = f"{path}/f{n}"
        org.add_item(path, "folder")
    org.add_item(f"{path}/job", "job")
    _, resources, _ = records(connect(role_sim))
    types = {r.path: r.type for r in resources.values()}
    assert types[path] == "folder" and types["deep/f1/f2/f3/f4"] == "folder"
    assert types[f"{path}/job"] == "job"
    assert role_sim.stats()["total"] == org.rest_lower_bound()


def folder_org() -> JenkinsOrg:
    org = JenkinsOrg("folderBased")
    org.add_user("admin", admin=True, api_token=TOKEN)
    for name, kind in (("team", "folder"), ("team/sub", "folder"), ("team/sub/job", "job"), ("teamless", "job")):
        org.add_item(name, kind)
    org.add_agent("linux-1")
    org.add_folder_role("global", "admin", ["Overall/Administer"], sids=["admin"])
    org.add_folder_role("global", "read", ["Overall/Read"], sids=["anonymous"])
    org.add_folder_role("folder", "builders", ["Job/Read", "Job/Build"], ["team"], sids=["alice", "ops"])
    org.add_folder_role("agent", "connectors", ["Agent/Connect"], ["linux-1", "gone"], sids=["ops"])
    return org


def test_folder_based_roles_reach_their_folders_subtrees_and_agents():
    with JenkinsSimulator(folder_org()) as sim:
        accounts, resources, grants = records(connect(sim))
    builders = resources["role:folder-auth-folder:builders"]
    assert builders.path == "role/folder/builders"
    # "team" and what is inside it, not "teamless" whose name only starts the same.
    assert sorted(builders.attributes["reach"]) == ["item:team", "item:team/sub", "item:team/sub/job"]
    assert resources["role:folder-auth-agent:connectors"].attributes["reach"] == ["agent:linux-1"]
    alice = [g for g in grants if g.account_external_id == "either:alice"]
    assert [(g.via, g.level, g.applies_to_self, g.cascade_level) for g in alice] == [
        ("folder_role:builders", Level.WRITE, False, Level.WRITE)
    ]
    admin = [g for g in grants if g.via == "folder_role:admin" and g.applies_to_self]
    assert (admin[0].resource_external_id, admin[0].level, admin[0].cascade_level) == (
        "instance",
        Level.OWNER,
        Level.ADMIN,
    )
    anonymous = [g for g in grants if g.account_external_id == "pseudo:anonymous"]
    assert [(g.via, g.level, g.cascade_to) for g in anonymous] == [("folder_role:read", Level.READ, ())]
    assert accounts["pseudo:anonymous"].attributes["risk"] == ["pseudo_principal"]


def test_folder_based_roles_are_reported_as_not_revocable():
    grant = GrantTarget(
        kind="permission",
        permission="builders",
        level=Level.WRITE,
        via="folder_role:builders",
        resource=Target("role:folder-auth-folder:builders", "role", "role/folder/builders"),
        account=Principal("either:alice", "alice", AccountType.USER_OR_GROUP),
        attributes={"sid_type": "EITHER", "sid": "alice"},
    )
    with JenkinsSimulator(folder_org()) as sim:
        connector = connect(sim)
        assert "JCasC" in connector.cannot_revoke(grant)
        with pytest.raises(Unsupported):
            connector.revoke(grant)
        assert sim.org.folder_roles["folder"]["builders"].sids == ["alice", "ops"]


def test_a_config_xml_with_entity_declarations_is_refused_not_expanded():
    """ASVS V1.5.1: XML parsers refuse entity declarations (billion laughs, external entities)."""
    from connectors.base import ConnectorError
    from connectors.providers.jenkins import parse_matrix

    laughs = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<project><description>&b;</description></project>"
    )
    external = '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><project>&x;</project>'
    for text in (laughs, external):
        with pytest.raises(ConnectorError, match="does not parse"):
            parse_matrix(text)
