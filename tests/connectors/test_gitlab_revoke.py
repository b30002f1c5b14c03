"""GitLab: presence checks before a revocation is sent again, transient failures, and SSO identities as sso_id.

Against the GitLab simulator over real HTTP on 127.0.0.1 (no database)."""

from dataclasses import replace

import pytest
import requests

from connectors.base import ConnectorError, GrantTarget, Outcome, Target
from connectors.choices import AccountType
from connectors.providers.gitlab import sso_id
from connectors.simulators.gitlab import GitLabSimulator
from connectors.simulators.server import ERROR
from tests.connectors.test_gitlab_connector import MAINTAINER_TOKEN, TOKEN, Result, connector, small_org

OWNER_TOKEN = "glpat-test-owner-0123456789"  # ann: owner of top, not an administrator
NOBODY_TOKEN = "glpat-test-nobody-012345678"  # eve: sees ops/oncall only


def sso_org():
    org = small_org()
    org.link_group_saml("top", "ann", "Ann.Example@Corp.example")
    org.link_group_saml("top", "ben", "ben@corp.example")
    org.add_identity("cid", "ldapmain", "uid=cid,ou=people,dc=corp")  # a DN: not an identity to correlate on
    org.add_identity("cid", "openid_connect", "Cid@Corp.example")
    org.add_identity("dot", "github", "123456")  # an OAuth user id: neither
    org.add_token("ann", OWNER_TOKEN)
    org.add_token("eve", NOBODY_TOKEN)
    return org


@pytest.fixture
def sim():
    with GitLabSimulator(sso_org()) as simulator:
        yield simulator


@pytest.fixture
def result(sim):
    return Result(list(connector(sim).fetch()))


def share_target(result: Result) -> GrantTarget:
    share = next(g for g in result.grants if g.via == "shared_group:ops")
    sub, ops = result.resources["top/sub"], result.resources["ops"]
    return GrantTarget(
        share.kind,
        share.permission,
        share.level,
        share.via,
        Target(sub.external_id, sub.type, sub.path, sub.attributes),
        group=Target(ops.external_id, ops.type, ops.path, ops.attributes),
        attributes=share.attributes,
    )


def targets(result: Result) -> dict[str, GrantTarget]:
    accounts = result.accounts.values()
    bot = next(a for a in accounts if "token_id" in a.attributes)
    registry = next(a for a in accounts if a.name == "registry")
    key = next(a for a in accounts if a.type == AccountType.DEPLOY_KEY)
    return {
        "group member": result.target("ben", "top/sub"),
        "project member": result.target("hostile", "top/sub/deep/app"),
        "access token": result.target(bot.login, "top"),
        "deploy token": result.target(registry.login, "top"),
        "deploy key": result.target(key.login, "top/web"),
        "invitation": result.target("new@example.test", "top/sub"),
        "share": share_target(result),
    }


@pytest.mark.parametrize(
    "kind",
    ["group member", "project member", "access token", "deploy token", "deploy key", "invitation", "share"],
)
def test_is_present_answers_before_and_after_the_revocation(sim, result, kind):
    conn = connector(sim)
    target = targets(result)[kind]
    assert conn.is_present(target) is True
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert conn.is_present(target) is False


def test_a_member_presence_check_is_one_read(sim, result):
    target = targets(result)["group member"]
    conn = connector(sim)
    sim.reset_counters()
    assert conn.is_present(target) is True
    assert [(e.method, e.endpoint) for e in sim.requests] == [("GET", "GET /groups/{gid}/members/{uid}")]


def test_presence_is_unknown_for_inherited_grants_and_for_a_group_the_token_cannot_see(sim, result):
    member = targets(result)["group member"]
    inherited = replace(member, via="group:top")  # as the engine derives it below top: refused, so unknown
    assert connector(sim).is_present(inherited) is None
    assert connector(sim, token=NOBODY_TOKEN).is_present(member) is None


def test_a_server_error_outlasting_the_retries_is_transient_and_changes_nothing(sim, result):
    sim.add_fault(ERROR, "/groups/*/members/*", method="DELETE", status=502, times=None)
    with pytest.raises(ConnectorError) as raised:
        connector(sim).revoke(targets(result)["group member"])
    assert raised.value.permanent is False
    assert sim.org.user("ben").id in sim.org.group("top/sub").members


# --- SSO identities ------------------------------------------------------------------


def test_an_owner_sees_group_saml_identities_of_group_members(sim):
    accounts = Result(list(connector(sim, token=OWNER_TOKEN).fetch())).accounts
    assert accounts["ann"].attributes["sso_id"] == "ann.example@corp.example"
    assert accounts["ben"].attributes["sso_id"] == "ben@corp.example"
    assert "sso_id" not in accounts["hostile"].attributes  # no identity


def test_group_saml_identities_are_shown_to_owners_not_maintainers(sim):
    top = sim.org.group("top").id

    def members(token):
        answer = requests.get(f"{sim.api_url}/groups/{top}/members", headers={"PRIVATE-TOKEN": token}, timeout=5)
        return {m["username"]: m["group_saml_identity"] for m in answer.json()}

    assert members(OWNER_TOKEN)["ann"] == {
        "extern_uid": "Ann.Example@Corp.example",
        "provider": "group_saml",
        "saml_provider_id": sim.org.group("top").saml_provider_id,
    }
    assert members(MAINTAINER_TOKEN)["ann"] is None


def test_an_administrator_also_gets_identities_from_the_users_list(result):
    accounts = result.accounts
    assert accounts["ben"].attributes["sso_id"] == "ben@corp.example"
    assert accounts["cid"].attributes["sso_id"] == "cid@corp.example"  # the email-like OIDC uid, not the LDAP DN
    assert "sso_id" not in accounts["dot"].attributes  # a GitHub sign-in id is not an SSO identity


def test_instance_mode_reads_identities_for_everyone(sim):
    accounts = Result(list(connector(sim, instance="true").fetch())).accounts
    assert accounts["cid"].attributes["sso_id"] == "cid@corp.example"
    assert accounts["ann"].attributes["sso_id"] == "ann.example@corp.example"


def test_the_sso_identity_rules():
    saml = {"group_saml_identity": {"extern_uid": " X@Y.example ", "provider": "group_saml"}}
    assert sso_id(saml, {}) == "x@y.example"
    assert sso_id({"group_saml_identity": None}, {"identities": [{"provider": "saml", "extern_uid": "opaque-ID"}]}) == (
        "opaque-id"
    )
    assert sso_id({}, {"identities": [{"provider": "ldapmain", "extern_uid": "uid=a,dc=x"}]}) is None
    assert sso_id({}, {}) is None


def test_the_simulator_shows_identities_to_administrators_only(sim):
    ann = sim.org.user("ann").id
    as_admin = requests.get(f"{sim.api_url}/users/{ann}", headers={"PRIVATE-TOKEN": TOKEN}, timeout=5).json()
    as_owner = requests.get(f"{sim.api_url}/users/{ann}", headers={"PRIVATE-TOKEN": OWNER_TOKEN}, timeout=5).json()
    project = sim.org.project("top/web").id
    member = requests.get(
        f"{sim.api_url}/projects/{project}/members/{sim.org.user('dot').id}",
        headers={"PRIVATE-TOKEN": TOKEN},
        timeout=5,
    ).json()
    assert as_admin["identities"][0]["provider"] == "group_saml"
    assert "identities" not in as_owner
    assert member["group_saml_identity"] is None  # project members never carry it
