"""The GitHub connector against the GitHub simulator over real HTTP on 127.0.0.1 (no database)."""

from collections import Counter
from contextlib import contextmanager

import pytest

from connectors.base import (
    AccountRecord,
    ConfigurationError,
    ConnectorConfig,
    GrantRecord,
    PermissionProblem,
    ResourceRecord,
)
from connectors.choices import AccountState, AccountType, Level
from connectors.providers.github import GitHubConnector
from connectors.providers.github_roles import app_permissions, repository_role
from connectors.providers.github_teams import immediate_members
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.simulators.server import ERROR
from tests.connectors.helpers import Records, attach_http
from tests.fakes import FakeTime

OWNER_TOKEN = "ghp_" + "ownerTokenForTheSimulatedOrg0123456789"
MEMBER_TOKEN = "ghp_" + "memberTokenForTheSimulatedOrg012345678"
NOW = 1_700_000_000.0


def small_org(base: str = "read") -> GitHubOrg:
    """Every kind of grant, with a three-level team tree whose lists overlap."""
    org = GitHubOrg("acme", default_repository_permission=base)
    org.add_member("olivia", "admin")
    org.users["olivia"].site_admin = True
    for login in ("ada", "carl"):
        org.add_member(login)
    org.add_member("max", two_factor=False)
    org.add_member("ci-bot", type="Bot")
    org.add_custom_role("deployer", base_role="maintain")
    org.add_repo("api")
    org.add_repo("web", visibility="public")
    org.add_repo("old", archived=True)

    org.add_team("eng")
    org.add_team("platform", parent="eng")
    org.add_team("sre", parent="platform")
    org.add_team_member("eng", "ada", "maintainer")
    org.add_team_member("eng", "carl")
    org.add_team_member("platform", "max")
    org.add_team_member("platform", "olivia")  # an owner: GitHub reports owners as team maintainers
    org.add_team_member("sre", "carl")  # carl is in eng too, by his own membership
    org.grant_team("eng", "api", "triage")
    org.grant_team("platform", "api", "deployer")
    org.grant_team("sre", "web", "maintain")

    org.add_collaborator("api", "max", "admin")
    org.add_collaborator("web", "carl", "deployer")
    org.add_outside_collaborator("oscar", "api", "write", two_factor=False)
    org.add_invitation(login="ivy", role="admin")
    org.add_invitation(email="pat@example.com")
    org.add_repo_invitation("web", "rita", "triage")
    org.add_deploy_key("api", "ci", read_only=True)
    org.add_deploy_key("api", "release", read_only=False)
    org.add_installation("renovate", permissions={"metadata": "read", "contents": "write"})
    org.add_installation(
        "release-bot",
        permissions={"administration": "write", "metadata": "read"},
        repository_selection="selected",
        repositories=["api"],
        suspended=True,
    )
    return org


def owner_only_org(base: str = "read") -> GitHubOrg:
    org = GitHubOrg("acme", default_repository_permission=base)
    org.add_member("olivia", "admin")
    return org


@contextmanager
def simulator(org: GitHubOrg, **options):
    options.setdefault("tokens", {OWNER_TOKEN: Token(org.owner_login)})
    with GitHubSimulator(org, **options) as sim:
        yield sim


def connector(api_url: str, token: str = OWNER_TOKEN, org: str = "acme", **http_options) -> GitHubConnector:
    config = ConnectorConfig(
        name="github-test", api_url=api_url, options={"org": org}, secret=lambda key: token, allow_private_network=True
    )
    return attach_http(GitHubConnector(config, http=None), api_url, **http_options)


def fetch(conn: GitHubConnector) -> Records:
    return Records(list(conn.fetch()))


@pytest.fixture(scope="module")
def small():
    """One sync of the small org, shared by the tests that only read its records and request log."""
    with simulator(small_org()) as sim:
        result = fetch(connector(sim.url))
        result.requests = list(sim.requests)
        yield result


# --- organization and members -------------------------------------------------


def test_it_yields_the_organization_first_with_its_settings(small):
    org = small.records[0]
    assert isinstance(org, ResourceRecord)
    assert (org.type, org.path, org.external_id) == ("organization", "acme", "org:9001")
    assert org.attributes == {"default_repository_permission": "read", "two_factor_requirement_enabled": False}


def test_owners_are_recorded_as_owners_of_the_org_reaching_every_repository_as_admin(small):
    [grant] = [g for g in small.grants_of("olivia") if g.resource_external_id == "org:9001"]
    assert (grant.kind, grant.permission, grant.level, grant.via) == ("membership", "admin", Level.OWNER, "org_owner")
    assert (grant.cascade_to, grant.cascade_level) == (("repository",), Level.ADMIN)


def test_members_are_recorded_as_read_members_of_the_org(small):
    assert small.members_of("acme") == {
        "olivia": "admin",
        "ada": "member",
        "carl": "member",
        "max": "member",
        "ci-bot": "member",
    }
    [grant] = [g for g in small.grants_of("ada") if g.resource_external_id == "org:9001"]
    assert (grant.level, grant.via, grant.cascade_to) == (Level.READ, "membership", ())


def test_member_accounts_carry_type_two_factor_and_site_admin(small):
    accounts = small.accounts
    assert accounts["ci-bot"].type == AccountType.BOT
    assert accounts["ada"].type == AccountType.HUMAN
    assert (accounts["ada"].two_factor, accounts["max"].two_factor) == (True, False)
    assert (accounts["olivia"].is_admin, accounts["ada"].is_admin) == (True, False)
    assert accounts["ada"].external_id == f"user:{small_org().users['ada'].id}"


def test_the_org_base_permission_is_one_grant_held_by_the_org_for_every_repository(small):
    [grant] = [g for g in small.grants if g.via == "org_base_permission"]
    assert (grant.group_external_id, grant.account_external_id, grant.resource_external_id) == (
        "org:9001",
        None,
        "org:9001",
    )
    assert (grant.kind, grant.permission, grant.level) == ("permission", "read", Level.READ)
    assert (grant.cascade_to, grant.cascade_level, grant.applies_to_self) == (("repository",), Level.READ, False)


@pytest.mark.parametrize("base,level", [("write", Level.WRITE), ("admin", Level.ADMIN)])
def test_the_base_permission_keeps_githubs_name_and_maps_its_level(base, level):
    with simulator(owner_only_org(base)) as sim:
        result = fetch(connector(sim.url))
    [grant] = [g for g in result.grants if g.via == "org_base_permission"]
    assert (grant.permission, grant.level, grant.cascade_level) == (base, level, level)


def test_a_base_permission_of_none_records_no_grant():
    with simulator(owner_only_org("none")) as sim:
        result = fetch(connector(sim.url))
    assert [g for g in result.grants if g.via == "org_base_permission"] == []
    assert result.resources["acme"].attributes["default_repository_permission"] == "none"


def test_outside_collaborators_are_marked_outside_with_their_direct_grant(small):
    oscar = small.accounts["oscar"]
    assert (oscar.is_outside, oscar.two_factor) == (True, False)
    assert small.accounts["ada"].is_outside is False
    [grant] = small.grants_of("oscar")
    assert (grant.resource_external_id, grant.permission, grant.level, grant.via) == (
        small.resources["acme/api"].external_id,
        "write",
        Level.WRITE,
        "direct",
    )


def test_org_invitations_are_pending_accounts_with_the_invited_role(small):
    ivy, pat = small.accounts["ivy"], small.accounts["pat@example.com"]
    assert (ivy.state, pat.state) == (AccountState.PENDING, AccountState.PENDING)
    assert ivy.external_id.startswith("invitation:") and pat.email == "pat@example.com"
    [admin_invite] = small.grants_of("ivy")
    [member_invite] = small.grants_of("pat@example.com")
    assert (admin_invite.kind, admin_invite.via, admin_invite.permission, admin_invite.level) == (
        "invitation",
        "invitation",
        "admin",
        Level.OWNER,
    )
    assert (member_invite.permission, member_invite.level, member_invite.resource_external_id) == (
        "direct_member",
        Level.READ,
        "org:9001",
    )


# --- teams --------------------------------------------------------------------


def test_teams_nest_under_their_parent_and_come_parents_first(small):
    resources = small.resources
    eng, platform, sre = resources["acme/team/eng"], resources["acme/team/platform"], resources["acme/team/sre"]
    assert (eng.type, eng.parent_external_id) == ("team", "org:9001")
    assert platform.parent_external_id == eng.external_id
    assert sre.parent_external_id == platform.external_id
    order = [r.path for r in small.records if isinstance(r, ResourceRecord) and r.type == "team"]
    assert order == ["acme/team/eng", "acme/team/platform", "acme/team/sre"]


def test_a_team_membership_is_recorded_at_the_deepest_team_that_lists_the_user(small):
    # GitHub lists max, olivia and carl on eng too (child-team members). carl was also added to eng with the
    # same role as in sre: REST cannot tell that apart, so he is recorded at sre, which reaches eng's grants.
    assert small.members_of("acme/team/eng") == {"ada": "maintainer"}
    assert small.members_of("acme/team/platform") == {"max": "member", "olivia": "maintainer"}
    assert small.members_of("acme/team/sre") == {"carl": "member"}


def test_team_maintainers_are_admins_of_the_team_and_members_read(small):
    grants = small.grants_on("acme/team/platform")
    assert {(g.permission, g.level) for g in grants} == {("maintainer", Level.ADMIN), ("member", Level.READ)}
    assert {(g.kind, g.via) for g in grants} == {("membership", "membership")}


def test_team_memberships_cost_no_per_user_request(small):
    # The per-user membership call includes child-team members as the list does: it would tell nothing.
    assert not [r for r in small.requests if "/memberships/" in r.path and "/team" in r.path]


def test_a_parent_role_that_no_child_team_explains_is_a_membership_of_the_parent():
    eng = {"id": 1, "parent": None}
    sre = {"id": 2, "parent": {"id": 1}}
    carl, ada = {"login": "carl"}, {"login": "ada"}
    listed = {
        1: {"carl": (carl, "maintainer"), "ada": (ada, "member")},
        2: {"carl": (carl, "member"), "ada": (ada, "member")},
    }
    immediate = immediate_members([eng, sre], listed)
    assert immediate[1] == [(carl, "maintainer")]
    assert immediate[2] == [(carl, "member"), (ada, "member")]


def test_team_repository_grants_are_held_by_the_team(small):
    eng = small.resources["acme/team/eng"].external_id
    [grant] = [g for g in small.grants if g.group_external_id == eng]
    assert (grant.resource_external_id, grant.kind) == (small.resources["acme/api"].external_id, "permission")
    assert (grant.permission, grant.level, grant.via) == ("triage", Level.READ, "team:acme/eng")
    sre = small.resources["acme/team/sre"].external_id
    [sre_grant] = [g for g in small.grants if g.group_external_id == sre]
    assert (sre_grant.permission, sre_grant.level, sre_grant.via) == ("maintain", Level.WRITE, "team:acme/sre")


def test_a_custom_role_keeps_its_name_and_takes_the_level_of_its_base_role(small):
    platform = small.resources["acme/team/platform"].external_id
    [team_grant] = [g for g in small.grants if g.group_external_id == platform]
    assert (team_grant.permission, team_grant.level) == ("deployer", Level.WRITE)
    [direct] = [g for g in small.grants_of("carl") if g.via == "direct"]
    assert (direct.permission, direct.level) == ("deployer", Level.WRITE)


# --- repositories -------------------------------------------------------------


def test_repositories_belong_to_the_org_with_visibility_and_archive_state(small):
    api, web, old = small.resources["acme/api"], small.resources["acme/web"], small.resources["acme/old"]
    assert (api.type, api.parent_external_id, api.external_id) == (
        "repository",
        "org:9001",
        f"repo:{small_org().repos['api'].id}",
    )
    assert api.attributes == {"visibility": "private", "private": True, "archived": False, "fork": False}
    assert (web.attributes["visibility"], web.attributes["private"]) == ("public", False)
    assert old.attributes["archived"] is True


def test_direct_collaborators_carry_the_role_github_reports(small):
    [grant] = [g for g in small.grants_of("max") if g.via == "direct"]
    assert (grant.kind, grant.resource_external_id) == ("permission", small.resources["acme/api"].external_id)
    assert (grant.permission, grant.level) == ("admin", Level.ADMIN)


def test_repository_invitations_are_pending_accounts_with_an_invitation_grant(small):
    rita = small.accounts["rita"]
    assert (rita.state, rita.external_id.split(":")[0]) == (AccountState.PENDING, "repo_invitation")
    [grant] = small.grants_of("rita")
    assert (grant.kind, grant.via, grant.permission, grant.level) == ("invitation", "invitation", "triage", Level.READ)
    assert grant.resource_external_id == small.resources["acme/web"].external_id


def test_deploy_keys_are_accounts_with_read_or_write_on_their_repository(small):
    keys = {a.name: a for a in small.records if isinstance(a, AccountRecord) and a.type == AccountType.DEPLOY_KEY}
    assert set(keys) == {"ci", "release"}
    ci_id = keys["ci"].external_id.split(":")[1]
    assert keys["ci"].login == f"deploy_key:acme/api:{ci_id}"
    assert (keys["ci"].attributes["read_only"], keys["release"].attributes["read_only"]) == (True, False)
    [read] = small.grants_of(keys["ci"].login)
    [write] = small.grants_of(keys["release"].login)
    assert (read.permission, read.level, read.via) == ("read", Level.READ, "direct")
    assert (write.permission, write.level) == ("write", Level.WRITE)
    assert read.resource_external_id == small.resources["acme/api"].external_id


def test_app_installations_on_all_repositories_cascade_from_the_org(small):
    renovate = small.accounts["app:renovate"]
    assert (renovate.type, renovate.state) == (AccountType.APP_INSTALLATION, AccountState.ACTIVE)
    assert renovate.attributes["repository_selection"] == "all"
    [grant] = small.grants_of("app:renovate")
    assert (grant.permission, grant.level) == ("contents:write,metadata:read", Level.WRITE)
    assert (grant.resource_external_id, grant.cascade_to, grant.applies_to_self) == ("org:9001", ("repository",), False)


def test_a_suspended_app_on_selected_repositories_is_recorded_on_the_org_as_selected(small):
    bot = small.accounts["app:release-bot"]
    assert bot.state == AccountState.SUSPENDED
    [grant] = small.grants_of("app:release-bot")
    assert (grant.permission, grant.level) == ("administration:write,metadata:read", Level.ADMIN)
    assert (grant.cascade_to, grant.applies_to_self, grant.attributes) == ((), True, {"repositories": "selected"})


# --- stream integrity ---------------------------------------------------------


def check_stream(records: list) -> None:
    """Every account and resource once, and yielded before any grant that names it."""
    ids = Counter(r.key if isinstance(r, GrantRecord) else r.external_id for r in records)
    assert [key for key, count in ids.items() if count > 1] == []
    seen: set[str] = set()
    for record in records:
        if isinstance(record, GrantRecord):
            for ref in (record.account_external_id, record.group_external_id, record.resource_external_id):
                assert ref is None or ref in seen, f"{ref} is referenced before it is yielded"
        else:
            seen.add(record.external_id)


def test_every_account_and_resource_is_yielded_once_before_its_grants(small):
    check_stream(small.records)


def test_a_generated_org_streams_consistently_and_finds_every_member_across_pages():
    org = GitHubOrg.generate("acme", seed=7, members=130, outside_collaborators=3, teams=4, repos=6)
    with simulator(org) as sim:
        result = fetch(connector(sim.url))
        requests = list(sim.requests)
    check_stream(result.records)
    assert set(result.members_of("acme")) == set(org.members)
    assert len(org.members) > 100
    second_pages = [r for r in requests if r.query.get("page") == "2"]
    assert any(r.path.endswith("/members") for r in second_pages)
    facts = org.facts()
    found = {
        (r.path.split("/")[2], login)
        for r in result.resources.values()
        if r.type == "team"
        for login in result.members_of(r.path)
    }
    added = {(slug, login) for slug, login, _ in facts.team_members}
    # Every recorded membership is real, and each team's subtree reaches exactly the users added in it.
    assert found <= added
    for slug in org.teams:
        subtree = set(org.descendants(slug))
        assert {login for team, login in found if team in subtree} == {
            login for team, login in added if team in subtree
        }


def test_an_item_repeated_by_a_list_that_shifts_between_pages_is_yielded_once():
    org = GitHubOrg.generate("acme", seed=4, members=130, outside_collaborators=0, teams=1, repos=1)
    with simulator(org) as sim:
        records, shifted = [], False
        for record in connector(sim.url).fetch():
            records.append(record)
            if not shifted and isinstance(record, GrantRecord) and record.via == "membership":
                # Page 1 of the member list is read; a new member sorting first pushes its last item onto page 2.
                with sim.lock:
                    org.add_user("aaron").id = 5
                    org.members = {"aaron": "member", **org.members}
                shifted = True
    logins = Records(records).members_of("acme")
    assert shifted and len(logins) == len(org.members) - 1  # aaron came too late, nobody came twice
    check_stream(records)


def test_lists_ask_for_100_items_and_later_pages_come_from_link_headers_only(small):
    single = {"GET /orgs/{org}", "GET /orgs/{org}/teams/{team_slug}/memberships/{username}"}
    lists = [r for r in small.requests if r.endpoint not in single]
    assert lists and all(r.query.get("per_page") == "100" for r in lists)
    org = GitHubOrg.generate("acme", seed=2, members=120, outside_collaborators=0, teams=1, repos=1)
    with simulator(org) as sim:
        fetch(connector(sim.url))
        later = [r for r in sim.requests if r.query.get("page")]
    # The simulator's links name the org by id: a client that built page URLs would ask /orgs/acme/...
    assert later and all(r.path.startswith("/organizations/9001/") for r in later)


# --- failures -----------------------------------------------------------------


def test_a_404_for_an_org_list_is_a_permission_problem_not_an_empty_list():
    # What a fine-grained token without the organization permission gets: 404 Not Found.
    with simulator(small_org()) as sim:
        sim.add_fault(ERROR, "/orgs/acme/installations", status=404)
        with pytest.raises(PermissionProblem, match=r"404.*/orgs/acme/installations \(needs admin:org"):
            list(connector(sim.url).fetch())


@pytest.mark.parametrize("scopes,missing", [(("repo",), "read:org"), (("read:org",), "repo")])
def test_a_classic_token_missing_a_scope_is_refused_before_anything_is_listed(scopes, missing):
    # Without repo GitHub silently lists public repositories only; without read:org the lists answer 404.
    with simulator(small_org(), tokens={OWNER_TOKEN: Token("olivia", scopes=scopes)}) as sim:
        with pytest.raises(PermissionProblem, match=f"lacks the {missing} scope"):
            list(connector(sim.url).fetch())
        assert [r.endpoint for r in sim.requests] == ["GET /orgs/{org}"]


def test_a_404_for_one_repositorys_list_fails_the_sync():
    with simulator(small_org()) as sim:
        sim.add_fault(ERROR, "/repos/acme/web/keys", status=404)
        with pytest.raises(PermissionProblem, match="/repos/acme/web/keys"):
            list(connector(sim.url).fetch())


def test_a_bad_token_is_a_permission_problem():
    with simulator(small_org()) as sim:
        with pytest.raises(PermissionProblem, match="401"):
            list(connector(sim.url, token="ghp_" + "notAValidTokenAtAll000000000000000").fetch())


def test_a_token_that_is_not_an_owners_fails_before_reading_anything_else():
    tokens = {OWNER_TOKEN: Token("olivia"), MEMBER_TOKEN: Token("ada")}
    with simulator(small_org(), tokens=tokens) as sim:
        with pytest.raises(PermissionProblem, match="default_repository_permission"):
            list(connector(sim.url, token=MEMBER_TOKEN).fetch())
        assert [r.endpoint for r in sim.requests] == ["GET /orgs/{org}"]


def test_two_factor_is_unknown_with_the_reason_when_the_owner_only_filter_is_refused():
    with simulator(small_org()) as sim:
        # The first members request is the 2fa_disabled filter; GitHub refuses it to non-owners with a 422.
        sim.add_fault(ERROR, "/orgs/acme/members", status=422)
        result = fetch(connector(sim.url))
    ada = result.accounts["ada"]
    assert ada.two_factor is None and ada.attributes["two_factor_unknown_reason"]
    assert result.accounts["oscar"].two_factor is False  # the outside collaborators' filter still answered


def test_a_server_error_on_one_page_is_retried_and_the_result_is_complete():
    org = GitHubOrg.generate("acme", seed=5, members=110, outside_collaborators=2, teams=3, repos=4)
    with simulator(org) as sim:
        expected = fetch(connector(sim.url)).records
        sim.add_fault(ERROR, "/organizations/9001/members", status=500)  # the second page of a member list
        time = FakeTime(NOW)
        conn = connector(sim.url, sleep=time.sleep)
        result = fetch(conn)
        statuses = [r.status for r in sim.requests if r.path == "/organizations/9001/members"]
    assert 500 in statuses
    assert conn.http.stats.retries == 1 and len(time.sleeps) == 1
    assert result.records == expected


def test_an_exhausted_rate_limit_is_waited_out_with_the_injected_sleep():
    time = FakeTime(NOW)
    with simulator(small_org(), clock=time.clock, primary_limit=10) as sim:
        conn = connector(sim.url, sleep=time.sleep, clock=time.clock, max_concurrency=1, max_rate_limit_wait=4000)
        result = fetch(conn)
    check_stream(result.records)
    assert result.members_of("acme/team/eng") == {"ada": "maintainer"}
    assert time.sleeps and all(3000 < s <= 3602 for s in time.sleeps)
    assert time.now - NOW > 3000


# --- addresses, headers, test() -------------------------------------------------


@pytest.mark.parametrize(
    "base_url,api_url",
    [
        ("https://api.github.com", "https://api.github.com"),
        ("https://api.github.com/", "https://api.github.com"),
        ("https://github.com", "https://api.github.com"),
        ("https://github.example.com", "https://github.example.com/api/v3"),
        ("https://github.example.com/api/v3/", "https://github.example.com/api/v3"),
        ("https://api.acme.ghe.com", "https://api.acme.ghe.com"),
    ],
)
def test_the_api_url_adds_api_v3_for_enterprise_server(base_url, api_url):
    assert GitHubConnector.api_url(base_url) == api_url


def test_an_enterprise_server_address_is_read_under_api_v3():
    with simulator(small_org()) as sim:
        api_url = GitHubConnector.api_url(sim.url)
        assert api_url == sim.ghes_url
        result = fetch(connector(api_url))
        prefixes = {r.prefix for r in sim.requests}
    assert prefixes == {"/api/v3"}
    assert result.members_of("acme/team/sre") == {"carl": "member"}


def test_it_sends_a_bearer_token_and_pins_the_api_version():
    conn = GitHubConnector(ConnectorConfig("gh", "https://api.github.com", {"org": "acme"}, lambda key: "tok"), None)
    assert conn.auth_headers() == {
        "Authorization": "Bearer tok",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def test_the_org_option_is_required():
    with pytest.raises(ConfigurationError, match="org="):
        GitHubConnector.validate_options({})


def test_the_connection_test_reports_org_plan_and_whether_the_token_is_an_owners():
    tokens = {OWNER_TOKEN: Token("olivia"), MEMBER_TOKEN: Token("ada")}
    with simulator(small_org(), tokens=tokens) as sim:
        as_owner = connector(sim.url).test()
        as_member = connector(sim.url, token=MEMBER_TOKEN).test()
    assert as_owner == "organization acme, plan enterprise; token user olivia is an owner"
    assert as_member == "organization acme, plan not shown (owners only); token user ada is not an owner"


def test_the_connection_test_fails_for_an_unknown_org():
    with simulator(small_org()) as sim:
        with pytest.raises(PermissionProblem, match="404 for /orgs/nope"):
            connector(sim.url, org="nope").test()


# --- levels -------------------------------------------------------------------


@pytest.mark.parametrize(
    "role_name,flags,expected",
    [
        ("triage", {}, ("triage", Level.READ)),
        ("maintain", {}, ("maintain", Level.WRITE)),
        ("auditor", {"pull": True, "triage": True}, ("auditor", Level.READ)),  # a custom role based on triage
        (None, {"pull": True, "push": True, "admin": False}, ("write", Level.WRITE)),  # older Enterprise Server
    ],
)
def test_a_repository_role_takes_its_level_from_its_name_or_its_base_role(role_name, flags, expected):
    assert repository_role(role_name, flags) == expected


def test_an_app_permission_map_takes_its_highest_level_and_administration_write_is_admin():
    assert app_permissions({"metadata": "read", "checks": "write"}) == ("checks:write,metadata:read", Level.WRITE)
    assert app_permissions({"organization_administration": "write"})[1] == Level.ADMIN
    assert app_permissions({"administration": "read", "members": "admin"})[1] == Level.ADMIN
    assert app_permissions({"administration": "read"})[1] == Level.READ
