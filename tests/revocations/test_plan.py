"""plan(): one action per revoke/downgrade decision, at the node that grants it, in the state it needs."""

import pytest

from connectors.choices import Level
from connectors.models import Connector
from reviews.choices import RevocationState, Verdict
from reviews.models import AuditEvent, Revocation
from reviews.revocations import plan
from reviews.tasks.revocations import execute_revocation

from . import factories

pytestmark = pytest.mark.django_db


def test_each_decision_becomes_one_revocation_and_planning_again_creates_nothing(
    grant_of, connector, django_capture_on_commit_callbacks
):
    campaign = factories.campaign()
    olivia = factories.decided_item(campaign, grant_of("olivia"))
    peter = factories.decided_item(campaign, grant_of("peter"), verdict=Verdict.DOWNGRADE, downgrade_to=Level.READ)
    factories.decided_item(campaign, grant_of("admin"), verdict=Verdict.APPROVE)

    with django_capture_on_commit_callbacks() as enqueued:
        first = plan(campaign)
    second = plan(campaign)

    assert second == []
    assert {(r.key, r.state) for r in first} == {
        (f"item:{olivia.pk}", RevocationState.QUEUED),
        (f"item:{peter.pk}", RevocationState.QUEUED),
    }
    assert Revocation.objects.count() == 2
    assert len(enqueued) == 2
    actions = {r.item_id: r.action for r in first}
    assert actions[olivia.pk] == "remove olivia's developer access on shared"
    assert actions[peter.pk] == "downgrade peter on shared from admin to read"
    assert AuditEvent.objects.filter(action="revocation.planned").count() == 2


def test_a_grant_gone_upstream_before_close_gets_no_revocation(grant_of, org, sync):
    campaign = factories.campaign()
    factories.decided_item(campaign, grant_of("olivia"))
    org.remove_member("shared", org.find_member("shared", user="olivia").id)
    sync()

    assert plan(campaign) == []
    assert not Revocation.objects.exists()


def test_what_the_connector_cannot_do_becomes_a_manual_task_with_instructions(grant_of, sim):
    campaign = factories.campaign()
    admin = grant_of("olivia", "/", via="system_admin")
    factories.decided_item(campaign, admin, verdict=Verdict.DOWNGRADE, downgrade_to=Level.READ)

    (rev,) = plan(campaign)

    assert rev.state == RevocationState.MANUAL
    assert rev.action == "downgrade olivia on / from owner to read"
    assert "can be removed, not lowered" in rev.instructions
    assert "Make the change upstream" in rev.instructions
    assert sim.writes == []


def test_a_dry_run_connector_lists_the_action_and_sends_nothing(grant_of, connector, sim, org):
    Connector.objects.filter(pk=connector.pk).update(dry_run=True)
    campaign = factories.campaign()
    factories.decided_item(campaign, grant_of("olivia"))
    sim.reset_counters()

    (rev,) = plan(campaign)
    outcome = execute_revocation.apply(args=(rev.pk,)).get()

    rev.refresh_from_db()
    assert rev.state == RevocationState.DRY_RUN
    assert outcome == f"revocation {rev.pk} is dry_run: nothing to do"
    assert sim.writes == [] and list(sim.requests) == []
    assert org.find_member("shared", user="olivia")


def test_with_approval_required_nothing_is_enqueued_until_the_security_role_approves(
    grant_of, org, security_user, django_capture_on_commit_callbacks
):
    from reviews.revocations import approve

    campaign = factories.campaign(approve_revocations=True)
    factories.decided_item(campaign, grant_of("olivia"))

    with django_capture_on_commit_callbacks() as enqueued:
        (rev,) = plan(campaign)
    assert rev.state == RevocationState.AWAITING_APPROVAL and enqueued == []

    with django_capture_on_commit_callbacks() as enqueued:
        approve(rev, actor=security_user)
    assert rev.state == RevocationState.QUEUED and len(enqueued) == 1
    assert AuditEvent.objects.get(action="revocation.approved").actor_label == security_user.email

    execute_revocation.apply(args=(rev.pk,))
    rev.refresh_from_db()
    assert (rev.state, rev.outcome) == (RevocationState.DONE, "revoked")
    with pytest.raises(StopIteration):
        org.find_member("shared", user="olivia")
