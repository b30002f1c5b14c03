"""The test personas' authenticator app: one known TOTP secret, and the code it shows now.

The security role requires two-factor authentication (pipeaccess.mfa), so make_user enrols every
security-role persona with this secret; tests that sign in through the login form answer allauth's
second-factor step with `totp_code()`.
"""

import time

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import encrypt
from django.urls import reverse

TOTP_SECRET = "PIPEACCESSTESTPERSONAS234567ABCD"  # base32


def enrol_totp(user, secret: str = TOTP_SECRET) -> Authenticator:
    """Give `user` an active TOTP authenticator, as if they had set it up before the test.

    bulk_create, not allauth's TOTP.activate: no auth.mfa_added audit event, so tests that count the
    audit trail see only what they do themselves.
    """
    (authenticator,) = Authenticator.objects.bulk_create(
        [Authenticator(user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(secret)})]
    )
    return authenticator


def totp_code(secret: str = TOTP_SECRET, *, steps: int = 0) -> str:
    """The code the authenticator app shows now (or `steps` 30-second periods from now)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + steps))


def sign_in(client, user, password: str) -> None:
    """Sign `user` in through allauth's forms, password then (when asked) the authenticator code.

    Unlike force_login, the session then records when the user authenticated, as a real one does: changing a
    connector's URL or secret needs a recent sign-in (pipeaccess.ui.recently_authenticated).
    """
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    if response.get("Location") == reverse("mfa_authenticate"):
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code()})
    assert client.session.get("_auth_user_id") == str(user.pk), f"{user.email} could not sign in"
