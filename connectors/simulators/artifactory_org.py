"""The Artifactory instance behind the simulator: users, groups, repositories, permission targets, access tokens.

Build one by hand with the ``add_*`` helpers (tests), or :meth:`ArtifactoryInstance.generate` a plausible one
from a seed (demo, bench: 3,000 users, 1,000 repositories and 300 permission targets in well under a second).
The model also answers what a correct connector must find (:meth:`ArtifactoryInstance.facts`), how few
REST requests can enumerate it (:meth:`ArtifactoryInstance.rest_lower_bound`), and changes itself between
syncs (:meth:`ArtifactoryInstance.mutate_fraction` and the ``add_*``/``remove_*`` helpers).

Access rules follow JFrog's:
* permission targets (repositories incl. ``ANY``/``ANY LOCAL``/``ANY REMOTE``/``ANY DISTRIBUTION``,
  include/exclude patterns, actions per user and group): https://jfrog.com/help/r/jfrog-platform-administration-documentation/permissions
  and the v2 JSON of https://jfrog.com/help/r/jfrog-rest-apis/get-permission-target-details;
  permission targets do not apply to virtual repositories
  (https://jfrog.com/help/r/jfrog-rest-apis/get-permission-targets-per-group);
* groups with admin privileges make their members administrators
  (https://jfrog.com/help/r/jfrog-rest-apis/get-group-details);
* access tokens carry a subject and a scope (``applied-permissions/user|admin|groups:…``) and are revoked
  by id, idempotently (https://jfrog.com/help/r/jfrog-rest-apis/revoke-token-by-id).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("read", "annotate", "write", "delete", "manage")
SECTIONS = ("repo", "build", "releaseBundle")
REPO_CLASSES = ("local", "remote", "virtual", "federated", "distribution")
# Pseudo repositories of a permission target and the repository classes each stands for.
# Permission targets do not apply to virtual repositories, so ANY leaves them out.
ANY_REPOSITORIES = {
    "ANY": frozenset({"local", "remote", "federated", "distribution"}),
    "ANY LOCAL": frozenset({"local", "federated"}),
    "ANY REMOTE": frozenset({"remote"}),
    "ANY DISTRIBUTION": frozenset({"distribution"}),
}
# 2023-11-14T22:13:20Z: generated timestamps are spread around it.
EPOCH = 1_700_000_000
SERVICE_ID = "jfac@01hsimulated0artifactory0000"


@dataclass
class User:
    name: str
    email: str = ""
    admin: bool = False
    realm: str = "internal"
    status: str = "enabled"  # enabled | disabled | locked (Access v2 user status)
    last_logged_in: int | None = None  # epoch seconds; None: never logged in
    disable_ui_access: bool = False
    profile_updatable: bool = True
    internal_password_disabled: bool = False


@dataclass
class Group:
    name: str
    description: str = ""
    admin_privileges: bool = False
    auto_join: bool = False
    realm: str = "internal"
    external_id: str = ""
    members: list[str] = field(default_factory=list)  # user names, in the order they joined


@dataclass
class Repository:
    key: str
    rclass: str = "local"  # one of REPO_CLASSES
    package_type: str = "generic"
    description: str = ""


@dataclass
class Section:
    """One part (repo, build, releaseBundle) of a permission target."""

    repositories: list[str]
    include_patterns: list[str] = field(default_factory=lambda: ["**"])
    exclude_patterns: list[str] = field(default_factory=list)
    users: dict[str, list[str]] = field(default_factory=dict)  # user name -> actions
    groups: dict[str, list[str]] = field(default_factory=dict)  # group name -> actions


@dataclass
class PermissionTarget:
    name: str
    sections: dict[str, Section] = field(default_factory=dict)  # "repo" | "build" | "releaseBundle" -> section


@dataclass
class AccessToken:
    token_id: str
    subject: str  # e.g. "jfac@01…/users/alice"
    scope: str  # e.g. "applied-permissions/user", "applied-permissions/groups:readers,ci"
    issued_at: int
    expiry: int | None = None
    refreshable: bool = False
    description: str = ""
    last_used: int | None = None
    owner: str | None = None  # who created it, when the listing says
    project: str | None = None


@dataclass(frozen=True)
class Change:
    """One change made by :meth:`ArtifactoryInstance.mutate_fraction`."""

    kind: str  # added | removed | changed
    grant: str  # target_user | target_group (principal on a permission target) | member (user in a group)
    subject: str  # user or group name
    target: str  # permission target or group name
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None


@dataclass(frozen=True)
class InstanceFacts:
    """What a correct connector must find, computed from the model rather than from the API."""

    users: dict[str, tuple[bool, str, str]]  # name -> (admin, email, status)
    groups: dict[str, tuple[bool, frozenset[str]]]  # name -> (admin_privileges, members)
    repositories: dict[str, str]  # key -> class
    targets: dict[str, frozenset[str]]  # name -> repository keys the repo section reaches
    target_actions: frozenset[tuple[str, str, str, str, tuple[str, ...]]]  # (target, section, u|g, name, actions)
    tokens: dict[str, tuple[str, str]]  # token id -> (subject, scope)
    admins: frozenset[str]  # users that are administrators, by their flag or an admin group


class ArtifactoryInstance:
    """One Artifactory (with its Access service). Build by hand with the ``add_*`` helpers, or :meth:`generate`."""

    def __init__(self, *, version: str = "7.104.5", service_id: str = SERVICE_ID):
        self.version = version
        self.service_id = service_id
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.repositories: dict[str, Repository] = {}
        self.permissions: dict[str, PermissionTarget] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.revoked_tokens: set[str] = set()
        self._token_number = 0

    # -- users and groups

    def add_user(self, name: str, *, admin: bool = False, email: str | None = None, **fields: Any) -> User:
        user = User(name, email=f"{name}@example.com" if email is None else email, admin=admin, **fields)
        self.users[name] = user
        return user

    def remove_user(self, name: str) -> None:
        """Artifactory drops a deleted user from its groups, permission targets and (user-scoped) tokens."""
        del self.users[name]
        for group in self.groups.values():
            if name in group.members:
                group.members.remove(name)
        for target in self.permissions.values():
            for section in target.sections.values():
                section.users.pop(name, None)
        for token in list(self.tokens.values()):
            if token.subject.endswith(f"/users/{name}"):
                self.revoke_token(token.token_id)

    def set_admin(self, name: str, admin: bool) -> None:
        self.users[name].admin = admin

    def add_group(self, name: str, *, members: tuple[str, ...] | list[str] = (), **fields: Any) -> Group:
        group = Group(name, **fields)
        self.groups[name] = group
        for member in members:
            self.add_member(name, member)
        return group

    def remove_group(self, name: str) -> None:
        del self.groups[name]
        for target in self.permissions.values():
            for section in target.sections.values():
                section.groups.pop(name, None)

    def add_member(self, group: str, user: str) -> None:
        if user not in self.users:
            raise KeyError(f"no user {user!r}")
        members = self.groups[group].members
        if user not in members:
            members.append(user)

    def remove_member(self, group: str, user: str) -> None:
        members = self.groups[group].members
        if user in members:
            members.remove(user)

    def groups_of(self, user: str) -> list[str]:
        return [name for name, group in self.groups.items() if user in group.members]

    def is_admin(self, user: str) -> bool:
        """The admin flag, or membership of a group with admin privileges (Artifactory's effective admin)."""
        return self.users[user].admin or any(self.groups[name].admin_privileges for name in self.groups_of(user))

    # -- repositories and permission targets

    def add_repository(self, key: str, rclass: str = "local", package_type: str = "generic", description="") -> None:
        if rclass not in REPO_CLASSES:
            raise ValueError(f"repository class is one of {', '.join(REPO_CLASSES)}")
        self.repositories[key] = Repository(key, rclass, package_type, description)

    def remove_repository(self, key: str) -> None:
        """Named references in permission targets stay, as in Artifactory's JSON until the target is saved again."""
        del self.repositories[key]

    def add_permission(
        self,
        name: str,
        repositories: list[str] | tuple[str, ...] = ("ANY",),
        *,
        users: dict[str, list[str]] | None = None,
        groups: dict[str, list[str]] | None = None,
        include_patterns: list[str] | None = None,
        exclude_patterns: list[str] | None = None,
        build: Section | None = None,
        release_bundle: Section | None = None,
    ) -> PermissionTarget:
        repo = Section(
            list(repositories),
            include_patterns=list(include_patterns) if include_patterns is not None else ["**"],
            exclude_patterns=list(exclude_patterns or []),
            users={user: list(actions) for user, actions in (users or {}).items()},
            groups={group: list(actions) for group, actions in (groups or {}).items()},
        )
        sections = {"repo": repo}
        if build is not None:
            sections["build"] = build
        if release_bundle is not None:
            sections["releaseBundle"] = release_bundle
        target = PermissionTarget(name, sections)
        self.permissions[name] = target
        return target

    def remove_permission(self, name: str) -> None:
        del self.permissions[name]

    def set_actions(
        self, target: str, *, user: str | None = None, group: str | None = None, actions=(), section="repo"
    ):
        """Set (or with no actions, remove) one principal's actions in one section of a target."""
        holder = self.permissions[target].sections[section]
        names, name = (holder.users, user) if user is not None else (holder.groups, group)
        if name is None:
            raise ValueError("give user= or group=")
        if actions:
            names[name] = list(actions)
        else:
            names.pop(name, None)

    def reach(self, target: str, section: str = "repo") -> list[str]:
        """Repository keys a section applies to: named repositories that exist, and what ANY… stands for."""
        part = self.permissions[target].sections.get(section)
        if part is None:
            return []
        keys: dict[str, None] = {}
        for entry in part.repositories:
            classes = ANY_REPOSITORIES.get(entry)
            if classes is None:
                if entry in self.repositories:
                    keys.setdefault(entry)
                continue
            for key, repo in self.repositories.items():
                if repo.rclass in classes:
                    keys.setdefault(key)
        return list(keys)

    # -- access tokens

    def add_token(
        self,
        user: str,
        scope: str = "applied-permissions/user",
        *,
        token_id: str | None = None,
        issued_at: int = EPOCH,
        expiry: int | None = None,
        **fields: Any,
    ) -> AccessToken:
        """A token whose subject is ``user`` (a name that need not exist: group-scoped tokens may be transient)."""
        self._token_number += 1
        token_id = token_id or f"{self._token_number:08x}-5e1a-4c0f-9d3b-{self._token_number * 7919:012x}"
        token = AccessToken(token_id, f"{self.service_id}/users/{user}", scope, issued_at, expiry, **fields)
        self.tokens[token_id] = token
        return token

    def revoke_token(self, token_id: str) -> bool:
        """True if it was live; revoked ids are remembered (a second revocation answers 204)."""
        if token_id not in self.tokens:
            return False
        del self.tokens[token_id]
        self.revoked_tokens.add(token_id)
        return True

    # -- expectations for tests

    def facts(self) -> InstanceFacts:
        actions = set()
        for name, target in self.permissions.items():
            for section_name, section in target.sections.items():
                actions.update((name, section_name, "u", user, tuple(a)) for user, a in section.users.items())
                actions.update((name, section_name, "g", group, tuple(a)) for group, a in section.groups.items())
        return InstanceFacts(
            users={name: (user.admin, user.email, user.status) for name, user in self.users.items()},
            groups={name: (g.admin_privileges, frozenset(g.members)) for name, g in self.groups.items()},
            repositories={key: repo.rclass for key, repo in self.repositories.items()},
            targets={name: frozenset(self.reach(name)) for name in self.permissions},
            target_actions=frozenset(actions),
            tokens={token_id: (token.subject, token.scope) for token_id, token in self.tokens.items()},
            admins=frozenset(name for name in self.users if self.is_admin(name)),
        )

    expected_facts = facts

    def rest_plan(self, page_size: int = 1000) -> list[tuple[str, int]]:
        """The cheapest REST enumeration of everything: (request, requests it takes).

        Lists of the Artifactory API are whole arrays (one request); the Access v2 user and group lists
        are cursor-paginated (``limit`` up to ``page_size``). Admin flag and last login need the user's
        details, admin privileges and members the group's; each permission target is one more read.
        """
        pages = lambda count: max(1, math.ceil(count / page_size))  # noqa: E731
        plan = [
            ("GET /artifactory/api/repositories", 1),
            (f"GET /access/api/v2/users?limit={page_size}", pages(len(self.users))),
            ("GET /artifactory/api/security/users/{name}", len(self.users)),
            (f"GET /access/api/v2/groups?limit={page_size}", pages(len(self.groups))),
            ("GET /access/api/v2/groups/{name}", len(self.groups)),
            ("GET /artifactory/api/v2/security/permissions", 1),
            ("GET /artifactory/api/v2/security/permissions/{name}", len(self.permissions)),
            ("GET /access/api/v1/tokens", 1),
        ]
        return plan

    def rest_lower_bound(self, page_size: int = 1000) -> int:
        """Minimum requests for :meth:`rest_plan`: 6 + U + G + P plus extra pages past ``page_size`` names."""
        return sum(count for _, count in self.rest_plan(page_size))

    # -- mutation between syncs

    def grants(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        """Every grant as (kind, subject, target, actions), in a stable order (members have no actions)."""
        found: list[tuple[str, str, str, tuple[str, ...]]] = []
        for name, target in self.permissions.items():
            repo = target.sections.get("repo")
            if repo is None:
                continue
            found.extend(("target_user", user, name, tuple(a)) for user, a in repo.users.items())
            found.extend(("target_group", group, name, tuple(a)) for group, a in repo.groups.items())
        for name, group in self.groups.items():
            found.extend(("member", user, name, ()) for user in group.members)
        return found

    def mutate_fraction(self, fraction: float, seed: int = 0) -> list[Change]:
        """Change ``round(fraction × grants)`` grants (at least one): about half get other actions, a quarter are
        removed, and for a quarter a new grant of the same kind appears elsewhere."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        grants = self.grants()
        if fraction <= 0 or not grants:
            return []
        chosen = sorted(rng.sample(range(len(grants)), min(len(grants), max(1, round(fraction * len(grants))))))
        changes: list[Change] = []
        touched: set[tuple[str, str, str]] = set()
        for index in chosen:
            kind, subject, target, actions = grants[index]
            roll = rng.random()
            change = self._add_random_grant(rng, kind, touched) if roll >= 0.75 else None
            if change is None and (roll >= 0.5 or kind == "member"):
                change = self._remove_grant(kind, subject, target, actions)
            if change is None:
                new = tuple(rng.choice(_ACTION_SETS[1:]))
                if new == actions:
                    new = ("read",) if actions != ("read",) else ("read", "write")
                self._set(kind, subject, target, new)
                change = Change("changed", kind, subject, target, actions, new)
            changes.append(change)
            touched.add((change.grant, change.subject, change.target))
        return changes

    def _set(self, kind: str, subject: str, target: str, actions: tuple[str, ...]) -> None:
        if kind == "target_user":
            self.set_actions(target, user=subject, actions=actions)
        else:
            self.set_actions(target, group=subject, actions=actions)

    def _remove_grant(self, kind: str, subject: str, target: str, actions: tuple[str, ...]) -> Change:
        if kind == "member":
            self.remove_member(target, subject)
        else:
            self._set(kind, subject, target, ())
        return Change("removed", kind, subject, target, actions or None, None)

    def _add_random_grant(self, rng: random.Random, kind: str, touched: set[tuple[str, str, str]]) -> Change | None:
        users, groups, targets = list(self.users), list(self.groups), list(self.permissions)
        if not users or not groups or not targets:
            return None
        for _ in range(20):
            if kind == "member":
                subject, target = rng.choice(users), rng.choice(groups)
                if subject not in self.groups[target].members and (kind, subject, target) not in touched:
                    self.add_member(target, subject)
                    return Change("added", kind, subject, target, None, ())
                continue
            subject = rng.choice(users if kind == "target_user" else groups)
            target = rng.choice(targets)
            repo = self.permissions[target].sections.get("repo")
            if repo is None:
                continue
            held = repo.users if kind == "target_user" else repo.groups
            if subject not in held and (kind, subject, target) not in touched:
                actions = tuple(rng.choice(_ACTION_SETS))
                held[subject] = list(actions)
                return Change("added", kind, subject, target, None, actions)
        return None

    # -- generation

    @classmethod
    def generate(
        cls,
        seed: int = 1,
        users: int = 50,
        groups: int = 8,
        repositories: int = 30,
        permission_targets: int = 12,
        tokens: int = 10,
    ) -> ArtifactoryInstance:
        """A plausible instance, identical for identical arguments. ``users`` includes ``admin`` (whose token the
        simulator hands out by default) and the ``anonymous`` user; ``permission_targets`` includes
        Artifactory's two defaults, "Anything" and "Any Remote"."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        inst = cls()
        names = _NameFactory(rng)
        inst.add_user("admin", admin=True, last_logged_in=EPOCH - rng.randrange(86_400))
        inst.add_user("anonymous", email="", last_logged_in=None)
        for _ in range(max(0, users - 2)):
            name = names.next()
            realm = rng.choices(["internal", "ldap", "saml"], [6, 3, 1])[0]
            status = rng.choices(["enabled", "disabled", "locked"], [92, 6, 2])[0]
            logged_in = EPOCH - rng.randrange(400 * 86_400) if rng.random() < 0.85 else None
            inst.add_user(name, admin=rng.random() < 0.03, realm=realm, status=status, last_logged_in=logged_in)
        people = [name for name in inst.users if name != "anonymous"]

        inst.add_group("readers", description="A group for read-only users", auto_join=True, members=people)
        for index in range(max(0, groups - 1)):
            name = _unique(inst.groups, rng, _TEAMS, _GROUP_SUFFIX)
            admin = index == 0 or rng.random() < 0.02
            realm = rng.choices(["internal", "ldap"], [3, 1])[0]
            size = rng.randint(1, max(2, min(60, users // 4)))
            inst.add_group(
                name,
                description=f"{name.replace('-', ' ').title()} group",
                admin_privileges=admin,
                realm=realm,
                external_id=f"cn={name},ou=groups,dc=example,dc=com" if realm == "ldap" else "",
                members=rng.sample(people, min(size, len(people))),
            )
        group_names = [name for name in inst.groups if name != "readers"]

        for _ in range(repositories):
            rclass = rng.choices(REPO_CLASSES, [50, 25, 15, 5, 5])[0]
            package = rng.choice(_PACKAGES)
            key = _unique(inst.repositories, rng, _TEAMS, [package], [rclass])
            inst.add_repository(key, rclass, package, f"{package} {rclass} repository")
        keys = [key for key, repo in inst.repositories.items() if repo.rclass != "virtual"] or list(inst.repositories)

        inst.add_permission("Anything", ["ANY"], groups={"readers": ["read"]})
        inst.add_permission("Any Remote", ["ANY REMOTE"], users={"anonymous": ["read", "write"]})
        for _ in range(max(0, permission_targets - 2)):
            name = _unique(inst.permissions, rng, _TEAMS, _TARGET_WORDS)
            roll = rng.random()
            if roll < 0.1:
                repos = [rng.choice(["ANY LOCAL", "ANY REMOTE", "ANY"])]
            else:
                repos = rng.sample(keys, min(len(keys), rng.randint(1, 6))) if keys else []
            include = ["**"] if rng.random() < 0.75 else [f"{rng.choice(_TEAMS)}/**", "org/example/**"]
            exclude = [] if rng.random() < 0.8 else ["**/*-SNAPSHOT/**"]
            holders = {
                user: list(rng.choice(_ACTION_SETS)) for user in rng.sample(people, min(len(people), rng.randint(0, 4)))
            }
            teams = {
                group: list(rng.choice(_ACTION_SETS))
                for group in rng.sample(group_names, min(len(group_names), rng.randint(0, 3)))
            }
            build = None
            if rng.random() < 0.2 and teams:
                build = Section(["artifactory-build-info"], users={}, groups={next(iter(teams)): ["read", "manage"]})
            inst.add_permission(
                name,
                repos,
                users=holders,
                groups=teams,
                include_patterns=include,
                exclude_patterns=exclude,
                build=build,
            )

        for _ in range(tokens):
            roll = rng.random()
            issued = EPOCH - rng.randrange(300 * 86_400)
            expiry = issued + rng.choice([30, 90, 365, 730]) * 86_400 if rng.random() < 0.8 else None
            last_used = issued + rng.randrange(20 * 86_400) if rng.random() < 0.6 else None
            description = rng.choice(_TOKEN_PURPOSES)
            if roll < 0.15:
                subject, scope, owner = "admin", "applied-permissions/admin", "admin"
            elif roll < 0.35 and group_names:
                chosen = rng.sample(group_names, min(len(group_names), rng.randint(1, 2)))
                subject, scope, owner = (
                    f"token-{description}",
                    f"applied-permissions/groups:{','.join(chosen)}",
                    "admin",
                )
            else:
                subject = owner = rng.choice(people)
                scope = "applied-permissions/user"
            inst.add_token(
                subject,
                scope,
                issued_at=issued,
                expiry=expiry,
                refreshable=scope.endswith("/user"),
                description=description,
                last_used=last_used,
                owner=owner,
            )
        return inst


_ACTION_SETS = (
    ("read",),
    ("read", "annotate"),
    ("read", "annotate", "write"),
    ("read", "write", "delete"),
    ("read", "annotate", "write", "delete", "manage"),
    ("manage", "read"),
)
_FIRST = "alex sam jo kim lee max ana ben cara dev eli fay gus hana ivan jun kai lena mia noor omar pia ravi".split()
_FIRST += "sofia tom uma vik wen yara zoe ali bo cruz dana erin finn gia hugo iris".split()
_LAST = "smith garcia chen okafor novak silva kumar muller rossi tanaka khan haddad berg ivanova lopez nguyen".split()
_LAST += "park walker santos dubois kowalski ahmed larsen costa mendes oduya reyes schmidt yilmaz zhou".split()
_TEAMS = "platform payments mobile web data infra security sre growth search billing identity devex ml".split()
_TEAMS += "analytics support docs qa release api frontend backend ios android edge storage network ops".split()
_GROUP_SUFFIX = ["admins", "developers", "deployers", "ci", "release-managers", "auditors"]
_TARGET_WORDS = ["read", "deploy", "release", "snapshots", "cache", "publish", "ci"]
_PACKAGES = ["maven", "npm", "docker", "pypi", "generic", "helm", "go", "nuget", "gradle", "conda"]
_TOKEN_PURPOSES = ["ci", "jenkins", "github-actions", "terraform", "backup", "mirror", "release", "scanner"]


class _NameFactory:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[str, int] = {}

    def next(self) -> str:
        base = f"{self.rng.choice(_FIRST)}.{self.rng.choice(_LAST)}"
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return base if count == 1 else f"{base}{count}"


def _unique(taken: dict[str, Any], rng: random.Random, *words: list[str]) -> str:
    base = "-".join(rng.choice(choices) for choices in words)
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate
