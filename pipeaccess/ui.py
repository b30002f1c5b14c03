"""Helpers every page uses: pagination, htmx detection, page-or-fragment rendering, read-only access,
recent authentication for sensitive changes."""

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import get_authentication_records
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render

from .roles import AUDITOR, SECURITY, role_required, roles_of

PER_PAGE = 50


def paginate(request, queryset, *, per_page: int = PER_PAGE) -> Page:
    """The requested page (?page=N) of `queryset`; out-of-range or junk page numbers give the nearest page.

    Two queries: the count, and the page's rows.
    """
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def is_htmx(request) -> bool:
    """True for requests htmx made (and not for its history restores, which need the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def render_page_or_fragment(request, page_template: str, fragment_template: str, context: dict, **kwargs):
    """One view, two answers: the whole page for a normal request, only the fragment for htmx."""
    return render(request, fragment_template if is_htmx(request) else page_template, context, **kwargs)


def can_change(request) -> bool:
    """Only the security role changes things; auditors see the same pages without forms or buttons."""
    return SECURITY in request_roles(request)


def request_roles(request) -> set[str]:
    """The signed-in user's roles, looked up once per request (SecurityRoleMFAMiddleware fills the cache from its
    own query, so pages that ask cost nothing more)."""
    if not hasattr(request, "_pipeaccess_roles"):
        request._pipeaccess_roles = roles_of(request.user)
    return request._pipeaccess_roles


def security_or_auditor(view: Callable) -> Callable:
    """Read-only security pages: the security role and auditors may look; GET and HEAD only."""

    @role_required(SECURITY, AUDITOR)
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in {"GET", "HEAD"}:
            from .auth_audit import record_denied

            record_denied(request, reason="read-only page", view=view.__name__)
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def security_only(view: Callable) -> Callable:
    """Pages and actions that change something: the security role only (auditors get 403)."""
    return role_required(SECURITY)(view)


def recently_authenticated(request) -> bool:
    """Whether the user signed in, or confirmed who they are, less than ACCOUNT_REAUTHENTICATION_TIMEOUT seconds ago.

    allauth records each authentication (password, authenticator code, re-authentication) with its time in the
    session; a session older than that, or one not made by a login at all, is not recent.
    """
    # allauth keeps these records in its internal login flow (pinned version; tests/security/test_reauth.py).
    records = get_authentication_records(request, request.user)
    latest = max((record.get("at", 0) for record in records), default=0)
    return time.time() - latest < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def reauthenticate(request, *, next_url: str, reason: str):
    """Refuse a sensitive change from a session that is not recent: nothing is applied or kept (the form holds
    secrets), the user confirms who they are on allauth's page (password, or authenticator code) and comes back
    to `next_url` to submit again. Recorded as auth.access_denied."""
    from .auth_audit import record_denied

    methods = get_adapter().get_reauthentication_methods(request.user)
    record_denied(request, reason="re-authentication required")
    if not methods:
        raise PermissionDenied  # no password and no authenticator: nothing to confirm with
    messages.warning(request, f"{reason} Confirm it is you, then submit again: nothing was saved.")
    url = f"{methods[0]['url']}?{urlencode({'next': next_url})}"
    if is_htmx(request):
        # htmx would swap the sign-in page into a fragment; this makes it load the whole page instead.
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)
