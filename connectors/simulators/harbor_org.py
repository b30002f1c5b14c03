"""The Harbor instance behind the simulator: users, groups, projects, members, robots and settings.

Build one by hand with the ``add_*`` helpers (tests), or :meth:`HarborOrg.generate` a plausible one from
a seed (demo, bench: 1,000 projects and 3,000 users and robots in well under a second). The model also
answers what a correct connector must find (:meth:`HarborOrg.facts`), how few REST requests can
enumerate it (:meth:`HarborOrg.rest_lower_bound`), and changes itself between syncs
(:meth:`HarborOrg.mutate_fraction` and the ``add_*``/``remove_*``/``set_*`` helpers).

Harbor's rules followed here (goharbor/harbor, API v2.0, ``api/v2.0/swagger.yaml``):
* project roles 1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest (``src/common/const.go``),
  plus custom roles since Harbor 2.16 (their ids here start at 100); the creator of a project becomes its
  projectAdmin member;
* members are users (``entity_type`` u) or user groups (g: LDAP 1, HTTP 2, OIDC 3), addressed by member id;
* robots are project-level (one ``project`` permission, named ``robot$PROJECT+NAME``) or system-level
  (``robot$NAME``, any number of ``project`` permissions, namespace ``*`` for every project, plus
  ``system`` permissions on ``/``); ``expires_at`` -1 means never; legacy (v1) robots are not editable;
* a fresh instance has the ``admin`` user (id 1, system administrator) and the public ``library`` project.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ROLES = {1: "projectAdmin", 2: "developer", 3: "guest", 4: "maintainer", 5: "limitedGuest"}
ROLE_IDS = {name: number for number, name in ROLES.items()}
GROUP_TYPES = {"ldap": 1, "http": 2, "oidc": 3}
AUTH_MODES = ("db_auth", "ldap_auth", "oidc_auth", "http_auth")
DEFAULT_ROBOT_PREFIX = "robot$"
# Harbor's default robot_token_duration (days): what a robot update without a duration falls back to.
DEFAULT_ROBOT_DAYS = 30

_EPOCH = datetime(2022, 3, 7, 9, 0, tzinfo=UTC)


def iso(seconds: float) -> str:
    """Harbor's timestamps: RFC 3339 with milliseconds, UTC."""
    return (_EPOCH + timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class User:
    id: int
    username: str
    email: str = ""
    realname: str = ""
    sysadmin: bool = False
    password: str | None = None  # simulator-side credential; never rendered
    cli_secret: str | None = None  # OIDC CLI secret; Harbor shows it to the user in /users/current
    comment: str = ""
    created_at: str = ""


@dataclass
class Group:
    id: int
    name: str
    type: int  # 1 LDAP, 2 HTTP, 3 OIDC
    ldap_dn: str = ""


@dataclass
class Member:
    id: int
    project_id: int
    entity_type: str  # "u" or "g"
    entity_id: int
    role_id: int


@dataclass
class Project:
    id: int
    name: str
    owner_id: int
    public: bool = False
    registry_id: int | None = None  # set for proxy-cache projects
    created_at: str = ""
    repo_count: int = 0
    members: dict[int, Member] = field(default_factory=dict)  # member id -> member


@dataclass
class Access:
    resource: str
    action: str
    effect: str = "allow"


@dataclass
class RobotPermission:
    kind: str  # "project" or "system"
    namespace: str  # project name, "*" for every project, "/" for system
    access: list[Access]


@dataclass
class Robot:
    id: int
    name: str  # without prefix and project
    level: str  # "project" or "system"
    project_id: int  # 0 for system robots
    permissions: list[RobotPermission]
    description: str = ""
    duration: int = -1  # days; -1 never expires
    expires_at: int = -1
    disabled: bool = False
    editable: bool = True  # False for legacy (v1) robots: Harbor only updates their disable flag
    creator_type: str = "local"
    creator_ref: int = 1
    created_at: str = ""
    updated_at: str = ""
    secret: str | None = None  # simulator-side credential (so tests can log in as the robot); never listed


@dataclass(frozen=True)
class Change:
    """One change made by :meth:`HarborOrg.mutate_fraction`."""

    kind: str  # added | removed | changed
    project: str
    entity: str  # "u:USERNAME" or "g:GROUP"
    before: str | None
    after: str | None


@dataclass(frozen=True)
class HarborFacts:
    """What a correct connector must find, computed from the model rather than from the API."""

    auth_mode: str
    projects: dict[str, bool]  # name -> public
    users: frozenset[str]
    sysadmins: frozenset[str]  # users with the sysadmin flag
    groups: dict[str, str]  # name -> ldap | http | oidc
    user_members: frozenset[tuple[str, str, str]]  # (project, username, role name)
    group_members: frozenset[tuple[str, str, str]]  # (project, group name, role name)
    robots: dict[str, tuple[str, bool, int]]  # full name -> (level, disabled, expires_at)
    robot_grants: frozenset[tuple[str, str, str, tuple[str, ...]]]  # (full name, kind, namespace, resource:action…)
    admin_groups: frozenset[tuple[str, str]]  # (configuration item, group name or DN)
    admin_usernames: frozenset[str]  # http_authproxy_admin_usernames


class HarborOrg:
    """A Harbor instance's access data. Build by hand with the ``add_*`` helpers, or :meth:`generate`."""

    def __init__(self, *, auth_mode: str = "db_auth", robot_prefix: str = DEFAULT_ROBOT_PREFIX, defaults: bool = True):
        if auth_mode not in AUTH_MODES:
            raise ValueError(f"auth_mode is one of {', '.join(AUTH_MODES)}")
        self.auth_mode = auth_mode
        self.robot_prefix = robot_prefix
        self.version = "v2.13.0-simulated"
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.robots: dict[int, Robot] = {}
        self._user_by_name: dict[str, int] = {}
        self._project_by_name: dict[str, int] = {}
        # Configuration items that make members of a group (or named users) system administrators.
        self.ldap_group_admin_dn = ""
        self.oidc_admin_group = ""
        self.http_authproxy_admin_groups = ""
        self.http_authproxy_admin_usernames = ""
        self.custom_roles: dict[int, str] = {}  # Harbor 2.16+: role id -> name
        self._ids = {"user": 0, "group": 0, "project": 0, "member": 0, "robot": 0, "registry": 0, "role": 99}
        self._tick = 0
        if defaults:
            self.add_user("admin", sysadmin=True, password="Harbor12345")  # noqa: S106 - Harbor's documented default
            self.add_project("library", public=True, owner="admin")

    # -- ids and times

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _stamp(self) -> str:
        self._tick += 1
        return iso(self._tick * 5 * 3600)

    # -- roles

    def role_id(self, role: str | int) -> int:
        """A role's id from its name or id: built in, or custom."""
        if isinstance(role, int):
            number = role
        else:
            number = ROLE_IDS.get(role, next((n for n, name in self.custom_roles.items() if name == role), None))
        if number not in ROLES and number not in self.custom_roles:
            raise ValueError(f"unknown project role {role!r}; use one of {', '.join(ROLE_IDS)} or a custom role")
        return number

    def role_name(self, number: int) -> str:
        return ROLES.get(number) or self.custom_roles[number]

    def add_custom_role(self, name: str) -> int:
        number = self._next_id("role")
        self.custom_roles[number] = name
        return number

    # -- users and groups

    def user(self, username: str) -> User:
        return self.users[self._user_by_name[username]]

    def add_user(
        self,
        username: str,
        *,
        sysadmin: bool = False,
        email: str | None = None,
        realname: str = "",
        password: str | None = None,
        cli_secret: str | None = None,
    ) -> User:
        if username in self._user_by_name:
            raise ValueError(f"user {username} exists")
        user = User(
            self._next_id("user"),
            username,
            f"{username}@example.com" if email is None else email,
            realname,
            sysadmin,
            password,
            cli_secret,
            created_at=self._stamp(),
        )
        self.users[user.id] = user
        self._user_by_name[username] = user.id
        return user

    def remove_user(self, username: str) -> None:
        """Harbor marks the user deleted: gone from lists, and from every project."""
        user = self.users.pop(self._user_by_name.pop(username))
        for project in self.projects.values():
            for mid in [m.id for m in project.members.values() if m.entity_type == "u" and m.entity_id == user.id]:
                del project.members[mid]

    def set_sysadmin(self, username: str, flag: bool = True) -> None:
        self.user(username).sysadmin = flag

    def group(self, name: str) -> Group:
        return next(group for group in self.groups.values() if group.name == name)

    def add_group(self, name: str, *, type: str = "ldap", ldap_dn: str | None = None) -> Group:
        if type not in GROUP_TYPES:
            raise ValueError(f"group type is one of {', '.join(GROUP_TYPES)}")
        dn = (ldap_dn if ldap_dn is not None else f"cn={name},ou=groups,dc=example,dc=com") if type == "ldap" else ""
        group = Group(self._next_id("group"), name, GROUP_TYPES[type], dn)
        self.groups[group.id] = group
        return group

    # -- projects and members

    def project(self, name: str) -> Project:
        return self.projects[self._project_by_name[name]]

    def add_project(
        self, name: str, *, public: bool = False, owner: str = "admin", proxy_cache: bool = False, repo_count: int = 0
    ) -> Project:
        if name in self._project_by_name:
            raise ValueError(f"project {name} exists")
        owner_user = self.user(owner)
        project = Project(
            self._next_id("project"),
            name,
            owner_user.id,
            public,
            self._next_id("registry") if proxy_cache else None,
            self._stamp(),
            repo_count,
        )
        self.projects[project.id] = project
        self._project_by_name[name] = project.id
        self.add_member(name, user=owner, role="projectAdmin")
        return project

    def remove_project(self, name: str) -> None:
        project = self.projects.pop(self._project_by_name.pop(name))
        for robot_id in [r.id for r in self.robots.values() if r.project_id == project.id]:
            del self.robots[robot_id]

    def set_public(self, name: str, public: bool = True) -> None:
        self.project(name).public = public

    def add_member(
        self, project: str, *, user: str | None = None, group: str | None = None, role: str | int = "developer"
    ) -> Member:
        if (user is None) == (group is None):
            raise ValueError("a member is a user or a group")
        target = self.project(project)
        entity_type, entity_id = ("u", self.user(user).id) if user is not None else ("g", self.group(group).id)
        if any(m.entity_type == entity_type and m.entity_id == entity_id for m in target.members.values()):
            raise ValueError(f"{user or group} is already a member of {project}")
        member = Member(self._next_id("member"), target.id, entity_type, entity_id, self.role_id(role))
        target.members[member.id] = member
        return member

    def find_member(self, project: str, *, user: str | None = None, group: str | None = None) -> Member:
        target = self.project(project)
        entity_type, entity_id = ("u", self.user(user).id) if user is not None else ("g", self.group(group).id)
        return next(m for m in target.members.values() if m.entity_type == entity_type and m.entity_id == entity_id)

    def set_member_role(self, project: str, member_id: int, role: str | int) -> None:
        self.project(project).members[member_id].role_id = self.role_id(role)

    def remove_member(self, project: str, member_id: int) -> None:
        del self.project(project).members[member_id]

    def entity_name(self, member: Member) -> str:
        return (
            self.users[member.entity_id].username if member.entity_type == "u" else self.groups[member.entity_id].name
        )

    # -- robots

    def robot_name(self, robot: Robot) -> str:
        """The full name Harbor lists and authenticates: prefix, project and ``+`` for project robots."""
        if robot.level == "project":
            return f"{self.robot_prefix}{self.projects[robot.project_id].name}+{robot.name}"
        return f"{self.robot_prefix}{robot.name}"

    def robot(self, full_name: str) -> Robot:
        return next(robot for robot in self.robots.values() if self.robot_name(robot) == full_name)

    def add_project_robot(
        self,
        project: str,
        name: str,
        actions: Iterable[tuple[str, str]] = (("repository", "pull"),),
        **options,
    ) -> Robot:
        target = self.project(project)
        access = [Access(resource, action) for resource, action in actions]
        return self._add_robot(name, "project", target.id, [RobotPermission("project", project, access)], **options)

    def add_system_robot(
        self,
        name: str,
        projects: dict[str, Iterable[tuple[str, str]]] | None = None,
        system: Iterable[tuple[str, str]] = (),
        **options,
    ) -> Robot:
        """``projects`` maps a project name (or ``*`` for every project) to its (resource, action) pairs."""
        permissions = [
            RobotPermission("project", namespace, [Access(r, a) for r, a in actions])
            for namespace, actions in (projects or {}).items()
        ]
        system_access = [Access(r, a) for r, a in system]
        if system_access:
            permissions.append(RobotPermission("system", "/", system_access))
        if not permissions:
            raise ValueError("a robot needs at least one permission")
        return self._add_robot(name, "system", 0, permissions, **options)

    def _add_robot(
        self,
        name: str,
        level: str,
        project_id: int,
        permissions: list[RobotPermission],
        *,
        description: str = "",
        duration: int = -1,
        expires_at: int | None = None,
        disabled: bool = False,
        editable: bool = True,
        creator: str | None = "admin",
        secret: str | None = None,
    ) -> Robot:
        created = self._stamp()
        if expires_at is None:
            expires_at = -1 if duration == -1 else int(datetime.fromisoformat(created).timestamp()) + duration * 86400
        creator_user = self.user(creator) if creator is not None else None
        robot = Robot(
            self._next_id("robot"),
            name,
            level,
            project_id,
            permissions,
            description,
            duration,
            expires_at,
            disabled,
            editable,
            "local" if creator_user else "",
            creator_user.id if creator_user else 0,
            created,
            created,
            secret,
        )
        full = self.robot_name(robot)
        if any(self.robot_name(other) == full for other in self.robots.values()):
            raise ValueError(f"robot {full} exists")
        self.robots[robot.id] = robot
        return robot

    def remove_robot(self, full_name: str) -> None:
        del self.robots[self.robot(full_name).id]

    def set_robot_disabled(self, full_name: str, disabled: bool = True) -> None:
        self.robot(full_name).disabled = disabled

    def project_robots(self, project_id: int) -> list[Robot]:
        return [robot for robot in self.robots.values() if robot.level == "project" and robot.project_id == project_id]

    def system_robots(self) -> list[Robot]:
        return [robot for robot in self.robots.values() if robot.level == "system"]

    # -- settings

    def configure_admin_group(self, value: str) -> None:
        """Make a group's members system administrators, through the item that fits the auth mode."""
        if self.auth_mode == "ldap_auth":
            self.ldap_group_admin_dn = value
        elif self.auth_mode == "oidc_auth":
            self.oidc_admin_group = value
        elif self.auth_mode == "http_auth":
            self.http_authproxy_admin_groups = value
        else:
            raise ValueError("database authentication has no admin group")

    # -- expectations for tests

    def facts(self) -> HarborFacts:
        user_members, group_members = set(), set()
        for project in self.projects.values():
            for member in project.members.values():
                row = (project.name, self.entity_name(member), self.role_name(member.role_id))
                (user_members if member.entity_type == "u" else group_members).add(row)
        admin_groups = set()
        if self.auth_mode == "ldap_auth" and self.ldap_group_admin_dn.strip():
            admin_groups.add(("ldap_group_admin_dn", self.ldap_group_admin_dn.strip()))
        if self.auth_mode == "oidc_auth" and self.oidc_admin_group.strip():
            admin_groups.add(("oidc_admin_group", self.oidc_admin_group.strip()))
        usernames = ""
        if self.auth_mode == "http_auth":  # the auth proxy's items are comma-separated lists
            groups = self.http_authproxy_admin_groups.split(",")
            admin_groups.update(("http_authproxy_admin_groups", name.strip()) for name in groups if name.strip())
            usernames = self.http_authproxy_admin_usernames
        kinds = {1: "ldap", 2: "http", 3: "oidc"}
        return HarborFacts(
            auth_mode=self.auth_mode,
            projects={p.name: p.public for p in self.projects.values()},
            users=frozenset(u.username for u in self.users.values()),
            sysadmins=frozenset(u.username for u in self.users.values() if u.sysadmin),
            groups={g.name: kinds[g.type] for g in self.groups.values()},
            user_members=frozenset(user_members),
            group_members=frozenset(group_members),
            robots={self.robot_name(r): (r.level, r.disabled, r.expires_at) for r in self.robots.values()},
            robot_grants=frozenset(
                (
                    self.robot_name(r),
                    p.kind,
                    p.namespace,
                    tuple(sorted({f"{a.resource}:{a.action}" for a in p.access if a.effect == "allow"})),
                )
                for r in self.robots.values()
                for p in r.permissions
            ),
            admin_groups=frozenset(admin_groups),
            admin_usernames=frozenset(name.strip() for name in usernames.split(",") if name.strip()),
        )

    expected_facts = facts

    def rest_plan(self) -> list[tuple[str, int | None]]:
        """The cheapest REST enumeration of everything: (path with query, items listed or None for one object).

        Who is calling (is it an administrator?), the settings (admin groups), users, user groups and
        projects once; per project its members and its robots (``GET /robots`` without a query lists only
        system-level robots, and project robots need ``q=Level=project,ProjectID=N``); the system robots once.
        """
        plan: list[tuple[str, int | None]] = [
            ("/users/current", None),
            ("/configurations", None),
            ("/users", len(self.users)),
            ("/usergroups", len(self.groups)),
            ("/projects", len(self.projects)),
            ("/robots", len(self.system_robots())),
        ]
        robots_by_project: dict[int, int] = {}
        for robot in self.robots.values():
            if robot.level == "project":
                robots_by_project[robot.project_id] = robots_by_project.get(robot.project_id, 0) + 1
        for project in self.projects.values():
            plan.append((f"/projects/{project.id}/members", len(project.members)))
            plan.append((f"/robots?q=Level=project,ProjectID={project.id}", robots_by_project.get(project.id, 0)))
        return plan

    def rest_lower_bound(self, page_size: int = 100) -> int:
        """Minimum requests for :meth:`rest_plan`: ceil(n/page_size) per list, at least 1; 1 per single object."""
        return sum(1 if items is None else max(1, math.ceil(items / page_size)) for _, items in self.rest_plan())

    # -- mutation between syncs

    def memberships(self) -> list[tuple[str, int]]:
        """Every membership as (project name, member id), in a stable order."""
        return [(p.name, mid) for p in self.projects.values() for mid in p.members]

    def mutate_fraction(self, fraction: float, seed: int = 0) -> list[Change]:
        """Change ``round(fraction × memberships)`` memberships (at least one): about half get another role, a
        quarter are removed, and for a quarter a new membership appears in another project."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        memberships = self.memberships()
        if fraction <= 0 or not memberships:
            return []
        count = min(len(memberships), max(1, round(fraction * len(memberships))))
        changes: list[Change] = []
        for index in sorted(rng.sample(range(len(memberships)), count)):
            project_name, member_id = memberships[index]
            project = self.project(project_name)
            member = project.members.get(member_id)
            if member is None:
                continue
            entity = f"{member.entity_type}:{self.entity_name(member)}"
            before = self.role_name(member.role_id)
            roll = rng.random()
            if roll >= 0.75 and (added := self._add_random_member(rng)) is not None:
                changes.append(added)
            elif roll >= 0.5:
                del project.members[member_id]
                changes.append(Change("removed", project_name, entity, before, None))
            else:
                member.role_id = rng.choice([r for r in ROLES if r != member.role_id])
                changes.append(Change("changed", project_name, entity, before, ROLES[member.role_id]))
        return changes

    def _add_random_member(self, rng: random.Random) -> Change | None:
        projects, users = list(self.projects.values()), list(self.users.values())
        for _ in range(20):
            project, user = rng.choice(projects), rng.choice(users)
            if any(m.entity_type == "u" and m.entity_id == user.id for m in project.members.values()):
                continue
            member = self.add_member(project.name, user=user.username, role=rng.choice(list(ROLES)))
            return Change("added", project.name, f"u:{user.username}", None, ROLES[member.role_id])
        return None

    # -- generation

    @classmethod
    def generate(
        cls,
        seed: int = 1,
        projects: int = 30,
        users: int = 80,
        robots: int = 20,
        groups: int = 8,
        *,
        auth_mode: str = "ldap_auth",
        public_share: float = 0.15,
        system_robot_share: float = 0.15,
    ) -> HarborOrg:
        """A plausible instance, identical for identical arguments. ``projects`` and ``users`` include the
        default ``library`` project and ``admin`` user; ``robots`` counts project and system robots together.
        Generation is linear in the sizes: 1,000 projects with 3,000 users and robots take well under a second."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        org = cls(auth_mode=auth_mode)
        org._tick = rng.randrange(1000)
        names = _NameFactory(rng)

        for _ in range(max(0, users - 1)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            username = names.unique(f"{first}.{last}")
            org.add_user(username, sysadmin=rng.random() < 0.02, realname=f"{first.title()} {last.title()}")
        people = [user.username for user in org.users.values()]

        group_kind = {"ldap_auth": "ldap", "oidc_auth": "oidc", "http_auth": "http"}.get(auth_mode)
        if group_kind is not None:
            for _ in range(groups):
                org.add_group(names.unique(f"{rng.choice(_TEAMS)}-{rng.choice(_GROUP_SUFFIX)}"), type=group_kind)
            admins = org.add_group(names.unique("harbor-admins"), type=group_kind)
            org.configure_admin_group(admins.ldap_dn if group_kind == "ldap" else admins.name)
        group_names = [group.name for group in org.groups.values()]

        for _ in range(max(0, projects - 1)):
            name = names.unique(f"{rng.choice(_TEAMS)}-{rng.choice(_SERVICES)}")
            project = org.add_project(
                name,
                public=rng.random() < public_share,
                owner=rng.choice(people),
                proxy_cache=rng.random() < 0.03,
                repo_count=rng.randrange(0, 40),
            )
            taken = {m.entity_id for m in project.members.values()}
            for username in rng.sample(people, min(len(people), rng.randint(0, 6))):
                user_id = org.user(username).id
                if user_id not in taken:
                    taken.add(user_id)
                    org.add_member(name, user=username, role=rng.choices(list(ROLES), [10, 40, 25, 15, 10])[0])
            for group in rng.sample(group_names, min(len(group_names), rng.choices([0, 1, 2], [50, 35, 15])[0])):
                org.add_member(name, group=group, role=rng.choices(list(ROLES), [10, 40, 30, 15, 5])[0])
        project_names = [project.name for project in org.projects.values()]
        admins_ = [user.username for user in org.users.values() if user.sysadmin]

        for _ in range(robots):
            expiry = rng.random()
            options = {
                "description": rng.choice(_ROBOT_DESCRIPTIONS),
                # Never, a decade or more (still valid today), or days (long expired today).
                "duration": -1 if expiry < 0.6 else rng.randrange(3650, 5500) if expiry < 0.9 else rng.choice([7, 30]),
                "disabled": rng.random() < 0.05,
                "creator": rng.choice(admins_),
            }
            if rng.random() < system_robot_share:
                if rng.random() < 0.3:
                    grants = {"*": rng.choice(_ROBOT_ACTIONS)}
                else:
                    chosen = rng.sample(project_names, min(len(project_names), rng.randint(1, 4)))
                    grants = {project: rng.choice(_ROBOT_ACTIONS) for project in chosen}
                system = rng.choice(_SYSTEM_ACTIONS)
                org.add_system_robot(names.unique(f"{rng.choice(_ROBOT_NAMES)}-sys"), grants, system, **options)
            else:
                project = rng.choice(project_names)
                taken = {robot.name for robot in org.project_robots(org.project(project).id)}
                base = name = rng.choice(_ROBOT_NAMES)
                suffix = 1
                while name in taken:
                    suffix += 1
                    name = f"{base}{suffix}"
                options["editable"] = rng.random() >= 0.03
                org.add_project_robot(project, name, rng.choice(_ROBOT_ACTIONS), **options)
        return org


_FIRST = "alex sam jo kim lee max ana ben cara dev eli fay gus hana ivan jun kai lena mia noor omar pia ravi".split()
_FIRST += "sofia tom uma vik wen yara zoe ali bo cruz dana erin finn gia hugo iris".split()
_LAST = "smith garcia chen okafor novak silva kumar muller rossi tanaka khan haddad berg ivanova lopez nguyen".split()
_LAST += "park walker santos dubois kowalski ahmed larsen costa mendes oduya reyes schmidt yilmaz zhou".split()
_TEAMS = "platform payments mobile web data infra security sre growth search billing identity ml edge".split()
_SERVICES = "api web worker gateway portal sdk images base runtime scanner charts tools cache agents".split()
_GROUP_SUFFIX = "devs ops leads readers release oncall".split()
_ROBOT_NAMES = "ci deploy scanner mirror release builder pull sync backup".split()
_ROBOT_DESCRIPTIONS = ["CI pipeline", "deployments", "vulnerability scans", "mirror job", ""]
_PULL = (("repository", "pull"),)
_PUSH = (("repository", "pull"), ("repository", "push"), ("artifact", "read"), ("tag", "create"))
_DELETE = (*_PUSH, ("artifact", "delete"), ("tag", "delete"))
_SCAN = (("repository", "pull"), ("artifact", "read"), ("scan", "create"))
_ROBOT_ACTIONS = [_PULL, _PULL, _PUSH, _PUSH, _DELETE, _SCAN]
_SYSTEM_ACTIONS = [(), (), (("project", "list"),), (("registry", "list"), ("replication", "create"))]


class _NameFactory:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[str, int] = {}

    def unique(self, base: str) -> str:
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return base if count == 1 else f"{base}{count}"
