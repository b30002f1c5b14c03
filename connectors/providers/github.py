"""GitHub (github.com and Enterprise Server): who can reach one organization, and how.

Reads the REST API, version 2022-11-28 (https://docs.github.com/en/rest/about-the-rest-api/api-versions),
and records each grant where GitHub makes it: ownership, membership and the base permission on the
organization; team memberships on teams; team, direct, deploy-key and invitation grants on repositories.
Lists use per_page=100 and follow Link headers only
(https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).

Revocation, presence checks and what cannot be revoked are in github_revoke; option ``saml=true`` adds each
member's SAML identity as the account attribute ``sso_id`` (github_saml).

Option ``api=graphql`` reads members, teams (immediate members, repositories) and repositories' direct
collaborators over GraphQL (github_graphql), in a few hundred points where REST needs a request per team and per
repository. What GraphQL cannot express stays on REST: the organization and its base permission, outside
collaborators (their 2FA state), org and repository invitations (GraphQL has no per-repository connection for
them: one REST list per repository remains), app installations, and the custom role name of a team's repository
grant (GraphQL's permission is the base role: teams holding a base role that some custom role is built on are
re-read over REST). Deploy keys come from GraphQL, their REST id read from the node id (github_graphql); a
repository with a key whose id cannot be read lists its keys over REST. The records are the ones REST mode
yields, except that a member of both a team and one of its descendants is also recorded at the parent (REST
cannot tell, below).

Fail closed: a 404 on a list that must exist means a missing scope or an invisible organization, never
"empty" (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#404-not-found-for-an-existing-resource).

Known limitations of the REST read, to be lifted by the GraphQL mode:
- a direct collaborator's role_name is their highest role from any source (org, team, repository);
- team member lists (and the per-user membership call) include child-team members, so a user in a parent
  and a child team with the same role is recorded at the child only (see github_teams);
- an app installed on selected repositories is recorded on the organization only: listing the selected
  repositories needs an installation token (GET /installation/repositories).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from urllib.parse import urlsplit

from ..base import (
    AccountRecord,
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    GrantRecord,
    GrantTarget,
    OptionSpec,
    PermissionProblem,
    Record,
    ResourceRecord,
    RevocationResult,
)
from ..choices import AccountState, AccountType, GrantKind, Level, ResourceType
from ..http import HttpClient, HttpError
from .github_graphql import (
    COLLABORATORS,
    DEPLOY_KEYS,
    MEMBERS,
    REPOSITORIES,
    TEAM_MEMBERS,
    TEAM_REPOS,
    TEAMS,
    GraphQLReader,
    GraphQLUsage,
    deploy_key_id,
    deploy_key_json,
    direct_role,
    permission_flag,
    repository_json,
    team_json,
    user_json,
)
from .github_revoke import Revoker, refusal
from .github_roles import (
    BASE_PERMISSION_LEVELS,
    ROLE_LEVELS,
    TEAM_ROLE_LEVELS,
    app_permissions,
    repository_role,
)
from .github_saml import graphql_url, sso_ids
from .github_teams import immediate_members, parents_first

API_VERSION = "2022-11-28"
PER_PAGE = 100


class GitHubConnector(BaseConnector):
    kind = "github"
    label = "GitHub (cloud and Enterprise Server)"
    default_base_url = "https://api.github.com"
    option_specs = {
        "org": OptionSpec(required=True, help="login of the organization to inventory"),
        "saml": OptionSpec(
            help="true: read the members' SAML identities (GraphQL samlIdentityProvider.externalIdentities) into "
            "the account attribute sso_id; needs SAML SSO on the org and an owner's token with read:org"
        ),
        "api": OptionSpec(
            help="rest (default) or graphql: enumerate members, teams and repositories' collaborators over GraphQL "
            "(a few hundred points instead of requests per team and repository); the records are the same"
        ),
    }
    secret_names = ("token",)
    # kind:via patterns; cannot_revoke() has the precise answer (app installations and the base permission are
    # permission:direct / org_base_permission grants it refuses).
    revocable = frozenset(
        {
            "membership:membership",  # org member, team member
            "membership:org_owner",  # org owner: remove, or downgrade to member
            "membership:outside_collaborator",  # built by callers for the wider action on an outside collaborator
            "permission:direct",  # direct collaborator, deploy key
            "permission:team:*",  # a team's repository permission
            "invitation:invitation",  # org and repository invitations
        }
    )

    @classmethod
    def api_url(cls, base_url: str) -> str:
        """api.github.com (and GHE.com's api.SUBDOMAIN.ghe.com) as is; Enterprise Server under /api/v3."""
        url = base_url.rstrip("/")
        host = (urlsplit(url).hostname or "").lower()
        if host == "github.com":
            return "https://api.github.com"
        if (
            host == "api.github.com"
            or (host.startswith("api.") and host.endswith(".ghe.com"))
            or url.endswith("/api/v3")
        ):
            return url
        return f"{url}/api/v3"

    @classmethod
    def validate_options(cls, options: dict) -> None:
        super().validate_options(options)
        if str(options.get("saml", "")).lower() not in ("", "true", "false"):
            raise ConfigurationError("saml= is true or false")
        if str(options.get("api", "")).lower() not in ("", "rest", "graphql"):
            raise ConfigurationError("api= is rest or graphql")

    @property
    def org(self) -> str:
        return self.config.options["org"]

    @property
    def saml(self) -> bool:
        return str(self.config.options.get("saml", "")).lower() == "true"

    @property
    def graphql(self) -> bool:
        return str(self.config.options.get("api", "")).lower() == "graphql"

    @property
    def graphql_usage(self) -> GraphQLUsage:
        """Points and queries the last fetch spent on GraphQL (zero in REST mode)."""
        reader = getattr(self, "_graphql", None)
        return reader.usage if reader is not None else GraphQLUsage()

    def run_summary(self) -> dict:
        """What the last fetch cost upstream: REST requests (connectors/http.py stats) and GraphQL points."""
        usage = self.graphql_usage
        return {
            "api": "graphql" if self.graphql else "rest",
            "rest_requests": self.http.stats.requests,
            "graphql_points": usage.points,
            "graphql_queries": usage.queries,
            "graphql": asdict(usage),
        }

    def auth_headers(self) -> dict[str, str]:
        # https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api
        return {
            "Authorization": f"Bearer {self.config.secret('token')}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    # --- test ---------------------------------------------------------------

    def test(self) -> str:
        org = self._get_org()
        login = org["login"]
        plan = (org.get("plan") or {}).get("name") or "not shown (owners only)"
        try:
            # https://docs.github.com/en/rest/users/users#get-the-authenticated-user
            me = self.http.get("/user").data["login"]
        except PermissionProblem:
            return f"organization {login}, plan {plan}; not a user token, so ownership is unknown"
        # https://docs.github.com/en/rest/orgs/members#get-organization-membership-for-a-user
        membership = self.http.request("GET", f"/orgs/{login}/memberships/{me}", ok=(200, 404))
        data = membership.data if membership.status == 200 else {}
        owner = data.get("role") == "admin" and data.get("state") == "active"
        summary = f"organization {login}, plan {plan}; token user {me} is {'an owner' if owner else 'not an owner'}"
        if self.saml:
            summary += f"; {len(sso_ids(self.http, self.config.api_url, login))} members have a SAML identity"
        return summary

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        """Every record once: the first version of an account or resource wins (org members come first).

        Grants are deduplicated by key too: a list that shifts between two pages can repeat an item.
        """
        seen: set[str] = set()
        for record in self._records():
            key = f"grant:{record.key}" if isinstance(record, GrantRecord) else record.external_id
            if key in seen:
                continue
            seen.add(key)
            yield record

    def _records(self) -> Iterator[Record]:
        org_json = self._get_org()
        org = self.extract_organization(org_json)
        base = self.base_permission_grant(org_json, org)  # first: it fails fast for a token that is not an owner's
        # Before any account is extracted: the first version of an account is the one kept.
        self._sso = sso_ids(self.http, self.config.api_url, org.path) if self.saml else {}
        yield org
        login = org.path
        if self.graphql:
            yield from self._graphql_records(org, base)
            return

        # https://docs.github.com/en/rest/teams/teams#list-teams
        teams = parents_first(list(self._list(f"/orgs/{login}/teams", needs="read:org")))
        for team in teams:
            yield self.extract_team(team, org)

        # https://docs.github.com/en/rest/repos/repos#list-organization-repositories
        repos: list[tuple[ResourceRecord, str]] = []
        for repo_json in self._list(f"/orgs/{login}/repos", {"type": "all"}, needs="repo"):
            repo = self.extract_repository(repo_json, org)
            repos.append((repo, repo_json["full_name"]))
            yield repo

        yield from self._members(org)
        yield from self._outside_collaborators(org)
        yield from self._invitations(org)
        yield from self._installations(org)
        if base is not None:
            yield base
        yield from self._teams(org, teams)
        yield from self._repositories([(repo, full_name, True, []) for repo, full_name in repos])

    # --- GraphQL mode (github_graphql) ------------------------------------------

    def _graphql_records(self, org: ResourceRecord, base: GrantRecord | None) -> Iterator[Record]:
        """The same records as REST mode; every account's first version is the same one too (members first)."""
        http = self.http
        client = HttpClient(
            http.base_url,
            headers=self.auth_headers(),
            allow_private_network=self.config.allow_private_network,
            timeout=http.timeout,
            max_retries=0,  # a 502 shrinks the page (github_graphql), it is not repeated as it was
            max_concurrency=http.max_concurrency,
            sleep=http.sleep,
            clock=http.clock,
            max_rate_limit_wait=http.max_rate_limit_wait,
        )
        self._graphql = GraphQLReader(client, graphql_url(self.config.api_url), org.path)
        try:
            yield from self._graphql_members(org)
            yield from self._outside_collaborators(org)
            yield from self._invitations(org)
            yield from self._installations(org)
            if base is not None:
                yield base
            yield from self._graphql_teams(org)
            yield from self._graphql_repositories(org)
        finally:
            client.close()

    def _graphql_members(self, org: ResourceRecord) -> Iterator[Record]:
        for page in self._graphql.connection(MEMBERS, ("organization", "membersWithRole"), {}):
            for edge in page.get("edges") or []:
                two_factor = edge.get("hasTwoFactorEnabled")
                unknown = {"two_factor_unknown_reason": "GitHub did not show hasTwoFactorEnabled (owners only)"}
                account = self.extract_account(
                    user_json(edge["node"]), two_factor=two_factor, attributes=unknown if two_factor is None else None
                )
                yield account
                if edge.get("role") == "ADMIN":
                    owner = ("admin", Level.OWNER, "org_owner")
                    cascade = {"cascade_to": ("repository",), "cascade_level": Level.ADMIN}
                    yield _grant(account, org.external_id, GrantKind.MEMBERSHIP, *owner, **cascade)
                else:
                    yield _grant(account, org.external_id, GrantKind.MEMBERSHIP, "member", Level.READ, "membership")

    def _graphql_teams(self, org: ResourceRecord) -> Iterator[Record]:
        reader, login = self._graphql, org.path
        custom_bases = self._custom_role_bases(org)
        rest_teams: list[dict] = []
        for page in reader.connection(TEAMS, ("organization", "teams"), {}):
            for node in page.get("nodes") or []:
                team = team_json(node)
                yield self.extract_team(team, org)
                variables = {"slug": team["slug"]}
                path = ("organization", "team", "members")
                for edge in reader.rest_of(TEAM_MEMBERS, path, variables, node.get("members") or {}):
                    account = self.extract_account(user_json(edge["node"]))
                    role = str(edge.get("role") or "member").lower()
                    yield account
                    level = TEAM_ROLE_LEVELS.get(role, Level.READ)
                    yield _grant(account, _team_id(team), GrantKind.MEMBERSHIP, role, level, "membership")
                path = ("organization", "team", "repositories")
                edges = list(reader.rest_of(TEAM_REPOS, path, variables, node.get("repositories") or {}))
                permissions = {str(edge.get("permission") or "").lower() for edge in edges}
                if custom_bases is None or permissions & custom_bases:
                    rest_teams.append(team)  # a grant may be a custom role GraphQL shows as its base role
                    continue
                for edge in edges:
                    repo = self.extract_repository(repository_json(edge["node"]), org)
                    yield repo
                    permission, level = self.extract_role(str(edge["permission"]).lower(), None)
                    yield self._team_repo_grant(team, repo, permission, level, login)
        for records in self.http.imap(lambda team: list(self._rest_team_repos(org, team)), rest_teams):
            yield from records

    def _custom_role_bases(self, org: ResourceRecord) -> set[str] | None:
        """Base roles that some custom repository role builds on; None when the token cannot list them."""
        # https://docs.github.com/en/enterprise-cloud@latest/rest/orgs/custom-roles#list-custom-repository-roles-in-an-organization
        try:
            roles = self.http.get(f"/orgs/{org.path}/custom-repository-roles").data.get("custom_roles") or []
        except (HttpError, PermissionProblem):
            return None  # unknown: every team's repositories are read over REST, which names the roles
        return {str(role.get("base_role") or "").lower() for role in roles}

    def _rest_team_repos(self, org: ResourceRecord, team: dict) -> Iterator[Record]:
        # https://docs.github.com/en/rest/teams/teams#list-team-repositories
        for repo_json in self._list(f"/orgs/{org.path}/teams/{team['slug']}/repos", needs="read:org and repo"):
            repo = self.extract_repository(repo_json, org)
            permission, level = self.extract_role(repo_json.get("role_name"), repo_json.get("permissions"))
            yield repo
            yield self._team_repo_grant(team, repo, permission, level, org.path)

    def _team_repo_grant(self, team: dict, repo: ResourceRecord, permission: str, level: Level, login: str):
        return GrantRecord(
            group_external_id=_team_id(team),
            resource_external_id=repo.external_id,
            kind=GrantKind.PERMISSION,
            permission=permission,
            level=level,
            via=f"team:{login}/{team['slug']}",
        )

    def _graphql_repositories(self, org: ResourceRecord) -> Iterator[Record]:
        """Repositories with collaborators and deploy keys from GraphQL; invitations (and unreadable keys) from REST.

        The GraphQL pages are read in this thread while connectors/http.py's pool reads the previous
        repositories' REST lists, so the two overlap instead of taking turns.
        """
        reader = self._graphql

        def repositories() -> Iterator[tuple[ResourceRecord, str, bool, list[Record]]]:
            for page in reader.connection(REPOSITORIES, ("organization", "repositories"), {}):
                for node in page.get("nodes") or []:
                    repo = self.extract_repository(repository_json(node), org)
                    records: list[Record] = [repo]
                    path, variables = ("repository", "collaborators"), {"name": node["name"]}
                    for edge in reader.rest_of(COLLABORATORS, path, variables, node.get("collaborators") or {}):
                        account = self.extract_account(user_json(edge["node"]))
                        permission, level = self.extract_role(
                            direct_role(edge, node["databaseId"]), permission_flag(edge)
                        )
                        records.append(account)
                        records.append(
                            _grant(account, repo.external_id, GrantKind.PERMISSION, permission, level, "direct")
                        )
                    path = ("repository", "deployKeys")
                    keys = list(reader.rest_of(DEPLOY_KEYS, path, variables, node.get("deployKeys") or {}, "nodes"))
                    ids = [deploy_key_id(str(key.get("id") or "")) for key in keys]
                    readable = None not in ids  # else this repository's keys come from REST
                    if readable:
                        for key, key_id in zip(keys, ids, strict=True):
                            records.extend(self._deploy_key_records(deploy_key_json(key, key_id), repo))
                    yield repo, f"{org.path}/{node['name']}", not readable, records

        yield from self._repositories(repositories(), collaborators=False)

    def _members(self, org: ResourceRecord) -> Iterator[Record]:
        # https://docs.github.com/en/rest/orgs/members#list-organization-members
        path = f"/orgs/{org.path}/members"
        two_factor = self._two_factor(path)
        owners: set[int] = set()
        for user in self._list(path, {"role": "admin"}, needs="read:org"):
            owners.add(user["id"])
            account = self.extract_account(user, **two_factor.fields(user))
            yield account
            owner = ("admin", Level.OWNER, "org_owner")
            cascade = {"cascade_to": ("repository",), "cascade_level": Level.ADMIN}
            yield _grant(account, org.external_id, GrantKind.MEMBERSHIP, *owner, **cascade)
        for user in self._list(path, {"role": "member"}, needs="read:org"):
            if user["id"] in owners:  # promoted between the two lists
                continue
            account = self.extract_account(user, **two_factor.fields(user))
            yield account
            yield _grant(account, org.external_id, GrantKind.MEMBERSHIP, "member", Level.READ, "membership")

    def _outside_collaborators(self, org: ResourceRecord) -> Iterator[Record]:
        """Accounts only: their access is on repositories, read there as direct collaborators."""
        # https://docs.github.com/en/rest/orgs/outside-collaborators#list-outside-collaborators-for-an-organization
        path = f"/orgs/{org.path}/outside_collaborators"
        two_factor = self._two_factor(path)
        for user in self._list(path, needs="read:org"):
            yield self.extract_account(user, is_outside=True, **two_factor.fields(user))

    def _invitations(self, org: ResourceRecord) -> Iterator[Record]:
        # https://docs.github.com/en/rest/orgs/members#list-pending-organization-invitations
        for invitation in self._list(f"/orgs/{org.path}/invitations", needs="admin:org, as an owner"):
            account = self.extract_invitation(invitation)
            yield account
            role = invitation.get("role") or "direct_member"
            level = Level.OWNER if role == "admin" else Level.READ
            yield _grant(account, org.external_id, GrantKind.INVITATION, role, level, "invitation")

    def _installations(self, org: ResourceRecord) -> Iterator[Record]:
        # https://docs.github.com/en/rest/orgs/orgs#list-app-installations-for-an-organization
        path = f"/orgs/{org.path}/installations"
        for installation in self._list(path, key="installations", needs="admin:org (read:org), as an owner"):
            account = self.extract_installation(installation)
            yield account
            permission, level = self.extract_app_permissions(installation.get("permissions") or {})
            everywhere = installation.get("repository_selection") == "all"
            yield _grant(
                account,
                org.external_id,
                GrantKind.PERMISSION,
                permission,
                level,
                "direct",
                cascade_to=("repository",) if everywhere else (),
                cascade_level=level if everywhere else None,
                # Selected repositories are not listed to org tokens: the grant stays on the org (module docstring).
                applies_to_self=not everywhere,
                attributes={} if everywhere else {"repositories": "selected"},
            )

    def _teams(self, org: ResourceRecord, teams: list[dict]) -> Iterator[Record]:
        login = org.path

        def read(team: dict) -> tuple[dict[str, tuple[dict, str]], list[Record]]:
            # https://docs.github.com/en/rest/teams/members#list-team-members
            # https://docs.github.com/en/rest/teams/teams#list-team-repositories
            base = f"/orgs/{login}/teams/{team['slug']}"
            listed: dict[str, tuple[dict, str]] = {}
            for role in ("maintainer", "member"):
                for user in self._list(f"{base}/members", {"role": role}, needs="read:org"):
                    listed.setdefault(user["login"], (_compact_user(user), role))
            grants: list[Record] = []
            for repo_json in self._list(f"{base}/repos", needs="read:org and repo"):
                repo = self.extract_repository(repo_json, org)
                permission, level = self.extract_role(repo_json.get("role_name"), repo_json.get("permissions"))
                grants.append(repo)  # already yielded unless created mid-sync; fetch() drops the duplicate
                grants.append(
                    GrantRecord(
                        group_external_id=_team_id(team),
                        resource_external_id=repo.external_id,
                        kind=GrantKind.PERMISSION,
                        permission=permission,
                        level=level,
                        via=f"team:{login}/{team['slug']}",
                    )
                )
            return listed, grants

        listed_by_team: dict[int, dict[str, tuple[dict, str]]] = {}
        repo_grants: list[Record] = []
        for team, (listed, grants) in zip(teams, self.http.imap(read, teams), strict=True):
            listed_by_team[team["id"]] = listed
            repo_grants.extend(grants)

        immediate = immediate_members(teams, listed_by_team)
        for team in teams:
            for user, role in immediate[team["id"]]:
                account = self.extract_account(user)
                yield account
                level = TEAM_ROLE_LEVELS.get(role, Level.READ)
                yield _grant(account, _team_id(team), GrantKind.MEMBERSHIP, role, level, "membership")
        yield from repo_grants

    def _repositories(self, repos: Iterable[tuple[ResourceRecord, str, bool, list[Record]]], *, collaborators=True):
        """Per repository (record, full name, whether to list its deploy keys, records already read): direct
        collaborators (unless GraphQL read them), invitations and deploy keys."""

        def read(item: tuple[ResourceRecord, str, bool, list[Record]]) -> list[Record]:
            repo, full_name, keys, records = item
            records = list(records)
            base = f"/repos/{full_name}"

            def add(account: AccountRecord, kind: str, permission: str, level: Level, via: str) -> None:
                records.extend((account, _grant(account, repo.external_id, kind, permission, level, via)))

            # https://docs.github.com/en/rest/collaborators/collaborators#list-repository-collaborators
            # With REST, role_name is the highest role from any source even for affiliation=direct (CONTRACT);
            # the GraphQL mode records the direct grant's own role (its permission source's roleName).
            direct = {"affiliation": "direct"}
            listed = (
                self._list(f"{base}/collaborators", direct, needs="repo, with push access") if collaborators else ()
            )
            for user in listed:
                account = self.extract_account(user)
                permission, level = self.extract_role(user.get("role_name"), user.get("permissions"))
                add(account, GrantKind.PERMISSION, permission, level, "direct")
            # https://docs.github.com/en/rest/collaborators/invitations#list-repository-invitations
            for invitation in self._list(f"{base}/invitations", needs="repo, with admin on the repository"):
                account = self.extract_repository_invitation(invitation)
                permission = invitation.get("permissions") or "read"
                level = ROLE_LEVELS.get(permission, Level.READ)
                add(account, GrantKind.INVITATION, permission, level, "invitation")
            # https://docs.github.com/en/rest/deploy-keys/deploy-keys#list-deploy-keys
            for key in self._list(f"{base}/keys", needs="repo, with admin on the repository") if keys else ():
                records.extend(self._deploy_key_records(key, repo))
            return records

        for records in self.http.imap(read, repos):
            yield from records

    def _deploy_key_records(self, key: dict, repo: ResourceRecord) -> tuple[AccountRecord, GrantRecord]:
        account = self.extract_deploy_key(key, repo)
        # A key that does not say it is read-only is counted as writable (fail closed).
        permission, level = ("read", Level.READ) if key.get("read_only") is True else ("write", Level.WRITE)
        return account, _grant(account, repo.external_id, GrantKind.PERMISSION, permission, level, "direct")

    # --- requests -----------------------------------------------------------

    def _get_org(self) -> dict:
        # https://docs.github.com/en/rest/orgs/orgs#get-an-organization
        try:
            response = self.http.get(f"/orgs/{self.org}")
        except HttpError as exc:
            if exc.status == 404:
                raise PermissionProblem(
                    f"GitHub answered 404 for /orgs/{self.org}: the organization does not exist or the token "
                    "(needs read:org) cannot see it"
                ) from exc
            raise
        _check_scopes(response.headers.get("x-oauth-scopes"))
        return response.data

    def _list(self, path: str, params: dict | None = None, *, needs: str, key: str | None = None) -> Iterator[dict]:
        """Every item of a paginated list; a 404 is a permission problem, never an empty list."""
        try:
            for page in self.http.paginate(path, {**(params or {}), "per_page": PER_PAGE}):
                items = page.data[key] if key else page.data
                if not isinstance(items, list):
                    raise ConnectorError(f"GitHub answered {path} with something other than a list", permanent=True)
                yield from items
        except HttpError as exc:
            if exc.status == 404:
                raise PermissionProblem(
                    f"GitHub answered 404: the token cannot see {path} (needs {needs}), or it vanished during "
                    "the sync; not treated as empty"
                ) from exc
            raise

    def _two_factor(self, path: str) -> _TwoFactor:
        """Who lacks 2FA, from the owner-only filter; unknown (with the reason) for other tokens."""
        try:
            disabled = {user["id"] for user in self._list(path, {"filter": "2fa_disabled"}, needs="read:org")}
        except HttpError as exc:
            if exc.status != 422:  # "Only owners can use this filter."
                raise
            return _TwoFactor(None, _message(exc) or "GitHub refused the 2fa_disabled filter (owners only)")
        return _TwoFactor(disabled, "")

    # --- extract hooks: raw payload -> records --------------------------------

    def extract_organization(self, org: dict) -> ResourceRecord:
        return ResourceRecord(
            external_id=f"org:{org['id']}",
            type=ResourceType.ORGANIZATION,
            path=org["login"],
            name=org.get("name") or org["login"],
            attributes={
                "default_repository_permission": org.get("default_repository_permission"),
                "two_factor_requirement_enabled": org.get("two_factor_requirement_enabled"),
            },
        )

    def base_permission_grant(self, org_json: dict, org: ResourceRecord) -> GrantRecord | None:
        """The base role every member has on every repository, held by the org as a group."""
        base = org_json.get("default_repository_permission")
        if base is None:
            # Only owners (admin:org) see it; without it every member's baseline access would be missing.
            raise PermissionProblem(
                f"GET /orgs/{org.path} did not include default_repository_permission: the token must belong to "
                "an owner (classic token with admin:org or read:org, or an app with organization administration read)"
            )
        if base == "none":
            return None
        level = BASE_PERMISSION_LEVELS.get(base)
        if level is None:
            raise ConnectorError(f"unknown default_repository_permission {base!r} on {org.path}", permanent=True)
        return GrantRecord(
            group_external_id=org.external_id,
            resource_external_id=org.external_id,
            kind=GrantKind.PERMISSION,
            permission=base,
            level=level,
            via="org_base_permission",
            cascade_to=("repository",),
            cascade_level=level,
            applies_to_self=False,
        )

    def extract_team(self, team: dict, org: ResourceRecord) -> ResourceRecord:
        parent = team.get("parent")
        return ResourceRecord(
            external_id=_team_id(team),
            type=ResourceType.TEAM,
            path=f"{org.path}/team/{team['slug']}",
            name=team.get("name") or team["slug"],
            parent_external_id=f"team:{parent['id']}" if parent else org.external_id,
            attributes={"privacy": team.get("privacy")},
        )

    def extract_repository(self, repo: dict, org: ResourceRecord) -> ResourceRecord:
        return ResourceRecord(
            external_id=f"repo:{repo['id']}",
            type=ResourceType.REPOSITORY,
            path=f"{org.path}/{repo['name']}",
            name=repo["name"],
            parent_external_id=org.external_id,
            attributes={
                "visibility": repo.get("visibility") or ("private" if repo.get("private") else "public"),
                "private": bool(repo.get("private")),
                "archived": bool(repo.get("archived")),
                "fork": bool(repo.get("fork")),
            },
        )

    def extract_account(
        self, user: dict, *, two_factor: bool | None = None, is_outside: bool = False, attributes: dict | None = None
    ) -> AccountRecord:
        attributes = dict(attributes or {})
        sso = getattr(self, "_sso", {}).get(user["login"].lower())
        if sso:
            attributes["sso_id"] = sso
        return AccountRecord(
            external_id=f"user:{user['id']}",
            login=user["login"],
            type=AccountType.BOT if user.get("type") == "Bot" else AccountType.HUMAN,
            name=user.get("name") or "",
            email=user.get("email") or "",
            two_factor=two_factor,
            is_admin=bool(user.get("site_admin")),
            is_outside=is_outside,
            attributes=attributes,
        )

    def extract_invitation(self, invitation: dict) -> AccountRecord:
        """A pending org invitation; an email-only invitation's login is the email (CONTRACT)."""
        email = invitation.get("email") or ""
        return AccountRecord(
            external_id=f"invitation:{invitation['id']}",
            login=invitation.get("login") or email or f"invitation:{invitation['id']}",
            email=email,
            state=AccountState.PENDING,
            attributes={"created_at": invitation.get("created_at"), "team_count": invitation.get("team_count")},
        )

    def extract_repository_invitation(self, invitation: dict) -> AccountRecord:
        """A pending repository invitation; its own id space, apart from org invitations."""
        invitee = invitation.get("invitee") or {}
        email = invitation.get("email") or ""
        return AccountRecord(
            external_id=f"repo_invitation:{invitation['id']}",
            login=invitee.get("login") or email or f"repo_invitation:{invitation['id']}",
            email=email,
            state=AccountState.PENDING,
            attributes={"created_at": invitation.get("created_at"), "user_id": invitee.get("id")},
        )

    def extract_deploy_key(self, key: dict, repo: ResourceRecord) -> AccountRecord:
        return AccountRecord(
            external_id=f"deploy_key:{key['id']}",
            login=f"deploy_key:{repo.path}:{key['id']}",
            type=AccountType.DEPLOY_KEY,
            name=key.get("title") or "",
            attributes={"created_at": key.get("created_at"), "read_only": key.get("read_only") is True},
        )

    def extract_installation(self, installation: dict) -> AccountRecord:
        slug = installation.get("app_slug") or str(installation.get("app_id"))
        return AccountRecord(
            external_id=f"app_installation:{installation['id']}",
            login=f"app:{slug}",
            type=AccountType.APP_INSTALLATION,
            name=slug,
            state=AccountState.SUSPENDED if installation.get("suspended_at") else AccountState.ACTIVE,
            attributes={
                "app_id": installation.get("app_id"),
                "permissions": installation.get("permissions") or {},
                "repository_selection": installation.get("repository_selection"),
                "suspended_at": installation.get("suspended_at"),
            },
        )

    def extract_role(self, role_name: str | None, permissions: dict | None) -> tuple[str, Level]:
        """(permission verbatim, level); a custom role takes its base role's level, read from the booleans."""
        return repository_role(role_name, permissions)

    def extract_app_permissions(self, permissions: dict[str, str]) -> tuple[str, Level]:
        """A compact, sorted permission string and the highest level among the map's values."""
        return app_permissions(permissions)

    # --- revocation (github_revoke) -------------------------------------------

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        return refusal(grant, downgrade_to)

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        return self._revoker().revoke(grant, downgrade_to)

    def is_present(self, grant: GrantTarget) -> bool | None:
        return self._revoker().is_present(grant)

    def _revoker(self) -> Revoker:
        return Revoker(self.http, token_login=self._token_login)

    def _token_login(self) -> str | None:
        """Who the token belongs to (None for tokens that are not a user's): never revoked by its own connector."""
        if not hasattr(self, "_me"):
            try:
                # https://docs.github.com/en/rest/users/users#get-the-authenticated-user
                self._me = self.http.get("/user").data.get("login")
            except PermissionProblem:
                self._me = None
        return self._me


class _TwoFactor:
    """2FA state of the members of one list: disabled ids when known, else the reason it is not."""

    def __init__(self, disabled: set[int] | None, reason: str):
        self.disabled, self.reason = disabled, reason

    def fields(self, user: dict) -> dict:
        if self.disabled is None:
            return {"two_factor": None, "attributes": {"two_factor_unknown_reason": self.reason}}
        return {"two_factor": user["id"] not in self.disabled}


def _grant(
    account: AccountRecord, resource_id: str, kind: str, permission: str, level: Level, via: str, **extra
) -> GrantRecord:
    """A grant held by an account (group-held grants are built where they occur)."""
    return GrantRecord(
        account_external_id=account.external_id,
        resource_external_id=resource_id,
        kind=kind,
        permission=permission,
        level=level,
        via=via,
        **extra,
    )


def _check_scopes(header: str | None) -> None:
    """A classic token lacking repo sees public repositories only, silently: refuse it up front.

    Only classic tokens send X-OAuth-Scopes
    (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps); fine-grained and
    app tokens are caught by the 404s of the lists they cannot read.
    """
    if header is None:
        return
    scopes = {scope.strip() for scope in header.split(",")}
    missing = [] if "repo" in scopes else ["repo"]
    if not scopes & {"read:org", "write:org", "admin:org"}:
        missing.append("read:org")
    if missing:
        raise PermissionProblem(f"the token lacks the {' and '.join(missing)} scope (it has: {header or 'none'})")


def _team_id(team: dict) -> str:
    return f"team:{team['id']}"


def _compact_user(user: dict) -> dict:
    """Keep only what extract_account reads: team lists are held in memory for the immediacy check."""
    return {key: user.get(key) for key in ("id", "login", "type", "site_admin")}


def _message(exc: HttpError) -> str:
    data = getattr(exc.response, "data", None)
    return data.get("message", "") if isinstance(data, dict) else ""
