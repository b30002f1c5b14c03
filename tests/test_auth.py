"""Login by email with allauth, the TOTP step, closed sign-up, logout by POST, and role checks."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from pipeaccess.roles import AUDITOR, REVIEWER, ROLES, SECURITY, has_role, is_auditor, is_security, role_required
from tests.mfa import totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_in(client, user_password):
    """log_in(email, password=the personas' password): post the login form and follow the redirects; answer the
    second factor when allauth asks for it (second_factor=False: stop there)."""

    def post(email, password=user_password, *, second_factor=True):
        response = client.post(reverse("account_login"), {"login": email, "password": password}, follow=True)
        if second_factor and response.redirect_chain and response.redirect_chain[-1][0] == reverse("mfa_authenticate"):
            response = client.post(reverse("mfa_authenticate"), {"code": totp_code()}, follow=True)
        return response

    return post


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


def test_it_logs_in_by_email_and_lands_on_home_with_roles_shown(log_in, client, security_user):
    response = log_in("alice@example.com")
    assert response.redirect_chain[-1][0] == reverse("home")
    assert logged_in_user_id(client) == str(security_user.pk)
    page = response.content.decode()
    assert '<span class="role">security</span> administers connectors and campaigns' in page
    assert "alice@example.com" in page


def test_it_accepts_the_email_in_any_case(log_in, client, security_user):
    log_in("Alice@Example.COM")
    assert logged_in_user_id(client) == str(security_user.pk)


def test_it_rejects_a_wrong_password(log_in, client, security_user):
    response = log_in("alice@example.com", "not-the-password")
    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    assert "The email address and/or password you specified are not correct." in response.content.decode()


def test_the_login_page_does_not_invite_sign_up(client):
    page = client.get(reverse("account_login")).content.decode()
    assert 'name="login"' in page
    assert reverse("account_signup") not in page


def test_sign_up_is_closed(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "mallory@example.com", "password1": "a-long-enough-password", "password2": "a-long-enough-password"},
    )
    assert "Sign Up Closed" in response.content.decode()
    assert not get_user_model().objects.filter(email="mallory@example.com").exists()
    assert logged_in_user_id(client) is None


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=/"


def test_a_user_without_a_role_is_told_so(client, user_without_role):
    client.force_login(user_without_role)
    page = client.get(reverse("home")).content.decode()
    assert "You have no role yet" in page
    assert '<span class="role">no role</span>' in page


def test_a_user_with_several_roles_sees_them_all(log_in, client, make_user):
    make_user("erin@example.com", AUDITOR, REVIEWER)
    page = log_in("erin@example.com").content.decode()
    assert '<span class="role">auditor</span> reads everything' in page
    assert '<span class="role">reviewer</span> reviews the access assigned to you' in page


# --- two-factor authentication -----------------------------------------------------------------------


@pytest.fixture
def totp_user(security_user, settings):
    # One step either side, so a code computed just before a 30-second boundary is still accepted.
    settings.MFA_TOTP_TOLERANCE = 1
    assert Authenticator.objects.filter(user=security_user, type=Authenticator.Type.TOTP).exists()  # tests/conftest.py
    return security_user


def current_code(user) -> str:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    secret = decrypt(authenticator.data["secret"])
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_a_user_with_totp_is_asked_for_a_code_before_being_logged_in(log_in, client, totp_user):
    response = log_in("alice@example.com", second_factor=False)
    assert response.redirect_chain[-1][0] == reverse("mfa_authenticate")
    assert logged_in_user_id(client) is None
    assert client.get(reverse("home")).status_code == 302


def test_a_wrong_totp_code_keeps_the_user_out(log_in, client, totp_user):
    log_in("alice@example.com", second_factor=False)
    wrong = f"{(int(current_code(totp_user)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("mfa_authenticate"), {"code": wrong})
    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_a_valid_totp_code_completes_the_login(log_in, client, totp_user):
    log_in("alice@example.com", second_factor=False)
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(totp_user)}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("home")
    assert logged_in_user_id(client) == str(totp_user.pk)


def test_two_factor_settings_are_offered_under_accounts_2fa(client, reviewer_user):
    client.force_login(reviewer_user)
    assert reverse("mfa_index") == "/accounts/2fa/"
    response = client.get(reverse("mfa_index"))
    assert response.status_code == 200
    assert 'href="/accounts/2fa/totp/activate/"' in response.content.decode()


# --- logout --------------------------------------------------------------------------------------------


def test_logging_out_by_get_only_asks_for_confirmation(client, security_user):
    client.force_login(security_user)
    response = client.get(reverse("account_logout"))
    assert response.status_code == 200
    assert logged_in_user_id(client) == str(security_user.pk)


def test_logging_out_by_post_ends_the_session(client, security_user):
    client.force_login(security_user)
    client.post(reverse("account_logout"))
    assert logged_in_user_id(client) is None


def test_the_navigation_logs_out_with_a_post_form(client, security_user):
    client.force_login(security_user)
    page = client.get(reverse("home")).content.decode()
    assert f'<form method="post" action="{reverse("account_logout")}">' in page


# --- roles -----------------------------------------------------------------------------------------------


def test_the_migration_creates_the_three_role_groups():
    assert sorted(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == sorted(ROLES)


def test_role_helpers_follow_group_membership(security_user, auditor_user):
    assert is_security(security_user) and not is_auditor(security_user)
    assert is_auditor(auditor_user) and not is_security(auditor_user)
    assert not has_role(AnonymousUser(), SECURITY)


def test_has_role_refuses_an_unknown_role(security_user):
    with pytest.raises(ValueError, match="unknown role 'admin'"):
        has_role(security_user, "admin")


def test_role_required_refuses_an_unknown_role():
    with pytest.raises(ValueError, match="role_required needs roles"):
        role_required("securty")


@role_required(SECURITY, AUDITOR)
def security_or_auditor_view(request):
    return HttpResponse("ok")


def request_as(user):
    request = RequestFactory().get("/protected/")
    request.user = user
    return request


def test_role_required_lets_a_holder_of_any_listed_role_in(security_user, auditor_user):
    assert security_or_auditor_view(request_as(security_user)).status_code == 200
    assert security_or_auditor_view(request_as(auditor_user)).status_code == 200


def test_role_required_refuses_other_roles_with_403(reviewer_user):
    with pytest.raises(PermissionDenied):
        security_or_auditor_view(request_as(reviewer_user))


def test_role_required_sends_anonymous_visitors_to_login():
    response = security_or_auditor_view(request_as(AnonymousUser()))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=/protected/"
