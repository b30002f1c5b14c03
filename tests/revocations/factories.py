"""Campaigns and decided review items built directly with the ORM (until campaign launch is the way in)."""

from datetime import timedelta

from django.utils import timezone

from connectors.models import Grant, Identity
from reviews.choices import CampaignState, ItemState, Verdict
from reviews.models import Campaign, ReviewItem


def campaign(*, approve_revocations: bool = False, name: str = "quarterly pipeline review") -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(
        name=name,
        config={"approve_revocations": approve_revocations, "on_timeout": "keep"},
        state=CampaignState.OPEN,
        launched_at=now - timedelta(days=7),
        due_at=now + timedelta(days=7),
    )


def decided_item(
    campaign: Campaign,
    grant: Grant,
    *,
    verdict: str = Verdict.REVOKE,
    downgrade_to: int | None = None,
    subject: Identity | None = None,
) -> ReviewItem:
    """An item frozen from ``grant`` as launch freezes it, decided with ``verdict``."""
    holder = grant.account or grant.group
    return ReviewItem.objects.create(
        campaign=campaign,
        grant=grant,
        grant_key=grant.key,
        connector=grant.connector,
        account=grant.account,
        group=grant.group,
        resource=grant.resource,
        holder_label=getattr(holder, "login", None) or holder.path,
        holder_type=getattr(holder, "type", "group"),
        resource_path=grant.resource.path,
        resource_type=grant.resource.type,
        kind=grant.entitlement.kind,
        permission=grant.entitlement.name,
        level=grant.entitlement.level,
        via=grant.via,
        subject=subject,
        state=ItemState.DECIDED,
        verdict=verdict,
        downgrade_to=downgrade_to,
        justification="no longer on the team",
        decided_at=timezone.now(),
    )
