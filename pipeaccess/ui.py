"""Helpers every page uses: pagination, htmx detection, page-or-fragment rendering, read-only access."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.shortcuts import render

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
    return SECURITY in _roles(request)


def _roles(request) -> set[str]:
    # Once per request: templates and views ask several times.
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
