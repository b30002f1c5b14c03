"""PostgreSQL launches in one INSERT…SELECT; it must freeze exactly what the Python path (build_items) freezes.

build_items still serves preview and other databases, so the two are compared field by field on the same
inventory: routing (manager, owner, fallback, non-human accounts, unassigned), effects of memberships and
cascades, changes since the last review, carried-forward approvals and the changed-only scope.
"""

import dataclasses

from connectors.base import GrantRecord
from connectors.choices import GrantKind, Level
from reviews import campaigns, decisions
from reviews.choices import ItemState
from reviews.models import ReviewItem
from tests.reviews.conftest import records

FIELDS = [f.attname for f in ReviewItem._meta.concrete_fields if f.attname not in ("id", "campaign_id")]
DEFAULTS = {f.attname: f.get_default() for f in ReviewItem._meta.concrete_fields}


def frozen(campaign) -> list[tuple]:
    return sorted(campaign.items.values_list(*FIELDS), key=repr)


def built(campaign) -> list[tuple]:
    """What the Python path would have frozen for this campaign's config (the same previous review)."""
    items = campaigns.build_items(campaign, campaign.config, template_id=campaign.template_id)
    return sorted((tuple({**DEFAULTS, **item}[f] for f in FIELDS) for item in items), key=repr)


def approve_all_and_close(campaign, users):
    for name in ("mia", "ola", "sam"):
        mine = decisions.reviewer_items(users[name], campaign).filter(state=ItemState.PENDING)
        decisions.bulk_decide(mine, actor=users[name], decision="approve", justification="still needed")
    campaigns.close(campaign)


def test_the_first_launch_freezes_what_the_python_path_builds(launched):
    campaign = launched()
    assert campaign.items.count() == 9
    assert frozen(campaign) == built(campaign)


def test_routing_without_a_fallback_leaves_the_same_items_unassigned(launched):
    campaign = launched(reviewers=["manager"])
    assert campaign.items.filter(reviewer__isnull=True).exists()
    assert frozen(campaign) == built(campaign)


def test_a_second_launch_compares_and_carries_forward_like_the_python_path(launched, inventory, users):
    approve_all_and_close(launched(carry_forward=True), users)
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
    assert second.items.filter(carried_forward=True).exists()
    assert second.items.exclude(change="unchanged").exists()
    assert frozen(second) == built(second)


def test_the_changed_only_scope_keeps_the_same_items(launched, inventory, users):
    scope = {"connectors": ["acme-gh"], "changed_since_last_review": True}
    approve_all_and_close(launched(name="delta", scope=scope), users)
    inventory.sync(
        extra=(
            GrantRecord(
                "repo:2", GrantKind.PERMISSION, "push", Level.WRITE, "direct", account_external_id="user:carol"
            ),
        )
    )
    second = launched(name="delta", scope=scope)
    assert second.items.count() == 1
    assert frozen(second) == built(second)
