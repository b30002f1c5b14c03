"""Two-factor authentication is required for the security role (pipeaccess.mfa, SECURITY_REQUIRES_MFA).

A security-role user without an active TOTP authenticator reaches only allauth's pages (login, logout, the
two-factor setup); every other page redirects to the setup with a message, every API call (session or token)
gets 403, nothing changes and each refusal is audited. A security user with TOTP who gives only the password
has no session. Each test's docstring names the OWASP ASVS 5.0 requirement it covers.
"""

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.utils import get_random_secret_key
from django.test import Client
from django.urls import reverse

from connectors.models import Connector
from pipeaccess.mfa import API_MESSAGE
from pipeaccess.models import ApiToken
from reviews.models import AuditEvent
from tests.mfa import TOTP_SECRET, totp_code
from tests.test_settings import PRODUCTION, run_manage

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
# One page per area, and actions that would change something if they got through.
PAGES = ["/", "/connectors/", "/inventory/", "/reviews/all/", "/audit/", "/reports/", "/reviews/", "/admin/"]


@pytest.fixture
def unenrolled(make_user):
    """Sven: the security role, a password, no authenticator yet (as after `manage.py user create`)."""
    return make_user("sven@example.com", "security", name="Sven Security", mfa=False)


@pytest.fixture
def connector(db):
    return Connector.objects.create(
        name="gh", kind="github", base_url="https://github.example.com", options={"org": "acme"}, secrets={}
    )


def denials(reason: str) -> list[AuditEvent]:
    refused = AuditEvent.objects.filter(action="auth.access_denied").order_by("seq")
    return [e for e in refused if e.data.get("reason") == reason]


def signed_in(client, user, user_password) -> Client:
    response = client.post(LOGIN, {"login": user.email, "password": user_password})
    assert response.status_code == 302
    return client


def test_without_totp_every_page_sends_the_security_user_to_the_two_factor_setup(client, unenrolled, user_password):
    """ASVS 5.0 V6.3.2 (multi-factor required), V8.2.1 (function level), V16.3.2 (refusals logged): each page
    redirects to /accounts/2fa/ with a message saying why, and each refusal is an audit event."""
    signed_in(client, unenrolled, user_password)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == reverse("mfa_index") == "/accounts/2fa/", path
    page = client.get(reverse("mfa_index")).content.decode()
    assert page.count("requires two-factor authentication") == 1  # said once, however many pages were tried
    assert 'href="/accounts/2fa/totp/activate/"' in page
    refused = denials("mfa required")
    assert [e.data["path"] for e in refused] == PAGES
    assert all(e.actor_id == unenrolled.pk for e in refused)


def test_without_totp_an_action_is_refused_and_changes_nothing(client, unenrolled, user_password, connector):
    """ASVS 5.0 V6.3.2, V8.3.1 (enforced on the server): a POST that would change a connector does nothing."""
    signed_in(client, unenrolled, user_password)
    response = client.post(
        reverse("connectors:edit", kwargs={"name": "gh"}),
        {"base_url": "https://elsewhere.example.com", "options": "org=acme", "secrets": ""},
    )
    assert response["Location"] == "/accounts/2fa/"
    connector.refresh_from_db()
    assert connector.base_url == "https://github.example.com"
    assert not AuditEvent.objects.filter(action="connector.updated").exists()
    assert denials("mfa required")[-1].data["method"] == "POST"


def test_without_totp_the_api_refuses_session_and_token_alike(client, unenrolled, user_password, connector):
    """ASVS 5.0 V6.3.3 (every authentication pathway enforces the same strength): an API token is no way
    around the second factor; the error says what to do."""
    signed_in(client, unenrolled, user_password)
    _, raw = ApiToken.issue(unenrolled)
    by_token = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    for api in (client, by_token):
        for path in ("/api/v1/connectors/", "/api/v1/", "/api/v1/schema/"):
            response = api.get(path)
            assert response.status_code == 403, path
            # JSON; the schema answers in YAML, which folds long lines
            assert API_MESSAGE in " ".join(response.content.decode().split()), path
    assert len(denials("mfa required")) == 6


def test_enrolling_an_authenticator_opens_the_pages(client, unenrolled, user_password):
    """ASVS 5.0 V6.3.2: the way out is allauth's own setup (password confirmed, then a code from the new app)."""
    signed_in(client, unenrolled, user_password)
    client.post(reverse("account_reauthenticate"), {"password": user_password})  # allauth asks before MFA changes
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    secret = client.session["mfa.totp.secret"]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert client.get("/connectors/").status_code == 200
    assert client.get("/api/v1/connectors/").status_code == 200


def test_removing_the_authenticator_puts_the_requirement_back(client, security_user, user_password):
    """ASVS 5.0 V6.3.2, V8.3.2 (authorization changes apply at once): the check is made on every request."""
    client.force_login(security_user)
    assert client.get("/connectors/").status_code == 200
    Authenticator.objects.filter(user=security_user).delete()
    assert client.get("/connectors/")["Location"] == "/accounts/2fa/"


def test_other_roles_do_not_need_a_second_factor(client, reviewer_user, auditor_user):
    """ASVS 5.0 V6.3.2 applies to the role that administers connectors; reviewers and auditors are not held back."""
    client.force_login(auditor_user)
    assert client.get("/connectors/").status_code == 200
    client.force_login(reviewer_user)
    assert client.get("/reviews/").status_code == 200
    assert not denials("mfa required")


def test_the_password_alone_gives_a_security_user_with_totp_no_session(client, security_user, user_password):
    """ASVS 5.0 V6.3.2: after the right password allauth asks for the code; until then there is no session:
    pages send to the login, the API says 403, and a wrong code keeps it that way."""
    response = client.post(LOGIN, {"login": security_user.email, "password": user_password})
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    assert client.get("/connectors/")["Location"].startswith(LOGIN)
    assert client.get("/api/v1/connectors/").status_code == 401
    wrong = f"{(int(totp_code()) + 1) % 1_000_000:06d}"
    client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_the_code_completes_the_login_in_a_new_session(client, security_user, user_password):
    """ASVS 5.0 V6.3.2, V7.2.4 (new session token on authentication): the password step's session id is not the
    signed-in one, and is gone."""
    client.post(LOGIN, {"login": security_user.email, "password": user_password})
    pending = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(security_user.pk)
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != pending
    assert not SessionStore().exists(pending)
    assert client.get("/connectors/").status_code == 200


def test_a_totp_code_is_accepted_only_once(client, security_user, user_password):
    """ASVS 5.0 V6.5.1 (a TOTP is usable once): a code seen over a shoulder cannot open a second session."""
    code = totp_code()
    client.post(LOGIN, {"login": security_user.email, "password": user_password})
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert client.session["_auth_user_id"] == str(security_user.pk)
    other = Client()
    other.post(LOGIN, {"login": security_user.email, "password": user_password})
    other.post(reverse("mfa_authenticate"), {"code": code})
    assert "_auth_user_id" not in other.session


def test_the_requirement_can_be_turned_off_for_development(client, unenrolled, settings):
    """ASVS 5.0 V6.3.2: SECURITY_REQUIRES_MFA=false (development only) lets a security user in without TOTP."""
    settings.SECURITY_REQUIRES_MFA = False
    client.force_login(unenrolled)
    assert client.get("/connectors/").status_code == 200


@pytest.mark.subprocess
def test_production_refuses_to_start_without_the_requirement(tmp_path):
    """ASVS 5.0 V6.3.2, V13.4.2 (secure production configuration): turning it off in production is an error."""
    result = run_manage(
        tmp_path, "check", SECRET_KEY=get_random_secret_key(), SECURITY_REQUIRES_MFA="false", **PRODUCTION
    )
    assert result.returncode != 0
    assert "SECURITY_REQUIRES_MFA cannot be turned off in production" in result.stderr
