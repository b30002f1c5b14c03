"""Artifactory's permission vocabulary: actions and their levels, permission targets, token scopes.

Permission target JSON (v2): https://www.jfrog.com/confluence/display/JFROG/Artifactory+REST+API+V2 and
https://jfrog.com/help/r/jfrog-rest-apis/get-permission-targets-per-group (``repo``, ``build`` and
``releaseBundle`` sections, each with repositories, include/exclude patterns and ``actions`` per user and
group; permission targets do not apply to virtual repositories). Actions: read, annotate, write (deploy),
delete, manage (https://jfrog.com/help/r/jfrog-platform-administration-documentation/permissions); v1 used
the letters r, n, w, d, m. Token scopes: https://jfrog.com/help/r/jfrog-platform-administration-documentation/access-tokens
(``applied-permissions/user``, ``applied-permissions/admin``, ``applied-permissions/groups:a,b``, and the
older ``member-of-groups:a,b``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..choices import Level

SECTIONS = ("repo", "build", "releaseBundle")
LEGACY_ACTIONS = {"r": "read", "n": "annotate", "w": "write", "d": "delete", "m": "manage"}
# CONTRACT "Levels": read, annotate -> read; write (deploy) -> write; delete, manage -> admin.
ACTION_LEVELS = {
    "read": Level.READ,
    "annotate": Level.READ,
    "write": Level.WRITE,
    "deploy": Level.WRITE,
    "delete": Level.ADMIN,
    "manage": Level.ADMIN,
    # Xray metadata and release-bundle distribution change content others consume: write.
    "managedXrayMeta": Level.WRITE,
    "distribute": Level.WRITE,
}
ACTION_ORDER = ("read", "annotate", "write", "deploy", "delete", "manage", "managedXrayMeta", "distribute")
# Pseudo repositories and the repository classes each stands for (ANY leaves virtual repositories out:
# permission targets do not apply to them). Federated repositories are local repositories kept in sync
# across sites, so ANY LOCAL counts them (fail closed: rather a row too many than a missing one).
ANY_REPOSITORIES = {
    "ANY": frozenset({"LOCAL", "REMOTE", "FEDERATED", "DISTRIBUTION"}),
    "ANY LOCAL": frozenset({"LOCAL", "FEDERATED"}),
    "ANY REMOTE": frozenset({"REMOTE"}),
    "ANY DISTRIBUTION": frozenset({"DISTRIBUTION"}),
}


def action_level(action: str) -> Level:
    """An unknown action counts as admin: a reviewer should look at it rather than miss it."""
    return ACTION_LEVELS.get(LEGACY_ACTIONS.get(action, action), Level.ADMIN)


def normalize_actions(actions: Iterable[str]) -> list[str]:
    """Verbatim names (v1 letters spelled out), once each, in Artifactory's UI order."""
    names = {LEGACY_ACTIONS.get(action, action) for action in actions if action}
    known = [action for action in ACTION_ORDER if action in names]
    return known + sorted(names - set(ACTION_ORDER))


def highest(actions: Iterable[str]) -> Level | None:
    levels = [action_level(action) for action in actions]
    return max(levels) if levels else None


@dataclass(frozen=True)
class Holding:
    """One principal's actions on one permission target, per section."""

    kind: str  # "users" | "groups"
    name: str
    actions: dict[str, list[str]]  # section -> normalized actions (non-empty)

    @property
    def permission(self) -> str:
        """Repository actions as is ("read,write"); other sections prefixed ("build:read,manage")."""
        parts = [",".join(self.actions["repo"])] if "repo" in self.actions else []
        parts += [f"{section}:{','.join(self.actions[section])}" for section in SECTIONS[1:] if section in self.actions]
        return " ".join(parts)

    @property
    def level(self) -> Level:
        return max(highest(actions) or Level.READ for actions in self.actions.values())

    @property
    def repository_level(self) -> Level | None:
        """What the grant confers on each repository the target reaches (repository section only)."""
        return highest(self.actions.get("repo", ()))


def holdings(target: dict) -> list[Holding]:
    """Every user and group named in any section, with their non-empty actions, users first."""
    found: dict[tuple[str, str], dict[str, list[str]]] = {}
    for section in SECTIONS:
        actions = (target.get(section) or {}).get("actions") or {}
        for kind in ("users", "groups"):
            for name, granted in (actions.get(kind) or {}).items():
                normalized = normalize_actions(granted or ())
                if normalized:
                    found.setdefault((kind, name), {})[section] = normalized
    ordered = sorted(found.items(), key=lambda item: (item[0][0] != "users", item[0][1]))
    return [Holding(kind, name, actions) for (kind, name), actions in ordered]


def without(target: dict, kind: str, name: str, *, keep_up_to: Level | None = None) -> dict:
    """The target's JSON with one principal removed from every section (or its actions capped at a level)."""
    body = {key: value for key, value in target.items()}
    for section in SECTIONS:
        part = target.get(section)
        if not isinstance(part, dict):
            continue
        part = dict(part)
        actions = {
            key: dict(value) if isinstance(value, dict) else value for key, value in (part.get("actions") or {}).items()
        }
        entries = actions.get(kind)
        if isinstance(entries, dict) and name in entries:
            kept = [] if keep_up_to is None else [a for a in entries[name] or () if action_level(a) <= keep_up_to]
            if kept:
                entries[name] = kept
            else:
                del entries[name]
        part["actions"] = actions
        body[section] = part
    return body


def holding_of(target: dict, kind: str, name: str) -> Holding | None:
    return next((h for h in holdings(target) if h.kind == kind and h.name == name), None)


@dataclass(frozen=True)
class Reach:
    """The repositories a target's repository section applies to, and what could not be resolved."""

    keys: list[str]
    missing: list[str] = field(default_factory=list)  # named repositories that do not exist (deleted?)
    expanded: dict[str, int] = field(default_factory=dict)  # ANY… -> how many repositories it stood for


def reach(repositories: Iterable[str], classes: dict[str, str]) -> Reach:
    """``classes``: repository key -> class (LOCAL, REMOTE, VIRTUAL, FEDERATED, DISTRIBUTION)."""
    keys: dict[str, None] = {}
    missing: list[str] = []
    expanded: dict[str, int] = {}
    for entry in repositories:
        wanted = ANY_REPOSITORIES.get(entry)
        if wanted is None:
            if entry in classes:
                keys.setdefault(entry)
            elif entry:
                missing.append(entry)
            continue
        matched = [key for key, rclass in classes.items() if rclass in wanted]
        expanded[entry] = len(matched)
        for key in matched:
            keys.setdefault(key)
    return Reach(list(keys), missing, expanded)


def explain(repo: dict, resolved: Reach) -> str:
    """One sentence for reviewers: which repositories, and which paths inside them."""
    parts = [f"{entry} ({count} {_plural(count)})" for entry, count in resolved.expanded.items()]
    named = [entry for entry in repo.get("repositories") or () if entry and entry not in resolved.expanded]
    if named:
        missing = f" ({len(resolved.missing)} missing)" if resolved.missing else ""
        parts.append(f"{len(named)} named {_plural(len(named))}{missing}")
    include = patterns(repo.get("include-patterns")) or ["**"]
    exclude = patterns(repo.get("exclude-patterns"))
    paths = "all paths" if include == ["**"] else f"paths matching {', '.join(include)}"
    if exclude:
        paths += f" except {', '.join(exclude)}"
    return f"{' and '.join(parts) or 'no repositories'}; {paths}"


def _plural(count: int) -> str:
    return "repository" if count == 1 else "repositories"


def patterns(values: Iterable[str] | None) -> list[str]:
    """Artifactory sends no exclude patterns as [""]."""
    return [value for value in values or () if value]


@dataclass(frozen=True)
class Scope:
    """What an access token's scope says it may do."""

    admin: bool = False
    as_user: bool = False  # applied-permissions/user: the subject user's own permissions
    groups: tuple[str, ...] = ()  # applied-permissions/groups:… or member-of-groups:… ("*": the user's groups)
    other: tuple[str, ...] = ()  # api:*, project roles, …: kept verbatim, no grant derived


def parse_scope(scope: str | None) -> Scope:
    """A missing scope is the creation default, applied-permissions/user."""
    admin = as_user = False
    groups: list[str] = []
    other: list[str] = []
    for part in (scope or "applied-permissions/user").split():
        if part == "applied-permissions/admin":
            admin = True
        elif part == "applied-permissions/user":
            as_user = True
        elif part.startswith(("applied-permissions/groups:", "member-of-groups:")):
            groups.extend(name for name in part.split(":", 1)[1].split(",") if name)
        else:
            other.append(part)
    return Scope(admin, as_user, tuple(dict.fromkeys(groups)), tuple(other))


def token_groups(
    scope: Scope, user: str | None, user_groups: dict[str, list[str]], acts_as: dict
) -> list[tuple[str, dict]]:
    """(group, attributes) a token is effectively a member of: its user's groups, and those its scope names."""
    found: dict[str, dict] = {}
    own = user_groups.get(user or "", [])
    if acts_as:
        found.update((group, acts_as) for group in own)
    for group in scope.groups:
        for name in own if group == "*" else [group]:
            found.setdefault(name, {"scope": "applied-permissions/groups"})
    return list(found.items())


def subject_user(subject: str | None) -> str | None:
    """The user a token subject names (jfac@01…/users/alice -> alice); a bare name is kept; services -> None."""
    if not subject:
        return None
    if "/users/" in subject:
        return subject.rsplit("/users/", 1)[1] or None
    return None if "@" in subject or "/" in subject else subject


def from_epoch(value) -> datetime | None:
    if value in (None, "", 0):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_time(value: str | None) -> datetime | None:
    """Artifactory's ISO 8601 forms: 2023-11-14T22:13:20.000Z, …+0000, …+00:00."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
