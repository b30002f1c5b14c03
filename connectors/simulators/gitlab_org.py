"""The data behind the GitLab simulator: users, a group tree with projects, memberships, shares and tokens.

Access follows GitLab's documented rules (https://docs.gitlab.com/user/project/members/ and
https://docs.gitlab.com/user/project/members/sharing_projects_groups/):
* a direct member of a group is a member of every descendant group and project at the same level;
* a group shared with (invited into) a group or project gives the invited group's direct members AND the
  members it inherits from its own ancestors access, each at the lower of the share's level and their own;
  members of the invited group's subgroups get nothing through the share;
* the effective level is the highest of all these.

``effective_level`` implements those rules independently of the connector and the engine, so tests can
compare the inventory's expanded export with it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

ROLE_NAMES = {
    5: "minimal_access",
    10: "guest",
    15: "planner",
    20: "reporter",
    30: "developer",
    40: "maintainer",
    50: "owner",
}
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
PER_PAGE = 100


@dataclass
class Identity:
    """An external identity of a user: ``provider`` (``group_saml``, ``saml``, ``ldapmain``, ``github`` …)."""

    provider: str
    extern_uid: str
    saml_provider_id: int | None = None  # group SAML: the top-level group's SAML provider


@dataclass
class User:
    id: int
    username: str
    name: str
    email: str = ""
    state: str = "active"  # active, blocked, deactivated
    kind: str = "human"  # human, project_bot, service_account
    external: bool = False
    is_admin: bool = False
    two_factor: bool = False
    last_activity_on: str | None = None
    last_sign_in_at: str | None = None
    created_at: str = ""
    identities: list[Identity] = field(default_factory=list)  # external sign-in identities (SAML, LDAP, OAuth)

    @property
    def bot(self) -> bool:
        return self.kind != "human"


@dataclass
class Member:
    user_id: int
    access_level: int
    expires_at: str | None = None
    created_by: int | None = None
    created_at: str = ""
    member_role_id: int | None = None


@dataclass
class Share:
    group_id: int
    access_level: int
    expires_at: str | None = None


@dataclass
class Invitation:
    email: str
    access_level: int
    created_at: str = ""
    expires_at: str | None = None
    created_by: int | None = None


@dataclass
class AccessToken:
    id: int
    name: str
    user_id: int
    access_level: int
    scopes: list[str]
    created_at: str = ""
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked: bool = False


@dataclass
class DeployToken:
    id: int
    name: str
    username: str
    scopes: list[str]
    expires_at: str | None = None
    revoked: bool = False


@dataclass
class DeployKey:
    id: int
    title: str
    key: str
    created_at: str = ""


@dataclass
class MemberRole:
    id: int
    group_id: int
    name: str
    base_access_level: int


@dataclass
class Namespace:
    """What groups and projects share: members, shares, invitations and tokens."""

    id: int
    name: str
    path: str
    members: dict[int, Member] = field(default_factory=dict)
    shares: dict[int, Share] = field(default_factory=dict)  # invited group id -> share
    invitations: dict[str, Invitation] = field(default_factory=dict)
    access_tokens: dict[int, AccessToken] = field(default_factory=dict)
    deploy_tokens: dict[int, DeployToken] = field(default_factory=dict)
    created_at: str = ""


@dataclass
class Group(Namespace):
    parent_id: int | None = None
    service_accounts: list[int] = field(default_factory=list)  # top-level groups only
    saml_provider_id: int | None = None  # group SAML SSO, configured on top-level groups only


@dataclass
class Project(Namespace):
    namespace_id: int = 0
    deploy_keys: dict[int, bool] = field(default_factory=dict)  # deploy key id -> can_push


@dataclass(frozen=True)
class Change:
    """One change made by ``mutate_fraction``: a direct membership removed or its level changed."""

    action: str  # remove_member or set_level
    path: str
    username: str
    access_level: int | None = None


@dataclass(frozen=True)
class GitLabFacts:
    users: int
    groups: int
    projects: int
    direct_memberships: int
    shares: int
    invitations: int
    access_tokens: int
    deploy_tokens: int
    deploy_key_links: int
    service_accounts: int
    admins: int


def _iso(days: float) -> str:
    return (EPOCH + timedelta(days=days)).isoformat().replace("+00:00", "Z")


class GitLabOrg:
    """A GitLab instance: built by hand with ``add_*`` or by ``generate``; served by GitLabSimulator."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.deploy_keys: dict[int, DeployKey] = {}
        self.member_roles: dict[int, MemberRole] = {}
        self.tokens: dict[str, int] = {}  # API token -> user id
        self._ids: dict[str, int] = {}
        self._by_username: dict[str, int] = {}
        self._paths: dict[tuple[str, int], str] = {}
        self._by_path: dict[str, tuple[str, int]] = {}
        self.admin = self.add_user("root", name="Administrator", is_admin=True, two_factor=True)

    # -- ids and paths

    def _next(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def full_path(self, node: Group | Project) -> str:
        kind = "group" if isinstance(node, Group) else "project"
        key = (kind, node.id)
        if key not in self._paths:
            parent_id = node.parent_id if isinstance(node, Group) else node.namespace_id
            prefix = self.full_path(self.groups[parent_id]) + "/" if parent_id else ""
            self._paths[key] = prefix + node.path
        return self._paths[key]

    def find(self, path_or_id: str, kind: str) -> Group | Project | None:
        table = self.groups if kind == "group" else self.projects
        if path_or_id.isdigit():
            return table.get(int(path_or_id))
        found = self._by_path.get(path_or_id)
        return table.get(found[1]) if found and found[0] == kind else None

    def group(self, path: str) -> Group:
        node = self.find(path, "group")
        if not isinstance(node, Group):
            raise KeyError(path)
        return node

    def project(self, path: str) -> Project:
        node = self.find(path, "project")
        if not isinstance(node, Project):
            raise KeyError(path)
        return node

    def node(self, path: str) -> Group | Project:
        return self.group(path) if self._by_path.get(path, ("",))[0] == "group" else self.project(path)

    def user(self, username: str) -> User:
        return self.users[self._by_username[username]]

    def ancestors(self, group_id: int | None) -> list[Group]:
        """The group and its parents, nearest first."""
        chain = []
        while group_id:
            group = self.groups[group_id]
            chain.append(group)
            group_id = group.parent_id
        return chain

    def chain(self, node: Group | Project) -> list[Group | Project]:
        """The node, then the groups above it."""
        parent = node.parent_id if isinstance(node, Group) else node.namespace_id
        return [node, *self.ancestors(parent)]

    def descendants(self, group: Group) -> list[Group]:
        children: dict[int, list[Group]] = {}
        for g in self.groups.values():
            if g.parent_id:
                children.setdefault(g.parent_id, []).append(g)
        found, stack = [], list(children.get(group.id, []))
        while stack:
            g = stack.pop(0)
            found.append(g)
            stack.extend(children.get(g.id, []))
        return found

    def projects_under(self, group: Group, *, include_subgroups: bool = True) -> list[Project]:
        ids = {group.id} | ({g.id for g in self.descendants(group)} if include_subgroups else set())
        return [p for p in self.projects.values() if p.namespace_id in ids]

    # -- building

    def add_user(self, username: str, *, name: str | None = None, **fields) -> User:
        user = User(self._next("user"), username, name if name is not None else username.title(), **fields)
        user.email = user.email or f"{username}@example.test"
        user.created_at = user.created_at or _iso(user.id % 300)
        self.users[user.id] = user
        self._by_username[username] = user.id
        return user

    def add_identity(self, username: str, provider: str, extern_uid: str) -> Identity:
        """An instance-level identity (LDAP, instance SAML, OAuth), shown to administrators in the users API."""
        identity = Identity(provider, extern_uid)
        self.user(username).identities.append(identity)
        return identity

    def link_group_saml(self, top: str, username: str, extern_uid: str) -> Identity:
        """Group SAML SSO on a top-level group (configured on first use) and the user's identity with it."""
        group = self.group(top)
        if group.parent_id:
            raise ValueError("group SAML is configured on top-level groups")
        if group.saml_provider_id is None:
            group.saml_provider_id = self._next("saml_provider")
        identity = Identity("group_saml", extern_uid, group.saml_provider_id)
        self.user(username).identities.append(identity)
        return identity

    def group_saml_identity(self, node: Group | Project, user_id: int) -> Identity | None:
        """The user's identity with the SAML provider of the node's top-level group, if both exist."""
        parent = node.parent_id if isinstance(node, Group) else node.namespace_id
        top = self.ancestors(parent)[-1] if parent else node
        provider = getattr(top, "saml_provider_id", None)
        if provider is None:
            return None
        user = self.users.get(user_id)
        return next((i for i in user.identities if i.saml_provider_id == provider), None) if user else None

    def add_token(self, username: str, token: str) -> None:
        self.tokens[token] = self.user(username).id

    def add_group(self, path: str, *, name: str | None = None, parent: str | None = None) -> Group:
        parent_id = self.group(parent).id if parent else None
        group = Group(self._next("group"), name if name is not None else path, path, parent_id=parent_id)
        group.created_at = _iso(group.id % 200)
        self.groups[group.id] = group
        self._by_path[self.full_path(group)] = ("group", group.id)
        return group

    def add_project(self, path: str, *, group: str, name: str | None = None) -> Project:
        project = Project(self._next("project"), name if name is not None else path, path)
        project.namespace_id = self.group(group).id
        project.created_at = _iso(project.id % 200)
        self.projects[project.id] = project
        self._by_path[self.full_path(project)] = ("project", project.id)
        return project

    def add_member(self, path: str, username: str, level: int, *, expires_at=None, by=None, role=None) -> Member:
        node = self.node(path)
        custom = self.member_roles_by_name()[role] if role else None
        role_id = custom.id if custom else None
        level = custom.base_access_level if custom else level
        member = Member(self.user(username).id, level, expires_at, self.user(by).id if by else None, _iso(10), role_id)
        node.members[member.user_id] = member
        return member

    def member_roles_by_name(self) -> dict[str, MemberRole]:
        return {role.name: role for role in self.member_roles.values()}

    def add_member_role(self, group: str, name: str, base_access_level: int) -> MemberRole:
        role = MemberRole(self._next("member_role"), self.group(group).id, name, base_access_level)
        self.member_roles[role.id] = role
        return role

    def share(self, path: str, invited_group: str, level: int, *, expires_at=None) -> Share:
        share = Share(self.group(invited_group).id, level, expires_at)
        self.node(path).shares[share.group_id] = share
        return share

    def invite(self, path: str, email: str, level: int, *, by: str | None = None) -> Invitation:
        invitation = Invitation(email, level, _iso(20), None, self.user(by).id if by else None)
        self.node(path).invitations[email] = invitation
        return invitation

    def add_access_token(self, path: str, name: str, level: int, scopes=("read_api",), **fields) -> AccessToken:
        """A group or project access token: a bot user, member of that group or project at the token's level."""
        node = self.node(path)
        kind = "group" if isinstance(node, Group) else "project"
        token_id = self._next("access_token")
        bot = self.add_user(f"{kind}_{node.id}_bot_{token_id:04x}", name=name, kind="project_bot")
        token = AccessToken(token_id, name, bot.id, level, list(scopes), created_at=_iso(30), **fields)
        node.access_tokens[token.id] = token
        node.members[bot.id] = Member(bot.id, level, token.expires_at, None, token.created_at)
        return token

    def add_deploy_token(self, path: str, name: str, scopes=("read_repository",), **fields) -> DeployToken:
        token_id = self._next("deploy_token")
        token = DeployToken(token_id, name, f"gitlab+deploy-token-{token_id}", list(scopes), **fields)
        self.node(path).deploy_tokens[token.id] = token
        return token

    def add_deploy_key(self, title: str, projects: dict[str, bool]) -> DeployKey:
        key_id = self._next("deploy_key")
        key = DeployKey(key_id, title, f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA{key_id:016d} {title}", _iso(40))
        self.deploy_keys[key.id] = key
        for path, can_push in projects.items():
            self.project(path).deploy_keys[key.id] = can_push
        return key

    def add_service_account(self, group: str, username: str, name: str = "Service account user") -> User:
        user = self.add_user(username, name=name, kind="service_account")
        self.group(group).service_accounts.append(user.id)
        return user

    # -- mutations (revocation endpoints and tests)

    def revoke_access_token(self, node: Group | Project, token: AccessToken) -> None:
        """Revoking a resource access token also removes its bot user's membership (the bot is deactivated)."""
        token.revoked = True
        node.members.pop(token.user_id, None)
        self.users[token.user_id].state = "blocked"

    def remove_member(self, path: str, username: str) -> Change:
        self.node(path).members.pop(self.user(username).id)
        return Change("remove_member", path, username)

    def set_level(self, path: str, username: str, access_level: int) -> Change:
        self.node(path).members[self.user(username).id].access_level = access_level
        return Change("set_level", path, username, access_level)

    def mutate_fraction(self, fraction: float, seed: int = 0) -> list[Change]:
        """Change about ``fraction`` of the human direct memberships: half removed, half moved one role."""
        rng = random.Random(seed)  # noqa: S311 - test data
        nodes = sorted([*self.groups.values(), *self.projects.values()], key=self.full_path)
        pairs = [(n, uid) for n in nodes for uid in sorted(n.members) if not self.users[uid].bot]
        changes = []
        for node, uid in rng.sample(pairs, min(len(pairs), round(len(pairs) * fraction))):
            path, username = self.full_path(node), self.users[uid].username
            level = node.members[uid].access_level
            if rng.random() < 0.5:
                changes.append(self.remove_member(path, username))
            else:
                changes.append(self.set_level(path, username, 30 if level != 30 else 20))
        return changes

    # -- GitLab's access rules

    def direct_level(self, user_id: int, node: Group | Project) -> int | None:
        member = node.members.get(user_id)
        return member.access_level if member else None

    def membership_level(self, user_id: int, node: Group | Project) -> int | None:
        """Direct or inherited membership, without shares."""
        levels = [m.access_level for n in self.chain(node) if (m := n.members.get(user_id))]
        return max(levels) if levels else None

    def effective_level(self, user_id: int, node: Group | Project) -> int | None:
        levels = []
        own = self.membership_level(user_id, node)
        if own is not None:
            levels.append(own)
        for holder in self.chain(node):
            for share in holder.shares.values():
                in_invited = self.shared_membership_level(user_id, self.groups[share.group_id])
                if in_invited is not None:
                    levels.append(min(in_invited, share.access_level))
        return max(levels) if levels else None

    def shared_membership_level(self, user_id: int, group: Group) -> int | None:
        """Who an invited group brings along, as documented: its direct and inherited members, and the members of
        groups that have access to it by a group share (one level: not the shares of those groups)."""
        levels = [] if (own := self.membership_level(user_id, group)) is None else [own]
        for holder in self.chain(group):
            for share in holder.shares.values():
                in_sharing = self.membership_level(user_id, self.groups[share.group_id])
                if in_sharing is not None:
                    levels.append(min(in_sharing, share.access_level))
        return max(levels) if levels else None

    def effective_members(self, node: Group | Project) -> dict[int, int]:
        candidates = {uid for n in self.chain(node) for uid in n.members}
        for holder in self.chain(node):
            for share in holder.shares.values():
                invited = self.groups[share.group_id]
                for g in self.chain(invited):
                    candidates.update(g.members)
                    for inner in g.shares.values():  # groups shared into the invited group
                        for h in self.chain(self.groups[inner.group_id]):
                            candidates.update(h.members)
        found = {}
        for uid in candidates:
            level = self.effective_level(uid, node)
            if level is not None:
                found[uid] = level
        return found

    # -- summaries

    def facts(self) -> GitLabFacts:
        nodes = [*self.groups.values(), *self.projects.values()]
        return GitLabFacts(
            users=len(self.users),
            groups=len(self.groups),
            projects=len(self.projects),
            direct_memberships=sum(len(n.members) for n in nodes),
            shares=sum(len(n.shares) for n in nodes),
            invitations=sum(len(n.invitations) for n in nodes),
            access_tokens=sum(1 for n in nodes for t in n.access_tokens.values() if not t.revoked),
            deploy_tokens=sum(1 for n in nodes for t in n.deploy_tokens.values() if not t.revoked),
            deploy_key_links=sum(len(p.deploy_keys) for p in self.projects.values()),
            service_accounts=sum(len(g.service_accounts) for g in self.groups.values()),
            admins=sum(1 for u in self.users.values() if u.is_admin),
        )

    def rest_lower_bound(self, top_level: list[str] | None = None, *, admin: bool = True) -> int:
        """Fewest GET requests (100 per page) a full read of these top-level groups needs.

        Per configured group: its descendant groups and projects. Per group: its detail (for shares), members,
        invitations, access tokens, deploy tokens (+ service accounts at the top). Per project: the same
        plus deploy keys. Plus the current user and, with an admin token, the user list.
        """

        def pages(n: int) -> int:
            return max(1, math.ceil(n / PER_PAGE))

        tops = [self.group(p) for p in top_level] if top_level else [g for g in self.groups.values() if not g.parent_id]
        total = 1 + (pages(len(self.users)) if admin else 0)
        if not top_level:  # instance scope: the top-level groups are listed first
            total += pages(len(tops))
        in_scope: set[int] = set()
        invited: set[int] = set()
        for top in tops:
            groups = [top, *self.descendants(top)]
            projects = self.projects_under(top)
            # shared_with_groups is only in the single-group answer: one GET per group.
            total += (
                len(groups)
                + pages(len(groups) - 1)
                + pages(len(projects))
                + (0 if top.parent_id else pages(len(top.service_accounts)))
            )
            for node in [*groups, *projects]:
                total += pages(len(node.members)) + pages(len(node.invitations))
                total += pages(len(node.access_tokens)) + pages(len(node.deploy_tokens))
            total += sum(pages(len(p.deploy_keys)) for p in projects)
            in_scope.update(g.id for g in groups)
            invited.update(gid for node in [*groups, *projects] for gid in node.shares)
        # Groups shared in from outside the scope, and their ancestors: the group and its direct members.
        outside = {g.id for gid in invited for g in self.ancestors(gid)} - in_scope
        outside |= {g.id for top in tops for g in self.ancestors(top.parent_id)}
        # Their shares, two levels further (the connector's SHARE_DEPTH): sharing groups and their ancestors.
        frontier = set(outside)
        for _ in range(2):
            frontier = {g.id for gid in frontier for s in self.groups[gid].shares for g in self.ancestors(s)}
            frontier -= in_scope | outside
            outside |= frontier
        return total + sum(1 + pages(len(self.groups[gid].members)) for gid in outside)

    # -- generation

    @classmethod
    def generate(
        cls,
        seed: int = 1,
        *,
        members: int = 200,
        subgroups: int = 20,
        projects: int = 100,
        max_depth: int = 4,
        top: str = "acme",
        saml: bool = True,
    ) -> GitLabOrg:
        """A top-level group ``top`` with ``subgroups`` nested up to ``max_depth`` levels, ``projects`` spread over
        them, and ``members`` people with one or two direct memberships each; plus a partner group shared into a
        few subgroups and projects, access tokens, deploy tokens and keys, service accounts and invitations.
        With ``saml``, group SAML on ``top`` with an identity (``first.last``-style email, mixed case) for three in
        four people, an LDAP identity (a DN) for one in five, and a GitHub sign-in for one in seven.
        """
        rng = random.Random(seed)  # noqa: S311 - test data, not secrets
        org = cls()
        org.add_user("auditor", is_admin=True, two_factor=True)
        root = org.add_group(top, name=top.title())
        org.add_member(top, "root", 50)
        groups = [root]
        depth = {root.id: 1}
        for i in range(subgroups):
            parents = [g for g in groups if depth[g.id] < max_depth]
            parent = rng.choice(parents)
            group = org.add_group(f"team-{i}", parent=org.full_path(parent))
            depth[group.id] = depth[parent.id] + 1
            groups.append(group)
        all_projects = []
        for i in range(projects):
            group = rng.choice(groups)
            all_projects.append(org.add_project(f"app-{i}", group=org.full_path(group)))
        org.add_member_role(top, "security-auditor", 20)
        levels = (10, 20, 30, 30, 30, 40, 15, 5)
        people = []
        for i in range(members):
            user = org.add_user(
                f"user{i}",
                name=f"User {i}",
                state="blocked" if i % 50 == 7 else "active",
                external=i % 40 == 3,
                two_factor=i % 3 != 0,
                last_activity_on=(EPOCH.date() + timedelta(days=i % 400)).isoformat(),
                last_sign_in_at=_iso(i % 400),
            )
            people.append(user)
            where = rng.random()
            if where < 0.4 or not all_projects:
                node: Group | Project = root
            elif where < 0.75:
                node = rng.choice(groups)
            else:
                node = rng.choice(all_projects)
            level = 50 if i < 3 else rng.choice(levels)
            expires = (date(2027, 1, 1) + timedelta(days=i % 90)).isoformat() if i % 25 == 4 else None
            role = rng.choice(list(org.member_roles.values())) if i % 60 == 11 else None
            if role is not None:  # a custom role's member has its base role's access level
                level, role = role.base_access_level, role.id
            node.members[user.id] = Member(user.id, level, expires, org.admin.id, _iso(i % 100), role)
            if i % 10 == 5 and all_projects:
                extra = rng.choice(all_projects)
                extra.members.setdefault(user.id, Member(user.id, 40, None, None, _iso(5)))
        partners = org.add_group("partners", name="Partners")
        partner_team = org.add_group("contractors", parent="partners")
        for person in people[: max(1, members // 50)]:
            partners.members[person.id] = Member(person.id, 30)
        for person in people[-max(1, members // 100) :]:
            partner_team.members[person.id] = Member(person.id, 40)
        for group in rng.sample(groups[1:], min(len(groups) - 1, max(1, subgroups // 20))):
            group.shares[partners.id] = Share(partners.id, 20)
        for project in rng.sample(all_projects, min(len(all_projects), max(1, projects // 50))):
            project.shares[partner_team.id] = Share(partner_team.id, 30)
        for i, group in enumerate(groups[:: max(1, len(groups) // 5)]):
            org.add_access_token(org.full_path(group), f"ci-{i}", 30, ("read_api", "read_repository"))
            org.add_deploy_token(org.full_path(group), f"registry-{i}", ("read_registry",))
        for i, project in enumerate(all_projects[:: max(1, len(all_projects) // 10)]):
            org.add_access_token(org.full_path(project), f"bot-{i}", 40, ("api",), last_used_at=_iso(100 + i))
            org.add_deploy_token(org.full_path(project), f"deploy-{i}", ("read_repository", "write_registry"))
            org.add_deploy_key(f"key-{i}", {org.full_path(project): i % 2 == 0})
            org.invite(org.full_path(project), f"invitee{i}@example.test", 30, by="root")
        org.add_service_account(top, "service_account_group_1", "Release automation")
        root.members[org.user("service_account_group_1").id] = Member(org.user("service_account_group_1").id, 30)
        org.invite(top, "newhire@example.test", 10, by="root")
        if saml:  # no random numbers: the rest of the data stays what it is without saml
            for i, person in enumerate(people):
                if i % 4 != 1:
                    org.link_group_saml(top, person.username, f"{'User' if i % 2 else 'user'}.{i}@{top}.example")
                if i % 5 == 2:
                    org.add_identity(person.username, "ldapmain", f"uid=user{i},ou=people,dc={top},dc=example")
                if i % 7 == 3:
                    org.add_identity(person.username, "github", str(4_000_000 + i))
        return org
