"""JFrog Artifactory (self-hosted and JFrog SaaS): who can reach which repository, and how.

Reads two API roots of one JFrog Platform host (https://jfrog.com/help/r/jfrog-rest-apis):
* ``/artifactory/api/repositories`` — every repository with its class
  (https://jfrog.com/help/r/jfrog-rest-apis/get-repositories);
* ``/access/api/v2/users`` and ``/access/api/v2/groups`` — cursor-paginated lists (``limit``, ``cursor``;
  https://jfrog.com/help/r/jfrog-rest-apis/get-users-list, …/get-a-list-of-groups); then each user's
  details from ``/artifactory/api/security/users/{name}`` (admin flag, groups, ``lastLoggedIn``;
  https://www.jfrog.com/confluence/display/JFROG/Security+Configuration+JSON) and each group's from
  ``/access/api/v2/groups/{name}`` (admin privileges, members; …/get-group-details);
* ``/artifactory/api/v2/security/permissions`` and each target's details (repositories incl. ``ANY``,
  include/exclude patterns, actions per user and group;
  https://www.jfrog.com/confluence/display/JFROG/Artifactory+REST+API+V2);
* ``/access/api/v1/tokens`` — every access token's metadata, never its secret
  (https://jfrog.com/help/r/jfrog-rest-apis/get-tokens).

Where grants are recorded: an admin user, a group with admin privileges and an admin-scoped token on the
instance ``/`` (owner, admin on every repository); a group membership on the group ``group/NAME``; a user's
or group's actions once on the permission target ``permission/NAME``, reaching the repositories the
target names or its ``ANY``/``ANY LOCAL``/``ANY REMOTE`` stands for through the target's ``reach``
attribute (connectors/export.py), so effective rows appear per repository while storage grows with the
targets. Tokens are accounts of type ``access_token``: each holds one grant on the instance whose
permission is its scope, plus what the scope confers (see ``_tokens``). Revocation is in
``artifactory_revoke``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from ..base import (
    AccountRecord,
    BaseConnector,
    ConnectorError,
    GrantRecord,
    GrantTarget,
    PermissionProblem,
    Record,
    ResourceRecord,
    RevocationResult,
)
from ..choices import AccountState, AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from .artifactory_permissions import (
    Holding,
    explain,
    from_epoch,
    holdings,
    iso,
    parse_scope,
    parse_time,
    patterns,
    reach,
    subject_user,
    token_groups,
)
from .artifactory_revoke import Revoker, cannot_revoke

ART = "/artifactory/api"
ACCESS = "/access/api"
PAGE_SIZE = 1000  # the Access v2 default and a safe maximum
INSTANCE_ID = "instance"
ADMIN_CASCADE = {"cascade_to": ("repository",), "cascade_level": Level.ADMIN}
USER_STATES = {"enabled": AccountState.ACTIVE, "disabled": AccountState.DISABLED, "locked": AccountState.BLOCKED}


class ArtifactoryConnector(BaseConnector):
    kind = "artifactory"
    label = "JFrog Artifactory"
    default_base_url = None
    option_specs = {}
    secret_names = ("token",)
    # "kind:via" patterns. Grants held by an access token (any via, including the admin scope's "admin") are
    # revoked by revoking the token; cannot_revoke() is the authority and says why for everything else.
    revocable = frozenset({"permission:direct", "permission:group:*", "membership:direct"})

    @classmethod
    def api_url(cls, base_url: str) -> str:
        """The platform root: both API paths are added per request, so a URL ending in one of them is trimmed."""
        url = base_url.rstrip("/")
        for suffix in ("/artifactory/api", "/access/api", "/artifactory", "/access"):
            if url.endswith(suffix):
                return url[: -len(suffix)]
        return url

    def auth_headers(self) -> dict[str, str]:
        # Access tokens as Bearer (API keys are deprecated): https://jfrog.com/help/r/jfrog-rest-apis/authentication
        return {"Authorization": f"Bearer {self.config.secret('token')}", "Accept": "application/json"}

    # --- test ---------------------------------------------------------------

    def test(self) -> str:
        # https://jfrog.com/help/r/jfrog-rest-apis/system-version
        version = self._get(f"{ART}/system/version").get("version", "unknown")
        self._get(f"{ACCESS}/v2/users", {"limit": 1})
        return f"Artifactory {version}; the token can list users, groups and permission targets (admin)"

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        """Every record once: the first version of an account or resource wins; grants are unique by key."""
        seen: set[str] = set()
        for record in self._records():
            if isinstance(record, GrantRecord):
                key = f"grant:{record.key}"
            elif isinstance(record, AccountRecord):
                key = f"account:{record.external_id}"
            else:
                key = f"resource:{record.external_id}"
            if key in seen:
                continue
            seen.add(key)
            yield record

    def _records(self) -> Iterator[Record]:
        seen = _Seen()
        yield self.extract_instance()
        yield from self._repositories(seen)
        # Lists first, then details on the client's threads (a list read meanwhile would exceed its pool).
        group_names = [item["group_name"] for item in self._listed(f"{ACCESS}/v2/groups", "groups")]
        groups = list(self.http.imap(self._group_details, group_names))
        for group in groups:
            record = self.extract_group(group)
            seen.group_ids[group["name"]] = record.external_id
            yield record
        yield from self._users(seen)
        yield from self._memberships(groups, seen)
        yield from self._permission_targets(seen)
        yield from self._tokens(seen)

    def _repositories(self, seen: _Seen) -> Iterator[Record]:
        # https://jfrog.com/help/r/jfrog-rest-apis/get-repositories
        for repo in self._get(f"{ART}/repositories"):
            seen.classes[repo["key"]] = (repo.get("type") or "").upper()
            yield self.extract_repository(repo)

    def _users(self, seen: _Seen) -> Iterator[Record]:
        listed_users = list(self._listed(f"{ACCESS}/v2/users", "users"))
        for listed, details in self.http.imap(self._user_details, listed_users):
            account = self.extract_user(listed, details)
            seen.accounts[account.login] = account
            yield account
            if account.is_admin:
                yield _grant(account.external_id, INSTANCE_ID, "admin", Level.OWNER, "admin", **ADMIN_CASCADE)

    def _memberships(self, groups: list[dict], seen: _Seen) -> Iterator[Record]:
        for group in groups:
            group_id = seen.group_ids[group["name"]]
            for name in group.get("members") or ():
                account = self._account(name, seen)
                yield account
                seen.user_groups.setdefault(name, []).append(group["name"])
                yield _grant(account.external_id, group_id, "member", Level.READ, "direct", kind=GrantKind.MEMBERSHIP)
            if group.get("admin_privileges"):
                yield GrantRecord(
                    group_external_id=group_id,
                    resource_external_id=INSTANCE_ID,
                    kind=GrantKind.PERMISSION,
                    permission="admin_privileges",
                    level=Level.OWNER,
                    via=f"group:{group['name']}",
                    **ADMIN_CASCADE,
                )

    def _permission_targets(self, seen: _Seen) -> Iterator[Record]:
        names = [item["name"] for item in self._get(f"{ART}/v2/security/permissions")]
        for target in self.http.imap(self._permission_details, names):
            if target is None:  # deleted while we read
                continue
            resource = self.extract_permission_target(target, seen.classes)
            yield resource
            for holding in holdings(target):
                if holding.kind == "users":
                    account = self._account(holding.name, seen)
                    yield account
                    grant = self.extract_target_grant(holding, resource, account_external_id=account.external_id)
                    seen.direct.setdefault(holding.name, []).append(grant)
                else:
                    if holding.name not in seen.group_ids:
                        unlisted = self.extract_group({"name": holding.name, "members": [], "listed": False})
                        seen.group_ids[holding.name] = unlisted.external_id
                        yield unlisted
                    group_id = seen.group_ids[holding.name]
                    grant = self.extract_target_grant(holding, resource, group_external_id=group_id)
                yield grant

    def _tokens(self, seen: _Seen) -> Iterator[Record]:
        """Each token with one grant on the instance (its scope), plus what the scope confers.

        admin scope: the instance grant is an admin grant. groups scope: a membership of each named group,
        so group grants reach the token. user scope: the token acts as its subject user, so it gets that
        user's admin grant, memberships and permission-target grants, each marked ``acts_as``.
        """
        # https://jfrog.com/help/r/jfrog-rest-apis/get-tokens (an admin token lists every token)
        now = from_epoch(self.http.clock())
        for token in self._get(f"{ACCESS}/v1/tokens").get("tokens") or ():
            scope = parse_scope(token.get("scope"))
            account = self.extract_token(token, now)
            yield account
            holder = account.external_id
            user = subject_user(token.get("subject"))
            scope_name = token.get("scope") or "applied-permissions/user"
            if scope.admin:
                yield _grant(holder, INSTANCE_ID, scope_name, Level.OWNER, "admin", **ADMIN_CASCADE)
            else:
                yield _grant(holder, INSTANCE_ID, scope_name, Level.READ, "direct")
            acts_as = {"acts_as": user} if scope.as_user and user else {}
            if acts_as:
                subject = seen.accounts.get(user)
                if subject is not None and subject.is_admin:
                    admin = {"attributes": acts_as, **ADMIN_CASCADE}
                    yield _grant(holder, INSTANCE_ID, "admin", Level.OWNER, "admin", **admin)
                for grant in seen.direct.get(user, ()):
                    yield _copy(grant, holder, acts_as)
            for group, attributes in token_groups(scope, user, seen.user_groups, acts_as):
                if group in seen.group_ids:
                    membership = {"kind": GrantKind.MEMBERSHIP, "attributes": attributes}
                    yield _grant(holder, seen.group_ids[group], "member", Level.READ, "direct", **membership)

    # --- requests -----------------------------------------------------------

    def _get(self, path: str, params: dict | None = None):
        try:
            return self.http.get(path, params).data
        except PermissionProblem as exc:
            raise PermissionProblem(f"{exc}: the token must be an administrator's (or admin-scoped)") from exc

    def _listed(self, path: str, key: str) -> Iterator[dict]:
        """An Access v2 list: ``limit``/``cursor`` until the answer has no cursor (never a repeated one)."""
        cursor, seen = None, set()
        while True:
            params = {"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            page = self._get(path, params) or {}
            yield from page.get(key) or ()
            cursor = page.get("cursor")
            if not cursor:
                return
            if cursor in seen:
                raise ConnectorError(f"pagination of GET {path} returned cursor {cursor!r} twice")
            seen.add(cursor)

    def _user_details(self, listed: dict) -> tuple[dict, dict | None]:
        name = listed["username"]
        try:
            return listed, self._get(f"{ART}/security/users/{quote(name, safe='')}")
        except HttpError as exc:
            if exc.status == 404:  # deleted while we read, or a name the '+'-as-space setting cannot address
                return listed, None
            raise

    def _group_details(self, name: str) -> dict:
        try:
            return self._get(f"{ACCESS}/v2/groups/{quote(name, safe='')}")
        except HttpError as exc:
            if exc.status == 404:  # deleted while we read: no members any more
                return {"name": name, "members": [], "deleted": True}
            raise

    def _permission_details(self, name: str) -> dict | None:
        try:
            return self._get(f"{ART}/v2/security/permissions/{quote(name, safe='')}")
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def _account(self, name: str, seen: _Seen) -> AccountRecord:
        """A listed user, or one a group or target holds that the user list did not show (changed mid-sync)."""
        account = seen.accounts.get(name)
        if account is None:
            account = seen.accounts[name] = self.extract_user({"username": name, "listed": False}, None)
        return account

    # --- extract hooks: raw payload -> records --------------------------------

    def extract_instance(self) -> ResourceRecord:
        return ResourceRecord(INSTANCE_ID, ResourceType.INSTANCE, "/", name="Artifactory")

    def extract_repository(self, repo: dict) -> ResourceRecord:
        return ResourceRecord(
            external_id=f"repo:{repo['key']}",
            type=ResourceType.REPOSITORY,
            path=repo["key"],
            name=repo["key"],
            parent_external_id=INSTANCE_ID,
            attributes={
                "class": (repo.get("type") or "").lower(),
                "package_type": repo.get("packageType"),
                "description": repo.get("description") or "",
            },
        )

    def extract_group(self, group: dict) -> ResourceRecord:
        attributes = {
            "name": group["name"],
            "description": group.get("description") or "",
            "admin_privileges": bool(group.get("admin_privileges")),
            "auto_join": bool(group.get("auto_join")),
            "realm": group.get("realm"),
            "external_id": group.get("external_id") or "",
        }
        if group.get("deleted") or group.get("listed") is False:
            attributes["details"] = "deleted during the sync" if group.get("deleted") else "not in the group list"
        return ResourceRecord(
            external_id=f"group:{group['name']}",
            type=ResourceType.GROUP,
            path=f"group/{group['name']}",
            name=group["name"],
            parent_external_id=INSTANCE_ID,
            attributes=attributes,
        )

    def extract_user(self, listed: dict, details: dict | None) -> AccountRecord:
        name = listed["username"]
        status = listed.get("status") or "enabled"
        attributes: dict = {"realm": listed.get("realm") or (details or {}).get("realm"), "status": status}
        if details is None:
            attributes["details"] = "not in the user list" if listed.get("listed") is False else "not found"
            details = {}
        else:
            attributes |= {
                "groups": details.get("groups") or [],
                "disable_ui_access": details.get("disableUIAccess"),
                "profile_updatable": details.get("profileUpdatable"),
                "internal_password_disabled": details.get("internalPasswordDisabled"),
            }
        pseudo = name == "anonymous"  # Artifactory's user for unauthenticated requests
        return AccountRecord(
            external_id=f"user:{name}",
            login=name,
            type=AccountType.PSEUDO if pseudo else AccountType.HUMAN,
            email=details.get("email") or "",
            state=USER_STATES.get(status, AccountState.ACTIVE),
            is_admin=bool(details.get("admin")),
            last_active_at=parse_time(details.get("lastLoggedIn")),
            attributes=attributes,
        )

    def extract_permission_target(self, target: dict, classes: dict[str, str]) -> ResourceRecord:
        """Patterns and the repositories as written stay in attributes; ``reach`` is what they resolve to now."""
        repo = target.get("repo") or {}
        resolved = reach(repo.get("repositories") or (), classes)
        attributes: dict = {
            "name": target["name"],
            "repositories": list(repo.get("repositories") or ()),
            "include_patterns": patterns(repo.get("include-patterns")) or ["**"],
            "exclude_patterns": patterns(repo.get("exclude-patterns")),
            "reach": [f"repo:{key}" for key in resolved.keys],
            "covers": explain(repo, resolved),
        }
        if resolved.missing:
            attributes["missing_repositories"] = resolved.missing
        for section in ("build", "releaseBundle"):
            part = target.get(section)
            if part:
                attributes[section] = {
                    "repositories": list(part.get("repositories") or ()),
                    "include_patterns": patterns(part.get("include-patterns")) or ["**"],
                    "exclude_patterns": patterns(part.get("exclude-patterns")),
                }
        return ResourceRecord(
            external_id=f"permission:{target['name']}",
            type=ResourceType.PERMISSION_TARGET,
            path=f"permission/{target['name']}",
            name=target["name"],
            parent_external_id=INSTANCE_ID,
            attributes=attributes,
        )

    def extract_target_grant(self, holding: Holding, target: ResourceRecord, **holder: str) -> GrantRecord:
        """One grant per principal and target; its repository actions cascade to the target's reach."""
        via = "direct" if holding.kind == "users" else f"group:{holding.name}"
        cascade_level = holding.repository_level
        return GrantRecord(
            resource_external_id=target.external_id,
            kind=GrantKind.PERMISSION,
            permission=holding.permission,
            level=holding.level,
            via=via,
            cascade_to=("repository",) if cascade_level is not None else (),
            cascade_level=cascade_level,
            **holder,
        )

    def extract_token(self, token: dict, now) -> AccountRecord:
        """Metadata only: token listings carry no secret, and nothing here would keep one."""
        token_id = token["token_id"]
        expiry = from_epoch(token.get("expiry"))
        expired = expiry is not None and now is not None and expiry <= now
        last_used = from_epoch(token.get("last_used"))
        return AccountRecord(
            external_id=f"token:{token_id}",
            login=f"access_token:{token_id}",
            type=AccountType.ACCESS_TOKEN,
            name=token.get("description") or "",
            state=AccountState.EXPIRED if expired else AccountState.ACTIVE,
            last_active_at=last_used,
            attributes={
                "token_id": token_id,
                "subject": token.get("subject"),
                "subject_user": subject_user(token.get("subject")),
                "scope": token.get("scope") or "applied-permissions/user",
                "scope_listed": token.get("scope") is not None,
                "creator": token.get("owner"),
                "issuer": token.get("issuer"),
                "issued_at": iso(from_epoch(token.get("issued_at"))),
                "expires_at": iso(expiry),
                "last_used_at": iso(last_used),
                "refreshable": bool(token.get("refreshable")),
                "project": token.get("project"),
            },
        )

    # --- revocation -----------------------------------------------------------

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        return cannot_revoke(grant, downgrade_to=downgrade_to)

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        return Revoker(self.http).revoke(grant, downgrade_to=downgrade_to)

    def is_present(self, grant: GrantTarget) -> bool | None:
        return Revoker(self.http).present(grant)


@dataclass
class _Seen:
    """What later steps of one fetch need from earlier ones (all of it grows with the upstream, not its grants)."""

    classes: dict[str, str] = field(default_factory=dict)  # repository key -> class (LOCAL, REMOTE, …)
    group_ids: dict[str, str] = field(default_factory=dict)  # group name -> resource external id
    accounts: dict[str, AccountRecord] = field(default_factory=dict)  # user name -> account
    user_groups: dict[str, list[str]] = field(default_factory=dict)  # user name -> groups it is a member of
    direct: dict[str, list[GrantRecord]] = field(default_factory=dict)  # user name -> its own target grants


def _grant(
    holder: str,
    resource: str,
    permission: str,
    level: Level,
    via: str,
    *,
    kind: str = GrantKind.PERMISSION,
    attributes: dict | None = None,
    **extra,
) -> GrantRecord:
    return GrantRecord(
        account_external_id=holder,
        resource_external_id=resource,
        kind=kind,
        permission=permission,
        level=level,
        via=via,
        attributes=attributes or {},
        **extra,
    )


def _copy(grant: GrantRecord, holder: str, attributes: dict) -> GrantRecord:
    """A user's target grant, held by a token acting as that user."""
    return GrantRecord(
        account_external_id=holder,
        resource_external_id=grant.resource_external_id,
        kind=grant.kind,
        permission=grant.permission,
        level=grant.level,
        via=grant.via,
        cascade_to=grant.cascade_to,
        cascade_level=grant.cascade_level,
        attributes=attributes,
    )
