"""The Docker Hub simulator behaves like the Docker Hub API where connectors can go wrong.

These tests talk to the simulator with ``requests`` directly: they test the simulator itself,
not a connector.
"""

from __future__ import annotations

import argparse
import base64
import json
import stat
import time

import pytest
import requests

from connectors.simulators.dockerhub import DockerHubOrg, DockerHubSimulator, add_arguments, build
from connectors.simulators.dockerhub_org import OWNERS_TEAM, TYPE_ORG, TYPE_REPO, implied_scopes
from connectors.simulators.server import SECONDARY_RATE_LIMIT
from tests.fakes import FakeTime

OWNER = "dckr_pat_owner"
MEMBER = "dckr_pat_member"


def small_org() -> DockerHubOrg:
    org = DockerHubOrg("acme")
    org.add_member("olivia", "owner")
    org.add_member("eddie", "editor")
    org.add_member("ada")
    org.add_team("devs")
    org.add_team_member("devs", "ada")
    org.add_repo("api")
    org.add_repo("web", private=False)
    org.grant_team("devs", "api", "write")
    org.add_invite("ivy", "member")
    org.add_invite("pat@example.com", "editor", team="devs")
    return org


@pytest.fixture
def clock():
    return FakeTime()


@pytest.fixture
def org():
    return small_org()


@pytest.fixture
def sim(org, clock):
    with DockerHubSimulator(org, pats={OWNER: "olivia", MEMBER: "ada"}, clock=clock.clock) as simulator:
        yield simulator


def login(sim, identifier: str, secret: str) -> requests.Response:
    return requests.post(f"{sim.url}/v2/auth/token", json={"identifier": identifier, "secret": secret}, timeout=5)


def bearer(sim, identifier: str = "olivia", secret: str = OWNER) -> dict[str, str]:
    response = login(sim, identifier, secret)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def get(sim, path: str, headers=None, **params) -> requests.Response:
    return requests.get(f"{sim.url}{path}", headers=headers or {}, params=params, timeout=5)


# --- auth -------------------------------------------------------------------------


def test_a_personal_access_token_signs_in_for_a_jwt_that_expires_in_ten_minutes(sim, clock):
    response = login(sim, "olivia", OWNER)
    token = response.json()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 600
    headers = {"Authorization": f"Bearer {token}"}
    assert get(sim, "/v2/orgs/acme/members", headers).status_code == 200
    clock.now += 601
    expired = get(sim, "/v2/orgs/acme/members", headers)
    assert (expired.status_code, expired.json()["detail"]) == (401, "token expired")


@pytest.mark.parametrize(("identifier", "secret"), [("olivia", "dckr_pat_wrong"), ("ada", OWNER), ("", OWNER)])
def test_a_wrong_identifier_or_secret_is_refused(sim, identifier, secret):
    assert login(sim, identifier, secret).status_code in (400, 401)


def test_an_organization_access_token_signs_in_with_the_orgs_name_while_active(sim, org):
    oat = org.add_token("ci", [(TYPE_ORG, "acme", ["scope-member-read"])])
    assert login(sim, "olivia", oat.secret).status_code == 401
    assert login(sim, "acme", oat.secret).status_code == 200
    assert org.tokens[oat.id].last_used_at == "2023-11-14T22:13:20Z"
    org.set_token_active(oat.id, False)
    assert login(sim, "acme", oat.secret).status_code == 401


def test_calls_without_a_token_are_refused_except_the_public_repository_list(sim):
    assert get(sim, "/v2/orgs/acme/members").status_code == 401
    public = get(sim, "/v2/namespaces/acme/repositories")
    assert [repo["name"] for repo in public.json()["results"]] == ["web"]


# --- lists -------------------------------------------------------------------------


def test_lists_are_pages_with_count_next_and_previous_urls_and_a_page_past_the_end_is_invalid(clock):
    org = DockerHubOrg.generate("acme", seed=3, members=250, teams=2, repos=1)
    with DockerHubSimulator(org, pats={OWNER: org.owner_username}, clock=clock.clock) as sim:
        headers = bearer(sim, org.owner_username)
        first = get(sim, "/v2/orgs/acme/members", headers, type="member", page_size=1000).json()
        assert (first["count"], len(first["results"]), first["previous"]) == (250, 100, None)
        second = requests.get(first["next"], headers=headers, timeout=5).json()
        third = requests.get(second["next"], headers=headers, timeout=5).json()
        assert (len(third["results"]), third["next"]) == (50, None)
        assert second["previous"].endswith("page=1")
        beyond = get(sim, "/v2/orgs/acme/members", headers, page=4, page_size=100)
        assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})
        usernames = [m["username"] for page in (first, second, third) for m in page["results"]]
        assert sorted(usernames) == sorted(org.members)


def test_roles_come_back_capitalised_with_each_members_teams(sim):
    members = get(sim, "/v2/orgs/acme/members", bearer(sim), type="member").json()["results"]
    assert {m["username"]: (m["role"], m["groups"]) for m in members} == {
        "olivia": ("Owner", [OWNERS_TEAM]),
        "eddie": ("Editor", []),
        "ada": ("Member", ["devs"]),
    }


def test_invitees_are_listed_among_members_only_when_asked(sim):
    headers = bearer(sim)
    plain = get(sim, "/v2/orgs/acme/members", headers).json()["results"]
    with_invites = get(sim, "/v2/orgs/acme/members", headers, invites="true").json()["results"]
    assert "Invitee" not in {m["role"] for m in plain}
    assert [m["email"] or m["username"] for m in with_invites if m["role"] == "Invitee"] == ["ivy", "pat@example.com"]


def test_the_invite_list_is_not_paginated_and_owners_only(sim):
    invites = get(sim, "/v2/orgs/acme/invites", bearer(sim)).json()
    assert set(invites) == {"data"}
    assert [(i["invitee"], i["role"], i["team"]) for i in invites["data"]] == [
        ("ivy", "member", ""),
        ("pat@example.com", "editor", "devs"),
    ]
    assert get(sim, "/v2/orgs/acme/invites", bearer(sim, "ada", MEMBER)).status_code == 403


def test_emails_are_shown_to_owners_not_to_members(sim):
    owner_view = get(sim, "/v2/orgs/acme/members", bearer(sim)).json()["results"]
    member_view = get(sim, "/v2/orgs/acme/members", bearer(sim, "ada", MEMBER)).json()["results"]
    assert all(m["email"] for m in owner_view)
    assert not any(m["email"] for m in member_view)


def test_team_grants_on_a_repository_name_the_group(sim, org):
    body = get(sim, "/v2/repositories/acme/api/groups", bearer(sim)).json()
    assert body["results"] == [{"group_id": org.teams["devs"].id, "group_name": "devs", "permission": "write"}]
    assert get(sim, "/v2/repositories/acme/api/groups/", bearer(sim)).status_code == 200  # trailing slash too
    assert get(sim, "/v2/repositories/acme/api/groups", bearer(sim, "ada", MEMBER)).status_code == 403


def test_a_member_sees_public_repositories_and_those_of_their_teams(sim, org):
    org.add_repo("secret")
    names = [
        r["name"] for r in get(sim, "/v2/namespaces/acme/repositories", bearer(sim, "ada", MEMBER)).json()["results"]
    ]
    assert names == ["api", "web"]


# --- organization access tokens ------------------------------------------------------


def test_an_oat_without_repository_list_silently_sees_public_repositories_only(sim, org):
    narrow = org.add_token("narrow", [(TYPE_REPO, "acme/*", ["scope-image-pull"])])
    wide = org.add_token("wide", [(TYPE_ORG, "acme", ["scope-repository-list"])])
    narrow_view = get(sim, "/v2/namespaces/acme/repositories", bearer(sim, "acme", narrow.secret))
    wide_view = get(sim, "/v2/namespaces/acme/repositories", bearer(sim, "acme", wide.secret))
    assert (narrow_view.status_code, narrow_view.json()["count"]) == (200, 1)
    assert wide_view.json()["count"] == 2


def test_legacy_repository_routes_and_token_management_refuse_every_oat(sim, org):
    oat = org.add_token("wide", [(TYPE_ORG, "acme", ["scope-repository-list", "scope-member-edit"])])
    headers = bearer(sim, "acme", oat.secret)
    for path in ("/v2/repositories/acme", "/v2/repositories/acme/", "/v2/orgs/acme/access-tokens"):
        refused = get(sim, path, headers)
        assert (refused.status_code, refused.json()["message"]) == (
            403,
            "token issued from organization access token is not allowed",
        )
    assert get(sim, "/v2/repositories/acme/", bearer(sim)).status_code == 200


def test_an_oat_needs_the_scope_for_each_call(sim, org):
    reader = org.add_token("reader", [(TYPE_ORG, "acme", ["scope-member-read"])])
    headers = bearer(sim, "acme", reader.secret)
    assert get(sim, "/v2/orgs/acme/members", headers).status_code == 200
    assert get(sim, "/v2/orgs/acme/groups", headers).status_code == 403
    delete = requests.delete(f"{sim.url}/v2/orgs/acme/members/ada", headers=headers, timeout=5)
    assert delete.status_code == 403


def test_the_token_list_says_total_and_omits_scopes_which_only_the_single_read_carries(sim, org):
    token = org.add_token("ci", [(TYPE_REPO, "acme/*", ["scope-image-push"])], expires_at="2030-01-01T00:00:00Z")
    headers = bearer(sim)
    listed = get(sim, "/v2/orgs/acme/access-tokens", headers).json()
    assert set(listed) == {"total", "next", "previous", "results"}
    assert "resources" not in listed["results"][0] and "secret" not in json.dumps(listed)
    single = get(sim, f"/v2/orgs/acme/access-tokens/{token.id}", headers).json()
    assert single["resources"] == [{"type": "TYPE_REPO", "path": "acme/*", "scopes": ["scope-image-push"]}]
    assert token.secret not in json.dumps(single)


def test_a_token_is_deactivated_by_patch_and_deleted_by_delete(sim, org):
    token = org.add_token("ci", [(TYPE_REPO, "acme/*", ["scope-image-push"])])
    headers, url = bearer(sim), f"{sim.url}/v2/orgs/acme/access-tokens/{token.id}"
    patched = requests.patch(url, json={"is_active": False}, headers=headers, timeout=5)
    assert (patched.status_code, patched.json()["is_active"]) == (200, False)
    assert requests.delete(url, headers=headers, timeout=5).status_code == 204
    assert requests.delete(url, headers=headers, timeout=5).status_code == 404


def test_scopes_include_the_scopes_they_imply():
    assert implied_scopes(["scope-image-delete"]) == {"scope-image-delete", "scope-image-push", "scope-image-pull"}
    assert implied_scopes(["scope-repo-group-admin"]) >= {"scope-repo-group-read"}


# --- writes ---------------------------------------------------------------------------


def test_a_role_must_be_sent_in_lowercase(sim, org):
    headers, url = bearer(sim), f"{sim.url}/v2/orgs/acme/members/ada"
    refused = requests.put(url, json={"role": "Editor"}, headers=headers, timeout=5)
    assert refused.status_code == 400 and org.members["ada"] == "member"
    accepted = requests.put(url, json={"role": "editor"}, headers=headers, timeout=5)
    assert (accepted.status_code, accepted.json()["role"]) == (200, "Editor")


def test_the_last_owner_cannot_be_removed_or_demoted(sim, org):
    headers = bearer(sim)
    removed = requests.delete(f"{sim.url}/v2/orgs/acme/members/olivia", headers=headers, timeout=5)
    demoted = requests.delete(f"{sim.url}/v2/orgs/acme/groups/owners/members/olivia", headers=headers, timeout=5)
    assert (removed.status_code, demoted.status_code) == (400, 400)
    assert "last owner" in removed.json()["message"] and org.members["olivia"] == "owner"


def test_leaving_the_owners_team_makes_an_owner_a_member(sim, org):
    org.add_member("oscar", "owner")
    response = requests.delete(f"{sim.url}/v2/orgs/acme/groups/owners/members/oscar", headers=bearer(sim), timeout=5)
    assert response.status_code == 204
    assert org.members["oscar"] == "member"


def test_removing_a_member_removes_them_from_every_team_and_absent_things_are_404(sim, org):
    headers = bearer(sim)
    assert requests.delete(f"{sim.url}/v2/orgs/acme/members/ada", headers=headers, timeout=5).status_code == 204
    assert "ada" not in org.teams["devs"].members
    assert requests.delete(f"{sim.url}/v2/orgs/acme/members/ada", headers=headers, timeout=5).status_code == 404
    assert requests.delete(f"{sim.url}/v2/invites/nope", headers=headers, timeout=5).status_code == 404
    gid = org.teams["devs"].id
    url = f"{sim.url}/v2/repositories/acme/api/groups/{gid}"
    assert requests.patch(url, json={"permission": "read"}, headers=headers, timeout=5).json()["permission"] == "read"
    assert requests.delete(url, headers=headers, timeout=5).status_code == 204
    assert requests.delete(url, headers=headers, timeout=5).status_code == 404


# --- limits and faults ---------------------------------------------------------------


def test_every_answer_carries_the_minute_limit_and_an_exceeded_limit_is_429_with_an_epoch(clock, org):
    with DockerHubSimulator(org, pats={OWNER: "olivia"}, clock=clock.clock, rate_limit=3) as sim:
        headers = bearer(sim)
        first = get(sim, "/v2/orgs/acme/groups", headers)
        assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("3", "2")
        get(sim, "/v2/orgs/acme/groups", headers)
        get(sim, "/v2/orgs/acme/groups", headers)
        limited = get(sim, "/v2/orgs/acme/groups", headers)
        assert limited.status_code == 429
        assert int(limited.headers["X-Retry-After"]) == int(limited.headers["X-RateLimit-Reset"]) > clock.now
        clock.now = int(limited.headers["X-Retry-After"]) + 1
        assert get(sim, "/v2/orgs/acme/groups", headers).status_code == 200


def test_an_injected_rate_limit_answers_with_an_epoch_retry_after(sim, clock):
    sim.add_fault(SECONDARY_RATE_LIMIT, "/v2/orgs/*/groups", seconds=30)
    limited = get(sim, "/v2/orgs/acme/groups", bearer(sim))
    assert (limited.status_code, int(limited.headers["X-Retry-After"])) == (429, int(clock.now) + 30)


# --- generation, facts, lower bound, control, command line ----------------------------------


def test_generation_is_deterministic_and_scales():
    started = time.monotonic()
    big = DockerHubOrg.generate("acme", seed=9, members=5000, teams=300, repos=2000, tokens=20)
    assert time.monotonic() - started < 3
    assert (len(big.members), len(big.repos), len(big.teams) - 1, len(big.tokens)) == (5000, 2000, 300, 20)
    again = DockerHubOrg.generate("acme", seed=9, members=5000, teams=300, repos=2000, tokens=20)
    assert again.facts() == big.facts()
    assert DockerHubOrg.generate("acme", seed=10).facts() != DockerHubOrg.generate("acme", seed=9).facts()


def test_the_lower_bound_counts_one_request_per_page_per_repository_and_per_token():
    org = DockerHubOrg.generate("acme", seed=1, members=250, teams=5, repos=120, tokens=3)
    # login + token list + 3 tokens + 3 member pages + teams + invites + 2 repository pages + 120 grant lists
    assert org.rest_lower_bound() == 1 + 1 + 3 + 3 + 1 + 1 + 2 + 120


def test_mutation_changes_grants_and_the_control_endpoints_expose_it(sim, org):
    before = org.facts()
    changed = requests.post(f"{sim.url}/_simulator/mutate", json={"fraction": 0.5, "seed": 3}, timeout=5).json()
    assert changed["count"] >= 1 and org.facts() != before
    action = {"action": "remove_member", "args": {"username": "ada"}}
    assert requests.post(f"{sim.url}/_simulator/mutate", json=action, timeout=5).status_code == 200
    assert "ada" not in org.members
    info = requests.get(f"{sim.url}/_simulator/info", timeout=5).json()
    assert info["rest_lower_bound"] == org.rest_lower_bound() and info["counts"]["members"] == 2


def test_the_command_line_builds_a_small_demo_org_and_writes_the_token_file(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_arguments(parser)
    token_file = tmp_path / "hub-token"
    simulator = build(parser.parse_args(["--seed", "7", "--token-file", str(token_file)]))
    token = token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert simulator.pats == {token: "acmeowner"}
    assert "username=acmeowner" in "\n".join(simulator.describe())
    with simulator:
        assert login(simulator, "acmeowner", token).status_code == 200
    assert (len(simulator.org.members), len(simulator.org.repos)) == (25, 15)
