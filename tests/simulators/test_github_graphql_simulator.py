"""The GitHub simulator's GraphQL API: GitHub's cost formula, limits and pagination, over real HTTP.

Limits: https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
"""

import pytest
import requests

from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.simulators.server import ERROR

OWNER = "ghp_" + "simOwnerGraphql0123456789abcdefghijklm"
MEMBER = "ghp_" + "simMemberGraphql0123456789abcdefghijkl"

TEAMS = """query($first: Int!) { organization(login: "acme") { teams(first: $first) {
  nodes { slug members(first: 100, membership: IMMEDIATE) { edges { role node { login } } }
          repositories(first: 100) { edges { permission node { name } } } } } }
  rateLimit { cost remaining used } }"""


@pytest.fixture
def org():
    org = GitHubOrg.generate("acme", seed=4, members=40, outside_collaborators=2, teams=6, repos=12)
    org.add_member("mona", "member", two_factor=False)
    org.add_team("platform")
    org.add_team("platform-ci", parent="platform")
    org.add_team_member("platform", "mona", "member")
    org.add_team_member("platform-ci", org.owner_login, "member")
    return org


@pytest.fixture
def sim(org):
    tokens = {OWNER: Token(org.owner_login), MEMBER: Token("mona")}
    with GitHubSimulator(org, tokens=tokens) as simulator:
        yield simulator


def post(sim, query: str, variables: dict | None = None, token: str = OWNER) -> requests.Response:
    return requests.post(
        f"{sim.url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_cost_follows_githubs_formula_and_is_charged_to_the_graphql_quota(sim):
    # 1 request for the teams + 100 teams x 2 inner connections = 201 requests -> 2 points.
    response = post(sim, TEAMS, {"first": 100})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body
    assert body["data"]["rateLimit"] == {"cost": 2, "remaining": 4998, "used": 2}
    assert response.headers["x-ratelimit-resource"] == "graphql"
    assert response.headers["x-ratelimit-used"] == "2"
    # 1 + 40 x 2 = 81 requests round to 1 point: GitHub charges at least one.
    assert post(sim, TEAMS, {"first": 40}).json()["data"]["rateLimit"]["cost"] == 1
    assert sim.stats()["graphql"] == {"points": 3, "queries": 2, "rate_limited": 0}
    # REST's hourly requests are a separate quota.
    core = requests.get(f"{sim.url}/rate_limit", headers={"Authorization": f"Bearer {OWNER}"}, timeout=10).json()
    assert core["resources"]["core"]["used"] == 0 and core["resources"]["graphql"]["used"] == 3


def test_connections_need_first_of_at_most_100(sim):
    missing = post(sim, 'query { organization(login: "acme") { teams { nodes { slug } } } }').json()
    assert "must provide a `first` or `last` value" in missing["errors"][0]["message"]
    too_many = post(sim, TEAMS, {"first": 101}).json()
    assert "exceeds the `first` limit of 100 records" in too_many["errors"][0]["message"]
    assert sim.stats()["graphql"]["points"] == 0


def test_a_query_reaching_more_than_500000_nodes_is_refused_unrun(sim):
    # 100 teams x 100 repositories x 100 collaborators = 1,000,000 collaborators.
    query = """query { organization(login: "acme") { teams(first: 100) { nodes { repositories(first: 100) {
      nodes { collaborators(first: 100) { nodes { login } } } } } } } }"""
    body = post(sim, query).json()
    assert body["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "data" not in body and sim.stats()["graphql"]["points"] == 0


def test_first_and_after_walk_the_members_in_rest_order(sim, org):
    query = """query($after: String) { organization(login: "acme") {
      membersWithRole(first: 7, after: $after) {
        pageInfo { hasNextPage endCursor } edges { role node { login } } } } }"""
    seen, after = [], None
    while True:
        connection = post(sim, query, {"after": after}).json()["data"]["organization"]["membersWithRole"]
        seen.extend((edge["node"]["login"], edge["role"]) for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    rest = sorted(org.members.items(), key=lambda item: org.users[item[0]].id)
    assert seen == [(login, role.upper()) for login, role in rest]
    bad = post(sim, query, {"after": "bm90LWEtY3Vyc29y"}).json()
    assert bad["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS"


def test_team_members_immediate_or_with_child_teams_and_owners_as_maintainers(sim, org):
    query = """query($membership: TeamMembershipType!) { organization(login: "acme") { team(slug: "platform") {
      members(first: 100, membership: $membership) { edges { role node { login } } } } } }"""

    def members(membership: str) -> dict[str, str]:
        edges = post(sim, query, {"membership": membership}).json()["data"]["organization"]["team"]["members"]
        return {edge["node"]["login"]: edge["role"] for edge in edges["edges"]}

    assert members("IMMEDIATE") == {"mona": "MEMBER"}
    assert members("ALL") == {"mona": "MEMBER", org.owner_login: "MAINTAINER"}
    assert members("CHILD_TEAM") == {org.owner_login: "MAINTAINER"}


def test_two_factor_state_is_shown_to_owners_only(sim):
    query = """query { organization(login: "acme") { membersWithRole(first: 100) {
      edges { hasTwoFactorEnabled node { login } } } } }"""

    def two_factor(token: str) -> dict:
        edges = post(sim, query, token=token).json()["data"]["organization"]["membersWithRole"]["edges"]
        return {edge["node"]["login"]: edge["hasTwoFactorEnabled"] for edge in edges}

    assert two_factor(OWNER)["mona"] is False
    assert set(two_factor(MEMBER).values()) == {None}


def test_an_exhausted_quota_answers_rate_limited_with_http_200(sim):
    sim.graphql_limit = 3
    assert post(sim, TEAMS, {"first": 100}).status_code == 200  # 2 of 3 points
    limited = post(sim, TEAMS, {"first": 100})
    assert limited.status_code == 200
    assert limited.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert limited.headers["x-ratelimit-remaining"] == "1"
    assert limited.headers["x-ratelimit-resource"] == "graphql"
    assert sim.stats()["graphql"] == {"points": 2, "queries": 1, "rate_limited": 1}


def test_injected_timeouts_answer_like_github(sim):
    sim.add_fault(ERROR, "/graphql", status=504)
    timed_out = post(sim, TEAMS, {"first": 100})
    assert timed_out.status_code == 504
    assert "couldn't respond to your request in time" in timed_out.json()["message"]
    assert post(sim, TEAMS, {"first": 100}).status_code == 200


def test_repository_collaborators_name_the_direct_role_in_their_permission_source(sim, org):
    org.add_collaborator(next(iter(org.repos)), "mona", "deployer")  # a custom role built on write
    name = next(iter(org.repos))
    query = """query($name: String!) { repository(owner: "acme", name: $name) {
      collaborators(first: 100, affiliation: DIRECT) { edges { permission node { login }
        permissionSources { roleName source { ... on Repository { name } } } } } } }"""
    edges = post(sim, query, {"name": name}).json()["data"]["repository"]["collaborators"]["edges"]
    mona = next(edge for edge in edges if edge["node"]["login"] == "mona")
    assert mona["permission"] == "WRITE"
    assert mona["permissionSources"] == [{"roleName": "deployer", "source": {"name": name}}]
