"""Audit events for authentication and authorization: logins, failed logins, logouts, MFA and password
changes, and access denied.

Connected when the app is ready (pipeaccess.apps). Each event is written in a transaction: the one of the
change when there is one (MFA authenticators added and removed, role changes), its own otherwise. If it
cannot be written the request fails with an error rather than going on unrecorded.

A failed login records the login name as typed and nothing that depends on whether such a user exists,
so the audit log cannot be used to find out which addresses have accounts.
"""

from __future__ import annotations

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth import signals as auth_signals
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from reviews.audit import record

ANONYMOUS = "anonymous"


def request_context(request) -> dict:
    """Where a request came from, for the audit trail (REMOTE_ADDR: set X-Forwarded-For handling at the proxy)."""
    if request is None:
        return {}
    meta = getattr(request, "META", {})
    return {
        "ip": meta.get("REMOTE_ADDR", ""),
        "user_agent": meta.get("HTTP_USER_AGENT", "")[:200],
    }


def _record(action: str, *, request=None, **kwargs) -> None:
    with transaction.atomic():
        record(action, **kwargs, **request_context(request))


def record_denied(request, *, reason: str, **data) -> None:
    """Record that `request` was refused (403). Marks the request so the middleware does not record it twice."""
    if getattr(request, "_pipeaccess_denied_audited", False):
        return
    user = getattr(request, "user", None)
    authenticated = bool(user is not None and user.is_authenticated)
    _record(
        "auth.access_denied",
        request=request,
        actor=user if authenticated else None,
        actor_label=None if authenticated else ANONYMOUS,
        method=request.method,
        path=request.get_full_path()[:500],
        reason=reason,
        **data,
    )
    request._pipeaccess_denied_audited = True


class AccessDeniedAuditMiddleware:
    """Records every 403 response that was not recorded where it was decided (role_required records its own).

    Covers per-object refusals in views, CSRF failures and the API. Add it to MIDDLEWARE after
    AuthenticationMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            record_denied(request, reason="forbidden")
        return response


@receiver(auth_signals.user_logged_in)
def on_logged_in(sender, request, user, **kwargs) -> None:
    _record("auth.login", request=request, actor=user, obj=user)


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`. No user lookup: the event reads the same
    # whether the address has an account or not.
    login = credentials.get("email") or credentials.get("username") or credentials.get("login") or ""
    _record("auth.login_failed", request=request, actor_label=ANONYMOUS, login=str(login).strip().lower()[:254])


@receiver(auth_signals.user_logged_out)
def on_logged_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return  # nobody was logged in: nothing changed
    _record("auth.logout", request=request, actor=user, obj=user)


@receiver(account_signals.password_changed)
def on_password_changed(sender, request, user, **kwargs) -> None:
    _record("auth.password_changed", request=request, actor=user, obj=user)


@receiver(account_signals.password_set)
def on_password_set(sender, request, user, **kwargs) -> None:
    _record("auth.password_set", request=request, actor=user, obj=user)


@receiver(account_signals.password_reset)
def on_password_reset(sender, request, user, **kwargs) -> None:
    _record("auth.password_reset", request=request, actor=user, obj=user)


# MFA: the model signals run inside allauth's own transaction (activate_totp is atomic; a delete's signals
# run inside the delete's transaction), so the authenticator change and its event commit together.
# allauth's own mfa signals fire after commit and cover what the model signals cannot tell apart.


@receiver(post_save, sender=Authenticator)
def on_authenticator_saved(sender, instance, created, **kwargs) -> None:
    if created:
        _record("auth.mfa_added", actor=instance.user, obj=instance.user, type=instance.type)


@receiver(post_delete, sender=Authenticator)
def on_authenticator_deleted(sender, instance, **kwargs) -> None:
    # No actor link: this also runs while a user is being deleted, whose row the link would keep alive.
    user = instance.user
    _record("auth.mfa_removed", actor_label=user.email or user.get_username(), obj=user, type=instance.type)


@receiver(mfa_signals.authenticator_reset)
def on_authenticator_reset(sender, request, user, authenticator, **kwargs) -> None:
    _record("auth.mfa_reset", request=request, actor=user, obj=user, type=authenticator.type)


@receiver(mfa_signals.authenticator_used)
def on_authenticator_used(sender, request, user, authenticator, **kwargs) -> None:
    # A TOTP code at login is covered by auth.login; a recovery code is used up, which is worth its own event.
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        _record("auth.mfa_recovery_code_used", request=request, actor=user, obj=user)


@receiver(mfa_signals.authentication_failed)
def on_mfa_failed(sender, request, user, authenticator, **kwargs) -> None:
    _record(
        "auth.mfa_failed",
        request=request,
        actor=user,
        obj=user,
        type=getattr(authenticator, "type", ""),
        reauthentication=bool(kwargs.get("reauthentication")),
    )
