"""The mails of a campaign driven by the real campaign code (launch, escalate, close), sent in this process.

The inventory, people and template come from the campaign tests (tests/reviews/conftest.py): mia manages
alice, bob and carol; ola owns the repositories; sam is the fallback reviewer. Celery runs eagerly and Django's
locmem backend collects what was sent (the SMTP and worker side is covered by test_workers.py).
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from reviews import campaigns
from reviews.models import NotificationSettings, ReviewerProgress, ReviewItem
from reviews.tasks.mail import tick
from tests.reviews.conftest import inventory, make_template, people  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _sent() -> Counter:
    return Counter((m.extra_headers["X-PipeAccess-Kind"], m.to[0]) for m in mail.outbox)


def test_launch_escalation_and_close_through_the_campaign_code(
    make_template,  # noqa: F811 - fixture
    eager_celery,
    django_capture_on_commit_callbacks,
):
    config = NotificationSettings.load()
    config.digest_enabled = False
    config.security_team_emails = ["sec@acme.test"]
    config.save()
    start = timezone.now()
    template = make_template(escalate_after="10d")

    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaigns.launch(template, now=start)
    reviewers = set(
        ReviewItem.objects.filter(campaign=campaign, state="pending").values_list("reviewer__email", flat=True)
    )
    assert len(reviewers) >= 2
    assert _sent() == Counter({("launch", email): 1 for email in reviewers})

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tick(campaign.due_at - timedelta(days=7))
        tick(campaign.due_at - timedelta(days=7, minutes=-5))
    assert _sent() == Counter({("reminder", email): 1 for email in reviewers})

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        escalated = campaigns.tick(now=start + timedelta(days=10, minutes=1))["escalated"]
        tick(start + timedelta(days=10, minutes=2))
    sent = _sent()
    # One mail per recipient, naming each escalated reviewer once.
    assert escalated >= 2 and all(n == 1 for n in sent.values()), sent
    overdue = set(
        ReviewerProgress.objects.filter(campaign=campaign, escalated_at__isnull=False).values_list(
            "reviewer__email", flat=True
        )
    )
    named = [email for m in mail.outbox for email in overdue if f"<{email}>:" in m.body]
    assert sorted(named) == sorted(overdue)

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.close(campaign, now=start + timedelta(days=11))
        tick(start + timedelta(days=11, minutes=1))
    sent = _sent()
    assert sent[("close_summary", "sec@acme.test")] == 1
    summary = next(m for m in mail.outbox if m.extra_headers["X-PipeAccess-Kind"] == "close_summary")
    assert f'The access review "{campaign.name}" is closed.' in summary.body
