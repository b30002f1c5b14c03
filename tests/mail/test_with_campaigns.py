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


def test_the_weekly_summary_reports_revocations_reappeared_access_and_new_risky_grants(
    make_template,  # noqa: F811 - fixture
    inventory,  # noqa: F811 - fixture
):
    from connectors.models import Grant
    from reviews import emails
    from reviews.choices import RevocationState
    from reviews.models import Revocation

    now = timezone.now()
    campaign = campaigns.launch(make_template(), now=now - timedelta(days=1))
    items = list(ReviewItem.objects.filter(campaign=campaign)[:4])
    states = [RevocationState.DONE, RevocationState.VERIFIED, RevocationState.FAILED, RevocationState.REAPPEARED]
    for n, (item, state) in enumerate(zip(items, states, strict=True)):
        Revocation.objects.create(
            key=f"weekly-{n}",
            item=item,
            grant_key=item.grant_key,
            connector=item.connector,
            action=f"remove {item.holder_label} from {item.resource_path}",
            state=state,
            last_error="403 Must have admin rights" if state == RevocationState.FAILED else "",
            created=now - timedelta(hours=5),
            executed_at=now - timedelta(hours=4),
            verified_at=now - timedelta(hours=1) if state == RevocationState.VERIFIED else None,
        )
    risky = Grant.objects.filter(removed_run__isnull=True, risk__score__gte=emails.RISKY_SCORE)
    assert risky.exists(), "the inventory has risky grants (org owner, outside collaborator)"

    config = NotificationSettings.load()
    config.security_team_emails = ["sec@acme.test"]
    config.save()

    data = emails.summary(now=now)
    (row,) = emails.queue_weekly_summary(now=now)

    assert (data["executed"], data["verified"], data["failed_count"], data["reappeared_count"]) == (4, 1, 1, 1)
    assert data["new_risky_count"] == risky.count()
    assert data["completion"][0]["name"] == campaign.name
    failed_item = items[2]
    assert (
        f"remove {failed_item.holder_label} from {failed_item.resource_path} (acme-gh): 403 Must have admin rights"
        in (row.text)
    )
    assert "New risky grants since" in row.text and f": {risky.count()}\n" in row.text
    assert "- executed: 4\n- verified by a later sync: 1\n- failed: 1" in row.text
    assert "Access that reappeared: 1" in row.text
