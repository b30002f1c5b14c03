"""The three roles (Django groups) and what they may do.

- security: administers connectors and campaigns, sees everything.
- reviewer: sees only what is assigned to them.
- auditor: reads everything, changes nothing.

A role is membership of the group of that name (created by migration
pipeaccess/0001_role_groups). Superuser and staff flags grant no role: access to
PipeAccess pages goes through these groups only, so `user list` tells the whole story.
"""

from collections.abc import Callable, Iterable
from functools import wraps

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction

SECURITY = "security"
REVIEWER = "reviewer"
AUDITOR = "auditor"
ROLES = (SECURITY, REVIEWER, AUDITOR)
DESCRIPTIONS = {
    SECURITY: "administers connectors and campaigns; sees everything",
    REVIEWER: "reviews the access assigned to you",
    AUDITOR: "reads everything; changes nothing",
}


def roles_of(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def has_role(user, role: str) -> bool:
    if role not in ROLES:
        # A typo here would silently deny (or, negated, allow) access.
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role in roles_of(user)


def is_security(user) -> bool:
    return has_role(user, SECURITY)


def is_reviewer(user) -> bool:
    return has_role(user, REVIEWER)


def is_auditor(user) -> bool:
    return has_role(user, AUDITOR)


def role_required(*roles: str) -> Callable:
    """Function-view decorator: anonymous users go to the login page, users holding none of `roles` get 403."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"role_required needs roles from {', '.join(ROLES)}; got {', '.join(roles) or 'none'}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            held = roles_of(request.user)
            if not held & set(roles):
                # Recorded before refusing; if it cannot be recorded the request fails (500), still refused.
                from .auth_audit import record_denied

                record_denied(
                    request,
                    reason="role required",
                    required_roles=sorted(roles),
                    roles=sorted(held),
                    view=view.__name__,
                )
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def roles_context(request):
    if not hasattr(request, "user"):
        return {"user_roles": []}
    # Read once per request: SecurityRoleMFAMiddleware (or pipeaccess.ui.request_roles) keeps them on the request.
    held = getattr(request, "_pipeaccess_roles", None)
    return {"user_roles": sorted(roles_of(request.user) if held is None else held)}


def normalize_email(email: str) -> str:
    # The email is also the username; lower-casing all of it keeps one account per address.
    return email.strip().lower()


@transaction.atomic
def create_user(email: str, *, roles: Iterable[str], name: str = "", password: str | None = None, actor=None):
    """Create a user who logs in with `email`; the address is recorded verified and primary for allauth.

    `password=None` leaves the account without a usable password.
    """
    from reviews.audit import record

    roles = set(roles)
    email = normalize_email(email)
    user = get_user_model().objects.create_user(username=email, email=email, password=password, first_name=name)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    _set_roles(user, roles)
    record(
        "user.created", actor=actor, obj=user, email=email, roles=sorted(roles), usable_password=password is not None
    )
    return user


@transaction.atomic
def set_roles(user, roles: Iterable[str], *, actor=None) -> None:
    """Make `roles` exactly the user's roles; groups that are not roles are left alone."""
    from reviews.audit import record

    after = set(roles)
    before = roles_of(user)
    _set_roles(user, after)
    if before != after:
        record(
            "user.roles_changed", actor=actor, obj=user, email=user.email, **{"from": sorted(before)}, to=sorted(after)
        )


def _set_roles(user, roles: Iterable[str]) -> None:
    roles = set(roles)
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}; roles are {', '.join(ROLES)}")
    user.groups.remove(*Group.objects.filter(name__in=set(ROLES) - roles))
    # get_or_create, not get: transactional tests flush the groups the migration made.
    user.groups.add(*(Group.objects.get_or_create(name=role)[0] for role in sorted(roles)))


class NoSignupAdapter(DefaultAccountAdapter):
    """Users are created by the security team; the public cannot sign up."""

    def is_open_for_signup(self, request):
        return False
