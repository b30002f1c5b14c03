"""Launching a campaign: one frozen item per grant, routed to the right person, compared with the last review."""

import dataclasses
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.base import GrantRecord
from connectors.choices import GrantKind, Level
from connectors.models import Connector, Identity, Resource
from reviews import campaigns, decisions
from reviews.choices import CampaignState, Change, ItemState
from reviews.config import ConfigError
from reviews.models import AuditEvent, Decision, ReviewerProgress
from tests.reviews.conftest import records


def by_holder(campaign):
    return {(i.holder_label, i.resource_path, i.via): i for i in campaign.items.select_related("reviewer")}


def test_launch_freezes_one_item_per_recorded_grant_and_routes_each(launched):
    campaign = launched()
    assert campaign.state == CampaignState.OPEN
    items = by_holder(campaign)
    assert len(items) == 9
    reviewer = {key: (i.reviewer.email if i.reviewer else None) for key, i in items.items()}
    # People's access goes to their manager.
    assert reviewer[("alice", "acme", "org_owner")] == "mia@acme.test"
    assert reviewer[("bob", "acme/r2", "direct")] == "mia@acme.test"
    # A team's grant has no person: the repository's owner reviews it.
    assert reviewer[("acme/team/eng", "acme/r1", "team:acme/eng")] == "ola@acme.test"
    # An orphan account (no person, so no manager) goes to the resource owner too.
    assert reviewer[("dave", "acme/r1", "direct")] == "ola@acme.test"
    # Nobody owns the organization: the fallback reviewer gets its base permission.
    assert reviewer[("acme", "acme", "org_base_permission")] == "sam@acme.test"
    assert set(ReviewerProgress.objects.filter(campaign=campaign).values_list("reviewer__email", flat=True)) == {
        "mia@acme.test",
        "ola@acme.test",
        "sam@acme.test",
    }


def test_an_item_shows_what_a_membership_confers(launched):
    items = by_holder(launched())
    assert items[("bob", "acme/team/eng", "membership")].effect == (
        "membership in team acme/team/eng -> write on 1 resource"
    )
    assert items[("alice", "acme", "org_owner")].effect == "admin on every repository under acme"


def test_nobody_is_routed_their_own_access(launched, people):
    Resource.objects.filter(path="acme/r2").update(owner=people["bob"])
    campaign = launched(reviewers=["resource_owner", {"fallback": "sam@acme.test"}])
    item = by_holder(campaign)[("bob", "acme/r2", "direct")]
    assert item.subject.email == "bob@acme.test"
    assert item.reviewer.email == "sam@acme.test"
    assert item.routed_by == "fallback"


def test_a_leaver_manager_is_skipped_for_the_next_strategy(launched, people):
    Identity.objects.filter(pk=people["mia"].pk).update(status="leaver")
    item = by_holder(launched())[("bob", "acme/r2", "direct")]
    assert (item.reviewer.email, item.routed_by) == ("ola@acme.test", "resource_owner")


def test_named_reviewers_come_before_the_fallback(launched, people):
    campaign = launched(reviewers=[{"users": ["ola@acme.test"]}, {"fallback": "sam@acme.test"}])
    assert set(campaign.items.values_list("reviewer__email", flat=True)) == {"ola@acme.test"}


def test_scope_filters_by_resource_glob_level_and_account_type(launched):
    campaign = launched(scope={"connectors": ["acme-gh"], "resources": ["acme/r*"], "min_level": "write"})
    assert {(i.holder_label, i.resource_path) for i in campaign.items.all()} == {
        ("acme/team/eng", "acme/r1"),
        ("bob", "acme/r2"),
    }
    humans = launched(name="humans", scope={"account_types": ["human"]})
    assert "acme/team/eng" not in set(humans.items.values_list("holder_label", flat=True))
    assert humans.items.count() == 7


def test_later_syncs_do_not_change_an_open_campaign_and_vanished_grants_are_gone(launched, inventory, users):
    campaign = launched()
    extra = GrantRecord("repo:2", GrantKind.PERMISSION, "push", Level.WRITE, "direct", account_external_id="user:carol")
    inventory.sync(drop=("user:bob",), extra=(extra,))
    assert campaign.items.count() == 9  # the new grant is not added to the open review
    bob_items = campaign.items.filter(holder_label="bob")
    assert set(bob_items.values_list("state", flat=True)) == {ItemState.GONE}
    with pytest.raises(decisions.Conflict, match="already gone"):
        decisions.decide(bob_items.get(via="direct"), actor=users["mia"], decision="revoke", justification="left")
    assert campaigns.status(campaign)["items"]["gone"] == 3


def test_the_second_review_shows_what_changed_and_carries_unchanged_low_risk_approvals(
    launched, inventory, users, people
):
    first = launched(carry_forward=True)
    for name in ("mia", "ola", "sam"):
        mine = decisions.reviewer_items(users[name], first).filter(state=ItemState.PENDING)
        decisions.bulk_decide(mine, actor=users[name], decision="approve", justification="still needed")
    campaigns.close(first)

    recs = records(
        extra=(
            GrantRecord(
                "repo:2", GrantKind.PERMISSION, "push", Level.WRITE, "direct", account_external_id="user:carol"
            ),
        )
    )
    team_grant = next(r for r in recs if isinstance(r, GrantRecord) and r.via == "team:acme/eng")
    recs[recs.index(team_grant)] = dataclasses.replace(team_grant, permission="admin", level=Level.ADMIN)
    inventory.source.records = recs
    inventory.sync()

    second = launched(carry_forward=True)
    items = by_holder(second)
    new = items[("carol", "acme/r2", "direct")]
    assert (new.change, new.state) == (Change.NEW, ItemState.PENDING)
    raised = items[("acme/team/eng", "acme/r1", "team:acme/eng")]
    assert (raised.change, raised.previous_level, raised.state) == (Change.LEVEL_UP, Level.WRITE, ItemState.PENDING)
    unchanged = items[("carol", "acme/team/eng-ci", "membership")]
    assert unchanged.change == Change.UNCHANGED
    assert (unchanged.previous_verdict, unchanged.previous_reviewer) == ("approve", "mia@acme.test")
    carried = second.items.filter(carried_forward=True)
    assert carried.exists()
    assert all(i.risk_score <= 20 and i.change == Change.UNCHANGED for i in carried)
    assert Decision.objects.filter(item__in=carried, kind="carry_forward").count() == carried.count()
    # Privileged access is never carried forward, whatever the setting.
    assert items[("alice", "acme", "org_owner")].state == ItemState.PENDING


def test_only_changes_since_the_last_review_when_the_template_says_so(launched, inventory, users):
    first = launched(name="delta", scope={"connectors": ["acme-gh"], "changed_since_last_review": True})
    assert first.items.count() == 9  # no earlier review: everything is new
    for name in ("mia", "ola", "sam"):
        mine = decisions.reviewer_items(users[name], first).filter(state=ItemState.PENDING)
        decisions.bulk_decide(mine, actor=users[name], decision="approve", justification="ok")
    campaigns.close(first)
    inventory.sync(
        extra=(
            GrantRecord(
                "repo:2", GrantKind.PERMISSION, "push", Level.WRITE, "direct", account_external_id="user:carol"
            ),
        )
    )
    second = launched(name="delta", scope={"connectors": ["acme-gh"], "changed_since_last_review": True})
    assert [(i.holder_label, i.change) for i in second.items.all()] == [("carol", Change.NEW)]


def test_a_stale_inventory_is_synced_before_launch_and_a_failed_sync_stops_the_launch(make_template, inventory):
    template = make_template(max_sync_age="1h")
    Connector.objects.filter(pk=inventory.connector.pk).update(base_url="http://127.0.0.1:9")
    inventory.connector.runs.update(applied_at=timezone.now() - timedelta(hours=2))
    with pytest.raises(campaigns.LaunchError, match="acme-gh: the sync before launch failed"):
        campaigns.launch(template)
    failed = template.campaigns.get()
    assert failed.state == CampaignState.FAILED
    assert "acme-gh" in campaigns.status(failed)["error"]
    assert failed.items.count() == 0


def test_launch_is_audited_with_its_counts(launched):
    campaign = launched()
    event = AuditEvent.objects.get(action="campaign.launched", campaign=campaign)
    assert event.data["items"] == 9
    assert event.data["reviewers"] == 3


def test_preview_counts_items_and_reviewers_without_writing(make_template):
    template = make_template()
    result = campaigns.preview(template)
    assert result["items"] == 9
    assert result["reviewers"] == {"mia@acme.test": 6, "ola@acme.test": 2, "sam@acme.test": 1}
    assert not template.campaigns.exists()


def test_launch_costs_the_same_number_of_queries_for_more_grants(
    make_template, inventory, django_assert_max_num_queries
):
    more = [
        GrantRecord(
            f"repo:{1 + i % 2}",
            GrantKind.PERMISSION,
            "pull",
            Level.READ,
            f"direct:{i}",
            account_external_id="user:carol",
        )
        for i in range(300)
    ]
    inventory.sync(extra=tuple(more))
    template = make_template()
    with django_assert_max_num_queries(40):
        campaign = campaigns.launch(template)
    assert campaign.items.count() == 309


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"name": "x", "reviewers": ["boss"]}, "a strategy is manager, resource_owner"),
        ({"name": "x", "reviewers": ["manager"], "duration": "soon"}, "not a duration"),
        ({"name": "x", "reviewers": ["manager"], "schedule": "every day"}, "neither a cron expression"),
        ({"name": "x", "reviewers": ["manager"], "scope": {"min_level": "god"}}, "unknown level"),
        ({"name": "x", "reviewers": ["manager"], "on_timeout": "shrug"}, "on_timeout is keep, revoke or extend"),
        ({"name": "x", "reviewers": ["manager"], "scope": {"connectors": ["nope"]}}, "unknown connector"),
        ({"name": "x", "reviewers": ["manager"], "colour": "red"}, "unknown key"),
    ],
)
def test_a_bad_template_is_refused_with_the_key_that_is_wrong(inventory, doc, message):
    with pytest.raises(ConfigError, match=message):
        campaigns.apply_templates([doc])


def test_a_file_with_one_bad_template_writes_none(inventory):
    good = {"name": "good", "reviewers": ["manager"]}
    with pytest.raises(ConfigError):
        campaigns.apply_templates([good, {"name": "bad", "reviewers": []}])
    from reviews.models import CampaignTemplate

    assert not CampaignTemplate.objects.exists()
