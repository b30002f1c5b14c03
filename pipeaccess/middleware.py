"""Security headers every response carries; the two-factor requirement of the security role."""

from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from rest_framework.views import APIView

from .auth_audit import record_denied
from .mfa import API_MESSAGE, MESSAGE, roles_and_mfa


class ContentSecurityPolicyMiddleware:
    """Send the site's Content-Security-Policy (settings.CONTENT_SECURITY_POLICY) on every response.

    The policy allows no inline script or style: pages load their CSS and JavaScript from /static/,
    so a synced name that slipped past escaping still could not run. A view that needs a different
    policy sets the header itself and is left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class SecurityRoleMFAMiddleware:
    """Hold back a security-role user without two-factor authentication (pipeaccess.mfa) until they set it up.

    Every page except allauth's own (login, logout, two-factor setup, password) redirects to the two-factor
    page with a message; API calls in the session get 403 (token calls are refused by the API's permission
    pipeaccess.api.permissions.SecurityRoleHasMFA). Each refusal is recorded as auth.access_denied.
    Decided per view, not per URL prefix, so a page added later is covered without being listed here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if view_func.__module__.startswith("allauth."):
            return None
        roles, held_back = roles_and_mfa(request.user)
        request._pipeaccess_roles = roles  # pipeaccess.ui.request_roles: the pages ask again
        if not held_back:
            return None
        record_denied(request, reason="mfa required", view=view_func.__name__)
        if _is_api_view(view_func):
            return JsonResponse({"detail": API_MESSAGE}, status=403)
        pending = messages.get_messages(request)
        if MESSAGE not in (str(message) for message in pending):
            messages.warning(request, MESSAGE)
        pending.used = False  # looking at the queue must not empty it
        return redirect("mfa_index")


def _is_api_view(view_func) -> bool:
    return isinstance(getattr(view_func, "cls", None), type) and issubclass(view_func.cls, APIView)


class RotateSessionOnReauthenticationMiddleware:
    """A new session key whenever the user re-authenticates (allauth's password or authenticator-code page).

    allauth rotates the key at login but not at re-authentication; a session id seen before the confirmation
    (in a log, over a shoulder) must not carry the fresh authentication that unlocks connector URL and secret
    changes. Put it after SessionMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST":
            return self.get_response(request)
        before = _reauthentications(request)
        response = self.get_response(request)
        if _reauthentications(request) > before:
            request.session.cycle_key()
        return response


def _reauthentications(request) -> int:
    # allauth's own record of each authentication in this session (allauth.account.internal.flows.login).
    records = request.session.get(AUTHENTICATION_METHODS_SESSION_KEY) or []
    return sum(1 for record in records if isinstance(record, dict) and record.get("reauthenticated"))
