"""Fixtures of the mail tests: a real SMTP server on loopback and the settings that point Django at it."""

import pytest

from reviews.models import NotificationSettings

from .smtp import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_settings(settings, smtp):
    """This process sends through the SMTP backend to the test server (pytest-django defaults to locmem)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_RETRY_BACKOFF_SECONDS = 0.1
    return settings


@pytest.fixture
def notification_settings(db):
    """Per-campaign reminders (no digest) unless a test switches the digest on; a fixed security team."""
    config = NotificationSettings.load()
    config.digest_enabled = False
    config.security_team_emails = ["sec1@example.com", "sec2@example.com"]
    config.save()
    return config


@pytest.fixture
def eager_celery():
    """send_mail runs inside the test process when a transaction commits (Django's locmem backend: mail.outbox)."""
    from pipeaccess.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
