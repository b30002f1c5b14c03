"""Quay's role names, the level each confers (CONTRACT "Levels"), and the ids the inventory gives Quay objects.

Repository roles (UserPermission, TeamPermission): read, write, admin.
Team roles (TeamDescription): member, creator, admin; admin makes the team's members organization
administrators. Both in the API reference, https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_reference/permission
and https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_reference/team.

Quay's API exposes no numeric ids for users, teams or repositories, so the inventory's external ids are
built from names; read and revocation share these helpers so they always agree.
"""

from urllib.parse import quote

from ..base import ConnectorError
from ..choices import Level

REPO_ROLE_LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}
TEAM_ROLE_LEVELS = {"member": Level.READ, "creator": Level.WRITE, "admin": Level.ADMIN}
# What a downgrade asks for, per kind of role.
REPO_ROLE_FOR_LEVEL = {level: role for role, level in REPO_ROLE_LEVELS.items()}
TEAM_ROLE_FOR_LEVEL = {Level.READ: "member", Level.WRITE: "creator"}

DEFAULT_PERMISSION = "default_permission"  # the via of a prototype (see README-quay)


def repo_level(role: str) -> Level:
    try:
        return REPO_ROLE_LEVELS[role]
    except KeyError:
        raise ConnectorError(f"unknown Quay repository role {role!r}", permanent=True) from None


def team_level(role: str) -> Level:
    try:
        return TEAM_ROLE_LEVELS[role]
    except KeyError:
        raise ConnectorError(f"unknown Quay team role {role!r}", permanent=True) from None


def org_id(org: str) -> str:
    return f"org:{org}"


def team_id(org: str, team: str) -> str:
    return f"team:{org}/{team}"


def repo_id(org: str, repo: str) -> str:
    return f"repo:{org}/{repo}"


def user_id(name: str) -> str:
    """Users and robots: robot names carry their namespace (``org+short``), so names are unique."""
    return f"robot:{name}" if "+" in name else f"user:{name}"


def invite_id(email: str) -> str:
    return f"invite:{email}"


def team_via(org: str, team: str) -> str:
    return f"team:{org}/{team}"


def segment(name: str) -> str:
    """One path segment: users, robots (``+``), teams, emails and prototype ids, fully escaped."""
    return quote(name, safe="")


def repo_path(org: str, repo: str) -> str:
    """``org/repo`` for ``/repository/…``: extended repository names keep their slashes, like Quay's URLs."""
    return f"{segment(org)}/{quote(repo, safe='/')}"
