"""Celery tasks: mail. ``send_mail`` sends one outbox row; ``mail_tick`` (beat, every minute) queues what is due.

What is due at a tick (``now``, local time = settings.TIME_ZONE):

- reminders: for each open campaign, the most recent reminder offset that has passed (``due_at - N days``, N from
  ``campaign.config["reminders"]``), if it passed less than a day ago, to each reviewer with undecided items;
  keyed on the day the offset falls on, so each offset sends once. Offsets before the launch are skipped.
  **Not sent while the daily digest is enabled**: the digest lists the same campaigns and marks the ones at a
  reminder offset today, so nobody gets a digest and reminders on the same day.
- digest (NotificationSettings.digest_enabled, from digest_hour on): one mail per person listing every open
  campaign in which they have undecided items, leaving out campaigns launched less than a day ago (the launch
  mail just told them).
- escalations: ReviewerProgress rows escalated in the last two days (campaigns.tick sets them) whose mail is missing.
- weekly security summary on weekly_summary_weekday from weekly_summary_hour on; close summaries of campaigns
  closed in the last two days whose mail is missing.
- recovery of rows whose task was lost or whose worker died (reviews.mailer.recover).

Every mail is keyed (reviews.emails), so a tick that runs twice, or two ticks at once, queue each mail once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from celery import shared_task
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.models import Identity

from .. import emails, mailer
from ..choices import CampaignState, ItemState
from ..models import Campaign, NotificationSettings, OutboundMail, ReviewerProgress, ReviewItem

__all__ = ["mail_tick", "send_mail"]

log = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def send_mail(self, row_id: int) -> str:
    """Send one OutboundMail row (reviews.mailer.deliver); transient SMTP errors come back here with backoff."""
    outcome = mailer.deliver(row_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.message


@shared_task
def mail_tick(now: str | None = None) -> str:
    """Queue every mail due at ``now`` (ISO 8601; default: the current time). Returns counts per kind."""
    moment = parse_datetime(now) if now else timezone.now()
    if moment is None:
        raise ValueError(f"now={now!r} is not an ISO 8601 date and time")
    counts = tick(moment)
    return ", ".join(f"{kind} {n}" for kind, n in counts.items())


def tick(now: datetime) -> dict[str, int]:
    config = NotificationSettings.load()
    counts: dict[str, int] = {}
    steps = [
        ("reminders", lambda: 0 if config.digest_enabled else queue_due_reminders(now)),
        ("digests", lambda: queue_due_digests(now, config) if config.digest_enabled else 0),
        ("escalations", lambda: queue_due_escalations(now)),
        ("close summaries", lambda: queue_due_close_summaries(now)),
        ("weekly summaries", lambda: queue_due_weekly_summary(now, config)),
        ("recovered", lambda: sum(mailer.recover().values())),
    ]
    for name, step in steps:
        try:
            counts[name] = step()
        except Exception:
            # One broken step (a bad template, a missing row) must not stop the others.
            log.exception("mail tick: %s failed", name)
            counts[name] = -1
    return counts


def _fresh(rows) -> int:
    """How many of the rows this call created (rows found under an existing key do not count)."""
    return sum(1 for row in rows if row is not None and row.fresh)


def reminder_day(campaign: Campaign, now: datetime) -> tuple[int, datetime] | None:
    """(offset in days, the moment it fell) of the reminder due at ``now``, or None."""
    offsets = sorted({int(d) for d in (campaign.config or {}).get("reminders") or [] if int(d) > 0})
    if not offsets or now >= campaign.due_at:
        return None
    # The most recent offset that has passed is the smallest one whose moment is not in the future.
    for days in offsets:
        moment = campaign.due_at - timedelta(days=days)
        if moment <= now:
            if moment < campaign.launched_at or now - moment >= timedelta(days=1):
                return None
            return days, moment
    return None


def queue_due_reminders(now: datetime) -> int:
    rows = []
    for campaign in Campaign.objects.filter(state=CampaignState.OPEN, due_at__gt=now):
        due = reminder_day(campaign, now)
        if due is None:
            continue
        _, moment = due
        pending = dict(
            ReviewItem.objects.filter(campaign=campaign, state=ItemState.PENDING, reviewer__isnull=False)
            .values_list("reviewer")
            .annotate(n=Count("id"))
            .order_by()
        )
        signed_off = set(
            ReviewerProgress.objects.filter(campaign=campaign, signed_off_at__isnull=False).values_list(
                "reviewer", flat=True
            )
        )
        day = emails.local_day(moment)
        rows.extend(
            emails.queue_reminder(campaign, reviewer, pending=pending[reviewer.pk], day=day, now=now)
            for reviewer in Identity.objects.filter(pk__in=set(pending) - signed_off)
        )
    return _fresh(rows)


def queue_due_digests(now: datetime, config: NotificationSettings) -> int:
    local = timezone.localtime(now)
    if local.hour < config.digest_hour:
        return 0
    day = local.date()
    rows = (
        ReviewItem.objects.filter(
            campaign__state=CampaignState.OPEN,
            campaign__due_at__gt=now,
            campaign__launched_at__lte=now - timedelta(days=1),
            state=ItemState.PENDING,
            reviewer__isnull=False,
        )
        .values("reviewer", "campaign")
        .annotate(pending=Count("id"), risky=Count("id", filter=Q(risk_score__gte=emails.RISKY_SCORE)))
        .order_by()
    )
    by_person: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_person[row["reviewer"]].append(row)
    if not by_person:
        return 0
    people = Identity.objects.in_bulk(list(by_person))
    # One query for the mails already queued today: most ticks after the first find every digest present.
    done = set(
        OutboundMail.objects.filter(
            kind=emails.Kind.DIGEST, day=day, recipient__in=[p.email for p in people.values()]
        ).values_list("recipient", flat=True)
    )
    campaigns = Campaign.objects.in_bulk({row["campaign"] for rows in by_person.values() for row in rows})
    queued = 0
    for person_id, person_rows in by_person.items():
        person = people[person_id]
        if person.email in done:
            continue
        entries = []
        for row in sorted(person_rows, key=lambda r: (campaigns[r["campaign"]].due_at, r["campaign"])):
            campaign = campaigns[row["campaign"]]
            due = reminder_day(campaign, now)
            entries.append(
                emails.DigestEntry(
                    campaign=emails.campaign_context(campaign),
                    pending=row["pending"],
                    risky=row["risky"],
                    days_left=max(0, (campaign.due_at - now).days),
                    reminder=due is not None and emails.local_day(due[1]) == day,
                )
            )
        queued += _fresh([emails.queue_digest(person, entries, day=day, now=now)])
    return queued


def queue_due_escalations(now: datetime) -> int:
    progress = ReviewerProgress.objects.filter(
        campaign__state=CampaignState.OPEN,
        escalated_at__isnull=False,
        escalated_at__gte=now - timedelta(days=2),
        escalated_at__lte=now,
        signed_off_at__isnull=True,
    ).select_related("campaign", "reviewer", "escalated_to")
    return _fresh(emails.queue_escalation(row, now=now) for row in progress)


def queue_due_close_summaries(now: datetime) -> int:
    closed = Campaign.objects.filter(
        state=CampaignState.CLOSED, closed_at__gte=now - timedelta(days=2), closed_at__lte=now
    ).exclude(pk__in=OutboundMail.objects.filter(kind=emails.Kind.CLOSE_SUMMARY).values("campaign"))
    return sum(_fresh(emails.queue_close_summary(campaign, now=now)) for campaign in closed)


def queue_due_weekly_summary(now: datetime, config: NotificationSettings) -> int:
    local = timezone.localtime(now)
    if local.weekday() != config.weekly_summary_weekday or local.hour < config.weekly_summary_hour:
        return 0
    if OutboundMail.objects.filter(kind=emails.Kind.WEEKLY_SUMMARY, day=local.date()).exists():
        return 0
    return _fresh(emails.queue_weekly_summary(now=now))
