"""Harbor's project roles and robot permissions, and the level each confers (CONTRACT "Levels").

Project roles: https://goharbor.io/docs/2.16.0/administration/managing-users/user-permissions-by-role/
(ids in goharbor/harbor src/common/const.go). Harbor 2.16 added custom project roles made of chosen
permissions (https://goharbor.io/docs/2.16.0/administration/managing-users/); their permissions are not
read here, so a custom role counts as owner until they are (fail closed: a reviewer sees too much, never
too little). Robot permissions are (resource, action) pairs
(https://goharbor.io/docs/2.6.0/administration/robot-accounts/, resources and actions in
src/common/rbac/const.go); a robot's set takes the highest level among them.
"""

from __future__ import annotations

from ..choices import Level

# role id -> (Harbor's role name, level)
ROLES: dict[int, tuple[str, Level]] = {
    1: ("projectAdmin", Level.OWNER),
    2: ("developer", Level.WRITE),
    3: ("guest", Level.READ),
    4: ("maintainer", Level.ADMIN),
    5: ("limitedGuest", Level.READ),
}
# The role a downgrade sets: the strongest role at each level (guest rather than limited guest).
ROLE_FOR_LEVEL: dict[Level, int] = {Level.READ: 3, Level.WRITE: 2, Level.ADMIN: 4, Level.OWNER: 1}

READ_ACTIONS = frozenset({"pull", "read", "list", "scanner-pull"})
WRITE_ACTIONS = frozenset({"push", "create", "update", "operate", "stop"})
# Deleting content, or any action ("*"), is a robot's "delete" level: admin.
ADMIN_ACTIONS = frozenset({"delete", "*"})
# Changing these changes who may do what, or the project's policies: admin even without delete.
ADMIN_RESOURCES = frozenset(
    {
        "member",
        "robot",
        "metadata",
        "configuration",
        "user",
        "user-group",
        "immutable-tag",
        "tag-retention",
        "quota",
        "scanner",
        "*",
    }
)


CUSTOM_ROLE_NOTE = "a custom role: its permissions are not read, so it counts as owner"


def member_role(role_id: int | None, role_name: str | None) -> tuple[str, Level]:
    """(role name, level) of a project membership; a role that is not built in counts as owner."""
    if role_id in ROLES:
        name, level = ROLES[role_id]
        return role_name or name, level
    return role_name or f"role {role_id}", Level.OWNER


def action_level(resource: str, action: str) -> Level:
    """The level one allowed (resource, action) confers; an action we do not know counts as a write."""
    if action in ADMIN_ACTIONS:
        return Level.ADMIN
    if action in READ_ACTIONS:
        return Level.READ
    return Level.ADMIN if resource in ADMIN_RESOURCES else Level.WRITE


def robot_access(access: list[dict]) -> tuple[str, Level]:
    """A robot permission's access list as "resource:action,…" (sorted; denied ones as "!resource:action")
    and the highest level among the allowed ones (read if it allows nothing)."""
    allowed: set[tuple[str, str]] = set()
    denied: set[tuple[str, str]] = set()
    for entry in access:
        pair = (str(entry.get("resource") or ""), str(entry.get("action") or ""))
        (denied if (entry.get("effect") or "allow") == "deny" else allowed).add(pair)
    parts = [f"{resource}:{action}" for resource, action in sorted(allowed)]
    parts += [f"!{resource}:{action}" for resource, action in sorted(denied)]
    return ",".join(parts), max((action_level(*pair) for pair in allowed), default=Level.READ)


def parse_permission(permission: str) -> list[tuple[str, str]]:
    """The allowed (resource, action) pairs of a permission string made by robot_access()."""
    pairs = []
    for part in permission.split(","):
        if part and not part.startswith("!"):
            resource, _, action = part.rpartition(":")
            pairs.append((resource, action))
    return pairs
