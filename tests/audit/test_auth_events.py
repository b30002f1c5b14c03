"""Logins, failed logins, logouts, MFA changes, role changes and denied access are audit events."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.urls import reverse

from reviews import audit
from reviews.models import AuditEvent
from tests.audit.helpers import run_command
from tests.cli import manage
from tests.mfa import TOTP_SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.audit.urls")]


def events(prefix: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("seq"))


@pytest.fixture
def log_in(client, user_password):
    """log_in(email): the login form, then the second factor when allauth asks (second_factor=False: stop there)."""

    def post(email, password=user_password, *, second_factor=True):
        response = client.post(reverse("account_login"), {"login": email, "password": password}, REMOTE_ADDR="10.1.2.3")
        if second_factor and response.get("Location") == reverse("mfa_authenticate"):
            code = {"code": totp_code(TOTP_SECRET)}
            response = client.post(reverse("mfa_authenticate"), code, REMOTE_ADDR="10.1.2.3")
        return response

    return post


def totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_a_login_is_recorded_with_who_and_from_where(log_in, security_user, client):
    log_in("Alice@Example.com")
    (event,) = events("auth.login")
    assert event.actor_id == security_user.pk and event.actor_label == "alice@example.com"
    assert event.data["ip"] == "10.1.2.3"


def test_failed_logins_read_the_same_whether_the_account_exists_or_not(log_in, security_user, user_password):
    log_in("alice@example.com", "wrong-password-1")
    log_in("nobody@example.com", "wrong-password-2")
    existing, unknown = events("auth.login_failed")
    assert (existing.actor_id, existing.actor_label, existing.object_type) == (None, "anonymous", "")
    assert (unknown.actor_id, unknown.actor_label, unknown.object_type) == (None, "anonymous", "")
    assert set(existing.data) == set(unknown.data) == {"login", "ip", "user_agent"}
    assert (existing.data["login"], unknown.data["login"]) == ("alice@example.com", "nobody@example.com")
    recorded = str([e.data for e in AuditEvent.objects.all()])
    assert "wrong-password" not in recorded and user_password not in recorded


def test_a_logout_is_recorded(client, security_user):
    client.force_login(security_user)
    client.post(reverse("account_logout"))
    (event,) = events("auth.logout")
    assert event.actor_id == security_user.pk


def test_access_denied_by_role_is_recorded_once(client, reviewer_user, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "pipeaccess.auth_audit.AccessDeniedAuditMiddleware"]
    client.force_login(reviewer_user)
    response = client.get(reverse("security_only") + "?tab=secrets")
    assert response.status_code == 403
    (event,) = events("auth.access_denied")
    assert event.actor_label == "bob@example.com"
    assert event.data["path"] == "/security-only/?tab=secrets" and event.data["method"] == "GET"
    assert event.data["required_roles"] == ["security"] and event.data["roles"] == ["reviewer"]
    assert event.data["reason"] == "role required"


def test_a_holder_of_the_role_passes_and_nothing_is_recorded_as_denied(client, security_user):
    client.force_login(security_user)
    assert client.get(reverse("security_only")).status_code == 200
    assert not events("auth.access_denied")


def test_the_middleware_records_refusals_decided_in_views(client, reviewer_user, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "pipeaccess.auth_audit.AccessDeniedAuditMiddleware"]
    client.force_login(reviewer_user)
    assert client.post(reverse("not_yours", args=[42])).status_code == 403
    (event,) = events("auth.access_denied")
    assert (event.data["path"], event.data["method"], event.data["reason"]) == ("/items/42/", "POST", "forbidden")


def test_anonymous_refusals_are_recorded_as_anonymous(client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "pipeaccess.auth_audit.AccessDeniedAuditMiddleware"]
    assert client.get(reverse("not_yours", args=[7])).status_code == 403
    (event,) = events("auth.access_denied")
    assert event.actor_id is None and event.actor_label == "anonymous"


def test_activating_and_removing_totp_is_recorded(client, log_in, reviewer_user, user_password):
    log_in("bob@example.com")
    client.post(reverse("account_reauthenticate"), {"password": user_password})  # allauth asks before MFA changes
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    added = events("auth.mfa_added")
    assert sorted(e.data["type"] for e in added) == ["recovery_codes", "totp"]
    assert all(e.actor_id == reviewer_user.pk for e in added)
    client.post(reverse("mfa_deactivate_totp"))
    assert not Authenticator.objects.filter(user=reviewer_user).exists()
    assert sorted(e.data["type"] for e in events("auth.mfa_removed")) == ["recovery_codes", "totp"]
    assert audit.verify().ok


def test_a_wrong_second_factor_is_recorded(client, log_in, security_user, settings):
    settings.MFA_TOTP_TOLERANCE = 1
    log_in("alice@example.com", second_factor=False)
    authenticator = Authenticator.objects.get(user=security_user, type=Authenticator.Type.TOTP)
    right = totp_code(decrypt(authenticator.data["secret"]))
    client.post(reverse("mfa_authenticate"), {"code": f"{(int(right) + 500_000) % 1_000_000:06d}"})
    (failed,) = events("auth.mfa_failed")
    assert failed.actor_id == security_user.pk and failed.data["type"] == "totp"
    assert not events("auth.login")  # the password alone did not log in


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_user_creation_and_role_changes_are_recorded(audit_env):
    created = manage("user", "create", "erin@example.com", "--role", "reviewer", "--generate-password", env=audit_env)
    assert created.returncode == 0, created.stderr
    assert manage("user", "set-role", "erin@example.com", "--role", "auditor", env=audit_env).returncode == 0
    (made,) = events("user.created")
    assert made.data["roles"] == ["reviewer"] and made.data["usable_password"] is True
    (changed,) = events("user.roles_changed")
    assert (changed.data["from"], changed.data["to"]) == (["reviewer"], ["auditor"])
    password = created.stdout.strip().split()[-1]
    assert password not in str([e.data for e in AuditEvent.objects.all()])
    assert run_command("verify")[0] == 0
