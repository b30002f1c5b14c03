"""GitHub's GraphQL mode (option api=graphql): the same records as REST for a fraction of the quota.

Connector against the simulator over real HTTP; the simulator and the client share a fake clock, so waiting
for a GraphQL window to reset is a real decision without real waiting.
"""

import base64

import pytest

from connectors.base import AccountRecord, ConfigurationError, ConnectorConfig, ConnectorError, GrantRecord
from connectors.choices import SyncStatus
from connectors.providers.github import GitHubConnector
from connectors.providers.github_graphql import deploy_key_id
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.simulators.server import ERROR
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, attach_http, sync_factory
from tests.fakes import FakeTime

TOKEN = "ghp_" + "graphqlOwnerToken0123456789abcdefghij"


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def org():
    # Mid-size: several pages of members (100 per page), nested teams, custom roles, deploy keys, invitations;
    # one repository and one team with more than 100 collaborators/members, read by follow-up queries.
    org = GitHubOrg.generate("acme", seed=5, members=230, outside_collaborators=6, teams=30, repos=140)
    crowded = next(iter(org.repos))
    big_team = org.add_team("everyone")
    for login in list(org.members)[:120]:
        org.repos[crowded].collaborators.setdefault(login, "read")
        big_team.members[login] = "member"
    return org


@pytest.fixture
def sim(org, fake_time):
    with GitHubSimulator(org, tokens={TOKEN: Token(org.owner_login)}, clock=fake_time.clock) as simulator:
        yield simulator


def fetch(sim, fake_time, api: str) -> tuple[GitHubConnector, list]:
    config = ConnectorConfig(
        name="gh",
        api_url=sim.url,
        options={"org": "acme", "api": api},
        secret=lambda _: TOKEN,
        allow_private_network=True,
    )
    connector = attach_http(GitHubConnector(config, None), sim.url, sleep=fake_time.sleep, clock=fake_time.clock)
    return connector, list(connector.fetch())


def hidden_parent_memberships(org: GitHubOrg) -> set[tuple[str, str]]:
    """(team slug, login) immediate memberships REST cannot see: the same user is listed on a descendant team
    with the role the parent's list reports (github_teams), so REST records the descendant only."""
    hidden = set()
    for slug, team in org.teams.items():
        below = {}
        for child in org.descendants(slug)[1:]:
            for login, role in org.teams[child].members.items():
                below.setdefault(login, set()).add(org.reported_team_role(login, role))
        for login, role in team.members.items():
            if org.reported_team_role(login, role) in below.get(login, ()):
                hidden.add((slug, login))
    return hidden


def membership_keys(records: list, org: GitHubOrg) -> set[tuple[str, str]]:
    logins = {user.id: login for login, user in org.users.items()}
    logins = {f"user:{number}": login for number, login in logins.items()}
    slugs = {f"team:{team.id}": slug for slug, team in org.teams.items()}
    return {
        (slugs[r.resource_external_id], logins[r.account_external_id])
        for r in records
        if isinstance(r, GrantRecord) and r.resource_external_id in slugs and r.via == "membership"
    }


def test_graphql_mode_yields_the_rest_records_plus_only_the_memberships_rest_cannot_see(sim, fake_time, org):
    _, rest = fetch(sim, fake_time, "rest")
    connector, graphql = fetch(sim, fake_time, "graphql")
    assert connector.graphql_usage.follow_ups == 2  # the crowded repository's and team's second pages
    rest_set, graphql_set = set(map(repr, rest)), set(map(repr, graphql))
    assert rest_set - graphql_set == set()
    extra = [r for r in graphql if repr(r) not in rest_set]
    hidden = hidden_parent_memberships(org)
    assert hidden, "the generated org should nest a member in a parent and a child team"
    assert membership_keys(extra, org) == hidden
    assert len(extra) == len(hidden)  # nothing else differs: accounts, resources and every other grant are equal


def test_graphql_mode_spends_a_small_fraction_of_what_rest_requests(fake_time):
    many_repos = GitHubOrg.generate("acme", seed=8, members=300, outside_collaborators=5, teams=40, repos=600)
    with GitHubSimulator(many_repos, tokens={TOKEN: Token(many_repos.owner_login)}, clock=fake_time.clock) as sim:
        rest_connector, _ = fetch(sim, fake_time, "rest")
        connector, _ = fetch(sim, fake_time, "graphql")
        charged = sim.stats()["graphql"]["points"]
    summary = connector.run_summary()
    assert summary["graphql_points"] == charged > 0  # what GitHub's rateLimit.cost said is what was charged
    assert summary["graphql_points"] <= 0.1 * rest_connector.http.stats.requests
    # 600 repositories with their collaborators in pages of 100: one point per page, not a request per repository.
    assert summary["graphql"]["timeouts"] == 0 and summary["graphql"]["follow_ups"] == 0


def test_timeouts_halve_the_page_size_and_the_sync_still_reads_everything(sim, fake_time):
    _, rest = fetch(sim, fake_time, "rest")
    sim.add_fault(ERROR, "/graphql", status=502, times=2)
    sim.add_fault(ERROR, "/graphql", status=504, on=4, times=1)
    sim.fail_graphql(
        "INTERNAL",
        "Something went wrong while executing your query. This may be the result of a timeout, or it "
        "could be a GitHub bug. Please include `A1B2:3C4D` when reporting this issue.",
    )
    connector, graphql = fetch(sim, fake_time, "graphql")
    usage = connector.graphql_usage
    assert usage.timeouts == 4
    assert usage.smallest_page_size <= 12  # 100 -> 50 -> 25 -> 12 (-> 6), then it grows back
    assert set(map(repr, rest)) <= set(map(repr, graphql))
    assert len({r.external_id for r in graphql if isinstance(r, AccountRecord)}) == len(
        {r.external_id for r in rest if isinstance(r, AccountRecord)}
    )


def test_rate_limited_with_http_200_waits_for_the_reset_and_completes(sim, fake_time, org):
    _, rest = fetch(sim, fake_time, "rest")
    sim.graphql_limit = 50
    sim.graphql_quota.consume(TOKEN, sim.graphql_limit, sim.graphql_limit)  # the hour's points are already spent
    start = fake_time.now
    connector, graphql = fetch(sim, fake_time, "graphql")
    assert connector.graphql_usage.rate_limit_waits == 1
    assert sim.stats()["graphql"]["rate_limited"] == 1
    assert fake_time.now - start >= 3600  # waited for the window to reset, and read nothing as "empty"
    assert set(map(repr, rest)) <= set(map(repr, graphql))


def test_a_graphql_window_too_far_away_fails_the_sync_instead_of_waiting(sim, fake_time):
    sim.graphql_quota.consume(TOKEN, sim.graphql_limit, sim.graphql_limit)
    config = ConnectorConfig(
        name="gh",
        api_url=sim.url,
        options={"org": "acme", "api": "graphql"},
        secret=lambda _: TOKEN,
        allow_private_network=True,
    )
    connector = attach_http(
        GitHubConnector(config, None), sim.url, sleep=fake_time.sleep, clock=fake_time.clock, max_rate_limit_wait=60
    )
    with pytest.raises(ConnectorError, match="GraphQL points are spent"):
        list(connector.fetch())


def test_the_api_option_is_rest_or_graphql():
    GitHubConnector.validate_options({"org": "acme", "api": "graphql"})
    with pytest.raises(ConfigurationError, match="api= is rest or graphql"):
        GitHubConnector.validate_options({"org": "acme", "api": "soap"})


@pytest.mark.django_db
def test_switching_a_synced_connector_to_rest_removes_only_the_memberships_rest_cannot_see(
    sim, fake_time, org, monkeypatch
):
    connector = add_simulated_connector(
        monkeypatch,
        name="gh",
        kind="github",
        base_url=sim.url,
        token_env="GH_GRAPHQL_TOKEN",
        token=TOKEN,
        org="acme",
        api="graphql",
    )
    factory = sync_factory(fake_time, max_concurrency=4)
    first = run_sync(connector, connector_factory=factory)
    assert first.status == SyncStatus.SUCCEEDED, first.error
    connector.options = {**connector.options, "api": "rest"}
    connector.save()
    second = run_sync(connector, connector_factory=factory)
    assert second.status == SyncStatus.SUCCEEDED, second.error
    assert (second.counts["added"], second.counts["changed"]) == (0, 0)
    assert second.counts["removed"] == len(hidden_parent_memberships(org))


def test_a_deploy_keys_rest_id_is_read_from_legacy_and_next_format_node_ids():
    """GraphQL's DeployKey has no databaseId; records are keyed on REST's id, so an unreadable id means REST."""
    legacy = base64.b64encode(b"09:DeployKey500123").decode()
    packed = bytes([0x93, 0x00, 0xCE]) + (123456).to_bytes(4, "big") + bytes([0xCD]) + (789).to_bytes(2, "big")
    next_format = "DK_" + base64.urlsafe_b64encode(packed).decode().rstrip("=")
    assert (deploy_key_id(legacy), deploy_key_id(next_format)) == (500123, 789)
    assert deploy_key_id("DK_not-msgpack") is None
    assert deploy_key_id(base64.b64encode(b"04:User42").decode()) is None
