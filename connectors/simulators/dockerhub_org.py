"""The Docker Hub organization behind the simulator: members, teams, repositories, invites and tokens.

Build one by hand with the ``add_*`` helpers (tests), or :meth:`DockerHubOrg.generate` a plausible one
from a seed (demo, bench: 5,000 members and 2,000 repositories in about a second). The model also
answers what a correct connector must find (:meth:`DockerHubOrg.facts`), how few requests can enumerate
it (:meth:`DockerHubOrg.rest_lower_bound`), and changes itself between syncs (:meth:`mutate_fraction`).

Access rules follow Docker's documentation:
* roles Member / Editor / Owner: https://docs.docker.com/enterprise/security/roles-and-permissions/core-roles/
  (editors create, edit and delete every repository and assign team permissions; owners manage everything);
  owners are the members of the ``owners`` team (https://docs.docker.com/reference/api/hub/latest/, the
  ``groups`` of an org member);
* teams and their repository permissions read / write / admin:
  https://docs.docker.com/admin/organization/manage-a-team/;
* organization access tokens with repository and organization scopes:
  https://docs.docker.com/security/access-tokens/organization-access-tokens/.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

ROLES = ("member", "editor", "owner")  # as requests spell them; responses capitalise (Member, Editor, Owner)
PERMISSIONS = ("read", "write", "admin")
OWNERS_TEAM = "owners"
TYPE_REPO, TYPE_ORG = "TYPE_REPO", "TYPE_ORG"

_EPOCH = datetime(2021, 3, 1, 8, 0, tzinfo=UTC)


def iso(seconds: float, *, fraction: bool = True) -> str:
    """Hub's two timestamp styles: members and invites carry microseconds, access tokens do not."""
    return (_EPOCH + timedelta(seconds=int(seconds))).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ"
    )


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------
# The organization model


@dataclass
class User:
    username: str
    id: str  # "the UUID trimmed": 32 hex digits
    full_name: str = ""
    email: str = ""
    company: str = ""
    location: str = ""
    date_joined: str = ""
    is_guest: bool = False
    last_logged_in_at: str | None = None
    last_seen_at: str | None = None


@dataclass
class Team:
    id: int
    uuid: str
    name: str
    description: str = ""
    members: dict[str, None] = field(default_factory=dict)  # usernames, in the order they were added


@dataclass
class Repo:
    name: str
    is_private: bool = True
    description: str = ""
    date_registered: str = ""
    groups: dict[int, str] = field(default_factory=dict)  # team id -> read | write | admin


@dataclass
class Invite:
    id: str
    invitee: str  # a Docker ID, or an email address for someone without an account
    inviter: str
    role: str
    team: str | None = None
    created_at: str = ""


@dataclass
class TokenResource:
    type: str  # TYPE_REPO (path ORG/REPO, a glob such as ORG/*, or */*/public) | TYPE_ORG (path ORG)
    path: str
    scopes: tuple[str, ...]


@dataclass
class AccessToken:
    id: str
    label: str
    secret: str  # what POST /v2/auth/token takes; never listed
    created_by: str
    created_at: str
    description: str = ""
    expires_at: str | None = None
    last_used_at: str | None = None
    is_active: bool = True
    resources: list[TokenResource] = field(default_factory=list)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and parse_iso(self.expires_at) <= now


@dataclass(frozen=True)
class Change:
    """One change made by :meth:`DockerHubOrg.mutate_fraction`."""

    kind: str  # added | removed | changed
    grant: str  # member (role of username in the org) | team_member (username in team) | team_repo (team on repo)
    subject: str
    target: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class TokenFact:
    label: str
    created_by: str
    is_active: bool
    expires_at: str | None
    last_used_at: str | None
    resources: tuple[tuple[str, str, tuple[str, ...]], ...]  # (type, path, scopes)


@dataclass(frozen=True)
class OrgFacts:
    """What a correct connector must find, computed from the model rather than from the API."""

    members: dict[str, str]  # username -> owner | editor | member
    teams: frozenset[str]
    team_members: frozenset[tuple[str, str]]  # (team, username)
    repos: dict[str, bool]  # name -> is_private
    team_repos: frozenset[tuple[str, str, str]]  # (team, repo, permission)
    invites: frozenset[tuple[str, str]]  # (invitee, role)
    tokens: dict[str, TokenFact]  # id -> fact


class DockerHubOrg:
    """An organization's access data. Build by hand with the ``add_*`` helpers, or :meth:`generate`."""

    def __init__(self, name: str = "acme"):
        self.name = name
        self.id = self._uuid("org", 0)
        self.users: dict[str, User] = {}
        self.members: dict[str, str] = {}  # username -> owner | editor | member
        self.teams: dict[str, Team] = {}
        self.repos: dict[str, Repo] = {}
        self.invites: list[Invite] = []
        self.tokens: dict[str, AccessToken] = {}
        self._counters = {"user": 0, "team": 5_000, "invite": 0, "token": 0}
        self._tick = 0
        self.add_team(OWNERS_TEAM, description="Organization owners")

    # -- ids and times

    def _uuid(self, kind: str, number: int) -> str:
        return hashlib.sha256(f"{self.name}\x1f{kind}\x1f{number}".encode()).hexdigest()[:32]

    def _next(self, kind: str) -> int:
        self._counters[kind] += 1
        return self._counters[kind]

    def _dashed(self, kind: str) -> str:
        raw = self._uuid(kind, self._next(kind))
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

    def _stamp(self) -> str:
        self._tick += 1
        return iso(self._tick * 5 * 3600)

    # -- people

    @property
    def owner_username(self) -> str:
        """The first owner: the simulator hands out a personal access token of theirs by default."""
        return next(username for username, role in self.members.items() if role == "owner")

    def add_user(self, username: str, **fields) -> User:
        if username not in self.users:
            fields.setdefault("email", f"{username}@{self.name}.example")
            fields.setdefault("date_joined", self._stamp())
            self.users[username] = User(username, self._uuid("user", self._next("user")), **fields)
        return self.users[username]

    def add_member(self, username: str, role: str = "member", **fields) -> User:
        if role not in ROLES:
            raise ValueError(f"an org role is one of {', '.join(ROLES)}")
        user = self.add_user(username, **fields)
        self.members[username] = role
        self._sync_owners_team(username)
        return user

    def set_member_role(self, username: str, role: str) -> None:
        if username not in self.members:
            raise KeyError(username)
        if role not in ROLES:
            raise ValueError(f"an org role is one of {', '.join(ROLES)}")
        if self.members[username] == "owner" and role != "owner":
            self._refuse_last_owner(username)
        self.members[username] = role
        self._sync_owners_team(username)

    def remove_member(self, username: str) -> None:
        """Leaves every team too; the last owner cannot leave (Docker's rule)."""
        if username not in self.members:
            raise KeyError(username)
        if self.members[username] == "owner":
            self._refuse_last_owner(username)
        del self.members[username]
        for team in self.teams.values():
            team.members.pop(username, None)

    def _refuse_last_owner(self, username: str) -> None:
        if [u for u, role in self.members.items() if role == "owner"] == [username]:
            raise ValueError("cannot remove the last owner of the organization")

    def _sync_owners_team(self, username: str) -> None:
        owners = self.teams[OWNERS_TEAM].members
        if self.members.get(username) == "owner":
            owners.setdefault(username)
        else:
            owners.pop(username, None)

    def member_teams(self, username: str) -> list[str]:
        return [team.name for team in self.teams.values() if username in team.members]

    # -- teams

    def add_team(self, name: str, *, description: str = "") -> Team:
        if name in self.teams:
            raise ValueError(f"team {name} exists")
        number = self._next("team")
        team = Team(number, self._uuid("team", number), name, description)
        self.teams[name] = team
        return team

    def remove_team(self, name: str) -> None:
        if name == OWNERS_TEAM:
            raise ValueError("the owners team cannot be deleted")
        team = self.teams.pop(name)
        for repo in self.repos.values():
            repo.groups.pop(team.id, None)

    def team_by_id(self, team_id: int) -> Team | None:
        return next((team for team in self.teams.values() if team.id == team_id), None)

    def add_team_member(self, team: str, username: str) -> None:
        """Adding someone to the owners team makes them an owner."""
        if username not in self.members:
            raise ValueError(f"{username} is not a member of {self.name}")
        if team == OWNERS_TEAM:
            self.set_member_role(username, "owner")
        else:
            self.teams[team].members.setdefault(username)

    def remove_team_member(self, team: str, username: str) -> None:
        """Leaving the owners team makes an owner a member (never the last owner)."""
        if username not in self.teams[team].members:
            raise KeyError(username)
        if team == OWNERS_TEAM:
            self.set_member_role(username, "member")
        else:
            del self.teams[team].members[username]

    # -- repositories

    def add_repo(self, name: str, *, private: bool = True, description: str = "") -> Repo:
        repo = Repo(name, private, description, self._stamp())
        self.repos[name] = repo
        return repo

    def remove_repo(self, name: str) -> None:
        del self.repos[name]

    def grant_team(self, team: str, repo: str, permission: str) -> None:
        if permission not in PERMISSIONS:
            raise ValueError(f"a repository permission is one of {', '.join(PERMISSIONS)}")
        self.repos[repo].groups[self.teams[team].id] = permission

    def revoke_team(self, team: str, repo: str) -> None:
        del self.repos[repo].groups[self.teams[team].id]

    # -- invites

    def add_invite(self, invitee: str, role: str = "member", *, team: str | None = None, inviter: str | None = None):
        if role not in ROLES:
            raise ValueError(f"an org role is one of {', '.join(ROLES)}")
        invite = Invite(self._dashed("invite"), invitee, inviter or self.owner_username, role, team, self._stamp())
        self.invites.append(invite)
        return invite

    def cancel_invite(self, invite_id: str) -> None:
        before = len(self.invites)
        self.invites = [invite for invite in self.invites if invite.id != invite_id]
        if len(self.invites) == before:
            raise KeyError(invite_id)

    # -- organization access tokens

    def add_token(
        self,
        label: str,
        resources: Iterable[tuple[str, str, Iterable[str]]],
        *,
        created_by: str | None = None,
        description: str = "",
        expires_at: str | None = None,
        last_used_at: str | None = None,
        is_active: bool = True,
    ) -> AccessToken:
        token_id = self._dashed("token")
        token = AccessToken(
            token_id,
            label,
            "dckr_oat_" + hashlib.sha256(f"{self.name}:{token_id}:secret".encode()).hexdigest()[:32],
            created_by or self.owner_username,
            self._stamp().replace(".000000Z", "Z"),
            description,
            expires_at,
            last_used_at,
            is_active,
            [TokenResource(kind, path, tuple(scopes)) for kind, path, scopes in resources],
        )
        self.tokens[token_id] = token
        return token

    def set_token_active(self, token_id: str, active: bool) -> None:
        self.tokens[token_id].is_active = active

    def delete_token(self, token_id: str) -> None:
        del self.tokens[token_id]

    def token_scopes(self, token: AccessToken, resource_type: str, path: str) -> set[str]:
        """Scopes a token holds on an org (path ORG) or repository (path ORG/REPO), implied scopes included."""
        held: set[str] = set()
        for resource in token.resources:
            if resource.type != resource_type:
                continue
            if resource_type == TYPE_ORG:
                matches = resource.path == path
            elif resource.path == "*/*/public":
                repo = self.repos.get(path.split("/", 1)[-1])
                matches = repo is not None and not repo.is_private
            else:
                matches = fnmatch.fnmatchcase(path, resource.path)
            if matches:
                held.update(implied_scopes(resource.scopes))
        return held

    # -- expectations for tests

    def facts(self) -> OrgFacts:
        by_id = {team.id: team.name for team in self.teams.values()}
        return OrgFacts(
            members=dict(self.members),
            teams=frozenset(self.teams),
            team_members=frozenset((team.name, u) for team in self.teams.values() for u in team.members),
            repos={name: repo.is_private for name, repo in self.repos.items()},
            team_repos=frozenset(
                (by_id[team_id], name, permission)
                for name, repo in self.repos.items()
                for team_id, permission in repo.groups.items()
            ),
            invites=frozenset((invite.invitee, invite.role) for invite in self.invites),
            tokens={
                token.id: TokenFact(
                    token.label,
                    token.created_by,
                    token.is_active,
                    token.expires_at,
                    token.last_used_at,
                    tuple((r.type, r.path, r.scopes) for r in token.resources),
                )
                for token in self.tokens.values()
            },
        )

    def rest_plan(self) -> list[tuple[str, int | None]]:
        """The cheapest full enumeration: (request, items listed or None for a single object).

        One login; the token list and each token (only the single read carries its scopes); members with
        their ``groups`` (so no per-team member list); teams; the invite list (not paginated); repositories
        and each repository's team grants.
        """
        org = f"/v2/orgs/{self.name}"
        plan: list[tuple[str, int | None]] = [
            ("POST /v2/auth/token", None),
            (f"{org}/access-tokens", len(self.tokens)),
        ]
        plan.extend((f"{org}/access-tokens/{token_id}", None) for token_id in self.tokens)
        plan.append((f"{org}/members?type=member", len(self.members)))
        plan.append((f"{org}/groups", len(self.teams)))
        plan.append((f"{org}/invites", None))
        plan.append((f"/v2/namespaces/{self.name}/repositories", len(self.repos)))
        plan.extend((f"/v2/repositories/{self.name}/{name}/groups", len(r.groups)) for name, r in self.repos.items())
        return plan

    def rest_lower_bound(self, per_page: int = 100) -> int:
        """Minimum requests for :meth:`rest_plan`: ceil(n/per_page) per list, at least 1; 1 per single object."""
        return sum(1 if items is None else max(1, math.ceil(items / per_page)) for _, items in self.rest_plan())

    # -- mutation between syncs

    def grants(self) -> list[tuple[str, str, str, str]]:
        """Every grant as (kind, subject, target, role), in a stable order."""
        found = [("member", username, self.name, role) for username, role in self.members.items()]
        for team in self.teams.values():
            if team.name != OWNERS_TEAM:
                found.extend(("team_member", username, team.name, "member") for username in team.members)
        by_id = {team.id: team.name for team in self.teams.values()}
        for name, repo in self.repos.items():
            found.extend(("team_repo", by_id[team_id], name, perm) for team_id, perm in repo.groups.items())
        return found

    def mutate_fraction(self, fraction: float, seed: int = 0) -> list[Change]:
        """Change ``round(fraction × grants)`` grants (at least one): roles and team permissions change,
        team memberships and team grants are removed, and as many new ones appear elsewhere."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        grants = self.grants()
        if fraction <= 0 or not grants:
            return []
        count = min(len(grants), max(1, round(fraction * len(grants))))
        changes: list[Change] = []
        for index in sorted(rng.sample(range(len(grants)), count)):
            kind, subject, target, role = grants[index]
            change = self._mutate_one(rng, kind, subject, target, role)
            if change is not None:
                changes.append(change)
        return changes

    def _mutate_one(self, rng: random.Random, kind: str, subject: str, target: str, role: str) -> Change | None:
        if kind == "member":
            if self.members.get(subject) != role or role == "owner":
                return None  # owners stay: the org must keep one
            new = "editor" if role == "member" else "member"
            self.set_member_role(subject, new)
            return Change("changed", kind, subject, target, role, new)
        if kind == "team_member":
            if subject not in self.teams[target].members:
                return None
            if rng.random() < 0.5:
                self.remove_team_member(target, subject)
                return Change("removed", kind, subject, target, role, None)
            outsiders = [u for u in self.members if u not in self.teams[target].members]
            if not outsiders:
                return None
            newcomer = rng.choice(outsiders)
            self.add_team_member(target, newcomer)
            return Change("added", kind, newcomer, target, None, "member")
        current = self.repos[target].groups.get(self.teams[subject].id)
        if current is None:
            return None
        if rng.random() < 0.3:
            self.revoke_team(subject, target)
            return Change("removed", kind, subject, target, current, None)
        new = rng.choice([p for p in PERMISSIONS if p != current])
        self.grant_team(subject, target, new)
        return Change("changed", kind, subject, target, current, new)

    # -- generation

    @classmethod
    def generate(
        cls,
        name: str = "acme",
        seed: int = 1,
        members: int = 30,
        teams: int = 6,
        repos: int = 20,
        *,
        tokens: int = 4,
        invites: int | None = None,
    ) -> DockerHubOrg:
        """A plausible organization, identical for identical arguments. ``members`` includes the owner
        ``{name}owner`` whose personal access token the simulator hands out by default."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        org = cls(name)
        org._tick = rng.randrange(1000)
        names = _NameFactory(rng)

        org.add_member(f"{name}owner", "owner", full_name=f"{name.title()} Owner")
        for _ in range(max(0, members - 1)):
            username, full_name = names.next()
            roll = rng.random()
            role = "owner" if roll < 0.03 else "editor" if roll < 0.10 else "member"
            guest = rng.random() < 0.05
            org.add_member(
                username,
                role,
                full_name=full_name,
                email=f"{username}@{'gmail.example' if guest else name + '.example'}",
                is_guest=guest,
                last_logged_in_at=iso(rng.randrange(60_000_000, 90_000_000)) if rng.random() < 0.9 else None,
            )
        member_names = list(org.members)

        for _ in range(repos):
            org.add_repo(_unique(org.repos, rng, _REPO_ADJ, _REPO_NOUN), private=rng.random() >= 0.25)
        repo_names = list(org.repos)

        for _ in range(teams):
            team = org.add_team(_unique(org.teams, rng, _TEAM_WORDS), description="")
            size = rng.randint(1, max(2, min(40, members // 3)))
            for username in rng.sample(member_names, min(size, len(member_names))):
                team.members.setdefault(username)
            for repo_name in rng.sample(repo_names, min(len(repo_names), rng.randint(1, 10))):
                org.repos[repo_name].groups[team.id] = rng.choices(PERMISSIONS, [40, 40, 20])[0]

        owners = [u for u, role in org.members.items() if role == "owner"]
        for _ in range(max(1, members // 20) if invites is None else invites):
            username, _ = names.next()
            invitee = f"{username}@example.com" if rng.random() < 0.3 else username
            role = rng.choices(ROLES, [85, 10, 5])[0]
            team = rng.choice([t for t in org.teams if t != OWNERS_TEAM] or [None]) if rng.random() < 0.5 else None
            org.add_invite(invitee, role, team=team, inviter=rng.choice(owners))

        for index in range(tokens):
            label, description, resources, state = _TOKENS[index % len(_TOKENS)]
            if index >= len(_TOKENS):
                label = f"{label}-{index // len(_TOKENS) + 1}"
            chosen = rng.sample(repo_names, min(len(repo_names), 2))
            concrete = [
                (kind, path.format(org=name, repo=chosen[i % len(chosen)] if chosen else "none"), scopes)
                for i, (kind, path, scopes) in enumerate(resources)
            ]
            used = iso(rng.randrange(80_000_000, 100_000_000), fraction=False) if state != "unused" else None
            org.add_token(
                label,
                concrete,
                created_by=rng.choice(owners),
                description=description,
                expires_at={"expired": iso(3_600, fraction=False), "expiring": iso(400_000_000, fraction=False)}.get(
                    state
                ),
                last_used_at=used,
                is_active=state != "inactive",
            )
        return org


def implied_scopes(scopes: Iterable[str]) -> set[str]:
    """A scope and every scope it includes (Image Delete includes Image Push, which includes Image Pull …)."""
    held = set()
    for scope in scopes:
        while scope and scope not in held:
            held.add(scope)
            scope = _INCLUDES.get(scope, "")
    return held


_INCLUDES = {
    "scope-image-delete": "scope-image-push",
    "scope-image-push": "scope-image-pull",
    "scope-repository-admin": "scope-repository-edit",
    "scope-repository-edit": "scope-repository-read",
    "scope-tag-admin": "scope-tag-read",
    "scope-webhook-admin": "scope-webhook-edit",
    "scope-webhook-edit": "scope-webhook-read",
    "scope-repo-group-admin": "scope-repo-group-edit",
    "scope-repo-group-edit": "scope-repo-group-read",
    "scope-member-edit": "scope-member-read",
    "scope-invite-edit": "scope-invite-read",
    "scope-group-edit": "scope-group-read",
    "scope-ram-write": "scope-ram-read",
}

# label, description, resources (type, path template, scopes), state: active | inactive | expired | expiring | unused
_TOKENS = [
    ("ci-push", "CI pushes every image", [(TYPE_REPO, "{org}/*", ("scope-image-push",))], "active"),
    (
        "deploy-pull",
        "Production pulls two images",
        [(TYPE_REPO, "{org}/{repo}", ("scope-image-pull",)), (TYPE_REPO, "{org}/{repo}", ("scope-image-pull",))],
        "expiring",
    ),
    ("old-release", "", [(TYPE_REPO, "{org}/{repo}", ("scope-image-delete", "scope-repository-admin"))], "inactive"),
    ("temp-debug", "", [(TYPE_REPO, "*/*/public", ("scope-image-pull",))], "expired"),
    (
        "scim-bridge",
        "Directory sync",
        [(TYPE_ORG, "{org}", ("scope-member-edit", "scope-group-edit", "scope-invite-read"))],
        "unused",
    ),
]

_FIRST = "alex sam jo kim lee max ana ben cara dev eli fay gus hana ivan jun kai lena mia noor omar pia ravi".split()
_FIRST += "sofia tom uma vik wen yara zoe ali bo cruz dana erin finn gia hugo iris".split()
_LAST = "smith garcia chen okafor novak silva kumar muller rossi tanaka khan haddad berg lopez nguyen park".split()
_LAST += "walker santos dubois ahmed larsen costa mendes reyes schmidt yilmaz zhou".split()
_TEAM_WORDS = "platform payments mobile web data infra security sre growth search billing identity devex ml".split()
_TEAM_WORDS += "analytics support docs qa release api frontend backend edge storage network ops".split()
_REPO_ADJ = "fast blue quiet brave shiny lazy rapid tiny grand solid lucky smart calm bold clever eager".split()
_REPO_NOUN = "api web worker gateway portal sdk cli base runner proxy service engine builder agent store".split()


class _NameFactory:
    """Docker IDs are lowercase letters and digits: ``alexsmith``, ``alexsmith2``."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[str, int] = {}

    def next(self) -> tuple[str, str]:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        base = f"{first}{last}"
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return (base if count == 1 else f"{base}{count}"), f"{first.title()} {last.title()}"


def _unique(taken, rng: random.Random, *words: list[str]) -> str:
    base = "-".join(rng.choice(choices) for choices in words)
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate
