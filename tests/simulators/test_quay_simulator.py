"""The Quay simulator behaves like Quay's API where connectors can go wrong.

These tests talk to the simulator with ``requests`` directly: they test the simulator itself, not a connector.
"""

from __future__ import annotations

import argparse
import time

import pytest
import requests

from connectors.simulators.quay import QuayOrg, QuaySimulator, Token, add_arguments, build
from connectors.simulators.server import DISCONNECT, ERROR
from tests.fakes import FakeTime

OWNER = "quay_owner_token_0123456789"
MEMBER = "quay_member_token_012345678"
NO_SCOPE = "quay_repo_read_only_token_0"


def small_org() -> QuayOrg:
    org = QuayOrg("acme")
    org.add_robot("ci", description="CI")
    org.add_team("owners", "admin")
    org.add_team_member("owners", "olivia")
    org.add_team("devs")
    org.add_team_member("devs", "ada")
    org.add_team_member("devs", "acme+ci")
    org.add_repo("api")
    org.add_repo("web", public=True)
    org.grant_user("api", "ada", "write")
    org.grant_user("api", "eve", "read")
    org.grant_user("api", "acme+ci", "write")
    org.grant_team("web", "devs", "read")
    org.invite("devs", user="ivy")
    org.invite("devs", email="pat@example.com")
    org.add_prototype("write", "devs", kind="team")
    return org


@pytest.fixture
def clock():
    return FakeTime()


@pytest.fixture
def sim(clock):
    tokens = {OWNER: Token("olivia"), MEMBER: Token("ada"), NO_SCOPE: Token("olivia", scopes=("repo:read",))}
    with QuaySimulator(small_org(), tokens=tokens, clock=clock.clock) as simulator:
        yield simulator


def get(sim: QuaySimulator, path: str, auth: str = OWNER, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {auth}"}
    return requests.get(f"{sim.url}/api/v1{path}", params=params, headers=headers, timeout=5)


def call(sim: QuaySimulator, method: str, path: str, body: dict | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {OWNER}"}
    return requests.request(method, f"{sim.url}/api/v1{path}", json=body, headers=headers, timeout=5)


# --- generation --------------------------------------------------------------------


def test_it_generates_the_same_org_for_the_same_seed():
    first, second = QuayOrg.generate("acme", seed=9), QuayOrg.generate("acme", seed=9)
    assert first.facts() == second.facts()
    assert first.facts() != QuayOrg.generate("acme", seed=10).facts()


def test_it_generates_a_large_org_quickly():
    started = time.perf_counter()
    org = QuayOrg.generate("acme", seed=2, members=2000, teams=120, repos=1000, robots=1000)
    elapsed = time.perf_counter() - started
    assert len(org.repos) == 1000 and len(org.robots) == 1000 and len(org.members()) == 2000
    assert elapsed < 5
    assert org.rest_lower_bound() > 1000 / 100


def test_every_generated_person_is_in_a_team_and_the_owner_administers_the_org():
    org = QuayOrg.generate("acme", seed=5, members=30, owner="olivia")
    assert len(org.members()) == 30
    assert "olivia" in org.admins()


def test_the_lower_bound_counts_one_request_per_list_and_a_page_per_100_repositories():
    org = small_org()
    # org, members, collaborators, robots, 1 repo page, prototypes; 2 team member lists; devs' permissions;
    # api's user permissions.
    assert org.rest_lower_bound() == 6 + 2 + 1 + 1
    for index in range(150):
        org.add_repo(f"r{index}")
    assert org.rest_lower_bound() == 6 + 2 + 1 + 1 + 1


def test_mutate_fraction_changes_about_the_requested_share_of_grants():
    org = QuayOrg.generate("acme", seed=3, members=40, repos=40)
    before = len(org.grants())
    changes = org.mutate_fraction(0.1, seed=1)
    assert len(changes) == round(0.1 * before)
    assert {change.kind for change in changes} <= {"added", "removed", "changed"}


# --- reads ----------------------------------------------------------------------------


def test_the_org_shows_teams_with_roles_and_counts_to_members_only(sim):
    body = get(sim, "/organization/acme").json()
    assert body["is_admin"] and body["ordered_teams"] == ["owners", "devs"]
    assert body["teams"]["devs"] | {"avatar": None} == {
        "name": "devs",
        "description": "",
        "role": "member",
        "avatar": None,
        "can_view": True,
        "repo_count": 1,
        "member_count": 2,
        "is_synced": False,
    }
    outsider = QuaySimulator(small_org(), tokens={"outsider_token_000000": Token("eve")})
    with outsider:
        seen = get(outsider, "/organization/acme", auth="outsider_token_000000").json()
    assert not seen["is_admin"] and "teams" not in seen and seen["email"] == ""


def test_members_and_collaborators_name_repositories_without_roles(sim):
    members = get(sim, "/organization/acme/members").json()["members"]
    ada = next(m for m in members if m["name"] == "ada")
    assert ada["repositories"] == ["api"] and [t["name"] for t in ada["teams"]] == ["devs"]
    assert {m["name"] for m in members} == {"olivia", "ada"}  # robots are not members
    collaborators = get(sim, "/organization/acme/collaborators").json()["collaborators"]
    assert collaborators == [
        {"kind": "user", "name": "eve", "avatar": collaborators[0]["avatar"], "repositories": ["api"]}
    ]


def test_team_members_include_robots_and_pending_invites_on_request(sim):
    plain = get(sim, "/organization/acme/team/devs/members").json()["members"]
    assert [(m["name"], m["is_robot"], m["invited"]) for m in plain] == [
        ("ada", False, False),
        ("acme+ci", True, False),
    ]
    pending = get(sim, "/organization/acme/team/devs/members", includePending="true").json()["members"]
    assert [m.get("name") or m.get("email") for m in pending if m["invited"]] == ["ivy", "pat@example.com"]
    assert [m["kind"] for m in pending if m["invited"]] == ["user", "invite"]


def test_the_robot_list_returns_secrets_unless_told_not_to(sim):
    org = sim.org
    default = get(sim, "/organization/acme/robots").json()["robots"]
    assert default[0]["token"] == org.robots["ci"].token
    safe = get(sim, "/organization/acme/robots", permissions="true", token="false").json()["robots"]
    assert "token" not in safe[0]
    assert (safe[0]["name"], safe[0]["repositories"], [t["name"] for t in safe[0]["teams"]]) == (
        "acme+ci",
        ["api"],
        ["devs"],
    )
    assert get(sim, "/organization/acme/robots/ci").json()["token"] == org.robots["ci"].token
    explicit = get(sim, "/organization/acme/robots", token="true").json()["robots"]
    assert "token" in explicit[0]
    not_admin = get(sim, "/organization/acme/robots", auth=MEMBER).json()["robots"]
    assert "token" not in not_admin[0] and "repositories" not in not_admin[0]


def test_repository_permissions_list_users_robots_and_teams_with_roles(sim):
    users = get(sim, "/repository/acme/api/permissions/user/").json()["permissions"]
    assert {name: (p["role"], p["is_robot"], p["is_org_member"]) for name, p in users.items()} == {
        "ada": ("write", False, True),
        "eve": ("read", False, False),
        "acme+ci": ("write", True, True),
    }
    teams = get(sim, "/repository/acme/web/permissions/team/").json()["permissions"]
    assert {name: p["role"] for name, p in teams.items()} == {"devs": "read"}
    assert get(sim, "/organization/acme/team/devs/permissions").json()["permissions"] == [
        {"repository": {"name": "web", "is_public": True}, "role": "read"}
    ]


def test_repository_names_with_slashes_are_served_like_quays_apirepopath(sim):
    sim.org.add_repo("tools/cli")
    sim.org.grant_user("tools/cli", "ada", "admin")
    assert get(sim, "/repository/acme/tools/cli/permissions/user/ada").json()["role"] == "admin"


def test_the_repository_list_pages_by_100_with_an_opaque_next_page(clock):
    org = QuayOrg.generate("acme", seed=1, repos=230, owner="olivia")
    with QuaySimulator(org, tokens={OWNER: Token("olivia")}, clock=clock.clock) as sim:
        first = get(sim, "/repository", namespace="acme").json()
        second = get(sim, "/repository", namespace="acme", next_page=first["next_page"]).json()
        third = get(sim, "/repository", namespace="acme", next_page=second["next_page"]).json()
        names = [r["name"] for page in (first, second, third) for r in page["repositories"]]
        assert (len(first["repositories"]), len(third["repositories"]), "next_page" in third) == (100, 30, False)
        assert names == list(org.repos)
        # Quay cannot decrypt a bad or expired token and silently starts over.
        restarted = get(sim, "/repository", namespace="acme", next_page="garbage").json()
        assert restarted["repositories"] == first["repositories"]
        clock.now += 3 * 24 * 3600
        expired = get(sim, "/repository", namespace="acme", next_page=first["next_page"]).json()
        assert expired["repositories"] == first["repositories"]
        assert get(sim, "/repository").status_code == 400


def test_prototypes_describe_delegate_and_activating_user(sim):
    (proto,) = get(sim, "/organization/acme/prototypes").json()["prototypes"]
    assert (proto["delegate"]["kind"], proto["delegate"]["name"], proto["role"], proto["activating_user"]) == (
        "team",
        "devs",
        "write",
        None,
    )


# --- refusals -------------------------------------------------------------------------


def test_a_bad_or_missing_token_gets_401(sim):
    response = get(sim, "/organization/acme/members", auth="wrong")
    assert response.status_code == 401 and response.json()["error_type"] == "invalid_token"
    assert requests.get(f"{sim.url}/api/v1/organization/acme", timeout=5).status_code == 401


def test_a_missing_scope_or_role_gets_403_insufficient_scope(sim):
    for token in (NO_SCOPE, MEMBER):
        response = get(sim, "/organization/acme/members", auth=token)
        assert response.status_code == 403 and response.json()["error_type"] == "insufficient_scope"


def test_repo_admin_includes_repo_read_as_quays_implied_scopes_say(sim):
    sim.tokens["quay_org_and_repo_admin_only"] = Token("olivia", scopes=("org:admin", "repo:admin"))
    assert get(sim, "/repository", auth="quay_org_and_repo_admin_only", namespace="acme").status_code == 200
    sim.tokens["quay_org_admin_only_token_0"] = Token("olivia", scopes=("org:admin",))
    assert get(sim, "/repository", auth="quay_org_admin_only_token_0", namespace="acme").status_code == 403


def test_an_unknown_org_is_404(sim):
    assert get(sim, "/organization/initech").status_code == 404


# --- writes and Quay's answers for what is absent --------------------------------------------


def test_removing_absent_things_answers_400_with_a_message_not_404(sim):
    team = call(sim, "DELETE", "/organization/acme/team/devs/members/olivia")
    assert (team.status_code, team.json()) == (400, {"message": "User olivia does not belong to team devs"})
    permission = call(sim, "DELETE", "/repository/acme/web/permissions/user/ada")
    assert (permission.status_code, permission.json()["error_message"]) == (
        400,
        "User does not have permission for repo.",
    )
    robot = call(sim, "DELETE", "/organization/acme/robots/nope")
    assert robot.status_code == 400 and "Could not find robot" in robot.json()["message"]
    single = get(sim, "/repository/acme/web/permissions/team/nobody")
    assert single.status_code == 400


def test_removing_a_non_member_from_the_org_answers_204(sim):
    assert call(sim, "DELETE", "/organization/acme/members/eve").status_code == 204
    assert "eve" not in sim.org.repos["api"].users  # and like Quay, their repository permissions go
    assert call(sim, "DELETE", "/organization/acme/members/nobody-at-all").status_code == 404
    only_admin = call(sim, "DELETE", "/organization/acme/members/olivia")
    assert only_admin.status_code == 400 and "only organization admin" in only_admin.json()["message"]


def test_deleting_a_team_member_cancels_their_invite_first(sim):
    assert call(sim, "DELETE", "/organization/acme/team/devs/members/ivy").status_code == 204
    assert [i.email for i in sim.org.teams["devs"].invites] == ["pat@example.com"]
    assert call(sim, "DELETE", "/organization/acme/team/devs/invite/pat@example.com").status_code == 204
    assert call(sim, "DELETE", "/organization/acme/team/devs/invite/pat@example.com").status_code == 404


def test_put_creates_a_missing_permission_or_team_as_quay_does(sim):
    assert call(sim, "PUT", "/repository/acme/web/permissions/user/eve", {"role": "admin"}).status_code == 200
    assert sim.org.repos["web"].users["eve"] == "admin"
    assert call(sim, "PUT", "/organization/acme/team/brand-new", {"role": "creator"}).status_code == 200
    assert sim.org.teams["brand-new"].role == "creator"


def test_the_caller_cannot_drop_their_only_admin_teams_role(sim):
    response = call(sim, "PUT", "/organization/acme/team/owners", {"role": "member"})
    assert response.status_code == 400 and "would no longer have admin" in response.json()["message"]


def test_deleting_a_robot_removes_its_memberships_and_permissions(sim):
    assert call(sim, "DELETE", "/organization/acme/robots/ci").status_code == 204
    assert "acme+ci" not in sim.org.teams["devs"].members and "acme+ci" not in sim.org.repos["api"].users


def test_prototypes_can_be_changed_and_deleted(sim):
    proto = sim.org.prototypes[0]
    assert call(sim, "PUT", f"/organization/acme/prototypes/{proto.id}", {"role": "read"}).json()["role"] == "read"
    assert call(sim, "DELETE", f"/organization/acme/prototypes/{proto.id}").status_code == 204
    assert call(sim, "DELETE", f"/organization/acme/prototypes/{proto.id}").status_code == 404


# --- limits, faults, control -------------------------------------------------------------------


def test_the_rate_limit_answers_429_html_without_retry_after_and_resets(clock):
    with QuaySimulator(small_org(), tokens={OWNER: Token("olivia")}, clock=clock.clock, rate_limit=2) as sim:
        statuses = [get(sim, "/organization/acme").status_code for _ in range(3)]
        limited = get(sim, "/organization/acme")
        assert statuses == [200, 200, 429]
        assert "retry-after" not in limited.headers and limited.headers["content-type"].startswith("text/html")
        clock.now += 1.5
        assert get(sim, "/organization/acme").status_code == 200


def test_faults_from_the_shared_plan_fire(sim):
    sim.add_fault(ERROR, "/organization/*/members", status=503)
    assert get(sim, "/organization/acme/members").status_code == 503
    assert get(sim, "/organization/acme/members").status_code == 200
    sim.add_fault(DISCONNECT, "/organization/acme")
    with pytest.raises(requests.ConnectionError):
        get(sim, "/organization/acme")


def test_the_org_can_be_mutated_and_described_over_http(sim):
    info = requests.get(f"{sim.url}/_simulator/info", timeout=5).json()
    assert info["orgs"]["acme"]["rest_lower_bound"] == sim.org.rest_lower_bound() == info["rest_lower_bound"]
    changed = requests.post(f"{sim.url}/_simulator/mutate", json={"fraction": 0.5, "seed": 1}, timeout=5).json()
    assert changed["count"] == len(changed["changes"]) > 0


def test_the_command_line_builds_a_simulator_with_the_given_orgs_and_token(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_arguments(parser)
    token_file = tmp_path / "token"
    args = parser.parse_args(["--org", "acme", "--org", "globex", "--repos", "5", "--token-file", str(token_file)])
    simulator = build(args)
    token = token_file.read_text().strip()
    assert set(simulator.orgs) == {"acme", "globex"} and simulator.token == token
    with simulator:
        for name in ("acme", "globex"):
            assert get(simulator, f"/organization/{name}", auth=token).json()["is_admin"]
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
