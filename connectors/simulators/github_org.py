"""The GitHub organization behind the simulator: people, teams, repositories and their grants.

Build one by hand with the ``add_*`` helpers (tests), or :meth:`GitHubOrg.generate` a plausible one
from a seed (demo, bench: 5,000 members / 2,000 repos / 300 teams in well under a second). The
model also answers what a correct connector must find (:meth:`GitHubOrg.facts`), how few REST
requests can enumerate it (:meth:`GitHubOrg.rest_lower_bound`), and changes itself between syncs
(:meth:`GitHubOrg.mutate_fraction` and the ``add_*``/``remove_*`` helpers).

Access rules follow GitHub's: https://docs.github.com/organizations/managing-user-access-to-your-organizations-repositories
(repository roles, base permission, nested teams inheriting the parent's repository access) and
https://docs.github.com/organizations/managing-user-access-to-your-organizations-repositories/managing-repository-roles/about-custom-repository-roles.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# ---------------------------------------------------------------------------
# Roles

BASE_ROLES = ("read", "triage", "write", "maintain", "admin")
_FROM_LEGACY = {"pull": "read", "push": "write"}
_TO_LEGACY = {"read": "pull", "write": "push"}


def legacy_name(base_role: str) -> str:
    """GitHub's older names for read and write, still used in ``permission`` fields."""
    return _TO_LEGACY.get(base_role, base_role)


def permission_flags(base_role: str) -> dict[str, bool]:
    """The ``permissions`` booleans GitHub sends for a base role."""
    rank = BASE_ROLES.index(base_role)
    return {"pull": rank >= 0, "triage": rank >= 1, "push": rank >= 2, "maintain": rank >= 3, "admin": rank >= 4}


# ---------------------------------------------------------------------------
# The organization model

_EPOCH = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)


def _iso(seconds: float) -> str:
    return (_EPOCH + timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}{number}".encode()).decode()


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User" or "Bot"
    site_admin: bool = False
    two_factor: bool = True
    name: str = ""
    created_at: str = ""


@dataclass
class Team:
    id: int
    slug: str
    name: str
    parent: str | None = None
    privacy: str = "closed"
    description: str = ""
    members: dict[str, str] = field(default_factory=dict)  # immediate members: login -> member | maintainer
    repos: dict[str, str] = field(default_factory=dict)  # repo name -> role name (base or custom)
    created_at: str = ""
    synced: bool = False  # members managed by an identity-provider group: GitHub refuses membership changes (403)


@dataclass
class DeployKey:
    id: int
    title: str
    key: str
    read_only: bool = True
    created_at: str = ""
    added_by: str | None = None
    last_used: str | None = None


@dataclass
class RepoInvitation:
    id: int
    login: str
    permission: str  # read | triage | write | maintain | admin
    inviter: str
    created_at: str = ""


@dataclass
class Repo:
    id: int
    name: str
    visibility: str = "private"  # private | public | internal
    archived: bool = False
    description: str = ""
    created_at: str = ""
    collaborators: dict[str, str] = field(default_factory=dict)  # direct grants: login -> role name
    keys: list[DeployKey] = field(default_factory=list)
    invitations: list[RepoInvitation] = field(default_factory=list)


@dataclass
class OrgInvitation:
    id: int
    login: str | None  # None for an email-only invitation
    email: str | None
    role: str  # direct_member | admin | billing_manager
    inviter: str
    created_at: str = ""
    teams: list[str] = field(default_factory=list)


@dataclass
class Installation:
    id: int
    app_id: int
    app_slug: str
    permissions: dict[str, str]
    events: list[str] = field(default_factory=list)
    repository_selection: str = "all"  # all | selected
    repositories: list[str] = field(default_factory=list)  # names, when selected
    suspended_at: str | None = None
    suspended_by: str | None = None
    created_at: str = ""


@dataclass
class ExternalIdentity:
    """A SAML (and optionally SCIM) identity of the org's identity provider; ``login`` None until a user links it."""

    guid: str
    name_id: str
    login: str | None = None
    username: str | None = None
    emails: list[str] = field(default_factory=list)
    scim_username: str | None = None


@dataclass
class CustomRole:
    id: int
    name: str
    base_role: str
    description: str = ""


@dataclass(frozen=True)
class Change:
    """One change made by :meth:`GitHubOrg.mutate_fraction`."""

    kind: str  # added | removed | changed
    grant: str  # collaborator (login on repo) | team_repo (team on repo) | team_member (login in team)
    subject: str  # login, or team slug for team_repo
    target: str  # repo name, or team slug for team_member
    before: str | None
    after: str | None


@dataclass(frozen=True)
class OrgFacts:
    """What a correct connector must find, computed from the model rather than from the API."""

    default_repository_permission: str
    two_factor_requirement_enabled: bool
    members: dict[str, str]  # login -> admin | member
    two_factor_disabled: frozenset[str]  # members and outside collaborators
    outside_collaborators: frozenset[str]
    invitations: frozenset[tuple[str, str]]  # (login, or email for email-only, role)
    teams: dict[str, str | None]  # slug -> parent slug
    team_members: frozenset[tuple[str, str, str]]  # (slug, login, role as the API reports it); immediate only
    team_repos: frozenset[tuple[str, str, str]]  # (slug, repo, role_name)
    repos: dict[str, tuple[str, bool]]  # name -> (visibility, archived)
    direct_grants: frozenset[tuple[str, str, str]]  # (login, repo, role_name)
    repo_invitations: frozenset[tuple[str, str, str]]  # (repo, login, permission)
    deploy_keys: frozenset[tuple[str, int, bool]]  # (repo, key id, read_only)
    installations: dict[str, tuple[str, frozenset[str], bool]]  # app_slug -> (selection, repos, suspended)


class GitHubOrg:
    """An organization's access data. Build by hand with the ``add_*`` helpers, or :meth:`generate`."""

    def __init__(
        self,
        name: str = "acme",
        *,
        id: int = 9001,
        default_repository_permission: str = "read",
        two_factor_requirement_enabled: bool = False,
    ):
        if default_repository_permission not in ("read", "write", "admin", "none"):
            raise ValueError("default_repository_permission is read, write, admin or none")
        self.name = name
        self.id = id
        self.default_repository_permission = default_repository_permission
        self.two_factor_requirement_enabled = two_factor_requirement_enabled
        self.created_at = _iso(0)
        self.users: dict[str, User] = {}
        self.members: dict[str, str] = {}  # login -> admin | member
        self.public_members: set[str] = set()  # memberships a token without read:org can still see
        self.teams: dict[str, Team] = {}
        self.repos: dict[str, Repo] = {}
        self.invitations: list[OrgInvitation] = []
        self.installations: list[Installation] = []
        self.custom_roles: dict[str, CustomRole] = {}
        self.saml_enabled = False  # SAML SSO on the organization: GraphQL samlIdentityProvider is not null
        self.external_identities: list[ExternalIdentity] = []
        # Separate id ranges per kind, so a client mixing up ids gets a 404 instead of a wrong object.
        self._ids = {"user": 10_000, "team": 1_000, "repo": 100_000, "key": 500_000, "invitation": 900_000}
        self._ids |= {"installation": 70_000, "app": 3_000, "role": 0}
        self._tick = 0

    # -- ids and times

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _stamp(self) -> str:
        self._tick += 1
        return _iso(self._tick * 7 * 3600)

    # -- roles

    def role(self, name: str) -> str:
        """Validate a repository role name; accepts GitHub's legacy ``pull``/``push``."""
        name = _FROM_LEGACY.get(name, name)
        if name not in BASE_ROLES and name not in self.custom_roles:
            raise ValueError(f"unknown repository role {name!r}")
        return name

    def base_role(self, name: str) -> str:
        return self.custom_roles[name].base_role if name in self.custom_roles else name

    def role_rank(self, name: str) -> int:
        """Custom roles rank just above their base role: they add permissions to it."""
        return BASE_ROLES.index(self.base_role(name)) * 2 + (1 if name in self.custom_roles else 0)

    def add_custom_role(self, name: str, base_role: str = "write", description: str = "") -> CustomRole:
        if base_role not in BASE_ROLES:
            raise ValueError(f"a custom role's base role is one of {', '.join(BASE_ROLES)}")
        role = CustomRole(self._next_id("role"), name, base_role, description)
        self.custom_roles[name] = role
        return role

    # -- people

    @property
    def owner_login(self) -> str:
        """The first owner: the generated org's token belongs to them."""
        return next(login for login, role in self.members.items() if role == "admin")

    def add_user(self, login: str, *, type: str = "User", two_factor: bool = True, name: str = "") -> User:
        if login not in self.users:
            self.users[login] = User(login, self._next_id("user"), type, False, two_factor, name, self._stamp())
        return self.users[login]

    def add_member(
        self,
        login: str,
        role: str = "member",
        *,
        two_factor: bool = True,
        public: bool = False,
        type: str = "User",
    ) -> User:
        if role not in ("admin", "member"):
            raise ValueError("an org member's role is admin or member")
        user = self.add_user(login, type=type, two_factor=two_factor)
        self.members[login] = role
        if public:
            self.public_members.add(login)
        return user

    def set_member_role(self, login: str, role: str) -> None:
        if login not in self.members:
            raise KeyError(login)
        self.add_member(login, role)

    def remove_member(self, login: str) -> None:
        """Like GitHub: leaves every team and loses direct repository access too."""
        del self.members[login]
        self.public_members.discard(login)
        for team in self.teams.values():
            team.members.pop(login, None)
        for repo in self.repos.values():
            repo.collaborators.pop(login, None)

    def outside_collaborators(self) -> list[str]:
        """Non-members with a direct grant on at least one repository, by user id."""
        found = {login for repo in self.repos.values() for login in repo.collaborators if login not in self.members}
        return sorted(found, key=lambda login: self.users[login].id)

    def add_outside_collaborator(self, login: str, repo: str, role: str = "read", *, two_factor: bool = True) -> User:
        if login in self.members:
            raise ValueError(f"{login} is an org member")
        user = self.add_user(login, two_factor=two_factor)
        self.add_collaborator(repo, login, role)
        return user

    def remove_outside_collaborator(self, login: str) -> None:
        for repo in self.repos.values():
            repo.collaborators.pop(login, None)

    # -- SAML single sign-on

    def add_saml_identity(
        self,
        login: str | None,
        name_id: str,
        *,
        username: str | None = None,
        emails: Iterable[str] = (),
        scim_username: str | None = None,
    ) -> ExternalIdentity:
        """An external identity of the org's SAML provider (turns SAML on); ``login`` None: not linked to a user."""
        self.saml_enabled = True
        number = len(self.external_identities) + 1
        guid = f"{number:08x}-5a31-4d1e-9c2b-{self.id:012x}"
        identity = ExternalIdentity(guid, name_id, login, username, list(emails), scim_username)
        self.external_identities.append(identity)
        return identity

    # -- invitations

    def add_invitation(
        self,
        *,
        login: str | None = None,
        email: str | None = None,
        role: str = "direct_member",
        inviter: str | None = None,
        teams: Iterable[str] = (),
    ) -> OrgInvitation:
        if (login is None) == (email is None):
            raise ValueError("invite either a login or an email")
        if login is not None:
            self.add_user(login)
        invitation = OrgInvitation(
            self._next_id("invitation"), login, email, role, inviter or self.owner_login, self._stamp(), list(teams)
        )
        self.invitations.append(invitation)
        return invitation

    def cancel_invitation(self, invitation_id: int) -> None:
        before = len(self.invitations)
        self.invitations = [inv for inv in self.invitations if inv.id != invitation_id]
        if len(self.invitations) == before:
            raise KeyError(invitation_id)

    # -- teams

    def add_team(
        self, slug: str, *, name: str | None = None, parent: str | None = None, privacy: str = "closed", description=""
    ) -> Team:
        if parent is not None and parent not in self.teams:
            raise KeyError(parent)
        team = Team(self._next_id("team"), slug, name or slug, parent, privacy, description, created_at=self._stamp())
        self.teams[slug] = team
        return team

    def remove_team(self, slug: str) -> None:
        """Deleting a parent team deletes its child teams too, as on GitHub."""
        for gone in self.descendants(slug):
            del self.teams[gone]

    def add_team_member(self, slug: str, login: str, role: str = "member") -> None:
        if role not in ("member", "maintainer"):
            raise ValueError("a team role is member or maintainer")
        if login not in self.members:
            raise ValueError(f"{login} is not an org member")
        self.teams[slug].members[login] = role

    def remove_team_member(self, slug: str, login: str) -> None:
        del self.teams[slug].members[login]

    def grant_team(self, slug: str, repo: str, role: str) -> None:
        if repo not in self.repos:
            raise KeyError(repo)
        self.teams[slug].repos[repo] = self.role(role)

    def revoke_team(self, slug: str, repo: str) -> None:
        del self.teams[slug].repos[repo]

    def children(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {slug: [] for slug in self.teams}
        for team in self.teams.values():
            if team.parent is not None:
                found[team.parent].append(team.slug)
        return found

    def descendants(self, slug: str) -> list[str]:
        """The team and every team below it, breadth first."""
        children = self.children()
        order = [slug]
        for current in order:
            order.extend(children[current])
        return order

    def depth(self, slug: str) -> int:
        parent = self.teams[slug].parent
        return 1 if parent is None else 1 + self.depth(parent)

    def team_members(self, slug: str, *, include_children: bool = True) -> dict[str, str]:
        """login -> team role; with children, a child-only member carries the role of the nearest team."""
        teams = self.descendants(slug) if include_children else [slug]
        found: dict[str, str] = {}
        for current in teams:
            for login, role in self.teams[current].members.items():
                found.setdefault(login, role)
        return found

    def reported_team_role(self, login: str, role: str) -> str:
        """GitHub reports organization owners as team maintainers."""
        return "maintainer" if self.members.get(login) == "admin" else role

    # -- repositories

    def add_repo(self, name: str, *, visibility: str = "private", archived: bool = False, description="") -> Repo:
        if visibility not in ("private", "public", "internal"):
            raise ValueError("visibility is private, public or internal")
        repo = Repo(self._next_id("repo"), name, visibility, archived, description, self._stamp())
        self.repos[name] = repo
        return repo

    def remove_repo(self, name: str) -> None:
        del self.repos[name]
        for team in self.teams.values():
            team.repos.pop(name, None)
        for installation in self.installations:
            if name in installation.repositories:
                installation.repositories.remove(name)

    def add_collaborator(self, repo: str, login: str, role: str = "write") -> None:
        self.add_user(login)
        self.repos[repo].collaborators[login] = self.role(role)

    def set_collaborator_role(self, repo: str, login: str, role: str) -> None:
        if login not in self.repos[repo].collaborators:
            raise KeyError(login)
        self.repos[repo].collaborators[login] = self.role(role)

    def remove_collaborator(self, repo: str, login: str) -> None:
        del self.repos[repo].collaborators[login]

    def add_repo_invitation(self, repo: str, login: str, permission: str = "write", inviter: str | None = None):
        self.add_user(login)
        invitation = RepoInvitation(
            self._next_id("invitation"), login, self.base_role(self.role(permission)), inviter or self.owner_login
        )
        invitation.created_at = self._stamp()
        self.repos[repo].invitations.append(invitation)
        return invitation

    def add_deploy_key(self, repo: str, title: str = "deploy", *, read_only: bool = True, added_by=None) -> DeployKey:
        key_id = self._next_id("key")
        material = base64.b64encode(f"simulated-ed25519-{self.name}-{key_id}".encode()).decode()
        key = DeployKey(key_id, title, f"ssh-ed25519 {material}", read_only, self._stamp(), added_by)
        self.repos[repo].keys.append(key)
        return key

    def remove_deploy_key(self, repo: str, key_id: int) -> None:
        keys = self.repos[repo].keys
        keys.remove(next(key for key in keys if key.id == key_id))

    # -- app installations

    def add_installation(
        self,
        app_slug: str,
        *,
        permissions: Mapping[str, str] | None = None,
        events: Iterable[str] = (),
        repository_selection: str = "all",
        repositories: Iterable[str] = (),
        suspended: bool = False,
    ) -> Installation:
        installation = Installation(
            self._next_id("installation"),
            self._next_id("app"),
            app_slug,
            dict(permissions or {"metadata": "read"}),
            list(events),
            repository_selection,
            list(repositories) if repository_selection == "selected" else [],
            created_at=self._stamp(),
        )
        if suspended:
            installation.suspended_at, installation.suspended_by = self._stamp(), self.owner_login
        self.installations.append(installation)
        return installation

    def installation_repos(self, installation: Installation) -> list[Repo]:
        if installation.repository_selection == "all":
            return list(self.repos.values())
        return [self.repos[name] for name in installation.repositories if name in self.repos]

    # -- effective access

    def collaborators(self, repo_name: str, affiliation: str = "all") -> list[tuple[User, str]]:
        """(user, role_name) pairs as ``GET /repos/{o}/{r}/collaborators?affiliation=`` lists them, by user id."""
        repo = self.repos[repo_name]
        if affiliation == "direct":
            grants = dict(repo.collaborators)
        elif affiliation == "outside":
            grants = {login: role for login, role in repo.collaborators.items() if login not in self.members}
        else:
            grants = {}
            base = self.default_repository_permission
            for login, org_role in self.members.items():
                if org_role == "admin":
                    grants[login] = "admin"
                elif base != "none":
                    grants[login] = base
            for team in self.teams.values():
                role = team.repos.get(repo_name)
                if role is not None:
                    for login in self.team_members(team.slug):
                        self._offer(grants, login, role)
            for login, role in repo.collaborators.items():
                self._offer(grants, login, role)
        return sorted(((self.users[login], role) for login, role in grants.items()), key=lambda pair: pair[0].id)

    def _offer(self, grants: dict[str, str], login: str, role: str) -> None:
        current = grants.get(login)
        if current is None or self.role_rank(role) > self.role_rank(current):
            grants[login] = role

    def effective_role(self, login: str, repo_name: str) -> str | None:
        """Highest role ``login`` holds on the repository from any source, or None."""
        grants: dict[str, str] = {}
        if login in self.members:
            if self.members[login] == "admin":
                return "admin"
            if self.default_repository_permission != "none":
                grants[login] = self.default_repository_permission
            for team in self.teams.values():
                role = team.repos.get(repo_name)
                if role is not None and login in self.team_members(team.slug):
                    self._offer(grants, login, role)
        direct = self.repos[repo_name].collaborators.get(login)
        if direct is not None:
            self._offer(grants, login, direct)
        return grants.get(login)

    # -- expectations for tests

    def facts(self) -> OrgFacts:
        outside = self.outside_collaborators()
        return OrgFacts(
            default_repository_permission=self.default_repository_permission,
            two_factor_requirement_enabled=self.two_factor_requirement_enabled,
            members=dict(self.members),
            two_factor_disabled=frozenset(
                login for login in [*self.members, *outside] if not self.users[login].two_factor
            ),
            outside_collaborators=frozenset(outside),
            invitations=frozenset((inv.login or inv.email or "", inv.role) for inv in self.invitations),
            teams={slug: team.parent for slug, team in self.teams.items()},
            team_members=frozenset(
                (slug, login, self.reported_team_role(login, role))
                for slug, team in self.teams.items()
                for login, role in team.members.items()
            ),
            team_repos=frozenset(
                (slug, repo, role) for slug, team in self.teams.items() for repo, role in team.repos.items()
            ),
            repos={name: (repo.visibility, repo.archived) for name, repo in self.repos.items()},
            direct_grants=frozenset(
                (login, name, role) for name, repo in self.repos.items() for login, role in repo.collaborators.items()
            ),
            repo_invitations=frozenset(
                (name, inv.login, inv.permission) for name, repo in self.repos.items() for inv in repo.invitations
            ),
            deploy_keys=frozenset(
                (name, key.id, key.read_only) for name, repo in self.repos.items() for key in repo.keys
            ),
            installations={
                inst.app_slug: (
                    inst.repository_selection,
                    frozenset(repo.name for repo in self.installation_repos(inst))
                    if inst.repository_selection == "selected"
                    else frozenset(),
                    inst.suspended_at is not None,
                )
                for inst in self.installations
            },
        )

    expected_facts = facts

    def rest_plan(self) -> list[tuple[str, int | None]]:
        """The cheapest REST enumeration of everything: (path with query, items listed or None for a single object).

        Org members by ``role=admin`` and ``role=member`` plus the 2FA filters; per team the
        ``role=maintainer`` and ``role=member`` lists and its repos (team lists and the per-user membership
        call both include child-team members, so no per-user call can tell immediate members apart);
        per repository its direct collaborators,
        invitations and deploy keys (team grants come from the team side); the selected repositories
        of each ``selected`` installation.
        """
        org = f"/orgs/{self.name}"
        outside = self.outside_collaborators()
        admins = sum(1 for role in self.members.values() if role == "admin")
        plan: list[tuple[str, int | None]] = [
            (org, None),
            (f"{org}/members?role=admin", admins),
            (f"{org}/members?role=member", len(self.members) - admins),
            (f"{org}/members?filter=2fa_disabled", sum(1 for m in self.members if not self.users[m].two_factor)),
            (f"{org}/outside_collaborators", len(outside)),
            (
                f"{org}/outside_collaborators?filter=2fa_disabled",
                sum(1 for o in outside if not self.users[o].two_factor),
            ),
            (f"{org}/invitations", len(self.invitations)),
            (f"{org}/installations", len(self.installations)),
            (f"{org}/teams", len(self.teams)),
        ]
        for slug, team in self.teams.items():
            listed = {login: self.reported_team_role(login, role) for login, role in self.team_members(slug).items()}
            maintainers = sum(1 for role in listed.values() if role == "maintainer")
            plan.append((f"{org}/teams/{slug}/members?role=maintainer", maintainers))
            plan.append((f"{org}/teams/{slug}/members?role=member", len(listed) - maintainers))
            plan.append((f"{org}/teams/{slug}/repos", len(team.repos)))
        plan.append((f"{org}/repos?type=all", len(self.repos)))
        for name, repo in self.repos.items():
            plan.append((f"/repos/{self.name}/{name}/collaborators?affiliation=direct", len(repo.collaborators)))
            plan.append((f"/repos/{self.name}/{name}/invitations", len(repo.invitations)))
            plan.append((f"/repos/{self.name}/{name}/keys", len(repo.keys)))
        plan.extend(
            (f"/user/installations/{inst.id}/repositories", len(self.installation_repos(inst)))
            for inst in self.installations
            if inst.repository_selection == "selected"
        )
        return plan

    def rest_lower_bound(self, per_page: int = 100) -> int:
        """Minimum requests for :meth:`rest_plan`: ceil(n/per_page) per list, at least 1; 1 per single object."""
        return sum(1 if items is None else max(1, math.ceil(items / per_page)) for _, items in self.rest_plan())

    # -- mutation between syncs

    def grants(self) -> list[tuple[str, str, str, str]]:
        """Every grant as (kind, subject, target, role), in a stable order."""
        found = [
            ("collaborator", login, name, role)
            for name, r in self.repos.items()
            for login, role in r.collaborators.items()
        ]
        for slug, team in self.teams.items():
            found.extend(("team_repo", slug, repo, role) for repo, role in team.repos.items())
            found.extend(("team_member", login, slug, role) for login, role in team.members.items())
        return found

    def mutate_fraction(self, fraction: float, seed: int = 0) -> list[Change]:
        """Change ``round(fraction × grants)`` grants (at least one): about half get another role, a quarter are
        removed, and for a quarter a new grant of the same kind appears elsewhere."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        grants = self.grants()
        if fraction <= 0 or not grants:
            return []
        chosen = sorted(rng.sample(range(len(grants)), min(len(grants), max(1, round(fraction * len(grants))))))
        changes: list[Change] = []
        touched: set[tuple[str, str, str]] = set()  # an addition must not re-create a grant changed just now
        for index in chosen:
            kind, subject, target, role = grants[index]
            roll = rng.random()
            change = None
            if roll >= 0.75:
                change = self._add_random_grant(rng, kind, touched)
            if change is None and roll >= 0.5:
                change = self._remove_grant(kind, subject, target, role)
            if change is None:
                change = self._change_grant(rng, kind, subject, target, role)
            changes.append(change)
            touched.add((change.grant, change.subject, change.target))
        return changes

    def _repo_roles(self) -> list[str]:
        return [*BASE_ROLES, *self.custom_roles]

    def _change_grant(self, rng: random.Random, kind: str, subject: str, target: str, role: str) -> Change:
        if kind == "team_member":
            new = "member" if role == "maintainer" else "maintainer"
            self.teams[target].members[subject] = new
        else:
            new = rng.choice([other for other in self._repo_roles() if other != role])
            if kind == "collaborator":
                self.repos[target].collaborators[subject] = new
            else:
                self.teams[subject].repos[target] = new
        return Change("changed", kind, subject, target, role, new)

    def _remove_grant(self, kind: str, subject: str, target: str, role: str) -> Change:
        if kind == "collaborator":
            del self.repos[target].collaborators[subject]
        elif kind == "team_repo":
            del self.teams[subject].repos[target]
        else:
            del self.teams[target].members[subject]
        return Change("removed", kind, subject, target, role, None)

    def _add_random_grant(self, rng: random.Random, kind: str, touched: set[tuple[str, str, str]]) -> Change | None:
        members, repos, teams = list(self.members), list(self.repos), list(self.teams)
        if not members or not repos or not teams:
            return None
        for _ in range(20):
            if kind == "collaborator":
                subject, target = rng.choice(members), rng.choice(repos)
                held = self.repos[target].collaborators
                key, role = subject, rng.choice(self._repo_roles())
            elif kind == "team_repo":
                subject, target = rng.choice(teams), rng.choice(repos)
                held, key, role = self.teams[subject].repos, target, rng.choice(self._repo_roles())
            else:
                subject, target = rng.choice(members), rng.choice(teams)
                held, key, role = self.teams[target].members, subject, "member"
            if key not in held and (kind, subject, target) not in touched:
                held[key] = role
                return Change("added", kind, subject, target, None, role)
        return None

    # -- generation

    @classmethod
    def generate(
        cls,
        name: str = "acme",
        seed: int = 1,
        members: int = 50,
        outside_collaborators: int = 5,
        teams: int = 10,
        repos: int = 30,
        *,
        invitations: int | None = None,
        installations: int = 3,
        default_repository_permission: str | None = None,
        two_factor_requirement_enabled: bool = False,
        saml: bool = False,
    ) -> GitHubOrg:
        """A plausible organization, identical for identical arguments. ``members`` includes the owner
        ``{name}-owner`` whose token the simulator hands out by default. ``saml`` adds SAML identities for about
        nine in ten members (NameID ``first.last@example.com``, some in upper case) and one never linked."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        org = cls(
            name,
            default_repository_permission=default_repository_permission
            or rng.choice(["read", "read", "write", "none"]),
            two_factor_requirement_enabled=two_factor_requirement_enabled,
        )
        org.add_custom_role("deployer", "write", "Write, plus manage deployments and environments")
        org.add_custom_role("security-auditor", "read", "Read, plus view security alerts")
        logins = _LoginFactory(rng)
        org._tick = rng.randrange(1000)

        org.add_member(f"{name}-owner", "admin")
        for _ in range(max(0, members - 1)):
            two_factor = two_factor_requirement_enabled or rng.random() >= 0.1
            role = "admin" if rng.random() < 0.04 else "member"
            org.add_member(logins.next(), role, two_factor=two_factor, public=rng.random() < 0.3)
        member_logins = list(org.members)
        admins = [login for login, role in org.members.items() if role == "admin"]

        for _ in range(repos):
            visibility = rng.choices(["private", "public", "internal"], [6, 2, 2])[0]
            repo = org.add_repo(_unique(org.repos, rng, _REPO_ADJ, _REPO_NOUN), visibility=visibility)
            repo.archived = rng.random() < 0.05
        repo_names = list(org.repos)
        roles = [*BASE_ROLES, *org.custom_roles]

        for _ in range(teams):
            candidates = [slug for slug in org.teams if org.depth(slug) < 3]
            parent = rng.choice(candidates) if candidates and rng.random() < 0.5 else None
            slug = _unique(org.teams, rng, _TEAM_WORDS)
            secret = parent is None and rng.random() < 0.15  # child teams cannot be secret
            team = org.add_team(
                slug, name=slug.replace("-", " ").title(), parent=parent, privacy="secret" if secret else "closed"
            )
            size = rng.randint(1, max(2, min(40, members // 5)))
            for login in rng.sample(member_logins, min(size, len(member_logins))):
                team.members[login] = "maintainer" if rng.random() < 0.15 else "member"
            for repo_name in rng.sample(repo_names, min(len(repo_names), rng.randint(1, 12))):
                team.repos[repo_name] = rng.choices(roles, [30, 5, 35, 10, 10, 8, 2])[0]

        for repo_name in repo_names:
            count = rng.choices([0, 1, 2, 3], [40, 30, 20, 10])[0]
            for login in rng.sample(member_logins, min(count, len(member_logins))):
                org.repos[repo_name].collaborators[login] = rng.choices(roles, [25, 10, 35, 10, 10, 5, 5])[0]

        for index in range(outside_collaborators):
            bot = index == outside_collaborators - 1 and outside_collaborators >= 3
            login = f"{name}-ci-bot" if bot else logins.next()
            org.add_user(
                login, type="Bot" if bot else "User", two_factor=two_factor_requirement_enabled or rng.random() >= 0.2
            )
            for repo_name in rng.sample(repo_names, min(len(repo_names), rng.randint(1, 3))):
                org.repos[repo_name].collaborators[login] = rng.choices(roles, [50, 10, 25, 0, 0, 15, 0])[0]

        for repo_name in repo_names:
            for _ in range(rng.choices([0, 1, 2], [60, 30, 10])[0]):
                key = org.add_deploy_key(
                    repo_name, rng.choice(_KEY_TITLES), read_only=rng.random() < 0.7, added_by=rng.choice(admins)
                )
                key.last_used = _iso(rng.randrange(10_000_000, 90_000_000)) if rng.random() < 0.6 else None
            if rng.random() < 0.05:
                org.add_repo_invitation(
                    repo_name, logins.next(), rng.choice(["read", "write", "triage"]), rng.choice(admins)
                )

        for _ in range(max(1, members // 25) if invitations is None else invitations):
            role = "admin" if rng.random() < 0.1 else "direct_member"
            invited_teams = rng.sample(list(org.teams), min(len(org.teams), rng.randint(0, 2)))
            if rng.random() < 0.3:
                login = logins.next()
                org.add_invitation(
                    email=f"{login.replace('-', '.')}@example.com",
                    role=role,
                    inviter=rng.choice(admins),
                    teams=invited_teams,
                )
            else:
                org.add_invitation(login=logins.next(), role=role, inviter=rng.choice(admins), teams=invited_teams)

        for index in range(installations):
            slug, permissions, events = _APPS[index % len(_APPS)]
            if index >= len(_APPS):
                slug = f"{slug}-{index // len(_APPS) + 1}"
            selected = index % 2 == 1
            chosen = rng.sample(repo_names, min(len(repo_names), rng.randint(1, 5))) if selected else []
            org.add_installation(
                slug,
                permissions=permissions,
                events=events,
                repository_selection="selected" if selected else "all",
                repositories=chosen,
                suspended=index == 2,
            )
        if saml:
            org._generate_saml(random.Random(seed + 7919))  # noqa: S311 - own stream: the rest stays as without saml
        return org

    def _generate_saml(self, rng: random.Random) -> None:
        for login in self.members:
            if rng.random() < 0.1:
                continue
            email = f"{login.replace('-', '.')}@example.com"
            self.add_saml_identity(login, email.upper() if rng.random() < 0.2 else email, emails=[email])
        self.add_saml_identity(None, f"never.linked@{self.name}.example")


_FIRST = (
    "alex sam jo kim lee max ana ben cara dev eli fay gus hana ivan jun kai lena mia noor omar pia quinn ravi".split()
)
_FIRST += "sofia tom uma vik wen yara zoe ali bo cruz dana erin finn gia hugo iris".split()
_LAST = "smith garcia chen okafor novak silva kumar muller rossi tanaka khan haddad berg ivanova lopez nguyen".split()
_LAST += "park walker santos dubois kowalski ahmed larsen costa mendes oduya reyes schmidt yilmaz zhou".split()
_TEAM_WORDS = "platform payments mobile web data infra security sre growth search billing identity devex ml".split()
_TEAM_WORDS += "analytics support docs qa release api frontend backend ios android edge storage network ops".split()
_REPO_ADJ = "fast blue quiet brave shiny lazy rapid tiny grand solid lucky smart calm bold clever eager".split()
_REPO_NOUN = "api web worker gateway portal sdk cli infra docs service engine pipeline dashboard scheduler".split()
_REPO_NOUN += "agent proxy store ledger search auth".split()
_KEY_TITLES = ["deploy", "ci", "backup", "mirror", "release", "terraform"]
_APPS = [
    ("renovate", {"contents": "write", "metadata": "read", "pull_requests": "write", "workflows": "write"}, ["push"]),
    ("ci-runner", {"checks": "write", "contents": "read", "metadata": "read", "statuses": "write"}, ["check_run"]),
    ("slack", {"issues": "read", "metadata": "read", "pull_requests": "read"}, ["issues", "pull_request"]),
    ("release-bot", {"administration": "write", "contents": "write", "metadata": "read"}, ["release"]),
    ("security-scanner", {"metadata": "read", "security_events": "write", "vulnerability_alerts": "read"}, []),
]


class _LoginFactory:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[str, int] = {}

    def next(self) -> str:
        base = f"{self.rng.choice(_FIRST)}-{self.rng.choice(_LAST)}"
        count = self.used.get(base, 0) + 1
        self.used[base] = count
        return base if count == 1 else f"{base}-{count}"


def _unique(taken: Mapping[str, Any], rng: random.Random, *words: list[str]) -> str:
    base = "-".join(rng.choice(choices) for choices in words)
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate
