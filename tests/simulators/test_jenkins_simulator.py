"""The Jenkins simulator behaves like a Jenkins controller where connectors can go wrong.

These tests talk to the simulator with ``requests`` directly: they test the simulator itself, not a connector.
"""

from __future__ import annotations

import argparse
import time

import pytest
import requests
import yaml

from connectors.simulators.jenkins import JenkinsOrg, JenkinsSimulator, add_arguments, build, parse_tree
from connectors.simulators.server import ERROR, TRUNCATE

TOKEN = "11aa22bb33cc44dd55ee66ff77"
PASSWORD = "jenkins-password-1"
ADMIN = ("admin", TOKEN)
ROLE_API = "/role-strategy/strategy"


def small_org(strategy: str = "roleBased") -> JenkinsOrg:
    org = JenkinsOrg(strategy)
    org.add_user("admin", admin=True, api_token=TOKEN, password=PASSWORD)
    org.add_user("dev", api_token="dev-token-123")
    for name, kind in (("app", "folder"), ("app/sub", "folder"), ("app/sub/deploy", "job"), ("app/test", "job")):
        org.add_item(name, kind)
    org.add_item("top", "job")
    org.add_agent("linux-1")
    org.add_role("globalRoles", "admin", ["hudson.model.Hudson.Administer"], sids=[("USER", "admin")])
    org.add_role("projectRoles", "deployers", ["hudson.model.Item.Build"], "app/.*", sids=[("GROUP", "ops")])
    org.add_role("slaveRoles", "agents", ["hudson.model.Computer.Connect"], "linux-.*", sids=[("EITHER", "bob")])
    return org


@pytest.fixture
def sim():
    with JenkinsSimulator(small_org()) as simulator:
        yield simulator


def get(sim, path, auth=ADMIN, **params) -> requests.Response:
    return requests.get(sim.url + path, params=params, auth=auth, timeout=5)


def post(sim, path, auth=ADMIN, **kwargs) -> requests.Response:
    return requests.post(sim.url + path, auth=auth, timeout=5, **kwargs)


# --- generation


def test_it_generates_the_same_controller_for_the_same_seed():
    one, two = (JenkinsOrg.generate(7, folders=20, jobs=80) for _ in range(2))
    assert one.facts() == two.facts()
    assert one.facts() != JenkinsOrg.generate(8, folders=20, jobs=80).facts()


def test_a_few_thousand_jobs_generate_quickly():
    started = time.perf_counter()
    org = JenkinsOrg.generate(1, folders=400, jobs=5000, users=2000, agents=20)
    elapsed = time.perf_counter() - started
    assert elapsed < 2, elapsed
    assert (len(org.jobs()), len(org.folders()), len(org.users)) == (5000, 400, 2001)
    assert max(f.count("/") for f in org.folders()) == 2  # depth=3 by default
    assert org.rest_lower_bound() == 4 + 3 + sum(len(r) for r in org.roles.values()) + 20 + sum(
        1 for f in org.folders() if "/" not in f
    )


@pytest.mark.parametrize("strategy", ["roleBased", "projectMatrix", "folderBased"])
def test_each_generated_strategy_grants_something(strategy):
    org = JenkinsOrg.generate(3, strategy=strategy, folders=10, jobs=40)
    facts = org.facts()
    granted = {
        "roleBased": facts["assignments"],
        "projectMatrix": facts["matrix"] or org.global_matrix,
        "folderBased": [r for scope in org.folder_roles.values() for r in scope.values() if r.sids],
    }[strategy]
    assert granted


def test_the_lower_bound_counts_one_read_per_folder_at_every_fourth_level():
    org = small_org()
    path = "a"
    org.add_item(path, "folder")
    for n in range(8):
        path += f"/f{n}"
        org.add_item(path, "folder")
    # a/f0/f1/f2 (depth 4) and a/f0/…/f6 (depth 8) end a tree query each.
    base = 4 + 3 + 3 + 2
    assert org.rest_lower_bound() == base + 2


# --- auth


def test_an_api_token_needs_no_crumb_and_gets_no_session(sim):
    response = post(sim, "/manage/configuration-as-code/export")
    assert response.status_code == 200 and "JSESSIONID" not in response.cookies


def test_with_a_password_a_post_needs_the_crumb_of_the_same_session(sim):
    session = requests.Session()
    session.auth = ("admin", PASSWORD)
    crumb = session.get(sim.url + "/crumbIssuer/api/json", timeout=5).json()
    assert crumb["crumbRequestField"] == "Jenkins-Crumb" and session.cookies.get("JSESSIONID")
    refused = session.post(sim.url + "/manage/configuration-as-code/export", timeout=5)
    assert refused.status_code == 403 and "No valid crumb" in refused.text
    # The right crumb without its session cookie is refused too: the default issuer binds them.
    alone = post(
        sim, "/manage/configuration-as-code/export", auth=("admin", PASSWORD), headers={"Jenkins-Crumb": crumb["crumb"]}
    )
    assert alone.status_code == 403
    accepted = session.post(
        sim.url + "/manage/configuration-as-code/export", headers={"Jenkins-Crumb": crumb["crumb"]}, timeout=5
    )
    assert accepted.status_code == 200, accepted.text


def test_bad_credentials_answer_401_and_no_credentials_403(sim):
    assert get(sim, "/api/json", auth=("admin", "wrong")).status_code == 401
    assert get(sim, "/api/json", auth=("nobody", TOKEN)).status_code == 401
    assert get(sim, "/api/json", auth=None).status_code == 403


def test_a_user_without_administer_sees_the_tree_but_not_people_roles_or_config(sim):
    dev = ("dev", "dev-token-123")
    assert get(sim, "/api/json", auth=dev).status_code == 200
    assert get(sim, "/whoAmI/api/json", auth=dev).json()["name"] == "dev"
    for path in ("/asynchPeople/api/json", f"{ROLE_API}/getAllRoles", "/job/app/config.xml"):
        response = get(sim, path, auth=dev)
        assert response.status_code == 403 and "Overall/Administer" in response.text


# --- tree= queries


def test_tree_queries_return_only_the_fields_asked_for(sim):
    data = get(sim, "/api/json", tree="jobs[name,jobs[name]]").json()
    app = next(j for j in data["jobs"] if j["name"] == "app")
    assert set(app) == {"_class", "name", "jobs"}
    sub = next(j for j in app["jobs"] if j["name"] == "sub")
    assert set(sub) == {"_class", "name"}  # the query stops here: no "jobs" key
    top = next(j for j in data["jobs"] if j["name"] == "top")
    assert top["_class"] == "hudson.model.FreeStyleProject" and "jobs" not in top


def test_a_folder_answers_its_own_tree_query(sim):
    data = get(sim, "/job/app/job/sub/api/json", tree="jobs[name]").json()
    assert data["jobs"] == [{"_class": "hudson.model.FreeStyleProject", "name": "deploy"}]
    assert get(sim, "/job/app/job/missing/api/json").status_code == 404


def test_tree_specs_parse_nested_fields_and_ignore_ranges():
    assert parse_tree("jobs[name,jobs[name]]{0,10},x") == {"jobs": {"name": None, "jobs": {"name": None}}, "x": None}


def test_people_and_computers_are_listed(sim):
    people = get(sim, "/asynchPeople/api/json", tree="users[user[id,fullName]]").json()["users"]
    assert {p["user"]["id"] for p in people} == {"admin", "dev"}
    computers = get(sim, "/computer/api/json", tree="computer[displayName]").json()["computer"]
    assert [c["displayName"] for c in computers] == ["built-in", "linux-1"]


# --- role-strategy


def test_roles_are_listed_read_and_matched_with_a_whole_name_regex(sim):
    assert get(sim, f"{ROLE_API}/getAllRoles", type="projectRoles").json() == {
        "deployers": [{"type": "GROUP", "sid": "ops"}]
    }
    role = get(sim, f"{ROLE_API}/getRole", type="projectRoles", roleName="deployers").json()
    assert role == {
        "permissionIds": {"hudson.model.Item.Build": True},
        "sids": [{"type": "GROUP", "sid": "ops"}],
        "pattern": "app/.*",
    }
    assert get(sim, f"{ROLE_API}/getRole", type="projectRoles", roleName="nope").status_code == 404
    matched = get(sim, f"{ROLE_API}/getMatchingJobs", pattern="app/.*", maxJobs=2).json()
    assert matched == {"matchingJobs": ["app/sub", "app/sub/deploy"], "itemCount": 3}
    assert get(sim, f"{ROLE_API}/getMatchingJobs", pattern="app").json()["matchingJobs"] == ["app"]
    agents = get(sim, f"{ROLE_API}/getMatchingAgents", pattern="linux-.*").json()
    assert agents == {"matchingAgents": ["linux-1"], "agentCount": 1}
    assert get(sim, f"{ROLE_API}/getAllRoles", type="nonsense").status_code == 400


def test_unassigning_answers_200_whether_or_not_anything_was_assigned(sim):
    roles = sim.org.roles
    call = f"{ROLE_API}/unassignGroupRole"
    assert post(sim, call, data={"type": "projectRoles", "roleName": "deployers", "group": "ops"}).status_code == 200
    assert roles["projectRoles"]["deployers"].sids == []
    assert post(sim, call, data={"type": "projectRoles", "roleName": "deployers", "group": "ops"}).status_code == 200
    assert post(sim, call, data={"type": "projectRoles", "roleName": "nope", "group": "ops"}).status_code == 200
    # unassignRole takes the EITHER sid; assignUserRole adds a USER sid.
    either = {"type": "slaveRoles", "roleName": "agents", "sid": "bob"}
    assert post(sim, f"{ROLE_API}/unassignRole", data=either).status_code == 200
    assert roles["slaveRoles"]["agents"].sids == []
    assign = {"type": "globalRoles", "roleName": "admin", "user": "carol"}
    assert post(sim, f"{ROLE_API}/assignUserRole", data=assign).status_code == 200
    assert ("USER", "carol") in roles["globalRoles"]["admin"].sids


def test_ignore_unassign_answers_200_and_changes_nothing(sim):
    sim.ignore_unassign = True
    data = {"type": "projectRoles", "roleName": "deployers", "group": "ops"}
    assert post(sim, f"{ROLE_API}/unassignGroupRole", data=data).status_code == 200
    assert sim.org.roles["projectRoles"]["deployers"].sids == [("GROUP", "ops")]


def test_the_role_api_is_absent_under_another_strategy():
    with JenkinsSimulator(small_org("projectMatrix")) as sim:
        assert get(sim, f"{ROLE_API}/getAllRoles").status_code == 404


# --- JCasC export and config.xml


def test_the_export_is_yaml_with_the_strategy_and_short_permission_names(sim):
    data = yaml.safe_load(post(sim, "/manage/configuration-as-code/export").text)
    roles = data["jenkins"]["authorizationStrategy"]["roleBased"]["roles"]
    assert roles["items"] == [
        {"entries": [{"group": "ops"}], "name": "deployers", "pattern": "app/.*", "permissions": ["Job/Build"]}
    ]
    assert roles["global"][0]["permissions"] == ["Overall/Administer"]


def test_a_matrix_export_groups_entries_by_sid():
    org = small_org("projectMatrix")
    org.global_matrix = [
        org_entry("USER", "hudson.model.Hudson.Read", "dev"),
        org_entry("USER", "hudson.model.Item.Read", "dev"),
        org_entry("EITHER", "hudson.model.Hudson.Administer", "admins"),
    ]
    with JenkinsSimulator(org) as sim:
        data = yaml.safe_load(post(sim, "/manage/configuration-as-code/export").text)
    assert data["jenkins"]["authorizationStrategy"]["projectMatrix"]["entries"] == [
        {"user": {"name": "dev", "permissions": ["Job/Read", "Overall/Read"]}},
        {"userOrGroup": {"name": "admins", "permissions": ["Overall/Administer"]}},
    ]


def org_entry(*values):
    from connectors.simulators.jenkins_org import Entry

    return Entry(*values)


def test_config_xml_carries_the_matrix_and_a_posted_one_replaces_it(sim):
    sim.org.set_matrix(
        "app/sub", [("USER", "hudson.model.Item.Read", "dev"), ("EITHER", "hudson.model.Item.Build", "x")], "none"
    )
    text = get(sim, "/job/app/job/sub/config.xml").text
    assert "<permission>USER:hudson.model.Item.Read:dev</permission>" in text
    assert "<permission>hudson.model.Item.Build:x</permission>" in text  # legacy form for EITHER
    assert "NonInheritingStrategy" in text
    edited = text.replace("<permission>USER:hudson.model.Item.Read:dev</permission>", "")
    response = post(
        sim, "/job/app/job/sub/config.xml", data=edited.encode(), headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 200
    item = sim.org.items["app/sub"]
    assert [e.sid for e in item.matrix] == ["x"] and item.inheritance == "none"
    assert post(sim, "/job/app/job/sub/config.xml", data=b"<not xml").status_code == 500
    assert get(sim, "/job/nope/config.xml").status_code == 404


def test_on_config_read_runs_after_each_read(sim):
    seen = []
    sim.on_config_read = seen.append
    get(sim, "/job/app/job/sub/job/deploy/config.xml")
    assert seen == ["app/sub/deploy"]


# --- faults and control


def test_injected_faults_fire_on_matching_paths(sim):
    sim.add_fault(ERROR, "/job/*/config.xml", status=503, times=1)
    assert get(sim, "/job/app/job/sub/config.xml").status_code == 503
    assert get(sim, "/job/app/job/sub/config.xml").status_code == 200
    sim.add_fault(TRUNCATE, "/api/json", times=1)
    with pytest.raises(requests.exceptions.RequestException):
        get(sim, "/api/json").json()


def test_control_info_reports_sizes_and_the_lower_bound(sim):
    info = requests.get(sim.url + "/_simulator/info", timeout=5).json()
    assert info == {
        "strategy": "roleBased",
        "counts": {"folders": 2, "jobs": 3, "users": 2},
        "rest_lower_bound": sim.org.rest_lower_bound(),
    }
    assert sim.stats()["total"] == 0  # control endpoints are not counted


def test_the_command_line_builds_a_simulator_with_a_known_admin_token():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_arguments(parser)
    args = parser.parse_args(["--strategy", "folderBased", "--jobs", "12", "--token", "cli-token-1"])
    with build(args) as sim:
        assert get(sim, "/whoAmI/api/json", auth=("admin", "cli-token-1")).json()["name"] == "admin"
        assert len(sim.org.jobs()) == 12 and sim.org.strategy == "folderBased"
        assert "cli-token-1" in " ".join(sim.describe())
