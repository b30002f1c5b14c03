"""A review from start to finish, with real Celery workers on the configured broker and database.

Sync a simulated GitHub org -> launch from a template -> two managers decide (one in bulk) -> close ->
the revocations run in worker processes against the simulator -> the next sync verifies them. The
simulator's request log proves each change was sent exactly once; the campaign status tells the same story.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.actions import do_add_connector
from connectors.choices import AccountType, GrantKind, Level, ResourceType
from connectors.correlation import link
from connectors.models import Account, Grant, Identity
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token, generate_token
from connectors.sync import run_sync
from pipeaccess.roles import REVIEWER, SECURITY, create_user
from reviews import campaigns, decisions
from reviews.choices import ItemState, RevocationState
from reviews.models import AuditEvent, Revocation
from reviews.revocations import set_dry_run
from tests.workers import celery_workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

TOKEN_VARIABLE = "PIPEACCESS_TEST_E2E_GITHUB_TOKEN"
DONE_TIMEOUT = 90


@pytest.fixture(scope="module")
def token():
    return generate_token()


@pytest.fixture(scope="module")
def github(token):
    org = GitHubOrg.generate("acme", seed=11, members=12, outside_collaborators=2, teams=3, repos=5)
    with GitHubSimulator(org, tokens={token: Token(org.owner_login)}) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def workers(django_db_setup, token, tmp_path_factory):
    with celery_workers(2, tmp_path_factory.mktemp("e2e-workers"), {TOKEN_VARIABLE: token}) as group:
        yield group


def roster(security):
    """Two managers split the org's people between them; the security lead is the fallback reviewer."""
    lead = Identity.objects.create(email="lead@acme.test", name="Security Lead")
    managers = [Identity.objects.create(email=f"manager{n}@acme.test", name=f"Manager {n}") for n in (1, 2)]
    humans = Account.objects.filter(type=AccountType.HUMAN, state="active").order_by("login")
    for n, account in enumerate(humans):
        person = Identity.objects.create(email=f"{account.login.lower()}@acme.test", manager=managers[n % 2])
        link(account, person, actor=security, reason="roster import for the test")
    return lead, managers


def wait_until_done(revocations, workers) -> list[Revocation]:
    deadline = time.monotonic() + DONE_TIMEOUT
    pending = {RevocationState.QUEUED, RevocationState.RUNNING}
    while time.monotonic() < deadline:
        current = list(Revocation.objects.filter(pk__in=[r.pk for r in revocations]).order_by("pk"))
        if not any(r.state in pending for r in current):
            return current
        time.sleep(0.3)
    raise AssertionError(f"revocations still pending after {DONE_TIMEOUT} s:\n{workers.logs()}")


def writes(simulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in simulator.requests if r.method in {"DELETE", "PUT", "PATCH", "POST"}]


def test_a_review_runs_from_sync_to_verified_revocations(github, workers, monkeypatch, token):
    monkeypatch.setenv(TOKEN_VARIABLE, token)
    security = create_user("lead@acme.test", roles=[SECURITY], password=None)
    connector = do_add_connector(
        name="acme-github",
        kind="github",
        base_url=github.url,
        options={"org": "acme", "allow_private_network": "true"},
        secrets={"token": f"env:{TOKEN_VARIABLE}"},
        actor=security,
    )
    set_dry_run(connector, False, actor=security)
    assert run_sync(connector).status == "succeeded"
    lead, managers = roster(security)
    users = [create_user(m.email, roles=[REVIEWER], password=None) for m in managers]

    (template,) = campaigns.apply_templates(
        [
            {
                "name": "github-quarterly",
                "scope": {"connectors": ["acme-github"], "account_types": ["human"]},
                "reviewers": ["manager", {"fallback": "lead@acme.test"}],
                "duration": "14d",
                "max_sync_age": "1h",
            }
        ],
        actor=security,
    )
    # The inventory is older than the template allows: the launch syncs first.
    connector.runs.update(applied_at=timezone.now() - timedelta(hours=3))
    campaign = campaigns.launch(template, actor=security, now=timezone.now())
    assert connector.runs.filter(trigger="campaign", status="succeeded").count() == 1
    mine = [decisions.reviewer_items(user, campaign) for user in users]
    assert all(items.exists() for items in mine)

    by_reviewer = {m.pk: u for m, u in zip(managers, users, strict=True)}
    team_items = campaign.items.filter(kind=GrantKind.MEMBERSHIP, resource_type=ResourceType.TEAM)
    # A team maintainer becomes a plain member; someone else leaves a team; a third person leaves the org.
    downgraded = team_items.filter(level=Level.ADMIN, reviewer__in=managers).first()
    assert downgraded is not None, "the generated org has a team maintainer"
    decisions.decide(downgraded, actor=by_reviewer[downgraded.reviewer_id], decision="downgrade", level="read")
    team_item = team_items.filter(reviewer__in=managers).exclude(holder_label=downgraded.holder_label).first()
    assert team_item is not None, "the generated org has another team member"
    decisions.decide(team_item, actor=by_reviewer[team_item.reviewer_id], decision="revoke", justification="moved")
    org_item = campaign.items.filter(
        kind=GrantKind.MEMBERSHIP, resource_type=ResourceType.ORGANIZATION, level=Level.READ, reviewer__in=managers
    )
    org_item = org_item.exclude(holder_label__in=[downgraded.holder_label, team_item.holder_label]).first()
    decisions.decide(org_item, actor=by_reviewer[org_item.reviewer_id], decision="revoke", justification="left")
    # Manager 1 approves the rest in bulk, manager 2 one by one.
    rest = mine[0].filter(state=ItemState.PENDING)
    decisions.bulk_decide(rest, actor=users[0], decision="approve", justification="checked with the team")
    for item in mine[1].filter(state=ItemState.PENDING):
        decisions.decide(item, actor=users[1], decision="approve", justification="still needed")
    for user in users:
        decisions.sign_off(campaign, actor=user)

    before_close = len(writes(github))
    campaigns.close(campaign, actor=security)
    planned = list(Revocation.objects.filter(item__campaign=campaign))
    expected = 3
    assert len(planned) == expected
    done = wait_until_done(planned, workers)
    assert {r.state for r in done} == {RevocationState.DONE}, [(r.action, r.state, r.last_error) for r in done]

    sent = writes(github)[before_close:]
    team_login = team_item.holder_label
    team_slug = team_item.resource_path.rsplit("/", 1)[-1]
    assert sent.count(("DELETE", f"/orgs/acme/teams/{team_slug}/memberships/{team_login}")) == 1
    assert sent.count(("DELETE", f"/orgs/acme/memberships/{org_item.holder_label}")) == 1
    maintainer_slug = downgraded.resource_path.rsplit("/", 1)[-1]
    assert sent.count(("PUT", f"/orgs/acme/teams/{maintainer_slug}/memberships/{downgraded.holder_label}")) == 1
    assert len(sent) == expected, sent

    assert run_sync(connector).status == "succeeded"
    status = campaigns.status(campaign)
    assert status["revocations"]["verified"] == expected, status["revocations"]
    assert status["items"]["pending"] == 0
    assert not Grant.objects.current().filter(pk__in=[team_item.grant_id, org_item.grant_id]).exists()
    actions = set(AuditEvent.objects.filter(campaign=campaign).values_list("action", flat=True))
    assert {"campaign.launched", "decision.revoke", "decision.approve", "campaign.closed"} <= actions
