"""Both parts of every mail, with hostile names from synced systems: escaped in HTML, plain and bounded in text."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from connectors.models import Connector
from pipeaccess.redact import register_secret
from reviews import emails
from reviews.choices import Change, RevocationState
from reviews.models import OutboundMail, Revocation

from . import factories

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
RTL = "\u202eevil\u202c"
FORMULA = '=HYPERLINK("http://evil.example","click")'
HUGE = "A" * 10_240
HOSTILE = f"{SCRIPT} {RTL} {FORMULA}\nBcc: victim@example.com"


def _assert_safe(row: OutboundMail) -> None:
    # HTML: markup in names is text, never an element.
    assert "<script>" not in row.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in row.html
    # No bidirectional overrides or line breaks from a name anywhere.
    for part in (row.subject, row.text, row.html):
        assert "\u202e" not in part and "\u202c" not in part
    assert "\n" not in row.subject and "\r" not in row.subject
    assert "\nBcc:" not in row.text
    assert len(row.subject) <= emails.SUBJECT_LIMIT


@pytest.fixture
def hostile_campaign(notification_settings):
    manager = factories.person("manager@example.com", f"Manager {SCRIPT}")
    reviewer = factories.person("bob@example.com", HOSTILE, manager=manager)
    campaign = factories.campaign(name=f"Review {SCRIPT} {RTL} {FORMULA}")
    factories.items(campaign, reviewer, 3, holder=SCRIPT, resource=f"acme/{RTL}", risk_score=80, change=Change.NEW)
    return campaign, reviewer, manager


def test_launch_mail_escapes_names_in_html_and_keeps_text_plain(hostile_campaign, settings):
    settings.SITE_URL = "https://pipeaccess.example.com"
    campaign, reviewer, _ = hostile_campaign

    (row,) = emails.queue_launch(campaign)

    _assert_safe(row)
    # The text part is plain text: the name appears as written (minus control characters), not HTML-escaped.
    assert "<script>alert('x')</script>" in row.text
    assert "&lt;" not in row.text
    assert FORMULA in row.text
    assert "3 items to review" in row.text and "3 risky" in row.text and "3 new since the last review" in row.text
    link = f"https://pipeaccess.example.com/reviews/campaigns/{campaign.pk}/"
    assert link in row.text and f'href="{link}"' in row.html
    assert row.subject.startswith("Access review: 3 items to review in Review <script>")


def test_names_as_long_as_the_inventory_stores_are_shortened_in_every_part(notification_settings):
    # The columns bound synced names (200-300 characters); a mail shows at most NAME_LIMIT of each.
    reviewer = factories.person("bob@example.com", "B" * 200)
    campaign = factories.campaign(name="C" * 300)
    factories.items(campaign, reviewer, 1, holder="H" * 300)

    (row,) = emails.queue_launch(campaign)

    assert len(row.subject) <= emails.SUBJECT_LIMIT
    assert "C" * (emails.NAME_LIMIT - 1) + "…" in row.text
    assert "C" * emails.NAME_LIMIT not in row.text and "C" * emails.NAME_LIMIT not in row.html


def test_a_ten_kilobyte_error_text_is_shortened(hostile_campaign):
    campaign, reviewer, _ = hostile_campaign
    (item,) = factories.items(campaign, reviewer, 1)
    rev = Revocation.objects.create(
        key="rev-huge",
        item=item,
        grant_key=item.grant_key,
        connector=item.connector,
        action="remove user from acme/repo",
        state=RevocationState.FAILED,
        last_error=f"{SCRIPT}{HUGE}",
        created=timezone.now(),
    )

    (row, _) = emails.queue_revocation_failed(rev)

    _assert_safe(row)
    assert "A" * 499 not in row.text and "A" * 400 in row.text
    assert len(row.text) < 3_000 and len(row.html) < 6_000


def test_escalation_digest_and_summaries_are_safe_too(hostile_campaign):
    campaign, reviewer, manager = hostile_campaign
    progress = factories.escalate(campaign, reviewer, at=timezone.now(), to=manager)

    escalation = emails.queue_escalation(progress)
    entry = emails.DigestEntry(
        campaign=emails.campaign_context(campaign), pending=3, risky=3, days_left=2, reminder=True
    )
    digest = emails.queue_digest(reviewer, [entry], day=timezone.localdate())
    factories.close(campaign, at=timezone.now())
    summaries = emails.queue_close_summary(campaign)

    for row in [escalation, digest, *summaries]:
        _assert_safe(row)
    assert escalation.recipient == "manager@example.com"
    assert "<bob@example.com>: 3 items still undecided" in escalation.text
    assert "<script>alert('x')</script>" in escalation.text
    assert {row.recipient for row in summaries} == {"sec1@example.com", "sec2@example.com"}
    assert "100% done - 3 decided" not in summaries[0].text  # timed-out items do not count as decided
    assert "3 undecided" not in summaries[0].text and "3 timed out of 3" in summaries[0].text


def test_revocation_mails_mask_secrets_and_escape_names(hostile_campaign, monkeypatch):
    campaign, reviewer, _ = hostile_campaign
    subject = factories.person("dave@example.com", f"Dave {SCRIPT}")
    (item,) = factories.items(campaign, reviewer, 1, subject=subject, holder=SCRIPT, resource=f"acme/{RTL}")
    token = "ghp_" + "s3cr3t" * 6
    register_secret(token)
    rev = Revocation.objects.create(
        key="rev-1",
        item=item,
        grant_key=item.grant_key,
        connector=Connector.objects.get(name="mail-github"),
        action=f"remove {SCRIPT} from acme/{RTL}",
        state=RevocationState.FAILED,
        last_error=f"401 Bad credentials for token {token}",
        created=timezone.now(),
        executed_at=timezone.now(),
    )

    notice = emails.queue_revocation_notice(rev)
    failed = emails.queue_revocation_failed(rev)
    reappeared = emails.queue_access_reappeared(rev)

    for row in [notice, *failed, *reappeared]:
        _assert_safe(row)
        assert token not in row.text and token not in row.html and token not in row.subject
        assert row.key.endswith(f":{rev.pk}")
    assert notice.recipient == "dave@example.com"
    assert "your access was removed" in notice.text
    assert "401 Bad credentials for token ********" in failed[0].text


def test_no_revocation_notice_when_notices_are_off(hostile_campaign, notification_settings):
    campaign, reviewer, _ = hostile_campaign
    subject = factories.person("dave@example.com", "Dave")
    (item,) = factories.items(campaign, reviewer, 1, subject=subject)
    rev = Revocation.objects.create(
        key="rev-2",
        item=item,
        grant_key=item.grant_key,
        connector=item.connector,
        action="remove dave",
        created=timezone.now(),
    )
    notification_settings.revocation_notices = False
    notification_settings.save()

    assert emails.queue_revocation_notice(rev) is None
    assert not OutboundMail.objects.filter(kind="revocation_notice").exists()


def test_the_sent_message_has_both_parts_and_a_message_id_from_its_key(
    hostile_campaign, eager_celery, django_capture_on_commit_callbacks
):
    campaign, _, _ = hostile_campaign

    with django_capture_on_commit_callbacks(execute=True):
        (row,) = emails.queue_launch(campaign)

    (message,) = mail.outbox
    assert message.extra_headers["Message-ID"] == row.message_id == emails.message_id_for(row.key)
    assert message.body == row.text
    assert message.alternatives[0][1] == "text/html" and message.alternatives[0][0] == row.html
    row.refresh_from_db()
    assert row.state == OutboundMail.State.SENT


def test_reminder_subject_counts_down(notification_settings):
    reviewer = factories.person("bob@example.com", "Bob")
    start = timezone.now()
    campaign = factories.campaign(launched_at=start, duration=timedelta(days=10))
    factories.items(campaign, reviewer, 2)

    row = emails.queue_reminder(
        campaign, reviewer, pending=2, day=timezone.localdate(), now=campaign.due_at - timedelta(days=3)
    )

    assert row.subject == "Reminder: 2 items left in Quarterly GitHub review, due in 3 days"
    assert "You still have 2 undecided items" in row.text
