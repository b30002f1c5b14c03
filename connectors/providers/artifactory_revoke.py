"""Taking access away in Artifactory, where it is granted, and checking by re-reading that it is gone.

* A user's or group's actions on a permission target: Artifactory has no call to remove one principal, so the
  target is read, the principal dropped (or its actions capped at the downgrade level) and the whole target
  written back with ``PUT /artifactory/api/v2/security/permissions/{name}``
  (https://www.jfrog.com/confluence/display/JFROG/Artifactory+REST+API+V2). The API has no ETag or
  conditional write, so the target is read a second time just before the write and nothing is written if
  the two reads differ: someone else's change in between is never overwritten with a stale copy.
* A user's membership of a group: ``PATCH /access/api/v2/groups/{name}/members`` with ``{"remove": [user]}``
  (https://jfrog.com/help/r/jfrog-rest-apis/add-or-remove-a-group-member).
* Anything held by an access token: ``DELETE /access/api/v1/tokens/{id}``, which answers 200 when it revoked
  the token and 204 when it was already revoked (https://jfrog.com/help/r/jfrog-rest-apis/revoke-token-by-id).
  A token's grants all come from its scope, so revoking any of them revokes the token.

Not automated, and reported as such by cannot_revoke(): a user's admin flag and a group's admin privileges
(changing who administers the instance is left to a person), and lowering a membership or a token's scope.
"""

from __future__ import annotations

from urllib.parse import quote

from pipeaccess.redact import redact

from ..base import ConnectorError, GrantTarget, Outcome, RevocationResult, Unsupported
from ..choices import AccountType, GrantKind, Level, ResourceType
from .artifactory_permissions import holding_of, without

ART = "/artifactory/api"
ACCESS = "/access/api"


def cannot_revoke(grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
    account = grant.account
    if account is not None and account.type == AccountType.ACCESS_TOKEN:
        if downgrade_to is not None:
            return "an access token's scope cannot be lowered; revoke the token instead"
        if not account.attributes.get("token_id"):
            return "the access token's id is not recorded; sync again"
        return None
    if grant.kind == GrantKind.PERMISSION and grant.resource.type == ResourceType.PERMISSION_TARGET:
        if downgrade_to is not None and downgrade_to >= grant.level:
            return f"the grant is at {grant.level.label}: there is nothing above {downgrade_to.label} to take away"
        return None
    if grant.kind == GrantKind.MEMBERSHIP and grant.resource.type == ResourceType.GROUP and account is not None:
        if downgrade_to is not None:
            return "a group membership has no level to lower: revoke it, or change the group's permissions"
        return None
    if grant.resource.type == ResourceType.INSTANCE:
        return (
            "Artifactory administrator rights (a user's admin flag, a group's admin privileges) are not changed "
            "automatically; change them in the Administration UI or with the user/group API"
        )
    return f"{grant.kind} grants via {grant.via} on a {grant.resource.type} cannot be revoked by this connector"


class Revoker:
    def __init__(self, http):
        self.http = http

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        reason = cannot_revoke(grant, downgrade_to=downgrade_to)
        if reason:
            raise Unsupported(reason)
        try:
            account = grant.account
            if account is not None and account.type == AccountType.ACCESS_TOKEN:
                return self.token(account.attributes["token_id"])
            if grant.kind == GrantKind.MEMBERSHIP:
                return self.membership(_name(grant.resource, "group/"), account.login)
            if grant.group is not None:
                holder = ("groups", _name(grant.group, "group/"))
            else:
                holder = ("users", account.login)
            return self.permission(_name(grant.resource, "permission/"), *holder, downgrade_to)
        except Unsupported:
            raise
        except ConnectorError as exc:  # refused, or still failing after retries: the caller may try again
            return RevocationResult(Outcome.FAILED, redact(f"{exc}{_upstream_message(exc)}"))

    def present(self, grant: GrantTarget) -> bool | None:
        """Whether the grant is still there (the reads revoke() starts with; nothing written)."""
        if cannot_revoke(grant) is not None:
            return None
        account = grant.account
        if account is not None and account.type == AccountType.ACCESS_TOKEN:
            token_id = account.attributes["token_id"]
            listed = self.http.get(f"{ACCESS}/v1/tokens", {"token_id": token_id}).data or {}
            return any(token.get("token_id") == token_id for token in listed.get("tokens") or ())
        if grant.kind == GrantKind.MEMBERSHIP:
            read = self._read(f"{ACCESS}/v2/groups/{quote(_name(grant.resource, 'group/'), safe='')}")
            return read is not None and account.login in (read.get("members") or ())
        kind, name = ("groups", _name(grant.group, "group/")) if grant.group is not None else ("users", account.login)
        read = self._read(f"{ART}/v2/security/permissions/{quote(_name(grant.resource, 'permission/'), safe='')}")
        return read is not None and holding_of(read, kind, name) is not None

    # -- permission targets

    def permission(self, target: str, kind: str, name: str, downgrade_to: Level | None = None) -> RevocationResult:
        who = f"{'group' if kind == 'groups' else 'user'} {name}"
        path = f"{ART}/v2/security/permissions/{quote(target, safe='')}"
        read = self._read(path)
        if read is None:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"permission target {target} no longer exists")
        holding = holding_of(read, kind, name)
        if holding is None or (downgrade_to is not None and holding.level <= downgrade_to):
            held = "has no actions" if holding is None else f"has nothing above {downgrade_to.label}"
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{who} {held} on permission target {target}")
        body = without(read, kind, name, keep_up_to=downgrade_to)
        again = self._read(path)
        if again != read:
            return RevocationResult(
                Outcome.FAILED,
                f"permission target {target} changed while it was being read; nothing was written, try again",
            )
        self.http.request("PUT", path, json=body)
        left = holding_of(self._read(path) or {}, kind, name)
        if left is None:
            return RevocationResult(Outcome.REVOKED, f"removed {who} ({holding.permission}) from {target}")
        if downgrade_to is not None and left.level <= downgrade_to:
            return RevocationResult(Outcome.REVOKED, f"{who} lowered from {holding.permission} to {left.permission}")
        return RevocationResult(Outcome.FAILED, f"{who} still has {left.permission} on {target} after the update")

    # -- group memberships

    def membership(self, group: str, user: str) -> RevocationResult:
        path = f"{ACCESS}/v2/groups/{quote(group, safe='')}"
        read = self._read(path)
        if read is None:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"group {group} no longer exists")
        if user not in (read.get("members") or ()):
            return RevocationResult(Outcome.ALREADY_ABSENT, f"user {user} is not a member of {group}")
        self.http.request("PATCH", f"{path}/members", json={"remove": [user]})
        after = self._read(path)
        if after is not None and user in (after.get("members") or ()):
            return RevocationResult(Outcome.FAILED, f"user {user} is still a member of {group} after the update")
        return RevocationResult(Outcome.REVOKED, f"removed user {user} from group {group}")

    # -- access tokens

    def token(self, token_id: str) -> RevocationResult:
        response = self.http.request("DELETE", f"{ACCESS}/v1/tokens/{quote(token_id, safe='')}", ok=(200, 204, 404))
        # https://jfrog.com/help/r/jfrog-rest-apis/get-tokens: token_id filters the list.
        listed = self.http.get(f"{ACCESS}/v1/tokens", {"token_id": token_id}).data or {}
        if any(token.get("token_id") == token_id for token in listed.get("tokens") or ()):
            return RevocationResult(
                Outcome.FAILED, f"token {token_id} is still listed after DELETE (HTTP {response.status})"
            )
        if response.status == 200:
            return RevocationResult(Outcome.REVOKED, f"revoked token {token_id}; every grant it held goes with it")
        why = "was already revoked" if response.status == 204 else "does not exist"
        return RevocationResult(Outcome.ALREADY_ABSENT, f"token {token_id} {why}")

    def _read(self, path: str) -> dict | None:
        response = self.http.request("GET", path, ok=(200, 404))
        return response.data if response.status == 200 else None


def _upstream_message(exc: ConnectorError) -> str:
    """Artifactory explains refusals as {"errors": [{"message": …}]}, which the HTTP client does not read."""
    data = getattr(getattr(exc, "response", None), "data", None)
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
        return f" ({str(errors[0]['message'])[:300]})"
    return ""


def _name(target, prefix: str) -> str:
    """The upstream name, as recorded at sync time (paths are a fallback: names may contain '/')."""
    return target.attributes.get("name") or target.path.removeprefix(prefix)
