"""The Artifactory connector against the Artifactory simulator over real HTTP on 127.0.0.1 (no database)."""

import logging
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from connectors.base import (
    AccountRecord,
    ConnectorConfig,
    ConnectorError,
    GrantRecord,
    GrantTarget,
    Outcome,
    PermissionProblem,
    ResourceRecord,
    Unsupported,
)
from connectors.choices import AccountState, AccountType, GrantKind, Level
from connectors.providers.artifactory import ArtifactoryConnector
from connectors.providers.artifactory_permissions import parse_scope, parse_time, subject_user
from connectors.simulators.artifactory import ArtifactoryInstance, ArtifactorySimulator, Credential
from connectors.simulators.artifactory_org import EPOCH, Section
from connectors.simulators.server import ERROR
from tests.connectors.helpers import Records, attach_http
from tests.fakes import FakeTime

ADMIN_TOKEN = "cmVmdGtuOjAxOjE3adminTokenForTheSimulatedInstance0123456789abcd"
USER_TOKEN = "cmVmdGtuOjAxOjE3userTokenForTheSimulatedInstance01234567890abcd"
HOSTILE_USER = 'o\'neil "x" <b>&+1 ü'
HOSTILE_TARGET = 'rel/ease +ops "x"'
HOSTILE_GROUP = "ops & dev's"
NOW = EPOCH + 86_400


def small_instance() -> ArtifactoryInstance:
    """Every kind of grant: admin flag and admin group, ANY pseudo repositories, patterns, build sections, tokens."""
    inst = ArtifactoryInstance()
    inst.add_user("admin", admin=True, last_logged_in=EPOCH)
    inst.add_user("anonymous", email="")
    inst.add_user("ada", last_logged_in=EPOCH - 3600)
    inst.add_user("bob", status="disabled")
    inst.add_user("carl", realm="ldap", status="locked")
    inst.add_user("dora")
    inst.add_user(HOSTILE_USER, email="oneil@example.com")
    inst.add_group("readers", auto_join=True, members=["ada", "bob", "carl", "dora"])
    inst.add_group("ops-admins", admin_privileges=True, members=["carl"])
    inst.add_group("deployers", members=["ada", HOSTILE_USER])
    inst.add_group(HOSTILE_GROUP, members=["dora"])
    inst.add_repository("libs-local", "local", "maven")
    inst.add_repository("npm-remote", "remote", "npm")
    inst.add_repository("npm-virtual", "virtual", "npm")
    inst.add_repository("docker-fed", "federated", "docker")
    inst.add_repository("bundles", "distribution", "generic")
    inst.add_permission("Anything", ["ANY"], groups={"readers": ["read"]})
    inst.add_permission("Any Remote", ["ANY REMOTE"], users={"anonymous": ["read", "write"]})
    inst.add_permission(
        "deploy libs",
        ["libs-local", "gone-repo"],
        users={"ada": ["write", "annotate", "read"], "dora": ["read"]},
        groups={"deployers": ["read", "write", "delete"]},
        include_patterns=["org/acme/**"],
        exclude_patterns=["**/*.tmp"],
        build=Section(["artifactory-build-info"], groups={"deployers": ["read", "manage"]}),
    )
    inst.add_permission("local only", ["ANY LOCAL"], users={"bob": ["manage", "read"]})
    inst.add_permission("builds", [], build=Section(["artifactory-build-info"], users={"dora": ["read"]}))
    inst.add_permission(
        HOSTILE_TARGET, ["npm-remote"], users={HOSTILE_USER: ["read"]}, groups={HOSTILE_GROUP: ["read"]}
    )
    inst.add_token(
        "ada", token_id="t-user", expiry=NOW + 86_400, last_used=EPOCH - 60, owner="ada", description="laptop"
    )
    inst.add_token("admin", "applied-permissions/admin", token_id="t-admin", owner="admin", description="terraform")
    inst.add_token("ci-bot", "applied-permissions/groups:deployers", token_id="t-groups", description="ci")
    inst.add_token("dora", token_id="t-expired", expiry=NOW - 60)
    return inst


@contextmanager
def simulator(inst: ArtifactoryInstance | None = None, **options):
    tokens = {ADMIN_TOKEN: Credential("admin"), USER_TOKEN: Credential("dora", admin=False)}
    with ArtifactorySimulator(inst or small_instance(), tokens=tokens, **options) as sim:
        yield sim


def connector(url: str, token: str = ADMIN_TOKEN, fake: FakeTime | None = None, **http_options):
    fake = fake or FakeTime(NOW)
    config = ConnectorConfig(
        name="art-test", api_url=ArtifactoryConnector.api_url(url), options={}, secret=lambda key: token
    )
    http_options.setdefault("max_retries", 1)
    conn = ArtifactoryConnector(config, http=None)
    return attach_http(conn, config.api_url, sleep=fake.sleep, clock=fake.clock, **http_options)


class Result(Records):
    def on(self, path: str) -> dict[str, GrantRecord]:
        """Grants on a resource by holder login (accounts) or path (groups)."""
        resource = self.resources[path].external_id
        logins = {a.external_id: a.login for a in self.accounts.values()}
        paths = {r.external_id: r.path for r in self.resources.values()}
        return {
            logins.get(g.account_external_id) or paths[g.group_external_id]: g
            for g in self.grants
            if g.resource_external_id == resource
        }

    def of(self, login: str) -> list[GrantRecord]:
        account = self.accounts[login].external_id
        return [g for g in self.grants if g.account_external_id == account]


def read(sim, **options) -> Result:
    return Result(list(connector(sim.url, **options).fetch()))


@pytest.fixture
def sim():
    with simulator() as running:
        yield running


@pytest.fixture
def result(sim) -> Result:
    return read(sim)


# -- what is read


def test_it_records_users_with_admin_flag_groups_last_login_and_state(result):
    accounts = result.accounts
    admin, ada, bob, carl = accounts["admin"], accounts["ada"], accounts["bob"], accounts["carl"]
    assert admin.is_admin and not ada.is_admin
    assert ada.last_active_at == datetime.fromtimestamp(EPOCH - 3600, UTC)
    assert bob.last_active_at is None
    assert (ada.state, bob.state, carl.state) == (AccountState.ACTIVE, AccountState.DISABLED, AccountState.BLOCKED)
    assert ada.email == "ada@example.com"
    assert sorted(ada.attributes["groups"]) == ["deployers", "readers"]
    assert carl.attributes["realm"] == "ldap"
    assert {a.type for a in accounts.values() if not a.login.startswith("access_token:")} == {
        AccountType.HUMAN,
        AccountType.PSEUDO,
    }


def test_the_anonymous_user_is_a_pseudo_account_with_its_grants(result):
    assert result.accounts["anonymous"].type == AccountType.PSEUDO
    grant = result.on("permission/Any Remote")["anonymous"]
    assert (grant.permission, grant.level, grant.via) == ("read,write", Level.WRITE, "direct")


def test_groups_are_resources_whose_members_hold_memberships(result):
    group = result.resources["group/readers"]
    assert (group.type, group.parent_external_id, group.attributes["auto_join"]) == ("group", "instance", True)
    members = result.on("group/readers")
    # Tokens acting as a member are members too, so the group's grants reach them.
    assert set(members) == {"ada", "bob", "carl", "dora", "access_token:t-user", "access_token:t-expired"}
    assert {(g.kind, g.via, g.level, g.permission) for g in members.values()} == {
        (GrantKind.MEMBERSHIP, "direct", Level.READ, "member")
    }
    assert set(result.on(f"group/{HOSTILE_GROUP}")) == {"dora", "access_token:t-expired"}


def test_admins_and_admin_groups_own_the_instance_and_reach_every_repository_as_admin(result):
    on_instance = result.on("/")
    admin = on_instance["admin"]
    group = on_instance["group/ops-admins"]
    assert (admin.permission, admin.level, admin.via) == ("admin", Level.OWNER, "admin")
    assert (group.permission, group.level, group.via) == ("admin_privileges", Level.OWNER, "group:ops-admins")
    for grant in (admin, group):
        assert (grant.cascade_to, grant.cascade_level) == (("repository",), Level.ADMIN)
    assert "ada" not in on_instance


def test_a_permission_target_is_recorded_once_with_the_repositories_it_reaches(result):
    anything = result.resources["permission/Anything"]
    assert anything.type == "permission_target"
    # ANY leaves virtual repositories out: permission targets do not apply to them.
    assert sorted(anything.attributes["reach"]) == [
        "repo:bundles",
        "repo:docker-fed",
        "repo:libs-local",
        "repo:npm-remote",
    ]
    assert sorted(result.resources["permission/local only"].attributes["reach"]) == [
        "repo:docker-fed",
        "repo:libs-local",
    ]
    assert result.resources["permission/Any Remote"].attributes["reach"] == ["repo:npm-remote"]
    readers = result.on("permission/Anything")["group/readers"]
    assert (readers.via, readers.cascade_to, readers.cascade_level) == ("group:readers", ("repository",), Level.READ)
    assert len([g for g in result.grants if g.group_external_id == "group:readers"]) == 1


def test_patterns_and_unresolved_repositories_stay_in_attributes_and_are_explained(result):
    target = result.resources["permission/deploy libs"].attributes
    assert target["repositories"] == ["libs-local", "gone-repo"]
    assert target["reach"] == ["repo:libs-local"]
    assert target["missing_repositories"] == ["gone-repo"]
    assert (target["include_patterns"], target["exclude_patterns"]) == (["org/acme/**"], ["**/*.tmp"])
    assert target["covers"] == "2 named repositories (1 missing); paths matching org/acme/** except **/*.tmp"
    assert result.resources["permission/Anything"].attributes["exclude_patterns"] == []
    assert result.resources["permission/Anything"].attributes["covers"] == "ANY (4 repositories); all paths"
    assert target["build"]["repositories"] == ["artifactory-build-info"]


def test_actions_map_to_levels_and_only_repository_actions_reach_repositories(result):
    grants = result.on("permission/deploy libs")
    ada, dora, deployers = grants["ada"], grants["dora"], grants["group/deployers"]
    assert (ada.permission, ada.level, ada.cascade_level) == ("read,annotate,write", Level.WRITE, Level.WRITE)
    assert (dora.permission, dora.level) == ("read", Level.READ)
    assert deployers.permission == "read,write,delete build:read,manage"
    assert (deployers.level, deployers.cascade_level) == (Level.ADMIN, Level.ADMIN)
    assert result.on("permission/local only")["bob"].level == Level.ADMIN
    builds_only = result.on("permission/builds")["dora"]
    assert (builds_only.permission, builds_only.level, builds_only.cascade_to) == ("build:read", Level.READ, ())


def test_tokens_are_access_token_accounts_with_scope_creator_times_and_no_secret(result):
    token = result.accounts["access_token:t-user"]
    assert (token.type, token.name, token.state) == (AccountType.ACCESS_TOKEN, "laptop", AccountState.ACTIVE)
    assert token.last_active_at == datetime.fromtimestamp(EPOCH - 60, UTC)
    attributes = token.attributes
    assert attributes["subject_user"] == "ada"
    assert (attributes["scope"], attributes["creator"], attributes["token_id"]) == (
        "applied-permissions/user",
        "ada",
        "t-user",
    )
    assert (attributes["issued_at"], attributes["expires_at"]) == ("2023-11-14T22:13:20Z", "2023-11-16T22:13:20Z")
    assert result.accounts["access_token:t-expired"].state == AccountState.EXPIRED
    assert result.accounts["access_token:t-groups"].attributes["creator"] is None
    every_value = repr([r.attributes for r in result.records])
    assert ADMIN_TOKEN not in every_value and 'access_token":' not in every_value


def test_every_token_holds_its_scope_on_the_instance_and_what_the_scope_confers(result):
    admin_token = {g.via: g for g in result.of("access_token:t-admin")}
    assert set(admin_token) == {"admin"}
    assert (admin_token["admin"].permission, admin_token["admin"].level) == ("applied-permissions/admin", Level.OWNER)
    groups_token = {(g.resource_external_id, g.kind): g for g in result.of("access_token:t-groups")}
    assert set(groups_token) == {("instance", GrantKind.PERMISSION), ("group:deployers", GrantKind.MEMBERSHIP)}
    # A user-scoped token acts as its user: memberships and target grants, marked acts_as.
    user_token = {(g.resource_external_id, g.kind, g.via): g for g in result.of("access_token:t-user")}
    assert set(user_token) == {
        ("instance", GrantKind.PERMISSION, "direct"),
        ("group:readers", GrantKind.MEMBERSHIP, "direct"),
        ("group:deployers", GrantKind.MEMBERSHIP, "direct"),
        ("permission:deploy libs", GrantKind.PERMISSION, "direct"),
    }
    copied = user_token[("permission:deploy libs", GrantKind.PERMISSION, "direct")]
    assert (copied.permission, copied.cascade_level, copied.attributes) == (
        "read,annotate,write",
        Level.WRITE,
        {"acts_as": "ada"},
    )


def test_the_token_state_follows_the_injected_clock(sim):
    later = read(sim, fake=FakeTime(NOW + 2 * 86_400))
    assert later.accounts["access_token:t-user"].state == AccountState.EXPIRED


def test_every_referenced_account_and_resource_is_yielded_exactly_once(result):
    accounts = {r.external_id for r in result.records if isinstance(r, AccountRecord)}
    resources = {r.external_id for r in result.records if isinstance(r, ResourceRecord)}
    assert len(accounts) == len(result.accounts)
    assert len(resources) == len(result.resources)
    keys = [g.key for g in result.grants]
    assert len(keys) == len(set(keys))
    for grant in result.grants:
        assert grant.resource_external_id in resources
        assert grant.account_external_id in accounts or grant.group_external_id in resources


def test_hostile_names_are_addressed_and_stored_verbatim(result):
    assert result.accounts[HOSTILE_USER].email == "oneil@example.com"
    target = result.resources[f"permission/{HOSTILE_TARGET}"]
    assert target.attributes["name"] == HOSTILE_TARGET
    assert set(result.on(f"permission/{HOSTILE_TARGET}")) == {HOSTILE_USER, f"group/{HOSTILE_GROUP}"}
    assert HOSTILE_USER in set(result.on("group/deployers"))


def test_it_follows_cursor_pages_and_costs_exactly_the_lower_bound():
    inst = ArtifactoryInstance.generate(seed=4, users=23, groups=7, repositories=9, permission_targets=5, tokens=4)
    with simulator(inst, max_page_size=5) as sim:
        result = read(sim)
        pages = [r for r in sim.requests if r.path in ("/access/api/v2/users", "/access/api/v2/groups")]
        assert [r.path for r in pages].count("/access/api/v2/users") == 5
        assert [r.path for r in pages].count("/access/api/v2/groups") == 2
        assert all(r.query["limit"] == "1000" for r in pages)
        # repositories, 5 user pages, 23 users, 2 group pages, 7 groups, target list, 5 targets, tokens
        assert len(sim.requests) == sim.rest_lower_bound() == 1 + 5 + 23 + 2 + 7 + 1 + 5 + 1
    humans = {a.login for a in result.accounts.values() if a.type != AccountType.ACCESS_TOKEN}
    assert humans == set(inst.users)
    assert {p.removeprefix("group/") for p in result.resources if p.startswith("group/")} == set(inst.groups)


def test_a_cursor_that_repeats_fails_instead_of_looping(sim, monkeypatch):
    monkeypatch.setattr(sim, "_cursor_page", lambda request, names: (names[:1], "c2FtZQ=="))
    with pytest.raises(ConnectorError, match="twice"):
        read(sim)


def test_a_user_deleted_while_reading_is_kept_from_the_list(sim):
    sim.after("GET", "/access/api/v2/users", lambda inst: inst.remove_user("dora"))
    result = read(sim)
    dora = result.accounts["dora"]
    assert dora.attributes["details"] == "not found"
    assert not dora.is_admin


def test_principals_the_lists_no_longer_or_not_yet_show_are_still_recorded(sim):
    def meanwhile(inst):
        inst.remove_user("bob")  # after its group was read: still a member there
        inst.add_group("late", members=["ada"])
        inst.set_actions("Anything", group="late", actions=["read"])

    sim.after("GET", "/access/api/v2/groups/*", meanwhile, on=len(sim.instance.groups))
    result = read(sim)
    assert result.accounts["bob"].attributes["details"] == "not in the user list"
    assert "bob" in result.on("group/readers")
    late = result.resources["group/late"]
    assert late.attributes["details"] == "not in the group list"
    assert result.on("permission/Anything")["group/late"].via == "group:late"


def test_a_bad_token_is_a_permission_problem(sim):
    with pytest.raises(PermissionProblem, match="401"):
        read(sim, token="cmVmdGtuOjAxOjE3notAValidToken")


def test_a_non_admin_token_is_refused_with_a_clear_message(sim):
    with pytest.raises(PermissionProblem, match="administrator"):
        read(sim, token=USER_TOKEN)
    with pytest.raises(PermissionProblem, match="403"):
        connector(sim.url, token=USER_TOKEN).test()


def test_connector_test_reports_the_version_and_admin_access(sim):
    assert connector(sim.url).test().startswith("Artifactory 7.104.5;")


def test_the_api_paths_are_added_to_the_platform_root():
    for url in ("https://acme.jfrog.io", "https://acme.jfrog.io/artifactory/", "https://acme.jfrog.io/access/api"):
        assert ArtifactoryConnector.api_url(url) == "https://acme.jfrog.io"
    assert (
        ArtifactoryConnector.api_url("https://repo.example.com/jfrog/artifactory") == "https://repo.example.com/jfrog"
    )


def test_a_rate_limited_answer_is_waited_out_on_the_injected_clock():
    fake = FakeTime(NOW)
    with simulator(rate_limit=10, clock=fake.clock) as sim:
        result = read(sim, fake=fake, max_concurrency=1)
    assert "admin" in result.accounts
    assert fake.sleeps and all(wait >= 1 for wait in fake.sleeps)


def test_token_secrets_are_never_requested_and_the_credential_never_logged(sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.add_fault(ERROR, "/access/api/v1/tokens", status=500, times=None)
    with pytest.raises(ConnectorError) as failure:
        read(sim)
    # Only reads: nothing that creates, refreshes or shows a token value.
    assert {r.method for r in sim.requests} == {"GET"}
    assert not any("token/" in r.path or r.path.endswith("/refresh") for r in sim.requests)
    for text in (caplog.text, str(failure.value)):
        assert ADMIN_TOKEN not in text and ADMIN_TOKEN[16:] not in text


def test_helpers_parse_artifactory_forms():
    assert parse_time("2023-11-14T22:13:20.000Z") == datetime.fromtimestamp(EPOCH, UTC)
    assert parse_time("2023-11-14T23:13:20.000+0100") == datetime.fromtimestamp(EPOCH, UTC)
    assert parse_time("not a date") is None
    assert subject_user("jfac@01abc/users/ada") == "ada"
    assert subject_user("jfrt@01abc") is None
    scope = parse_scope("applied-permissions/groups:a,b member-of-groups:c api:*")
    assert (scope.groups, scope.other, scope.admin, scope.as_user) == (("a", "b", "c"), ("api:*",), False, False)
    assert parse_scope(None).as_user


# -- revocation


def grant_of(result: Result, path: str, holder: str) -> GrantTarget:
    return result.target(result.on(path)[holder])


def test_it_removes_a_user_from_a_permission_target_and_verifies(sim, result):
    conn = connector(sim.url)
    sim.reset_counters()
    outcome = conn.revoke(grant_of(result, "permission/deploy libs", "ada"))
    assert outcome.outcome == Outcome.REVOKED, outcome.message
    assert [r.method for r in sim.requests] == ["GET", "GET", "PUT", "GET"]
    target = sim.instance.permissions["deploy libs"].sections
    assert "ada" not in target["repo"].users
    assert target["repo"].users["dora"] == ["read"]
    assert target["repo"].groups["deployers"] == ["read", "write", "delete"]
    assert target["build"].groups == {"deployers": ["read", "manage"]}
    assert target["repo"].include_patterns == ["org/acme/**"]
    again = conn.revoke(grant_of(result, "permission/deploy libs", "ada"))
    assert again.outcome == Outcome.ALREADY_ABSENT


def test_it_removes_a_group_from_every_section_of_a_target(sim, result):
    outcome = connector(sim.url).revoke(grant_of(result, "permission/deploy libs", "group/deployers"))
    assert outcome.outcome == Outcome.REVOKED, outcome.message
    sections = sim.instance.permissions["deploy libs"].sections
    assert "deployers" not in sections["repo"].groups and "deployers" not in sections["build"].groups


def test_hostile_names_are_revoked_where_they_are(sim, result):
    conn = connector(sim.url)
    assert conn.revoke(grant_of(result, f"permission/{HOSTILE_TARGET}", HOSTILE_USER)).outcome == Outcome.REVOKED
    assert conn.revoke(grant_of(result, f"group/{HOSTILE_GROUP}", "dora")).outcome == Outcome.REVOKED
    assert sim.instance.permissions[HOSTILE_TARGET].sections["repo"].users == {}
    assert sim.instance.groups[HOSTILE_GROUP].members == []


def test_a_downgrade_keeps_the_actions_up_to_the_level(sim, result):
    grant = grant_of(result, "permission/deploy libs", "group/deployers")
    outcome = connector(sim.url).revoke(grant, downgrade_to=Level.READ)
    assert outcome.outcome == Outcome.REVOKED
    assert "lowered" in outcome.message
    sections = sim.instance.permissions["deploy libs"].sections
    assert (sections["repo"].groups["deployers"], sections["build"].groups["deployers"]) == (["read"], ["read"])
    again = connector(sim.url).revoke(grant, downgrade_to=Level.READ)
    assert again.outcome == Outcome.ALREADY_ABSENT


def test_it_writes_nothing_when_the_target_changed_between_its_two_reads(sim, result):
    def meanwhile(inst):
        inst.set_actions("deploy libs", user="bob", actions=["read"])

    sim.after("GET", "/artifactory/api/v2/security/permissions/*", meanwhile)
    sim.reset_counters()
    outcome = connector(sim.url).revoke(grant_of(result, "permission/deploy libs", "ada"))
    assert outcome.outcome == Outcome.FAILED
    assert "changed" in outcome.message
    assert "PUT" not in {r.method for r in sim.requests}
    assert sim.instance.permissions["deploy libs"].sections["repo"].users["ada"]


def test_a_deleted_target_is_already_absent(sim, result):
    sim.instance.remove_permission("deploy libs")
    outcome = connector(sim.url).revoke(grant_of(result, "permission/deploy libs", "dora"))
    assert (outcome.outcome, outcome.message) == (
        Outcome.ALREADY_ABSENT,
        "permission target deploy libs no longer exists",
    )


def test_a_refused_write_is_reported_as_failed_with_the_upstream_status(sim, result):
    sim.add_fault(ERROR, "/artifactory/api/v2/security/permissions/*", method="PUT", status=500, times=None)
    outcome = connector(sim.url).revoke(grant_of(result, "permission/deploy libs", "ada"))
    assert outcome.outcome == Outcome.FAILED
    assert "500" in outcome.message and ADMIN_TOKEN not in outcome.message


def test_an_upstream_refusal_carries_artifactorys_own_message(sim, result):
    # The target still names a user Artifactory no longer knows: it refuses the whole PUT.
    sim.instance.users.pop("dora")
    outcome = connector(sim.url).revoke(grant_of(result, "permission/deploy libs", "ada"))
    assert outcome.outcome == Outcome.FAILED
    assert "400" in outcome.message and "user 'dora' does not exist" in outcome.message


def test_it_removes_a_user_from_a_group_and_verifies(sim, result):
    conn = connector(sim.url)
    sim.reset_counters()
    outcome = conn.revoke(grant_of(result, "group/deployers", "ada"))
    assert outcome.outcome == Outcome.REVOKED, outcome.message
    assert [(r.method, r.path) for r in sim.requests][1] == ("PATCH", "/access/api/v2/groups/deployers/members")
    assert sim.instance.groups["deployers"].members == [HOSTILE_USER]
    assert conn.revoke(grant_of(result, "group/deployers", "ada")).outcome == Outcome.ALREADY_ABSENT


def test_it_revokes_a_token_and_a_second_revocation_is_already_absent(sim, result):
    conn = connector(sim.url)
    grant = result.target(result.of("access_token:t-admin")[0])
    first = conn.revoke(grant)
    assert first.outcome == Outcome.REVOKED, first.message
    assert "t-admin" not in sim.instance.tokens
    second = conn.revoke(grant)
    assert (second.outcome, second.message) == (Outcome.ALREADY_ABSENT, "token t-admin was already revoked")
    delete_statuses = [r.status for r in sim.requests if r.method == "DELETE"]
    assert delete_statuses == [200, 204]


def test_any_grant_a_token_holds_is_revoked_by_revoking_the_token(sim, result):
    membership = next(g for g in result.of("access_token:t-groups") if g.kind == GrantKind.MEMBERSHIP)
    outcome = connector(sim.url).revoke(result.target(membership))
    assert outcome.outcome == Outcome.REVOKED
    assert "t-groups" not in sim.instance.tokens
    assert sim.instance.groups["deployers"].members == ["ada", HOSTILE_USER]


def test_an_unknown_token_is_already_absent(sim, result):
    grant = result.target(result.of("access_token:t-user")[0])
    sim.instance.tokens.pop("t-user")  # gone without a trace (another instance's id, a purge)
    outcome = connector(sim.url).revoke(grant)
    assert (outcome.outcome, outcome.message) == (Outcome.ALREADY_ABSENT, "token t-user does not exist")


def test_admin_rights_are_reported_as_not_revocable(sim, result):
    conn = connector(sim.url)
    for holder in ("admin", "group/ops-admins"):
        grant = grant_of(result, "/", holder)
        assert "not changed automatically" in conn.cannot_revoke(grant)
        with pytest.raises(Unsupported, match="administrator"):
            conn.revoke(grant)
    assert sim.instance.users["admin"].admin
    assert not [r for r in sim.requests if r.method != "GET"]


def test_lowering_a_membership_or_a_token_is_unsupported(sim, result):
    conn = connector(sim.url)
    membership = grant_of(result, "group/readers", "ada")
    token = result.target(result.of("access_token:t-user")[0])
    assert conn.cannot_revoke(membership) is None and conn.cannot_revoke(token) is None
    for grant in (membership, token):
        with pytest.raises(Unsupported):
            conn.revoke(grant, downgrade_to=Level.READ)
    with pytest.raises(Unsupported, match="nothing above"):
        conn.revoke(grant_of(result, "permission/deploy libs", "dora"), downgrade_to=Level.WRITE)
