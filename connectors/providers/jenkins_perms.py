"""Jenkins permissions: Java ids <-> the short names of JCasC and the UI, and their normalized levels.

Ids as Jenkins core and plugins define them (hudson.model.Item, hudson.model.Run, hudson.model.Computer,
hudson.model.View, hudson.scm.SCM, jenkins.model.Jenkins (group "hudson.model.Hudson"),
com.cloudbees.plugins.credentials.CredentialsProvider); the short names are what JCasC exports
(https://github.com/jenkinsci/configuration-as-code-plugin, `Job/Build`). Levels follow CONTRACT.md's
jenkins row and clarifications.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..choices import Level

# Short group name -> Java permission-group prefix.
GROUPS = {
    "Overall": "hudson.model.Hudson",
    "Job": "hudson.model.Item",
    "Run": "hudson.model.Run",
    "View": "hudson.model.View",
    "SCM": "hudson.scm.SCM",
    "Agent": "hudson.model.Computer",
    "Credentials": "com.cloudbees.plugins.credentials.CredentialsProvider",
}
PREFIX_TO_GROUP = {prefix: group for group, prefix in GROUPS.items()}

READ = Level.READ
WRITE = Level.WRITE
ADMIN = Level.ADMIN
OWNER = Level.OWNER
LEVELS: dict[str, Level] = {
    "Overall/Administer": OWNER,
    "Overall/Manage": OWNER,
    "Overall/Read": READ,
    "Overall/SystemRead": READ,
    "Job/Read": READ,
    "Job/Discover": READ,
    "Job/ExtendedRead": READ,
    "View/Read": READ,
    "Run/Artifacts": READ,
    "Job/Build": WRITE,
    "Job/Cancel": WRITE,
    "Job/Workspace": WRITE,
    "Job/WipeOut": WRITE,
    "Run/Replay": WRITE,
    "Run/Update": WRITE,
    "SCM/Tag": WRITE,
    "Job/Configure": ADMIN,
    "Job/Create": ADMIN,
    "Job/Delete": ADMIN,
    "Job/Move": ADMIN,
    "Run/Delete": ADMIN,
    "View/Configure": ADMIN,
    "View/Create": ADMIN,
    "View/Delete": ADMIN,
}
# Groups whose permissions apply to items (folders and jobs) and so cascade onto them.
ITEM_GROUPS = ("Job", "Run", "SCM", "Credentials")
AGENT_GROUP = "Agent"
ADMINISTER = "Overall/Administer"


def short_name(permission: str) -> str:
    """``hudson.model.Item.Build`` -> ``Job/Build``; short names pass through; unknown ids stay verbatim."""
    if "/" in permission:
        return permission
    prefix, _, name = permission.rpartition(".")
    group = PREFIX_TO_GROUP.get(prefix)
    return f"{group}/{name}" if group else permission


def java_id(permission: str) -> str:
    group, sep, name = permission.partition("/")
    if not sep or group not in GROUPS:
        return permission
    return f"{GROUPS[group]}.{name}"


def level_of(permission: str) -> Level:
    """A permission's level; Credentials/* and Agent/* are admin, and so is any permission we do not know
    (a plugin's), so that an unknown right is reviewed rather than understated."""
    name = short_name(permission)
    if name in LEVELS:
        return LEVELS[name]
    return ADMIN


def highest(permissions: Iterable[str]) -> Level | None:
    levels = [level_of(p) for p in permissions]
    return max(levels) if levels else None


def item_level(permissions: Iterable[str]) -> Level | None:
    """The level a set of permissions confers on a folder or job: its item permissions; Administer -> admin."""
    names = [short_name(p) for p in permissions]
    if ADMINISTER in names:
        return ADMIN
    levels = [level_of(n) for n in names if n.split("/", 1)[0] in ITEM_GROUPS]
    return max(levels) if levels else None


def agent_level(permissions: Iterable[str]) -> Level | None:
    names = [short_name(p) for p in permissions]
    if ADMINISTER in names:
        return ADMIN
    return ADMIN if any(n.split("/", 1)[0] == AGENT_GROUP for n in names) else None


def parse_entry(text: str) -> tuple[str, str, str]:
    """A matrix line -> (type, permission id, sid): ``USER:hudson.model.Item.Read:alice``, or the legacy
    unprefixed ``hudson.model.Item.Read:alice``, which means a user or a group (EITHER)."""
    text = text.strip()
    kind, sep, rest = text.partition(":")
    if sep and kind in ("USER", "GROUP"):
        permission, _, sid = rest.partition(":")
        return kind, permission, sid
    permission, _, sid = text.partition(":")
    return "EITHER", permission, sid
