"""The GitHub simulator behaves like the GitHub REST API where connectors can go wrong.

These tests talk to the simulator with ``requests`` directly: they test the simulator itself,
not a connector.
"""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import requests

from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from tests.fakes import FakeTime

OWNER = "ghp_" + "owner_token"
NO_ORG_SCOPE = "ghp_" + "repo_only_token"
MEMBER = "ghp_" + "member_token"
GITHUB_LINK = re.compile(
    r'^<http://[^>]+>; rel="(prev|next|last|first)"(, <http://[^>]+>; rel="(prev|next|last|first)")*$'
)


def small_org() -> GitHubOrg:
    """platform > platform-api > platform-api-core, with members at every level and grants of each kind."""
    org = GitHubOrg("acme", default_repository_permission="read")
    org.add_member("octo-owner", "admin", public=True)
    for login in ("alice", "bob", "carol", "dave"):
        org.add_member(login, two_factor=login != "carol")
    org.add_custom_role("deployer", "write")
    org.add_team("platform")
    org.add_team("platform-api", parent="platform")
    org.add_team("platform-api-core", parent="platform-api")
    org.add_team_member("platform", "alice", "maintainer")
    org.add_team_member("platform", "bob")
    org.add_team_member("platform-api", "bob")
    org.add_team_member("platform-api", "carol")
    org.add_team_member("platform-api", "octo-owner")
    org.add_team_member("platform-api-core", "dave")
    org.add_repo("api")
    org.add_repo("web")
    org.add_repo("site", visibility="public")
    org.add_repo("legacy", visibility="internal", archived=True)
    org.grant_team("platform", "api", "write")
    org.grant_team("platform-api", "web", "deployer")
    org.add_collaborator("api", "carol", "read")
    org.add_outside_collaborator("eve", "api", "triage", two_factor=False)
    org.add_user("deploy-bot[bot]", type="Bot")
    org.add_collaborator("site", "deploy-bot[bot]", "write")
    org.add_deploy_key("api", "ci", read_only=False)
    org.add_deploy_key("api", "backup")
    org.add_invitation(login="frank", role="admin")
    org.add_invitation(email="gina@example.com")
    org.add_installation(
        "renovate", permissions={"contents": "write"}, repository_selection="selected", repositories=["api"]
    )
    org.add_installation("slack", suspended=True)
    return org


def start(org: GitHubOrg, clock: FakeTime, **options) -> GitHubSimulator:
    tokens = {
        OWNER: Token(org.owner_login),
        NO_ORG_SCOPE: Token(org.owner_login, scopes=("repo",)),
        MEMBER: Token("alice"),
    }
    return GitHubSimulator(org, tokens=tokens, clock=clock.clock, **options).start()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sim(clock):
    simulator = start(small_org(), clock)
    yield simulator
    simulator.stop()


@pytest.fixture
def big_sim(clock):
    simulator = start(GitHubOrg.generate("acme", seed=1, members=150, teams=12, repos=30), clock)
    yield simulator
    simulator.stop()


def client(token: str | None = OWNER) -> requests.Session:
    session = requests.Session()
    session.headers["Accept"] = "application/vnd.github+json"
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def follow(session: requests.Session, url: str) -> tuple[list, list[requests.Response]]:
    items, responses = [], []
    while url:
        response = session.get(url)
        assert response.status_code == 200, response.text
        responses.append(response)
        body = response.json()
        if isinstance(body, dict):  # installations and installation repositories wrap the list
            body = body.get("installations", body.get("repositories"))
        items.extend(body)
        url = response.links.get("next", {}).get("url")
    return items, responses


# -- generation


def test_it_generates_the_same_org_for_the_same_seed():
    first = GitHubOrg.generate("acme", seed=7, members=80, teams=15, repos=40)
    again = GitHubOrg.generate("acme", seed=7, members=80, teams=15, repos=40)
    other = GitHubOrg.generate("acme", seed=8, members=80, teams=15, repos=40)
    assert first.facts() == again.facts()
    assert first.rest_plan() == again.rest_plan()
    assert first.facts().direct_grants != other.facts().direct_grants


def test_it_generates_a_large_org_quickly_and_in_modest_memory():
    tracemalloc.start()
    began = time.perf_counter()
    org = GitHubOrg.generate("big", seed=3, members=5000, outside_collaborators=100, teams=300, repos=2000)
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5
    assert peak < 64 * 1024 * 1024
    facts = org.facts()
    assert (len(facts.members), len(facts.teams), len(facts.repos)) == (5000, 300, 2000)
    assert len(facts.outside_collaborators) > 90
    assert max(org.depth(slug) for slug in org.teams) == 3
    assert {visibility for visibility, _ in facts.repos.values()} == {"private", "public", "internal"}
    assert any(archived for _, archived in facts.repos.values())
    assert {read_only for _, _, read_only in facts.deploy_keys} == {True, False}
    assert {role for _, _, role in facts.team_repos} >= {"read", "write", "admin", "deployer"}
    assert any(role == "deployer" for _, _, role in facts.direct_grants)
    assert {role for _, role in facts.invitations} == {"admin", "direct_member"}
    assert any("@" in who for who, _ in facts.invitations)
    assert {selection for selection, _, _ in facts.installations.values()} == {"all", "selected"}
    assert any(suspended for _, _, suspended in facts.installations.values())
    assert org.rest_lower_bound() > 3 * 2000


def test_mutate_fraction_changes_about_the_requested_share_of_grants():
    org = GitHubOrg.generate("acme", seed=1, members=400, teams=40, repos=200)
    before = {grant[:3]: grant[3] for grant in org.grants()}
    changes = org.mutate_fraction(0.01, seed=2)
    after = {grant[:3]: grant[3] for grant in org.grants()}
    differing = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert len(changes) == round(0.01 * len(before))
    assert len(differing) == len(changes)
    assert {change.kind for change in changes} == {"added", "removed", "changed"}
    for change in changes:
        assert after.get((change.grant, change.subject, change.target)) == change.after


def test_helpers_let_tests_reshape_the_org_between_syncs():
    org = small_org()
    org.remove_member("bob")
    org.set_collaborator_role("api", "eve", "write")
    org.remove_team("platform-api")
    facts = org.facts()
    assert "bob" not in facts.members
    assert ("eve", "api", "write") in facts.direct_grants
    assert set(facts.teams) == {"platform"}  # the child team went with its parent, as on GitHub
    assert org.effective_role("dave", "api") == "read"  # only the base permission is left


# -- pagination


def test_it_paginates_with_github_link_headers(big_sim):
    session = client()
    pages = [session.get(f"{big_sim.url}/orgs/acme/members?per_page=60&page={n}") for n in (1, 2, 3)]
    for page in pages:
        assert GITHUB_LINK.match(page.headers["Link"])
    assert [list(page.links) for page in pages] == [
        ["next", "last"],
        ["prev", "next", "last", "first"],
        ["prev", "first"],
    ]
    base = f"{big_sim.url}/organizations/9001/members?per_page=60&page="
    assert {rel: link["url"] for rel, link in pages[1].links.items()} == {
        "prev": f"{base}1",
        "next": f"{base}3",
        "last": f"{base}3",
        "first": f"{base}1",
    }
    assert pages[2].links["prev"]["url"] == f"{base}2"
    logins = [user["login"] for page in pages for user in page.json()]
    expected = sorted(big_sim.org.members, key=lambda login: big_sim.org.users[login].id)
    assert logins == expected
    assert [len(page.json()) for page in pages] == [60, 60, 30]


def test_it_caps_per_page_at_100_and_defaults_to_30(big_sim):
    session = client()
    capped = session.get(f"{big_sim.url}/orgs/acme/members?per_page=500")
    default = session.get(f"{big_sim.url}/orgs/acme/members")
    assert len(capped.json()) == 100
    assert capped.links["last"]["url"].endswith("per_page=500&page=2")
    assert len(default.json()) == 30
    assert default.links["last"]["url"].endswith("/members?page=5")


def test_a_single_page_has_no_link_header(big_sim):
    response = client().get(f"{big_sim.url}/orgs/acme/teams?per_page=100")
    assert len(response.json()) == 12
    assert "Link" not in response.headers


def test_repository_list_links_switch_to_repository_id_paths(big_sim):
    session = client()
    repo = next(iter(big_sim.org.repos.values()))
    items, responses = follow(session, f"{big_sim.url}/repos/acme/{repo.name}/collaborators?per_page=40")
    assert len(responses) > 2
    assert responses[0].links["next"]["url"].startswith(f"{big_sim.url}/repositories/{repo.id}/collaborators?")
    assert [(u["login"], u["role_name"]) for u in items] == [
        (user.login, role) for user, role in big_sim.org.collaborators(repo.name)
    ]


def test_links_can_repeat_the_request_path(clock):
    with start(GitHubOrg.generate(members=80), clock, link_style="paths") as simulator:
        response = client().get(f"{simulator.url}/orgs/acme/members?per_page=50")
    assert response.links["next"]["url"] == f"{simulator.url}/orgs/acme/members?per_page=50&page=2"


def test_it_serves_github_enterprise_paths_under_api_v3(big_sim):
    response = client().get(f"{big_sim.url}/api/v3/orgs/acme/members?per_page=100")
    assert response.status_code == 200
    assert response.links["next"]["url"].startswith(f"{big_sim.url}/api/v3/organizations/9001/members")
    assert response.json()[0]["url"].startswith(f"{big_sim.url}/api/v3/users/")
    assert (big_sim.requests[-1].prefix, big_sim.requests[-1].path) == ("/api/v3", "/orgs/acme/members")


def test_following_the_rest_plan_costs_exactly_the_lower_bound(clock):
    org = GitHubOrg.generate("acme", seed=5, members=260, outside_collaborators=8, teams=20, repos=25)
    with start(org, clock) as simulator:
        session = client()
        direct_grants, listed = set(), set()
        for path, _ in org.rest_plan():
            url = f"{simulator.url}{path}{'&' if '?' in path else '?'}per_page=100"
            items, _ = follow(session, url) if path != "/orgs/acme" else ([], [session.get(url)])
            if "affiliation=direct" in path:
                direct_grants |= {(user["login"], path.split("/")[3], user["role_name"]) for user in items}
            if "/teams/" in path and "/members" in path:
                listed |= {(path.split("/")[4], user["login"]) for user in items}
        assert len(simulator.requests) == org.rest_lower_bound(per_page=100)
    facts = org.facts()
    assert direct_grants == facts.direct_grants
    # Team lists name every member of the team's subtree.
    assert listed == {(slug, login) for slug in org.teams for login in org.team_members(slug)}


# -- GitHub's team and collaborator semantics


def test_team_member_list_includes_child_team_members(sim):
    session = client()
    listed = session.get(f"{sim.url}/orgs/acme/teams/platform/members").json()
    maintainers = session.get(f"{sim.url}/orgs/acme/teams/platform/members?role=maintainer").json()
    assert {user["login"] for user in listed} == {"alice", "bob", "carol", "dave", "octo-owner"}
    assert {user["login"] for user in maintainers} == {"alice", "octo-owner"}


def test_team_membership_includes_a_child_team_only_member_as_documented(sim):
    session = client()
    child_only = session.get(f"{sim.url}/orgs/acme/teams/platform/memberships/carol")
    immediate = session.get(f"{sim.url}/orgs/acme/teams/platform/memberships/alice")
    outsider = session.get(f"{sim.url}/orgs/acme/teams/platform/memberships/nobody-here")
    assert child_only.status_code == 200
    assert (immediate.json()["role"], immediate.json()["state"]) == ("maintainer", "active")
    assert outsider.status_code == 404


def test_org_owners_are_reported_as_team_maintainers(sim):
    response = client().get(f"{sim.url}/orgs/acme/teams/platform-api/memberships/octo-owner")
    assert response.json()["role"] == "maintainer"
    assert ("platform-api", "octo-owner", "maintainer") in sim.org.facts().team_members


def test_child_teams_list_their_parent(sim):
    children = client().get(f"{sim.url}/orgs/acme/teams/platform/teams").json()
    assert [(team["slug"], team["parent"]["slug"]) for team in children] == [("platform-api", "platform")]


def test_collaborators_role_name_is_the_highest_role_from_any_source(sim):
    session = client()
    every = session.get(f"{sim.url}/repos/acme/api/collaborators?affiliation=all").json()
    direct = session.get(f"{sim.url}/repos/acme/api/collaborators?affiliation=direct").json()
    outside = session.get(f"{sim.url}/repos/acme/api/collaborators?affiliation=outside").json()
    assert {u["login"]: u["role_name"] for u in every} == {
        "octo-owner": "admin",
        "alice": "write",
        "bob": "write",
        "carol": "write",  # direct read, but write through platform (parent of her team)
        "dave": "write",  # grandchild team inherits
        "eve": "triage",
    }
    assert {u["login"]: u["role_name"] for u in direct} == {"carol": "read", "eve": "triage"}
    assert [u["login"] for u in outside] == ["eve"]
    carol = next(u for u in every if u["login"] == "carol")
    assert carol["permissions"] == {"pull": True, "triage": True, "push": True, "maintain": False, "admin": False}


def test_custom_roles_carry_their_name_and_base_permissions(sim):
    session = client()
    web = {u["login"]: u for u in session.get(f"{sim.url}/repos/acme/web/collaborators").json()}
    team_repos = session.get(f"{sim.url}/orgs/acme/teams/platform-api/repos").json()
    repo_teams = session.get(f"{sim.url}/repos/acme/web/teams").json()
    assert (web["bob"]["role_name"], web["alice"]["role_name"]) == ("deployer", "read")
    assert web["bob"]["permissions"]["push"] and not web["bob"]["permissions"]["maintain"]
    assert [(r["name"], r["role_name"], r["permissions"]["push"]) for r in team_repos] == [("web", "deployer", True)]
    assert [(t["slug"], t["permission"]) for t in repo_teams] == [("platform-api", "push")]


def test_response_bodies_have_github_fields(sim):
    session = client()
    member = session.get(f"{sim.url}/orgs/acme/members").json()[0]
    site = session.get(f"{sim.url}/repos/acme/site/collaborators?affiliation=direct").json()
    invitations = session.get(f"{sim.url}/orgs/acme/invitations").json()
    keys = session.get(f"{sim.url}/repos/acme/api/keys").json()
    installs = session.get(f"{sim.url}/orgs/acme/installations").json()
    org = session.get(f"{sim.url}/orgs/acme").json()
    assert {"login", "id", "node_id", "avatar_url", "url", "html_url", "type", "site_admin"} <= set(member)
    assert (member["login"], member["type"], member["site_admin"]) == ("octo-owner", "User", False)
    assert [(u["login"], u["type"], u["role_name"]) for u in site] == [("deploy-bot[bot]", "Bot", "write")]
    assert [(i["login"], i["email"], i["role"], i["inviter"]["login"]) for i in invitations] == [
        ("frank", None, "admin", "octo-owner"),
        (None, "gina@example.com", "direct_member", "octo-owner"),
    ]
    assert [(k["title"], k["read_only"]) for k in keys] == [("ci", False), ("backup", True)]
    assert installs["total_count"] == 2
    assert [
        (i["app_slug"], i["repository_selection"], i["suspended_at"] is not None) for i in installs["installations"]
    ] == [
        ("renovate", "selected", False),
        ("slack", "all", True),
    ]
    assert (org["default_repository_permission"], org["two_factor_requirement_enabled"]) == ("read", False)


def test_org_settings_are_shown_to_owners_only(sim):
    as_member = client(MEMBER).get(f"{sim.url}/orgs/acme").json()
    assert as_member["login"] == "acme"
    assert "default_repository_permission" not in as_member


# -- auth and scopes


def test_a_bad_or_missing_token_gets_401(sim):
    bad = client("ghp_nope").get(f"{sim.url}/orgs/acme/members")
    missing = client(None).get(f"{sim.url}/orgs/acme/members")
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")
    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
    assert bad.json()["documentation_url"].startswith("https://docs.github.com/")


def test_token_scheme_is_accepted_too(sim):
    response = requests.get(f"{sim.url}/user", timeout=5, headers={"Authorization": f"token {OWNER}"})
    assert response.json()["login"] == "octo-owner"


def test_a_missing_scope_looks_like_not_found(sim):
    session = client(NO_ORG_SCOPE)
    for path in ("/orgs/acme/invitations", "/orgs/acme/installations", "/orgs/acme/outside_collaborators"):
        response = session.get(f"{sim.url}{path}")
        assert (response.status_code, response.json()["message"]) == (404, "Not Found")
        assert response.headers["x-oauth-scopes"] == "repo"
        assert "read:org" in response.headers["x-accepted-oauth-scopes"]
    assert session.get(f"{sim.url}/user").status_code == 200


def test_without_read_org_only_public_members_are_listed(sim):
    response = client(NO_ORG_SCOPE).get(f"{sim.url}/orgs/acme/members")
    assert [user["login"] for user in response.json()] == ["octo-owner"]
    assert response.headers["x-accepted-oauth-scopes"] == "admin:org, read:org, write:org"


def test_without_the_repo_scope_private_repositories_are_hidden(clock):
    with start(small_org(), clock) as simulator:
        simulator.add_token("ghp_" + "org_only", Token("octo-owner", scopes=("read:org",)))
        repos = client("ghp_" + "org_only").get(f"{simulator.url}/orgs/acme/repos").json()
    assert [repo["name"] for repo in repos] == ["site"]


def test_the_2fa_filter_is_for_owners_only(sim):
    refused = client(MEMBER).get(f"{sim.url}/orgs/acme/members?filter=2fa_disabled")
    members = client().get(f"{sim.url}/orgs/acme/members?filter=2fa_disabled").json()
    outside = client().get(f"{sim.url}/orgs/acme/outside_collaborators?filter=2fa_disabled").json()
    assert (refused.status_code, refused.json()["message"]) == (422, "Only owners can use this filter.")
    assert [user["login"] for user in members] == ["carol"]
    assert [user["login"] for user in outside] == ["eve"]


# -- conditional requests and rate limits


def test_if_none_match_gets_304_without_using_the_limit(sim):
    session = client()
    first = session.get(f"{sim.url}/orgs/acme/members")
    again = session.get(f"{sim.url}/orgs/acme/members", headers={"If-None-Match": first.headers["ETag"]})
    assert first.headers["ETag"].startswith('W/"')
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"] == "4999"
    assert again.headers["x-ratelimit-used"] == "1"
    sim.org.remove_member("bob")
    changed = session.get(f"{sim.url}/orgs/acme/members", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize("status", [403, 429])
def test_the_primary_limit_resets_after_an_hour_of_fake_time(clock, status):
    window_end = math.ceil(clock.now + 3600)
    with start(small_org(), clock, primary_limit=3, rate_limit_status=status) as simulator:
        session = client()
        served = [session.get(f"{simulator.url}/orgs/acme/teams") for _ in range(3)]
        limited = session.get(f"{simulator.url}/orgs/acme/teams")
        free = session.get(f"{simulator.url}/rate_limit")
        clock.advance(int(limited.headers["x-ratelimit-reset"]) - clock.now)
        later = session.get(f"{simulator.url}/orgs/acme/teams")
    assert [r.headers["x-ratelimit-remaining"] for r in served] == ["2", "1", "0"]
    assert limited.status_code == status
    assert limited.json()["message"].startswith("API rate limit exceeded for user ID")
    assert (limited.headers["x-ratelimit-remaining"], limited.headers["x-ratelimit-reset"]) == ("0", str(window_end))
    assert (free.status_code, free.json()["resources"]["core"]["remaining"]) == (200, 0)
    assert (later.status_code, later.headers["x-ratelimit-remaining"]) == (200, "2")


def test_the_secondary_limit_is_per_endpoint_and_says_when_to_retry(clock):
    with start(small_org(), clock, secondary_limit=3) as simulator:
        session = client()
        served = [session.get(f"{simulator.url}/orgs/acme/members?page={n}").status_code for n in (1, 2, 3)]
        limited = session.get(f"{simulator.url}/orgs/acme/members?page=4")
        other_endpoint = session.get(f"{simulator.url}/orgs/acme/teams")
        clock.advance(int(limited.headers["retry-after"]))
        later = session.get(f"{simulator.url}/orgs/acme/members")
    assert served == [200, 200, 200]
    assert (limited.status_code, limited.headers["retry-after"]) == (403, "60")
    assert "secondary rate limit" in limited.json()["message"]
    assert limited.headers["x-ratelimit-remaining"] == "4997"  # a refused request uses no primary quota
    assert other_endpoint.status_code == 200
    assert later.status_code == 200


def test_too_many_concurrent_requests_hit_the_secondary_limit(clock):
    with start(small_org(), clock, max_concurrent=1) as simulator:
        delay = simulator.add_fault("delay", "/orgs/acme/teams", seconds=0.3)
        slow: list[requests.Response] = []
        worker = threading.Thread(target=lambda: slow.append(client().get(f"{simulator.url}/orgs/acme/teams")))
        worker.start()
        while delay.matched == 0:
            time.sleep(0.005)
        refused = client().get(f"{simulator.url}/orgs/acme/members")
        other_token = client(MEMBER).get(f"{simulator.url}/orgs/acme/members")
        worker.join()
    assert (refused.status_code, refused.headers["retry-after"]) == (403, "1")
    assert other_token.status_code == 200
    assert slow[0].status_code == 200


# -- faults


def test_an_error_fault_fires_on_the_kth_matching_request_once(sim):
    sim.add_fault("error", "/orgs/*/members", on=2, status=502)
    statuses = [client().get(f"{sim.url}/orgs/acme/members").status_code for _ in range(3)]
    assert statuses == [200, 502, 200]


@pytest.mark.parametrize(("times", "expected"), [(2, [500, 500, 200]), (None, [500, 500, 500])])
def test_an_error_fault_fires_n_times_or_always(sim, times, expected):
    sim.add_fault("error", "/orgs/acme/teams", status=500, times=times)
    assert [client().get(f"{sim.url}/orgs/acme/teams").status_code for _ in range(3)] == expected


def test_faults_can_be_set_and_cleared_over_http(sim):
    fault = {"kind": "error", "path": "/orgs/*/teams", "status": 503, "times": "always"}
    added = requests.post(f"{sim.url}/_simulator/faults", timeout=5, json=fault)
    during = client().get(f"{sim.url}/orgs/acme/teams")
    cleared = requests.delete(f"{sim.url}/_simulator/faults", timeout=5)
    after = client().get(f"{sim.url}/orgs/acme/teams")
    assert added.status_code == 201
    assert during.status_code == 503
    assert cleared.status_code == 204
    assert after.status_code == 200
    assert [entry.status for entry in sim.requests] == [503, 200]  # control calls are not logged


def test_a_secondary_limit_fault_looks_like_githubs(sim):
    sim.add_fault("secondary_rate_limit", "/orgs/acme/members", seconds=30)
    response = client().get(f"{sim.url}/orgs/acme/members")
    assert (response.status_code, response.headers["retry-after"]) == (403, "30")
    assert "secondary rate limit" in response.json()["message"]
    assert response.headers["x-ratelimit-remaining"] == "5000"


def test_a_delay_fault_makes_the_client_time_out(sim):
    sim.add_fault("delay", "/orgs/acme/teams", seconds=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client().get(f"{sim.url}/orgs/acme/teams", timeout=0.1)


def test_a_truncated_body_breaks_the_read(sim):
    sim.add_fault("truncate", "/orgs/acme/members")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client().get(f"{sim.url}/orgs/acme/members")
    assert client().get(f"{sim.url}/orgs/acme/members").status_code == 200


def test_a_disconnect_fault_drops_the_connection(sim):
    sim.add_fault("disconnect", "/orgs/acme/members")
    with pytest.raises(requests.exceptions.ConnectionError):
        client().get(f"{sim.url}/orgs/acme/members")


def test_latency_applies_to_every_matching_request(sim):
    requests.post(
        f"{sim.url}/_simulator/faults", timeout=5, json={"kind": "latency", "path": "/orgs/*", "seconds": 0.05}
    )
    session = client()
    began = time.perf_counter()
    for _ in range(3):
        session.get(f"{sim.url}/orgs/acme/teams")
    assert time.perf_counter() - began >= 0.15


# -- observing and steering the simulator


def test_stats_count_requests_by_endpoint_and_reset(sim):
    session = client()
    first = session.get(f"{sim.url}/orgs/acme/members")
    session.get(f"{sim.url}/orgs/acme/members", headers={"If-None-Match": first.headers["ETag"]})
    session.get(f"{sim.url}/repos/acme/api/keys")
    stats = requests.get(f"{sim.url}/_simulator/stats", timeout=5).json()
    requests.post(f"{sim.url}/_simulator/reset", timeout=5)
    after = session.get(f"{sim.url}/orgs/acme/teams")
    assert stats["total"] == 3
    assert stats["not_modified"] == 1
    assert stats["by_endpoint"] == {"GET /orgs/{org}/members": 2, "GET /repos/{owner}/{repo}/keys": 1}
    assert [(entry.method, entry.path, entry.status) for entry in sim.requests] == [("GET", "/orgs/acme/teams", 200)]
    assert after.headers["x-ratelimit-remaining"] == "4999"


def test_the_org_can_be_mutated_over_http(sim):
    grants = len(sim.org.grants())
    mutated = requests.post(f"{sim.url}/_simulator/mutate", timeout=5, json={"fraction": 0.2, "seed": 2}).json()
    removed = requests.post(
        f"{sim.url}/_simulator/mutate", timeout=5, json={"action": "remove_member", "args": {"login": "bob"}}
    )
    members = client().get(f"{sim.url}/orgs/acme/members").json()
    assert mutated["count"] == round(0.2 * grants)
    assert removed.status_code == 200
    assert "bob" not in {user["login"] for user in members}


def test_revocation_endpoints_change_the_org(sim):
    session = client()
    key_id = sim.org.repos["api"].keys[0].id
    responses = [
        session.delete(f"{sim.url}/repos/acme/api/collaborators/eve"),
        session.delete(f"{sim.url}/orgs/acme/teams/platform/memberships/bob"),
        session.delete(f"{sim.url}/repos/acme/api/keys/{key_id}"),
        session.delete(f"{sim.url}/repos/acme/api/collaborators/eve"),
        client(MEMBER).delete(f"{sim.url}/orgs/acme/members/dave"),
    ]
    assert [r.status_code for r in responses] == [204, 204, 204, 404, 403]
    outside = session.get(f"{sim.url}/orgs/acme/outside_collaborators").json()
    assert [user["login"] for user in outside] == ["deploy-bot[bot]"]
    assert "bob" not in sim.org.teams["platform"].members
    assert [key["title"] for key in session.get(f"{sim.url}/repos/acme/api/keys").json()] == ["backup"]


def test_it_runs_from_the_command_line_and_stops_on_sigterm(tmp_path: Path):
    token_file = tmp_path / "sim-token"
    command = [
        sys.executable,
        "-m",
        "connectors.simulators",
        "github",
        "--members",
        "5",
        "--teams",
        "2",
        "--repos",
        "3",
    ]
    process = subprocess.Popen(  # noqa: S603 - our own module
        [*command, "--token-file", str(token_file)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        response = client(token_file.read_text().strip()).get(f"{url}/orgs/acme")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
    assert url.startswith("http://127.0.0.1:")
    assert response.json()["login"] == "acme"


# -- writes: applied, logged, answered as GitHub does


def test_applied_writes_are_logged_in_order_and_failed_ones_are_not(sim):
    session = client()
    session.delete(f"{sim.url}/orgs/acme/teams/platform/memberships/bob")
    session.delete(f"{sim.url}/orgs/acme/teams/platform/memberships/bob")  # 404: nothing applied
    session.put(f"{sim.url}/orgs/acme/memberships/alice", json={"role": "admin"})
    logged = requests.get(f"{sim.url}/_simulator/writes", timeout=5).json()
    assert [(w["method"], w["path"], w["status"]) for w in logged] == [
        ("DELETE", "/orgs/acme/teams/platform/memberships/bob", 204),
        ("PUT", "/orgs/acme/memberships/alice", 200),
    ]
    requests.post(f"{sim.url}/_simulator/reset", timeout=5)
    assert sim.writes == []


def test_a_write_delay_answers_late_after_the_change_is_applied(sim):
    delay = requests.post(f"{sim.url}/_simulator/write_delay", timeout=5, json={"seconds": 2})
    with pytest.raises(requests.exceptions.ReadTimeout):
        client().delete(f"{sim.url}/repos/acme/api/collaborators/eve", timeout=0.3)
    assert "eve" not in sim.org.repos["api"].collaborators  # applied before the answer
    assert [(w.method, w.path) for w in sim.writes] == [("DELETE", "/repos/acme/api/collaborators/eve")]
    began = time.perf_counter()
    assert client().get(f"{sim.url}/repos/acme/api/keys").status_code == 200  # reads are not delayed
    assert time.perf_counter() - began < 1
    assert delay.json() == {"write_delay": 2.0}
    assert requests.post(f"{sim.url}/_simulator/write_delay", timeout=5, json={"seconds": -1}).status_code == 400


def test_removing_or_demoting_the_last_owner_is_refused_with_422(sim):
    session = client()
    responses = [
        session.delete(f"{sim.url}/orgs/acme/memberships/octo-owner"),
        session.delete(f"{sim.url}/orgs/acme/members/octo-owner"),
        session.put(f"{sim.url}/orgs/acme/memberships/octo-owner", json={"role": "member"}),
    ]
    assert [r.status_code for r in responses] == [422, 422, 422]
    assert "at least one owner" in responses[0].json()["message"]
    assert sim.org.members["octo-owner"] == "admin"
    assert sim.writes == []


def test_a_team_synced_from_an_identity_provider_refuses_membership_changes(sim):
    sim.org.teams["platform"].synced = True
    response = client().delete(f"{sim.url}/orgs/acme/teams/platform/memberships/bob")
    assert response.status_code == 403
    assert "identity provider" in response.json()["message"]
    assert "bob" in sim.org.teams["platform"].members


def test_a_single_deploy_key_and_a_teams_repository_permission_can_be_read(sim):
    session = client()
    key = sim.org.repos["api"].keys[0]
    found = session.get(f"{sim.url}/repos/acme/api/keys/{key.id}")
    missing = session.get(f"{sim.url}/repos/acme/api/keys/999")
    team_repo = session.get(f"{sim.url}/orgs/acme/teams/platform/repos/acme/api")
    detailed = session.get(
        f"{sim.url}/orgs/acme/teams/platform/repos/acme/api",
        headers={"Accept": "application/vnd.github.v3.repository+json"},
    )
    no_grant = session.get(f"{sim.url}/orgs/acme/teams/platform/repos/acme/web")
    assert (found.status_code, found.json()["id"], found.json()["read_only"]) == (200, key.id, False)
    assert missing.status_code == 404
    assert (team_repo.status_code, detailed.json()["role_name"], no_grant.status_code) == (204, "write", 404)


# -- GraphQL: SAML external identities

SAML_QUERY = """
query($org: String!, $first: Int, $after: String) {
  organization(login: $org) {
    samlIdentityProvider { externalIdentities(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { samlIdentity { nameId } user { login } } } } }
  }
}"""


def graphql(sim, token=OWNER, path="/api/graphql", **variables):
    body = {"query": SAML_QUERY, "variables": {"org": "acme", "first": 100} | variables}
    return client(token).post(f"{sim.url}{path}", json=body)


def test_saml_identities_are_paged_by_cursor(sim):
    for number in range(150):
        sim.org.add_saml_identity(None, f"person{number}@example.com")
    sim.org.add_saml_identity("alice", "Alice.Smith@Example.com")
    pages, after = [], None
    while True:
        response = graphql(sim, after=after)
        assert response.status_code == 200
        identities = response.json()["data"]["organization"]["samlIdentityProvider"]["externalIdentities"]
        pages.append(identities["edges"])
        if not identities["pageInfo"]["hasNextPage"]:
            break
        after = identities["pageInfo"]["endCursor"]
    assert [len(page) for page in pages] == [100, 51]
    last = pages[-1][-1]["node"]
    assert (last["samlIdentity"]["nameId"], last["user"]) == ("Alice.Smith@Example.com", {"login": "alice"})
    assert pages[0][0]["node"]["user"] is None


def test_graphql_errors_come_with_http_200(sim):
    sim.org.add_saml_identity("alice", "alice@example.com")
    no_first = graphql(sim, first=None).json()
    too_many = graphql(sim, first=101).json()
    bad_cursor = graphql(sim, after="bm9wZQ==").json()
    scopes = graphql(sim, token=NO_ORG_SCOPE).json()
    other_org = graphql(sim, org="globex").json()
    assert "must provide a `first`" in no_first["errors"][0]["message"]
    assert "exceeds the `first` limit of 100" in too_many["errors"][0]["message"]
    assert bad_cursor["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS"
    assert scopes["errors"][0]["type"] == "INSUFFICIENT_SCOPES" and "data" not in scopes
    assert other_org["data"] == {"organization": None} and other_org["errors"][0]["type"] == "NOT_FOUND"
    sim.fail_graphql("RATE_LIMITED", "API rate limit exceeded")
    queued = graphql(sim)
    assert (queued.status_code, queued.json()["errors"][0]["type"]) == (200, "RATE_LIMITED")
    assert "errors" not in graphql(sim).json()


def test_the_identity_provider_is_null_for_non_owners_and_orgs_without_saml(sim):
    without = graphql(sim).json()
    sim.org.add_saml_identity("alice", "alice@example.com")
    member = graphql(sim, token=MEMBER).json()
    assert without == member == {"data": {"organization": {"samlIdentityProvider": None}}}


def test_graphql_lives_at_graphql_and_api_graphql_but_not_under_api_v3(sim):
    sim.org.add_saml_identity("alice", "alice@example.com")
    assert "data" in graphql(sim, path="/graphql").json()
    assert graphql(sim, path="/api/v3/graphql").status_code == 404
    assert sim.writes == []  # a query is not a write


def test_a_generated_org_can_have_saml_identities_without_changing_the_rest():
    plain = GitHubOrg.generate("acme", seed=4, members=40, teams=4, repos=6)
    saml = GitHubOrg.generate("acme", seed=4, members=40, teams=4, repos=6, saml=True)
    linked = [identity for identity in saml.external_identities if identity.login]
    assert plain.facts() == saml.facts()
    assert saml.saml_enabled and not plain.saml_enabled
    assert 30 <= len(linked) < 40
    assert all(identity.emails[0] == identity.name_id.lower() for identity in linked)
    assert any(identity.login is None for identity in saml.external_identities)
