"""Revocation on Docker Hub: each recorded grant is taken away where Docker Hub makes it, then re-read.

- org role (Member, Editor: via direct; Owner: via org_owner): ``DELETE /v2/orgs/{org}/members/{u}``, which
  also leaves every team; a downgrade is ``PUT …/members/{u}`` {"role": "member" or "editor"}. Verified in
  the member list (searched: there is no single-member read).
- team membership: ``DELETE /v2/orgs/{org}/groups/{team}/members/{u}``, verified in the team's member list.
- team permission on a repository (via team:ORG/NAME): ``DELETE /v2/repositories/{ns}/{repo}/groups/{id}``,
  a downgrade ``PATCH`` {"permission"}; verified with ``GET …/groups/{id}``.
- pending invitation: ``DELETE /v2/invites/{id}``, verified in the org's invite list.
- organization access token: ``PATCH /v2/orgs/{org}/access-tokens/{id}`` {"is_active": false} (option
  token_revocation=deactivate, the default) or ``DELETE`` (token_revocation=delete); verified with a GET.

Endpoints: https://docs.docker.com/reference/api/hub/latest/ (orgs, groups, invites, org access tokens) and
https://docs.docker.com/reference/api/hub/latest/operations/CreateRepositoryGroup/. Requests send roles in
lowercase (responses capitalise them). Docker Hub answers 404 for what is not there: after re-reading, that
is already_absent. It refuses to remove the last owner (400): failed, with its message.

Not possible here, and said so by cannot_revoke: anonymous pull of a public repository (make it private),
and downgrading a team membership (one level), an invitation (cancel and invite again) or a token (its
scopes are edited in Docker Home).
"""

from __future__ import annotations

from urllib.parse import quote

from ..base import ConnectorError, GrantTarget, Outcome, RevocationResult, Unsupported
from ..choices import AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from .dockerhub_access import REPOSITORY_PERMISSIONS, role_grant

_CANNOT_DOWNGRADE = {
    "team_member": "a team membership has a single level: remove it instead",
    "invite": "an invitation cannot be downgraded: cancel it and invite again with another role",
    "token": "an organization access token's scopes are edited in Docker Home: deactivate or delete the token instead",
}


def _q(value) -> str:
    return quote(str(value), safe="")


class Revoker:
    """Revocation for DockerHubConnector (mixed in: uses its session, org, options and member search)."""

    # "kind:via" patterns; cannot_revoke() says which of these grants still cannot be taken (anonymous pull).
    revocable = frozenset(
        {"membership:direct", "membership:org_owner", "permission:team:*", "permission:direct", "invitation:invitation"}
    )

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        if grant.account is not None and grant.account.type == AccountType.PSEUDO:
            return f"anyone can pull {grant.resource.path} because it is public: make it private in Docker Hub"
        action = _action(grant)
        if action is None:
            return (
                f"Docker Hub has no call that removes a {grant.kind} grant via {grant.via} on a {grant.resource.type}"
            )
        if downgrade_to is None:
            return None
        if Level(downgrade_to) >= Level(grant.level):
            return f"{Level(downgrade_to).label} is not below the grant's level {Level(grant.level).label}"
        return _CANNOT_DOWNGRADE.get(action)

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        reason = self.cannot_revoke(grant, downgrade_to=downgrade_to)
        if reason:
            raise Unsupported(reason)
        handler = getattr(self, f"_revoke_{_action(grant)}")
        try:
            return handler(grant, downgrade_to)
        except Unsupported:
            raise
        except ConnectorError as exc:
            return RevocationResult(Outcome.FAILED, str(exc))

    def is_present(self, grant: GrantTarget) -> bool | None:
        """Whether the grant is still there (the read each revocation verifies with; nothing written)."""
        if self.cannot_revoke(grant) is not None:
            return None
        action, username = _action(grant), grant.account.login if grant.account else ""
        if action == "org_role":
            return self._role_of(username) is not None
        if action == "team_member":
            org, _, team = grant.resource.path.partition("/team/")
            team = grant.resource.attributes.get("name") or team
            return self._in_team(f"/v2/orgs/{_q(org)}/groups/{_q(team)}/members", username)
        if action == "team_repo":
            return self.session.get(_team_repo_path(grant), ok=(200, 404)).status == 200
        if action == "invite":
            invite_id = grant.attributes.get("invite_id") or grant.account.attributes.get("invite_id")
            return any(invite.get("id") == invite_id for invite in self._org_get("/invites").data.get("data") or [])
        token_id = grant.attributes.get("token_id") or grant.account.attributes.get("token_id")
        current = self.session.get(f"/v2/orgs/{_q(grant_org(grant))}/access-tokens/{_q(token_id)}", ok=(200, 404))
        if current.status == 404:
            return False
        return self.config.options.get("token_revocation") == "delete" or current.data.get("is_active") is not False

    # --- one per kind of grant ---------------------------------------------------

    def _revoke_org_role(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        username, org = grant.account.login, grant.resource.path
        member = f"/v2/orgs/{_q(org)}/members/{_q(username)}"
        if downgrade_to is None:
            response = self.session.request("DELETE", member, ok=(200, 204, 404))
            if self._role_of(username) is not None:
                return RevocationResult(Outcome.FAILED, f"{username} is still a member of {org} after the removal")
            if response.status == 404:
                return RevocationResult(Outcome.ALREADY_ABSENT, f"{username} is not a member of {org}")
            return RevocationResult(Outcome.REVOKED, f"{username} removed from {org} and its teams")
        target = "editor" if downgrade_to >= Level.ADMIN else "member"
        current = self._role_of(username)
        if current is None:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{username} is not a member of {org}")
        if role_grant(current)[0] <= role_grant(target)[0]:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{username} is already {current.lower()} of {org}")
        self.session.request("PUT", member, json={"role": target}, ok=(200,))
        after = self._role_of(username)
        if (after or "").lower() != target:
            return RevocationResult(Outcome.FAILED, f"{username} is {after or 'not a member'} after the change")
        return RevocationResult(Outcome.REVOKED, f"{username} is now {target} of {org}")

    def _revoke_team_member(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        username = grant.account.login
        org, _, team = grant.resource.path.partition("/team/")
        team = grant.resource.attributes.get("name") or team
        base = f"/v2/orgs/{_q(org)}/groups/{_q(team)}/members"
        response = self.session.request("DELETE", f"{base}/{_q(username)}", ok=(200, 204, 404))
        if self._in_team(base, username):
            return RevocationResult(Outcome.FAILED, f"{username} is still in team {team} after the removal")
        if response.status == 404:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{username} is not in team {team}")
        return RevocationResult(Outcome.REVOKED, f"{username} removed from team {team}")

    def _revoke_team_repo(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        group_id = grant.attributes.get("group_id") or grant.group.external_id.partition(":")[2]
        path = _team_repo_path(grant)
        team = grant.group.path.partition("/team/")[2] or group_id
        if downgrade_to is None:
            response = self.session.request("DELETE", path, ok=(200, 204, 404))
            if self.session.get(path, ok=(200, 404)).status != 404:
                return RevocationResult(Outcome.FAILED, f"team {team} still has {grant.resource.path} after removal")
            if response.status == 404:
                return RevocationResult(Outcome.ALREADY_ABSENT, f"team {team} has no access to {grant.resource.path}")
            return RevocationResult(Outcome.REVOKED, f"team {team} removed from {grant.resource.path}")
        target = next(name for name, level in reversed(REPOSITORY_PERMISSIONS.items()) if level <= downgrade_to)
        current = self.session.get(path, ok=(200, 404))
        if current.status == 404:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"team {team} has no access to {grant.resource.path}")
        permission = str(current.data.get("permission") or "")
        if REPOSITORY_PERMISSIONS.get(permission, Level.ADMIN) <= downgrade_to:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"team {team} already has {permission} only")
        self.session.request("PATCH", path, json={"permission": target}, ok=(200,))
        after = self.session.get(path, ok=(200, 404))
        if after.status != 200 or after.data.get("permission") != target:
            return RevocationResult(Outcome.FAILED, f"team {team} does not have {target} after the change")
        return RevocationResult(Outcome.REVOKED, f"team {team} now has {target} on {grant.resource.path}")

    def _revoke_invite(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        invite_id = grant.attributes.get("invite_id") or grant.account.attributes.get("invite_id")
        response = self.session.request("DELETE", f"/v2/invites/{_q(invite_id)}", ok=(200, 204, 404))
        invites = self._org_get("/invites").data.get("data") or []
        if any(invite.get("id") == invite_id for invite in invites):
            return RevocationResult(Outcome.FAILED, f"the invitation of {grant.account.login} is still pending")
        if response.status == 404:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"no pending invitation of {grant.account.login}")
        return RevocationResult(Outcome.REVOKED, f"invitation of {grant.account.login} cancelled")

    def _revoke_token(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        token_id = grant.attributes.get("token_id") or grant.account.attributes.get("token_id")
        path = f"/v2/orgs/{_q(grant_org(grant))}/access-tokens/{_q(token_id)}"
        label = grant.account.attributes.get("label") or token_id
        if self.config.options.get("token_revocation") == "delete":
            response = self.session.request("DELETE", path, ok=(200, 204, 404))
            if self.session.get(path, ok=(200, 404)).status != 404:
                return RevocationResult(Outcome.FAILED, f"access token {label} still exists after deletion")
            if response.status == 404:
                return RevocationResult(Outcome.ALREADY_ABSENT, f"access token {label} no longer exists")
            return RevocationResult(Outcome.REVOKED, f"access token {label} deleted: it reaches nothing any more")
        current = self.session.get(path, ok=(200, 404))
        if current.status == 404:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"access token {label} no longer exists")
        if current.data.get("is_active") is False:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"access token {label} is already inactive")
        self.session.request("PATCH", path, json={"is_active": False}, ok=(200,))
        if self.session.get(path, ok=(200, 404)).data.get("is_active") is not False:
            return RevocationResult(Outcome.FAILED, f"access token {label} is still active after deactivation")
        return RevocationResult(Outcome.REVOKED, f"access token {label} deactivated: it reaches nothing any more")

    def _in_team(self, members_path: str, username: str) -> bool:
        try:
            listed = self.session.pages(members_path, {"search": username})
            return any(str(user.get("username", "")).lower() == username.lower() for user in listed)
        except HttpError as exc:
            if exc.status == 404:  # the team is gone, and the membership with it
                return False
            raise


def _team_repo_path(grant: GrantTarget) -> str:
    group_id = grant.attributes.get("group_id") or grant.group.external_id.partition(":")[2]
    namespace, _, repo = grant.resource.path.partition("/")
    return f"/v2/repositories/{_q(namespace)}/{_q(repo)}/groups/{_q(group_id)}"


def grant_org(grant: GrantTarget) -> str:
    """The organization a grant lives in: the first segment of its resource's path."""
    return grant.resource.path.partition("/")[0]


def _action(grant: GrantTarget) -> str | None:
    """Which revocation path fits the grant, or None."""
    account, resource_type = grant.account, grant.resource.type
    if grant.kind == GrantKind.INVITATION and grant.via == "invitation" and account is not None:
        return "invite"
    if account is not None and account.type == AccountType.ACCESS_TOKEN:
        return "token"
    if grant.kind == GrantKind.MEMBERSHIP and account is not None:
        if resource_type == ResourceType.ORGANIZATION and grant.via in ("direct", "org_owner"):
            return "org_role"
        if resource_type == ResourceType.TEAM and grant.via == "direct":
            return "team_member"
    if grant.kind == GrantKind.PERMISSION and grant.via.startswith("team:") and grant.group is not None:
        return "team_repo"
    return None
