"""Taking one GitHub grant away where it is made, then reading it back to verify.

What each recorded grant maps to (REST API 2022-11-28):

- org membership (via ``membership`` / ``org_owner``): ``DELETE /orgs/{org}/memberships/{username}``; an owner's
  downgrade is ``PUT /orgs/{org}/memberships/{username}`` ``{"role": "member"}``
  (https://docs.github.com/en/rest/orgs/members#remove-organization-membership-for-a-user,
  #set-organization-membership-for-a-user). Read with ``GET /orgs/{org}/memberships/{username}`` (#get-…);
  a ``pending`` membership is an invitation, never removed through this grant (the same DELETE would cancel it);
- outside collaborator of the org (via ``outside_collaborator``, a target callers build for the wider action):
  ``DELETE /orgs/{org}/outside_collaborators/{username}``
  (https://docs.github.com/en/rest/orgs/outside-collaborators#remove-outside-collaborator-from-an-organization);
- team membership: ``DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}``; maintainer → member is
  ``PUT`` with ``{"role": "member"}`` (https://docs.github.com/en/rest/teams/members). GitHub's membership read
  includes child-team members, so a membership still visible after a removal is checked against the child teams;
- a team's repository permission (via ``team:ORG/SLUG``): ``DELETE`` or ``PUT {"permission": …}`` on
  ``/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}``, read with the ``GET`` of the same path (204/404) and
  ``GET /repos/{owner}/{repo}/teams`` for the level
  (https://docs.github.com/en/rest/teams/teams#remove-a-repository-from-a-team,
  #add-or-update-team-repository-permissions, #check-team-permissions-for-a-repository);
- direct collaborator: ``DELETE`` or ``PUT {"permission": …}`` on ``/repos/{owner}/{repo}/collaborators/{username}``
  (https://docs.github.com/en/rest/collaborators/collaborators), read from
  ``GET /repos/{owner}/{repo}/collaborators?affiliation=direct``. A ``PUT`` for someone who is not a collaborator
  creates an invitation (201), so it is only sent after a read, and an invitation created anyway is cancelled;
- deploy key: ``DELETE /repos/{owner}/{repo}/keys/{key_id}``, read with ``GET`` of the same path
  (https://docs.github.com/en/rest/deploy-keys/deploy-keys#delete-a-deploy-key). Keys are immutable: no downgrade;
- invitations: ``DELETE /orgs/{org}/invitations/{invitation_id}``
  (https://docs.github.com/en/rest/orgs/members#cancel-an-organization-invitation) and
  ``DELETE /repos/{owner}/{repo}/invitations/{invitation_id}``
  (https://docs.github.com/en/rest/collaborators/invitations#delete-a-repository-invitation), read from the lists.

Ids come from the inventory: deploy keys and invitations are recorded as accounts ``deploy_key:ID``,
``invitation:ID`` and ``repo_invitation:ID`` (a grant attribute ``key_id`` / ``invitation_id`` wins if present).

Not revocable here (``refusal`` says why; the campaign makes it a manual task): the org base permission (an
org-wide setting) and GitHub App installations (the REST calls need the app's own JWT or a user-to-server token).

Outcomes: ``revoked`` when the change is visible on re-read, ``already_absent`` when there was nothing to take
away (a 404 is only trusted once the repository, team or organization around it is visible: GitHub also answers
404 when a token may not see something), ``failed`` with GitHub's message for refusals (4xx: the last owner, a
team synced from an identity provider, a missing scope). Transient failures (5xx and timeouts after the client's
retries, rate limits too long to wait) raise ``ConnectorError(permanent=False)`` so the caller retries.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from ..base import ConnectorError, GrantTarget, Outcome, PermissionProblem, RevocationResult, Unsupported
from ..choices import AccountType, Level, ResourceType
from ..http import HttpError
from .github_roles import repository_role

# PUT bodies take the legacy names (docs: "pull, triage, push, maintain, admin" or a custom role's name).
PERMISSION_FOR_LEVEL = {Level.READ: "pull", Level.WRITE: "push"}
ROLE_WORD = {Level.READ: "read", Level.WRITE: "write"}
USERS = (AccountType.HUMAN, AccountType.BOT)

ORG_MEMBERSHIP = "org_membership"
OUTSIDE_COLLABORATOR = "outside_collaborator"
ORG_INVITATION = "org_invitation"
TEAM_MEMBERSHIP = "team_membership"
TEAM_REPOSITORY = "team_repository"
COLLABORATOR = "collaborator"
DEPLOY_KEY = "deploy_key"
REPO_INVITATION = "repo_invitation"


def grant_kind(grant: GrantTarget) -> str | None:
    """Which GitHub object a recorded grant is, or None for one this connector does not revoke."""
    place, via, account = grant.resource.type, grant.via, grant.account
    if grant.group is not None:
        if via.startswith("team:") and grant.group.type == ResourceType.TEAM and place == ResourceType.REPOSITORY:
            return TEAM_REPOSITORY
        return None
    if account is None:
        return None
    if place == ResourceType.ORGANIZATION:
        if via in ("membership", "org_owner") and account.type in USERS:
            return ORG_MEMBERSHIP
        if via == "outside_collaborator" and account.type in USERS:
            return OUTSIDE_COLLABORATOR
        if via == "invitation":
            return ORG_INVITATION
    elif place == ResourceType.TEAM:
        if via == "membership" and account.type in USERS:
            return TEAM_MEMBERSHIP
    elif place == ResourceType.REPOSITORY:
        if via == "invitation":
            return REPO_INVITATION
        if via == "direct" and account.type == AccountType.DEPLOY_KEY:
            return DEPLOY_KEY
        if via == "direct" and account.type in USERS:
            return COLLABORATOR
    return None


def refusal(grant: GrantTarget, downgrade_to: Level | None) -> str | None:
    """Why this grant cannot be revoked (or downgraded) by the GitHub connector, or None when it can."""
    if grant.via == "org_base_permission":
        return (
            f"the base permission ({grant.permission}) is an organization-wide setting that gives every member that "
            "role on every repository: change it under Settings > Member privileges "
            f"(PATCH /orgs/{grant.resource.path} default_repository_permission) after checking who relies on it"
        )
    if grant.account is not None and grant.account.type == AccountType.APP_INSTALLATION:
        return (
            f"GitHub App installation {grant.account.login}: uninstall it, suspend it or narrow its repositories under "
            "Settings > GitHub Apps (the REST endpoints for that need the app's own credentials)"
        )
    kind = grant_kind(grant)
    if kind is None:
        return f"not a GitHub grant this connector can revoke (via {grant.via} on a {grant.resource.type})"
    if downgrade_to is None:
        return None
    if kind == ORG_MEMBERSHIP and grant.via != "org_owner":
        return "an organization member has the lowest organization role already; revoke the membership instead"
    if kind == TEAM_MEMBERSHIP and grant.permission != "maintainer":
        return "a team member has the lowest team role already; revoke the membership instead"
    if kind == DEPLOY_KEY:
        return "a deploy key cannot be changed: delete it (and add a read-only key if one is needed)"
    if kind not in (ORG_MEMBERSHIP, TEAM_MEMBERSHIP, COLLABORATOR, TEAM_REPOSITORY):
        return "this grant can only be removed, not lowered"
    if downgrade_to >= grant.level:
        return f"{downgrade_to.label} is not below the grant's level ({grant.level.label})"
    if kind == ORG_MEMBERSHIP and downgrade_to != Level.READ:
        return "GitHub's only organization role below owner is member (read): downgrade to read"
    if kind == TEAM_MEMBERSHIP and downgrade_to != Level.READ:
        return "GitHub's only team role below maintainer is member (read): downgrade to read"
    return None


class Revoker:
    """One revocation or presence check through one connector's HTTP client."""

    def __init__(self, http, *, token_login: Callable[[], str | None]):
        self.http = http
        self.token_login = token_login

    # --- entry points ----------------------------------------------------------

    def revoke(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        reason = refusal(grant, downgrade_to)
        if reason is not None:
            raise Unsupported(reason)
        handler = getattr(self, f"_revoke_{grant_kind(grant)}")
        try:
            return handler(grant, downgrade_to)
        except _Invisible as invisible:
            return RevocationResult(Outcome.FAILED, invisible.message)
        except Unsupported:
            raise
        except ConnectorError as error:
            if not error.permanent:
                raise  # 5xx/timeouts after retries, rate limits: the caller retries later
            return RevocationResult(Outcome.FAILED, str(error))

    def is_present(self, grant: GrantTarget) -> bool | None:
        """Whether the recorded access is still there (at any level); None when GitHub cannot tell us."""
        kind = grant_kind(grant)
        if kind is None or refusal(grant, None) is not None:
            return None
        try:
            present = getattr(self, f"_present_{kind}")(grant)
        except (PermissionProblem, _Invisible):
            return None
        if present is False and not self._visible(self._container(grant)):
            return None
        return present

    # --- organization ------------------------------------------------------------

    def _revoke_org_membership(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        org, login = grant.resource.path, grant.account.login
        path = f"/orgs/{_q(org)}/memberships/{_q(login)}"
        current = self._read(path)
        if current is None or current.get("state") != "active":
            pending = " (an invitation to join is pending; it is a separate grant)" if current else ""
            return self._absent(grant, f"{login} is not a member of {org}{pending}")
        if login.lower() == (self.token_login() or "").lower():
            raise Unsupported(
                f"{login} is the account of the connector's token: without it no later sync could read {org}"
            )
        if downgrade_to is not None:
            if current.get("role") != "admin":
                return RevocationResult(Outcome.ALREADY_ABSENT, f"{login} is a member of {org}, not an owner")
            self.http.request("PUT", path, json={"role": "member"}, ok=(200,))
            after = self._read(path) or {}
            if after.get("state") == "active" and after.get("role") == "member":
                return RevocationResult(Outcome.REVOKED, f"{login} is now a member of {org}, no longer an owner")
            return _unchanged(f"{login}'s role in {org} is {after.get('role') or 'unknown'}, not member")
        if self.http.request("DELETE", path, ok=(204, 404)).status == 404:
            return self._absent(grant, f"{login} is no longer a member of {org}")
        after = self._read(path)
        if after is None or after.get("state") != "active":
            return RevocationResult(Outcome.REVOKED, f"removed {login} from {org}")
        return _unchanged(f"{login} is still a member of {org}")

    def _present_org_membership(self, grant: GrantTarget) -> bool:
        org, login = grant.resource.path, grant.account.login
        current = self._read(f"/orgs/{_q(org)}/memberships/{_q(login)}")
        return current is not None and current.get("state") == "active"

    def _revoke_outside_collaborator(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        org, login = grant.resource.path, grant.account.login
        if not self._present_outside_collaborator(grant):
            return self._absent(grant, f"{login} is not an outside collaborator of {org}")
        response = self.http.request("DELETE", f"/orgs/{_q(org)}/outside_collaborators/{_q(login)}", ok=(204, 404))
        if response.status == 404 or not self._present_outside_collaborator(grant):
            return RevocationResult(
                Outcome.REVOKED, f"removed outside collaborator {login} from every repository of {org}"
            )
        return _unchanged(f"{login} is still an outside collaborator of {org}")

    def _present_outside_collaborator(self, grant: GrantTarget) -> bool:
        login = grant.account.login.lower()
        path = f"/orgs/{_q(grant.resource.path)}/outside_collaborators"
        return any(user.get("login", "").lower() == login for user in self._items(path))

    def _revoke_org_invitation(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        org, number = grant.resource.path, _id(grant, "invitation_id", "invitation:")
        shown = f"the invitation of {grant.account.login} to {org}"
        if not self._present_org_invitation(grant):
            return self._absent(grant, f"{shown} is no longer pending")
        self.http.request("DELETE", f"/orgs/{_q(org)}/invitations/{number}", ok=(204, 404))
        if not self._present_org_invitation(grant):
            return RevocationResult(Outcome.REVOKED, f"cancelled {shown}")
        return _unchanged(f"{shown} is still pending")

    def _present_org_invitation(self, grant: GrantTarget) -> bool:
        number = _id(grant, "invitation_id", "invitation:")
        return any(item.get("id") == number for item in self._items(f"/orgs/{_q(grant.resource.path)}/invitations"))

    # --- teams -------------------------------------------------------------------

    def _revoke_team_membership(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        org, slug = _team(grant.resource.path)
        login = grant.account.login
        path = f"/orgs/{_q(org)}/teams/{_q(slug)}/memberships/{_q(login)}"
        current = self._read(path)
        if current is None:
            return self._absent(grant, f"{login} is not a member of team {slug}")
        if downgrade_to is not None:
            if current.get("role") != "maintainer":
                return RevocationResult(Outcome.ALREADY_ABSENT, f"{login} is a member of team {slug}, not a maintainer")
            self.http.request("PUT", path, json={"role": "member"}, ok=(200,))
            after = self._read(path) or {}
            if after.get("role") == "member":
                return RevocationResult(
                    Outcome.REVOKED, f"{login} is now a member of team {slug}, no longer a maintainer"
                )
            owner = (self._read(f"/orgs/{_q(org)}/memberships/{_q(login)}") or {}).get("role") == "admin"
            why = " (GitHub reports organization owners as maintainers of every team they are in)" if owner else ""
            return _unchanged(f"{login}'s role in team {slug} is {after.get('role') or 'unknown'}, not member{why}")
        if self.http.request("DELETE", path, ok=(204, 404)).status == 404:
            child = self._child_team_with(org, slug, login)
            if child:
                return RevocationResult(
                    Outcome.ALREADY_ABSENT,
                    f"{login} is not an immediate member of team {slug}; they reach it as a member of its child team "
                    f"{child} (revoke that membership)",
                )
            return self._absent(grant, f"{login} is no longer a member of team {slug}")
        if self._read(path) is None:
            return RevocationResult(Outcome.REVOKED, f"removed {login} from team {slug}")
        child = self._child_team_with(org, slug, login)
        if child:
            return RevocationResult(
                Outcome.REVOKED,
                f"removed {login} from team {slug}; they still reach it as a member of its child team {child}",
            )
        return _unchanged(f"{login} is still a member of team {slug}")

    def _present_team_membership(self, grant: GrantTarget) -> bool | None:
        org, slug = _team(grant.resource.path)
        login = grant.account.login
        if self._read(f"/orgs/{_q(org)}/teams/{_q(slug)}/memberships/{_q(login)}") is None:
            return False
        # GitHub lists child-team members on the parent: then the parent's own membership cannot be told apart.
        return None if self._child_team_with(org, slug, login) else True

    def _child_team_with(self, org: str, slug: str, login: str) -> str | None:
        """The slug of a child team that lists ``login`` (its membership shows on the parent too), or None."""
        for child in self._items(f"/orgs/{_q(org)}/teams/{_q(slug)}/teams"):
            if self._read(f"/orgs/{_q(org)}/teams/{_q(child['slug'])}/memberships/{_q(login)}") is not None:
                return child["slug"]
        return None

    def _revoke_team_repository(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        org, slug = grant.via.removeprefix("team:").split("/", 1)
        repo = grant.resource.path
        path = f"/orgs/{_q(org)}/teams/{_q(slug)}/repos/{_repo(repo)}"
        shown = f"team {slug} on {repo}"
        if not self._present_team_repository(grant):
            return self._absent(grant, f"{shown}: the team has no access to the repository")
        if downgrade_to is not None:
            level = self._team_level(repo, slug)
            if level is not None and level <= downgrade_to:
                return RevocationResult(
                    Outcome.ALREADY_ABSENT, f"{shown} is {level.label}, not above {downgrade_to.label}"
                )
            self.http.request("PUT", path, json={"permission": PERMISSION_FOR_LEVEL[downgrade_to]}, ok=(204,))
            after = self._team_level(repo, slug)
            if after is not None and after <= downgrade_to:
                return RevocationResult(Outcome.REVOKED, f"{shown} is now {ROLE_WORD[downgrade_to]}")
            return _unchanged(f"{shown} is still {after.label if after else 'without access'}")
        self.http.request("DELETE", path, ok=(204, 404))
        if not self._present_team_repository(grant):
            return RevocationResult(Outcome.REVOKED, f"removed {shown}")
        return _unchanged(f"{shown} still has access")

    def _present_team_repository(self, grant: GrantTarget) -> bool:
        org, slug = grant.via.removeprefix("team:").split("/", 1)
        path = f"/orgs/{_q(org)}/teams/{_q(slug)}/repos/{_repo(grant.resource.path)}"
        return self.http.request("GET", path, ok=(200, 204, 404)).status != 404

    def _team_level(self, repo: str, slug: str) -> Level | None:
        """The team's level on the repository, from the repository's team list (None: not listed)."""
        for team in self._items(f"/repos/{_repo(repo)}/teams"):
            if team.get("slug") == slug:  # role_name where sent, else the legacy permission name or the booleans
                return repository_role(team.get("role_name") or team.get("permission"), team.get("permissions"))[1]
        return None

    # --- repositories ------------------------------------------------------------

    def _revoke_collaborator(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        repo, login = grant.resource.path, grant.account.login
        shown = f"{login} on {repo}"
        current = self._collaborator(repo, login)
        if current is None:
            return self._absent(grant, f"{login} is not a direct collaborator on {repo}")
        path = f"/repos/{_repo(repo)}/collaborators/{_q(login)}"
        if downgrade_to is not None:
            name, level = current
            if level <= downgrade_to:
                return RevocationResult(Outcome.ALREADY_ABSENT, f"{shown} is {name}, not above {downgrade_to.label}")
            response = self.http.request(
                "PUT", path, json={"permission": PERMISSION_FOR_LEVEL[downgrade_to]}, ok=(201, 204)
            )
            if response.status == 201:  # no longer a collaborator: GitHub invited them instead; take that back
                invitation = (response.data or {}).get("id")
                if invitation is not None:
                    self.http.request("DELETE", f"/repos/{_repo(repo)}/invitations/{invitation}", ok=(204, 404))
                return RevocationResult(
                    Outcome.ALREADY_ABSENT,
                    f"{login} stopped being a collaborator on {repo} before the downgrade (the invitation GitHub "
                    "created instead was cancelled)",
                )
            after = self._collaborator(repo, login)
            if after is not None and after[1] <= downgrade_to:
                return RevocationResult(Outcome.REVOKED, f"{shown} is now {after[0]}")
            role = after[0] if after else "not a collaborator"
            return _unchanged(
                f"GitHub still reports {shown} as {role}; its REST API shows the highest role from any source, so a "
                "team, the base permission or ownership may still give more"
            )
        self.http.request("DELETE", path, ok=(204, 404))
        if self._collaborator(repo, login) is None:
            return RevocationResult(Outcome.REVOKED, f"removed direct collaborator {shown}")
        return _unchanged(f"{login} is still a direct collaborator on {repo}")

    def _present_collaborator(self, grant: GrantTarget) -> bool:
        return self._collaborator(grant.resource.path, grant.account.login) is not None

    def _collaborator(self, repo: str, login: str) -> tuple[str, Level] | None:
        """(role, level) of a direct collaborator as GitHub lists them, or None."""
        wanted = login.lower()
        for user in self._items(f"/repos/{_repo(repo)}/collaborators", {"affiliation": "direct"}):
            if user.get("login", "").lower() == wanted:
                return repository_role(user.get("role_name"), user.get("permissions"))
        return None

    def _revoke_deploy_key(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        repo, number = grant.resource.path, _id(grant, "key_id", "deploy_key:")
        path = f"/repos/{_repo(repo)}/keys/{number}"
        shown = f"deploy key {number} ({grant.account.attributes.get('title') or grant.account.login}) of {repo}"
        if self._read(path) is None:
            return self._absent(grant, f"{shown} no longer exists")
        self.http.request("DELETE", path, ok=(204, 404))
        if self._read(path) is None:
            return RevocationResult(Outcome.REVOKED, f"deleted {shown}")
        return _unchanged(f"{shown} still exists")

    def _present_deploy_key(self, grant: GrantTarget) -> bool:
        path = f"/repos/{_repo(grant.resource.path)}/keys/{_id(grant, 'key_id', 'deploy_key:')}"
        return self._read(path) is not None

    def _revoke_repo_invitation(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        repo, number = grant.resource.path, _id(grant, "invitation_id", "repo_invitation:")
        shown = f"the invitation of {grant.account.login} to {repo}"
        if not self._present_repo_invitation(grant):
            return self._absent(grant, f"{shown} is no longer pending")
        self.http.request("DELETE", f"/repos/{_repo(repo)}/invitations/{number}", ok=(204, 404))
        if not self._present_repo_invitation(grant):
            return RevocationResult(Outcome.REVOKED, f"cancelled {shown}")
        return _unchanged(f"{shown} is still pending")

    def _present_repo_invitation(self, grant: GrantTarget) -> bool:
        number = _id(grant, "invitation_id", "repo_invitation:")
        return any(item.get("id") == number for item in self._items(f"/repos/{_repo(grant.resource.path)}/invitations"))

    # --- reads -------------------------------------------------------------------

    def _read(self, path: str) -> dict | None:
        """The object at ``path``, or None for a 404."""
        response = self.http.request("GET", path, ok=(200, 404))
        return response.data if response.status == 200 and isinstance(response.data, dict) else None

    def _items(self, path: str, params: dict | None = None):
        """Every item of a list; a 404 for the list means its repository, team or org is not visible."""
        try:
            for page in self.http.paginate(path, {**(params or {}), "per_page": 100}):
                yield from page.data if isinstance(page.data, list) else []
        except HttpError as error:
            if error.status == 404:
                raise _Invisible(path) from error
            raise

    def _container(self, grant: GrantTarget) -> str:
        """The organization, team or repository a grant lives in: a 404 is only "absent" while it is visible."""
        path = grant.resource.path
        if grant.resource.type == ResourceType.REPOSITORY:
            return f"/repos/{_repo(path)}"
        if grant.resource.type == ResourceType.TEAM:
            org, slug = _team(path)
            return f"/orgs/{_q(org)}/teams/{_q(slug)}"
        return f"/orgs/{_q(path)}"

    def _visible(self, path: str) -> bool:
        return self.http.request("GET", path, ok=(200, 404)).status == 200

    def _absent(self, grant: GrantTarget, message: str) -> RevocationResult:
        container = self._container(grant)
        if self._visible(container):
            return RevocationResult(Outcome.ALREADY_ABSENT, message)
        return RevocationResult(Outcome.FAILED, _Invisible(container).message)


class _Invisible(Exception):
    """GitHub answered 404 for the place a grant lives in: deleted, renamed, or hidden from the token."""

    def __init__(self, path: str):
        self.message = (
            f"GitHub answered 404 for {path}: the repository, team or organization was deleted or renamed, or the "
            "token cannot see it; nothing was changed (sync, then review again)"
        )
        super().__init__(self.message)


def _unchanged(message: str) -> RevocationResult:
    return RevocationResult(Outcome.FAILED, f"GitHub accepted the change, but on re-read {message}")


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _repo(path: str) -> str:
    owner, _, name = path.partition("/")
    return f"{_q(owner)}/{_q(name)}"


def _team(path: str) -> tuple[str, str]:
    """``ORG/team/SLUG`` (the connector's team path) -> (org, slug)."""
    org, _, slug = path.partition("/team/")
    return org, slug


def _id(grant: GrantTarget, attribute: str, prefix: str) -> int:
    value = grant.attributes.get(attribute)
    if value is None:
        value = grant.account.external_id.removeprefix(prefix)
    return int(value)


__all__ = ["Revoker", "grant_kind", "refusal"]
