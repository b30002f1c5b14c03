"""Two-factor authentication for the security role (setting SECURITY_REQUIRES_MFA, on by default).

The security role holds the keys to every connected system, so a password alone is not enough: until a
security-role user has an active TOTP authenticator (allauth.mfa), PipeAccess answers every page with a
redirect to the two-factor setup and every API call with 403, whatever other roles the user holds. The
web pages are held back by pipeaccess.middleware.SecurityRoleMFAMiddleware, API calls (session or token)
by pipeaccess.api.permissions.SecurityRoleHasMFA. Management commands are not affected: shell access
already is the higher privilege.
"""

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Exists

from .roles import ROLES, SECURITY, roles_of

MESSAGE = (
    "Your account has the security role, which requires two-factor authentication. "
    "Set up an authenticator app to continue."
)
API_MESSAGE = (
    "the security role requires two-factor authentication: set up an authenticator app at /accounts/2fa/ first"
)


def lacks_required_mfa(user) -> bool:
    """True for a signed-in security-role user without an active TOTP authenticator (when the setting is on)."""
    if not settings.SECURITY_REQUIRES_MFA or user is None or not user.is_authenticated:
        return False
    return SECURITY in roles_of(user) and not _has_totp(user)


def roles_and_mfa(user) -> tuple[set[str], bool]:
    """The user's roles, and whether the two-factor requirement holds them back: one query (pages ask per request)."""
    if not user.is_authenticated:
        return set(), False
    has_totp = Authenticator.objects.filter(user=user.pk, type=Authenticator.Type.TOTP)
    rows = Group.objects.filter(user=user, name__in=ROLES).annotate(has_totp=Exists(has_totp))
    roles, totp = set(), False
    for name, row_totp in rows.values_list("name", "has_totp"):
        roles.add(name)
        totp = row_totp
    return roles, settings.SECURITY_REQUIRES_MFA and SECURITY in roles and not totp


def _has_totp(user) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
