"""Taking a GitLab grant away where it is made, then re-reading to verify.

Endpoints (docs.gitlab.com/api/members, /api/groups#delete-link-sharing-group-with-another-group,
/api/projects#delete-a-shared-project-link-in-a-group, /api/invitations, /api/group_access_tokens,
/api/project_access_tokens, /api/deploy_tokens, /api/deploy_keys). GitLab answers 404 for a member who only
inherits membership at the place asked (revoke at the group holding it), and 404 for what is already gone;
both are confirmed by a re-read before reporting already_absent. Group member removal sends
``skip_subresources=true`` so the user's other direct memberships below are not silently deleted too.

GitLab's refusals (4xx) come back as ``failed`` with its message; transient failures (5xx and timeouts after the
client's retries, rate limits too long to wait) raise ``ConnectorError(permanent=False)`` so the caller retries.
``is_present`` reads the one object a grant is (member, token, key, share, invitation) with a single GET (a
list for shares and invitations) and answers None when the group or project itself cannot be read.
"""

from __future__ import annotations

from urllib.parse import quote

from ..base import GrantTarget, Outcome, PermissionProblem, RevocationResult, Unsupported
from ..choices import AccountType, Level
from ..http import HttpError
from .gitlab_roles import ACCESS_FOR_LEVEL, ROLE_NAMES


def refusal(grant: GrantTarget, downgrade_to: Level | None) -> str | None:
    via = grant.via
    if via.startswith("group:"):
        return f"inherited from {via.removeprefix('group:')}: revoke the direct membership in that group"
    if via == "instance_admin":
        return "instance administrator rights are changed in the Admin area (PUT /users/:id admin=false), not here"
    if via.startswith("shared_group:") and downgrade_to is not None:
        return "GitLab cannot lower a group share in place; remove the share and share again at the lower role"
    if via == "invitation" and downgrade_to is not None:
        return "a pending invitation can only be removed"
    if via not in ("direct", "invitation") and not via.startswith("shared_group:"):
        return f"unknown GitLab grant path {via!r}"
    account = grant.account
    if via == "direct" and account is not None and downgrade_to is not None:
        if "deploy_token_id" in account.attributes:
            return "a deploy token's scopes cannot be changed; revoke it"
        if account.type == AccountType.DEPLOY_KEY and downgrade_to != Level.READ:
            return "a deploy key is read-only or can push; it can only be lowered to read"
    if downgrade_to is not None and downgrade_to >= grant.level:
        return f"{downgrade_to.label} is not below the current {grant.level.label}"
    return None


class Revoker:
    def __init__(self, http):
        self.http = http

    @staticmethod
    def _base(grant: GrantTarget) -> tuple[str, str]:
        """("group"|"project", "/groups/ID"|"/projects/ID") where the grant is made."""
        kind, source_id = grant.attributes.get("source_type"), grant.attributes.get("source_id")
        if not kind or source_id is None:
            kind, _, raw = grant.resource.external_id.partition(":")
            source_id = int(raw)
        return kind, f"/{kind}s/{source_id}"

    def is_present(self, grant: GrantTarget) -> bool | None:
        """Whether the grant is still there (at any level); None when GitLab does not let us tell."""
        if refusal(grant, None):
            return None
        kind, base = self._base(grant)
        attrs = grant.account.attributes if grant.account else {}
        try:
            if grant.via.startswith("shared_group:"):
                present = not self._share_absent(kind, base, grant.attributes["group_id"])
            elif grant.via == "invitation":
                present = not self._invitation_absent(base, grant.attributes["invite_email"])
            elif "deploy_token_id" in grant.attributes:
                present = not self._gone_or_revoked(f"{base}/deploy_tokens/{grant.attributes['deploy_token_id']}")
            elif "deploy_key_id" in grant.attributes:
                present = self._status(f"{base}/deploy_keys/{grant.attributes['deploy_key_id']}") == 200
            elif grant.account is not None and "token_id" in attrs:
                path = f"/{attrs['source_type']}s/{attrs['source_id']}/access_tokens/{attrs['token_id']}"
                present = not self._gone_or_revoked(path)
            else:
                user_id = grant.attributes.get("user_id") or attrs.get("user_id")
                present = self._status(f"{base}/members/{user_id}") == 200
            if not present and self._status(base) != 200:
                return None  # the group or project is gone or hidden: its 404s say nothing about the grant
            return present
        except (HttpError, PermissionProblem) as error:
            if not error.permanent:
                raise
            return None

    def revoke(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        reason = refusal(grant, downgrade_to)
        if reason:
            raise Unsupported(reason)
        kind, base = self._base(grant)
        attrs = grant.account.attributes if grant.account else {}
        try:
            if grant.via.startswith("shared_group:"):
                group_id = grant.attributes["group_id"]
                return self._delete(f"{base}/share/{group_id}", lambda: self._share_absent(kind, base, group_id))
            if grant.via == "invitation":
                email = grant.attributes["invite_email"]
                return self._delete(
                    f"{base}/invitations/{quote(email, safe='')}", lambda: self._invitation_absent(base, email)
                )
            if "deploy_token_id" in grant.attributes:
                path = f"{base}/deploy_tokens/{grant.attributes['deploy_token_id']}"
                return self._delete(path, lambda: self._gone_or_revoked(path))
            if "deploy_key_id" in grant.attributes:
                path = f"{base}/deploy_keys/{grant.attributes['deploy_key_id']}"
                if downgrade_to is not None:
                    self.http.request("PUT", path, json={"can_push": False})
                    return self._verified(self.http.get(path).data.get("can_push") is False, "can_push is now false")
                return self._delete(path, lambda: self._gone_or_revoked(path))
            if grant.account is not None and "token_id" in attrs and downgrade_to is None:
                path = f"/{attrs['source_type']}s/{attrs['source_id']}/access_tokens/{attrs['token_id']}"
                return self._delete(path, lambda: self._gone_or_revoked(path))
            return self._member(grant, base, downgrade_to)
        except (HttpError, PermissionProblem) as error:
            if not error.permanent:
                raise  # 5xx or timeouts after the client's retries: the caller retries later
            return RevocationResult(Outcome.FAILED, str(error))

    def _member(self, grant: GrantTarget, base: str, downgrade_to: Level | None) -> RevocationResult:
        user_id = grant.attributes.get("user_id") or grant.account.attributes.get("user_id")
        path = f"{base}/members/{user_id}"
        if downgrade_to is not None:
            access = ACCESS_FOR_LEVEL[downgrade_to]
            response = self.http.request("PUT", path, params={"access_level": access}, ok=(200, 400, 404))
            if response.status == 404:
                return self._absent_member(base, user_id)
            if response.status == 400:
                return RevocationResult(Outcome.FAILED, f"GitLab refused the downgrade: {response.data}")
            level = self.http.get(path).data.get("access_level")
            return self._verified(level == access, f"access level is now {ROLE_NAMES.get(level, level)}")
        params = {"skip_subresources": "true"} if base.startswith("/groups/") else None
        response = self.http.request("DELETE", path, params=params, ok=(202, 204, 404))
        if response.status == 404:
            return self._absent_member(base, user_id)
        return self._verified(self._status(path) == 404, "no longer a direct member")

    def _absent_member(self, base: str, user_id) -> RevocationResult:
        """404: not a direct member here. Say whether access is still inherited from above."""
        if self._status(f"{base}/members/{user_id}") != 404:
            return RevocationResult(Outcome.FAILED, "GitLab answered 404 but the member is still listed")
        still = self.http.request("GET", f"{base}/members/all/{user_id}", ok=(200, 404))
        if still.status == 200:
            role = ROLE_NAMES.get(still.data.get("access_level"), "some role")
            return RevocationResult(
                Outcome.ALREADY_ABSENT,
                f"not a direct member here; still has {role} access inherited or shared from above (revoke there)",
            )
        return RevocationResult(Outcome.ALREADY_ABSENT, "not a member")

    def _delete(self, path: str, absent) -> RevocationResult:
        response = self.http.request("DELETE", path, ok=(202, 204, 404))
        if response.status == 404:
            if absent():
                return RevocationResult(Outcome.ALREADY_ABSENT, "already removed")
            return RevocationResult(Outcome.FAILED, "GitLab answered 404 but it is still there")
        return self._verified(absent(), "removed")

    def _status(self, path: str) -> int:
        return self.http.request("GET", path, ok=(200, 404)).status

    def _gone_or_revoked(self, path: str) -> bool:
        response = self.http.request("GET", path, ok=(200, 404))
        return response.status == 404 or bool(response.data.get("revoked")) or response.data.get("active") is False

    def _share_absent(self, kind: str, base: str, group_id: int) -> bool:
        data = self.http.get(base).data or {}
        return all(share.get("group_id") != group_id for share in data.get("shared_with_groups") or [])

    def _invitation_absent(self, base: str, email: str) -> bool:
        for response in self.http.paginate(f"{base}/invitations", {"per_page": "100"}):
            if any(row.get("invite_email") == email for row in response.data or []):
                return False
        return True

    @staticmethod
    def _verified(ok: bool, message: str) -> RevocationResult:
        if ok:
            return RevocationResult(Outcome.REVOKED, message)
        return RevocationResult(Outcome.FAILED, "the change did not take effect on re-read")


__all__ = ["Revoker", "refusal"]
