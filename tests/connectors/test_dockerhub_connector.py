"""The Docker Hub connector against the Docker Hub simulator over real HTTP on 127.0.0.1 (no database)."""

import logging
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from connectors.base import (
    AccountRecord,
    ConfigurationError,
    ConnectorConfig,
    ConnectorError,
    GrantRecord,
    Outcome,
    PermissionProblem,
    ResourceRecord,
    Unsupported,
)
from connectors.choices import AccountState, AccountType, GrantKind, Level
from connectors.providers.dockerhub import DockerHubConnector
from connectors.providers.dockerhub_access import scopes_level
from connectors.simulators.dockerhub import DockerHubOrg, DockerHubSimulator
from connectors.simulators.dockerhub_org import TYPE_ORG, TYPE_REPO
from connectors.simulators.server import ERROR, SECONDARY_RATE_LIMIT
from tests.connectors.helpers import Records, attach_http
from tests.fakes import FakeTime

OWNER_PAT = "dckr_pat_ownerTokenForTheSimulatedOrg01"
EDITOR_PAT = "dckr_pat_editorTokenForTheSimulatedOrg1"
MEMBER_PAT = "dckr_pat_memberTokenForTheSimulatedOrg1"
NOW = 1_700_000_000.0  # 2023-11-14
HOSTILE_TEAM = "qa & ops ü%20<x>"
HOSTILE_NAME = '=HYPERLINK("http://x")<script>'


def small_org() -> DockerHubOrg:
    """Every kind of grant: two owners, an editor, members in two teams, three repositories, invites, tokens."""
    org = DockerHubOrg("acme")
    org.add_member("olivia", "owner", full_name="Olivia Owner")
    org.add_member("oscar", "owner")
    org.add_member("eddie", "editor")
    org.add_member("ada", last_logged_in_at="2023-10-01T09:30:00.000000Z")
    org.add_member("max", is_guest=True, email="max@gmail.example", full_name=HOSTILE_NAME)
    org.add_team("devs", description="Developers")
    org.add_team(HOSTILE_TEAM)
    org.add_team_member("devs", "ada")
    org.add_team_member("devs", "max")
    org.add_team_member(HOSTILE_TEAM, "max")
    org.add_repo("api")
    org.add_repo("web", private=False)
    org.add_repo("tools")
    org.grant_team("devs", "api", "write")
    org.grant_team("devs", "web", "read")
    org.grant_team(HOSTILE_TEAM, "tools", "admin")
    org.add_invite("ivy", "editor", team="devs", inviter="olivia")
    org.add_invite("pat+hub@example.com")
    org.add_token("ci", [(TYPE_REPO, "acme/*", ["scope-image-push"])], created_by="olivia", last_used_at=None)
    org.add_token(
        "deploy",
        [(TYPE_REPO, "acme/api", ["scope-image-pull"]), (TYPE_REPO, "acme/a*", ["scope-repository-read"])],
        created_by="oscar",
        expires_at="2030-01-01T00:00:00Z",
        last_used_at="2023-11-01T12:00:00Z",
    )
    org.add_token("off", [(TYPE_ORG, "acme", ["scope-member-read"])], is_active=False)
    org.add_token("stale", [(TYPE_REPO, "other/x", ["scope-image-pull"])], expires_at="2021-01-01T00:00:00Z")
    return org


@contextmanager
def simulator(org: DockerHubOrg, time: FakeTime | None = None, **options):
    pats = {OWNER_PAT: "olivia", EDITOR_PAT: "eddie", MEMBER_PAT: "ada"}
    options.setdefault("pats", {key: user for key, user in pats.items() if user in org.members} or pats)
    with DockerHubSimulator(org, clock=(time or FakeTime(NOW)).clock, **options) as sim:
        yield sim


def connector(
    sim, token: str = OWNER_PAT, username: str = "olivia", time: FakeTime | None = None, **options
) -> DockerHubConnector:
    time = time or FakeTime(NOW)
    config = ConnectorConfig(
        name="hub-test",
        api_url=sim.url,
        options={"org": "acme", "username": username, **options},
        secret=lambda key: token,
        allow_private_network=True,
    )
    return attach_http(DockerHubConnector(config, http=None), sim.url, sleep=time.sleep, clock=time.clock)


def fetch(conn: DockerHubConnector) -> Records:
    return Records(list(conn.fetch()))


@pytest.fixture(scope="module")
def small():
    """One sync of the small org, shared by the tests that only read its records and request log."""
    with simulator(small_org()) as sim:
        result = fetch(connector(sim))
        result.requests = list(sim.requests)
        yield result


# --- organization, members, roles -------------------------------------------------


def test_it_yields_the_organization_first(small):
    org = small.records[0]
    assert isinstance(org, ResourceRecord)
    assert (org.type, org.path, org.external_id) == ("organization", "acme", "org:acme")


def test_owners_own_the_org_and_reach_every_repository_as_admin(small):
    [grant] = [g for g in small.grants_of("olivia") if g.resource_external_id == "org:acme"]
    assert (grant.kind, grant.permission, grant.level, grant.via) == ("membership", "Owner", Level.OWNER, "org_owner")
    assert (grant.cascade_to, grant.cascade_level) == (("repository",), Level.ADMIN)


def test_editors_are_admins_of_the_org_and_of_every_repository(small):
    [grant] = [g for g in small.grants_of("eddie") if g.resource_external_id == "org:acme"]
    assert (grant.permission, grant.level, grant.via) == ("Editor", Level.ADMIN, "direct")
    assert (grant.cascade_to, grant.cascade_level) == (("repository",), Level.ADMIN)


def test_members_read_the_org_and_reach_repositories_only_through_teams(small):
    [grant] = [g for g in small.grants_of("ada") if g.resource_external_id == "org:acme"]
    assert (grant.kind, grant.permission, grant.level, grant.via, grant.cascade_to) == (
        "membership",
        "Member",
        Level.READ,
        "direct",
        (),
    )
    assert small.members_of("acme") == {
        "olivia": "Owner",
        "oscar": "Owner",
        "eddie": "Editor",
        "ada": "Member",
        "max": "Member",
    }


def test_member_accounts_carry_id_name_email_last_login_and_guest_flag(small):
    ada, max_ = small.accounts["ada"], small.accounts["max"]
    assert ada.external_id == f"user:{small_org().users['ada'].id}"
    assert (ada.type, ada.email, ada.state) == (AccountType.HUMAN, "ada@acme.example", AccountState.ACTIVE)
    assert ada.last_active_at == datetime(2023, 10, 1, 9, 30, tzinfo=UTC)
    assert (max_.attributes["is_guest"], ada.attributes["is_guest"]) == (True, False)
    assert small.accounts["olivia"].name == "Olivia Owner"


# --- teams ---------------------------------------------------------------------------


def test_teams_are_resources_under_the_org_including_the_owners_team(small):
    devs, owners = small.resources["acme/team/devs"], small.resources["acme/team/owners"]
    assert (devs.type, devs.parent_external_id, devs.name) == ("team", "org:acme", "devs")
    assert devs.external_id == f"team:{small_org().teams['devs'].id}"
    assert devs.attributes["description"] == "Developers"
    assert (owners.type, owners.parent_external_id) == ("team", "org:acme")
    assert small.members_of("acme/team/owners") == {"olivia": "member", "oscar": "member"}


def test_team_memberships_come_from_the_member_list_without_a_request_per_team(small):
    assert small.members_of("acme/team/devs") == {"ada": "member", "max": "member"}
    assert {(g.kind, g.level, g.via) for g in small.grants_on("acme/team/devs")} == {
        ("membership", Level.READ, "direct")
    }
    assert not [r for r in small.requests if r.path.endswith("/members") and "/groups/" in r.path]


def test_a_team_that_changes_between_the_two_lists_is_read_from_its_own_member_list():
    class Shifting(DockerHubSimulator):
        """Someone joins devs right after the member list was served."""

        def _list_members(self, request, principal, org):
            response = super()._list_members(request, principal, org)
            if "eddie" not in self.org.teams["devs"].members:
                self.org.add_team_member("devs", "eddie")
            return response

    org = small_org()
    with Shifting(org, pats={OWNER_PAT: "olivia"}, clock=FakeTime(NOW).clock) as sim:
        result = fetch(connector(sim))
        reads = [r.path for r in sim.requests if r.path.startswith("/v2/orgs/acme/groups/")]
    assert result.members_of("acme/team/devs") == {"ada": "member", "max": "member", "eddie": "member"}
    assert reads == ["/v2/orgs/acme/groups/devs/members"]


def test_team_permissions_on_repositories_are_held_by_the_team(small):
    devs = small.resources["acme/team/devs"].external_id
    by_id = {r.external_id: r.path for r in small.records if isinstance(r, ResourceRecord)}
    grants = {
        (by_id[g.resource_external_id], g.permission, g.level, g.via)
        for g in small.grants
        if g.group_external_id == devs
    }
    assert grants == {
        ("acme/api", "write", Level.WRITE, "team:acme/devs"),
        ("acme/web", "read", Level.READ, "team:acme/devs"),
    }
    assert all(g.kind == GrantKind.PERMISSION for g in small.grants if g.group_external_id == devs)


def test_hostile_names_are_stored_verbatim_and_sent_quoted(small):
    team = small.resources[f"acme/team/{HOSTILE_TEAM}"]
    assert team.name == HOSTILE_TEAM
    [grant] = [g for g in small.grants if g.group_external_id == team.external_id]
    assert (grant.via, grant.level) == (f"team:acme/{HOSTILE_TEAM}", Level.ADMIN)
    assert small.accounts["max"].name == HOSTILE_NAME
    assert small.members_of(f"acme/team/{HOSTILE_TEAM}") == {"max": "member"}


# --- repositories and anonymous pull -----------------------------------------------------


def test_repositories_belong_to_the_org_with_their_visibility(small):
    api, web = small.resources["acme/api"], small.resources["acme/web"]
    assert (api.type, api.external_id, api.parent_external_id) == ("repository", "repo:acme/api", "org:acme")
    assert (api.attributes["private"], web.attributes["private"]) == (True, False)


def test_anyone_can_pull_a_public_repository_through_the_anonymous_pseudo_account(small):
    anonymous = small.accounts["anonymous"]
    assert (anonymous.type, anonymous.external_id) == (AccountType.PSEUDO, "pseudo:anonymous")
    [grant] = small.grants_of("anonymous")
    assert grant.resource_external_id == "repo:acme/web"
    assert (grant.kind, grant.permission, grant.level, grant.via) == ("permission", "pull", Level.READ, "direct")


# --- invitations -------------------------------------------------------------------


def test_invitations_are_pending_accounts_with_the_invited_role(small):
    ivy, pat = small.accounts["ivy"], small.accounts["pat+hub@example.com"]
    assert (ivy.state, pat.state) == (AccountState.PENDING, AccountState.PENDING)
    assert (ivy.email, pat.email) == ("", "pat+hub@example.com")
    assert (ivy.attributes["team"], ivy.attributes["inviter"]) == ("devs", "olivia")
    [editor] = small.grants_of("ivy")
    [member] = small.grants_of("pat+hub@example.com")
    assert (editor.kind, editor.via, editor.permission, editor.level) == (
        "invitation",
        "invitation",
        "editor",
        Level.ADMIN,
    )
    assert (member.permission, member.level, member.resource_external_id) == ("member", Level.READ, "org:acme")


# --- organization access tokens ---------------------------------------------------------


def token(result: Records, label: str) -> AccountRecord:
    [found] = [a for a in result.accounts.values() if a.type == AccountType.ACCESS_TOKEN and a.name == label]
    return found


def test_access_tokens_are_accounts_with_creator_creation_expiry_and_last_use(small):
    deploy = token(small, "deploy")
    token_id = deploy.attributes["token_id"]
    assert deploy.login == deploy.external_id == f"access_token:{token_id}"
    assert (deploy.attributes["created_by"], deploy.attributes["expires_at"]) == ("oscar", "2030-01-01T00:00:00Z")
    assert deploy.attributes["created_at"]
    assert deploy.last_active_at == datetime(2023, 11, 1, 12, tzinfo=UTC)
    assert token(small, "ci").last_active_at is None


def test_token_states_are_active_disabled_or_expired(small):
    states = {label: token(small, label).state for label in ("ci", "deploy", "off", "stale")}
    assert states == {
        "ci": AccountState.ACTIVE,
        "deploy": AccountState.ACTIVE,
        "off": AccountState.DISABLED,
        "stale": AccountState.EXPIRED,
    }


def test_a_token_for_every_repository_is_one_grant_on_the_org_cascading_to_repositories(small):
    [grant] = small.grants_of(token(small, "ci").login)
    assert (grant.resource_external_id, grant.permission, grant.level) == ("org:acme", "scope-image-push", Level.WRITE)
    assert (grant.cascade_to, grant.cascade_level, grant.applies_to_self) == (("repository",), Level.WRITE, False)


def test_a_tokens_scopes_on_one_repository_are_merged_across_its_resources(small):
    [grant] = small.grants_of(token(small, "deploy").login)
    assert grant.resource_external_id == "repo:acme/api"
    assert (grant.permission, grant.level) == ("scope-image-pull,scope-repository-read", Level.READ)
    assert grant.attributes["resource_paths"] == ["acme/a*", "acme/api"]


def test_organization_scopes_are_a_grant_on_the_org_itself(small):
    [grant] = small.grants_of(token(small, "off").login)
    assert (grant.resource_external_id, grant.permission, grant.applies_to_self) == (
        "org:acme",
        "scope-member-read",
        True,
    )


def test_resources_outside_the_org_are_kept_on_the_token_not_dropped(small):
    stale = token(small, "stale")
    assert small.grants_of(stale.login) == []
    assert stale.attributes["resource_paths_elsewhere"] == ["other/x"]


def test_the_scopes_of_each_token_are_read_one_token_at_a_time(small):
    singles = [r for r in small.requests if r.path.startswith("/v2/orgs/acme/access-tokens/")]
    assert len(singles) == 4


@pytest.mark.parametrize(
    ("scopes", "level"),
    [
        (["scope-image-pull", "scope-tag-read"], Level.READ),
        (["scope-image-push"], Level.WRITE),
        (["scope-image-pull", "scope-image-delete"], Level.ADMIN),
        (["scope-repo-group-edit"], Level.ADMIN),
        (["scope-from-the-future"], Level.ADMIN),
        ([], Level.READ),
    ],
)
def test_a_set_of_scopes_takes_its_highest_level_and_an_unknown_scope_counts_as_admin(scopes, level):
    assert scopes_level(scopes) == level


# --- every record, pagination, efficiency -----------------------------------------------


def test_every_account_and_resource_is_yielded_once_and_every_grant_key_is_unique(small):
    ids = Counter(r.external_id for r in small.records if not isinstance(r, GrantRecord))
    assert max(ids.values()) == 1
    keys = Counter(g.key for g in small.grants)
    assert max(keys.values()) == 1
    known = set(ids)
    assert all(g.resource_external_id in known for g in small.grants)
    assert all((g.account_external_id or g.group_external_id) in known for g in small.grants)


def test_no_secret_is_requested_or_stored(small):
    secrets = {t.secret for t in small_org().tokens.values()}
    text = repr(small.records)
    assert not any(secret in text for secret in secrets)
    assert OWNER_PAT not in text
    assert not [r for r in small.requests if r.method == "POST" and "access-tokens" in r.path]


def test_a_generated_org_is_read_across_pages_in_the_minimum_number_of_requests():
    org = DockerHubOrg.generate("acme", seed=5, members=230, teams=12, repos=140, tokens=6)
    with simulator(org, pats={OWNER_PAT: org.owner_username}) as sim:
        result = fetch(connector(sim, username=org.owner_username))
        requests = list(sim.requests)
    facts = org.facts()
    assert result.members_of("acme").keys() == facts.members.keys()
    assert {p.split("/", 1)[1] for p, r in result.resources.items() if r.type == "repository"} == set(facts.repos)
    pages = [r for r in requests if r.path == "/v2/orgs/acme/members"]
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]
    assert all(r.query["page_size"] == "100" for r in pages if "page" not in r.query)
    assert len(requests) == org.rest_lower_bound()


def test_a_list_that_shifts_between_two_pages_fails_the_read_instead_of_missing_someone():
    class Shrinking(DockerHubSimulator):
        """A member seen on page 1 leaves before page 2 is read: everyone after them moves up one place."""

        def _list_members(self, request, principal, org):
            response = super()._list_members(request, principal, org)
            if "page" not in request.query:
                self.org.remove_member([u for u, role in self.org.members.items() if role == "member"][3])
            return response

    org = DockerHubOrg.generate("acme", seed=2, members=150, teams=3, repos=3)
    with Shrinking(org, pats={OWNER_PAT: org.owner_username}, clock=FakeTime(NOW).clock) as sim:
        with pytest.raises(ConnectorError, match="changed while it was read") as failed:
            fetch(connector(sim, username=org.owner_username))
    assert failed.value.permanent is False


def test_a_server_error_on_one_page_is_retried_and_the_result_is_complete():
    org = DockerHubOrg.generate("acme", seed=2, members=150, teams=4, repos=10)
    with simulator(org, pats={OWNER_PAT: org.owner_username}) as sim:
        sim.add_fault(ERROR, "/v2/orgs/*/members", status=502, on=2, times=1)
        result = fetch(connector(sim, username=org.owner_username))
    assert len(result.members_of("acme")) == 150


# --- signing in, limits ---------------------------------------------------------------


def test_a_wrong_token_is_a_permission_problem_that_names_the_username_option():
    with simulator(small_org()) as sim, pytest.raises(PermissionProblem, match="username=") as refused:
        list(connector(sim, token="dckr_pat_wrong0000000000000000").fetch())
    assert "owners" not in str(refused.value)


def test_a_token_deleted_between_the_list_and_its_read_is_not_recorded():
    class Deleting(DockerHubSimulator):
        def _list_tokens(self, request, principal, org):
            response = super()._list_tokens(request, principal, org)
            self.org.delete_token(next(t.id for t in self.org.tokens.values() if t.label == "off"))
            return response

    with Deleting(small_org(), pats={OWNER_PAT: "olivia"}, clock=FakeTime(NOW).clock) as sim:
        result = fetch(connector(sim))
    labels = {a.name for a in result.accounts.values() if a.type == AccountType.ACCESS_TOKEN}
    assert labels == {"ci", "deploy", "stale"}


def test_a_members_token_fails_before_anything_is_recorded_because_only_owners_list_tokens():
    with simulator(small_org()) as sim:
        records = []
        with pytest.raises(PermissionProblem, match="owners"):
            records.extend(connector(sim, token=MEMBER_PAT, username="ada").fetch())
    assert records == []


def test_an_organization_access_token_can_sign_in_but_cannot_sync():
    org = small_org()
    oat = org.add_token("reader", [(TYPE_ORG, "acme", ["scope-member-read"])])
    with simulator(org) as sim:
        conn = connector(sim, token=oat.secret, username="acme")
        assert "organization access token" in conn.test()
        with pytest.raises(PermissionProblem, match="never to an organization access token"):
            list(conn.fetch())


def test_the_bearer_token_is_renewed_before_it_expires_without_a_401():
    time = FakeTime(NOW)
    with simulator(small_org(), time, jwt_lifetime=600) as sim:
        conn = connector(sim, time=time)
        fetch(conn)
        time.now += 560  # within a minute of expiry
        fetch(conn)
        statuses = Counter(r.status for r in sim.requests)
    assert conn.session.logins == 2
    assert statuses[401] == 0


def test_a_401_is_retried_once_after_signing_in_again():
    time = FakeTime(NOW)
    with simulator(small_org(), time) as sim:
        conn = connector(sim, time=time)
        conn.test()
        sim._key = b"rotated" * 5  # every token issued so far is now refused
        result = fetch(conn)
        assert [r.status for r in sim.requests if r.status == 401] == [401]
    assert conn.session.logins == 2
    assert "olivia" in result.accounts


def test_a_credential_revoked_mid_sync_is_a_permission_problem_not_a_loop():
    with simulator(small_org()) as sim:
        conn = connector(sim)
        conn.test()
        sim._key, sim.pats = b"rotated" * 5, {}
        with pytest.raises(PermissionProblem):
            list(conn.fetch())
        assert len([r for r in sim.requests if r.path == "/v2/auth/token"]) == 2


def test_an_exhausted_rate_limit_is_waited_out_until_the_reset_without_real_sleeping():
    time = FakeTime(NOW)
    with simulator(small_org(), time, rate_limit=8) as sim:
        result = fetch(connector(sim, time=time))
    assert "olivia" in result.accounts
    assert sum(time.sleeps) >= 60
    assert max(time.sleeps) <= 62


def test_x_retry_after_is_read_as_a_unix_timestamp_not_as_seconds():
    time = FakeTime(NOW)
    with simulator(small_org(), time) as sim:
        sim.add_fault(SECONDARY_RATE_LIMIT, "/v2/orgs/*/groups", seconds=30, times=1)
        fetch(connector(sim, time=time))
    assert time.sleeps == [30]


def test_the_connection_test_reports_the_org_and_the_role_of_the_signed_in_user():
    with simulator(small_org()) as sim:
        assert connector(sim).test() == "organization acme, 5 members; signed in as olivia, an owner"
        assert connector(sim, token=EDITOR_PAT, username="eddie").test().endswith("eddie, an editor")


def test_an_unknown_org_is_a_permission_problem():
    with simulator(small_org()) as sim:
        conn = connector(sim)
        conn.config.options["org"] = "nope"
        with pytest.raises(PermissionProblem, match="no organization nope"):
            conn.test()


def test_the_api_url_is_the_hub_address_without_v2():
    assert DockerHubConnector.api_url("https://hub.docker.com/") == "https://hub.docker.com"
    assert DockerHubConnector.api_url("https://hub.docker.com/v2") == "https://hub.docker.com"


def test_org_and_username_are_required_and_token_revocation_is_checked():
    with pytest.raises(ConfigurationError, match="username"):
        DockerHubConnector.validate_options({"org": "acme"})
    with pytest.raises(ConfigurationError, match="deactivate, delete"):
        DockerHubConnector.validate_options({"org": "acme", "username": "x", "token_revocation": "burn"})
    DockerHubConnector.validate_options({"org": "acme", "username": "x", "token_revocation": "delete"})


def test_secrets_never_reach_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    org = small_org()
    with simulator(org) as sim:
        conn = connector(sim)
        fetch(conn)
        jwt = conn.session._jwt
        sim.add_fault(ERROR, "/v2/orgs/*/invites", status=500, times=None)
        with pytest.raises(Exception, match="500"):
            fetch(conn)
        with pytest.raises(PermissionProblem) as refused:
            list(connector(sim, token=OWNER_PAT[:-3] + "xyz").fetch())
    for text in (caplog.text, str(refused.value)):
        assert OWNER_PAT not in text and jwt not in text and OWNER_PAT[:-3] + "xyz" not in text


# --- revocation ----------------------------------------------------------------------


@contextmanager
def revoking(**options):
    """A fresh org, its simulator, a connector and the records of one fetch."""
    org = small_org()
    with simulator(org) as sim:
        conn = connector(sim, **options)
        yield org, conn, fetch(conn)


def membership(result: Records, login: str, path: str) -> GrantRecord:
    resource = result.resources[path].external_id
    [grant] = [g for g in result.grants_of(login) if g.resource_external_id == resource]
    return grant


def test_removing_a_member_takes_them_out_of_the_org_and_its_teams_and_a_second_time_is_already_absent():
    with revoking() as (org, conn, result):
        target = result.target(membership(result, "ada", "acme"))
        first = conn.revoke(target)
        second = conn.revoke(target)
        assert "ada" not in org.members and "ada" not in org.teams["devs"].members
    assert (first.outcome, second.outcome) == (Outcome.REVOKED, Outcome.ALREADY_ABSENT)


def test_an_owner_is_downgraded_with_a_lowercase_role():
    with revoking() as (org, conn, result):
        target = result.target(membership(result, "oscar", "acme"))
        to_editor = conn.revoke(target, downgrade_to=Level.ADMIN)
        assert org.members["oscar"] == "editor"
        to_member = conn.revoke(target, downgrade_to=Level.READ)
        again = conn.revoke(target, downgrade_to=Level.READ)
        assert org.members["oscar"] == "member"
    assert [r.outcome for r in (to_editor, to_member, again)] == [
        Outcome.REVOKED,
        Outcome.REVOKED,
        Outcome.ALREADY_ABSENT,
    ]


def test_removing_the_last_owner_fails_with_docker_hubs_reason():
    with revoking() as (org, conn, result):
        org.set_member_role("oscar", "member")
        result_ = conn.revoke(result.target(membership(result, "olivia", "acme")))
        assert "olivia" in org.members
    assert result_.outcome == Outcome.FAILED
    assert "last owner" in result_.message


def test_removing_a_team_membership_and_again():
    with revoking() as (org, conn, result):
        target = result.target(membership(result, "max", f"acme/team/{HOSTILE_TEAM}"))
        first, second = conn.revoke(target), conn.revoke(target)
        assert "max" not in org.teams[HOSTILE_TEAM].members and "max" in org.members
    assert (first.outcome, second.outcome) == (Outcome.REVOKED, Outcome.ALREADY_ABSENT)


def test_a_teams_repository_permission_is_removed_or_downgraded():
    with revoking() as (org, conn, result):
        devs = result.resources["acme/team/devs"].external_id
        [api] = [g for g in result.grants if g.group_external_id == devs and g.resource_external_id == "repo:acme/api"]
        downgraded = conn.revoke(result.target(api), downgrade_to=Level.READ)
        assert org.repos["api"].groups[org.teams["devs"].id] == "read"
        removed, again = conn.revoke(result.target(api)), conn.revoke(result.target(api))
        assert org.teams["devs"].id not in org.repos["api"].groups
    assert [r.outcome for r in (downgraded, removed, again)] == [
        Outcome.REVOKED,
        Outcome.REVOKED,
        Outcome.ALREADY_ABSENT,
    ]


def test_an_invitation_is_cancelled_and_again():
    with revoking() as (org, conn, result):
        [grant] = result.grants_of("pat+hub@example.com")
        first, second = conn.revoke(result.target(grant)), conn.revoke(result.target(grant))
        assert [i.invitee for i in org.invites] == ["ivy"]
    assert (first.outcome, second.outcome) == (Outcome.REVOKED, Outcome.ALREADY_ABSENT)


def test_a_tokens_grant_is_revoked_by_deactivating_the_token_by_default():
    with revoking() as (org, conn, result):
        ci = token(result, "ci")
        [grant] = result.grants_of(ci.login)
        first, second = conn.revoke(result.target(grant)), conn.revoke(result.target(grant))
        assert org.tokens[ci.attributes["token_id"]].is_active is False
    assert (first.outcome, second.outcome) == (Outcome.REVOKED, Outcome.ALREADY_ABSENT)
    assert "deactivated" in first.message


def test_with_token_revocation_delete_the_token_is_deleted():
    with revoking(token_revocation="delete") as (org, conn, result):
        ci = token(result, "ci")
        [grant] = result.grants_of(ci.login)
        first, second = conn.revoke(result.target(grant)), conn.revoke(result.target(grant))
        assert ci.attributes["token_id"] not in org.tokens
    assert (first.outcome, second.outcome) == (Outcome.REVOKED, Outcome.ALREADY_ABSENT)


@pytest.mark.parametrize(
    ("login", "path", "downgrade_to", "reason"),
    [
        ("anonymous", "acme/web", None, "make it private"),
        ("ada", "acme/team/devs", Level.READ, "not below"),
        ("max", "acme/team/devs", None, None),
        ("ivy", "acme", Level.READ, "cancel it"),
        ("ada", "acme", Level.ADMIN, "not below"),
    ],
)
def test_what_cannot_be_revoked_is_said_and_refused(small, login, path, downgrade_to, reason):
    with simulator(small_org()) as sim:
        conn = connector(sim)
        target = small.target(membership(small, login, path))
        said = conn.cannot_revoke(target, downgrade_to=downgrade_to)
        if reason is None:
            assert said is None
            return
        assert reason in said
        with pytest.raises(Unsupported, match=reason):
            conn.revoke(target, downgrade_to=downgrade_to)
        assert not [r for r in sim.requests if r.method in ("DELETE", "PUT", "PATCH")]


def test_a_token_grant_cannot_be_downgraded(small):
    with simulator(small_org()) as sim:
        [grant] = small.grants_of(token(small, "ci").login)
        with pytest.raises(Unsupported, match="Docker Home"):
            connector(sim).revoke(small.target(grant), downgrade_to=Level.READ)


def test_the_connector_declares_what_it_revokes():
    assert {"membership:direct", "membership:org_owner", "permission:team:*", "invitation:invitation"} <= (
        DockerHubConnector.revocable
    )
