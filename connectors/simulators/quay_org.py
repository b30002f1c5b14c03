"""The Quay organization behind the simulator: teams, repositories, robots, default permissions.

Build one by hand with the ``add_*`` helpers (tests) or :meth:`QuayOrg.generate` a plausible one from a
seed. The model also answers what a correct connector must find (:meth:`QuayOrg.facts`), how few requests
can enumerate it with every role (:meth:`QuayOrg.rest_lower_bound`), and changes itself between syncs
(:meth:`QuayOrg.mutate_fraction` and the ``remove_*`` helpers the write endpoints use).

Access rules follow Quay's (quay/quay ``data/model/team.py``, ``permission.py``, ``organization.py``; API
reference https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_reference/index):
an organization member is anyone in one of its teams; a team's role (member, creator, admin) applies
organization-wide, admin making its members organization administrators; repository roles are read, write
and admin, granted to users, robots and teams; default permissions (prototypes) are applied when a
repository is created, not to existing ones.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

TEAM_ROLES = ("member", "creator", "admin")
REPO_ROLES = ("read", "write", "admin")

_EPOCH = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)


def quay_date(seconds: float) -> str:
    """Dates as Quay's API formats them (email.utils.formatdate: RFC 2822 with -0000)."""
    return format_datetime(_EPOCH + timedelta(seconds=int(seconds)), usegmt=False).replace("+0000", "-0000")


@dataclass
class Robot:
    short: str
    description: str = ""
    created: str = ""
    last_accessed: str | None = None
    token: str = ""  # the robot's secret: Quay returns it unless asked not to (token=false)
    mirror: bool = False  # used by a repository mirror: Quay refuses to delete it


@dataclass
class Invite:
    """A pending team invitation: to an existing user, or to an email address."""

    user: str | None = None
    email: str | None = None


@dataclass
class Team:
    name: str
    role: str = "member"
    description: str = ""
    members: list[str] = field(default_factory=list)  # usernames, robots by full name (org+short)
    invites: list[Invite] = field(default_factory=list)
    repos: dict[str, str] = field(default_factory=dict)  # repo name -> read | write | admin
    synced: str | None = None  # backing group service (ldap, keystone, oidc) when the team is synced


@dataclass
class Repo:
    name: str
    is_public: bool = False
    description: str = ""
    state: str = "NORMAL"
    users: dict[str, str] = field(default_factory=dict)  # user or robot (full name) -> role


@dataclass
class Prototype:
    """A default permission: ``delegate`` gets ``role`` on every repository created (by ``activating_user``)."""

    id: str
    role: str
    delegate_kind: str  # user | team
    delegate: str
    activating_user: str | None = None


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | changed
    grant: str  # direct | team_repo | team_member
    subject: str  # user/robot, or team for team_repo
    target: str  # repo, or team for team_member
    before: str | None
    after: str | None


@dataclass(frozen=True)
class QuayFacts:
    """What a correct connector must find, computed from the model rather than from the API."""

    org: str
    members: frozenset[str]  # humans in at least one team
    admins: frozenset[str]  # humans and robots in an admin team
    outside_collaborators: frozenset[str]
    teams: dict[str, str]  # name -> role
    team_members: frozenset[tuple[str, str]]  # (team, user or robot full name)
    team_invites: frozenset[tuple[str, str]]  # (team, username or email)
    team_repos: frozenset[tuple[str, str, str]]  # (team, repo, role)
    direct_grants: frozenset[tuple[str, str, str]]  # (user or robot full name, repo, role)
    robots: frozenset[str]  # full names
    repos: dict[str, bool]  # name -> is_public
    prototypes: frozenset[tuple[str, str, str | None, str]]  # (delegate kind, delegate, activating user, role)


class QuayOrg:
    """One organization's access data. Users are known by name: Quay's API exposes no user ids."""

    def __init__(self, name: str = "acme", *, email: str | None = None):
        self.name = name
        self.email = email or f"{name}@example.com"
        self.users: set[str] = set()  # humans this org knows of (members, collaborators, invitees, delegates)
        self.teams: dict[str, Team] = {}
        self.repos: dict[str, Repo] = {}  # insertion order is Quay's id order, which pagination follows
        self.robots: dict[str, Robot] = {}
        self.prototypes: list[Prototype] = []
        self._tick = 0

    # -- helpers

    def _stamp(self) -> str:
        self._tick += 1
        return quay_date(self._tick * 5 * 3600)

    def robot_name(self, short: str) -> str:
        return f"{self.name}+{short}"

    def is_robot(self, name: str) -> bool:
        return name.startswith(self.name + "+") and name.split("+", 1)[1] in self.robots

    # -- building

    def add_user(self, name: str) -> str:
        self.users.add(name)
        return name

    def add_team(self, name: str, role: str = "member", *, description: str = "", synced: str | None = None) -> Team:
        if role not in TEAM_ROLES:
            raise ValueError(f"a team role is one of {', '.join(TEAM_ROLES)}")
        team = Team(name, role, description, synced=synced)
        self.teams[name] = team
        return team

    def add_team_member(self, team: str, name: str) -> None:
        """A user (added to the known users) or a robot of this org, by full name."""
        if "+" not in name:
            self.add_user(name)
        elif not self.is_robot(name):
            raise ValueError(f"{name} is not a robot of {self.name}")
        if name not in self.teams[team].members:
            self.teams[team].members.append(name)

    def invite(self, team: str, *, user: str | None = None, email: str | None = None) -> Invite:
        if (user is None) == (email is None):
            raise ValueError("invite either a user or an email address")
        if user is not None:
            self.add_user(user)
        invite = Invite(user, email)
        self.teams[team].invites.append(invite)
        return invite

    def add_repo(self, name: str, *, public: bool = False, description: str = "", state: str = "NORMAL") -> Repo:
        repo = Repo(name, public, description, state)
        self.repos[name] = repo
        return repo

    def grant_user(self, repo: str, name: str, role: str) -> None:
        """A direct permission for a user (an outside collaborator if in no team) or a robot of this org."""
        if role not in REPO_ROLES:
            raise ValueError(f"a repository role is one of {', '.join(REPO_ROLES)}")
        if "+" in name and not self.is_robot(name):
            raise ValueError(f"Cannot add robot {name} under namespace {self.name}")
        if "+" not in name:
            self.add_user(name)
        self.repos[repo].users[name] = role

    def grant_team(self, repo: str, team: str, role: str) -> None:
        if role not in REPO_ROLES:
            raise ValueError(f"a repository role is one of {', '.join(REPO_ROLES)}")
        self.teams[team].repos[repo] = role
        self.repos[repo]  # noqa: B018 - KeyError for an unknown repository

    def add_robot(
        self, short: str, *, description: str = "", last_accessed: str | None = None, mirror: bool = False
    ) -> Robot:
        token = hashlib.sha256(f"{self.name}+{short}:{self._tick}".encode()).hexdigest().upper()[:64]
        robot = Robot(short, description, self._stamp(), last_accessed, token, mirror)
        self.robots[short] = robot
        return robot

    def add_prototype(
        self, role: str, delegate: str, *, kind: str = "user", activating_user: str | None = None
    ) -> Prototype:
        if kind not in ("user", "team"):
            raise ValueError("a prototype delegate is a user or a team")
        if kind == "team" and delegate not in self.teams:
            raise KeyError(delegate)
        if kind == "user" and "+" not in delegate:
            self.add_user(delegate)
        if activating_user is not None:
            self.add_user(activating_user)
        number = len(self.prototypes) + self._tick
        digest = hashlib.sha256(f"{self.name}:{number}:{delegate}".encode()).hexdigest()
        proto_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        prototype = Prototype(proto_id, role, kind, delegate, activating_user)
        self.prototypes.append(prototype)
        return prototype

    # -- derived

    def members(self) -> list[str]:
        """Humans in at least one team, in first-seen order."""
        found: dict[str, None] = {}
        for team in self.teams.values():
            for name in team.members:
                if "+" not in name:
                    found.setdefault(name)
        return list(found)

    def admins(self) -> set[str]:
        return {name for team in self.teams.values() if team.role == "admin" for name in team.members}

    def outside_collaborators(self) -> list[str]:
        members = set(self.members())
        found: dict[str, None] = {}
        for repo in self.repos.values():
            for name in repo.users:
                if "+" not in name and name not in members:
                    found.setdefault(name)
        return list(found)

    def user_repos(self, name: str) -> list[str]:
        """Repositories where ``name`` holds a direct permission (what the members list reports)."""
        return [repo.name for repo in self.repos.values() if name in repo.users]

    def teams_of(self, name: str) -> list[str]:
        return [team.name for team in self.teams.values() if name in team.members]

    def can_read(self, user: str, repo: Repo) -> bool:
        if user in self.admins() or repo.is_public or user in repo.users:
            return True
        return any(repo.name in team.repos and user in team.members for team in self.teams.values())

    def role_on(self, user: str, repo: Repo) -> str | None:
        if user in self.admins():
            return "admin"
        roles = [repo.users.get(user)] + [t.repos.get(repo.name) for t in self.teams.values() if user in t.members]
        ranked = [role for role in roles if role]
        return max(ranked, key=REPO_ROLES.index) if ranked else None

    # -- changes (write endpoints and tests)

    def remove_member(self, name: str) -> None:
        """Like Quay: out of every team and every repository permission of the org."""
        for team in self.teams.values():
            if name in team.members:
                team.members.remove(name)
        for repo in self.repos.values():
            repo.users.pop(name, None)

    def remove_team_member(self, team: str, name: str) -> None:
        self.teams[team].members.remove(name)

    def delete_robot(self, short: str) -> None:
        """Like Quay's recursive delete: its team memberships and repository permissions go too."""
        del self.robots[short]
        self.remove_member(self.robot_name(short))
        robot = self.robot_name(short)
        self.prototypes = [p for p in self.prototypes if not (p.delegate_kind == "user" and p.delegate == robot)]

    def remove_repo(self, name: str) -> None:
        del self.repos[name]
        for team in self.teams.values():
            team.repos.pop(name, None)

    # -- expectations for tests

    def facts(self) -> QuayFacts:
        return QuayFacts(
            org=self.name,
            members=frozenset(self.members()),
            admins=frozenset(self.admins()),
            outside_collaborators=frozenset(self.outside_collaborators()),
            teams={name: team.role for name, team in self.teams.items()},
            team_members=frozenset((t.name, m) for t in self.teams.values() for m in t.members),
            team_invites=frozenset((t.name, i.user or i.email or "") for t in self.teams.values() for i in t.invites),
            team_repos=frozenset((t.name, r, role) for t in self.teams.values() for r, role in t.repos.items()),
            direct_grants=frozenset((u, r.name, role) for r in self.repos.values() for u, role in r.users.items()),
            robots=frozenset(self.robot_name(short) for short in self.robots),
            repos={name: repo.is_public for name, repo in self.repos.items()},
            prototypes=frozenset((p.delegate_kind, p.delegate, p.activating_user, p.role) for p in self.prototypes),
        )

    def rest_plan(self, per_page: int = 100) -> list[tuple[str, int]]:
        """The cheapest enumeration of every grant with its role: (request, pages).

        Members, outside collaborators, robots (``permissions=true``) and default permissions are one
        unpaginated list each; repositories come ``per_page`` at a time. Roles are not in the members,
        collaborators or robots lists (they name repositories only), so each repository that any of them
        names is read once for its user permissions; each team is read for its members (pending invites
        are only there) and, when the org says it holds any, its repository permissions.
        """
        org = f"/organization/{self.name}"
        plan = [
            (org, 1),
            (f"{org}/members", 1),
            (f"{org}/collaborators", 1),
            (f"{org}/robots?permissions=true&token=false", 1),
            (f"/repository?namespace={self.name}", max(1, math.ceil(len(self.repos) / per_page))),
            (f"{org}/prototypes", 1),
        ]
        for team in self.teams.values():
            plan.append((f"{org}/team/{team.name}/members?includePending=true", 1))
            if team.repos:
                plan.append((f"{org}/team/{team.name}/permissions", 1))
        plan.extend(
            (f"/repository/{self.name}/{repo.name}/permissions/user/", 1) for repo in self.repos.values() if repo.users
        )
        return plan

    def rest_lower_bound(self, per_page: int = 100) -> int:
        return sum(pages for _, pages in self.rest_plan(per_page))

    # -- mutation between syncs

    def grants(self) -> list[tuple[str, str, str, str]]:
        """Every changeable grant as (kind, subject, target, role), in a stable order."""
        found = [("direct", user, repo.name, role) for repo in self.repos.values() for user, role in repo.users.items()]
        for team in self.teams.values():
            found.extend(("team_repo", team.name, repo, role) for repo, role in team.repos.items())
            found.extend(("team_member", name, team.name, team.role) for name in team.members)
        return found

    def mutate_fraction(self, fraction: float, seed: int = 0) -> list[Change]:
        """Change ``round(fraction × grants)`` grants (at least one): half get another role (team members
        are removed instead: a membership has no role of its own), a quarter go, a quarter appear elsewhere."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        grants = self.grants()
        if fraction <= 0 or not grants:
            return []
        count = min(len(grants), max(1, round(fraction * len(grants))))
        changes: list[Change] = []
        for index in sorted(rng.sample(range(len(grants)), count)):
            kind, subject, target, role = grants[index]
            roll = rng.random()
            if roll >= 0.75 and (added := self._add_random_grant(rng, kind)) is not None:
                changes.append(added)
            elif roll >= 0.5 or kind == "team_member":
                changes.append(self._remove_grant(kind, subject, target, role))
            else:
                new = rng.choice([other for other in REPO_ROLES if other != role])
                holder = self.repos[target].users if kind == "direct" else self.teams[subject].repos
                holder[target if kind == "team_repo" else subject] = new
                changes.append(Change("changed", kind, subject, target, role, new))
        return changes

    def _remove_grant(self, kind: str, subject: str, target: str, role: str) -> Change:
        if kind == "direct":
            self.repos[target].users.pop(subject, None)
        elif kind == "team_repo":
            self.teams[subject].repos.pop(target, None)
        elif subject in self.teams[target].members:
            self.teams[target].members.remove(subject)
        return Change("removed", kind, subject, target, role, None)

    def _add_random_grant(self, rng: random.Random, kind: str) -> Change | None:
        people, repos, teams = self.members(), list(self.repos), list(self.teams)
        if not people or not repos or not teams:
            return None
        for _ in range(20):
            role = rng.choice(REPO_ROLES)
            if kind == "direct":
                subject, target = rng.choice(people), rng.choice(repos)
                if subject not in self.repos[target].users:
                    self.repos[target].users[subject] = role
                    return Change("added", kind, subject, target, None, role)
            elif kind == "team_repo":
                subject, target = rng.choice(teams), rng.choice(repos)
                if target not in self.teams[subject].repos:
                    self.teams[subject].repos[target] = role
                    return Change("added", kind, subject, target, None, role)
            else:
                subject, target = rng.choice(people), rng.choice(teams)
                if subject not in self.teams[target].members:
                    self.teams[target].members.append(subject)
                    return Change("added", kind, subject, target, None, self.teams[target].role)
        return None

    # -- generation

    @classmethod
    def generate(
        cls,
        name: str = "acme",
        seed: int = 1,
        *,
        members: int = 50,
        teams: int = 8,
        repos: int = 30,
        robots: int = 6,
        outside_collaborators: int = 4,
        invites: int | None = None,
        prototypes: int = 3,
        owner: str | None = None,
    ) -> QuayOrg:
        """A plausible organization, identical for identical arguments. ``members`` includes the owner
        (``{name}_owner`` unless given), the only member of the ``owners`` admin team at first; the
        simulator's default token is theirs."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        org = cls(name)
        org._tick = rng.randrange(1000)
        names = _NameFactory(rng)
        owner = owner or f"{name}_owner"
        org.add_team("owners", "admin", description="Organization administrators")
        org.add_team_member("owners", owner)
        people = [owner] + [names.next() for _ in range(max(0, members - 1))]
        for _ in range(repos):
            org.add_repo(_unique(org.repos, rng, _REPO_WORDS), public=rng.random() < 0.2)
        repo_names = list(org.repos)
        for _ in range(robots):
            short = _unique(org.robots, rng, _ROBOT_WORDS)
            used = rng.random() < 0.7
            last = quay_date(rng.randrange(20_000_000, 90_000_000)) if used else None
            org.add_robot(short, description=f"{short.replace('_', ' ')} automation", last_accessed=last)
        robot_names = [org.robot_name(short) for short in org.robots]

        for _ in range(max(0, teams - 1)):
            role = rng.choices(TEAM_ROLES, [80, 12, 8])[0]
            team = org.add_team(_unique(org.teams, rng, _TEAM_WORDS), role, description="Generated team")
            for person in rng.sample(people, min(len(people), rng.randint(1, max(2, min(30, members // 4))))):
                team.members.append(person)
            if robot_names and rng.random() < 0.3:
                team.members.append(rng.choice(robot_names))
            for repo in rng.sample(repo_names, min(len(repo_names), rng.randint(0, 10))):
                team.repos[repo] = rng.choices(REPO_ROLES, [50, 35, 15])[0]
        everyone = set(org.members())
        for person in people:  # nobody is left out of every team: Quay membership is team membership
            if person not in everyone:
                rng.choice(list(org.teams.values())).members.append(person)
        org.users.update(people)

        for repo in org.repos.values():
            for person in rng.sample(people, min(len(people), rng.choices([0, 1, 2], [55, 30, 15])[0])):
                repo.users[person] = rng.choices(REPO_ROLES, [40, 40, 20])[0]
            if robot_names and rng.random() < 0.4:
                repo.users[rng.choice(robot_names)] = rng.choices(REPO_ROLES, [50, 45, 5])[0]
        for _ in range(outside_collaborators):
            person = org.add_user(names.next())
            for repo in rng.sample(repo_names, min(len(repo_names), rng.randint(1, 3))):
                org.repos[repo].users[person] = rng.choices(REPO_ROLES, [70, 30, 0])[0]

        team_names = list(org.teams)
        for _ in range(max(1, members // 20) if invites is None else invites):
            team = rng.choice(team_names)
            if rng.random() < 0.4:
                org.invite(team, email=f"{names.next().replace('_', '.')}@example.com")
            else:
                org.invite(team, user=names.next())
        for _ in range(prototypes):
            role = rng.choices(REPO_ROLES, [50, 40, 10])[0]
            activating = rng.choice(people) if rng.random() < 0.3 else None
            if rng.random() < 0.5 and team_names:
                org.add_prototype(role, rng.choice(team_names), kind="team", activating_user=activating)
            else:
                delegate = rng.choice(robot_names) if robot_names and rng.random() < 0.5 else rng.choice(people)
                org.add_prototype(role, delegate, activating_user=activating)
        return org


_FIRST = "alex sam jo kim lee max ana ben cara dev eli fay gus hana ivan jun kai lena mia noor omar pia ravi".split()
_FIRST += "sofia tom uma vik wen yara zoe ali bo cruz dana erin finn gia hugo iris".split()
_LAST = "smith garcia chen okafor novak silva kumar muller rossi tanaka khan haddad berg ivanova lopez nguyen".split()
_LAST += "park walker santos dubois kowalski ahmed larsen costa mendes oduya reyes schmidt yilmaz zhou".split()
_TEAM_WORDS = "platform payments mobile web data infra security sre growth search billing identity devex ml".split()
_TEAM_WORDS += "analytics support docs qa release api frontend backend edge storage network ops".split()
_REPO_WORDS = "api web worker gateway portal sdk cli base runner proxy ledger auth builder cache store".split()
_REPO_WORDS += "scanner exporter operator agent console search mailer scheduler".split()
_ROBOT_WORDS = "ci deployer builder pusher mirror scanner release backup puller argo tekton".split()


class _NameFactory:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[str, int] = {}

    def next(self) -> str:
        base = f"{self.rng.choice(_FIRST)}_{self.rng.choice(_LAST)}"
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return base if count == 1 else f"{base}{count}"


def _unique(taken, rng: random.Random, words: list[str]) -> str:
    base = rng.choice(words)
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}{suffix}"
    return candidate
