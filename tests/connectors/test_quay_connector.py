"""The Quay connector against the Quay simulator over real HTTP on 127.0.0.1 (no database)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from connectors.base import (
    AccountRecord,
    ConfigurationError,
    ConnectorConfig,
    GrantRecord,
    Outcome,
    PermissionProblem,
    ResourceRecord,
    Unsupported,
)
from connectors.choices import AccountState, AccountType, GrantKind, Level
from connectors.providers.quay import QuayConnector
from connectors.simulators.quay import QuayOrg, QuaySimulator, Token
from connectors.simulators.server import ERROR
from tests.connectors.helpers import Records, attach_http
from tests.fakes import FakeTime

OWNER_TOKEN = "quayOwnerTokenForTheSimulatedOrg0123456789"
NOW = 1_700_000_000.0


def small_org() -> QuayOrg:
    """Every kind of grant: three team roles, a synced team, robots, invitations, prototypes, a public repo."""
    org = QuayOrg("acme")
    org.add_robot("ci", description="CI pushes", last_accessed="Mon, 02 Oct 2023 10:00:00 -0000")
    org.add_robot("deployer", mirror=True)
    org.add_team("owners", "admin")
    org.add_team_member("owners", "olivia")
    org.add_team("devs", "member")
    for name in ("ada", "carl", "acme+ci"):
        org.add_team_member("devs", name)
    org.add_team("builders", "creator")
    org.add_team_member("builders", "max")
    org.add_team("sre", "member", synced="ldap")
    org.add_team_member("sre", "carl")
    org.add_repo("api")
    org.add_repo("web", public=True)
    org.add_repo("tools/cli")  # an extended repository name, with a slash
    org.grant_user("api", "max", "admin")
    org.grant_user("api", "eve", "write")  # eve is in no team: an outside collaborator
    org.grant_user("api", "acme+ci", "write")
    org.grant_user("tools/cli", "ada", "read")
    org.grant_team("api", "devs", "write")
    org.grant_team("web", "devs", "read")
    org.grant_team("tools/cli", "builders", "admin")
    org.invite("devs", user="ivy")
    org.invite("builders", email="pat@example.com")
    org.add_prototype("write", "devs", kind="team")
    org.add_prototype("read", "ada", activating_user="max")
    org.add_prototype("write", "acme+deployer")
    return org


@contextmanager
def simulator(org: QuayOrg | list[QuayOrg], **options):
    orgs = org if isinstance(org, list) else [org]
    options.setdefault("tokens", {OWNER_TOKEN: Token("olivia")})
    with QuaySimulator(orgs, **options) as sim:
        yield sim


def connector(url: str, token: str = OWNER_TOKEN, orgs=("acme",), **http_options) -> QuayConnector:
    api_url = QuayConnector.api_url(url)
    config = ConnectorConfig(
        name="quay-test",
        api_url=api_url,
        options={"org": list(orgs)},
        secret=lambda key: token,
        allow_private_network=True,
    )
    return attach_http(QuayConnector(config, http=None), api_url, **http_options)


@dataclass
class Result(Records):
    requests: list = field(default_factory=list)

    def resources_by_id(self) -> dict[str, str]:
        return {r.external_id: r.path for r in self.records if isinstance(r, ResourceRecord)}

    def login(self, external_id: str) -> str:
        return next(r.login for r in self.records if isinstance(r, AccountRecord) and r.external_id == external_id)

    def on(self, path: str, kind: str | None = None) -> dict[str, GrantRecord]:
        """holder (login, or team path) -> grant, for the grants on one resource."""
        resource = self.resources[path].external_id
        paths = {r.external_id: r.path for r in self.records if isinstance(r, ResourceRecord)}
        found = {}
        for grant in self.grants:
            if grant.resource_external_id == resource and (kind is None or grant.kind == kind):
                holder = (
                    self.login(grant.account_external_id)
                    if grant.account_external_id
                    else paths[grant.group_external_id]
                )
                found[holder] = grant
        return found


def fetch(conn: QuayConnector, sim: QuaySimulator | None = None) -> Result:
    result = Result(list(conn.fetch()))
    if sim is not None:
        result.requests = list(sim.requests)
    return result


@pytest.fixture(scope="module")
def small():
    with simulator(small_org()) as sim:
        yield fetch(connector(sim.url), sim)


def check_stream(records: list) -> None:
    """Every account and resource once, every grant key once, every reference resolvable."""
    ids = [r.external_id for r in records if not isinstance(r, GrantRecord)]
    keys = [g.key for g in records if isinstance(g, GrantRecord)]
    assert len(ids) == len(set(ids)) and len(keys) == len(set(keys))
    known = set(ids)
    for grant in (r for r in records if isinstance(r, GrantRecord)):
        assert grant.resource_external_id in known
        assert (grant.account_external_id or grant.group_external_id) in known


# --- the organization, teams and members -----------------------------------------------


def test_it_records_the_org_and_its_teams_under_it_with_their_roles(small):
    check_stream(small.records)
    org = small.resources["acme"]
    assert (org.type, org.external_id) == ("organization", "org:acme")
    teams = {path: r for path, r in small.resources.items() if r.type == "team"}
    assert {path: r.attributes["role"] for path, r in teams.items()} == {
        "acme/team/owners": "admin",
        "acme/team/devs": "member",
        "acme/team/builders": "creator",
        "acme/team/sre": "member",
    }
    assert all(r.parent_external_id == "org:acme" for r in teams.values())
    assert teams["acme/team/sre"].attributes["synced"] is True


def test_members_are_read_members_of_the_org_and_robots_are_recorded_on_it(small):
    members = small.on("acme", GrantKind.MEMBERSHIP)
    assert {login: (g.permission, g.level, g.via) for login, g in members.items()} == {
        "olivia": ("member", Level.READ, "direct"),
        "ada": ("member", Level.READ, "direct"),
        "carl": ("member", Level.READ, "direct"),
        "max": ("member", Level.READ, "direct"),
        "acme+ci": ("robot", Level.READ, "direct"),
        "acme+deployer": ("robot", Level.READ, "direct"),
    }


def test_an_admin_team_holds_org_admin_owner_of_the_org_and_admin_of_every_repository(small):
    grant = small.on("acme", GrantKind.PERMISSION)["acme/team/owners"]
    assert (grant.permission, grant.level, grant.via) == ("admin", Level.OWNER, "org_admin")
    assert (grant.cascade_to, grant.cascade_level, grant.applies_to_self) == (("repository",), Level.ADMIN, True)


def test_a_creator_team_holds_write_on_the_org_and_a_member_team_nothing_more(small):
    on_org = {h: g for h, g in small.on("acme", GrantKind.PERMISSION).items() if g.applies_to_self}
    creator = on_org["acme/team/builders"]
    assert (creator.permission, creator.level, creator.via, creator.cascade_to) == (
        "creator",
        Level.WRITE,
        "team:acme/builders",
        (),
    )
    assert "acme/team/devs" not in on_org and "acme/team/sre" not in on_org


def test_team_memberships_take_the_level_of_the_teams_role_robots_included(small):
    levels = {
        (team, login): (g.permission, g.level, g.via)
        for team in ("owners", "devs", "builders")
        for login, g in small.on(f"acme/team/{team}", GrantKind.MEMBERSHIP).items()
    }
    assert levels == {
        ("owners", "olivia"): ("admin", Level.ADMIN, "direct"),
        ("devs", "ada"): ("member", Level.READ, "direct"),
        ("devs", "carl"): ("member", Level.READ, "direct"),
        ("devs", "acme+ci"): ("member", Level.READ, "direct"),
        ("builders", "max"): ("creator", Level.WRITE, "direct"),
    }


def test_pending_team_invitations_are_pending_accounts_with_an_invitation_grant(small):
    ivy, pat = small.accounts["ivy"], small.accounts["pat@example.com"]
    assert (ivy.state, ivy.external_id) == (AccountState.PENDING, "user:ivy")
    assert (pat.state, pat.email, pat.external_id) == (
        AccountState.PENDING,
        "pat@example.com",
        "invite:pat@example.com",
    )
    devs = small.on("acme/team/devs", GrantKind.INVITATION)["ivy"]
    builders = small.on("acme/team/builders", GrantKind.INVITATION)["pat@example.com"]
    assert (devs.via, devs.permission, devs.level) == ("invitation", "member", Level.READ)
    assert (builders.via, builders.permission, builders.level) == ("invitation", "creator", Level.WRITE)


def test_outside_collaborators_are_marked_outside_with_their_direct_grant(small):
    eve = small.accounts["eve"]
    assert eve.is_outside and eve.state == AccountState.ACTIVE
    assert not small.accounts["max"].is_outside
    grant = small.on("acme/api")["eve"]
    assert (grant.permission, grant.level, grant.via) == ("write", Level.WRITE, "direct")


# --- repositories --------------------------------------------------------------------


def test_direct_user_and_robot_permissions_carry_quays_role(small):
    api = {login: (g.permission, g.level) for login, g in small.on("acme/api").items() if g.via == "direct"}
    assert api == {"max": ("admin", Level.ADMIN), "eve": ("write", Level.WRITE), "acme+ci": ("write", Level.WRITE)}
    assert small.on("acme/tools/cli")["ada"].permission == "read"


def test_team_repository_permissions_are_held_by_the_team(small):
    found = {
        (path, holder): (g.permission, g.level, g.via)
        for path in ("acme/api", "acme/web", "acme/tools/cli")
        for holder, g in small.on(path).items()
        if g.group_external_id
    }
    assert found == {
        ("acme/api", "acme/team/devs"): ("write", Level.WRITE, "team:acme/devs"),
        ("acme/web", "acme/team/devs"): ("read", Level.READ, "team:acme/devs"),
        ("acme/tools/cli", "acme/team/builders"): ("admin", Level.ADMIN, "team:acme/builders"),
    }


def test_a_public_repository_grants_anonymous_read(small):
    anonymous = small.accounts["anonymous"]
    assert anonymous.type == AccountType.PSEUDO
    assert small.on("acme/web")["anonymous"].permission == "read"
    assert "anonymous" not in small.on("acme/api")
    assert small.resources["acme/web"].attributes["public"] is True


def test_repositories_belong_to_the_org_and_keep_their_extended_names(small):
    cli = small.resources["acme/tools/cli"]
    assert (cli.external_id, cli.name, cli.parent_external_id) == ("repo:acme/tools/cli", "tools/cli", "org:acme")
    assert cli.attributes == {"org": "acme", "repo": "tools/cli", "public": False, "state": "NORMAL"}


def test_role_reads_go_only_to_repositories_someone_holds_directly(small):
    reads = {r.path for r in small.requests if r.path.endswith("/permissions/user/")}
    assert reads == {"/repository/acme/api/permissions/user/", "/repository/acme/tools/cli/permissions/user/"}
    team_reads = {r.path for r in small.requests if r.path.endswith("/permissions") and "/team/" in r.path}
    assert team_reads == {"/organization/acme/team/devs/permissions", "/organization/acme/team/builders/permissions"}


# --- robots and their secrets -----------------------------------------------------------


def test_robots_are_robot_accounts_with_creation_last_use_and_no_expiry(small):
    ci, deployer = small.accounts["acme+ci"], small.accounts["acme+deployer"]
    assert (ci.type, ci.external_id, ci.state) == (AccountType.ROBOT, "robot:acme+ci", AccountState.ACTIVE)
    assert ci.last_active_at.isoformat() == "2023-10-02T10:00:00+00:00"
    assert ci.attributes["description"] == "CI pushes"
    assert ci.attributes["created"].startswith("20") and ci.attributes["expires_at"] is None
    assert deployer.last_active_at is None


def test_robot_secrets_are_never_requested_and_never_stored(caplog):
    caplog.set_level(logging.DEBUG)
    org = small_org()
    with simulator(org) as sim:
        result = fetch(connector(sim.url), sim)
    robot_lists = [r for r in result.requests if r.path == "/organization/acme/robots"]
    assert robot_lists and all(r.query.get("token") == "false" for r in robot_lists)
    assert not [r for r in result.requests if r.path.startswith("/organization/acme/robots/")]
    text = repr(result.records) + caplog.text
    for robot in org.robots.values():
        assert robot.token and robot.token not in text


# --- default permissions ------------------------------------------------------------------


def test_default_permissions_are_recorded_on_the_org_and_grant_no_access(small):
    protos = {holder: g for holder, g in small.on("acme").items() if g.via.startswith("default_permission")}
    assert {holder: (g.permission, g.via, g.applies_to_self, g.cascade_to) for holder, g in protos.items()} == {
        "acme/team/devs": ("write", "default_permission", False, ()),
        "ada": ("read", "default_permission:max", False, ()),
        "acme+deployer": ("write", "default_permission", False, ()),
    }
    assert all(len(g.attributes["prototype_ids"]) == 1 for g in protos.values())
    assert protos["ada"].attributes["activating_user"] == "max"


def test_repeated_default_permissions_for_one_delegate_merge_at_the_highest_role():
    org = small_org()
    org.add_prototype("admin", "devs", kind="team")
    with simulator(org) as sim:
        result = fetch(connector(sim.url))
    check_stream(result.records)
    grant = result.on("acme")["acme/team/devs"]
    assert grant.permission == "admin" and len(grant.attributes["prototype_ids"]) == 2


# --- pagination, volume, several organizations -------------------------------------------------


def test_repositories_page_through_the_opaque_next_page_token():
    org = QuayOrg.generate("acme", seed=4, members=12, teams=3, repos=230, robots=2, owner="olivia")
    with simulator(org) as sim:
        result = fetch(connector(sim.url), sim)
    pages = [r for r in result.requests if r.path == "/repository"]
    assert len(pages) == 3
    assert "next_page" not in pages[0].query and all(p.query.get("next_page") for p in pages[1:])
    repos = {path for path, r in result.resources.items() if r.type == "repository"}
    assert repos == {f"acme/{name}" for name in org.repos}


def test_a_refused_page_token_restarting_the_list_fails_instead_of_looping():
    class Forgetful(dict):
        def __setitem__(self, key, value):  # Quay cannot decrypt the token: first page again
            pass

    org = QuayOrg.generate("acme", seed=4, members=5, teams=2, repos=150, robots=1, owner="olivia")
    with simulator(org) as sim:
        sim._page_tokens = Forgetful()
        with pytest.raises(Exception, match="restarted from the first page"):
            fetch(connector(sim.url))


def test_a_generated_org_is_read_completely_at_exactly_the_rest_lower_bound():
    org = QuayOrg.generate("acme", seed=7, members=60, teams=9, repos=140, robots=8, owner="olivia")
    with simulator(org) as sim:
        conn = connector(sim.url)
        result = fetch(conn)
    check_stream(result.records)
    facts = org.facts()
    assert conn.http.stats.requests == org.rest_lower_bound()
    direct = {
        (result.login(g.account_external_id), result.resources_by_id()[g.resource_external_id], g.permission)
        for g in result.grants
        if g.via == "direct" and g.kind == GrantKind.PERMISSION and g.account_external_id != "pseudo:anonymous"
    }
    assert direct == {(name, f"acme/{repo}", role) for name, repo, role in facts.direct_grants}
    team_repos = {
        (g.group_external_id.split("/")[-1], result.resources_by_id()[g.resource_external_id], g.permission)
        for g in result.grants
        if g.via.startswith("team:") and g.resource_external_id.startswith("repo:")
    }
    assert team_repos == {(team, f"acme/{repo}", role) for team, repo, role in facts.team_repos}
    members = {
        (g.resource_external_id, result.login(g.account_external_id))
        for g in result.grants
        if g.kind == GrantKind.MEMBERSHIP and g.resource_external_id.startswith("team:")
    }
    assert members == {(f"team:acme/{team}", name) for team, name in facts.team_members}
    robots = {r.login for r in result.records if isinstance(r, AccountRecord) and r.type == AccountType.ROBOT}
    assert robots == set(facts.robots)
    outside = {r.login for r in result.records if isinstance(r, AccountRecord) and r.is_outside}
    assert outside == set(facts.outside_collaborators)


def test_several_organizations_share_one_account_per_user():
    first = small_org()
    second = QuayOrg("globex")
    second.add_team("owners", "admin")
    second.add_team_member("owners", "olivia")
    second.add_repo("site")
    second.grant_user("site", "ada", "write")  # a member of acme, an outside collaborator of globex
    second.grant_user("site", "eve", "read")  # outside in both
    with simulator([first, second]) as sim:
        result = fetch(connector(sim.url, orgs=("acme", "globex")))
    check_stream(result.records)
    assert [r.login for r in result.records if isinstance(r, AccountRecord)].count("ada") == 1
    assert not result.accounts["ada"].is_outside and result.accounts["eve"].is_outside
    assert result.on("globex/site")["ada"].permission == "write"
    assert result.on("globex", GrantKind.PERMISSION)["globex/team/owners"].via == "org_admin"


def test_a_server_error_is_retried_and_the_result_is_complete():
    with simulator(small_org()) as sim:
        expected = fetch(connector(sim.url)).records
        sim.add_fault(ERROR, "/organization/acme/members", status=502)
        time = FakeTime(NOW)
        conn = connector(sim.url, sleep=time.sleep)
        result = fetch(conn)
    assert conn.http.stats.retries == 1 and len(time.sleeps) == 1
    assert result.records == expected


def test_quays_429_without_headers_is_waited_out_with_the_injected_sleep():
    time = FakeTime(NOW)
    with simulator(small_org(), clock=time.clock, rate_limit=5, rate_window=1.0) as sim:
        conn = connector(sim.url, sleep=time.sleep, clock=time.clock, max_concurrency=1)
        result = fetch(conn, sim)
    check_stream(result.records)
    assert any(r.status == 429 for r in result.requests)
    assert conn.http.stats.rate_limit_waits > 0 and time.sleeps


# --- refusals -------------------------------------------------------------------------------


def test_a_bad_token_is_a_permission_problem():
    with simulator(small_org()) as sim, pytest.raises(PermissionProblem, match="401"):
        list(connector(sim.url, token="not-a-valid-token-at-all").fetch())


def test_a_token_that_is_not_an_org_admins_fails_before_reading_anything_else():
    tokens = {OWNER_TOKEN: Token("olivia"), "adaTokenForTheSimulatedOrg000000": Token("ada")}
    with simulator(small_org(), tokens=tokens) as sim:
        with pytest.raises(PermissionProblem, match="not an administrator"):
            list(connector(sim.url, token="adaTokenForTheSimulatedOrg000000").fetch())
        assert [r.path for r in sim.requests] == ["/organization/acme"]


def test_a_token_without_the_org_admin_scope_is_a_permission_problem():
    tokens = {"readOnlyTokenForTheSimulatedOrg00000": Token("olivia", scopes=("repo:read",))}
    with simulator(small_org(), tokens=tokens) as sim, pytest.raises(PermissionProblem, match="403"):
        list(connector(sim.url, token="readOnlyTokenForTheSimulatedOrg00000").fetch())


def test_an_unknown_org_is_a_permission_problem_not_an_empty_org():
    with simulator(small_org()) as sim, pytest.raises(PermissionProblem, match="does not exist"):
        list(connector(sim.url, orgs=("initech",)).fetch())


def test_hostile_names_are_stored_verbatim():
    org = small_org()
    org.add_team("=cmd|' /C calc'!A0", "member", description="<script>alert(1)</script>")
    org.add_team_member("=cmd|' /C calc'!A0", "zoë")
    org.add_repo("a b/ünï%2Fcode")
    org.grant_user("a b/ünï%2Fcode", "zoë", "write")
    org.invite("devs", email="o'brien+x@例え.jp")
    with simulator(org) as sim:
        result = fetch(connector(sim.url))
    check_stream(result.records)
    team = result.resources["acme/team/=cmd|' /C calc'!A0"]
    assert team.attributes["description"] == "<script>alert(1)</script>"
    assert "zoë" in result.on(team.path)
    assert result.on("acme/a b/ünï%2Fcode")["zoë"].permission == "write"
    assert result.accounts["o'brien+x@例え.jp"].state == AccountState.PENDING


# --- addresses, headers, test() -----------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "api_url"),
    [
        ("https://quay.io", "https://quay.io/api/v1"),
        ("https://quay.example.com/", "https://quay.example.com/api/v1"),
        ("https://quay.example.com/api/v1", "https://quay.example.com/api/v1"),
    ],
)
def test_the_api_url_adds_api_v1(base_url, api_url):
    assert QuayConnector.api_url(base_url) == api_url


def test_it_sends_the_oauth_token_as_a_bearer_token():
    conn = connector("http://127.0.0.1:1")
    assert conn.auth_headers()["Authorization"] == f"Bearer {OWNER_TOKEN}"
    assert QuayConnector.default_base_url == "https://quay.io"


def test_the_org_option_is_required_and_repeatable():
    with pytest.raises(ConfigurationError, match="org"):
        QuayConnector.validate_options({})
    assert QuayConnector.option_specs["org"].repeatable
    assert connector("http://127.0.0.1:1", orgs=("acme", "globex", "acme")).orgs == ["acme", "globex"]


def test_the_connection_test_says_whether_the_token_is_an_org_admins():
    tokens = {OWNER_TOKEN: Token("olivia"), "adaTokenForTheSimulatedOrg000000": Token("ada")}
    with simulator(small_org(), tokens=tokens) as sim:
        assert "administrator token, 4 teams" in connector(sim.url).test()
        assert "not an administrator" in connector(sim.url, token="adaTokenForTheSimulatedOrg000000").test()
        robot_lists = [r for r in sim.requests if r.path == "/organization/acme/robots"]
    assert robot_lists and all(r.query["token"] == "false" for r in robot_lists)


# --- revocation -------------------------------------------------------------------------------


@pytest.fixture
def live():
    """A fresh org, its simulator, a connector and the records of one read."""
    org = small_org()
    with simulator(org) as sim:
        conn = connector(sim.url)
        yield org, sim, conn, fetch(conn)


def revoke(conn: QuayConnector, result: Result, grant: GrantRecord, downgrade_to: Level | None = None):
    return conn.revoke(result.target(grant), downgrade_to=downgrade_to)


def test_removing_an_org_member_takes_them_out_of_every_team_and_repository(live):
    org, sim, conn, result = live
    grant = result.on("acme", GrantKind.MEMBERSHIP)["max"]
    first = revoke(conn, result, grant)
    assert first.outcome == Outcome.REVOKED
    assert "max" not in org.members() and "max" not in org.repos["api"].users
    again = revoke(conn, result, grant)
    assert again.outcome == Outcome.ALREADY_ABSENT
    assert [r.method for r in sim.requests if r.path == "/organization/acme/members/max"].count("DELETE") == 1


def test_removing_the_only_admin_fails_with_quays_message(live):
    org, _sim, conn, result = live
    outcome = revoke(conn, result, result.on("acme", GrantKind.MEMBERSHIP)["olivia"])
    assert outcome.outcome == Outcome.FAILED and "only organization admin" in outcome.message
    assert "olivia" in org.members()


def test_removing_a_team_member_and_again_turns_quays_400_into_already_absent(live):
    org, sim, conn, result = live
    grant = result.on("acme/team/devs", GrantKind.MEMBERSHIP)["ada"]
    assert revoke(conn, result, grant).outcome == Outcome.REVOKED
    assert "ada" not in org.teams["devs"].members
    again = revoke(conn, result, grant)
    assert again.outcome == Outcome.ALREADY_ABSENT and "does not belong to team" in again.message
    deletes = [r.status for r in sim.requests if r.method == "DELETE" and r.path.endswith("/team/devs/members/ada")]
    assert deletes == [204, 400]


def test_a_robot_leaves_a_team_by_its_full_name(live):
    org, _sim, conn, result = live
    assert revoke(conn, result, result.on("acme/team/devs")["acme+ci"]).outcome == Outcome.REVOKED
    assert "acme+ci" not in org.teams["devs"].members and "ci" in org.robots


def test_a_synced_teams_human_member_is_refused_and_said_why(live):
    _org, sim, conn, result = live
    grant = result.on("acme/team/sre")["carl"]
    reason = conn.cannot_revoke(result.target(grant))
    assert "synced" in reason
    before = len(sim.requests)
    with pytest.raises(Unsupported, match="synced"):
        revoke(conn, result, grant)
    assert len(sim.requests) == before


def test_pending_invitations_are_cancelled_by_user_and_by_email(live):
    org, _sim, conn, result = live
    ivy = result.on("acme/team/devs", GrantKind.INVITATION)["ivy"]
    pat = result.on("acme/team/builders", GrantKind.INVITATION)["pat@example.com"]
    assert revoke(conn, result, ivy).outcome == Outcome.REVOKED
    assert revoke(conn, result, pat).outcome == Outcome.REVOKED
    assert not org.teams["devs"].invites and not org.teams["builders"].invites
    assert revoke(conn, result, pat).outcome == Outcome.ALREADY_ABSENT


def test_deleting_a_direct_repository_permission_and_again(live):
    org, sim, conn, result = live
    grant = result.on("acme/api")["eve"]
    assert revoke(conn, result, grant).outcome == Outcome.REVOKED
    assert "eve" not in org.repos["api"].users
    again = revoke(conn, result, grant)
    assert again.outcome == Outcome.ALREADY_ABSENT and "400" in again.message


def test_downgrading_a_direct_permission_changes_its_role_and_never_recreates_a_gone_one(live):
    org, sim, conn, result = live
    grant = result.on("acme/api")["max"]
    downgraded = revoke(conn, result, grant, Level.READ)
    assert downgraded.outcome == Outcome.REVOKED and org.repos["api"].users["max"] == "read"
    assert revoke(conn, result, grant, Level.READ).outcome == Outcome.ALREADY_ABSENT
    del org.repos["api"].users["max"]
    assert revoke(conn, result, grant, Level.WRITE).outcome == Outcome.ALREADY_ABSENT
    assert "max" not in org.repos["api"].users
    assert [r.method for r in sim.requests if r.path.endswith("/permissions/user/max")].count("PUT") == 1


def test_a_team_repository_permission_on_an_extended_name_is_deleted_or_downgraded(live):
    org, _sim, conn, result = live
    grant = result.on("acme/tools/cli")["acme/team/builders"]
    assert revoke(conn, result, grant, Level.WRITE).outcome == Outcome.REVOKED
    assert org.teams["builders"].repos["tools/cli"] == "write"
    assert revoke(conn, result, grant).outcome == Outcome.REVOKED
    assert "tools/cli" not in org.teams["builders"].repos
    assert revoke(conn, result, grant).outcome == Outcome.ALREADY_ABSENT


def test_deleting_a_robot_removes_its_grants_and_again_is_already_absent(live):
    org, sim, conn, result = live
    grant = result.on("acme", GrantKind.MEMBERSHIP)["acme+ci"]
    assert revoke(conn, result, grant).outcome == Outcome.REVOKED
    assert "ci" not in org.robots and "acme+ci" not in org.repos["api"].users
    again = revoke(conn, result, grant)
    assert again.outcome == Outcome.ALREADY_ABSENT and "Could not find robot" in again.message
    assert all(r.query.get("token") == "false" for r in sim.requests if r.path == "/organization/acme/robots")


def test_a_robot_used_by_a_mirror_is_not_deleted_and_the_failure_says_why(live):
    org, _sim, conn, result = live
    outcome = revoke(conn, result, result.on("acme", GrantKind.MEMBERSHIP)["acme+deployer"])
    assert outcome.outcome == Outcome.FAILED and "mirror" in outcome.message
    assert "deployer" in org.robots


def test_an_admin_teams_org_role_is_revoked_to_member_or_downgraded_to_creator():
    org = small_org()
    org.add_team("platform", "admin")
    org.add_team_member("platform", "ada")
    with simulator(org) as sim:
        conn = connector(sim.url)
        result = fetch(conn)
        grant = result.on("acme", GrantKind.PERMISSION)["acme/team/platform"]
        with pytest.raises(Unsupported, match="between creator and admin"):
            revoke(conn, result, grant, Level.ADMIN)
        assert revoke(conn, result, grant, Level.WRITE).outcome == Outcome.REVOKED
        assert org.teams["platform"].role == "creator"
        assert revoke(conn, result, grant).outcome == Outcome.REVOKED
        assert org.teams["platform"].role == "member"
        assert revoke(conn, result, grant).outcome == Outcome.ALREADY_ABSENT


def test_the_callers_only_admin_team_keeps_its_role_and_the_failure_says_why(live):
    org, _sim, conn, result = live
    outcome = revoke(conn, result, result.on("acme", GrantKind.PERMISSION)["acme/team/owners"])
    assert outcome.outcome == Outcome.FAILED and "would no longer have admin" in outcome.message
    assert org.teams["owners"].role == "admin"


def test_a_deleted_team_is_never_recreated_by_a_role_change(live):
    org, sim, conn, result = live
    grant = result.on("acme", GrantKind.PERMISSION)["acme/team/builders"]
    del org.teams["builders"]
    assert revoke(conn, result, grant).outcome == Outcome.ALREADY_ABSENT
    assert "builders" not in org.teams and not [r for r in sim.requests if r.method == "PUT"]


def test_default_permissions_are_deleted_or_downgraded(live):
    org, _sim, conn, result = live
    protos = {h: g for h, g in result.on("acme").items() if g.via.startswith("default_permission")}
    assert revoke(conn, result, protos["acme/team/devs"], Level.READ).outcome == Outcome.REVOKED
    assert next(p for p in org.prototypes if p.delegate == "devs").role == "read"
    assert revoke(conn, result, protos["ada"]).outcome == Outcome.REVOKED
    assert not [p for p in org.prototypes if p.delegate == "ada"]
    assert revoke(conn, result, protos["ada"]).outcome == Outcome.ALREADY_ABSENT


def test_what_quay_cannot_take_away_is_refused_with_the_reason(live):
    _org, sim, conn, result = live
    before = len(sim.requests)
    cases = [
        (result.on("acme/web")["anonymous"], None, "make it private"),
        (result.on("acme/team/builders", GrantKind.MEMBERSHIP)["max"], Level.READ, "team's role"),
        (result.on("acme", GrantKind.MEMBERSHIP)["ada"], Level.READ, "below the grant's level"),
        (result.on("acme/api")["eve"], Level.ADMIN, "below the grant's level"),
    ]
    for grant, downgrade_to, reason in cases:
        assert reason in conn.cannot_revoke(result.target(grant), downgrade_to=downgrade_to)
        with pytest.raises(Unsupported, match=reason):
            revoke(conn, result, grant, downgrade_to)
    assert len(sim.requests) == before
    assert conn.cannot_revoke(result.target(result.on("acme/api")["eve"])) is None


def test_a_token_that_may_not_write_fails_the_revocation_without_leaking_it(live):
    org, sim, _conn, result = live
    weak = "readOnlyTokenForTheSimulatedOrg00000"
    sim.tokens[weak] = Token("olivia", scopes=("repo:read",))
    outcome = revoke(connector(sim.url, token=weak), result, result.on("acme/api")["eve"])
    assert outcome.outcome == Outcome.FAILED and "403" in outcome.message and weak not in outcome.message
    assert "eve" in org.repos["api"].users
