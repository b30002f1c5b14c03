"""The Harbor simulator behaves like the Harbor v2.0 API where connectors can go wrong.

These tests talk to the simulator with ``requests`` directly: they test the simulator itself, not a connector.
"""

from __future__ import annotations

import argparse
import stat
import time
from urllib.parse import urljoin

import pytest
import requests

from connectors.simulators.harbor import HarborOrg, HarborSimulator, add_arguments, build
from connectors.simulators.server import ERROR

ADMIN = ("admin", "Harbor12345")
NOW = 1_700_000_000.0


def small_org() -> HarborOrg:
    org = HarborOrg(auth_mode="oidc_auth")
    org.add_user("olivia", password="olivia-pass-1", cli_secret="oidc-cli-secret-olivia-123")
    org.add_user("bob", password="bob-pass-1")
    org.add_group("devs", type="oidc")
    org.add_project("payments", owner="olivia")
    org.add_project("42")  # a numeric name: an id unless X-Is-Resource-Name says otherwise
    org.add_member("payments", user="bob", role="guest")
    org.add_member("payments", group="devs", role="developer")
    org.add_project_robot("payments", "ci", [("repository", "pull"), ("repository", "push")], secret="Robot-secret-1")
    org.add_project_robot("payments", "old", editable=False)
    org.add_system_robot("deployer", {"*": [("repository", "pull")]}, [("project", "list")], secret="Robot-secret-2")
    org.add_system_robot("gone", {"payments": [("repository", "pull")]}, duration=7, secret="Robot-secret-3")
    return org


@pytest.fixture
def sim():
    with HarborSimulator(small_org(), clock=lambda: NOW) as simulator:
        yield simulator


def client(auth=ADMIN) -> requests.Session:
    """A new session per call unless kept: a kept one holds Harbor's session cookie (see the CSRF test)."""
    session = requests.Session()
    session.auth = auth
    return session


def follow(session: requests.Session, url: str, params: dict | None = None) -> tuple[list, list[requests.Response]]:
    items, responses = [], []
    response = session.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        responses.append(response)
        items.extend(response.json())
        if "next" not in response.links:
            return items, responses
        response = session.get(urljoin(response.url, response.links["next"]["url"]))


# -- generation


def test_it_generates_the_same_instance_for_the_same_seed():
    first = HarborOrg.generate(seed=7, projects=40, users=60, robots=20)
    again = HarborOrg.generate(seed=7, projects=40, users=60, robots=20)
    other = HarborOrg.generate(seed=8, projects=40, users=60, robots=20)
    assert first.facts() == again.facts()
    assert first.rest_plan() == again.rest_plan()
    assert first.facts().user_members != other.facts().user_members


def test_a_bench_sized_instance_is_generated_quickly_with_its_lower_bound():
    started = time.perf_counter()
    org = HarborOrg.generate(seed=1, projects=1000, users=2400, robots=600)
    assert time.perf_counter() - started < 3
    assert (len(org.projects), len(org.users) + len(org.robots)) == (1000, 3000)
    system = len(org.system_robots())
    # users/current, configurations, users (24 pages), groups, projects (10), system robots; 2 per project.
    assert org.rest_lower_bound() == 2 + 24 + 1 + 10 + max(1, -(-system // 100)) + 2 * 1000
    assert org.rest_lower_bound(page_size=10) > org.rest_lower_bound()


def test_a_generated_instance_has_every_kind_of_grant():
    facts = HarborOrg.generate(seed=3, projects=60, users=80, robots=80).facts()
    assert {role for _, _, role in facts.user_members} == {
        "projectAdmin",
        "developer",
        "guest",
        "maintainer",
        "limitedGuest",
    }
    assert facts.group_members and facts.admin_groups == {
        ("ldap_group_admin_dn", "cn=harbor-admins,ou=groups,dc=example,dc=com")
    }
    assert {level for level, _, _ in facts.robots.values()} == {"project", "system"}
    assert any(namespace == "*" for _, _, namespace, _ in facts.robot_grants)
    assert any(public for public in facts.projects.values()) and not all(facts.projects.values())
    assert any(expires != -1 for _, _, expires in facts.robots.values())


# -- pagination


def test_lists_page_by_ten_by_default_with_total_count_and_relative_links(sim):
    for index in range(25):
        sim.org.add_user(f"user{index}")
    first = client().get(f"{sim.api_url}/users")
    assert len(first.json()) == 10
    assert first.headers["X-Total-Count"] == str(len(sim.org.users))
    assert first.headers["Link"] == '</api/v2.0/users?page=2&page_size=10>; rel="next"'
    second = client().get(f"{sim.api_url}/users", params={"page": 2, "page_size": 10})
    assert second.headers["Link"] == (
        '</api/v2.0/users?page=1&page_size=10>; rel="prev" , </api/v2.0/users?page=3&page_size=10>; rel="next"'
    )
    items, responses = follow(client(), f"{sim.api_url}/users", {"page_size": 7})
    assert [user["username"] for user in items] == [user.username for user in sim.org.users.values()]
    assert len(responses) == -(-len(sim.org.users) // 7)


def test_a_page_size_above_100_is_refused(sim):
    response = client().get(f"{sim.api_url}/projects", params={"page_size": 101})
    assert response.status_code == 422
    assert "less than or equal to 100" in response.json()["errors"][0]["message"]


def test_links_carry_the_query_unescaped(sim):
    project = sim.org.project("payments")
    response = client().get(
        f"{sim.api_url}/robots", params={"q": f"Level=project,ProjectID={project.id}", "page_size": 1}
    )
    assert (
        response.headers["Link"]
        == f'</api/v2.0/robots?page=2&page_size=1&q=Level=project,ProjectID={project.id}>; rel="next"'
    )
    items, _ = follow(client(), f"{sim.api_url}/robots", {"q": f"Level=project,ProjectID={project.id}", "page_size": 1})
    assert [robot["name"] for robot in items] == ["robot$payments+ci", "robot$payments+old"]


# -- robots


def test_robots_without_a_query_are_the_system_robots_only(sim):
    names = [robot["name"] for robot in client().get(f"{sim.api_url}/robots").json()]
    assert names == ["robot$deployer", "robot$gone"]


def test_project_robots_need_a_project_id(sim):
    response = client().get(f"{sim.api_url}/robots", params={"q": "Level=project"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "must with project ID when to query project robots"


def test_robot_lists_carry_permissions_expiry_and_creator_but_never_a_secret(sim):
    [ci, old] = (
        client()
        .get(f"{sim.api_url}/robots", params={"q": f"Level=project,ProjectID={sim.org.project('payments').id}"})
        .json()
    )
    assert ci["permissions"] == [
        {
            "kind": "project",
            "namespace": "payments",
            "access": [
                {"resource": "repository", "action": "pull", "effect": "allow"},
                {"resource": "repository", "action": "push", "effect": "allow"},
            ],
        }
    ]
    assert (ci["expires_at"], ci["disable"], ci["editable"], old["editable"]) == (-1, False, True, False)
    assert (ci["creator_type"], ci["creator_ref"]) == ("local", 1)
    assert "secret" not in ci


def test_a_robot_logs_in_with_its_secret_unless_disabled_or_expired(sim):
    me = client(("robot$payments+ci", "Robot-secret-1"))
    assert me.get(f"{sim.api_url}/users/current").status_code == 412
    assert me.get(f"{sim.api_url}/projects/{sim.org.project('payments').id}/members").status_code == 403
    expired = client(("robot$gone", "Robot-secret-3")).get(f"{sim.api_url}/projects")
    assert expired.status_code == 401
    sim.org.set_robot_disabled("robot$payments+ci")
    assert me.get(f"{sim.api_url}/projects").status_code == 401


def test_a_system_robot_allowed_to_list_projects_sees_them_all(sim):
    robot = client(("robot$deployer", "Robot-secret-2"))
    names = {p["name"] for p in robot.get(f"{sim.api_url}/projects").json()}
    assert names == {"library", "payments", "42"}
    permissions = robot.get(f"{sim.api_url}/users/current/permissions", params={"scope": "/system", "relative": "true"})
    assert permissions.json() == [{"resource": "project", "action": "list"}]
    assert robot.get(f"{sim.api_url}/users").status_code == 403


def test_a_robot_update_replaces_the_whole_robot(sim):
    robot = sim.org.robot("robot$gone")
    url = f"{sim.api_url}/robots/{robot.id}"
    body = client().get(url).json()
    sim.org.set_robot_disabled("robot$gone")
    partial = {key: body[key] for key in ("name", "level", "permissions")}
    assert client().put(url, json=partial).status_code == 200
    # Missing "disable" re-enables it; missing "duration" resets the expiry to the default 30 days.
    assert (robot.disabled, robot.duration, body["duration"]) == (False, 30, 7)
    assert client().put(url, json={**body, "name": "robot$other"}).status_code == 400
    project_robot = client().get(f"{sim.api_url}/robots/{sim.org.robot('robot$payments+ci').id}").json()
    twice = {**project_robot, "permissions": project_robot["permissions"] * 2}
    assert client().put(f"{sim.api_url}/robots/{project_robot['id']}", json=twice).status_code == 400


def test_a_legacy_robot_ignores_permission_changes(sim):
    robot = sim.org.robot("robot$payments+old")
    body = client().get(f"{sim.api_url}/robots/{robot.id}").json()
    changed = {**body, "disable": True, "permissions": [{**body["permissions"][0], "access": []}]}
    assert client().put(f"{sim.api_url}/robots/{robot.id}", json=changed).status_code == 200
    assert robot.disabled
    assert [a.action for a in robot.permissions[0].access] == ["pull"]


# -- projects, members, users


def test_a_numeric_path_is_an_id_unless_the_name_header_says_otherwise(sim):
    project = sim.org.project("42")
    by_id = client().get(f"{sim.api_url}/projects/{project.id}")
    assert by_id.json()["name"] == "42"
    assert client().get(f"{sim.api_url}/projects/42").status_code == 404
    by_name = client().get(f"{sim.api_url}/projects/42", headers={"X-Is-Resource-Name": "true"})
    assert by_name.json()["project_id"] == project.id


def test_members_are_users_or_groups_with_role_ids(sim):
    members = client().get(f"{sim.api_url}/projects/{sim.org.project('payments').id}/members").json()
    assert {(m["entity_type"], m["entity_name"], m["role_id"], m["role_name"]) for m in members} == {
        ("u", "olivia", 1, "projectAdmin"),
        ("u", "bob", 3, "guest"),
        ("g", "devs", 2, "developer"),
    }


def test_anonymous_callers_see_public_projects_and_nothing_else(sim):
    anonymous = requests.Session()
    assert [p["name"] for p in anonymous.get(f"{sim.api_url}/projects").json()] == ["library"]
    assert anonymous.get(f"{sim.api_url}/users").status_code == 401
    assert anonymous.get(f"{sim.api_url}/users/current").status_code == 401


def test_a_user_who_is_not_an_administrator_sees_own_and_public_projects_only(sim):
    bob = client(("bob", "bob-pass-1"))
    assert {p["name"] for p in bob.get(f"{sim.api_url}/projects").json()} == {"library", "payments"}
    for path in ("/users", "/usergroups", "/configurations", "/robots"):
        assert bob.get(f"{sim.api_url}{path}").status_code == 403, path


def test_bad_credentials_answer_401_with_harbors_error_body(sim):
    response = client(("admin", "wrong")).get(f"{sim.api_url}/projects")
    assert response.status_code == 401
    assert response.json() == {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]}


def test_an_oidc_user_sees_their_cli_secret_in_their_own_profile_and_logs_in_with_it(sim):
    olivia = client(("olivia", "oidc-cli-secret-olivia-123"))
    profile = olivia.get(f"{sim.api_url}/users/current").json()
    assert profile["oidc_user_meta"]["secret"] == "oidc-cli-secret-olivia-123"
    listed = client().get(f"{sim.api_url}/users").json()
    assert all("oidc_user_meta" not in user for user in listed)


def test_the_configuration_names_the_admin_group_for_administrators_only(sim):
    sim.org.configure_admin_group("harbor-admins")
    config = client().get(f"{sim.api_url}/configurations").json()
    assert config["oidc_admin_group"] == {"value": "harbor-admins", "editable": True}
    assert config["auth_mode"]["value"] == "oidc_auth"


# -- writes


def test_a_write_carrying_the_session_cookie_needs_the_csrf_token(sim):
    session = client()
    members = session.get(f"{sim.api_url}/projects/{sim.org.project('payments').id}/members")
    assert "sid" in session.cookies
    bob = next(m for m in members.json() if m["entity_name"] == "bob")
    url = f"{sim.api_url}/projects/{bob['project_id']}/members/{bob['id']}"
    refused = session.delete(url)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["message"] == "CSRF token not found in request"
    token = session.get(url).headers["X-Harbor-CSRF-Token"]
    assert session.delete(url, headers={"X-Harbor-CSRF-Token": token}).status_code == 200


def test_deleting_absent_members_and_robots_answers_404(sim):
    payments = sim.org.project("payments")
    bob = sim.org.find_member("payments", user="bob")
    url = f"{sim.api_url}/projects/{payments.id}/members/{bob.id}"
    assert client().delete(url).status_code == 200
    assert client().delete(url).status_code == 404
    robot_url = f"{sim.api_url}/robots/{sim.org.robot('robot$gone').id}"
    assert client().delete(robot_url).status_code == 200
    assert client().delete(robot_url).status_code == 404


def test_setting_the_sysadmin_flag_answers_200_whatever_it_was(sim):
    bob = sim.org.user("bob")
    url = f"{sim.api_url}/users/{bob.id}/sysadmin"
    assert client().put(url, json={"sysadmin_flag": False}).status_code == 200
    assert client().put(url, json={"sysadmin_flag": True}).status_code == 200
    assert bob.sysadmin
    assert client().put(f"{sim.api_url}/users/999/sysadmin", json={"sysadmin_flag": False}).status_code == 404


def test_member_roles_change_by_id_and_invalid_roles_are_refused(sim):
    bob = sim.org.find_member("payments", user="bob")
    url = f"{sim.api_url}/projects/{bob.project_id}/members/{bob.id}"
    assert client().put(url, json={"role_id": 4}).status_code == 200
    assert bob.role_id == 4
    assert client().put(url, json={"role_id": 9}).status_code == 400


# -- control, faults, command line


def test_injected_errors_carry_harbors_error_body(sim):
    sim.add_fault(ERROR, "/projects", status=503)
    response = client().get(f"{sim.api_url}/projects")
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "UNKNOWN"
    assert client().get(f"{sim.api_url}/projects").status_code == 200


def test_control_endpoints_mutate_and_report_sizes(sim):
    info = client(None).get(f"{sim.url}/_simulator/info").json()
    assert info["counts"]["projects"] == 3 and info["rest_lower_bound"] == sim.org.rest_lower_bound()
    bob = sim.org.find_member("payments", user="bob")
    removed = client(None).post(
        f"{sim.url}/_simulator/mutate",
        json={"action": "remove_member", "args": {"project": "payments", "member_id": bob.id}},
    )
    assert removed.status_code == 200
    assert bob.id not in sim.org.project("payments").members
    changed = client(None).post(f"{sim.url}/_simulator/mutate", json={"fraction": 0.5, "seed": 1}).json()
    assert changed["count"] >= 1


def test_the_command_line_writes_the_admin_password_to_a_private_file(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_arguments(parser)
    password_file = tmp_path / "harbor-password"
    args = parser.parse_args(["--projects", "5", "--users", "7", "--password-file", str(password_file)])
    simulator = build(args)
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    with simulator:
        assert client(("admin", password)).get(f"{simulator.api_url}/users").status_code == 200
    assert password not in " ".join(simulator.describe())
