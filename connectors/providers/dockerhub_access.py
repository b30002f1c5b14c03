"""Docker Hub's roles, permissions and token scopes, and the level each one confers (CONTRACT "Levels").

Roles: https://docs.docker.com/enterprise/security/roles-and-permissions/core-roles/ (members pull what their
teams reach; editors create, edit and delete every repository and assign team permissions; owners do
everything). Team permissions on a repository: read / write / admin
(https://docs.docker.com/admin/organization/manage-a-team/). Organization access token scopes:
https://docs.docker.com/security/access-tokens/organization-access-tokens/#available-scopes and the
resource schema https://docs.docker.com/reference/api/hub/latest/schemas/orgAccessTokenResource/.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from ..base import AccountRecord, ConnectorError, GrantRecord, ResourceRecord
from ..choices import GrantKind, Level, ResourceType

REPOSITORY = ResourceType.REPOSITORY

# Org role (lowercase, as requests spell it) -> (level on the org, via, level cascaded to every repository).
ROLES: dict[str, tuple[Level, str, Level | None]] = {
    "member": (Level.READ, "direct", None),
    "editor": (Level.ADMIN, "direct", Level.ADMIN),
    "owner": (Level.OWNER, "org_owner", Level.ADMIN),
}
REPOSITORY_PERMISSIONS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN}

# Scopes that only read, or push images; every other scope (delete, edit, admin, membership edits, and
# any scope this table does not know yet) counts as admin: fail closed.
_READ_SCOPES = frozenset(
    {
        "scope-image-pull",
        "scope-repository-read",
        "scope-tag-read",
        "scope-webhook-read",
        "scope-repo-group-read",
        "scope-member-read",
        "scope-invite-read",
        "scope-group-read",
        "scope-activity-read",
        "scope-ram-read",
        "scope-report-read",
        "scope-repository-list",
        "scope-registry-usage-read",
        "scope-audit_events-read",
        "scope-governance-policy-read",
    }
)
_WRITE_SCOPES = frozenset({"scope-image-push", "scope-repository-create", "scope-cloud-connect"})
PUBLIC_REPOSITORIES = "*/*/public"


def role_grant(role: str) -> tuple[Level, str, Level | None]:
    """Roles come back capitalised (Owner) and are sent lowercase; an unknown role stops the sync."""
    try:
        return ROLES[role.lower()]
    except KeyError:
        raise ConnectorError(f"unknown Docker Hub organization role {role!r}", permanent=True) from None


def repository_permission(permission: str) -> Level:
    try:
        return REPOSITORY_PERMISSIONS[permission.lower()]
    except KeyError:
        raise ConnectorError(f"unknown Docker Hub repository permission {permission!r}", permanent=True) from None


def scopes_level(scopes) -> Level:
    """The highest level among the scopes (an empty set reads nothing, so read)."""
    levels = [Level.READ]
    for scope in scopes:
        if scope in _READ_SCOPES:
            continue
        levels.append(Level.WRITE if scope in _WRITE_SCOPES else Level.ADMIN)
    return max(levels)


@dataclass
class TokenGrants:
    """The grants of one organization access token, and the resource paths that named nothing here."""

    grants: list[GrantRecord] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)  # paths outside this org, or repositories that are gone


def token_grants(
    account: AccountRecord, resources: list[dict], org: ResourceRecord, repos: dict[str, ResourceRecord]
) -> TokenGrants:
    """One grant per repository or org the token reaches, with the scopes merged across its resources.

    ``ORG/*`` becomes one grant on the org cascading to every repository (it also covers repositories
    created later); other globs and ``*/*/public`` are matched against the repositories read now.
    ``repos`` maps ``ORG/REPO`` to its record; public ones carry ``attributes["private"] is False``.
    """
    found = TokenGrants()
    per_repo: dict[str, tuple[set[str], set[str]]] = {}  # path -> (scopes, resource paths that named it)
    everywhere: tuple[set[str], set[str]] = (set(), set())
    on_org: tuple[set[str], set[str]] = (set(), set())
    prefix = f"{org.path}/"
    for resource in resources:
        kind, path, scopes = resource.get("type"), str(resource.get("path") or ""), set(resource.get("scopes") or ())
        if kind == "TYPE_ORG":
            target = on_org if path.lower() == org.path.lower() else None
            matched = [] if target is None else [org.path]
        elif path == PUBLIC_REPOSITORIES:
            matched = [p for p, repo in repos.items() if repo.attributes.get("private") is False]
            target = None
        elif path.lower() == f"{prefix}*".lower():
            target, matched = everywhere, [path]
        elif any(char in path for char in "*?["):
            target, matched = None, [p for p in repos if fnmatch.fnmatchcase(p, path)]
        else:
            target, matched = None, [path] if path in repos else []
        if not matched:
            found.elsewhere.append(path)
            continue
        if target is not None:
            target[0].update(scopes)
            target[1].add(path)
            continue
        for repo_path in matched:
            held = per_repo.setdefault(repo_path, (set(), set()))
            held[0].update(scopes)
            held[1].add(path)

    def grant(resource_id: str, held: tuple[set[str], set[str]], **extra) -> GrantRecord:
        scopes, patterns = held
        level = scopes_level(scopes)
        if extra.get("cascade_to"):
            extra["cascade_level"] = level
        return GrantRecord(
            account_external_id=account.external_id,
            resource_external_id=resource_id,
            kind=GrantKind.PERMISSION,
            permission=",".join(sorted(scopes)),
            level=level,
            via="direct",
            attributes={"token_id": account.attributes["token_id"], "resource_paths": sorted(patterns)},
            **extra,
        )

    if on_org[1]:
        found.grants.append(grant(org.external_id, on_org))
    if everywhere[1]:
        found.grants.append(grant(org.external_id, everywhere, cascade_to=(REPOSITORY,), applies_to_self=False))
    found.grants.extend(grant(repos[path].external_id, held) for path, held in sorted(per_repo.items()))
    return found
