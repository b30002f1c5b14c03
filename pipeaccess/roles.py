"""The three roles (Django groups) and what they may do."""

from allauth.account.adapter import DefaultAccountAdapter

SECURITY = "security"
REVIEWER = "reviewer"
AUDITOR = "auditor"
ROLES = (SECURITY, REVIEWER, AUDITOR)


def roles_of(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def roles_context(request):
    return {"user_roles": roles_of(request.user) if hasattr(request, "user") else set()}


class NoSignupAdapter(DefaultAccountAdapter):
    """Users are created by the security team; the public cannot sign up."""

    def is_open_for_signup(self, request):
        return False
