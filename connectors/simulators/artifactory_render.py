"""JSON forms of the Artifactory simulator's objects, as the JFrog REST API writes and reads them.

User details: https://www.jfrog.com/confluence/display/JFROG/Security+Configuration+JSON (``lastLoggedIn`` as
ISO 8601 with milliseconds; left out for a user who never logged in). Permission targets v2:
https://www.jfrog.com/confluence/display/JFROG/Artifactory+REST+API+V2 (no exclude patterns are sent as
``[""]``, empty action maps are left out). Tokens: https://jfrog.com/help/r/jfrog-rest-apis/get-tokens
(optional fields only when set; never the token itself).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .artifactory_org import ACTIONS, AccessToken, ArtifactoryInstance, PermissionTarget, Section, User

# v1 letters still accepted in PUT bodies written by old clients.
LEGACY_ACTIONS = {"r": "read", "n": "annotate", "w": "write", "d": "delete", "m": "manage"}
SECTION_ACTIONS = frozenset({*ACTIONS, "managedXrayMeta", "distribute"})


def _iso_millis(epoch: int) -> str:
    """Artifactory's lastLoggedIn form, e.g. 2023-11-14T22:13:20.000Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def render_user(user: User, groups: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": user.name,
        "email": user.email,
        "admin": user.admin,
        "profileUpdatable": user.profile_updatable,
        "disableUIAccess": user.disable_ui_access,
        "internalPasswordDisabled": user.internal_password_disabled,
        "realm": user.realm,
        "groups": groups,
        "watchManager": False,
        "policyManager": False,
        "reportsManager": False,
    }
    if user.last_logged_in is not None:
        body["lastLoggedIn"] = _iso_millis(user.last_logged_in)
    return body


def render_section(section: Section) -> dict[str, Any]:
    actions: dict[str, Any] = {}
    if section.users:
        actions["users"] = {user: list(a) for user, a in section.users.items()}
    if section.groups:
        actions["groups"] = {group: list(a) for group, a in section.groups.items()}
    return {
        "include-patterns": list(section.include_patterns),
        "exclude-patterns": list(section.exclude_patterns) or [""],
        "repositories": list(section.repositories),
        "actions": actions,
    }


def render_permission(target: PermissionTarget) -> dict[str, Any]:
    body: dict[str, Any] = {"name": target.name}
    for name, section in target.sections.items():
        body[name] = render_section(section)
    return body


def render_token(token: AccessToken, service_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token_id": token.token_id,
        "subject": token.subject,
        "issued_at": token.issued_at,
        "issuer": service_id,
        "refreshable": token.refreshable,
        "scope": token.scope,
    }
    optional = {
        "expiry": token.expiry,
        "description": token.description,
        "last_used": token.last_used,
        "owner": token.owner,
        "project": token.project,
    }
    body.update({key: value for key, value in optional.items() if value not in (None, "")})
    return body


def parse_permission(name: str, body: dict[str, Any], instance: ArtifactoryInstance) -> PermissionTarget:
    """A PUT body as Artifactory reads it: a left-out section is gone; a bad shape raises ValueError (a 400)."""
    sections: dict[str, Section] = {}
    for section_name in ("repo", "build", "releaseBundle"):
        raw = body.get(section_name)
        if raw is None:
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("repositories", []), list):
            raise ValueError(f"invalid {section_name} section")
        actions = raw.get("actions") or {}
        parsed: dict[str, dict[str, list[str]]] = {}
        for kind, known in (("users", instance.users), ("groups", instance.groups)):
            entries = actions.get(kind) or {}
            if not isinstance(entries, dict):
                raise ValueError(f"{section_name}.actions.{kind} must be an object")
            for principal, granted in entries.items():
                if principal not in known:
                    raise ValueError(f"{kind[:-1]} '{principal}' does not exist")
                names = [LEGACY_ACTIONS.get(action, action) for action in granted or []]
                if not all(action in SECTION_ACTIONS for action in names):
                    raise ValueError(f"unknown action in {names!r}")
            parsed[kind] = {p: [LEGACY_ACTIONS.get(a, a) for a in g or []] for p, g in entries.items()}
        sections[section_name] = Section(
            repositories=list(raw.get("repositories") or []),
            include_patterns=[p for p in raw.get("include-patterns", ["**"]) if p] or ["**"],
            exclude_patterns=[p for p in raw.get("exclude-patterns", []) if p],
            users=parsed["users"],
            groups=parsed["groups"],
        )
    return PermissionTarget(name, sections)
