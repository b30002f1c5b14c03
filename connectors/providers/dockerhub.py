"""Docker Hub: who can reach one organization's repositories, and how.

Reads the Docker Hub API 2-beta (https://docs.docker.com/reference/api/hub/latest/) after signing in with
``POST /v2/auth/token`` (see dockerhub_session), and records each grant where Docker Hub makes it:
- the org role of every member on the organization (Member read; Editor admin, and admin on every
  repository; Owner owner, and admin on every repository): ``GET /v2/orgs/{org}/members?type=member``;
- team memberships on teams, from the same list (each member's ``groups``), so no per-team request:
  ``GET /v2/orgs/{org}/groups`` (``member_count`` is checked; a team that disagrees is read itself with
  ``GET /v2/orgs/{org}/groups/{name}/members``);
- team permissions read / write / admin on repositories: ``GET /v2/repositories/{ns}/{repo}/groups``
  (https://docs.docker.com/reference/api/hub/latest/operations/CreateRepositoryGroup/);
- pull by anyone on public repositories, held by the pseudo-account ``anonymous``:
  ``GET /v2/namespaces/{ns}/repositories``;
- pending invitations: ``GET /v2/orgs/{org}/invites``;
- organization access tokens with their scopes, creator, creation, expiry and last use:
  ``GET /v2/orgs/{org}/access-tokens`` and, for the scopes, each ``GET …/access-tokens/{id}``
  (https://docs.docker.com/reference/api/hub/latest/operations/getV2OrgsByNameAccessTokens/).

Fail closed: tokens and invites are listed by owners only, so a member's token (or an organization access
token, which the access-token endpoints refuse) fails the sync instead of recording an org without them.
Personal access tokens are listed to their owner only (``GET /v2/access-tokens``) and are not inventoried.
Revocation is in dockerhub_revoke.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote

from ..base import (
    AccountRecord,
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    GrantRecord,
    OptionSpec,
    PermissionProblem,
    Record,
    ResourceRecord,
)
from ..choices import AccountState, AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from .dockerhub_access import REPOSITORY, repository_permission, role_grant, token_grants
from .dockerhub_revoke import Revoker
from .dockerhub_session import HubSession

TOKEN_REVOCATION = ("deactivate", "delete")


class DockerHubConnector(Revoker, BaseConnector):
    kind = "dockerhub"
    label = "Docker Hub"
    default_base_url = "https://hub.docker.com"
    option_specs = {
        "org": OptionSpec(required=True, help="organization (namespace) to inventory"),
        "username": OptionSpec(
            required=True,
            help="Docker ID the token belongs to (an owner's), or the organization's name for an organization token",
        ),
        "token_revocation": OptionSpec(
            help="what revoking an organization access token's grant does: deactivate (default) or delete"
        ),
    }
    secret_names = ("token",)

    def __init__(self, config, http):
        super().__init__(config, http)
        self._session: HubSession | None = None

    @classmethod
    def api_url(cls, base_url: str) -> str:
        """hub.docker.com as is: every path starts with /v2 (a base URL that already ends in /v2 loses it)."""
        return base_url.rstrip("/").removesuffix("/v2")

    @classmethod
    def validate_options(cls, options: dict) -> None:
        super().validate_options(options)
        mode = options.get("token_revocation")
        if mode is not None and mode not in TOKEN_REVOCATION:
            raise ConfigurationError(f"token_revocation= is one of {', '.join(TOKEN_REVOCATION)}, not {mode!r}")

    @property
    def org(self) -> str:
        return self.config.options["org"]

    @property
    def session(self) -> HubSession:
        if self._session is None:
            self._session = HubSession(self.http, self.config.options["username"], lambda: self.config.secret("token"))
        return self._session

    def auth_headers(self) -> dict[str, str]:
        # No static credential: the bearer token comes from signing in (dockerhub_session).
        return {"Accept": "application/json"}

    # --- test ---------------------------------------------------------------

    def test(self) -> str:
        # https://docs.docker.com/reference/api/hub/latest/#tag/orgs/paths/~1v2~1orgs~1%7Borg_name%7D~1members/get
        response = self._org_get("/members", {"type": "member", "page_size": 1})
        count = response.data.get("count") if isinstance(response.data, dict) else None
        identifier = self.session.identifier
        if identifier.lower() == self.org.lower():
            return (
                f"organization {self.org}, {count} members; signed in with an organization access token, which "
                "cannot list organization access tokens: syncs need an owner's personal access token"
            )
        role = self._role_of(identifier)
        article = {"owner": "an owner", "editor": "an editor", "member": "a member"}.get((role or "").lower())
        return f"organization {self.org}, {count} members; signed in as {identifier}, {article or 'not a member'}"

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        """Every record once; tokens are read first: only an owner's token may, so others fail fast."""
        self.session.sign_in()
        tokens = self._access_tokens()
        org = ResourceRecord(external_id=f"org:{self.org.lower()}", type=ResourceType.ORGANIZATION, path=self.org)
        yield org

        members = list(self.session.pages(self._org_path("/members"), {"type": "member"}))
        teams = list(self.session.pages(self._org_path("/groups")))
        team_records = {team["name"]: self.extract_team(team, org) for team in teams}
        yield from team_records.values()

        listed = self.session.pages(self._repositories_path(), key="name")
        repos = [self.extract_repository(repo, org) for repo in listed]
        yield from repos

        accounts: dict[str, AccountRecord] = {}
        for member in members:
            account = self.extract_member(member)
            accounts[member["username"]] = account
            yield account
            yield self.membership_grant(account, member.get("role") or "", org)

        yield from self._team_memberships(members, teams, team_records, accounts)
        yield from self._invitations(org)
        yield from self._public_pulls(repos)
        yield from self._repository_grants(repos, team_records)
        repos_by_path = {repo.path: repo for repo in repos}
        for token in tokens:
            account = self.extract_access_token(token)
            found = token_grants(account, token.get("resources") or [], org, repos_by_path)
            if found.elsewhere:
                account = _with(account, resource_paths_elsewhere=found.elsewhere)
            yield account
            yield from found.grants

    def _access_tokens(self) -> list[dict]:
        # https://docs.docker.com/reference/api/hub/latest/operations/getV2OrgsByNameAccessTokens/
        try:
            listed = list(self.session.pages(self._org_path("/access-tokens")))
        except PermissionProblem as exc:
            raise PermissionProblem(
                f"{exc}: organization access tokens are listed to owners only, and never to an organization "
                "access token; sign in with an owner's personal access token"
            ) from exc

        def read(token: dict) -> dict | None:
            # The list omits resources and scopes; only the single read has them.
            response = self.session.get(
                self._org_path(f"/access-tokens/{quote(str(token['id']), safe='')}"), ok=(200, 404)
            )
            return response.data if response.status == 200 else None  # deleted since the list was read

        return [token for token in self.http.imap(read, listed) if token is not None]

    def _team_memberships(
        self,
        members: list[dict],
        teams: list[dict],
        records: dict[str, ResourceRecord],
        accounts: dict[str, AccountRecord],
    ) -> Iterator[Record]:
        listed: dict[str, list[str]] = {name: [] for name in records}
        for member in members:
            for name in member.get("groups") or ():
                if name in listed:  # a team created after the team list was read is left for the next sync
                    listed[name].append(member["username"])
        for team in teams:
            name = team["name"]
            usernames = listed[name]
            if team.get("member_count") is not None and team["member_count"] != len(usernames):
                # The two lists disagree (changed between the reads): the team's own list decides.
                usernames = []
                for user in self.session.pages(self._org_path(f"/groups/{quote(name, safe='')}/members")):
                    if user["username"] not in accounts:
                        accounts[user["username"]] = self.extract_member(user)
                        yield accounts[user["username"]]
                    usernames.append(user["username"])
            for username in usernames:
                account = accounts[username]
                yield _grant(account, records[name].external_id, GrantKind.MEMBERSHIP, "member", Level.READ, "direct")

    def _invitations(self, org: ResourceRecord) -> Iterator[Record]:
        # https://docs.docker.com/reference/api/hub/latest/#tag/invites (not paginated: {"data": [...]})
        data = self._org_get("/invites").data
        invites = data.get("data") if isinstance(data, dict) else None
        if not isinstance(invites, list):
            raise ConnectorError(f"GET {self._org_path('/invites')} did not answer a list of invites")
        for invite in invites:
            account = self.extract_invite(invite)
            role = invite.get("role") or ("owner" if invite.get("team") == "owners" else "member")
            level, _via, _cascade = role_grant(role)
            attributes = {"invite_id": invite["id"]}
            yield account
            yield _grant(
                account, org.external_id, GrantKind.INVITATION, role, level, "invitation", attributes=attributes
            )

    def _public_pulls(self, repos: list[ResourceRecord]) -> Iterator[Record]:
        public = [repo for repo in repos if repo.attributes["private"] is False]
        if not public:
            return
        anyone = AccountRecord(
            external_id="pseudo:anonymous", login="anonymous", type=AccountType.PSEUDO, name="anyone (public)"
        )
        yield anyone
        for repo in public:
            yield _grant(anyone, repo.external_id, GrantKind.PERMISSION, "pull", Level.READ, "direct")

    def _repository_grants(self, repos: list[ResourceRecord], teams: dict[str, ResourceRecord]) -> Iterator[Record]:
        by_id = {record.attributes["id"]: record for record in teams.values()}

        def read(repo: ResourceRecord) -> list[GrantRecord]:
            path = f"/v2/repositories/{_segments(repo.path)}/groups"
            try:
                listed = list(self.session.pages(path, key="group_id"))
            except HttpError as exc:
                if exc.status == 404:
                    raise ConnectorError(f"repository {repo.path} vanished during the sync; try again") from exc
                raise
            grants = []
            for item in listed:
                team = by_id.get(item.get("group_id"))
                if team is None:  # a team created after the team list was read is left for the next sync
                    continue
                permission = item.get("permission") or ""
                grants.append(
                    GrantRecord(
                        group_external_id=team.external_id,
                        resource_external_id=repo.external_id,
                        kind=GrantKind.PERMISSION,
                        permission=permission,
                        level=repository_permission(permission),
                        via=f"team:{self.org}/{team.name}",
                        attributes={"group_id": item["group_id"]},
                    )
                )
            return grants

        for grants in self.http.imap(read, repos):
            yield from grants

    # --- requests -----------------------------------------------------------

    def _org_path(self, tail: str) -> str:
        return f"/v2/orgs/{quote(self.org, safe='')}{tail}"

    def _repositories_path(self) -> str:
        # The namespace route, not legacy /v2/repositories/{ns}: that one refuses organization access tokens.
        return f"/v2/namespaces/{quote(self.org, safe='')}/repositories"

    def _org_get(self, tail: str, params: dict | None = None):
        try:
            return self.session.get(self._org_path(tail), params)
        except HttpError as exc:
            if exc.status == 404:
                raise PermissionProblem(
                    f"Docker Hub answered 404 for {self._org_path(tail)}: no organization {self.org}, or the token "
                    "cannot see it"
                ) from exc
            raise

    def _role_of(self, username: str) -> str | None:
        """A member's role, by searching the member list (there is no single-member read)."""
        params = {"type": "member", "search": username}
        for member in self.session.pages(self._org_path("/members"), params):
            if member.get("username", "").lower() == username.lower():
                return member.get("role")
        return None

    # --- extract hooks: raw payload -> records --------------------------------

    def extract_team(self, team: dict, org: ResourceRecord) -> ResourceRecord:
        return ResourceRecord(
            external_id=f"team:{team['id']}",
            type=ResourceType.TEAM,
            path=f"{org.path}/team/{team['name']}",
            name=team["name"],
            parent_external_id=org.external_id,
            attributes={"id": team["id"], "name": team["name"], "description": team.get("description") or ""},
        )

    def extract_repository(self, repo: dict, org: ResourceRecord) -> ResourceRecord:
        path = f"{org.path}/{repo['name']}"
        return ResourceRecord(
            external_id=f"repo:{path.lower()}",
            type=REPOSITORY,
            path=path,
            name=repo["name"],
            parent_external_id=org.external_id,
            attributes={"private": bool(repo.get("is_private")), "repository_type": repo.get("repository_type")},
        )

    def extract_member(self, member: dict) -> AccountRecord:
        seen = member.get("last_seen_at") or member.get("last_logged_in_at")
        return AccountRecord(
            external_id=f"user:{member['id']}",
            login=member["username"],
            name=member.get("full_name") or "",
            email=member.get("email") or "",
            last_active_at=_datetime(seen),
            attributes={"is_guest": bool(member.get("is_guest"))},
        )

    def membership_grant(self, account: AccountRecord, role: str, org: ResourceRecord) -> GrantRecord:
        level, via, cascade = role_grant(role)
        extra = {"cascade_to": (REPOSITORY,), "cascade_level": cascade} if cascade else {}
        return _grant(account, org.external_id, GrantKind.MEMBERSHIP, role, level, via, **extra)

    def extract_invite(self, invite: dict) -> AccountRecord:
        """A pending invitation; an email-only invitation's login is the email (CONTRACT)."""
        invitee = invite.get("invitee") or ""
        return AccountRecord(
            external_id=f"invite:{invite['id']}",
            login=invitee or f"invite:{invite['id']}",
            email=invitee if "@" in invitee else "",
            state=AccountState.PENDING,
            attributes={
                "invite_id": invite["id"],
                "inviter": invite.get("inviter_username"),
                "team": invite.get("team") or None,
                "created_at": invite.get("created_at"),
            },
        )

    def extract_access_token(self, token: dict) -> AccountRecord:
        expires = _datetime(token.get("expires_at"))
        if expires is not None and expires.timestamp() <= self.http.clock():
            state = AccountState.EXPIRED
        elif token.get("is_active") is False:
            state = AccountState.DISABLED
        else:
            state = AccountState.ACTIVE
        return AccountRecord(
            external_id=f"access_token:{token['id']}",
            login=f"access_token:{token['id']}",
            type=AccountType.ACCESS_TOKEN,
            name=token.get("label") or "",
            state=state,
            last_active_at=_datetime(token.get("last_used_at")),
            attributes={
                "token_id": token["id"],
                "label": token.get("label") or "",
                "description": token.get("description") or "",
                "created_by": token.get("created_by"),
                "created_at": token.get("created_at"),
                "expires_at": token.get("expires_at"),
                "last_used_at": token.get("last_used_at"),
                "is_active": token.get("is_active"),
                "resources": [
                    {"type": r.get("type"), "path": r.get("path"), "scopes": sorted(r.get("scopes") or ())}
                    for r in token.get("resources") or ()
                ],
            },
        )


def _grant(
    account: AccountRecord, resource_id: str, kind: str, permission: str, level: Level, via: str, **extra
) -> GrantRecord:
    return GrantRecord(
        account_external_id=account.external_id,
        resource_external_id=resource_id,
        kind=kind,
        permission=permission,
        level=level,
        via=via,
        **extra,
    )


def _with(account: AccountRecord, **attributes) -> AccountRecord:
    return replace(account, attributes={**account.attributes, **attributes})


def _segments(path: str) -> str:
    """ORG/REPO with each part quoted for a URL path."""
    return "/".join(quote(part, safe="") for part in path.split("/", 1))


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
