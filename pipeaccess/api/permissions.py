"""Who may call what: the roles of pipeaccess.roles, and read-only tokens that can only read."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from pipeaccess.auth_audit import record_denied
from pipeaccess.mfa import API_MESSAGE, lacks_required_mfa
from pipeaccess.models import ApiToken
from pipeaccess.roles import is_auditor, is_security


class TokenScope(BasePermission):
    """A read-only token may only read, whatever its user's roles."""

    message = "this token is read-only"

    def has_permission(self, request, view):
        if isinstance(request.auth, ApiToken) and request.auth.read_only:
            return request.method in SAFE_METHODS
        return True


class SecurityRoleHasMFA(BasePermission):
    """A security-role user without two-factor authentication may not use the API at all, tokens included
    (pipeaccess.mfa): a token must not be the way around the second factor. The refusal is audited."""

    message = API_MESSAGE

    def has_permission(self, request, view):
        if lacks_required_mfa(request.user):
            # The Django request: the audit middleware sees the same mark and does not record it twice.
            record_denied(request._request, reason="mfa required", view=type(view).__name__)
            return False
        return True


class InventoryReader(BasePermission):
    """The inventory, sync runs, revocations and the audit trail: the security team and auditors."""

    message = "the security or auditor role is required"

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated) and (is_security(user) or is_auditor(user))


class SecurityForChanges(BasePermission):
    """Changes (closing a campaign) are the security team's; reading follows the view's own rules."""

    message = "the security role is required"

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or is_security(request.user)
