"""One outbox row through Django's SMTP backend to a real SMTP server on loopback, in this process."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from reviews import emails, mailer
from reviews.models import AuditEvent, OutboundMail

from . import factories
from .smtp import free_port

pytestmark = pytest.mark.django_db

State = OutboundMail.State


@pytest.fixture
def row(notification_settings):
    bob = factories.person("bob@example.com", "Bob Reviewer")
    campaign = factories.campaign()
    factories.items(campaign, bob, 2)
    (launch,) = emails.queue_launch(campaign)
    return launch


def _refresh(row: OutboundMail) -> OutboundMail:
    row.refresh_from_db()
    return row


def test_a_mail_arrives_with_both_parts_and_its_deterministic_message_id(row, smtp, smtp_settings):
    outcome = mailer.deliver(row.pk)

    assert outcome.retry_in is None and outcome.message.endswith("sent launch to bob@example.com")
    (message,) = smtp.messages
    assert message["Message-ID"] == row.message_id
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == row.subject
    assert message["X-PipeAccess-Kind"] == "launch"
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert parts["text/plain"].replace("\r\n", "\n") == row.text
    assert parts["text/html"].replace("\r\n", "\n").strip() == row.html.strip()
    assert _refresh(row).state == State.SENT and row.sent_at is not None and row.attempts == 1
    assert AuditEvent.objects.filter(action="mail.sent", object_id=str(row.pk)).count() == 1


def test_a_sent_mail_is_not_sent_again(row, smtp, smtp_settings):
    mailer.deliver(row.pk)
    outcome = mailer.deliver(row.pk)

    assert outcome.message == f"mail {row.pk}: already sent"
    assert len(smtp.messages) == 1


def test_451_then_250_is_retried_with_backoff_and_delivered_once(row, smtp, smtp_settings):
    smtp.answer("451 4.3.0 Try again later")

    first = mailer.deliver(row.pk)

    assert first.retry_in is not None and 0.05 < first.retry_in < 0.2
    assert _refresh(row).state == State.QUEUED and row.attempts == 1
    assert row.last_error == "451 4.3.0 Try again later"
    assert smtp.messages == []

    second = mailer.deliver(row.pk)

    assert second.retry_in is None
    assert len(smtp.messages) == 1
    assert _refresh(row).state == State.SENT and row.attempts == 2


def test_550_fails_permanently_and_is_shown_to_the_security_team(row, smtp, smtp_settings):
    smtp.answer("550 5.1.1 No such user")

    outcome = mailer.deliver(row.pk)

    assert outcome.retry_in is None and "failed permanently: 550 5.1.1 No such user" in outcome.message
    assert smtp.messages == []
    assert _refresh(row).state == State.FAILED and row.last_error == "550 5.1.1 No such user"
    assert list(mailer.failed_mails()) == [row]
    event = AuditEvent.objects.get(action="mail.failed")
    assert event.data["recipient"] == "bob@example.com" and event.data["error"] == "550 5.1.1 No such user"
    # Nothing retries a permanent failure.
    assert mailer.deliver(row.pk).message == f"mail {row.pk}: already failed"


def test_a_refused_connection_is_transient(row, smtp_settings):
    smtp_settings.EMAIL_PORT = free_port()  # nothing listens there

    outcome = mailer.deliver(row.pk)

    assert outcome.retry_in is not None
    assert _refresh(row).state == State.QUEUED and "ConnectionRefusedError" in row.last_error


def test_retries_end_after_the_configured_attempts(row, smtp, smtp_settings):
    smtp_settings.EMAIL_MAX_ATTEMPTS = 2
    smtp.answer("421 4.7.0 Busy", "452 4.2.2 Mailbox full")

    assert mailer.deliver(row.pk).retry_in is not None
    outcome = mailer.deliver(row.pk)

    assert outcome.retry_in is None
    assert _refresh(row).state == State.FAILED
    assert row.last_error == "gave up after 2 attempts: 452 4.2.2 Mailbox full"
    assert smtp.messages == []


def test_while_another_worker_holds_the_row_nothing_is_sent(row, smtp, smtp_settings):
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def other_worker():
        from django.db import connection

        with mailer.sender_lock(row.pk) as got:
            assert got
            held.set()
            release.wait(10)
        connection.close()
        done.set()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        outcome = mailer.deliver(row.pk)
    finally:
        release.set()
        thread.join(10)

    # The row is still queued: the other holder may be a task about to claim it, so this one looks again later.
    assert outcome.message == f"mail {row.pk}: locked by another worker, trying again"
    assert outcome.retry_in == mailer.LOCK_BUSY_RETRY
    assert smtp.messages == [] and _refresh(row).state == State.QUEUED and row.attempts == 0


def test_a_row_left_sending_by_a_dead_worker_is_not_resent_but_reported(row, smtp, smtp_settings, security_user):
    # A worker claimed the row and died: its lock is gone, the state stayed.
    OutboundMail.objects.filter(pk=row.pk).update(state=State.SENDING, attempts=1)

    outcome = mailer.deliver(row.pk)

    assert smtp.messages == []
    assert _refresh(row).state == State.FAILED
    assert row.last_error.startswith(
        f"{mailer.UNKNOWN_OUTCOME}: the worker stopped while sending (Message-ID {row.message_id})"
    )
    assert mailer.UNKNOWN_OUTCOME in outcome.message
    assert list(mailer.failed_mails()) == [row]

    # The security team checked the mail server's log and sends it again.
    assert mailer.requeue(row, actor=security_user) is True
    assert mailer.requeue(row, actor=security_user) is False
    mailer.deliver(row.pk)

    assert len(smtp.messages) == 1 and smtp.messages[0]["Message-ID"] == row.message_id
    assert _refresh(row).state == State.SENT
    assert AuditEvent.objects.get(action="mail.requeued").actor == security_user


def test_the_tick_reports_rows_whose_worker_died(row, smtp, smtp_settings):
    OutboundMail.objects.filter(pk=row.pk).update(state=State.SENDING, attempts=1)

    assert mailer.recover() == {"requeued": 0, "interrupted": 1}
    assert _refresh(row).state == State.FAILED and smtp.messages == []


def test_without_an_smtp_host_mails_are_written_to_files_for_the_demo(row, settings, tmp_path):
    # What settings choose when EMAIL_HOST is empty (the demo): Django's file backend under var/mail/sent/.
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)

    mailer.deliver(row.pk)

    (written,) = tmp_path.iterdir()
    content = written.read_text()
    assert f"Message-ID: {row.message_id}" in content and "To: bob@example.com" in content
    assert _refresh(row).state == State.SENT


def test_a_mail_whose_task_was_lost_is_enqueued_again_by_the_tick(row, monkeypatch):
    from reviews.tasks import mail as mail_tasks

    # The broker was down when the row committed: no task exists, the row waits with no attempt.
    OutboundMail.objects.filter(pk=row.pk).update(created=timezone.now() - timedelta(minutes=10))
    enqueued = []
    monkeypatch.setattr(mail_tasks.send_mail, "delay", enqueued.append)

    assert mailer.recover() == {"requeued": 1, "interrupted": 0}
    assert enqueued == [row.pk]
    # A fresh queued row (its task is on its way) is left alone.
    OutboundMail.objects.filter(pk=row.pk).update(created=timezone.now())
    assert mailer.recover() == {"requeued": 0, "interrupted": 0}


def test_a_retry_whose_message_was_lost_is_enqueued_again_once_it_is_overdue(row, smtp, smtp_settings, monkeypatch):
    """A transient SMTP failure waits for its retry as a delayed broker message; a broker that kept nothing
    (restarted without persistence) loses it. The tick resends the row once its retry is overdue, not before."""
    from reviews.tasks import mail as mail_tasks

    smtp.answer("451 4.3.0 Try again later")
    outcome = mailer.deliver(row.pk)
    assert outcome.retry_in is not None
    queued = _refresh(row)
    assert queued.state == State.QUEUED and queued.attempts == 1 and queued.retry_at is not None
    enqueued = []
    monkeypatch.setattr(mail_tasks.send_mail, "delay", enqueued.append)

    assert mailer.recover() == {"requeued": 0, "interrupted": 0}  # its retry is still on its way
    OutboundMail.objects.filter(pk=row.pk).update(retry_at=timezone.now() - timedelta(minutes=10))
    assert mailer.recover() == {"requeued": 1, "interrupted": 0}
    assert enqueued == [row.pk]
    mailer.deliver(row.pk)
    assert _refresh(row).state == State.SENT and len(smtp.messages) == 1
