"""Celery tasks of the campaign clock: thin wrappers around reviews.campaigns."""

import logging
from datetime import timedelta

from celery import shared_task

from .. import campaigns
from ..choices import CampaignState
from ..models import Campaign

log = logging.getLogger(__name__)
__all__ = ["announce_campaign", "campaign_tick", "populate_campaign"]


@shared_task
def populate_campaign(campaign_id: int) -> str:
    """Freeze a started campaign's items (syncing stale connectors first)."""
    campaign = Campaign.objects.filter(pk=campaign_id, state=CampaignState.LAUNCHING).select_related("template").first()
    if campaign is None:
        return f"campaign {campaign_id} is gone or already launched"
    max_age = campaign.template.max_sync_age if campaign.template else timedelta(hours=24)
    try:
        campaign = campaigns.populate(campaign, max_sync_age=max_age)
    except campaigns.LaunchError as exc:
        return f"campaign {campaign_id} failed to launch: {exc}"
    return f"campaign {campaign_id} open with {campaign.items.count()} items"


@shared_task
def campaign_tick() -> str:
    """Every minute from beat: launch due templates, close or extend due campaigns, escalate overdue reviewers."""
    result = campaigns.tick()
    for campaign_id in result["launched"]:
        populate_campaign.delay(campaign_id)
    return f"launched {result['launched']}, closed {result['closed']}, escalated {result['escalated']}"


@shared_task
def announce_campaign(campaign_id: int) -> str:
    """Queue the launch mail of every reviewer of a campaign that just opened."""
    campaign = Campaign.objects.filter(pk=campaign_id, state=CampaignState.OPEN).first()
    if campaign is None:
        return f"campaign {campaign_id} is gone or not open"
    campaigns.notify("queue_launch", campaign)
    return f"campaign {campaign_id}: launch mails queued"
