"""The GitLab connector against the GitLab simulator over real HTTP on 127.0.0.1 (no database)."""

from __future__ import annotations

import logging

import pytest

from connectors.base import (
    AccountRecord,
    ConfigurationError,
    ConnectorConfig,
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
from connectors.http import HttpClient
from connectors.providers.gitlab import GitLabConnector
from connectors.simulators.gitlab import GitLabOrg, GitLabSimulator
from connectors.simulators.server import ERROR

TOKEN = "glpat-test-admin-0123456789"
MAINTAINER_TOKEN = "glpat-test-maint-0123456789"
HOSTILE = 'Ops "Admins", <script>alert(1)</script> ünï'


class FakeTime:
    def __init__(self):
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def small_org() -> GitLabOrg:
    """Three levels of nesting, shares group->group and group->project, every kind of non-human identity."""
    org = GitLabOrg()
    org.add_token("root", TOKEN)
    for name in ("ann", "ben", "cid", "dot", "eve", "fay"):
        org.add_user(name, two_factor=name != "eve", last_activity_on="2026-01-02")
    org.add_user("hostile", name=HOSTILE)
    org.user("fay").state = "blocked"
    org.add_group("top", name=HOSTILE)
    org.add_group("sub", parent="top")
    org.add_group("deep", parent="top/sub")
    org.add_project("app", group="top/sub/deep")
    org.add_project("web", group="top")
    org.add_group("ops")
    org.add_group("oncall", parent="ops")
    org.add_member_role("top", "security-auditor", 20)
    org.add_member("top", "ann", 50, by="root")
    org.add_member("top/sub", "ben", 30, expires_at="2027-01-01")
    org.add_member("top/sub/deep/app", "hostile", 40)
    org.add_member("top/web", "dot", 20, role="security-auditor")
    org.add_member("top", "fay", 10)
    org.add_member("ops", "cid", 40)  # inherited into ops/oncall
    org.add_member("ops/oncall", "eve", 30)  # subgroup of the invited group: no access through the share
    org.share("top/sub", "ops", 20)  # group -> group, capped at reporter
    org.share("top/web", "ops/oncall", 30)  # group -> project
    org.invite("top/sub", "new@example.test", 30, by="ann")
    org.add_access_token("top", "ci-bot", 30, ("read_api",), last_used_at="2026-01-01T00:00:00Z")
    org.add_deploy_token("top", "registry", ("read_registry",))
    org.add_deploy_token("top/web", "pusher", ("write_registry",))
    org.add_deploy_key("deploy", {"top/web": True})
    sa = org.add_service_account("top", "service_account_group_1")
    org.add_member("top", sa.username, 30)
    org.add_user("maint")
    org.add_member("top", "maint", 40)
    org.add_token("maint", MAINTAINER_TOKEN)
    return org


def connector(sim, token=TOKEN, fake=None, **options) -> GitLabConnector:
    options = options or {"group": ["top"]}
    config = ConnectorConfig("gl", f"{sim.url}/api/v4", options, lambda key: token, allow_private_network=True)
    conn = GitLabConnector(config, http=None)
    fake = fake or FakeTime()
    conn.http = HttpClient(
        config.api_url,
        headers=conn.auth_headers(),
        allow_private_network=True,
        sleep=fake.sleep,
        clock=fake.clock,
        timeout=2,
        max_retries=2,
    )
    return conn


class Result:
    def __init__(self, records):
        self.records = records
        self.accounts = {r.login: r for r in records if isinstance(r, AccountRecord)}
        self.resources = {r.path: r for r in records if isinstance(r, ResourceRecord)}
        self.grants = [r for r in records if isinstance(r, GrantRecord)]

    def grant(self, login: str, path: str) -> GrantRecord:
        account = self.accounts[login].external_id
        resource = self.resources[path].external_id
        return next(g for g in self.grants if g.account_external_id == account and g.resource_external_id == resource)

    def target(self, login: str, path: str) -> GrantTarget:
        grant = self.grant(login, path)
        account = self.accounts[login]
        resource = self.resources[path]
        return GrantTarget(
            grant.kind,
            grant.permission,
            grant.level,
            grant.via,
            Target(resource.external_id, resource.type, resource.path, resource.attributes),
            account=Principal(account.external_id, account.login, account.type, account.attributes),
            attributes=grant.attributes,
        )


@pytest.fixture
def sim():
    with GitLabSimulator(small_org()) as simulator:
        yield simulator


@pytest.fixture
def result(sim):
    return Result(list(connector(sim).fetch()))


def test_it_records_the_tree_three_levels_deep_with_contract_paths(result):
    paths = {path: r.type for path, r in result.resources.items()}
    assert paths["/"] == "instance"
    assert paths["top/sub/deep"] == "group" and paths["top/sub/deep/app"] == "project"
    assert result.resources["top/sub/deep"].parent_external_id == result.resources["top/sub"].external_id
    assert result.resources["top"].parent_external_id == "instance"


def test_direct_group_members_cascade_with_the_group_as_source_and_never_roll_up(result):
    ben = result.grant("ben", "top/sub")
    assert (ben.kind, ben.permission, ben.level, ben.via) == (GrantKind.MEMBERSHIP, "developer", Level.WRITE, "direct")
    assert ben.cascade_to == ("group", "project") and ben.cascade_via == "group:top/sub" and ben.rolls_up is False
    assert ben.attributes["expires_at"] == "2027-01-01"
    assert result.grant("ann", "top").attributes["created_by"] == "root"
    # Recorded once where granted: nothing for ben on the descendants.
    assert not any(
        g.account_external_id == ben.account_external_id and g.resource_external_id != ben.resource_external_id
        for g in result.grants
    )


def test_a_custom_role_keeps_its_name_at_its_base_level(result):
    dot = result.grant("dot", "top/web")
    assert (dot.permission, dot.level, dot.kind) == ("security-auditor", Level.READ, GrantKind.PERMISSION)


def test_shares_are_held_by_the_invited_group_capped_at_the_share_level(result):
    shares = {g.via: g for g in result.grants if g.via.startswith("shared_group:")}
    to_group = shares["shared_group:ops"]
    assert to_group.group_external_id == result.resources["ops"].external_id
    assert (to_group.level, to_group.capped, to_group.cascade_to) == (Level.READ, True, ("group", "project"))
    to_project = shares["shared_group:ops/oncall"]
    assert to_project.resource_external_id == result.resources["top/web"].external_id and to_project.cascade_to == ()
    # The invited groups lie outside the scope: read with their members so the engine can expand the share.
    assert result.resources["ops"].attributes["outside_scope"] is True
    assert result.grant("cid", "ops").via == "direct" and result.grant("eve", "ops/oncall").via == "direct"


def test_non_human_identities_are_typed_with_their_metadata(result):
    bot = next(a for a in result.accounts.values() if a.type == AccountType.ACCESS_TOKEN and "token_id" in a.attributes)
    assert bot.attributes["scopes"] == ["read_api"] and bot.attributes["last_used_at"] == "2026-01-01T00:00:00Z"
    assert result.grant(bot.login, "top").level == Level.WRITE
    registry = next(a for a in result.accounts.values() if a.name == "registry")
    assert registry.login.startswith("deploy_token:") and registry.type == AccountType.ACCESS_TOKEN
    assert result.grant(registry.login, "top").cascade_to == ("project",)
    pusher = next(a for a in result.accounts.values() if a.name == "pusher")
    assert result.grant(pusher.login, "top/web").level == Level.WRITE
    key = next(a for a in result.accounts.values() if a.type == AccountType.DEPLOY_KEY)
    assert result.grant(key.login, "top/web").level == Level.WRITE
    assert result.accounts["service_account_group_1"].type == AccountType.SERVICE_ACCOUNT


def test_user_attributes_come_from_the_admin_user_list(result):
    assert result.accounts["eve"].two_factor is False and result.accounts["ann"].two_factor is True
    assert result.accounts["fay"].state == AccountState.BLOCKED
    assert result.accounts["ann"].last_active_at.isoformat().startswith("2026-01-02")
    assert result.grant("root", "/").via == "instance_admin" and result.grant("root", "/").level == Level.OWNER


def test_pending_invitations_are_recorded_by_email(result):
    invite = result.grant("new@example.test", "top/sub")
    assert (invite.kind, invite.via, invite.level) == (GrantKind.INVITATION, "invitation", Level.WRITE)
    assert result.accounts["new@example.test"].state == AccountState.PENDING


def test_hostile_names_are_stored_verbatim(result):
    assert result.resources["top"].name == HOSTILE
    assert result.accounts["hostile"].name == HOSTILE


def test_more_than_a_page_of_members_is_followed_without_totals(sim):
    for i in range(250):
        sim.org.add_user(f"bulk{i}")
        sim.org.add_member("top/sub/deep", f"bulk{i}", 10)
    found = Result(list(connector(sim).fetch()))
    deep = found.resources["top/sub/deep"].external_id
    assert sum(1 for g in found.grants if g.resource_external_id == deep and g.via == "direct") == 250
    pages = [r for r in sim.requests if r.path == f"/groups/{deep.split(':')[1]}/members"]
    assert len(pages) == 3


def test_without_a_link_header_it_follows_x_next_page(sim):
    for i in range(150):
        sim.org.add_user(f"bulk{i}")
        sim.org.add_member("top/web", f"bulk{i}", 20)
    sim.link_header = False
    found = Result(list(connector(sim).fetch()))
    web = found.resources["top/web"].external_id
    assert (
        sum(
            1
            for g in found.grants
            if g.resource_external_id == web and (g.account_external_id or "").startswith("user:")
        )
        > 150
    )


def test_a_configured_subgroup_keeps_the_members_it_inherits_from_above(sim):
    found = Result(list(connector(sim, group=["top/sub"]).fetch()))
    assert found.resources["top/sub"].parent_external_id == found.resources["top"].external_id
    assert found.resources["top"].attributes["outside_scope"] is True
    assert found.grant("ann", "top").cascade_via == "group:top"
    assert "top/web" not in found.resources  # the ancestor is read for its members only


def test_a_token_that_is_not_accepted_is_a_permission_problem(sim):
    with pytest.raises(PermissionProblem):
        list(connector(sim, token="glpat-wrong-000000000000").fetch())


def test_instance_scope_needs_an_administrator(sim):
    with pytest.raises(PermissionProblem):
        list(connector(sim, token=MAINTAINER_TOKEN, instance="true").fetch())


def test_options_need_either_groups_or_the_instance():
    with pytest.raises(ConfigurationError):
        GitLabConnector.validate_options({})
    with pytest.raises(ConfigurationError):
        GitLabConnector.validate_options({"group": ["a"], "instance": "true"})


def test_a_failing_page_fails_the_read(sim):
    sim.add_fault(ERROR, "/groups/*/members", status=500, times=None)
    with pytest.raises(Exception, match="500"):
        list(connector(sim).fetch())


def test_the_token_never_appears_in_logs(sim, caplog):
    caplog.set_level(logging.DEBUG)
    sim.add_fault(ERROR, "/groups/*/deploy_tokens", status=502, times=1)
    list(connector(sim).fetch())
    assert TOKEN not in caplog.text


# --- revocation -------------------------------------------------------------


def test_removing_a_direct_group_member_then_again_is_already_absent(sim, result):
    conn = connector(sim)
    assert conn.revoke(result.target("ben", "top/sub")).outcome == Outcome.REVOKED
    assert sim.org.user("ben").id not in sim.org.group("top/sub").members
    assert conn.revoke(result.target("ben", "top/sub")).outcome == Outcome.ALREADY_ABSENT


def test_removing_a_group_member_keeps_their_other_direct_memberships_below(sim, result):
    sim.org.add_member("top/sub/deep", "ben", 40)
    connector(sim).revoke(result.target("ben", "top/sub"))
    assert sim.org.user("ben").id in sim.org.group("top/sub/deep").members


def test_at_an_inheriting_level_gitlab_answers_404_and_access_is_reported_as_still_inherited(sim, result):
    target = result.target("ben", "top/sub")
    deep = result.resources["top/sub/deep"]
    at_deep = GrantTarget(
        target.kind,
        target.permission,
        target.level,
        "direct",
        Target(deep.external_id, deep.type, deep.path, deep.attributes),
        account=target.account,
        attributes={"user_id": target.attributes["user_id"]},
    )
    outcome = connector(sim).revoke(at_deep)
    assert outcome.outcome == Outcome.ALREADY_ABSENT and "inherited" in outcome.message
    assert sim.org.user("ben").id in sim.org.group("top/sub").members
    assert any(r.method == "DELETE" and r.status == 404 for r in sim.requests)


def test_an_inherited_grant_is_refused_with_where_to_revoke_it(sim, result):
    target = result.target("ben", "top/sub")
    inherited = GrantTarget(
        target.kind, target.permission, target.level, "group:top/sub", target.resource, account=target.account
    )
    with pytest.raises(Unsupported, match="top/sub"):
        connector(sim).revoke(inherited)


def test_downgrading_a_project_member_is_verified(sim, result):
    outcome = connector(sim).revoke(result.target("hostile", "top/sub/deep/app"), downgrade_to=Level.WRITE)
    assert outcome.outcome == Outcome.REVOKED
    assert sim.org.project("top/sub/deep/app").members[sim.org.user("hostile").id].access_level == 30


def test_a_downgrade_below_an_inherited_level_fails_with_gitlabs_reason(sim, result):
    sim.org.add_member("top/sub/deep", "ann", 50)
    target = result.target("ben", "top/sub")
    deep = result.resources["top/sub/deep"]
    ann = result.accounts["ann"]
    at_deep = GrantTarget(
        GrantKind.MEMBERSHIP,
        "owner",
        Level.OWNER,
        "direct",
        Target(deep.external_id, deep.type, deep.path, deep.attributes),
        account=Principal(ann.external_id, ann.login, ann.type, ann.attributes),
        attributes={"user_id": ann.attributes["user_id"]},
    )
    assert target  # the fixture read happened before the extra membership
    outcome = connector(sim).revoke(at_deep, downgrade_to=Level.READ)
    assert outcome.outcome == Outcome.FAILED and "inherited" in outcome.message


def test_revoking_an_access_token_removes_its_bot(sim, result):
    bot = next(a for a in result.accounts.values() if "token_id" in a.attributes)
    conn = connector(sim)
    assert conn.revoke(result.target(bot.login, "top")).outcome == Outcome.REVOKED
    assert sim.org.user(bot.login).id not in sim.org.group("top").members
    assert conn.revoke(result.target(bot.login, "top")).outcome == Outcome.ALREADY_ABSENT


def test_revoking_deploy_tokens_and_keys(sim, result):
    conn = connector(sim)
    registry = next(a for a in result.accounts.values() if a.name == "registry")
    assert conn.revoke(result.target(registry.login, "top")).outcome == Outcome.REVOKED
    assert conn.revoke(result.target(registry.login, "top")).outcome == Outcome.ALREADY_ABSENT
    key = next(a for a in result.accounts.values() if a.type == AccountType.DEPLOY_KEY)
    assert conn.revoke(result.target(key.login, "top/web"), downgrade_to=Level.READ).outcome == Outcome.REVOKED
    assert sim.org.project("top/web").deploy_keys == {key.attributes["deploy_key_id"]: False}
    assert conn.revoke(result.target(key.login, "top/web")).outcome == Outcome.REVOKED
    assert sim.org.project("top/web").deploy_keys == {}


def test_removing_a_share_then_again(sim, result):
    share = next(g for g in result.grants if g.via == "shared_group:ops")
    sub = result.resources["top/sub"]
    ops = result.resources["ops"]
    target = GrantTarget(
        share.kind,
        share.permission,
        share.level,
        share.via,
        Target(sub.external_id, sub.type, sub.path, sub.attributes),
        group=Target(ops.external_id, ops.type, ops.path, ops.attributes),
        attributes=share.attributes,
    )
    conn = connector(sim)
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert sim.org.group("top/sub").shares == {}
    assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT
    with pytest.raises(Unsupported):
        conn.revoke(target, downgrade_to=Level.READ)


def test_removing_an_invitation(sim, result):
    conn = connector(sim)
    assert conn.revoke(result.target("new@example.test", "top/sub")).outcome == Outcome.REVOKED
    assert conn.revoke(result.target("new@example.test", "top/sub")).outcome == Outcome.ALREADY_ABSENT


def test_a_failing_delete_is_reported_failed(sim, result):
    sim.add_fault(ERROR, "/groups/*/members/*", method="DELETE", status=403, times=None)
    outcome = connector(sim).revoke(result.target("ben", "top/sub"))
    assert outcome.outcome == Outcome.FAILED and "403" in outcome.message
    assert sim.org.user("ben").id in sim.org.group("top/sub").members


def test_instance_scope_reads_every_top_level_group_with_an_admin_token(sim):
    found = Result(list(connector(sim, instance="true").fetch()))
    assert {"top", "ops", "ops/oncall", "top/sub/deep/app"} <= set(found.resources)
    assert "outside_scope" not in found.resources["ops"].attributes
    assert found.grant("eve", "ops/oncall").via == "direct"


def test_the_connection_test_names_the_user_and_checks_each_group(sim):
    assert "root (an administrator)" in connector(sim).test()
    with pytest.raises(Exception, match="404"):
        connector(sim, group=["missing"]).test()
