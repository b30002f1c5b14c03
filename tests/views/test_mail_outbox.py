"""The mail outbox page: the security team sees failed mails and sends one again; auditors only read."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.models import AuditEvent, NotificationSettings, OutboundMail

pytestmark = pytest.mark.django_db


def mail(n: int, state: str, subject: str = "Your review") -> OutboundMail:
    return OutboundMail.objects.create(
        key=f"reminder:p{n}@example.com::2026-11-{n:02d}",
        kind="reminder",
        recipient=f"p{n}@example.com",
        day=date(2026, 11, n),
        message_id=f"<m{n}@pipeaccess>",
        subject=subject,
        text="t",
        html="h",
        state=state,
        last_error="550 mailbox unavailable" if state == "failed" else "",
        created=timezone.now(),
    )


def test_failed_mails_are_listed_first_with_the_servers_answer(client, security_user):
    mail(1, "failed", subject="<script>alert(1)</script>")
    mail(2, "sent")
    client.force_login(security_user)
    page = client.get(reverse("ops:mails")).content.decode()
    assert "550 mailbox unavailable" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "p2@example.com" not in page
    assert "Send again" in page


def test_the_security_team_sends_a_failed_mail_again_and_it_is_audited(client, security_user):
    failed = mail(1, "failed")
    client.force_login(security_user)
    response = client.post(reverse("ops:mail_resend", args=[failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.state == "queued"
    assert AuditEvent.objects.filter(action="mail.requeued", object_id=str(failed.pk)).exists()
    sent = mail(2, "sent")
    client.post(reverse("ops:mail_resend", args=[sent.pk]))
    sent.refresh_from_db()
    assert sent.state == "sent"


def test_auditors_read_the_outbox_without_buttons(client, auditor_user):
    failed = mail(1, "failed")
    client.force_login(auditor_user)
    page = client.get(reverse("ops:mails")).content.decode()
    assert "p1@example.com" in page and "Send again" not in page
    assert client.post(reverse("ops:mail_resend", args=[failed.pk])).status_code == 403
    failed.refresh_from_db()
    assert failed.state == "failed"


def test_the_outbox_page_costs_the_same_queries_for_more_mails(client, security_user, django_assert_max_num_queries):
    client.force_login(security_user)
    for n in range(1, 4):
        mail(n, "failed")
    with django_assert_max_num_queries(9) as few:
        client.get(reverse("ops:mails"))
    for n in range(4, 28):
        mail(n, "failed")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("ops:mails"))


def test_the_security_team_edits_the_mail_schedule_and_the_change_is_audited(client, security_user):
    client.force_login(security_user)
    response = client.post(
        reverse("ops:mail_settings_save"),
        {
            "digest_hour": "7",
            "weekly_summary_weekday": "4",
            "weekly_summary_hour": "16",
            "revocation_notices": "on",
            "security_team": "SecOps@Example.com\nlead@example.com",
        },
    )
    assert response.status_code == 302
    config = NotificationSettings.load()
    assert (config.digest_enabled, config.digest_hour, config.weekly_summary_weekday) == (False, 7, 4)
    assert config.security_team_emails == ["secops@example.com", "lead@example.com"]
    event = AuditEvent.objects.get(action="mail.settings_changed")
    assert "digest_enabled" in event.data["changed"]


def test_a_bad_schedule_is_refused_with_the_reason_and_nothing_changes(client, security_user):
    client.force_login(security_user)
    answer = client.post(
        reverse("ops:mail_settings_save"),
        {
            "digest_enabled": "on",
            "digest_hour": "25",
            "weekly_summary_weekday": "0",
            "weekly_summary_hour": "8",
            "security_team": "not-an-address",
        },
    )
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "from 0 to 23" in page and "is not an email address" in page
    assert NotificationSettings.load().digest_hour == 8


def test_auditors_read_the_mail_schedule_without_a_form(client, auditor_user):
    client.force_login(auditor_user)
    page = client.get(reverse("ops:mail_settings")).content.decode()
    assert "Digest hour" in page and '<form method="post" class="stack">' not in page
    assert client.post(reverse("ops:mail_settings"), {"digest_hour": "3"}).status_code == 403
    assert NotificationSettings.load().digest_hour == 8
