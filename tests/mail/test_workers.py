"""Mail through real Celery workers to a real SMTP server, counting what the server actually received.

Two `celery worker` processes consume a queue of their own (Redis when REDIS_URL is set, else the filesystem
broker) and send to an aiosmtpd server on 127.0.0.1. The schedule runs on a controlled clock: mail_tick takes
``now`` as an argument and is sent through the broker like beat would send it.
"""

import time
from collections import Counter
from datetime import datetime, timedelta

import pytest

from reviews import emails, mailer
from reviews.models import NotificationSettings, OutboundMail
from reviews.tasks.mail import mail_tick
from tests.workers import celery_workers

from . import factories
from .smtp import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

RESULT_TIMEOUT = 60
# A Wednesday, 10:00 UTC; the campaign's deadline is the Saturday of the following week.
T0 = datetime.fromisoformat("2026-03-04T10:00:00+00:00")
State = OutboundMail.State


@pytest.fixture(scope="module")
def smtp_server():
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def workers(django_db_setup, smtp_server, tmp_path_factory):
    env = {
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_RETRY_BACKOFF_SECONDS": "0.5",
        "EMAIL_TIMEOUT": "10",
        "SITE_URL": "https://pipeaccess.example.com",
    }
    with celery_workers(2, tmp_path_factory.mktemp("mail-workers"), env, prefix="test-mail") as group:
        yield group


@pytest.fixture
def smtp(smtp_server):
    smtp_server.reset()
    yield smtp_server
    smtp_server.reset()


@pytest.fixture
def team(db):
    config = NotificationSettings.load()
    config.digest_enabled = False
    config.security_team_emails = ["sec1@example.com", "sec2@example.com"]
    config.save()
    return config


def _tick(workers, now: datetime) -> str:
    result = mail_tick.apply_async(kwargs={"now": now.isoformat()})
    try:
        return result.get(timeout=RESULT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - reported with the workers' logs
        pytest.fail(f"mail_tick did not finish ({exc!r}):\n{workers.logs()}")
    finally:
        result.forget()


def _wait_for_rows(workers, *, states: set[str], timeout: float = 60) -> list[OutboundMail]:
    """Wait until every outbox row is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(OutboundMail.objects.order_by("id"))
        if rows and all(row.state in states for row in rows):
            return rows
        time.sleep(0.1)
    pytest.fail(f"rows still {[(r.kind, r.state) for r in rows]}:\n{workers.logs()}")


def test_a_campaign_schedule_sends_each_mail_once(workers, smtp, team, settings):
    settings.SITE_URL = "https://pipeaccess.example.com"  # as in the workers: the launch mail is rendered here
    manager = factories.person("manager@example.com", "Mia Manager")
    bob = factories.person("bob@example.com", "Bob", manager=manager)
    eve = factories.person("eve@example.com", "Eve", manager=manager)
    campaign = factories.campaign(launched_at=T0, duration=timedelta(days=10), reminders=[7, 3, 1])
    factories.items(campaign, bob, 3, risk_score=80)
    factories.items(campaign, eve, 2)
    due = campaign.due_at

    emails.queue_launch(campaign)  # launch() calls it in its transaction; here there is none, so it goes now
    _tick(workers, T0 + timedelta(hours=1))
    _tick(workers, due - timedelta(days=7))
    _tick(workers, due - timedelta(days=7, minutes=-1))
    factories.decide_all(campaign, eve)
    _tick(workers, due - timedelta(days=3))
    _tick(workers, due - timedelta(days=1))
    _tick(workers, due + timedelta(hours=1))
    # campaigns.tick escalates bob a day late; the next mail tick tells his manager.
    factories.escalate(campaign, bob, at=due + timedelta(days=1), to=manager)
    _tick(workers, due + timedelta(days=1, minutes=1))
    _tick(workers, due + timedelta(days=1, minutes=2))
    factories.close(campaign, at=due + timedelta(days=2))
    emails.queue_close_summary(campaign, now=due + timedelta(days=2))
    # Monday 10:01: the close summary is found queued; the weekly summary (Monday from 08:00) goes out.
    _tick(workers, due + timedelta(days=2, minutes=1))
    _tick(workers, due + timedelta(days=2, minutes=2))

    expected = Counter(
        {
            ("launch", "bob@example.com"): 1,
            ("launch", "eve@example.com"): 1,
            ("reminder", "bob@example.com"): 3,
            ("reminder", "eve@example.com"): 1,
            ("escalation", "manager@example.com"): 1,
            ("close_summary", "sec1@example.com"): 1,
            ("close_summary", "sec2@example.com"): 1,
            ("weekly_summary", "sec1@example.com"): 1,
            ("weekly_summary", "sec2@example.com"): 1,
        }
    )
    smtp.wait_for(sum(expected.values()))
    assert smtp.kinds() == expected, workers.logs()
    rows = _wait_for_rows(workers, states={State.SENT})
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(r.message_id for r in rows)
    launch = next(m for m in smtp.messages if m["X-PipeAccess-Kind"] == "launch" and m["To"] == "bob@example.com")
    text = launch.get_body(("plain",)).get_content()
    assert "3 items to review" in text and "3 risky" in text
    assert f"https://pipeaccess.example.com/reviews/campaigns/{campaign.pk}/" in text, text
    escalation = next(m for m in smtp.messages if m["X-PipeAccess-Kind"] == "escalation")
    assert escalation["Subject"] == (
        f"Overdue access review: Bob <bob@example.com> has 3 items outstanding in {campaign.name}"
    )


def test_a_reviewer_in_three_campaigns_gets_one_digest(workers, smtp, team):
    team.digest_enabled = True
    team.digest_hour = 8
    team.save()
    bob = factories.person("bob@example.com", "Bob")
    for n in range(3):
        campaign = factories.campaign(f"Review {n}", launched_at=T0, duration=timedelta(days=10 + n))
        factories.items(campaign, bob, n + 1)
    # Saturday 09:00, three days after the launch; Review 0 is at its 7-day reminder offset today.
    morning = T0 + timedelta(days=3, hours=-1)

    _tick(workers, morning)
    _tick(workers, morning + timedelta(hours=2))

    (message,) = smtp.wait_for(1)
    assert (message["X-PipeAccess-Kind"], message["To"]) == ("digest", "bob@example.com")
    assert message["Subject"] == "Access reviews: 6 items waiting in 3 campaigns"
    text = message.get_body(("plain",)).get_content()
    assert all(f"- Review {n}: {n + 1} item" in text for n in range(3))


def test_451_then_250_is_delivered_once_after_a_retry(workers, smtp, team):
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign()
    factories.items(campaign, bob, 1)
    smtp.answer("451 4.3.0 Temporary local problem")

    (row,) = emails.queue_launch(campaign)

    (row,) = _wait_for_rows(workers, states={State.SENT, State.FAILED})
    assert smtp.wait_for(1) and len(smtp.messages) == 1
    assert smtp.handler.refused == ["451 4.3.0 Temporary local problem"]
    assert (row.state, row.attempts) == (State.SENT, 2)
    assert smtp.messages[0]["Message-ID"] == row.message_id


def test_550_is_recorded_as_failed_and_listed_for_the_security_team(workers, smtp, team):
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign()
    factories.items(campaign, bob, 1)
    smtp.answer("550 5.1.1 <bob@example.com>: Recipient address rejected")

    emails.queue_launch(campaign)

    (row,) = _wait_for_rows(workers, states={State.SENT, State.FAILED})
    assert row.state == State.FAILED and row.attempts == 1
    assert row.last_error == "550 5.1.1 <bob@example.com>: Recipient address rejected"
    assert list(mailer.failed_mails()) == [row]
    assert smtp.wait_for(0) == []


def test_two_ticks_at_once_queue_and_send_each_mail_once(workers, smtp, team):
    manager = factories.person("manager@example.com", "Mia Manager")
    reviewers = [factories.person(f"r{n}@example.com", f"Reviewer {n}", manager=manager) for n in range(4)]
    campaign = factories.campaign(launched_at=T0, duration=timedelta(days=10), reminders=[3])
    for reviewer in reviewers:
        factories.items(campaign, reviewer, 2)
    moment = campaign.due_at - timedelta(days=3)
    factories.escalate(campaign, reviewers[0], at=moment, to=manager)

    results = [mail_tick.apply_async(kwargs={"now": moment.isoformat()}) for _ in range(2)]
    outcomes = [r.get(timeout=RESULT_TIMEOUT) for r in results]

    expected = Counter({("reminder", r.email): 1 for r in reviewers} | {("escalation", "manager@example.com"): 1})
    smtp.wait_for(sum(expected.values()))
    assert smtp.kinds() == expected, (outcomes, workers.logs())
    assert OutboundMail.objects.count() == 5
    # Both ticks ran, on different workers, and between them queued each mail once.
    assert sum(int(o.split("reminders ")[1].split(",")[0]) for o in outcomes) == 4, outcomes


def test_a_worker_killed_after_the_server_accepted_sends_no_second_mail(workers, smtp, team):
    bob = factories.person("bob@example.com", "Bob")
    campaign = factories.campaign()
    factories.items(campaign, bob, 1)
    killed = []
    # The server has the message; the worker dies before it hears the 250 and before it records anything.
    smtp.handler.on_accept = lambda message: killed.extend(workers.kill_pool_children())

    (row,) = emails.queue_launch(campaign)

    deadline = time.monotonic() + 30
    while OutboundMail.objects.get(pk=row.pk).state in (State.QUEUED, State.SENDING) and time.monotonic() < deadline:
        time.sleep(0.2)
    row.refresh_from_db()
    if row.state == State.SENDING:
        # The redelivered task found the dead worker's lock not yet released; the next tick settles it.
        _tick(workers, T0)
        row.refresh_from_db()
    assert killed, workers.logs()
    assert row.state == State.FAILED, workers.logs()
    assert row.last_error.startswith(mailer.UNKNOWN_OUTCOME)
    assert row.message_id in row.last_error
    assert list(mailer.failed_mails()) == [row]
    assert len(smtp.wait_for(1, settle=3)) == 1, workers.logs()
    assert "WorkerLostError" in workers.logs() or "SIGKILL" in workers.logs()
