"""GitLab access levels (docs.gitlab.com/api/members/#roles) and the contract's level for each."""

from ..choices import Level

ROLE_NAMES = {
    5: "minimal_access",
    10: "guest",
    15: "planner",
    20: "reporter",
    30: "developer",
    40: "maintainer",
    50: "owner",
}
# The highest GitLab role at each contract level: what a downgrade to that level sets.
ACCESS_FOR_LEVEL = {Level.READ: 20, Level.WRITE: 30, Level.ADMIN: 40, Level.OWNER: 50}
# Deploy-token scopes that write (docs.gitlab.com/user/project/deploy_tokens/#scope).
WRITE_SCOPES = {"write_repository", "write_registry", "write_package_registry", "write_virtual_registry"}


def level_for(access_level: int) -> Level:
    if access_level >= 50:
        return Level.OWNER
    if access_level >= 40:
        return Level.ADMIN
    if access_level >= 30:
        return Level.WRITE
    return Level.READ


def member_role(member: dict) -> tuple[str, Level]:
    """Role name and level of a member row; a custom role takes the level of its base role."""
    custom = member.get("member_role") or None
    base = int((custom or {}).get("base_access_level") or member.get("access_level") or 0)
    name = custom["name"] if custom else ROLE_NAMES.get(base, f"access_level_{base}")
    return name, level_for(base)
