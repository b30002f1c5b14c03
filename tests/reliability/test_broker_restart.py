"""Redis restarted while revocations and mails are queued, with and without persistence: nothing lost, nothing doubled.

The test starts its own redis-server (whatever REDIS_URL says), points this process's Celery app and two real
`celery worker` processes at it, queues revocations against the Harbor simulator and mails for the SMTP server,
then kills Redis with SIGKILL before any worker has consumed the queue and starts it again.

- Without persistence (no RDB, no AOF) the broker messages are gone; the database outbox still says queued. The
  revocation reconciler and the mail tick, run by the workers (each twice, so duplicates are sent on purpose),
  enqueue them again.
- With an fsynced append-only file the messages survive, and the reconcilers, which cannot know that, enqueue
  every row a second time: each is delivered twice and must be done once.

Either way every revocation is applied upstream exactly once and every mail arrives exactly once.
"""

import re
import signal
import time
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import kombu.pools
import pytest
from django.db import transaction
from django.utils import timezone

import tests.workers
from connectors.models import Grant
from connectors.sync import run_sync
from pipeaccess.celery import app as celery_app
from reviews import campaigns, emails, mailer
from reviews.choices import CampaignState, RevocationState
from reviews.models import AuditEvent, NotificationSettings, OutboundMail, Revocation
from reviews.revocations import plan
from reviews.tasks.mail import mail_tick
from reviews.tasks.revocations import reconcile, reconcile_revocations
from tests.mail.smtp import SmtpServer
from tests.reliability.servers import PrivateRedis
from tests.revocations import factories
from tests.revocations.conftest import PASSWORD, TOKEN_ENV, TimedHarbor, harbor_org, live_harbor_connector
from tests.workers import celery_workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess, pytest.mark.slow]

MEMBERS = ["olivia", "peter", "rita", "sam"]
SECURITY_TEAM = ["sec1@example.com", "sec2@example.com", "sec3@example.com"]
DONE_TIMEOUT = 90
QUIET_SECONDS = 3


def _use_broker(url: str) -> None:
    """Point this process's Celery app at ``url`` and drop every pooled connection to the previous broker."""
    celery_app.conf.broker_url = url
    kombu.pools.reset()  # closes and forgets every producer and connection pool of this process
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def private_redis(request, tmp_path):
    """This process's broker: a private redis-server, without persistence unless parametrized ("aof")."""
    with PrivateRedis(tmp_path / "redis", persistence=getattr(request, "param", "none")) as server:
        previous = celery_app.conf.broker_url
        _use_broker(server.url)
        yield server
        _use_broker(previous)


@pytest.fixture
def harbor():
    org = harbor_org()
    for login in MEMBERS[2:]:
        org.add_user(login)
        org.add_member("shared", user=login, role="developer")
    with TimedHarbor(org) as simulator:
        yield simulator


def _wait(condition, what: str, logs) -> None:
    deadline = time.monotonic() + DONE_TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}:\n{logs()}")


@pytest.fixture
def live_connector(harbor, monkeypatch):
    """The Harbor simulator, synced, not in dry run; close summaries go to the security team."""
    connector = live_harbor_connector(harbor, monkeypatch)
    assert run_sync(connector).applied_at is not None
    config = NotificationSettings.load()
    config.digest_enabled = False
    config.security_team_emails = SECURITY_TEAM
    config.save()
    return connector


def _campaign_revoking_every_member():
    campaign = factories.campaign()
    for login in MEMBERS:
        grant = Grant.objects.current().get(account__login=login, resource__path="shared", via="direct")
        factories.decided_item(campaign, grant)
    return campaign


@pytest.mark.parametrize("private_redis", ["none", "aof"], indirect=True)
def test_after_a_redis_restart_each_revocation_and_mail_is_done_exactly_once(
    private_redis, harbor, live_connector, monkeypatch, tmp_path
):
    # The queue the workers will read, fixed in advance so messages can wait there before any worker exists.
    queue_hex = "reliability0" + "0" * 20
    monkeypatch.setattr(tests.workers, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=queue_hex)))
    queue = f"test-broker-restart-{queue_hex[:12]}"
    monkeypatch.setattr(celery_app.conf, "task_default_queue", queue)

    # Queued revocations (plan() enqueues each on commit) and queued mails (each enqueued on commit).
    campaign = _campaign_revoking_every_member()
    revocations = plan(campaign)
    assert [r.state for r in revocations] == [RevocationState.QUEUED] * len(MEMBERS)
    with transaction.atomic():
        mails = emails.queue_close_summary(campaign)
    assert sorted(m.recipient for m in mails) == SECURITY_TEAM

    queued = len(MEMBERS) + len(SECURITY_TEAM)
    assert private_redis.client().llen(queue) == queued

    private_redis.kill()
    private_redis.start()
    _use_broker(private_redis.url)
    persistent = private_redis.persistence == "aof"
    if persistent:
        # The messages survived. The reconcilers cannot tell, and send every row again: each is queued twice.
        assert private_redis.client().llen(queue) == queued
        assert len(reconcile(now=timezone.now() + timedelta(hours=1))) == len(MEMBERS)
        assert mailer.recover(older_than_seconds=0)["requeued"] == len(SECURITY_TEAM)
        assert private_redis.client().llen(queue) == 2 * queued
    else:
        # Redis came back empty: the messages are gone, the outbox rows are not.
        assert private_redis.client().llen(queue) == 0

    with SmtpServer() as smtp:
        env = {
            "REDIS_URL": private_redis.url,
            TOKEN_ENV: PASSWORD,
            "HTTP_MAX_RETRIES": "0",
            "REVOCATION_RATE_LIMIT": "1000/s",
            "REVOCATION_RECONCILE_AFTER_SECONDS": "1",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp.port),
            "EMAIL_TIMEOUT": "10",
            "SITE_URL": "https://pipeaccess.example.com",
        }
        with celery_workers(2, tmp_path, env, prefix="test-broker-restart") as workers:
            assert workers.queue == queue
            if not persistent:
                # Without the reconcilers nothing would ever happen: the workers idle, the rows stay queued.
                time.sleep(QUIET_SECONDS)
                assert set(Revocation.objects.values_list("state", flat=True)) == {RevocationState.QUEUED}
                assert set(OutboundMail.objects.values_list("state", flat=True)) == {OutboundMail.State.QUEUED}
                assert harbor.writes == [] and smtp.handler.messages == []

                # The mail tick re-enqueues queued rows older than five minutes: the rows say they are.
                OutboundMail.objects.update(created=timezone.now() - timedelta(minutes=10))
                for _ in range(2):
                    reconcile_revocations.apply_async(queue=queue)
                    mail_tick.apply_async(queue=queue)

            def finished() -> bool:
                revs = set(Revocation.objects.values_list("state", flat=True))
                rows = set(OutboundMail.objects.values_list("state", flat=True))
                return revs == {RevocationState.DONE} and rows == {OutboundMail.State.SENT}

            _wait(finished, "the revocations and mails did not all finish", workers.logs)
            time.sleep(QUIET_SECONDS)  # any duplicate message still in flight gets its chance to do harm
            logs = workers.logs()

        deletes = Counter(path for _, method, path in harbor.writes if method == "DELETE")
        assert sorted(deletes.values()) == [1] * len(MEMBERS), (harbor.writes, logs)
        assert len(harbor.writes) == len(MEMBERS), (harbor.writes, logs)
        assert set(Revocation.objects.values_list("outcome", flat=True)) == {"revoked"}
        reenqueued = AuditEvent.objects.filter(action="revocation.reenqueued").values_list("object_id", flat=True)
        assert {str(r.pk) for r in revocations} <= set(reenqueued), logs

        received = Counter(message["Message-ID"] for message in smtp.handler.messages)
        expected = set(OutboundMail.objects.values_list("message_id", flat=True))
        assert set(received) == expected, logs
        assert set(received.values()) == {1}, received
        assert {m.message_id for m in mails} <= set(received)  # the close summaries lost with Redis among them
        if persistent:
            # Both copies of every message were taken by a worker: the second found its row done and did nothing.
            received_tasks = Counter(re.findall(r"Task ([\w.]+)\[[0-9a-f-]+\] received", logs))
            assert received_tasks["reviews.tasks.revocations.execute_revocation"] == 2 * len(MEMBERS), logs
            assert received_tasks["reviews.tasks.mail.send_mail"] == 2 * len(SECURITY_TEAM), logs


def test_a_campaign_closed_while_redis_is_down_closes_and_its_revocations_and_mails_are_sent_later(
    private_redis, live_connector, monkeypatch
):
    """The close commits, then finds no broker: it must not fail (a 500 page for a campaign that did close), nor
    stop at the first revocation it cannot announce. The outbox rows wait for the reconcilers."""
    queue = "test-broker-down-at-close"
    monkeypatch.setattr(celery_app.conf, "task_default_queue", queue)
    campaign = _campaign_revoking_every_member()
    private_redis.kill()

    closed = campaigns.close(campaign)

    assert closed.state == CampaignState.CLOSED
    assert Revocation.objects.filter(state=RevocationState.QUEUED).count() == len(MEMBERS)
    summaries = OutboundMail.objects.filter(kind="close_summary", state=OutboundMail.State.QUEUED)
    assert sorted(summaries.values_list("recipient", flat=True)) == SECURITY_TEAM

    private_redis.start()
    _use_broker(private_redis.url)
    assert len(reconcile(now=timezone.now() + timedelta(hours=1))) == len(MEMBERS)
    assert mailer.recover(older_than_seconds=0)["requeued"] == len(SECURITY_TEAM)
    assert private_redis.client().llen(queue) == len(MEMBERS) + len(SECURITY_TEAM)


def test_running_workers_reconnect_after_a_redis_restart_and_carry_on_without_being_restarted(
    private_redis, harbor, live_connector, tmp_path
):
    env = {
        "REDIS_URL": private_redis.url,
        TOKEN_ENV: PASSWORD,
        "HTTP_MAX_RETRIES": "0",
        "REVOCATION_RATE_LIMIT": "1000/s",
    }
    with celery_workers(1, tmp_path, env, prefix="test-broker-reconnect") as workers:
        (worker,) = workers.members
        private_redis.kill()
        private_redis.start()
        _use_broker(private_redis.url)

        revocations = plan(_campaign_revoking_every_member())

        def finished() -> bool:
            return set(Revocation.objects.values_list("state", flat=True)) == {RevocationState.DONE}

        _wait(finished, "the worker did not take the revocations after Redis came back", workers.logs)
        logs = workers.logs()
    assert "Connection to broker lost" in logs  # it did notice
    assert worker.process.returncode in (0, -signal.SIGTERM), logs  # it was still running when told to stop
    deletes = Counter(path for _, method, path in harbor.writes if method == "DELETE")
    assert sorted(deletes.values()) == [1] * len(revocations), (harbor.writes, logs)
    assert set(Revocation.objects.values_list("outcome", flat=True)) == {"revoked"}
