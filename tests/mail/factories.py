"""Campaign rows for the mail tests, written directly (the mail code only reads them).

Until reviews.campaigns.launch() is the way in, these build what a launch leaves behind: a campaign with its
config snapshot, review items routed to reviewers, and one ReviewerProgress row per reviewer.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from connectors.choices import Level
from connectors.models import Connector, Identity
from reviews.choices import CampaignState, Change, ItemState
from reviews.models import Campaign, ReviewerProgress, ReviewItem

_sequence = itertools.count(1)


def person(email: str, name: str = "", manager: Identity | None = None) -> Identity:
    return Identity.objects.update_or_create(email=email.lower(), defaults={"name": name, "manager": manager})[0]


def connector(name: str = "mail-github") -> Connector:
    return Connector.objects.get_or_create(
        name=name, defaults={"kind": "github", "base_url": "https://api.github.com", "options": {"org": "acme"}}
    )[0]


def campaign(
    name: str = "Quarterly GitHub review",
    *,
    launched_at: datetime | None = None,
    duration: timedelta = timedelta(days=14),
    reminders: list[int] | None = None,
    fallback: str = "",
    state: str = CampaignState.OPEN,
    escalate_reassign: bool = False,
) -> Campaign:
    launched_at = launched_at or timezone.now()
    return Campaign.objects.create(
        name=name,
        config={
            "reminders": [7, 3, 1] if reminders is None else reminders,
            "reviewers": {"strategies": ["manager"], "fallback": fallback},
            "escalate_reassign": escalate_reassign,
        },
        state=state,
        launched_at=launched_at,
        due_at=launched_at + duration,
    )


def items(
    campaign: Campaign,
    reviewer: Identity,
    count: int,
    *,
    subject: Identity | None = None,
    risk_score: int = 0,
    change: str = Change.UNCHANGED,
    holder: str = "",
    resource: str = "",
    state: str = ItemState.PENDING,
) -> list[ReviewItem]:
    conn = connector()
    rows = []
    for _ in range(count):
        n = next(_sequence)
        rows.append(
            ReviewItem.objects.create(
                campaign=campaign,
                grant_key=f"grant-{n}",
                connector=conn,
                holder_label=holder or f"user{n}",
                holder_type="human",
                resource_path=resource or f"acme/repo-{n}",
                resource_type="repository",
                kind="permission",
                permission="write",
                level=Level.WRITE,
                via="direct",
                subject=subject,
                risk_score=risk_score,
                change=change,
                reviewer=reviewer,
                state=state,
            )
        )
    ReviewerProgress.objects.get_or_create(campaign=campaign, reviewer=reviewer)
    return rows


def decide_all(campaign: Campaign, reviewer: Identity) -> int:
    return ReviewItem.objects.filter(campaign=campaign, reviewer=reviewer, state=ItemState.PENDING).update(
        state=ItemState.DECIDED, verdict="approve", decided_at=timezone.now()
    )


def escalate(campaign: Campaign, reviewer: Identity, *, at: datetime, to: Identity | None) -> ReviewerProgress:
    """What campaigns.tick records when a reviewer is overdue."""
    progress = ReviewerProgress.objects.get(campaign=campaign, reviewer=reviewer)
    progress.escalated_at = at
    progress.escalated_to = to
    progress.save(update_fields=["escalated_at", "escalated_to"])
    return progress


def close(campaign: Campaign, *, at: datetime) -> Campaign:
    """What campaigns.close leaves: closed, undecided items timed out and kept."""
    ReviewItem.objects.filter(campaign=campaign, state=ItemState.PENDING).update(
        state=ItemState.DECIDED, verdict="approve", timed_out=True, decided_at=at
    )
    campaign.state = CampaignState.CLOSED
    campaign.closed_at = at
    campaign.save(update_fields=["state", "closed_at"])
    return campaign
