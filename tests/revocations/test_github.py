"""Revocations on GitHub, end to end: planned at the granting node (team, deploy key), executed against the
simulator, verified by the next sync."""

import pytest

from connectors.actions import do_add_connector
from connectors.choices import AccountType, GrantKind, ResourceType
from connectors.models import Connector, Grant
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token, generate_token
from connectors.sync import run_sync
from reviews.choices import RevocationState
from reviews.revocations import plan
from reviews.tasks.revocations import execute_revocation

from . import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def github(monkeypatch):
    token = generate_token()
    org = GitHubOrg.generate("acme", seed=5, members=10, outside_collaborators=2, teams=3, repos=6)
    with GitHubSimulator(org, tokens={token: Token(org.owner_login)}) as sim:
        monkeypatch.setenv("REVOCATIONS_GITHUB_TOKEN", token)
        connector = do_add_connector(
            name="acme-github",
            kind="github",
            base_url=sim.url,
            options={"org": "acme", "allow_private_network": "true"},
            secrets={"token": "env:REVOCATIONS_GITHUB_TOKEN"},
        )
        Connector.objects.filter(pk=connector.pk).update(dry_run=False)
        connector.refresh_from_db()
        assert run_sync(connector).applied_at is not None
        yield sim, connector


def team_membership_with_repositories() -> tuple[Grant, int]:
    for grant in Grant.objects.current().filter(
        entitlement__kind=GrantKind.MEMBERSHIP, resource__type=ResourceType.TEAM, account__type=AccountType.HUMAN
    ):
        repos = Grant.objects.current().filter(group=grant.resource, resource__type=ResourceType.REPOSITORY).count()
        if repos:
            return grant, repos
    pytest.fail("the generated org has no team with repositories")


def test_a_team_removal_and_a_deploy_key_run_and_are_verified(github, django_capture_on_commit_callbacks):
    sim, connector = github
    membership, team_repos = team_membership_with_repositories()
    deploy_key = Grant.objects.current().filter(account__type=AccountType.DEPLOY_KEY).first()
    campaign = factories.campaign()
    factories.decided_item(campaign, membership)
    factories.decided_item(campaign, deploy_key)

    by_grant = {rev.grant_id: rev for rev in plan(campaign)}

    team = by_grant[membership.pk]
    assert team.action == f"remove {membership.account.login} from team {membership.resource.path}"
    assert team.blast_radius["removed"]["by_type"].get("team") == 1
    # The repositories the team holds are lost unless reached some other way (org base permission, another team).
    assert team.blast_radius["removed"]["count"] + team.blast_radius["lowered"]["count"] <= team_repos + 1
    key = by_grant[deploy_key.pk]
    key_id = deploy_key.account.login.rsplit(":", 1)[-1]
    assert key.action == f"delete deploy key {key_id} on {deploy_key.resource.path}"

    for rev in (team, key):
        execute_revocation.apply(args=(rev.pk,))
        rev.refresh_from_db()
        assert (rev.state, rev.outcome) == (RevocationState.DONE, "revoked"), rev.last_error

    with django_capture_on_commit_callbacks(execute=True):
        run_sync(connector)
    for rev in (team, key):
        rev.refresh_from_db()
        assert rev.state == RevocationState.VERIFIED
