"""The Harbor connector against the Harbor simulator over real HTTP on 127.0.0.1 (no database)."""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager

import pytest

from connectors.base import (
    AccountRecord,
    ConfigurationError,
    ConnectorConfig,
    ConnectorError,
    GrantRecord,
    GrantTarget,
    Outcome,
    PermissionProblem,
    Principal,
    ResourceRecord,
    Target,
    Unsupported,
)
from connectors.choices import AccountState, AccountType, GrantKind, Level
from connectors.providers.harbor import HarborConnector
from connectors.providers.harbor_roles import action_level, robot_access
from connectors.simulators.harbor import HarborOrg, HarborSimulator
from connectors.simulators.server import ERROR
from tests.connectors.helpers import Records, attach_http
from tests.fakes import FakeTime

PASSWORD = "Sim-admin-password-123"
NOW = 1_800_000_000.0
HOSTILE_USER = 'o\'brien "<b>" ünïcode,x'
HOSTILE_GROUP = 'Ops "Admins", <script>'


def small_org() -> HarborOrg:
    """Every kind of grant: user and group members at each role, robots of both levels, admins two ways."""
    org = HarborOrg(auth_mode="ldap_auth")
    org.user("admin").password = PASSWORD
    org.add_user("olivia", sysadmin=True, realname="Olivia Admin")
    for name in ("ada", "carl", "lim", HOSTILE_USER):
        org.add_user(name)
    org.add_group("devs")
    org.add_group(HOSTILE_GROUP, ldap_dn='cn=Ops \\"Admins\\",ou=groups,dc=example,dc=com')
    org.add_group("harbor-admins", ldap_dn="cn=harbor-admins,ou=groups,dc=example,dc=com")
    org.configure_admin_group("CN=Harbor-Admins,OU=Groups,DC=example,DC=com")  # case differs from the group's DN
    org.add_project("payments", owner="ada")
    org.add_project("42", public=True)  # a numeric name, addressed by id
    org.add_member("payments", user="carl", role="maintainer")
    org.add_member("payments", user="lim", role="limitedGuest")
    org.add_member("payments", user=HOSTILE_USER, role="guest")
    org.add_member("payments", group="devs", role="developer")
    org.add_member("42", group=HOSTILE_GROUP, role="guest")
    org.add_project_robot("payments", "ci", [("repository", "pull"), ("repository", "push")], creator="olivia")
    org.add_project_robot("42", "old", editable=False)
    org.add_project_robot("payments", "off", disabled=True)
    org.add_project_robot("payments", "short", duration=7)  # created years before NOW: expired
    org.add_system_robot(
        "deployer",
        {"payments": [("repository", "pull"), ("artifact", "delete")], "*": [("repository", "pull")]},
        [("project", "list")],
    )
    return org


@contextmanager
def simulator(org: HarborOrg, **options):
    options.setdefault("clock", lambda: NOW)
    with HarborSimulator(org, **options) as sim:
        yield sim


def connector(sim: HarborSimulator, username: str = "admin", password: str = PASSWORD, **options) -> HarborConnector:
    http_options = {key: options.pop(key) for key in ("max_concurrency", "max_retries") if key in options}
    config = ConnectorConfig(
        name="harbor-test",
        api_url=HarborConnector.api_url(sim.url),
        options={"username": username, **options},
        secret=lambda key: password,
        allow_private_network=True,
    )
    fake = FakeTime(NOW)
    conn = HarborConnector(config, http=None)
    return attach_http(conn, config.api_url, sleep=fake.sleep, clock=fake.clock, **http_options)


class Result(Records):
    def grant(self, login: str, path: str) -> GrantRecord:
        resource = self.resources[path].external_id
        [found] = [g for g in self.grants_of(login) if g.resource_external_id == resource]
        return found

    def target(self, login: str, path: str, *, grant: GrantRecord | None = None) -> GrantTarget:
        """The GrantTarget revocation receives for a recorded grant (as connectors.revocation builds it)."""
        grant = grant or self.grant(login, path)
        account = self.accounts[login]
        resource = next(
            r for r in self.records if isinstance(r, ResourceRecord) and r.external_id == grant.resource_external_id
        )
        return GrantTarget(
            kind=grant.kind,
            permission=grant.permission,
            level=grant.level,
            via=grant.via,
            resource=Target(resource.external_id, resource.type, resource.path, resource.attributes),
            account=Principal(account.external_id, account.login, account.type, account.attributes),
            attributes=grant.attributes,
        )


def fetch(conn: HarborConnector) -> Result:
    return Result(list(conn.fetch()))


@pytest.fixture(scope="module")
def small():
    """One sync of the small instance, shared by the tests that only read its records and request log."""
    with simulator(small_org(), leak_robot_secrets=True) as sim:
        for robot in sim.org.robots.values():
            robot.secret = f"Leaked-robot-secret-{robot.id}"
        result = fetch(connector(sim))
        result.requests = list(sim.requests)
        yield result


@pytest.fixture
def sim():
    with simulator(small_org()) as simulator_:
        yield simulator_


# --- instance, projects, people --------------------------------------------------


def test_it_yields_the_instance_first_and_every_project_below_it(small):
    instance = small.records[0]
    assert (instance.type, instance.path, instance.external_id) == ("instance", "/", "instance")
    assert instance.attributes == {"auth_mode": "ldap_auth"}
    projects = {path: r for path, r in small.resources.items() if r.type == "project"}
    assert set(projects) == {"library", "payments", "42"}
    assert {r.parent_external_id for r in projects.values()} == {"instance"}
    assert (projects["42"].attributes["public"], projects["payments"].attributes["public"]) == (True, False)
    assert projects["payments"].attributes["owner"] == "ada"


def test_users_are_accounts_with_name_email_and_the_sysadmin_flag(small):
    olivia, ada = small.accounts["olivia"], small.accounts["ada"]
    assert (olivia.type, olivia.name, olivia.email, olivia.is_admin) == (
        "human",
        "Olivia Admin",
        "olivia@example.com",
        True,
    )
    assert ada.is_admin is False


def test_hostile_names_are_stored_verbatim(small):
    assert small.accounts[HOSTILE_USER].type == AccountType.HUMAN
    group = small.accounts[HOSTILE_GROUP]
    assert group.attributes["ldap_group_dn"] == 'cn=Ops \\"Admins\\",ou=groups,dc=example,dc=com'
    assert small.grant(HOSTILE_USER, "payments").permission == "guest"


# --- grants ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "permission", "level"),
    [
        ("ada", "projectAdmin", Level.OWNER),
        ("carl", "maintainer", Level.ADMIN),
        ("lim", "limitedGuest", Level.READ),
        (HOSTILE_USER, "guest", Level.READ),
        ("devs", "developer", Level.WRITE),
    ],
)
def test_project_members_carry_their_role_its_level_and_their_member_id(small, login, permission, level):
    grant = small.grant(login, "payments")
    assert (grant.kind, grant.permission, grant.level, grant.via) == (GrantKind.PERMISSION, permission, level, "direct")
    assert grant.attributes["member_id"] in small_org().project("payments").members


def test_a_custom_role_keeps_its_name_and_counts_as_owner_until_its_permissions_are_read(sim):
    sim.org.add_custom_role("release-manager")
    sim.org.add_member("42", user="ada", role="release-manager")
    result = fetch(connector(sim))
    grant = result.grant("ada", "42")
    assert (grant.permission, grant.level) == ("release-manager", Level.OWNER)
    assert "not read" in grant.attributes["custom_role"]
    outcome = revoke(sim, result.target("ada", "42"), Level.WRITE)
    assert (outcome.outcome, outcome.message) == (Outcome.REVOKED, "ada is now developer of 42")


def test_a_group_member_is_a_group_account_holding_the_grant_directly(small):
    devs = small.accounts["devs"]
    assert devs.type == AccountType.GROUP
    assert devs.attributes == {
        "group_id": devs.attributes["group_id"],
        "group_type": "ldap",
        "ldap_group_dn": "cn=devs,ou=groups,dc=example,dc=com",
    }
    assert small.grant("devs", "payments").account_external_id == devs.external_id


def test_system_administrators_are_recorded_once_on_the_instance_reaching_every_project_as_owner(small):
    holders = {g.account_external_id for g in small.grants if g.via == "system_admin"}
    assert holders == {
        small.accounts["admin"].external_id,
        small.accounts["olivia"].external_id,
        small.accounts["harbor-admins"].external_id,
    }
    grant = small.grant("olivia", "/")
    assert (grant.permission, grant.level, grant.cascade_to, grant.cascade_level) == (
        "sysadmin",
        Level.OWNER,
        ("project",),
        Level.OWNER,
    )
    assert grant.attributes == {"sources": ["sysadmin_flag"], "user_id": small_org().user("olivia").id}


def test_the_configured_ldap_admin_group_is_matched_by_dn_whatever_its_case(small):
    grant = small.grant("harbor-admins", "/")
    assert (grant.via, grant.level, grant.attributes) == (
        "system_admin",
        Level.OWNER,
        {"sources": ["ldap_group_admin_dn"]},
    )
    assert small.accounts["harbor-admins"].type == AccountType.GROUP


def test_an_admin_group_unknown_to_harbors_group_list_is_still_recorded():
    org = HarborOrg(auth_mode="oidc_auth")
    org.user("admin").password = PASSWORD
    org.configure_admin_group("platform-admins")
    with simulator(org) as sim:
        result = fetch(connector(sim))
    account = result.accounts["platform-admins"]
    assert (account.type, account.attributes) == ("group", {"group_type": "oidc", "onboarded": False})
    assert result.grant("platform-admins", "/").attributes == {"sources": ["oidc_admin_group"]}


def test_auth_proxy_admin_usernames_are_system_administrators_too():
    org = HarborOrg(auth_mode="http_auth")
    org.user("admin").password = PASSWORD
    org.add_user("pat")
    org.http_authproxy_admin_usernames = "pat, admin, nobody-yet"
    with simulator(org) as sim:
        result = fetch(connector(sim))
    assert result.grant("pat", "/").attributes["sources"] == ["http_authproxy_admin_usernames"]
    assert result.grant("admin", "/").attributes["sources"] == ["sysadmin_flag", "http_authproxy_admin_usernames"]
    assert result.accounts["nobody-yet"].attributes == {"onboarded": False}


def test_a_public_project_is_a_read_grant_to_the_anonymous_pseudo_account(small):
    anonymous = small.accounts["anonymous"]
    assert (anonymous.type, anonymous.external_id) == (AccountType.PSEUDO, "pseudo:anonymous")
    public = {g.resource_external_id: g for g in small.grants_of("anonymous")}
    assert set(public) == {small.resources["42"].external_id, small.resources["library"].external_id}
    assert {(g.permission, g.level, g.via) for g in public.values()} == {("public", Level.READ, "direct")}


# --- robots ----------------------------------------------------------------------


def test_a_project_robot_holds_its_permissions_on_its_project(small):
    grant = small.grant("robot$payments+ci", "payments")
    assert (grant.permission, grant.level, grant.via) == ("repository:pull,repository:push", Level.WRITE, "direct")
    robot = small.accounts["robot$payments+ci"]
    assert grant.attributes == {
        "robot_id": robot.attributes["robot_id"],
        "permission_kind": "project",
        "namespace": "payments",
    }


def test_robots_carry_scope_creator_creation_expiry_and_an_unknown_last_use(small):
    robot = small.accounts["robot$payments+ci"]
    assert (robot.type, robot.state) == (AccountType.ROBOT, AccountState.ACTIVE)
    attributes = robot.attributes
    assert (attributes["level"], attributes["namespaces"], attributes["creator"]) == (
        "project",
        ["project:payments"],
        "olivia",
    )
    assert attributes["expires_at"] is None and attributes["created_at"].endswith("Z")
    assert attributes["last_used_at"] is None and "does not report" in attributes["last_used_unknown_reason"]
    short = small.accounts["robot$payments+short"]
    assert short.state == AccountState.EXPIRED and short.attributes["expires_at"].startswith("20")
    assert small.accounts["robot$payments+off"].state == AccountState.DISABLED
    assert small.accounts["robot$42+old"].attributes["editable"] is False


def test_a_system_robot_has_a_grant_per_namespace_and_star_cascades_to_every_project(small):
    grants = {(g.resource_external_id, g.applies_to_self): g for g in small.grants_of("robot$deployer")}
    on_payments = grants[(small.resources["payments"].external_id, True)]
    assert (on_payments.permission, on_payments.level) == ("artifact:delete,repository:pull", Level.ADMIN)
    everywhere = grants[("instance", False)]
    assert (everywhere.cascade_to, everywhere.cascade_level, everywhere.attributes["namespace"]) == (
        ("project",),
        Level.READ,
        "*",
    )
    system = grants[("instance", True)]
    assert (system.permission, system.level, system.attributes["permission_kind"]) == (
        "project:list",
        Level.READ,
        "system",
    )
    assert len(grants) == 3


@pytest.mark.parametrize(
    ("access", "permission", "level"),
    [
        ([("repository", "pull")], "repository:pull", Level.READ),
        ([("repository", "push"), ("tag", "create")], "repository:push,tag:create", Level.WRITE),
        ([("artifact", "delete")], "artifact:delete", Level.ADMIN),
        ([("member", "create")], "member:create", Level.ADMIN),
        ([("repository", "*")], "repository:*", Level.ADMIN),
        ([("repository", "frobnicate")], "repository:frobnicate", Level.WRITE),
    ],
)
def test_a_robot_permission_set_takes_its_highest_level(access, permission, level):
    assert robot_access([{"resource": r, "action": a, "effect": "allow"} for r, a in access]) == (permission, level)


def test_denied_actions_are_shown_but_confer_nothing():
    access = [
        {"resource": "repository", "action": "pull", "effect": "allow"},
        {"resource": "artifact", "action": "delete", "effect": "deny"},
    ]
    assert robot_access(access) == ("repository:pull,!artifact:delete", Level.READ)
    assert action_level("robot", "update") == Level.ADMIN


def test_no_robot_secret_is_requested_or_stored_even_when_harbor_shows_one(small):
    text = repr(small.records)
    assert "Leaked-robot-secret" not in text and "secret" not in {
        k for r in small.records for k in getattr(r, "attributes", {})
    }
    assert not [r for r in small.requests if r.method == "PATCH" or "cli_secret" in r.path]


def test_an_oidc_users_cli_secret_in_their_profile_is_never_kept():
    org = HarborOrg(auth_mode="oidc_auth")
    org.add_user("olivia", sysadmin=True, cli_secret="Oidc-cli-secret-of-olivia-42")
    with simulator(org) as sim:
        result = fetch(connector(sim, "olivia", "Oidc-cli-secret-of-olivia-42"))
    assert "Oidc-cli-secret-of-olivia-42" not in repr(result.records)
    assert result.accounts["olivia"].is_admin


# --- completeness, pagination, requests ------------------------------------------


def test_every_account_and_resource_is_yielded_once_and_every_grant_key_is_unique(small):
    ids = Counter(r.external_id for r in small.records if not isinstance(r, GrantRecord))
    assert [key for key, count in ids.items() if count > 1] == []
    keys = Counter(g.key for g in small.grants)
    assert [key for key, count in keys.items() if count > 1] == []
    known = set(ids)
    assert all(g.account_external_id in known and g.resource_external_id in known for g in small.grants)


def test_a_generated_instance_is_found_in_full_across_pages():
    org = HarborOrg.generate(seed=5, projects=130, users=230, robots=40)
    org.user("admin").password = PASSWORD
    payments = next(iter(org.projects.values()))
    for user in list(org.users.values())[:120]:  # one project with more than a page of members
        if not any(m.entity_type == "u" and m.entity_id == user.id for m in payments.members.values()):
            org.add_member(payments.name, user=user.username, role="guest")
    with simulator(org) as sim:
        result = fetch(connector(sim))
        requests = list(sim.requests)
    facts = org.facts()
    logins = {r.external_id: r.login for r in result.records if isinstance(r, AccountRecord)}
    paths = {r.external_id: r.path for r in result.records if isinstance(r, ResourceRecord)}
    members = {
        (paths[g.resource_external_id], logins[g.account_external_id], g.permission)
        for g in result.grants
        if "member_id" in g.attributes
    }
    assert members == facts.user_members | facts.group_members
    assert {r.login for r in result.records if isinstance(r, AccountRecord) and r.type == "robot"} == set(facts.robots)
    assert {p for p in paths.values() if p != "/"} == set(facts.projects)
    assert len(requests) == org.rest_lower_bound()
    singles = {"GET /users/current", "GET /configurations"}
    assert [r.endpoint for r in requests if r.endpoint in singles] == ["GET /users/current", "GET /configurations"]
    lists = [r for r in requests if r.endpoint not in singles]
    assert {r.endpoint for r in lists} == {
        "GET /users",
        "GET /usergroups",
        "GET /projects",
        "GET /robots",
        "GET /projects/{project_name_or_id}/members",
    }
    assert all(r.query.get("page_size") == "100" for r in lists)
    assert [r.query.get("page") for r in requests if r.endpoint == "GET /projects"] == [None, "2"]


def test_a_list_that_changes_while_it_is_paged_is_read_again():
    org = HarborOrg.generate(seed=6, projects=150, users=20, robots=0)
    org.user("admin").password = PASSWORD

    class Shifting(HarborSimulator):
        shifted = False

        def handle(self, request):
            response = super().handle(request)
            if request.path == "/projects" and not self.shifted:
                self.shifted = True
                self.org.remove_project(next(iter(self.org.projects.values())).name)  # page 2 now skips one
            return response

    with Shifting(org, clock=lambda: NOW) as sim:
        result = fetch(connector(sim))
        project_lists = [r for r in sim.requests if r.path == "/projects"]
    assert {p for p in result.resources if p != "/"} == {p.name for p in org.projects.values()}
    assert len(project_lists) == 4  # two pages, twice


def test_a_project_named_like_a_number_is_read_by_its_id(small):
    project = small.resources["42"]
    assert small.grant(HOSTILE_GROUP, "42").resource_external_id == project.external_id
    assert f"/projects/{project.attributes['project_id']}/members" in {r.path for r in small.requests}


def test_a_server_error_on_one_page_is_retried_and_the_result_is_complete(sim):
    sim.add_fault(ERROR, "/projects/*/members", status=502, times=1)
    result = fetch(connector(sim))
    assert result.grant("carl", "payments").permission == "maintainer"
    assert [r.status for r in sim.requests].count(502) == 1


def test_a_persistent_server_error_fails_the_fetch(sim):
    sim.add_fault(ERROR, "/robots", status=500, times=None)
    with pytest.raises(ConnectorError, match="500"):
        fetch(connector(sim))


# --- tokens ----------------------------------------------------------------------


def test_a_bad_password_is_a_permission_problem(sim):
    with pytest.raises(PermissionProblem, match="401"):
        fetch(connector(sim, password="wrong-password"))


def test_a_user_who_is_not_an_administrator_is_refused_before_anything_is_listed(sim):
    sim.org.user("ada").password = "Ada-password-1"
    with pytest.raises(PermissionProblem, match="not a system administrator"):
        fetch(connector(sim, "ada", "Ada-password-1"))
    assert [r.path for r in sim.requests] == ["/users/current"]


def test_a_system_robot_with_the_list_permissions_can_read_everything(sim):
    needs = [
        ("project", "list"),
        ("user", "list"),
        ("user-group", "list"),
        ("robot", "list"),
        ("configuration", "read"),
    ]
    sim.org.add_system_robot(
        "inventory", {"*": [("member", "list"), ("robot", "list")]}, needs, secret="Inventory-secret-1"
    )
    result = fetch(connector(sim, "robot$inventory", "Inventory-secret-1"))
    assert result.grant("carl", "payments").permission == "maintainer"
    assert (
        connector(sim, "robot$inventory", "Inventory-secret-1")
        .test()
        .endswith("robot robot$inventory sees the whole instance")
    )


def test_a_robot_without_the_list_permissions_is_refused(sim):
    sim.org.robot("robot$deployer").secret = "Deployer-secret-1"
    with pytest.raises(PermissionProblem, match="user:list, user-group:list, robot:list, configuration:read"):
        fetch(connector(sim, "robot$deployer", "Deployer-secret-1"))


def test_the_password_never_reaches_logs_or_errors(sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.add_fault(ERROR, "/usergroups", status=500, times=None)
    with pytest.raises(ConnectorError) as failed:
        fetch(connector(sim))
    with pytest.raises(PermissionProblem) as refused:
        fetch(connector(sim, password=PASSWORD[:-1] + "X"))
    for text in (caplog.text, str(failed.value), str(refused.value)):
        assert PASSWORD not in text


# --- configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "api_url"),
    [
        ("https://harbor.example.com", "https://harbor.example.com/api/v2.0"),
        ("https://h.example/api/v2.0/", "https://h.example/api/v2.0"),
    ],
)
def test_the_api_url_adds_the_v2_path(base_url, api_url):
    assert HarborConnector.api_url(base_url) == api_url


def test_options_need_a_username_and_a_known_robot_revocation_mode():
    with pytest.raises(ConfigurationError, match="username"):
        HarborConnector.validate_options({})
    with pytest.raises(ConfigurationError, match="robot_revocation"):
        HarborConnector.validate_options({"username": "admin", "robot_revocation": "shred"})
    HarborConnector.validate_options({"username": "admin", "robot_revocation": "disable"})


def test_it_sends_basic_credentials_and_keeps_no_cookies(sim):
    conn = connector(sim)
    assert conn.auth_headers()["Authorization"].startswith("Basic ")
    conn.test()
    assert len(conn.http.session.cookies) == 0


def test_the_connection_test_reports_version_auth_mode_and_who(sim):
    assert connector(sim).test() == (
        "Harbor v2.13.0-simulated (ldap_auth); system administrator admin sees the whole instance"
    )


# --- revocation ------------------------------------------------------------------


def revoke(sim, target: GrantTarget, downgrade_to: Level | None = None, **options):
    return connector(sim, **options).revoke(target, downgrade_to=downgrade_to)


def test_revoking_a_membership_deletes_it_by_member_id_and_again_is_already_absent(sim):
    result = fetch(connector(sim))
    target = result.target("carl", "payments")
    first = revoke(sim, target)
    assert (first.outcome, first.message) == (Outcome.REVOKED, "removed carl from payments")
    assert ("carl", "payments", "maintainer") not in sim.org.facts().user_members
    assert revoke(sim, target).outcome == Outcome.ALREADY_ABSENT
    deletes = [r for r in sim.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [
        f"/projects/{target.resource.attributes['project_id']}/members/{target.attributes['member_id']}"
    ]


def test_revoking_a_group_membership_removes_the_group_from_the_project(sim):
    result = fetch(connector(sim))
    assert revoke(sim, result.target("devs", "payments")).outcome == Outcome.REVOKED
    assert not sim.org.facts().group_members & {("payments", "devs", "developer")}


def test_downgrading_a_membership_sets_the_strongest_role_at_that_level(sim):
    result = fetch(connector(sim))
    outcome = revoke(sim, result.target("ada", "payments"), Level.WRITE)
    assert (outcome.outcome, outcome.message) == (Outcome.REVOKED, "ada is now developer of payments")
    assert ("payments", "ada", "developer") in sim.org.facts().user_members
    again = revoke(sim, result.target("ada", "payments"), Level.WRITE)
    assert again.outcome == Outcome.ALREADY_ABSENT


def test_a_downgrade_that_is_not_lower_is_unsupported(sim):
    result = fetch(connector(sim))
    with pytest.raises(Unsupported, match="not below"):
        revoke(sim, result.target("lim", "payments"), Level.READ)


def test_revoking_anonymous_access_makes_the_project_private(sim):
    result = fetch(connector(sim))
    target = result.target("anonymous", "42")
    assert revoke(sim, target).outcome == Outcome.REVOKED
    assert sim.org.project("42").public is False
    assert revoke(sim, target).outcome == Outcome.ALREADY_ABSENT


def test_revoking_a_system_administrator_drops_the_flag_and_verifies_it(sim):
    result = fetch(connector(sim))
    target = result.target("olivia", "/")
    assert revoke(sim, target).outcome == Outcome.REVOKED
    assert not sim.org.user("olivia").sysadmin
    assert revoke(sim, target).outcome == Outcome.ALREADY_ABSENT


@pytest.mark.parametrize(
    ("login", "downgrade_to", "reason"),
    [
        ("olivia", Level.ADMIN, "a flag"),
        ("admin", None, "connector's own account"),
        ("harbor-admins", None, "ldap_group_admin_dn"),
    ],
)
def test_what_cannot_be_taken_from_a_system_administrator_is_unsupported(sim, login, downgrade_to, reason):
    result = fetch(connector(sim))
    conn = connector(sim)
    target = result.target(login, "/")
    assert reason in conn.cannot_revoke(target, downgrade_to=downgrade_to)
    with pytest.raises(Unsupported, match=reason):
        conn.revoke(target, downgrade_to=downgrade_to)
    assert not [r for r in sim.requests if r.method in ("PUT", "DELETE")]


def test_revoking_a_project_robots_only_grant_deletes_the_robot(sim):
    result = fetch(connector(sim))
    target = result.target("robot$payments+ci", "payments")
    assert revoke(sim, target).outcome == Outcome.REVOKED
    assert "robot$payments+ci" not in sim.org.facts().robots
    assert revoke(sim, target).outcome == Outcome.ALREADY_ABSENT


def test_with_robot_revocation_disable_the_robot_is_disabled_and_keeps_its_expiry(sim):
    result = fetch(connector(sim))
    target = result.target("robot$payments+short", "payments")
    robot = sim.org.robot("robot$payments+short")
    expires_at = robot.expires_at
    assert revoke(sim, target, robot_revocation="disable").outcome == Outcome.REVOKED
    assert (robot.disabled, robot.expires_at, robot.duration) == (True, expires_at, 7)
    assert revoke(sim, target, robot_revocation="disable").outcome == Outcome.ALREADY_ABSENT


def test_revoking_one_namespace_of_a_system_robot_keeps_the_others(sim):
    result = fetch(connector(sim))
    target = result.target("robot$deployer", "payments")
    assert revoke(sim, target).outcome == Outcome.REVOKED
    robot = sim.org.robot("robot$deployer")
    assert [(p.kind, p.namespace) for p in robot.permissions] == [("project", "*"), ("system", "/")]
    assert (robot.disabled, robot.duration) == (False, -1)
    assert revoke(sim, target).outcome == Outcome.ALREADY_ABSENT


def test_revoking_a_system_robots_every_project_grant_removes_the_star_namespace(sim):
    result = fetch(connector(sim))
    star = next(g for g in result.grants_of("robot$deployer") if g.attributes["namespace"] == "*")
    assert revoke(sim, result.target("robot$deployer", "/", grant=star)).outcome == Outcome.REVOKED
    assert [p.namespace for p in sim.org.robot("robot$deployer").permissions] == ["payments", "/"]


def test_downgrading_a_robot_keeps_only_the_actions_at_that_level(sim):
    result = fetch(connector(sim))
    target = result.target("robot$deployer", "payments")
    outcome = revoke(sim, target, Level.READ)
    assert (outcome.outcome, outcome.message) == (
        Outcome.REVOKED,
        "robot robot$deployer now has repository:pull on payments",
    )
    access = next(p.access for p in sim.org.robot("robot$deployer").permissions if p.namespace == "payments")
    assert [(a.resource, a.action) for a in access] == [("repository", "pull")]


def test_a_legacy_robot_with_write_access_cannot_be_downgraded(sim):
    sim.org.add_project_robot("42", "pusher", [("repository", "push")], editable=False)
    result = fetch(connector(sim))
    target = result.target("robot$42+pusher", "42")
    with pytest.raises(Unsupported, match="legacy"):
        revoke(sim, target, Level.READ)
    assert revoke(sim, target).outcome == Outcome.REVOKED
    assert "robot$42+pusher" not in sim.org.facts().robots


def test_a_membership_removed_since_the_sync_is_already_absent(sim):
    result = fetch(connector(sim))
    target = result.target("carl", "payments")
    sim.org.remove_member("payments", sim.org.find_member("payments", user="carl").id)
    outcome = revoke(sim, target)
    assert (outcome.outcome, outcome.message) == (Outcome.ALREADY_ABSENT, "carl is no longer a member of payments")


def test_a_member_added_again_since_the_sync_is_reported_not_silently_left(sim):
    result = fetch(connector(sim))
    target = result.target("carl", "payments")
    sim.org.remove_member("payments", sim.org.find_member("payments", user="carl").id)
    again = sim.org.add_member("payments", user="carl", role="developer")
    outcome = revoke(sim, target)
    assert outcome.outcome == Outcome.FAILED
    assert f"added again since the last sync (member {again.id}, developer)" in outcome.message
    assert again.id in sim.org.project("payments").members


def test_a_refused_write_is_a_failed_revocation_with_harbors_message(sim):
    result = fetch(connector(sim))
    sim.add_fault(ERROR, "/projects/*/members/*", method="DELETE", status=403)
    outcome = revoke(sim, result.target("carl", "payments"))
    assert outcome.outcome == Outcome.FAILED
    assert "403" in outcome.message


def test_revocation_never_requests_a_secret(sim):
    result = fetch(connector(sim))
    for login, path in (("robot$payments+ci", "payments"), ("carl", "payments"), ("olivia", "/")):
        revoke(sim, result.target(login, path))
    assert not [r for r in sim.requests if r.method == "PATCH" or "secret" in r.path]
