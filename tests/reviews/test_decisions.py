"""Reviewers decide their own items, only while the campaign is open, never their own access."""

import pytest
from django.db import connection

from connectors.choices import Level
from connectors.models import Account, GrantRisk
from reviews import campaigns, decisions
from reviews.choices import DecisionKind, ItemState, Verdict
from reviews.models import AuditEvent, Decision, ReviewerProgress

# The user's person, a savepoint, the item locked with its campaign and grant, its update, the Decision row,
# the audit chain's head and the event (plus the chain's advisory lock on PostgreSQL), the savepoint released.
QUERIES_PER_DECISION = 8 + (connection.vendor == "postgresql")


def item(campaign, holder, via="direct", path=None):
    qs = campaign.items.filter(holder_label=holder, via=via)
    return qs.get(resource_path=path) if path else qs.get()


def test_a_reviewer_approves_their_item_and_the_decision_is_recorded_and_audited(launched, users):
    campaign = launched()
    target = item(campaign, "carol", "membership", "acme/team/eng-ci")
    decided = decisions.decide(target, actor=users["mia"], decision="approve")
    assert (decided.state, decided.verdict, decided.decided_by) == (ItemState.DECIDED, Verdict.APPROVE, users["mia"])
    entry = Decision.objects.get(item=target)
    assert (entry.kind, entry.actor_label, entry.before["state"]) == (DecisionKind.APPROVE, "mia@acme.test", "pending")
    event = AuditEvent.objects.get(action="decision.approve", object_id=str(target.pk))
    assert event.actor == users["mia"]
    assert event.data["holder"] == "carol"


def test_a_reviewer_cannot_decide_someone_elses_item(launched, users):
    campaign = launched()
    theirs = item(campaign, "dave", path="acme/r1")  # routed to ola
    with pytest.raises(decisions.NotAllowed, match="not assigned to you"):
        decisions.decide(theirs, actor=users["mia"], decision="approve")
    theirs.refresh_from_db()
    assert theirs.state == ItemState.PENDING
    assert not Decision.objects.filter(item=theirs).exists()


def test_nobody_decides_their_own_access_even_when_it_is_assigned_to_them(launched, users, people):
    campaign = launched()
    own = item(campaign, "bob", path="acme/r2")
    decisions.reassign(campaign.items.filter(pk=own.pk), to=people["ola"], actor=users["sam"], reason="cover")
    # Even the security team cannot hand someone their own access.
    with pytest.raises(decisions.Invalid, match="own access"):
        decisions.reassign(campaign.items.filter(pk=own.pk), to=people["bob"], actor=users["sam"], reason="oops")
    own.refresh_from_db()
    own.subject = people["ola"]
    own.save()
    with pytest.raises(decisions.NotAllowed, match="own access"):
        decisions.decide(own, actor=users["ola"], decision="approve")


def test_revoking_needs_a_justification_and_so_does_approving_high_risk_access(launched, users):
    campaign = launched()
    target = item(campaign, "bob", path="acme/r2")
    with pytest.raises(decisions.Invalid, match="say why"):
        decisions.decide(target, actor=users["mia"], decision="revoke")
    GrantRisk.objects.filter(grant_id=target.grant_id).update(score=80)
    target.risk_score = 80
    target.save()
    with pytest.raises(decisions.Invalid, match="high-risk"):
        decisions.decide(target, actor=users["mia"], decision="approve", justification="  ")
    decided = decisions.decide(target, actor=users["mia"], decision="revoke", justification="left the team")
    assert (decided.verdict, decided.justification) == (Verdict.REVOKE, "left the team")


def test_a_downgrade_must_lower_the_level(launched, users):
    target = item(launched(), "bob", path="acme/r2")  # admin
    with pytest.raises(decisions.Invalid, match="not below"):
        decisions.decide(target, actor=users["mia"], decision="downgrade", level="owner")
    with pytest.raises(decisions.Invalid, match="which level"):
        decisions.decide(target, actor=users["mia"], decision="downgrade", level="superuser")
    decided = decisions.decide(target, actor=users["mia"], decision="downgrade", level="write")
    assert (decided.verdict, decided.downgrade_to) == (Verdict.DOWNGRADE, Level.WRITE)


def test_delegating_moves_the_item_to_another_person_with_a_reason(launched, users, people):
    campaign = launched()
    target = item(campaign, "bob", path="acme/r2")
    with pytest.raises(decisions.Invalid, match="why you delegate"):
        decisions.decide(target, actor=users["mia"], decision="delegate", to="ola@acme.test")
    with pytest.raises(decisions.Invalid, match="cannot review"):
        decisions.decide(target, actor=users["mia"], decision="delegate", to="bob@acme.test", justification="x")
    moved = decisions.decide(
        target, actor=users["mia"], decision="delegate", to="ola@acme.test", justification="she owns r2"
    )
    assert (moved.reviewer, moved.state, moved.routed_by) == (people["ola"], ItemState.PENDING, "delegated")
    assert ReviewerProgress.objects.filter(campaign=campaign, reviewer=people["ola"]).exists()
    with pytest.raises(decisions.NotAllowed):
        decisions.decide(moved, actor=users["mia"], decision="approve")
    decisions.decide(moved, actor=users["ola"], decision="approve")


def test_undo_makes_the_item_pending_again_while_the_campaign_is_open(launched, users):
    campaign = launched()
    target = item(campaign, "carol", "membership", "acme/team/eng-ci")
    decisions.decide(target, actor=users["mia"], decision="revoke", justification="not in eng any more")
    undone = decisions.undo(target, actor=users["mia"])
    assert (undone.state, undone.verdict) == (ItemState.PENDING, "")
    assert list(Decision.objects.filter(item=target).values_list("kind", flat=True)) == ["revoke", "undo"]
    with pytest.raises(decisions.Conflict, match="no decision to undo"):
        decisions.undo(target, actor=users["mia"])


def test_a_stale_version_is_refused_so_two_tabs_cannot_overwrite_each_other(launched, users):
    target = item(launched(), "carol", "membership", "acme/team/eng-ci")
    seen = target.version
    decisions.decide(target, actor=users["mia"], decision="approve", version=seen)
    with pytest.raises(decisions.Conflict, match="changed since you loaded it"):
        decisions.decide(target, actor=users["mia"], decision="revoke", justification="x", version=seen)


def test_bulk_decisions_apply_to_a_filtered_selection_all_or_nothing(launched, users):
    campaign = launched()
    mine = decisions.reviewer_items(users["mia"], campaign)
    members = mine.filter(via="membership")
    assert decisions.bulk_decide(members, actor=users["mia"], decision="approve") == {"decided": members.count()}
    assert set(members.values_list("state", flat=True)) == {ItemState.DECIDED}
    # One item of someone else in the selection: nothing is decided.
    mixed = campaign.items.filter(holder_label__in=["alice", "dave"])
    with pytest.raises(decisions.NotAllowed):
        decisions.bulk_decide(mixed, actor=users["mia"], decision="revoke", justification="cleanup")
    assert set(mixed.values_list("state", flat=True)) == {ItemState.PENDING}


def test_nothing_is_decided_once_the_campaign_is_closed(launched, users):
    campaign = launched()
    target = item(campaign, "carol", "membership", "acme/team/eng-ci")
    campaigns.close(campaign)
    with pytest.raises(decisions.Conflict, match="closed"):
        decisions.decide(target, actor=users["mia"], decision="revoke", justification="late")
    # Someone else's item in a closed campaign still says "not yours", not "closed".
    with pytest.raises(decisions.NotAllowed):
        decisions.decide(target, actor=users["ola"], decision="approve")


def test_a_second_stage_sends_privileged_approvals_to_the_resource_owner(launched, users, people):
    campaign = launched(
        reviewers={
            "strategies": ["manager"],
            "fallback": "sam@acme.test",
            "stages": [{"strategies": ["resource_owner"], "when": {"min_level": "admin"}}],
        }
    )
    admin = item(campaign, "bob", path="acme/r2")
    after = decisions.decide(admin, actor=users["mia"], decision="approve", justification="needs it")
    assert (after.state, after.stage, after.reviewer) == (ItemState.PENDING, 2, people["ola"])
    final = decisions.decide(after, actor=users["ola"], decision="approve", justification="confirmed")
    assert (final.state, final.verdict) == (ItemState.DECIDED, Verdict.APPROVE)
    assert [d.kind for d in final.decisions.all()] == ["approve", "stage", "approve"]
    # Below the stage's level, the manager's approval is final.
    member = decisions.decide(
        item(campaign, "carol", "membership", "acme/team/eng-ci"), actor=users["mia"], decision="approve"
    )
    assert (member.state, member.stage) == (ItemState.DECIDED, 1)


def test_sign_off_needs_every_item_decided(launched, users):
    campaign = launched()
    with pytest.raises(decisions.Invalid, match="still to decide"):
        decisions.sign_off(campaign, actor=users["ola"])
    decisions.bulk_decide(
        decisions.reviewer_items(users["ola"], campaign), actor=users["ola"], decision="approve", justification="ok"
    )
    progress = decisions.sign_off(campaign, actor=users["ola"])
    assert progress.signed_off_at is not None
    with pytest.raises(decisions.NotAllowed, match="no items"):
        decisions.sign_off(campaign, actor=users["alice"])


def test_only_the_security_team_reassigns(launched, users, people):
    campaign = launched()
    with pytest.raises(decisions.NotAllowed):
        decisions.reassign(campaign.items.all(), to=people["ola"], actor=users["mia"], reason="mine now")
    moved = decisions.reassign(
        campaign.items.filter(holder_label="carol"), to=people["ola"], actor=users["sam"], reason="mia is away"
    )
    assert moved == 2
    assert Decision.objects.filter(kind="reassign", justification="mia is away").count() == 2


def test_comments_are_kept_in_the_item_history(launched, users):
    target = item(launched(), "carol", "membership", "acme/team/eng-ci")
    decisions.comment(target, actor=users["mia"], text="Is carol still on CI duty?")
    assert target.decisions.get().justification == "Is carol still on CI duty?"
    with pytest.raises(decisions.Invalid):
        decisions.comment(target, actor=users["mia"], text=" ")


def test_a_user_who_is_no_person_has_no_items(launched, make_user):
    launched()
    stranger = make_user("stranger@elsewhere.test")
    assert decisions.reviewer_items(stranger).count() == 0


def test_orphan_account_items_keep_no_subject(launched):
    dave = item(launched(), "dave", path="acme/r1")
    assert dave.subject is None
    assert Account.objects.get(login="dave").identity is None


def test_a_decision_costs_a_fixed_handful_of_queries(launched, users, django_assert_num_queries):
    campaign = launched()
    first, second = decisions.reviewer_items(users["mia"], campaign).filter(via="membership")[:2]
    with django_assert_num_queries(QUERIES_PER_DECISION):
        decisions.decide(first, actor=users["mia"], decision="approve", version=first.version)
    with django_assert_num_queries(QUERIES_PER_DECISION):
        decisions.decide(second, actor=users["mia"], decision="revoke", justification="gone", version=0)
