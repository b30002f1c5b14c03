"""The GitLab simulator answers like GitLab: pagination headers, totals, rate limits, member rules, shares."""

from __future__ import annotations

import time

import pytest
import requests

from connectors.simulators.gitlab import GitLabOrg, GitLabSimulator
from connectors.simulators.server import ERROR

TOKEN = "glpat-sim-admin-0123456789"
NOW = 1_800_000_000.0


def org_with_tree() -> GitLabOrg:
    org = GitLabOrg()
    org.add_token("root", TOKEN)
    for name in ("ann", "ben", "cid", "eve"):
        org.add_user(name)
    org.add_group("top")
    org.add_group("sub", parent="top")
    org.add_group("deep", parent="top/sub")
    org.add_project("app", group="top/sub/deep")
    org.add_group("ops")
    org.add_group("oncall", parent="ops")
    org.add_group("parent")
    org.add_project("shared-in", group="parent")
    org.add_member("top", "ann", 50)
    org.add_member("top/sub/deep", "ann", 50)
    org.add_member("top/sub/deep/app", "ann", 40)
    org.add_member("ops", "cid", 40)
    org.add_member("ops/oncall", "eve", 30)
    org.share("top/sub", "ops", 20)
    org.share("parent/shared-in", "top", 30)
    return org


@pytest.fixture
def sim():
    with GitLabSimulator(org_with_tree()) as simulator:
        yield simulator


def get(sim, path, token=TOKEN, **params):
    return requests.get(f"{sim.url}/api/v4{path}", params=params, headers={"PRIVATE-TOKEN": token}, timeout=5)


def call(sim, method, path, **params):
    return requests.request(
        method, f"{sim.url}/api/v4{path}", params=params, headers={"PRIVATE-TOKEN": TOKEN}, timeout=5
    )


def test_it_accepts_private_token_and_bearer_and_refuses_others(sim):
    assert get(sim, "/user").json()["username"] == "root"
    bearer = requests.get(f"{sim.url}/api/v4/user", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert bearer.status_code == 200
    assert get(sim, "/user", token="nope").status_code == 401


def test_pages_carry_gitlab_headers_and_links(sim):
    for i in range(45):
        sim.org.add_user(f"u{i}")
    first = get(sim, "/users", per_page=20)
    assert first.headers["x-total"] == str(len(sim.org.users)) and first.headers["x-next-page"] == "2"
    assert first.links["next"]["url"].endswith("page=2&per_page=20") and "last" in first.links
    last = get(sim, "/users", per_page=20, page=int(first.headers["x-total-pages"]))
    assert last.headers["x-next-page"] == "" and "next" not in last.links


def test_totals_and_the_last_link_are_omitted_above_ten_thousand_rows(sim):
    for i in range(10_001):
        sim.org.add_user(f"bulk{i}")
    response = get(sim, "/users", per_page=100)
    assert "x-total" not in response.headers and "x-total-pages" not in response.headers
    assert "last" not in response.links and response.headers["x-next-page"] == "2"


def test_rate_limit_headers_and_429_with_and_without_retry_after():
    clock = [NOW]
    with GitLabSimulator(org_with_tree(), clock=lambda: clock[0], rate_limit=2) as sim:
        first = get(sim, "/user")
        assert first.headers["RateLimit-Limit"] == "2" and first.headers["RateLimit-Remaining"] == "1"
        get(sim, "/user")
        limited = get(sim, "/user")
        assert limited.status_code == 429 and limited.text == "Retry later\n" and "Retry-After" in limited.headers
        sim.retry_after_header = False
        assert "Retry-After" not in get(sim, "/user").headers
        clock[0] += 61
        assert get(sim, "/user").status_code == 200


def test_members_lists_only_direct_members_and_members_all_adds_inherited_and_shared(sim):
    sub = sim.org.group("top/sub")
    assert get(sim, f"/groups/{sub.id}/members").json() == []
    cid = sim.org.user("cid").id
    assert get(sim, f"/groups/{sub.id}/members/all/{cid}").json()["access_level"] == 20  # capped by the share
    eve = sim.org.user("eve").id  # member of a subgroup of the invited group: nothing
    assert get(sim, f"/groups/{sub.id}/members/all/{eve}").status_code == 404


def test_deleting_at_an_inheriting_level_is_404(sim):
    ann = sim.org.user("ann").id
    sub = sim.org.group("top/sub")
    assert call(sim, "DELETE", f"/groups/{sub.id}/members/{ann}").status_code == 404
    assert ann in sim.org.group("top").members


def test_deleting_a_group_member_also_deletes_memberships_below_unless_skip_subresources(sim):
    ann = sim.org.user("ann").id
    top = sim.org.group("top")
    assert call(sim, "DELETE", f"/groups/{top.id}/members/{ann}", skip_subresources="true").status_code == 204
    assert ann in sim.org.group("top/sub/deep").members
    sim.org.add_member("top", "ann", 50)
    assert call(sim, "DELETE", f"/groups/{top.id}/members/{ann}").status_code == 204
    assert ann not in sim.org.group("top/sub/deep").members and ann not in sim.org.project("top/sub/deep/app").members


def test_a_downgrade_below_an_inherited_level_is_refused(sim):
    ann = sim.org.user("ann").id
    deep = sim.org.group("top/sub/deep")
    response = call(sim, "PUT", f"/groups/{deep.id}/members/{ann}", access_level=30)
    assert response.status_code == 400 and "inherited" in response.json()["message"]["access_level"][0]


def test_shares_are_only_in_the_single_group_answer_and_projects_shared_in_are_listed_by_default(sim):
    sub = sim.org.group("top/sub")
    assert "shared_with_groups" not in get(sim, f"/groups/{sim.org.group('top').id}/descendant_groups").json()[0]
    assert get(sim, f"/groups/{sub.id}").json()["shared_with_groups"][0]["group_full_path"] == "ops"
    top = sim.org.group("top")
    with_shared = {p["path_with_namespace"] for p in get(sim, f"/groups/{top.id}/projects").json()}
    own = {p["path_with_namespace"] for p in get(sim, f"/groups/{top.id}/projects", with_shared="false").json()}
    assert "parent/shared-in" in with_shared and "parent/shared-in" not in own
    assert (
        get(sim, f"/projects/{sim.org.project('parent/shared-in').id}").json()["shared_with_groups"][0]["expire_at"]
        is None
    )


def test_groups_are_reachable_by_url_encoded_full_path(sim):
    assert get(sim, "/groups/top%2Fsub%2Fdeep").json()["full_path"] == "top/sub/deep"


def test_revoked_access_tokens_stay_listed_inactive_and_their_bot_leaves(sim):
    token = sim.org.add_access_token("top", "ci", 30)
    top = sim.org.group("top")
    assert call(sim, "DELETE", f"/groups/{top.id}/access_tokens/{token.id}").status_code == 204
    listed = get(sim, f"/groups/{top.id}/access_tokens").json()
    assert listed[0]["revoked"] is True and listed[0]["active"] is False
    assert token.user_id not in top.members
    assert call(sim, "DELETE", f"/groups/{top.id}/access_tokens/{token.id}").status_code == 404


def test_injected_faults_look_like_gitlab(sim):
    sim.add_fault(ERROR, "/user", status=429)
    throttled = get(sim, "/user")
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers


def test_generate_scales_to_two_thousand_members_and_projects_quickly():
    started = time.perf_counter()
    org = GitLabOrg.generate(3, members=2000, subgroups=200, projects=2000)
    bound = org.rest_lower_bound(["acme"])
    assert time.perf_counter() - started < 5
    facts = org.facts()
    assert facts.projects == 2000 and facts.groups == 203 and facts.direct_memberships >= 2000
    # 201 groups: detail + 4 lists each; 2000 projects: 5 lists each; users, descendants, projects pages.
    assert bound >= 201 * 5 + 2000 * 5 + 21 + 3 + 20


def test_generated_data_is_deterministic():
    assert GitLabOrg.generate(5).facts() == GitLabOrg.generate(5).facts()


def test_mutations_change_a_fraction_of_memberships_and_named_ones_over_http(sim):
    before = sim.org.facts().direct_memberships
    body = requests.post(f"{sim.url}/_simulator/mutate", json={"fraction": 0.6, "seed": 1}, timeout=5).json()
    removed = sum(1 for change in body["changes"] if change["action"] == "remove_member")
    assert body["count"] == 3 and sim.org.facts().direct_memberships == before - removed
    args = {"path": "ops", "username": "cid"}
    requests.post(f"{sim.url}/_simulator/mutate", json={"action": "remove_member", "args": args}, timeout=5)
    assert sim.org.user("cid").id not in sim.org.group("ops").members


def test_generated_people_have_sso_identities_without_changing_the_rest():
    plain = GitLabOrg.generate(5, members=40, subgroups=4, projects=8, saml=False)
    org = GitLabOrg.generate(5, members=40, subgroups=4, projects=8)
    people = [user for user in org.users.values() if user.username.startswith("user")]
    providers = [{i.provider for i in user.identities} for user in people]
    assert plain.facts() == org.facts()
    assert sum("group_saml" in p for p in providers) == 30  # three in four
    assert any("ldapmain" in p for p in providers) and any("github" in p for p in providers)
    assert not any(user.identities for user in plain.users.values())


def test_group_saml_identities_show_on_group_members_only_to_owners(sim):
    sim.org.link_group_saml("top", "ann", "Ann@Corp.example")
    sim.org.add_token("cid", "glpat-sim-cid-0123456789")  # cid: no role in top
    top, app = sim.org.group("top").id, sim.org.project("top/sub/deep/app").id
    ann = sim.org.user("ann").id
    as_admin = get(sim, f"/groups/{top}/members/{ann}").json()
    on_project = get(sim, f"/projects/{app}/members/{ann}").json()
    inherited = get(sim, f"/groups/{sim.org.group('top/sub/deep').id}/members/{ann}").json()
    assert as_admin["group_saml_identity"]["extern_uid"] == "Ann@Corp.example"
    assert inherited["group_saml_identity"]["saml_provider_id"] == sim.org.group("top").saml_provider_id
    assert on_project["group_saml_identity"] is None
    assert get(sim, f"/users/{ann}").json()["identities"][0]["extern_uid"] == "Ann@Corp.example"
    assert "identities" not in get(sim, f"/users/{ann}", token="glpat-sim-cid-0123456789").json()
    with pytest.raises(ValueError, match="top-level"):
        sim.org.link_group_saml("top/sub", "ann", "x@y")
