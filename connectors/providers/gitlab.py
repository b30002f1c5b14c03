"""GitLab (gitlab.com, self-managed, Dedicated): who can reach which group and project, and how.

Reads REST API v4 (https://docs.gitlab.com/api/rest/) with a personal, group or service-account token sent as
``PRIVATE-TOKEN``. Scope: one or more top-level groups (``group=PATH``, repeatable) or the whole instance
(``instance=true``, admin token).

Records each grant where GitLab makes it, never per descendant:
- the instance ``/``, every group (``FULL/PATH``) and project (``FULL/PATH/PROJECT``) of the scope;
- direct members of each group and project (https://docs.gitlab.com/api/members/, ``/members`` lists direct
  members only) with their role (custom roles by name, at their base role's level), ``expires_at`` and
  ``created_by``. A group membership is a membership grant that cascades to every descendant group and project
  with via ``group:FULL/PATH`` (inherited membership), and never rolls up to the parent group;
- groups shared into a group or project (``shared_with_groups``, https://docs.gitlab.com/user/project/members/
  sharing_projects_groups/) as a grant held by the invited group, capped at the share's level, via
  ``shared_group:FULL/PATH``. As GitLab documents, the invited group's direct members AND the members it
  inherits from its ancestors get access; members of its subgroups do not. The engine derives both from the
  memberships, so invited groups outside the scope are read too (the group, its ancestors, their members);
- pending invitations (https://docs.gitlab.com/api/invitations/);
- group and project access tokens as the bot user's membership (account type access_token, with scopes,
  ``last_used_at`` and expiry; https://docs.gitlab.com/api/group_access_tokens/), deploy tokens
  (https://docs.gitlab.com/api/deploy_tokens/; a group token reaches every project below), deploy keys
  (https://docs.gitlab.com/api/deploy_keys/, ``can_push`` = write) and service accounts
  (https://docs.gitlab.com/api/group_service_accounts/);
- with an admin token, every user's state, bot/external/admin flags, 2FA and last activity
  (https://docs.gitlab.com/api/users/), and instance administrators once on ``/`` (owner everywhere);
- each person's SSO identity as the account attribute ``sso_id`` (lower case), for correlation: a group member's
  ``group_saml_identity.extern_uid`` (group SAML; shown to group owners, https://docs.gitlab.com/api/members/),
  else, with an admin token, the ``identities`` of the users API: a SAML provider's ``extern_uid``, or any
  provider's email-like ``extern_uid`` (an LDAP DN or an OAuth user id is not an SSO identity to correlate on).

Lists follow ``Link rel="next"`` (or ``x-next-page`` when a proxy drops ``Link``) and never rely on ``x-total``,
which GitLab omits above 10,000 rows. Secrets of tokens and keys are never requested: GitLab lists only their
metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import quote

from pipeaccess.redact import register_secret

from ..base import (
    AccountRecord,
    BaseConnector,
    ConfigurationError,
    GrantRecord,
    GrantTarget,
    OptionSpec,
    PermissionProblem,
    Record,
    ResourceRecord,
    RevocationResult,
)
from ..choices import AccountState, AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from .gitlab_revoke import Revoker, refusal
from .gitlab_roles import ROLE_NAMES, WRITE_SCOPES, level_for, member_role

log = logging.getLogger(__name__)

API_PATH = "/api/v4"
PER_PAGE = 100
INSTANCE_ID = "instance"
CASCADE = (ResourceType.GROUP, ResourceType.PROJECT)
# users API `state`; anything else (deactivated…) is disabled.
STATES = {
    "active": AccountState.ACTIVE,
    "blocked": AccountState.BLOCKED,
    "banned": AccountState.BLOCKED,
    "ldap_blocked": AccountState.BLOCKED,
    "blocked_pending_approval": AccountState.PENDING,
}


# How many levels of shares into out-of-scope invited groups are read (see _invited_groups).
SHARE_DEPTH = 2


class GitLabConnector(BaseConnector):
    kind = "gitlab"
    label = "GitLab"
    default_base_url = "https://gitlab.com"
    option_specs = {
        "group": OptionSpec(help="full path of a top-level group to read (repeatable)", repeatable=True),
        "instance": OptionSpec(help="true: read every group of the instance (needs an admin token)"),
    }
    secret_names = ("token",)
    revocable = frozenset({"direct", "shared_group:*", "invitation"})

    @classmethod
    def api_url(cls, base_url: str) -> str:
        url = base_url.rstrip("/")
        return url if url.endswith(API_PATH) else f"{url}{API_PATH}"

    @classmethod
    def validate_options(cls, options: dict) -> None:
        super().validate_options(options)
        groups = options.get("group") or []
        instance = str(options.get("instance", "")).lower()
        if instance not in ("", "true", "false"):
            raise ConfigurationError("instance= is true or false")
        if bool(groups) == (instance == "true"):
            raise ConfigurationError("give either group=PATH (repeatable) or instance=true")

    def auth_headers(self) -> dict[str, str]:
        token = self.config.secret("token")
        register_secret(token)
        return {"PRIVATE-TOKEN": token, "Accept": "application/json"}

    @property
    def top_paths(self) -> list[str]:
        groups = self.config.options.get("group") or []
        return [groups] if isinstance(groups, str) else list(groups)

    # --- test ---------------------------------------------------------------

    def test(self) -> str:
        me = self.http.get("/user").data or {}
        role = "an administrator" if me.get("is_admin") else "not an administrator"
        if self.config.options.get("instance") == "true" and not me.get("is_admin"):
            raise PermissionProblem(
                f"GitLab user {me.get('username')} is not an administrator: instance=true needs one"
            )
        for path in self.top_paths:
            self.http.get(f"/groups/{quote(path, safe='')}")
        return f"GitLab user {me.get('username')} ({role}) can read the configured scope"

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        """Every record once: the first version of an account or resource wins."""
        seen: set[str] = set()
        for record in self._records():
            key = f"grant:{record.key}" if isinstance(record, GrantRecord) else record.external_id
            if key not in seen:
                seen.add(key)
                yield record

    def _records(self) -> Iterator[Record]:
        me = self.http.get("/user").data or {}
        self.admin = bool(me.get("is_admin"))
        if self.config.options.get("instance") == "true" and not self.admin:
            raise PermissionProblem(
                f"GitLab user {me.get('username')} is not an administrator: instance=true needs one"
            )
        yield ResourceRecord(INSTANCE_ID, ResourceType.INSTANCE, "/", name="GitLab instance")
        # GET /users (admin): state, bot, external, is_admin, 2FA, last activity for everyone.
        self.users = {u["id"]: u for u in self._list("/users")} if self.admin else {}
        self.token_bots: dict[int, dict] = {}
        self.service_accounts: set[int] = set()
        for user in self.users.values():
            if user.get("is_admin"):
                yield self.extract_user(user)
                yield GrantRecord(
                    INSTANCE_ID,
                    GrantKind.PERMISSION,
                    "admin",
                    Level.OWNER,
                    "instance_admin",
                    account_external_id=f"user:{user['id']}",
                    cascade_to=CASCADE,
                    cascade_level=Level.OWNER,
                )
        if self.config.options.get("instance") == "true":
            tops = [g for g in self._list("/groups", {"top_level_only": "true", "all_available": "true"})]
        else:
            tops = [self.http.get(f"/groups/{quote(path, safe='')}").data for path in self.top_paths]
        known: dict[int, dict] = {}
        shared: set[int] = set()
        for top in tops:
            groups = [top, *self._list(f"/groups/{top['id']}/descendant_groups")]
            known.update({g["id"]: g for g in groups})
            projects = self._list(
                f"/groups/{top['id']}/projects", {"include_subgroups": "true", "with_shared": "false"}
            )
            # Service accounts belong to top-level groups (and need Premium: optional).
            accounts = (
                [] if top.get("parent_id") else self._list(f"/groups/{top['id']}/service_accounts", optional=True)
            )
            accounts = accounts or []
            self.service_accounts.update(a["id"] for a in accounts)
            yield from (self.extract_group(g) for g in groups)
            yield from (self.extract_project(p) for p in projects)
            for records in self.http.imap(self._group_records, groups):
                yield from records
                shared.update(r.attributes["group_id"] for r in records if _is_share(r))
            for records in self.http.imap(self._project_records, projects):
                yield from records
                shared.update(r.attributes["group_id"] for r in records if _is_share(r))
        # Ancestors of a configured subgroup pass their members down to it; invited groups outside the scope
        # give access through their members. Both are read (group, ancestors, direct members), nothing more.
        above = {top["parent_id"] for top in tops if top.get("parent_id")}
        yield from self._invited_groups((shared | above) - set(known), known)

    def _group_records(self, group: dict) -> list[Record]:
        gid = group["id"]
        # shared_with_groups is only in the single-group answer (a top group read by path already is one).
        detail = group if "shared_with_groups" in group else self.http.get(f"/groups/{gid}").data or {}
        path = group["full_path"]
        records = self._tokens("group", gid, path)
        records += self._members("group", gid, path)
        records += self._shares("group", gid, detail.get("shared_with_groups") or [], "expires_at")
        records += self._invitations("group", gid)
        for token in self._list(f"/groups/{gid}/deploy_tokens"):
            records += self._deploy_token(token, "group", gid, path)
        return records

    def _project_records(self, project: dict) -> list[Record]:
        pid = project["id"]
        path = project["path_with_namespace"]
        records = self._tokens("project", pid, path)
        records += self._members("project", pid, path)
        records += self._shares("project", pid, project.get("shared_with_groups") or [], "expire_at")
        records += self._invitations("project", pid)
        for token in self._list(f"/projects/{pid}/deploy_tokens"):
            records += self._deploy_token(token, "project", pid, path)
        for key in self._list(f"/projects/{pid}/deploy_keys"):
            account = AccountRecord(
                f"deploy_key:{key['id']}",
                f"deploy_key:{key['id']}",
                AccountType.DEPLOY_KEY,
                name=key.get("title") or "",
                attributes={"deploy_key_id": key["id"], "fingerprint": key.get("fingerprint_sha256") or ""},
            )
            can_push = bool(key.get("can_push"))
            grant = GrantRecord(
                f"project:{pid}",
                GrantKind.PERMISSION,
                "push" if can_push else "pull",
                Level.WRITE if can_push else Level.READ,
                "direct",
                account_external_id=account.external_id,
                attributes={"source_type": "project", "source_id": pid, "deploy_key_id": key["id"]},
            )
            records += [account, grant]
        return records

    def _tokens(self, kind: str, source_id: int, path: str) -> list[Record]:
        """Active access tokens: remembered so their bot users become access_token accounts."""
        for token in self._list(f"/{kind}s/{source_id}/access_tokens"):
            if token.get("active", not token.get("revoked")):
                self.token_bots[token["user_id"]] = token | {"source_type": kind, "source_id": source_id}
        return []

    def _members(self, kind: str, source_id: int, path: str) -> list[Record]:
        records: list[Record] = []
        for member in self._list(f"/{kind}s/{source_id}/members"):
            account = self.extract_member_account(member)
            name, level = member_role(member)
            attributes = {
                "source_type": kind,
                "source_id": source_id,
                "user_id": member["id"],
                "access_level": member.get("access_level"),
                "expires_at": member.get("expires_at"),
            }
            if member.get("created_by"):
                attributes["created_by"] = member["created_by"].get("username")
            if member.get("member_role"):
                attributes["member_role_id"] = member["member_role"].get("id")
            if kind == "group":
                extra = dict(
                    kind=GrantKind.MEMBERSHIP,
                    cascade_to=CASCADE,
                    cascade_level=level,
                    cascade_via=f"group:{path}",
                    rolls_up=False,
                )
            else:
                extra = dict(kind=GrantKind.PERMISSION)
            grant = GrantRecord(
                f"{kind}:{source_id}",
                permission=name,
                level=level,
                via="direct",
                account_external_id=account.external_id,
                attributes=attributes,
                **extra,
            )
            records += [account, grant]
        return records

    def _shares(self, kind: str, source_id: int, shares: list[dict], expiry: str) -> list[Record]:
        records: list[Record] = []
        for share in shares:
            access = int(share.get("group_access_level") or 0)
            records.append(
                GrantRecord(
                    f"{kind}:{source_id}",
                    # A group invited into a group becomes a member of it: its members are then brought along by
                    # shares of that group into projects and groups (docs: "members of other groups that have
                    # access to the group being invited"). A share into a project is a permission on it.
                    GrantKind.MEMBERSHIP if kind == "group" else GrantKind.PERMISSION,
                    ROLE_NAMES.get(access, f"access_level_{access}"),
                    level_for(access),
                    f"shared_group:{share['group_full_path']}",
                    group_external_id=f"group:{share['group_id']}",
                    cascade_to=CASCADE if kind == "group" else (),
                    cascade_level=level_for(access) if kind == "group" else None,
                    capped=True,
                    attributes={
                        "source_type": kind,
                        "source_id": source_id,
                        "group_id": share["group_id"],
                        "group_access_level": access,
                        "expires_at": share.get(expiry),
                    },
                )
            )
        return records

    def _invitations(self, kind: str, source_id: int) -> list[Record]:
        records: list[Record] = []
        for invitation in self._list(f"/{kind}s/{source_id}/invitations"):
            email = invitation["invite_email"]
            access = int(invitation.get("access_level") or 0)
            account = AccountRecord(f"invitation:{email}", email, email=email, state=AccountState.PENDING)
            grant = GrantRecord(
                f"{kind}:{source_id}",
                GrantKind.INVITATION,
                ROLE_NAMES.get(access, f"access_level_{access}"),
                level_for(access),
                "invitation",
                account_external_id=account.external_id,
                attributes={"source_type": kind, "source_id": source_id, "invite_email": email},
            )
            records += [account, grant]
        return records

    def _deploy_token(self, token: dict, kind: str, source_id: int, path: str) -> list[Record]:
        if token.get("revoked") or token.get("expired"):
            return []
        scopes = list(token.get("scopes") or [])
        writes = bool(WRITE_SCOPES & set(scopes))
        login = f"deploy_token:{token['id']}"
        account = AccountRecord(
            login,
            login,
            AccountType.ACCESS_TOKEN,
            name=token.get("name") or "",
            attributes={
                "deploy_token_id": token["id"],
                "username": token.get("username"),
                "scopes": scopes,
                "expires_at": token.get("expires_at"),
                "source_type": kind,
                "source_id": source_id,
            },
        )
        cascade = (
            dict(
                cascade_to=(ResourceType.PROJECT,),
                cascade_level=Level.WRITE if writes else Level.READ,
                cascade_via=f"group:{path}",
            )
            if kind == "group"
            else {}
        )
        grant = GrantRecord(
            f"{kind}:{source_id}",
            GrantKind.PERMISSION,
            ",".join(scopes),
            Level.WRITE if writes else Level.READ,
            "direct",
            account_external_id=login,
            attributes={"source_type": kind, "source_id": source_id, "deploy_token_id": token["id"]},
            **cascade,
        )
        return [account, grant]

    def _invited_groups(self, missing: set[int], known: dict[int, dict]) -> Iterator[Record]:
        """Groups shared into the scope from outside it: the group, its ancestors and their direct members.

        A share brings along "members of other groups that have access to the group being invited" (docs:
        sharing projects and groups), one level. So the shares of invited groups are read, and those of the
        groups shared into them (for access on the invited groups themselves), and no further.
        """
        pending = [(gid, SHARE_DEPTH) for gid in sorted(missing)]
        while pending:
            gid, follow_shares = pending.pop(0)
            if gid in known:
                continue
            try:
                group = self.http.get(f"/groups/{gid}").data
            except HttpError as error:
                if error.status != 404:
                    raise
                log.warning("GitLab group %s is shared into the scope but not visible to this token", gid)
                yield ResourceRecord(
                    f"group:{gid}",
                    ResourceType.GROUP,
                    f"group:{gid}",
                    parent_external_id=INSTANCE_ID,
                    attributes={"id": gid, "outside_scope": True, "members_unknown": True},
                )
                known[gid] = {}
                continue
            known[gid] = group
            if group.get("parent_id") and group["parent_id"] not in known:
                pending.append((group["parent_id"], follow_shares))
            yield self.extract_group(group, outside=True)
            yield from self._members("group", gid, group["full_path"])
            if follow_shares:
                shares = group.get("shared_with_groups") or []
                yield from self._shares("group", gid, shares, "expires_at")
                pending += [
                    (share["group_id"], follow_shares - 1) for share in shares if share["group_id"] not in known
                ]

    # --- extract hooks ------------------------------------------------------

    def extract_group(self, group: dict, *, outside: bool = False) -> ResourceRecord:
        parent = group.get("parent_id")
        attributes = {"id": group["id"], "visibility": group.get("visibility")}
        if outside:
            attributes["outside_scope"] = True
        return ResourceRecord(
            f"group:{group['id']}",
            ResourceType.GROUP,
            group["full_path"],
            name=group.get("name") or "",
            parent_external_id=f"group:{parent}" if parent else INSTANCE_ID,
            attributes=attributes,
        )

    def extract_project(self, project: dict) -> ResourceRecord:
        return ResourceRecord(
            f"project:{project['id']}",
            ResourceType.PROJECT,
            project["path_with_namespace"],
            name=project.get("name") or "",
            parent_external_id=f"group:{project['namespace']['id']}",
            attributes={"id": project["id"], "visibility": project.get("visibility")},
        )

    def extract_user(self, user: dict) -> AccountRecord:
        full = getattr(self, "users", {}).get(user["id"], user)
        token = getattr(self, "token_bots", {}).get(user["id"])
        if token is not None:
            kind = AccountType.ACCESS_TOKEN
        elif user["id"] in getattr(self, "service_accounts", ()):
            kind = AccountType.SERVICE_ACCOUNT
        elif full.get("bot"):
            kind = AccountType.BOT
        else:
            kind = AccountType.HUMAN
        attributes = {"user_id": user["id"]}
        for name in ("external", "is_admin", "last_sign_in_at", "bot"):
            if name in full:
                attributes[name] = full[name]
        sso = sso_id(user, full)
        if sso:
            attributes["sso_id"] = sso
        if token is not None:
            attributes |= {
                "token_id": token["id"],
                "token_name": token.get("name"),
                "scopes": token.get("scopes") or [],
                "last_used_at": token.get("last_used_at"),
                "expires_at": token.get("expires_at"),
                "source_type": token["source_type"],
                "source_id": token["source_id"],
            }
        state = full.get("state") or "active"
        return AccountRecord(
            f"user:{user['id']}",
            user.get("username") or str(user["id"]),
            kind,
            name=full.get("name") or "",
            email=full.get("email") or "",
            state=STATES.get(state, AccountState.DISABLED),
            two_factor=full.get("two_factor_enabled"),
            is_admin=bool(full.get("is_admin")),
            last_active_at=_day(full.get("last_activity_on")),
            attributes=attributes,
        )

    def extract_member_account(self, member: dict) -> AccountRecord:
        return self.extract_user(member)

    # --- requests -----------------------------------------------------------

    def _list(self, path: str, params: dict | None = None, *, optional: bool = False) -> list[dict] | None:
        """Every row: follow Link rel=next, else x-next-page; never trust x-total (absent above 10,000 rows)."""
        query = {"per_page": str(PER_PAGE), **(params or {})}
        try:
            response = self.http.get(path, query)
        except (HttpError, PermissionProblem) as error:
            if optional and getattr(error, "status", 403) in (403, 404):
                log.info("GitLab %s is not available to this token (%s)", path, error)
                return None
            raise
        rows: list[dict] = []
        seen: set[int] = set()
        while True:
            for row in response.data or []:
                if row.get("id") not in seen or row.get("id") is None:
                    seen.add(row.get("id"))
                    rows.append(row)
            next_url = response.link("next")
            next_page = response.headers.get("x-next-page") or ""
            if next_url is None and not next_page:
                return rows
            response = self.http.get(next_url) if next_url else self.http.get(path, query | {"page": next_page})

    # --- revocation ---------------------------------------------------------

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        return refusal(grant, downgrade_to)

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        return Revoker(self.http).revoke(grant, downgrade_to)

    def is_present(self, grant: GrantTarget) -> bool | None:
        return Revoker(self.http).is_present(grant)


def sso_id(member: dict, user: dict) -> str | None:
    """The SSO identity to correlate on, lower-cased: group SAML first, then the users API's identities (admin)."""
    group_saml = (member.get("group_saml_identity") or {}).get("extern_uid")
    if group_saml:
        return str(group_saml).strip().lower()
    identities = [i for i in user.get("identities") or member.get("identities") or [] if i.get("extern_uid")]
    saml = [i for i in identities if "saml" in str(i.get("provider") or "").lower()]
    emails = [i for i in identities if "@" in str(i["extern_uid"])]
    chosen = (saml or emails or [None])[0]
    return str(chosen["extern_uid"]).strip().lower() if chosen else None


def _is_share(record: Record) -> bool:
    return isinstance(record, GrantRecord) and record.via.startswith("shared_group:")


def _day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value[:10]), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        return None
