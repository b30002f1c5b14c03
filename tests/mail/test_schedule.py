"""What mail_tick queues when, and that queueing twice queues once (rows only; sending is in test_delivery)."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from pipeaccess.roles import SECURITY
from reviews import emails
from reviews.models import NotificationSettings, OutboundMail
from reviews.tasks.mail import reminder_day, tick

from . import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def start():
    return datetime.fromisoformat("2026-03-04T10:00:00+00:00")


def _rows(kind: str) -> list[tuple[str, str]]:
    return sorted(OutboundMail.objects.filter(kind=kind).values_list("recipient", "day"))


def test_queueing_a_launch_twice_queues_one_mail_per_reviewer_and_one_task(
    notification_settings, django_capture_on_commit_callbacks
):
    bob, eve = factories.person("bob@example.com", "Bob"), factories.person("eve@example.com", "Eve")
    campaign = factories.campaign()
    factories.items(campaign, bob, 2)
    factories.items(campaign, eve, 1)

    with django_capture_on_commit_callbacks() as callbacks:
        first = emails.queue_launch(campaign)
        second = emails.queue_launch(campaign)

    assert [r.recipient for r in first] == ["bob@example.com", "eve@example.com"]
    assert [r.pk for r in second] == [r.pk for r in first]
    assert [r.fresh for r in second] == [False, False]
    assert len(callbacks) == 2
    day = timezone.localdate(campaign.launched_at).isoformat()
    assert first[0].key == f"launch:bob@example.com:{campaign.pk}:{day}"


def test_a_reviewer_with_nothing_pending_gets_no_launch_mail(notification_settings):
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign()
    factories.items(campaign, bob, 2, state="decided")

    assert emails.queue_launch(campaign) == []


def test_reminders_fire_once_per_offset_and_only_for_pending_reviewers(notification_settings, start):
    bob, eve = factories.person("bob@example.com", "Bob"), factories.person("eve@example.com", "Eve")
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=10), reminders=[7, 3, 1])
    factories.items(campaign, bob, 2)
    factories.items(campaign, eve, 1)
    due = campaign.due_at

    assert tick(start + timedelta(hours=1))["reminders"] == 0
    assert tick(due - timedelta(days=7))["reminders"] == 2
    # Every later tick on that day (and the next, before the next offset) finds them queued.
    assert tick(due - timedelta(days=7) + timedelta(minutes=1))["reminders"] == 0
    assert tick(due - timedelta(days=6, hours=1))["reminders"] == 0
    factories.decide_all(campaign, eve)
    assert tick(due - timedelta(days=3))["reminders"] == 1
    assert tick(due - timedelta(days=1) + timedelta(hours=2))["reminders"] == 1
    assert tick(due + timedelta(minutes=1))["reminders"] == 0

    day = lambda days: timezone.localdate(due - timedelta(days=days))  # noqa: E731
    assert _rows("reminder") == [
        ("bob@example.com", day(7)),
        ("bob@example.com", day(3)),
        ("bob@example.com", day(1)),
        ("eve@example.com", day(7)),
    ]


def test_a_reminder_missed_for_more_than_a_day_is_not_sent_late(notification_settings, start):
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=10), reminders=[7])
    assert reminder_day(campaign, campaign.due_at - timedelta(days=7)) == (7, campaign.due_at - timedelta(days=7))
    assert reminder_day(campaign, campaign.due_at - timedelta(days=6)) is None
    # An offset that falls before the launch is skipped.
    short = factories.campaign(launched_at=start, duration=timedelta(days=2), reminders=[7, 1])
    assert reminder_day(short, start + timedelta(hours=1)) is None
    assert reminder_day(short, short.due_at - timedelta(days=1)) == (1, short.due_at - timedelta(days=1))


def test_with_the_digest_on_reminders_fold_into_one_daily_mail(notification_settings, start):
    notification_settings.digest_enabled = True
    notification_settings.digest_hour = 8
    notification_settings.save()
    bob = factories.person("bob@example.com", "Bob")
    campaigns = [
        factories.campaign(f"Review {n}", launched_at=start, duration=timedelta(days=10 + n)) for n in range(3)
    ]
    for n, campaign in enumerate(campaigns):
        factories.items(campaign, bob, n + 1, risk_score=90 if n == 0 else 0)
    # Review 0 is due in 7 days: a reminder offset on this day.
    now = campaigns[0].due_at - timedelta(days=7)
    assert now.hour >= 8

    counts = tick(now)
    again = tick(now + timedelta(hours=3))

    assert counts["reminders"] == 0 and counts["digests"] == 1 and again["digests"] == 0
    (row,) = OutboundMail.objects.filter(kind="digest")
    assert row.campaign is None and row.recipient == "bob@example.com"
    assert row.subject == "Access reviews: 6 items waiting in 3 campaigns"
    for n in range(3):
        assert f"- Review {n}: {n + 1} item" in row.text
    assert "(1 risky)" in row.text and "- reminder" in row.text
    assert not OutboundMail.objects.filter(kind="reminder").exists()


def test_the_digest_waits_for_its_hour_and_leaves_out_campaigns_launched_today(notification_settings, start):
    notification_settings.digest_enabled = True
    notification_settings.digest_hour = 12
    notification_settings.save()
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=10))
    factories.items(campaign, bob, 1)

    assert tick(start + timedelta(hours=3))["digests"] == 0  # 13:00, but launched three hours ago
    next_morning = start + timedelta(days=1, hours=-1)  # 09:00
    assert tick(next_morning)["digests"] == 0
    assert tick(next_morning + timedelta(hours=3))["digests"] == 1


def test_escalations_go_to_the_manager_once(notification_settings, start):
    manager = factories.person("manager@example.com", "Mia Manager")
    bob = factories.person("bob@example.com", "Bob", manager=manager)
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=3), reminders=[])
    factories.items(campaign, bob, 4)
    at = campaign.due_at + timedelta(days=1)
    factories.escalate(campaign, bob, at=at, to=manager)

    assert tick(at + timedelta(minutes=1))["escalations"] == 1
    assert tick(at + timedelta(minutes=2))["escalations"] == 0
    assert tick(at + timedelta(days=1))["escalations"] == 0
    (row,) = OutboundMail.objects.filter(kind="escalation")
    assert row.recipient == "manager@example.com"
    assert row.subject == f"Overdue access review: Bob <bob@example.com> has 4 items outstanding in {campaign.name}"


def test_an_escalation_without_a_manager_goes_to_the_fallback_reviewer(notification_settings, start):
    factories.person("fallback@example.com", "Fran Fallback")
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=3), fallback="fallback@example.com")
    factories.items(campaign, bob, 1)
    progress = factories.escalate(campaign, bob, at=campaign.due_at, to=None)

    row = emails.queue_escalation(progress)

    assert row.recipient == "fallback@example.com"


def test_the_weekly_summary_goes_on_its_weekday_from_its_hour(notification_settings, start):
    notification_settings.weekly_summary_weekday = 4  # Friday
    notification_settings.weekly_summary_hour = 9
    notification_settings.save()
    friday = start + timedelta(days=2, hours=-2)  # Friday 08:00
    assert friday.weekday() == 4

    assert tick(friday)["weekly summaries"] == 0
    assert tick(friday + timedelta(hours=1))["weekly summaries"] == 2
    assert tick(friday + timedelta(hours=5))["weekly summaries"] == 0
    assert tick(friday + timedelta(days=1, hours=1))["weekly summaries"] == 0
    assert _rows("weekly_summary") == [
        ("sec1@example.com", friday.date()),
        ("sec2@example.com", friday.date()),
    ]


def test_without_configured_addresses_the_security_team_is_every_active_security_user(make_user):
    make_user("Alice@Example.com", SECURITY)
    make_user("zed@example.com", SECURITY).__class__.objects.filter(email="zed@example.com").update(is_active=False)
    make_user("bob@example.com", "reviewer")
    NotificationSettings.load()

    assert emails.security_team() == ["alice@example.com"]


def test_a_closed_campaign_gets_its_summary_from_the_tick_if_close_did_not_queue_it(notification_settings, start):
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=3), reminders=[])
    factories.items(campaign, bob, 2)
    factories.close(campaign, at=campaign.due_at)

    assert tick(campaign.due_at + timedelta(minutes=1))["close summaries"] == 2
    assert tick(campaign.due_at + timedelta(minutes=2))["close summaries"] == 0
    row = OutboundMail.objects.filter(kind="close_summary").first()
    assert "0% done - 0 decided, 0 already gone, 0 undecided, 2 timed out of 2" in row.text
    assert "Bob <bob@example.com>: 2 items in Quarterly GitHub review" in row.text


def test_an_escalation_that_reassigned_the_items_counts_them_for_the_manager(notification_settings, start):
    from reviews.decisions import reassign
    from reviews.models import ReviewItem

    manager = factories.person("manager@example.com", "Mia Manager")
    bob = factories.person("bob@example.com", "Bob", manager=manager)
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=3), escalate_reassign=True)
    factories.items(campaign, bob, 3)
    progress = factories.escalate(campaign, bob, at=campaign.due_at, to=manager)
    reassign(ReviewItem.objects.filter(campaign=campaign), to=manager, actor=None, reason="escalated: bob overdue")

    row = emails.queue_escalation(progress)

    assert row.subject.startswith("Overdue access review: Bob <bob@example.com> has 3 items outstanding")
    assert "3 of the items have been reassigned to you." in row.text


def test_reviewers_escalated_to_the_same_manager_on_one_day_share_one_mail(notification_settings, start):
    manager = factories.person("manager@example.com", "Mia Manager")
    bob = factories.person("bob@example.com", "Bob", manager=manager)
    eve = factories.person("eve@example.com", "Eve", manager=manager)
    kim = factories.person("kim@example.com", "Kim", manager=manager)
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=3))
    for reviewer, count in ((bob, 2), (eve, 1), (kim, 4)):
        factories.items(campaign, reviewer, count)
    at = campaign.due_at + timedelta(hours=1)
    first = [factories.escalate(campaign, r, at=at, to=manager) for r in (bob, eve)]

    rows = [emails.queue_escalation(p) for p in first]
    # Kim is escalated later the same day, after the mail naming Bob and Eve was queued.
    kim_progress = factories.escalate(campaign, kim, at=at + timedelta(hours=2), to=manager)
    late = emails.queue_escalation(kim_progress)
    again = [emails.queue_escalation(p) for p in first]

    assert rows[0].pk == rows[1].pk and all(r.pk == rows[0].pk for r in again)
    assert emails.queue_escalation(kim_progress).pk == late.pk
    assert rows[0].subject.startswith("Overdue access review: 2 reviewers have 3 items outstanding")
    assert "- Bob <bob@example.com>: 2 items" in rows[0].text and "- Eve <eve@example.com>: 1 item " in rows[0].text
    assert late.pk != rows[0].pk and late.key.endswith(f":{kim.pk}")
    assert "<kim@example.com>: 4 items" in late.text and "bob@" not in late.text
    assert OutboundMail.objects.filter(kind="escalation").count() == 2
