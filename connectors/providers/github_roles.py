"""GitHub's role names and permission maps, and the level each one confers (CONTRACT "Levels").

Repository roles: https://docs.github.com/en/organizations/managing-user-access-to-your-organizations-repositories/managing-repository-roles/repository-roles-for-an-organization
Custom repository roles: https://docs.github.com/en/enterprise-cloud@latest/organizations/managing-user-access-to-your-organizations-repositories/managing-repository-roles/about-custom-repository-roles
App permissions: https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps
"""

from ..base import ConnectorError
from ..choices import Level

# The REST API still says pull/push in places.
ROLE_LEVELS = {
    "read": Level.READ,
    "pull": Level.READ,
    "triage": Level.READ,
    "write": Level.WRITE,
    "push": Level.WRITE,
    "maintain": Level.WRITE,
    "admin": Level.ADMIN,
}
# The permissions booleans, strongest first, with the role each one means: a custom role's base role.
PERMISSION_FLAGS = (
    ("admin", "admin"),
    ("maintain", "maintain"),
    ("push", "write"),
    ("triage", "triage"),
    ("pull", "read"),
)
TEAM_ROLE_LEVELS = {"member": Level.READ, "maintainer": Level.ADMIN}
BASE_PERMISSION_LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}
APP_PERMISSION_LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}
# Writing these app permissions administers the repository or organization.
APP_ADMIN_PERMISSIONS = frozenset({"administration", "organization_administration"})


def repository_role(role_name: str | None, permissions: dict | None) -> tuple[str, Level]:
    """(role name verbatim, level). A custom role's level is its base role's, read from the permissions
    booleans; without role_name (older Enterprise Server) the booleans name the role too."""
    flags = permissions or {}
    if role_name in ROLE_LEVELS:
        return role_name, ROLE_LEVELS[role_name]
    base = next((role for flag, role in PERMISSION_FLAGS if flags.get(flag)), None)
    if base is None:
        raise ConnectorError(f"cannot tell the level of role {role_name!r}: no permissions given", permanent=True)
    return role_name or base, ROLE_LEVELS[base]


def app_permissions(permissions: dict[str, str]) -> tuple[str, Level]:
    """An app installation's map as "name:access,…" sorted by name, and the highest level in it."""
    compact = ",".join(f"{name}:{access}" for name, access in sorted(permissions.items()))
    levels = [Level.READ]
    for name, access in permissions.items():
        level = APP_PERMISSION_LEVELS.get(access, Level.READ)
        if name in APP_ADMIN_PERMISSIONS and level >= Level.WRITE:
            level = Level.ADMIN
        levels.append(level)
    return compact, max(levels)
