"""GitHub revocation against the simulator over real HTTP: each grant kind, downgrades, already-absent,
failures, presence checks, a write answered late, and (with the database) the next sync seeing the change."""

import threading
import time

import pytest

from connectors.base import ConnectorError, GrantTarget, Outcome, Principal, Target, Unsupported
from connectors.choices import GrantKind, Level, SyncStatus
from connectors.models import Grant
from connectors.revocation import revoke_grant
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.simulators.server import ERROR
from connectors.sync import run_sync
from tests.connectors.helpers import Records, add_simulated_connector, sync_factory
from tests.connectors.test_github_connector import OWNER_TOKEN, connector, fetch, small_org
from tests.fakes import FakeTime


def revocable_org() -> GitHubOrg:
    """The connector tests' small org, plus a second owner and a maintainer who is also in a child team."""
    org = small_org()
    org.add_member("sam", "admin")
    org.add_team_member("platform", "ada")  # ada maintains eng and is a member of its child team platform
    return org


@pytest.fixture
def sim():
    with GitHubSimulator(revocable_org(), tokens={OWNER_TOKEN: Token("olivia")}) as simulator:
        yield simulator


@pytest.fixture
def conn(sim):
    return connector(sim.url)


@pytest.fixture
def records(conn) -> Records:
    return fetch(conn)


def grant(records: Records, login: str, path: str, via: str | None = None) -> GrantTarget:
    found = [g for g in records.grants_of(login) if g.resource_external_id == records.resources[path].external_id]
    found = [g for g in found if via is None or g.via == via]
    assert len(found) == 1, found
    return records.target(found[0])


def team_grant(records: Records, slug: str, repo: str) -> GrantTarget:
    [found] = [g for g in records.grants_on(repo) if g.via == f"team:acme/{slug}"]
    return records.target(found)


def writes(sim) -> list[tuple[str, str]]:
    return [(entry.method, entry.path) for entry in sim.writes]


# --- organization --------------------------------------------------------------


def test_removing_an_org_member_then_again_is_already_absent(sim, conn, records):
    target = grant(records, "carl", "acme")
    first = conn.revoke(target)
    second = conn.revoke(target)
    assert (first.outcome, second.outcome) == (Outcome.REVOKED, Outcome.ALREADY_ABSENT)
    assert "carl" not in sim.org.members
    assert writes(sim) == [("DELETE", "/orgs/acme/memberships/carl")]


def test_an_owner_is_downgraded_to_member_and_only_to_member(sim, conn, records):
    target = grant(records, "sam", "acme")
    assert target.via == "org_owner"
    result = conn.revoke(target, downgrade_to=Level.READ)
    assert result.outcome == Outcome.REVOKED, result.message
    assert sim.org.members["sam"] == "member"
    assert conn.revoke(target, downgrade_to=Level.READ).outcome == Outcome.ALREADY_ABSENT
    assert "member (read)" in conn.cannot_revoke(target, downgrade_to=Level.ADMIN)
    with pytest.raises(Unsupported):
        conn.revoke(target, downgrade_to=Level.WRITE)
    assert writes(sim) == [("PUT", "/orgs/acme/memberships/sam")]


def test_the_tokens_own_account_is_never_removed_or_demoted(sim, conn, records):
    target = grant(records, "olivia", "acme")
    for downgrade in (None, Level.READ):
        with pytest.raises(Unsupported, match="connector's token"):
            conn.revoke(target, downgrade_to=downgrade)
    assert sim.org.members["olivia"] == "admin" and sim.writes == []


def test_a_pending_invitation_is_not_cancelled_through_a_membership_grant(sim, conn, records):
    target = grant(records, "carl", "acme")
    sim.org.remove_member("carl")
    sim.org.add_invitation(login="carl")
    result = conn.revoke(target)
    assert result.outcome == Outcome.ALREADY_ABSENT and "invitation" in result.message
    assert any(inv.login == "carl" for inv in sim.org.invitations) and sim.writes == []


def test_org_invitations_by_login_and_by_email_are_cancelled(sim, conn, records):
    owner_invitation = grant(records, "ivy", "acme")
    assert (
        conn.cannot_revoke(owner_invitation, downgrade_to=Level.READ) == "this grant can only be removed, not lowered"
    )
    for login in ("ivy", "pat@example.com"):
        target = grant(records, login, "acme")
        assert conn.revoke(target).outcome == Outcome.REVOKED
        assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT
    assert sim.org.invitations == []


def test_an_outside_collaborator_can_be_removed_from_the_whole_org(sim, conn, records):
    account = records.accounts["oscar"]
    target = GrantTarget(
        kind=GrantKind.MEMBERSHIP,
        permission="outside_collaborator",
        level=Level.READ,
        via="outside_collaborator",
        resource=Target("org:9001", "organization", "acme"),
        account=Principal(account.external_id, account.login, account.type, account.attributes),
    )
    assert conn.is_present(target) is True
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert "oscar" not in sim.org.outside_collaborators()
    assert conn.is_present(target) is False
    assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT


# --- teams ---------------------------------------------------------------------


def test_a_team_maintainer_is_downgraded_then_removed(sim, conn, records):
    target = grant(records, "ada", "acme/team/eng")
    assert target.permission == "maintainer"
    assert conn.revoke(target, downgrade_to=Level.READ).outcome == Outcome.REVOKED
    assert sim.org.teams["eng"].members["ada"] == "member"
    result = conn.revoke(target)
    assert result.outcome == Outcome.REVOKED
    assert "ada" not in sim.org.teams["eng"].members
    # GitHub still lists her on eng through the child team platform, and says so instead of failing.
    assert "child team platform" in result.message
    assert conn.is_present(target) is None
    second = conn.revoke(target)
    assert second.outcome == Outcome.ALREADY_ABSENT and "platform" in second.message


def test_a_team_member_cannot_be_downgraded_further(conn, records):
    target = grant(records, "max", "acme/team/platform")
    assert "lowest team role" in conn.cannot_revoke(target, downgrade_to=Level.READ)


def test_a_membership_of_a_team_synced_from_an_identity_provider_fails_with_githubs_reason(sim, conn, records):
    sim.org.teams["platform"].synced = True
    result = conn.revoke(grant(records, "max", "acme/team/platform"))
    assert result.outcome == Outcome.FAILED
    assert "403" in result.message and "identity provider" in result.message
    assert "max" in sim.org.teams["platform"].members


def test_a_teams_repository_permission_is_downgraded_then_removed(sim, conn, records):
    target = team_grant(records, "platform", "acme/api")
    assert (target.permission, target.level) == ("deployer", Level.WRITE)
    down = conn.revoke(target, downgrade_to=Level.READ)
    assert down.outcome == Outcome.REVOKED, down.message
    assert sim.org.teams["platform"].repos["api"] == "read"
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert "api" not in sim.org.teams["platform"].repos
    assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT
    assert writes(sim) == [
        ("PUT", "/orgs/acme/teams/platform/repos/acme/api"),
        ("DELETE", "/orgs/acme/teams/platform/repos/acme/api"),
    ]


# --- repositories ----------------------------------------------------------------


def test_a_direct_collaborator_is_downgraded_then_removed(sim, conn, records):
    target = grant(records, "max", "acme/api", via="direct")
    assert target.level == Level.ADMIN
    down = conn.revoke(target, downgrade_to=Level.WRITE)
    assert down.outcome == Outcome.REVOKED, down.message
    assert sim.org.repos["api"].collaborators["max"] == "write"
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert "max" not in sim.org.repos["api"].collaborators
    assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT
    assert conn.revoke(target, downgrade_to=Level.READ).outcome == Outcome.ALREADY_ABSENT


def test_removing_an_outside_collaborators_last_repository_removes_them_from_the_org(sim, conn, records):
    assert conn.revoke(grant(records, "oscar", "acme/api")).outcome == Outcome.REVOKED
    assert "oscar" not in sim.org.outside_collaborators()


def test_deploy_keys_are_deleted_and_cannot_be_lowered(sim, conn, records):
    [release] = [login for login, account in records.accounts.items() if account.name == "release"]
    target = grant(records, release, "acme/api")
    assert "cannot be changed" in conn.cannot_revoke(target, downgrade_to=Level.READ)
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert [key.title for key in sim.org.repos["api"].keys] == ["ci"]
    assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT


def test_a_repository_invitation_is_cancelled(sim, conn, records):
    target = grant(records, "rita", "acme/web")
    assert conn.revoke(target).outcome == Outcome.REVOKED
    assert sim.org.repos["web"].invitations == []
    assert conn.revoke(target).outcome == Outcome.ALREADY_ABSENT


def test_a_404_is_not_trusted_when_the_repository_itself_is_gone(sim, conn, records):
    target = grant(records, "max", "acme/api", via="direct")
    sim.org.remove_repo("api")
    result = conn.revoke(target)
    assert result.outcome == Outcome.FAILED
    assert "404" in result.message and "cannot see it" in result.message
    assert conn.is_present(target) is None


# --- what is refused, failures, presence ------------------------------------------


def test_the_base_permission_and_app_installations_are_manual_with_a_reason(sim, conn, records):
    [base] = [g for g in records.grants if g.via == "org_base_permission"]
    app = grant(records, "app:renovate", "acme")
    assert "Member privileges" in conn.cannot_revoke(records.target(base))
    assert "GitHub Apps" in conn.cannot_revoke(app)
    for target in (records.target(base), app):
        with pytest.raises(Unsupported):
            conn.revoke(target)
        assert conn.is_present(target) is None
    assert sim.writes == []


def test_a_server_error_that_outlasts_the_retries_is_transient_and_changes_nothing(sim, conn, records):
    sim.add_fault(ERROR, "/orgs/acme/memberships/*", method="DELETE", status=502, times=None)
    with pytest.raises(ConnectorError) as raised:
        conn.revoke(grant(records, "carl", "acme"))
    assert raised.value.permanent is False
    assert "carl" in sim.org.members


def test_a_refusal_by_github_is_a_failure_with_its_message(sim, conn, records):
    sim.add_fault(ERROR, "/repos/acme/api/keys/*", method="DELETE", status=422, times=None)
    [ci] = [login for login, account in records.accounts.items() if account.name == "ci"]
    result = conn.revoke(grant(records, ci, "acme/api"))
    assert result.outcome == Outcome.FAILED and "422" in result.message
    assert len(sim.org.repos["api"].keys) == 2


@pytest.mark.parametrize(
    ("login", "path", "via"),
    [
        ("carl", "acme", None),
        ("sam", "acme", None),
        ("ivy", "acme", None),
        ("max", "acme/team/platform", None),
        ("max", "acme/api", "direct"),
        ("rita", "acme/web", None),
    ],
)
def test_is_present_answers_before_and_after_the_revocation(sim, conn, records, login, path, via):
    target = grant(records, login, path, via=via)
    assert conn.is_present(target) is True
    conn.revoke(target)
    assert conn.is_present(target) is False


def test_is_present_for_deploy_keys_and_team_repository_permissions(conn, records):
    [ci] = [login for login, account in records.accounts.items() if account.name == "ci"]
    for target in (grant(records, ci, "acme/api"), team_grant(records, "eng", "acme/api")):
        assert conn.is_present(target) is True
        conn.revoke(target)
        assert conn.is_present(target) is False


def test_presence_costs_one_read_for_a_deploy_key(sim, conn, records):
    [ci] = [login for login, account in records.accounts.items() if account.name == "ci"]
    target = grant(records, ci, "acme/api")
    sim.reset_counters()
    conn.is_present(target)
    assert [(entry.method, entry.endpoint) for entry in sim.requests] == [
        ("GET", "GET /repos/{owner}/{repo}/keys/{key_id}")
    ]


# --- a write answered late ----------------------------------------------------------


def test_a_late_answer_still_counts_as_revoked_and_the_delete_is_sent_once(sim, conn, records):
    sim.write_delay = 1.0
    target = grant(records, "carl", "acme")
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("result", conn.revoke(target)))
    began = time.perf_counter()
    worker.start()
    deadline = time.monotonic() + 5
    while not sim.writes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "carl" not in sim.org.members and worker.is_alive()  # applied, not yet answered
    worker.join(timeout=10)
    assert outcome["result"].outcome == Outcome.REVOKED
    assert time.perf_counter() - began >= 1.0
    assert writes(sim) == [("DELETE", "/orgs/acme/memberships/carl")]


def test_a_call_cut_off_after_the_change_is_not_repeated_once_presence_is_checked(sim, records):
    """A worker that dies waiting for the answer: the next one asks is_present first and sends nothing."""
    sim.write_delay = 2.0
    target = grant(records, "max", "acme/api", via="direct")
    dying = connector(sim.url, timeout=0.3, max_retries=0)
    with pytest.raises(ConnectorError) as cut:
        dying.revoke(target)
    assert cut.value.permanent is False
    retry = connector(sim.url)
    assert retry.is_present(target) is False
    assert writes(sim) == [("DELETE", "/repos/acme/api/collaborators/max")]


# --- through the inventory: the next sync sees it --------------------------------------


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def inventory(sim, monkeypatch, fake_time):
    conn = add_simulated_connector(
        monkeypatch,
        name="gh",
        kind="github",
        base_url=sim.url,
        token_env="GH_REVOKE_TOKEN",
        token=OWNER_TOKEN,
        org="acme",
    )
    conn.removal_threshold = 1.0  # a small org: these revocations remove more than the default share
    conn.save(update_fields=["removal_threshold"])
    factory = sync_factory(fake_time)

    def sync():
        run = run_sync(conn, connector_factory=factory)
        assert run.status == SyncStatus.SUCCEEDED, run.error
        return run

    return conn, factory, sync


def current(**lookup) -> Grant:
    return Grant.objects.current().select_related("entitlement").get(**lookup)


@pytest.mark.django_db
def test_revocations_through_the_inventory_are_gone_at_the_next_sync(inventory):
    _, factory, sync = inventory
    sync()
    grants = [
        current(account__login="carl", resource__path="acme/team/sre"),
        current(group__path="acme/team/eng", resource__path="acme/api"),
        current(account__login="max", resource__path="acme/api", via="direct"),
        current(account__type="deploy_key", account__name="release"),
        current(account__login="ivy"),
        current(account__login="rita"),
    ]
    for one in grants:
        result = revoke_grant(one, connector_factory=factory)
        assert result.outcome == Outcome.REVOKED, result.message
    after = sync()
    assert after.counts["removed"] == len(grants)
    assert not Grant.objects.current().filter(pk__in=[g.pk for g in grants]).exists()


@pytest.mark.django_db
def test_downgrades_through_the_inventory_show_as_changed_at_the_next_sync(inventory):
    _, factory, sync = inventory
    sync()
    owner = current(account__login="sam", resource__path="acme", via="org_owner")
    collaborator = current(account__login="max", resource__path="acme/api", via="direct")
    for one, level in ((owner, Level.READ), (collaborator, Level.WRITE)):
        result = revoke_grant(one, downgrade_to=level, connector_factory=factory)
        assert result.outcome == Outcome.REVOKED, result.message
    sync()
    member = current(account__login="sam", resource__path="acme")
    assert (member.via, member.entitlement.name, member.entitlement.level) == ("membership", "member", Level.READ)
    lowered = current(key=collaborator.key)
    assert (lowered.entitlement.name, lowered.entitlement.level) == ("write", Level.WRITE)


def test_an_owner_stays_a_team_maintainer_and_the_failure_says_why(sim, conn, records):
    target = grant(records, "olivia", "acme/team/platform")
    assert target.permission == "maintainer"  # GitHub reports owners as maintainers
    result = conn.revoke(target, downgrade_to=Level.READ)
    assert result.outcome == Outcome.FAILED
    assert "organization owners as maintainers" in result.message
