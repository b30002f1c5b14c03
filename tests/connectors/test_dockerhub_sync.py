"""Docker Hub end to end: the simulator over real HTTP, the connector, the sync engine and the database.

The simulator runs with an injected clock shared with the client's injected sleep, so rate-limit waits
and token expiry are real decisions without real waiting.
"""

import logging

import pytest

from connectors.choices import AccountState, AccountType, Level, SyncStatus
from connectors.export import Filters, rows
from connectors.models import Account, Grant, Resource
from connectors.revocation import revoke_grant
from connectors.simulators.dockerhub import DockerHubOrg, DockerHubSimulator
from connectors.simulators.server import DELAY, DISCONNECT, ERROR, SECONDARY_RATE_LIMIT, TRUNCATE
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, fail_with_fault_and_check_nothing_moved, sync_factory
from tests.fakes import FakeTime

TOKEN = "dckr_pat_e2eOwnerToken0123456789abcdef"


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def org():
    # 130 members: the member list crosses a page of 100.
    return DockerHubOrg.generate("acme", seed=4, members=130, teams=8, repos=25, tokens=5, invites=4)


@pytest.fixture
def sim(org, fake_time):
    with DockerHubSimulator(org, pats={TOKEN: org.owner_username}, clock=fake_time.clock) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, org, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch,
        name="hub",
        kind="dockerhub",
        base_url=sim.url,
        token_env="HUB_E2E_TOKEN",
        token=TOKEN,
        org="acme",
        username=org.owner_username,
    )


@pytest.fixture
def factory(fake_time):
    return sync_factory(fake_time, max_concurrency=4)


@pytest.fixture
def sync(connector, factory):
    def run():
        return run_sync(connector, connector_factory=factory)

    return run


def current():
    return set(Grant.objects.current().values_list("id", flat=True))


@pytest.mark.django_db
def test_a_full_sync_records_every_member_team_repository_invite_and_token(sync, org):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    facts = org.facts()
    grants = Grant.objects.current().select_related("entitlement", "account", "resource", "group")
    roles = {g.account.login: g.entitlement.name for g in grants if g.resource.type == "organization" and g.account}
    members = {login: role for login, role in roles.items() if not login.startswith("access_token:")}
    pending = set(Account.objects.filter(state=AccountState.PENDING).values_list("login", flat=True))
    assert {login: role.lower() for login, role in members.items() if login not in pending} == facts.members
    assert pending == {invitee for invitee, _ in facts.invites}
    team_repo = {(g.group.name, g.resource.name, g.entitlement.name) for g in grants if g.via.startswith("team:")}
    assert team_repo == set(facts.team_repos)
    team_members = {(g.resource.name, g.account.login) for g in grants if g.resource.type == "team"}
    assert team_members == set(facts.team_members)
    assert Resource.objects.filter(type="repository").count() == len(facts.repos)
    tokens = Account.objects.filter(type=AccountType.ACCESS_TOKEN)
    assert {t.attributes["token_id"] for t in tokens} == set(facts.tokens)
    assert {t.state for t in tokens} == {AccountState.ACTIVE, AccountState.DISABLED, AccountState.EXPIRED}


@pytest.mark.django_db
def test_access_export_rows_carry_the_contracts_via_level_and_account_type(sync, org, connector):
    assert sync().status == SyncStatus.SUCCEEDED
    exported = list(rows([connector], Filters(), as_granted=False))
    owner = org.owner_username

    def levels(login: str, via: str) -> set[tuple[str, str]]:
        return {
            (r["resource"]["type"], r["level"]) for r in exported if r["account"]["login"] == login and r["via"] == via
        }

    assert levels(owner, "org_owner") == {("organization", "owner"), ("repository", "admin")}
    editor = next(u for u, role in org.members.items() if role == "editor")
    assert levels(editor, "direct") >= {("organization", "admin"), ("repository", "admin")}
    team, repo, permission = sorted(org.facts().team_repos)[0]
    member = next(iter(org.teams[team].members))
    via = f"team:acme/{team}"
    [row] = [
        r
        for r in exported
        if r["account"]["login"] == member and r["via"] == via and r["resource"]["path"] == f"acme/{repo}"
    ]
    assert (row["level"], row["permission"], row["account"]["type"]) == (
        {"read": "read", "write": "write", "admin": "admin"}[permission],
        permission,
        "human",
    )
    public = [r for r in exported if r["account"]["type"] == "pseudo"]
    assert {r["resource"]["path"] for r in public} == {
        f"acme/{n}" for n, private in org.facts().repos.items() if not private
    }
    assert {r["via"] for r in public} == {"direct"}
    tokens = [r for r in exported if r["account"]["type"] == "access_token"]
    assert tokens and all(r["account"]["login"].startswith("access_token:") for r in tokens)
    assert {r["account"]["state"] for r in tokens} >= {"active", "disabled", "expired"}
    invites = [r for r in exported if r["via"] == "invitation"]
    assert invites and {r["account"]["state"] for r in invites} == {"pending"}
    email_only = [r for r in invites if "@" in r["account"]["login"]]
    assert all(r["account"]["email"] == r["account"]["login"] for r in email_only)


@pytest.mark.django_db
def test_an_immediate_resync_changes_nothing(sync):
    sync()
    before = current()
    second = sync()
    assert second.status == SyncStatus.SUCCEEDED, second.error
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    assert current() == before


@pytest.mark.django_db
def test_a_change_upstream_shows_in_the_next_sync(sync, org):
    first = sync()
    team, repo, _permission = sorted(org.facts().team_repos)[0]
    org.revoke_team(team, repo)
    second = sync()
    assert (second.counts["removed"], second.counts["added"]) == (1, 0)
    removed = Grant.objects.get(removed_run=second)
    assert (removed.via, removed.resource.path, removed.last_seen_at) == (
        f"team:acme/{team}",
        f"acme/{repo}",
        first.applied_at,
    )


@pytest.mark.django_db
def test_a_sync_longer_than_the_bearer_tokens_life_signs_in_again(org, fake_time, connector, sync):
    with DockerHubSimulator(
        org, pats={TOKEN: org.owner_username}, clock=fake_time.clock, rate_limit=10, jwt_lifetime=120
    ) as slow:
        connector.base_url = slow.url
        connector.save()
        run = sync()
        logins = slow.logins
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert sum(fake_time.sleeps) >= 120
    assert logins >= 2


FAULTS = [
    pytest.param({"kind": ERROR, "path": "/v2/repositories/*/groups", "status": 500, "times": None}, "500", id="5xx"),
    pytest.param({"kind": TRUNCATE, "path": "/v2/orgs/*/members", "times": None}, "", id="truncated-body"),
    pytest.param({"kind": DISCONNECT, "path": "/v2/orgs/*/groups", "times": None}, "", id="disconnect"),
    pytest.param({"kind": DELAY, "path": "/v2/orgs/*/invites", "seconds": 2, "times": None}, "", id="timeout"),
    pytest.param(
        {"kind": SECONDARY_RATE_LIMIT, "path": "/v2/namespaces/*/repositories", "seconds": 120000, "times": None},
        "rate limit",
        id="429-far-retry-after",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(sync, sim, connector, fault, message):
    failed = fail_with_fault_and_check_nothing_moved(
        sync,
        sim,
        connector,
        fault,
        change=lambda: sim.org.remove_member(sorted(u for u, role in sim.org.members.items() if role == "member")[0]),
        state=current,
    )
    assert message in failed.error.lower()


@pytest.mark.django_db
def test_a_bad_token_fails_the_run_keeps_the_state_and_is_never_shown(sync, connector, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    good = sync()
    monkeypatch.setenv("HUB_E2E_TOKEN", TOKEN[:-4] + "ZZZZ")
    failed = sync()
    assert failed.status == SyncStatus.FAILED
    assert "401" in failed.error
    assert Grant.objects.current().count() > 0 and connector.last_applied_run() == good
    for text in (caplog.text, failed.error):
        assert TOKEN not in text and TOKEN[:-4] + "ZZZZ" not in text


@pytest.mark.django_db
def test_a_recorded_team_membership_is_revoked_upstream_and_gone_after_the_next_sync(sync, org, connector, factory):
    sync()
    grant = (
        Grant.objects.current()
        .select_related("account", "resource", "entitlement")
        .filter(resource__type="team")
        .exclude(resource__name="owners")
        .order_by("id")
        .first()
    )
    result = revoke_grant(grant, connector_factory=factory)
    assert result.outcome == "revoked", result.message
    assert grant.account.login not in org.teams[grant.resource.name].members
    again = revoke_grant(grant, connector_factory=factory)
    assert again.outcome == "already_absent"
    after = sync()
    assert after.counts["removed"] == 1
    assert not Grant.objects.current().filter(pk=grant.pk).exists()


@pytest.mark.django_db
def test_a_recorded_owner_is_downgraded_to_editor(sync, org, connector, factory):
    sync()
    second_owner = [u for u, role in org.members.items() if role == "owner"][-1]
    grant = Grant.objects.current().get(account__login=second_owner, via="org_owner")
    result = revoke_grant(grant, downgrade_to=Level.ADMIN, connector_factory=factory)
    assert result.outcome == "revoked", result.message
    assert org.members[second_owner] == "editor"
