"""GitHub REST API simulator: a generated (or hand-made) organization served over real HTTP.

Shapes follow the GitHub REST API, version 2022-11-28 (docs.github.com/en/rest), checked against
``/work/shared/reference/github`` (OpenAPI subset, octokit fixtures, docs collaborator example):

* org and members: https://docs.github.com/rest/orgs/orgs, https://docs.github.com/rest/orgs/members
* outside collaborators: https://docs.github.com/rest/orgs/outside-collaborators
* teams, team members: https://docs.github.com/rest/teams/teams, https://docs.github.com/rest/teams/members
* repositories, collaborators, invitations, deploy keys, app installations:
  https://docs.github.com/rest/repos/repos, https://docs.github.com/rest/collaborators/collaborators,
  https://docs.github.com/rest/collaborators/invitations, https://docs.github.com/rest/deploy-keys/deploy-keys,
  https://docs.github.com/rest/orgs/orgs#list-app-installations-for-an-organization
* limits, conditional requests, pagination: https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api,
  https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api,
  https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api

GitHub behaviours reproduced because they break naive connectors:
* ``/teams/{slug}/members`` and ``/teams/{slug}/memberships/{u}`` include members of child teams (with
  the nearest team's role). Org owners are reported with team role ``maintainer``.
* Child teams inherit their parent's repository grants (``affiliation=all`` reflects that).
* ``role_name`` is the highest role from any source for ``affiliation=all``; custom repository roles rank
  just above their base role.
* A token without the needed scope gets 404 ``Not Found``, not 403; ``filter=2fa_disabled`` is owner-only (422).
* Links of repository lists point at ``/repositories/{id}/…``, org lists at ``/organizations/{id}/…``
  (``link_style="ids"``), so clients must follow ``Link`` instead of building URLs.
* Without the ``repo`` scope ``/orgs/{org}/repos`` lists public repositories only.
* ``default_repository_permission``, ``two_factor_requirement_enabled`` and billing fields of
  ``GET /orgs/{org}`` are only shown to owners; without ``read:org`` only public members are listed.

Limits: every response carries ``x-ratelimit-*``; a 304 to ``If-None-Match`` and ``/rate_limit`` are free;
secondary limits answer with ``retry-after``. Out-of-process users (Celery workers, ``make demo``) steer
the simulator over HTTP: ``/_simulator/faults`` (GET/POST/DELETE), ``/_simulator/stats``,
``/_simulator/requests``, ``/_simulator/reset`` (see ``server.py``), ``POST /_simulator/mutate``
(``{"fraction": 0.01, "seed": 2}`` or ``{"action": "remove_member", "args": {"login": "bob"}}``) and
``GET /_simulator/info`` (sizes and ``rest_lower_bound``). The organization model is in ``github_org.py``.

Writes (the REST calls revocation uses) change the organization, so the next sync sees them. GitHub's status
codes are kept: 204 on removal, 200/204 on role changes, 201 when a collaborator ``PUT`` creates an invitation,
404 for what is not there, 422 for removing or demoting the last owner, 403 for membership changes of a team
synced from an identity provider. Every applied write is appended to ``writes`` (``GET /_simulator/writes``) the
moment it takes effect; ``write_delay`` seconds (constructor, or ``POST /_simulator/write_delay``
``{"seconds": 5}``) then pass before the answer is sent, so a test can kill a client mid-call after the change.

GraphQL: ``POST /graphql`` (GHES ``POST /api/graphql``) answers the SAML external-identities query and the
enumeration queries over members, teams and repositories (``github_graphql.py``: GitHub's cost formula, ``first``
of at most 100, cursors, the 500,000-node limit). Each query is charged its cost against a points quota of its
own (``graphql_limit``, 5,000 an hour by default; ``--graphql-limit``), reported in ``x-ratelimit-*`` with
``x-ratelimit-resource: graphql``; once spent, queries are answered HTTP 200 with a ``RATE_LIMITED`` error. Points
charged show in ``/_simulator/stats`` under ``graphql``. ``fail_graphql()`` queues an error answer (HTTP 200 with
``errors``); timeouts are injected as faults on ``/graphql`` (status 502 or 504).
"""

from __future__ import annotations

import argparse
import math
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from . import github_graphql
from .github_org import (
    Change,
    DeployKey,
    GitHubOrg,
    Installation,
    OrgFacts,
    OrgInvitation,
    Repo,
    RepoInvitation,
    Team,
    User,
    legacy_name,
    node_id,
    permission_flags,
)
from .server import (
    FixedWindowQuota,
    HTTPError,
    LoggedRequest,
    QuotaState,
    Request,
    Response,
    Simulator,
    SlidingWindow,
    etag_matches,
    make_etag,
    paginate,
    write_secret_file,
)

__all__ = ["Change", "GitHubOrg", "GitHubSimulator", "OrgFacts", "Token", "add_arguments", "build", "generate_token"]

DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"

# ---------------------------------------------------------------------------
# Tokens

READ_ORG = frozenset({"read:org", "write:org", "admin:org"})
WRITE_ORG = frozenset({"write:org", "admin:org"})
REPO = frozenset({"repo"})
FULL_SCOPES = ("admin:org", "read:org", "repo")


@dataclass(frozen=True)
class Token:
    """A classic personal access token: whose it is, its scopes, its own hourly limit if not the default."""

    login: str
    scopes: tuple[str, ...] = FULL_SCOPES
    rate_limit: int | None = None


def generate_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "ghp_" + "".join(secrets.choice(alphabet) for _ in range(36))


# ---------------------------------------------------------------------------
# JSON shapes


class _Render:
    """Builds GitHub-shaped bodies with URLs on the simulator's own host (and API prefix)."""

    def __init__(self, org: GitHubOrg, request: Request):
        self.org = org
        self.api = request.base_url
        self.web = request.root_url

    def account(self, login: str, number: int, kind: str = "User", site_admin: bool = False) -> dict[str, Any]:
        api = f"{self.api}/users/{login}"
        node_kind = {"User": "04:User", "Bot": "03:Bot", "Organization": "012:Organization"}[kind]
        return {
            "login": login,
            "id": number,
            "node_id": node_id(node_kind, number),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{number}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.web}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": site_admin,
        }

    def user(self, user: User) -> dict[str, Any]:
        return self.account(user.login, user.id, user.type, user.site_admin)

    def login(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        user = self.org.users.get(login)
        return self.user(user) if user else None

    def org_simple(self) -> dict[str, Any]:
        org, api = self.org, f"{self.api}/orgs/{self.org.name}"
        return {
            "login": org.name,
            "id": org.id,
            "node_id": node_id("012:Organization", org.id),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{org.id}?v=4",
            "description": f"The {org.name} organization (simulated)",
        }

    def org_full(self, *, owner: bool) -> dict[str, Any]:
        org = self.org
        body = self.org_simple() | {
            "name": org.name.title(),
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "twitter_username": None,
            "is_verified": False,
            "has_organization_projects": True,
            "has_repository_projects": True,
            "public_repos": sum(1 for repo in org.repos.values() if repo.visibility == "public"),
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "html_url": f"{self.web}/{org.name}",
            "created_at": org.created_at,
            "updated_at": org.created_at,
            "archived_at": None,
            "type": "Organization",
        }
        if owner:  # GitHub shows these to organization owners only
            private = sum(1 for repo in org.repos.values() if repo.visibility != "public")
            body |= {
                "total_private_repos": private,
                "owned_private_repos": private,
                "private_gists": 0,
                "disk_usage": 1000 * len(org.repos),
                "collaborators": len(org.outside_collaborators()),
                "billing_email": f"billing@{org.name}.example",
                "plan": {"name": "enterprise", "space": 976562499, "private_repos": 999999, "seats": len(org.members)},
                "default_repository_permission": org.default_repository_permission,
                "members_can_create_repositories": True,
                "two_factor_requirement_enabled": org.two_factor_requirement_enabled,
                "members_allowed_repository_creation_type": "all",
                "members_can_create_public_repositories": False,
                "members_can_create_private_repositories": True,
                "members_can_create_internal_repositories": True,
            }
        return body

    def team(self, team: Team, *, with_parent: bool = True) -> dict[str, Any]:
        api = f"{self.api}/organizations/{self.org.id}/team/{team.id}"
        body = {
            "id": team.id,
            "node_id": node_id("04:Team", team.id),
            "url": api,
            "html_url": f"{self.web}/orgs/{self.org.name}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description or None,
            "privacy": team.privacy,
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
        }
        if with_parent:
            parent = self.org.teams.get(team.parent) if team.parent else None
            body["parent"] = self.team(parent, with_parent=False) if parent else None
        return body

    def team_full(self, team: Team) -> dict[str, Any]:
        return self.team(team) | {
            "members_count": len(team.members),
            "repos_count": len(team.repos),
            "created_at": team.created_at,
            "updated_at": team.created_at,
            "organization": self.org_full(owner=False),
        }

    def repo(self, repo: Repo, role: str | None) -> dict[str, Any]:
        org = self.org
        full_name = f"{org.name}/{repo.name}"
        api = f"{self.api}/repos/{full_name}"
        body = {
            "id": repo.id,
            "node_id": node_id("010:Repository", repo.id),
            "name": repo.name,
            "full_name": full_name,
            "private": repo.visibility != "public",
            "owner": self.account(org.name, org.id, "Organization"),
            "html_url": f"{self.web}/{full_name}",
            "description": repo.description or None,
            "fork": False,
            "url": api,
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "teams_url": f"{api}/teams",
            "hooks_url": f"{api}/hooks",
            "keys_url": f"{api}/keys{{/key_id}}",
            "created_at": repo.created_at,
            "updated_at": repo.created_at,
            "pushed_at": repo.created_at,
            "homepage": None,
            "size": 0,
            "default_branch": "main",
            "archived": repo.archived,
            "disabled": False,
            "visibility": repo.visibility,
        }
        if role is not None:
            body["permissions"] = permission_flags(org.base_role(role))
        return body

    def invitation(self, invitation: OrgInvitation) -> dict[str, Any]:
        return {
            "id": invitation.id,
            "node_id": node_id("020:OrganizationInvitation", invitation.id),
            "login": invitation.login,
            "email": invitation.email,
            "role": invitation.role,
            "created_at": invitation.created_at,
            "failed_at": None,
            "failed_reason": None,
            "inviter": self.login(invitation.inviter),
            "team_count": len(invitation.teams),
            "invitation_teams_url": f"{self.api}/organizations/{self.org.id}/invitations/{invitation.id}/teams",
            "invitation_source": "member",
        }

    def installation(self, inst: Installation) -> dict[str, Any]:
        return {
            "id": inst.id,
            "account": self.account(self.org.name, self.org.id, "Organization"),
            "repository_selection": inst.repository_selection,
            "access_tokens_url": f"{self.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{self.web}/organizations/{self.org.name}/settings/installations/{inst.id}",
            "app_id": inst.app_id,
            "app_slug": inst.app_slug,
            "target_id": self.org.id,
            "target_type": "Organization",
            "permissions": dict(inst.permissions),
            "events": list(inst.events),
            "created_at": inst.created_at,
            "updated_at": inst.created_at,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": self.login(inst.suspended_by),
            "suspended_at": inst.suspended_at,
        }

    def deploy_key(self, repo: Repo, key: DeployKey) -> dict[str, Any]:
        return {
            "id": key.id,
            "key": key.key,
            "url": f"{self.api}/repos/{self.org.name}/{repo.name}/keys/{key.id}",
            "title": key.title,
            "verified": True,
            "created_at": key.created_at,
            "read_only": key.read_only,
            "added_by": key.added_by,
            "last_used": key.last_used,
            "enabled": True,
        }

    def repo_invitation(self, repo: Repo, invitation: RepoInvitation) -> dict[str, Any]:
        return {
            "id": invitation.id,
            "node_id": node_id("020:RepositoryInvitation", invitation.id),
            "repository": self.repo(repo, None),
            "invitee": self.login(invitation.login),
            "inviter": self.login(invitation.inviter),
            "permissions": invitation.permission,
            "created_at": invitation.created_at,
            "expired": False,
            "url": f"{self.api}/user/repository_invitations/{invitation.id}",
            "html_url": f"{self.web}/{self.org.name}/{repo.name}/invitations",
        }

    def collaborator(self, user: User, role: str) -> dict[str, Any]:
        return self.user(user) | {"permissions": permission_flags(self.org.base_role(role)), "role_name": role}


# ---------------------------------------------------------------------------
# The simulator


def _error(status: int, message: str, docs: str = DOCS, **extra: Any) -> Response:
    return Response(status, {"message": message, "documentation_url": docs, "status": str(status)} | extra)


def _fail(status: int, message: str, docs: str = DOCS, **extra: Any) -> HTTPError:
    return HTTPError(_error(status, message, docs, **extra))


_ALTERNATIVES = (
    ("/orgs/{org}/teams/{team_slug}/", "/organizations/{org_id}/team/{team_id}/"),
    ("/repos/{owner}/{repo}/", "/repositories/{repo_id}/"),
    ("/orgs/{org}/", "/organizations/{org_id}/"),
)


class GitHubSimulator(Simulator):
    """Serves ``org`` like api.github.com (and like GHES under ``/api/v3``).

    ``tokens`` maps token strings to :class:`Token`; by default one owner token with full scopes is
    generated (``.token``). Limits: ``primary_limit`` requests per token per hour, ``secondary_limit``
    points per minute per token and endpoint (GET 1, writes 5; None disables), ``max_concurrent``
    requests in flight per token; exceeded limits answer ``rate_limit_status`` (403 or 429).
    ``link_style="ids"`` points pagination links at ``/repositories/{id}``/``/organizations/{id}`` forms,
    ``"paths"`` repeats the request path.
    """

    prefixes = ("/api/v3",)
    server_header = "GitHub.com"

    def __init__(
        self,
        org: GitHubOrg,
        *,
        tokens: Mapping[str, Token] | None = None,
        clock=time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        primary_limit: int = 5000,
        secondary_limit: int | None = 900,
        max_concurrent: int = 100,
        rate_limit_status: int = 403,
        link_style: str = "ids",
        weak_etags: bool = True,
        write_delay: float = 0.0,
        window_scale: float = 1.0,
    ):
        super().__init__(
            host=host, port=port, clock=clock, latency=latency, max_concurrent=max_concurrent, window_scale=window_scale
        )
        if link_style not in ("ids", "paths"):
            raise ValueError("link_style is 'ids' or 'paths'")
        self.org = org
        self.tokens: dict[str, Token] = dict(tokens) if tokens else {generate_token(): Token(org.owner_login)}
        self.primary_limit = primary_limit
        self.secondary_limit = secondary_limit
        self.rate_limit_status = rate_limit_status
        self.link_style = link_style
        self.weak_etags = weak_etags
        self.lock = threading.RLock()  # guards ``org`` against concurrent requests and HTTP mutations
        self.quota = FixedWindowQuota(clock, self.scaled(3600))
        self.window = SlidingWindow(clock, self.scaled(60))
        self._id_lock = threading.Lock()
        self._request_ids = 0
        self.write_delay = write_delay  # real seconds between applying a write and answering it
        self.writes: list[LoggedRequest] = []  # applied writes, in order, logged when they take effect
        self.graphql_errors: list[dict[str, Any]] = []  # queued GraphQL error answers (fail_graphql)
        # GraphQL points per token and hour, apart from REST's requests (x-ratelimit-resource: graphql); tests
        # may shorten graphql_quota.window to see a reset.
        self.graphql_limit = 5000
        self.graphql_quota = FixedWindowQuota(clock, self.quota.window)  # the same hour as REST's
        self.graphql_stats: Counter[str] = Counter()  # points charged, queries answered, RATE_LIMITED answers
        self._add_routes()
        self.control.add("POST", "/_simulator/mutate", self._control_mutate)
        self.control.add("GET", "/_simulator/info", self._control_info)
        self.control.add("GET", "/_simulator/writes", self._control_writes)
        self.control.add("POST", "/_simulator/write_delay", self._control_write_delay)

    @property
    def token(self) -> str:
        """The first configured token (the generated owner token by default)."""
        return next(iter(self.tokens))

    @property
    def ghes_url(self) -> str:
        return f"{self.url}/api/v3"

    def add_token(self, value: str, token: Token) -> str:
        self.tokens[value] = token
        return value

    def reset_counters(self) -> None:
        super().reset_counters()
        self.quota.clear()
        self.window.clear()
        self.graphql_quota.clear()
        self.graphql_stats.clear()
        with self.lock:
            self.writes.clear()

    def fail_graphql(self, type: str = "INTERNAL", message: str = "Something went wrong", times: int = 1) -> None:
        """Answer the next ``times`` GraphQL requests with HTTP 200 and this error, as GitHub reports them."""
        with self.lock:
            self.graphql_errors.extend({"type": type, "message": message} for _ in range(times))

    def stats(self) -> dict[str, Any]:
        """The base counters plus ``graphql``: points charged, queries answered and RATE_LIMITED answers."""
        graphql = {name: self.graphql_stats[name] for name in ("points", "queries", "rate_limited")}
        return super().stats() | {"graphql": graphql}

    def describe(self) -> list[str]:
        org = self.org
        summary = f"GitHub org {org.name!r}: {len(org.members)} members, {len(org.teams)} teams, {len(org.repos)} repos"
        return [summary, *self.notes]

    # -- request pipeline

    def _authenticate(self, request: Request) -> tuple[str | None, Token | None]:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not value.strip():
            return None, None
        value = value.strip()
        return value, self.tokens.get(value)

    def _next_request_id(self) -> str:
        with self._id_lock:
            self._request_ids += 1
            number = self._request_ids
        return f"{number:04X}:{number * 7 % 65536:04X}:{number * 31:06X}:{number * 131:07X}:{int(self.clock()):08X}"

    def _rate_headers(self, state: QuotaState) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(state.limit),
            "x-ratelimit-remaining": str(state.remaining),
            "x-ratelimit-used": str(state.used),
            "x-ratelimit-reset": str(state.reset),
            "x-ratelimit-resource": "core",
        }

    def _limit_for(self, token: Token) -> int:
        return token.rate_limit or self.primary_limit

    def handle(self, request: Request) -> Response:
        response = self._answer(request)
        matched = self.router.match(request.method, request.path)
        if matched is not None and matched[0].meta.get("write") and response.status < 400:
            entry = LoggedRequest(request.method, request.path, request.query, response.status, matched[0].name)
            with self.lock:
                self.writes.append(entry)
            self.sleep(self.write_delay)  # the change is applied; only the answer waits (outside the lock)
        return response

    def _answer(self, request: Request) -> Response:
        request_id = self._next_request_id()
        common = {"x-github-media-type": "github.v3; format=json", "x-github-request-id": request_id}
        if request.headers.get("x-github-api-version"):
            common["x-github-api-version-selected"] = request.headers["x-github-api-version"]
        matched = self.router.match(request.method, request.path)
        if matched is not None:
            request.endpoint = matched[0].name
        key, token = self._authenticate(request)
        if key is None or token is None:
            message = "Bad credentials" if key else "Requires authentication"
            response = _error(401, message)
            anonymous = QuotaState(60, 0, math.ceil(self.clock() + 3600))
            response.headers |= common | self._rate_headers(anonymous)
            return response
        limit = self._limit_for(token)

        if matched is not None and matched[0].meta.get("graphql"):  # its own points quota, not the REST one
            response = self._dispatch(request, token, matched)
            response.headers = common | response.headers
            return response

        if matched is not None and matched[0].meta.get("free"):
            response = self._dispatch(request, token, matched)
            response.headers |= common | self._rate_headers(self.quota.peek(key, limit))
            return response

        state = self.quota.peek(key, limit)
        if state.remaining <= 0:
            response = _error(
                self.rate_limit_status,
                f"API rate limit exceeded for user ID {self._user_id(token)}.",
                f"{RATE_DOCS}#about-primary-rate-limits",
            )
            response.headers |= common | self._rate_headers(state)
            return response

        return self._counted(request, key, token, matched, common)

    def client_key(self, request: Request) -> str | None:
        """Concurrency is limited per token (GitHub: per user, REST and GraphQL together)."""
        key, token = self._authenticate(request)
        return key if token is not None else None

    def busy_response(self, request: Request) -> Response:
        return self.secondary_limit_response(request, 1)

    def _counted(self, request: Request, key: str, token: Token, matched, common: dict[str, str]) -> Response:
        points = 1 if request.method in ("GET", "HEAD") else 5
        window_key = (key, self.endpoint_name(request))
        if self.secondary_limit is not None:
            wait = self.window.retry_after(window_key, self.secondary_limit, points)
            if wait:
                return self._secondary(request, key, token, wait, common)
        response = self._dispatch(request, token, matched)
        limit = self._limit_for(token)
        if request.method in ("GET", "HEAD") and response.status == 200:
            response.raw = response.encoded()
            etag = make_etag(response.raw, weak=self.weak_etags)
            response.headers |= {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
            response.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
            if etag_matches(request.headers.get("if-none-match"), etag):
                # Conditional requests answered 304 do not count against the primary limit.
                kept = {name: value for name, value in response.headers.items() if name.lower() != "link"}
                return Response(304, None, kept | common | self._rate_headers(self.quota.peek(key, limit)))
        self.window.add(window_key, points)
        response.headers |= common | self._rate_headers(self.quota.consume(key, limit))
        return response

    def _secondary(self, request: Request, key: str | None, token: Token | None, wait: int, common) -> Response:
        response = _error(
            self.rate_limit_status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
            f"out to GitHub Support for help, please include the request ID {common['x-github-request-id']}.",
            f"{RATE_DOCS}#about-secondary-rate-limits",
        )
        if key is not None and token is not None:
            response.headers |= self._rate_headers(self.quota.peek(key, self._limit_for(token)))
        response.headers |= common | {"retry-after": str(wait)}
        return response

    def secondary_limit_response(self, request: Request, retry_after: int) -> Response:
        """An injected secondary limit looks exactly like a real one."""
        key, token = self._authenticate(request)
        common = {"x-github-media-type": "github.v3; format=json", "x-github-request-id": self._next_request_id()}
        return self._secondary(request, key, token, retry_after, common)

    def error_response(self, request: Request, status: int) -> Response:
        """Injected errors carry GitHub's bodies: JSON with a message (and documentation_url for 4xx)."""
        messages = {401: "Bad credentials", 422: "Validation Failed", 503: "Service Unavailable"}
        messages[504] = "We couldn't respond to your request in time. Sorry about that."
        message = messages.get(status, HTTPStatus(status).phrase if status < 500 else "Server Error")
        response = _error(status, message) if status < 500 else Response(status, {"message": message})
        response.headers["x-github-request-id"] = self._next_request_id()
        key, token = self._authenticate(request)
        if key is not None and token is not None:
            response.headers |= self._rate_headers(self.quota.peek(key, self._limit_for(token)))
        return response

    def _user_id(self, token: Token) -> int:
        user = self.org.users.get(token.login)
        return user.id if user else 0

    def _dispatch(self, request: Request, token: Token, matched) -> Response:
        scope_headers = {"x-oauth-scopes": ", ".join(sorted(token.scopes)), "x-accepted-oauth-scopes": ""}
        if matched is None:
            response = _error(404, "Not Found")
            response.headers |= scope_headers
            return response
        route, params = matched
        required: tuple[frozenset[str], ...] = route.meta.get("scopes", ())
        scope_headers["x-accepted-oauth-scopes"] = ", ".join(sorted(route.meta["accepted"]))
        if any(not (group & set(token.scopes)) for group in required):
            response = _error(404, "Not Found", route.meta.get("docs", DOCS))
        else:
            with self.lock:
                try:
                    response = route.handler(request, token, **params)
                except HTTPError as error:
                    response = error.response
        response.headers |= scope_headers
        return response

    # -- helpers for handlers

    def _org(self, params: Mapping[str, str]) -> GitHubOrg:
        if params.get("org", "").lower() == self.org.name.lower() or params.get("org_id") == str(self.org.id):
            return self.org
        raise _fail(404, "Not Found")

    def _repo(self, params: Mapping[str, str]) -> Repo:
        if "repo_id" in params:
            repo = next((r for r in self.org.repos.values() if str(r.id) == params["repo_id"]), None)
        elif params.get("owner", "").lower() == self.org.name.lower():
            repo = self.org.repos.get(params["repo"])
        else:
            repo = None
        if repo is None:
            raise _fail(404, "Not Found")
        return repo

    def _team(self, params: Mapping[str, str]) -> Team:
        self._org(params)
        if "team_id" in params:
            team = next((t for t in self.org.teams.values() if str(t.id) == params["team_id"]), None)
        else:
            team = self.org.teams.get(params["team_slug"])
        if team is None:
            raise _fail(404, "Not Found")
        return team

    def _is_owner(self, token: Token) -> bool:
        return self.org.members.get(token.login) == "admin"

    def _require_owner(self, token: Token, message: str = "You must be an organization owner.") -> None:
        if not self._is_owner(token):
            raise _fail(403, message)

    def _list(self, request: Request, items: list[Any], render, **params: str) -> Response:
        page = paginate(request, items, link_path=self._link_path(request, params))
        response = Response(200, [render(item) for item in page.items])
        link = page.link_header()
        if link:
            response.headers["Link"] = link
        return response

    def _link_path(self, request: Request, params: Mapping[str, str]) -> str | None:
        """GitHub's links name the organization, team and repository by id."""
        if self.link_style != "ids":
            return None
        path = request.path
        if "team_slug" in params:
            team = self.org.teams[params["team_slug"]]
            head = f"/orgs/{params['org']}/teams/{params['team_slug']}"
            return path.replace(head, f"/organizations/{self.org.id}/team/{team.id}", 1)
        if "repo" in params and "owner" in params:
            repo = self.org.repos[params["repo"]]
            return path.replace(f"/repos/{params['owner']}/{params['repo']}", f"/repositories/{repo.id}", 1)
        if "org" in params:
            return path.replace(f"/orgs/{params['org']}", f"/organizations/{self.org.id}", 1)
        return None

    def _choice(self, request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = request.query.get(name, default)
        if value not in allowed:
            raise _fail(422, "Validation Failed", errors=[{"resource": "Search", "field": name, "code": "invalid"}])
        return value

    # -- routes

    def _add_routes(self) -> None:
        """Route table: method, path, handler name, required scope groups (each needs one of its scopes), docs page."""
        any_token, org_read, org_write, repo = (), (READ_ORG,), (WRITE_ORG,), (REPO,)
        members, teams, team_members = "orgs/members", "teams/teams", "teams/members"
        collaborators, outside, keys = (
            "collaborators/collaborators",
            "orgs/outside-collaborators",
            "deploy-keys/deploy-keys",
        )
        table = [
            ("GET", "/user", "get_user", any_token, "users/users#get-the-authenticated-user"),
            ("GET", "/rate_limit", "get_rate_limit", any_token, "rate-limit/rate-limit"),
            ("GET", "/orgs/{org}", "get_org", any_token, "orgs/orgs#get-an-organization"),
            ("GET", "/orgs/{org}/members", "list_members", any_token, f"{members}#list-organization-members"),
            ("GET", "/orgs/{org}/members/{username}", "check_member", org_read, members),
            ("GET", "/orgs/{org}/memberships/{username}", "get_membership", org_read, members),
            ("GET", "/orgs/{org}/outside_collaborators", "list_outside", org_read, outside),
            ("GET", "/orgs/{org}/invitations", "list_invitations", org_read, members),
            ("GET", "/orgs/{org}/installations", "list_installations", org_read, "orgs/orgs"),
            ("GET", "/orgs/{org}/teams", "list_teams", org_read, f"{teams}#list-teams"),
            (
                "GET",
                "/orgs/{org}/custom-repository-roles",
                "list_custom_roles",
                org_read,
                "orgs/custom-roles#list-custom-repository-roles-in-an-organization",
            ),
            ("GET", "/orgs/{org}/teams/{team_slug}", "get_team", org_read, teams),
            ("GET", "/orgs/{org}/teams/{team_slug}/teams", "list_child_teams", org_read, teams),
            ("GET", "/orgs/{org}/teams/{team_slug}/members", "list_team_members", org_read, team_members),
            (
                "GET",
                "/orgs/{org}/teams/{team_slug}/memberships/{username}",
                "get_team_membership",
                org_read,
                team_members,
            ),
            ("GET", "/orgs/{org}/teams/{team_slug}/repos", "list_team_repos", org_read, teams),
            ("GET", "/orgs/{org}/repos", "list_org_repos", any_token, "repos/repos#list-organization-repositories"),
            ("GET", "/repos/{owner}/{repo}", "get_repo", any_token, "repos/repos#get-a-repository"),
            ("GET", "/repos/{owner}/{repo}/collaborators", "list_collaborators", (REPO, READ_ORG), collaborators),
            ("GET", "/repos/{owner}/{repo}/collaborators/{username}", "check_collaborator", repo, collaborators),
            ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", "get_permission", repo, collaborators),
            ("GET", "/repos/{owner}/{repo}/teams", "list_repo_teams", repo, "repos/repos#list-repository-teams"),
            ("GET", "/repos/{owner}/{repo}/invitations", "list_repo_invitations", repo, "collaborators/invitations"),
            ("GET", "/repos/{owner}/{repo}/keys", "list_keys", repo, keys),
            ("GET", "/repos/{owner}/{repo}/keys/{key_id}", "get_key", repo, keys),
            (
                "GET",
                "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}",
                "check_team_repo",
                org_read,
                f"{teams}#check-team-permissions-for-a-repository",
            ),
            ("POST", "/graphql", "graphql", any_token, "graphql"),
            ("POST", "/api/graphql", "graphql", any_token, "graphql"),
            (
                "GET",
                "/user/installations/{installation_id}/repositories",
                "list_installation_repos",
                repo,
                "apps/installations",
            ),
            ("DELETE", "/orgs/{org}/members/{username}", "remove_member", org_write, members),
            ("DELETE", "/orgs/{org}/memberships/{username}", "remove_membership", org_write, members),
            ("PUT", "/orgs/{org}/memberships/{username}", "set_membership", org_write, members),
            ("DELETE", "/orgs/{org}/outside_collaborators/{username}", "remove_outside", org_write, outside),
            ("DELETE", "/orgs/{org}/invitations/{invitation_id}", "cancel_invitation", org_write, members),
            (
                "PUT",
                "/orgs/{org}/teams/{team_slug}/memberships/{username}",
                "set_team_membership",
                org_write,
                team_members,
            ),
            (
                "DELETE",
                "/orgs/{org}/teams/{team_slug}/memberships/{username}",
                "remove_team_membership",
                org_write,
                team_members,
            ),
            ("PUT", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}", "set_team_repo", org_write, teams),
            ("DELETE", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}", "remove_team_repo", org_write, teams),
            ("PUT", "/repos/{owner}/{repo}/collaborators/{username}", "set_collaborator", repo, collaborators),
            ("DELETE", "/repos/{owner}/{repo}/collaborators/{username}", "remove_collaborator", repo, collaborators),
            (
                "DELETE",
                "/repos/{owner}/{repo}/invitations/{invitation_id}",
                "cancel_repo_invitation",
                repo,
                "collaborators/invitations",
            ),
            ("DELETE", "/repos/{owner}/{repo}/keys/{key_id}", "remove_key", repo, keys),
            (
                "DELETE",
                "/user/installations/{installation_id}/repositories/{repository_id}",
                "remove_installation_repo",
                repo,
                "apps/installations",
            ),
        ]
        # x-accepted-oauth-scopes where GitHub lists more than it strictly requires (fixture get-organization).
        accepted = {"/orgs/{org}": READ_ORG | REPO | {"user"}, "/orgs/{org}/members": READ_ORG}
        for method, pattern, handler_name, scopes, docs in table:
            handler = getattr(self, f"_{handler_name}")
            meta = {"scopes": scopes, "docs": f"{DOCS}/{docs}", "free": pattern == "/rate_limit"}
            meta["write"] = method != "GET" and handler_name != "graphql"
            meta["graphql"] = handler_name == "graphql"
            meta["accepted"] = accepted.get(pattern, frozenset().union(*scopes))
            route = self.router.add(method, pattern, handler, **meta)
            if method != "GET":
                continue
            for canonical, alternative in _ALTERNATIVES:  # the id forms GitHub's Link headers use
                if pattern.startswith(canonical):
                    self.router.add(method, alternative + pattern[len(canonical) :], handler, name=route.name, **meta)
                    break

    # -- read handlers

    def _get_user(self, request: Request, token: Token) -> Response:
        render = _Render(self.org, request)
        user = self.org.users.get(token.login) or User(token.login, 0)
        return Response(
            200,
            render.user(user)
            | {
                "name": user.name or None,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": user.created_at or self.org.created_at,
                "updated_at": user.created_at or self.org.created_at,
                "two_factor_authentication": user.two_factor,
            },
        )

    def _get_rate_limit(self, request: Request, token: Token) -> Response:
        key, _ = self._authenticate(request)
        state = self.quota.peek(key, self._limit_for(token))
        core = {"limit": state.limit, "used": state.used, "remaining": state.remaining, "reset": state.reset}
        graphql = self.graphql_quota.peek(key, self.graphql_limit)
        reset = math.ceil(self.clock() + 60)
        return Response(
            200,
            {
                "resources": {
                    "core": core,
                    "search": {"limit": 30, "used": 0, "remaining": 30, "reset": reset},
                    "graphql": {"limit": graphql.limit, "used": graphql.used, "remaining": graphql.remaining}
                    | {"reset": graphql.reset},
                    "integration_manifest": {"limit": 5000, "used": 0, "remaining": 5000, "reset": state.reset},
                },
                "rate": core,
            },
        )

    def _get_org(self, request: Request, token: Token, **params: str) -> Response:
        self._org(params)
        return Response(200, _Render(self.org, request).org_full(owner=self._is_owner(token)))

    def _list_members(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        role = self._choice(request, "role", ("all", "admin", "member"), "all")
        two_fa = self._choice(request, "filter", ("all", "2fa_disabled", "2fa_insecure"), "all")
        if two_fa != "all" and not self._is_owner(token):
            raise _fail(422, "Only owners can use this filter.", f"{DOCS}/orgs/members#list-organization-members")
        users = [org.users[login] for login, org_role in org.members.items() if role in ("all", org_role)]
        if not READ_ORG & set(token.scopes):  # without read:org GitHub shows public memberships only
            users = [user for user in users if user.login in org.public_members]
        if two_fa != "all":
            users = [user for user in users if not user.two_factor]
        users.sort(key=lambda user: user.id)
        return self._list(request, users, _Render(org, request).user, **params)

    def _check_member(self, request: Request, token: Token, **params: str) -> Response:
        if params["username"] in self._org(params).members:
            return Response(204)
        raise _fail(404, "Not Found")

    def _get_membership(self, request: Request, token: Token, **params: str) -> Response:
        org, login = self._org(params), params["username"]
        render = _Render(org, request)
        if login in org.members:
            state, role = "active", org.members[login]
        else:
            invitation = next((inv for inv in org.invitations if inv.login == login), None)
            if invitation is None:
                raise _fail(404, "Not Found")
            state, role = "pending", "admin" if invitation.role == "admin" else "member"
        return Response(
            200,
            {
                "url": f"{request.base_url}/orgs/{org.name}/memberships/{login}",
                "state": state,
                "role": role,
                "organization_url": f"{request.base_url}/orgs/{org.name}",
                "organization": render.org_simple(),
                "user": render.login(login),
            },
        )

    def _list_outside(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        two_fa = self._choice(request, "filter", ("all", "2fa_disabled", "2fa_insecure"), "all")
        if two_fa != "all" and not self._is_owner(token):
            raise _fail(422, "Only owners can use this filter.", f"{DOCS}/orgs/outside-collaborators")
        users = [org.users[login] for login in org.outside_collaborators()]
        if two_fa != "all":
            users = [user for user in users if not user.two_factor]
        return self._list(request, users, _Render(org, request).user, **params)

    def _list_invitations(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        self._require_owner(token, "You must be an admin to view pending invitations.")
        return self._list(request, list(org.invitations), _Render(org, request).invitation, **params)

    def _list_installations(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        self._require_owner(token, "You must be an organization owner to list app installations.")
        render = _Render(org, request)
        response = self._list(request, list(org.installations), render.installation, **params)
        response.body = {"total_count": len(org.installations), "installations": response.body}
        return response

    def _list_installation_repos(self, request: Request, token: Token, **params: str) -> Response:
        installation = next((i for i in self.org.installations if str(i.id) == params["installation_id"]), None)
        if installation is None or not self._is_owner(token):
            raise _fail(404, "Not Found")
        repos = self.org.installation_repos(installation)
        render = _Render(self.org, request)
        response = self._list(request, repos, lambda repo: render.repo(repo, "admin"))
        response.body = {
            "total_count": len(repos),
            "repository_selection": installation.repository_selection,
            "repositories": response.body,
        }
        return response

    def _list_custom_roles(self, request: Request, token: Token, **params: str) -> Response:
        """Not paginated: ``{"total_count", "custom_roles"}`` (Enterprise Cloud; owners only)."""
        org = self._org(params)
        self._require_owner(token)
        roles = [
            {
                "id": role.id,
                "name": role.name,
                "description": role.description,
                "base_role": role.base_role,
                "permissions": [],
                "organization": _Render(org, request).account(org.name, org.id, "Organization"),
                "created_at": org.created_at,
                "updated_at": org.created_at,
            }
            for role in org.custom_roles.values()
        ]
        return Response(200, {"total_count": len(roles), "custom_roles": roles})

    def _list_teams(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        teams = sorted(org.teams.values(), key=lambda team: team.id)
        return self._list(request, teams, _Render(org, request).team, **params)

    def _get_team(self, request: Request, token: Token, **params: str) -> Response:
        return Response(200, _Render(self.org, request).team_full(self._team(params)))

    def _list_child_teams(self, request: Request, token: Token, **params: str) -> Response:
        team = self._team(params)
        children = sorted((t for t in self.org.teams.values() if t.parent == team.slug), key=lambda t: t.id)
        return self._list(request, children, _Render(self.org, request).team, **self._canonical_team(params, team))

    def _canonical_team(self, params: Mapping[str, str], team: Team) -> dict[str, str]:
        """Handlers reached through the id form still need the slug form for link rewriting."""
        return {"org": self.org.name, "team_slug": team.slug} if "team_slug" in params else {}

    def _list_team_members(self, request: Request, token: Token, **params: str) -> Response:
        team = self._team(params)
        role = self._choice(request, "role", ("all", "member", "maintainer"), "all")
        listed = self.org.team_members(team.slug)  # includes child-team members, like GitHub
        logins = [login for login, r in listed.items() if role in ("all", self.org.reported_team_role(login, r))]
        users = sorted((self.org.users[login] for login in logins), key=lambda user: user.id)
        return self._list(request, users, _Render(self.org, request).user, **self._canonical_team(params, team))

    def _get_team_membership(self, request: Request, token: Token, **params: str) -> Response:
        team, login = self._team(params), params["username"]
        listed = self.org.team_members(team.slug)  # documented to include child-team members, like the list
        if login not in listed:
            raise _fail(404, "Not Found", f"{DOCS}/teams/members#get-team-membership-for-a-user")
        return Response(
            200,
            {
                "url": f"{request.base_url}/organizations/{self.org.id}/team/{team.id}/memberships/{login}",
                "role": self.org.reported_team_role(login, listed[login]),
                "state": "active",
            },
        )

    def _list_team_repos(self, request: Request, token: Token, **params: str) -> Response:
        team = self._team(params)
        render = _Render(self.org, request)
        grants = sorted(((self.org.repos[name], role) for name, role in team.repos.items()), key=lambda g: g[0].id)
        return self._list(
            request,
            grants,
            lambda grant: render.repo(*grant) | {"role_name": grant[1]},
            **self._canonical_team(params, team),
        )

    def _list_org_repos(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        kind = self._choice(
            request, "type", ("all", "public", "private", "forks", "sources", "member", "internal"), "all"
        )
        repos = sorted(org.repos.values(), key=lambda repo: repo.id)
        if "repo" not in token.scopes:  # classic tokens need ``repo`` to see private and internal repositories
            repos = [repo for repo in repos if repo.visibility == "public"]
        if kind in ("public", "private", "internal"):
            repos = [
                repo
                for repo in repos
                if repo.visibility == kind or (kind == "private" and repo.visibility == "internal")
            ]
        elif kind == "forks":
            repos = []
        render = _Render(org, request)
        return self._list(
            request, repos, lambda repo: render.repo(repo, org.effective_role(token.login, repo.name)), **params
        )

    def _visible_repo(self, params: Mapping[str, str], token: Token) -> Repo:
        repo = self._repo(params)
        if repo.visibility != "public" and (
            "repo" not in token.scopes or self.org.effective_role(token.login, repo.name) is None
        ):
            raise _fail(404, "Not Found")
        return repo

    def _get_repo(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        render = _Render(self.org, request)
        body = render.repo(repo, self.org.effective_role(token.login, repo.name))
        body["organization"] = render.account(self.org.name, self.org.id, "Organization")
        return Response(200, body)

    def _list_collaborators(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        affiliation = self._choice(request, "affiliation", ("outside", "direct", "all"), "all")
        role = self.org.effective_role(token.login, repo.name)
        if role is None or self.org.role_rank(role) < self.org.role_rank("write"):
            raise _fail(403, "Must have push access to view repository collaborators.")
        pairs = self.org.collaborators(repo.name, affiliation)
        wanted = request.query.get("permission")
        if wanted:
            wanted = self._choice(request, "permission", ("pull", "triage", "push", "maintain", "admin"), "pull")
            pairs = [(user, r) for user, r in pairs if permission_flags(self.org.base_role(r))[wanted]]
        render = _Render(self.org, request)
        return self._list(request, pairs, lambda pair: render.collaborator(*pair), **self._canonical_repo(params, repo))

    def _canonical_repo(self, params: Mapping[str, str], repo: Repo) -> dict[str, str]:
        return {"owner": self.org.name, "repo": repo.name} if "repo" in params else {}

    def _check_collaborator(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        if self.org.effective_role(params["username"], repo.name) is None:
            raise _fail(404, "Not Found")
        return Response(204)

    def _get_permission(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        login = params["username"]
        if login not in self.org.users:
            raise _fail(404, "Not Found")
        role = self.org.effective_role(login, repo.name)
        base = self.org.base_role(role) if role else None
        legacy = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
        user = _Render(self.org, request).user(self.org.users[login])
        if role:
            user |= {"permissions": permission_flags(base), "role_name": role}
        return Response(
            200, {"permission": legacy[base] if base else "none", "role_name": role or "none", "user": user}
        )

    def _list_repo_teams(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        render = _Render(self.org, request)
        grants = sorted(
            ((t, t.repos[repo.name]) for t in self.org.teams.values() if repo.name in t.repos), key=lambda g: g[0].id
        )

        def team_with_permission(grant: tuple[Team, str]) -> dict[str, Any]:
            base = self.org.base_role(grant[1])
            return render.team(grant[0]) | {
                "permission": legacy_name(base),
                "permissions": permission_flags(base),
            }

        return self._list(request, grants, team_with_permission, **self._canonical_repo(params, repo))

    def _list_repo_invitations(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        render = _Render(self.org, request)
        return self._list(
            request,
            list(repo.invitations),
            lambda inv: render.repo_invitation(repo, inv),
            **self._canonical_repo(params, repo),
        )

    def _list_keys(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        render = _Render(self.org, request)
        return self._list(
            request, list(repo.keys), lambda key: render.deploy_key(repo, key), **self._canonical_repo(params, repo)
        )

    def _get_key(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._visible_repo(params, token)
        key = next((key for key in repo.keys if str(key.id) == params["key_id"]), None)
        if key is None:
            raise _fail(404, "Not Found")
        return Response(200, _Render(self.org, request).deploy_key(repo, key))

    def _check_team_repo(self, request: Request, token: Token, **params: str) -> Response:
        """204 if the team has a permission on the repository; 200 with the repository for the repository media type."""
        team = self._team(params)
        repo = self._repo({"owner": params["owner"], "repo": params["repo"]})
        role = team.repos.get(repo.name)
        if role is None:
            raise _fail(404, "Not Found")
        if "application/vnd.github.v3.repository+json" in request.headers.get("accept", ""):
            return Response(200, _Render(self.org, request).repo(repo, role) | {"role_name": role})
        return Response(204)

    def _graphql(self, request: Request, token: Token) -> Response:
        """GraphQL: its own hourly points quota (``graphql_limit``), charged the query's cost; HTTP 200 with
        ``errors`` for refused queries and for an exhausted quota (type RATE_LIMITED), as GitHub answers."""
        if request.prefix:  # GraphQL lives at /graphql (api.github.com) or /api/graphql (GHES), not under /api/v3
            raise _fail(404, "Not Found")
        key, _ = self._authenticate(request)
        if self.graphql_errors:
            error = self.graphql_errors.pop(0)
            return Response(200, {"errors": [{"message": error["message"], "type": error["type"]}]})
        body = request.json()
        query, variables = body.get("query"), body.get("variables") or {}
        if isinstance(query, str) and "samlIdentityProvider" in query:
            cost = 1
            answer = github_graphql.answer(
                self.org, query, variables, scopes=set(token.scopes), owner=self._is_owner(token)
            )
        else:
            try:
                plan = github_graphql.plan(query if isinstance(query, str) else "", variables)
            except github_graphql.QueryError as error:
                found = {"message": str(error), "locations": [{"line": 1, "column": 1}]}
                return Response(200, {"errors": [found | ({"type": error.type} if error.type else {})]})
            cost, answer = plan.cost, None
        state = self.graphql_quota.peek(key, self.graphql_limit)
        if state.remaining < cost:
            with self.lock:
                self.graphql_stats["rate_limited"] += 1
            limited = {
                "type": "RATE_LIMITED",
                "message": f"API rate limit exceeded for user ID {self._user_id(token)}.",
            }
            return Response(200, {"errors": [limited]}, self._graphql_headers(state))
        state = self.graphql_quota.consume(key, self.graphql_limit, cost)
        with self.lock:
            self.graphql_stats["points"] += cost
            self.graphql_stats["queries"] += 1
        if answer is None:
            reset = datetime.fromtimestamp(state.reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            rate_limit = {"cost": cost, "limit": state.limit, "remaining": state.remaining, "used": state.used}
            rate_limit |= {"resetAt": reset, "nodeCount": plan.nodes}
            executor = github_graphql.Executor(self.org, owner=self._is_owner(token), rate_limit=rate_limit)
            answer = executor.run(plan.fields)
        return Response(200, answer, self._graphql_headers(state))

    def _graphql_headers(self, state: QuotaState) -> dict[str, str]:
        return self._rate_headers(state) | {"x-ratelimit-resource": "graphql"}

    # -- write handlers (revocation)

    def _refuse_last_owner(self, login: str) -> None:
        owners = [member for member, role in self.org.members.items() if role == "admin"]
        if owners == [login]:
            raise _fail(422, f"Cannot remove {login}: an organization must have at least one owner.")

    def _refuse_synced(self, team: Team) -> None:
        if team.synced:
            raise _fail(
                403,
                f"Team membership of {team.slug} is managed by an identity provider group (team synchronization); "
                "change it in the identity provider.",
            )

    def _remove_member(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        self._require_owner(token)
        if params["username"] not in org.members:
            raise _fail(404, "Not Found")
        self._refuse_last_owner(params["username"])
        org.remove_member(params["username"])
        return Response(204)

    def _remove_membership(self, request: Request, token: Token, **params: str) -> Response:
        org, login = self._org(params), params["username"]
        self._require_owner(token)
        if login in org.members:
            self._refuse_last_owner(login)
            org.remove_member(login)
        else:
            invitation = next((inv for inv in org.invitations if inv.login == login), None)
            if invitation is None:
                raise _fail(404, "Not Found")
            org.cancel_invitation(invitation.id)
        return Response(204)

    def _set_membership(self, request: Request, token: Token, **params: str) -> Response:
        org, login = self._org(params), params["username"]
        self._require_owner(token)
        role = request.json().get("role", "member")
        if role not in ("admin", "member"):
            raise _fail(422, "Validation Failed")
        if login in org.members:
            if role == "member":
                self._refuse_last_owner(login)
            org.set_member_role(login, role)
        elif login in org.users:
            org.add_invitation(login=login, role="admin" if role == "admin" else "direct_member", inviter=token.login)
        else:
            raise _fail(404, "Not Found")
        return self._get_membership(request, token, **params)

    def _remove_outside(self, request: Request, token: Token, **params: str) -> Response:
        org, login = self._org(params), params["username"]
        self._require_owner(token)
        if login in org.members:
            raise _fail(422, "You cannot specify an organization member to remove as an outside collaborator.")
        if login not in org.outside_collaborators():
            raise _fail(404, "Not Found")
        org.remove_outside_collaborator(login)
        return Response(204)

    def _cancel_invitation(self, request: Request, token: Token, **params: str) -> Response:
        org = self._org(params)
        self._require_owner(token)
        try:
            org.cancel_invitation(int(params["invitation_id"]))
        except (KeyError, ValueError):
            raise _fail(404, "Not Found") from None
        return Response(204)

    def _set_team_membership(self, request: Request, token: Token, **params: str) -> Response:
        team, login = self._team(params), params["username"]
        self._require_owner(token)
        role = request.json().get("role", "member")
        self._refuse_synced(team)
        if role not in ("member", "maintainer") or login not in self.org.members:
            raise _fail(422, "Validation Failed")
        self.org.add_team_member(team.slug, login, role)
        return self._get_team_membership(request, token, **params)

    def _remove_team_membership(self, request: Request, token: Token, **params: str) -> Response:
        team, login = self._team(params), params["username"]
        self._require_owner(token)
        self._refuse_synced(team)
        if login not in team.members:
            raise _fail(404, "Not Found")
        self.org.remove_team_member(team.slug, login)
        return Response(204)

    def _team_and_repo(self, params: Mapping[str, str], token: Token) -> tuple[Team, Repo]:
        team = self._team(params)
        repo = self._repo({"owner": params["owner"], "repo": params["repo"]})
        self._require_owner(token)
        return team, repo

    def _set_team_repo(self, request: Request, token: Token, **params: str) -> Response:
        team, repo = self._team_and_repo(params, token)
        try:
            self.org.grant_team(team.slug, repo.name, request.json().get("permission", "push"))
        except ValueError as error:
            raise _fail(422, str(error)) from None
        return Response(204)

    def _remove_team_repo(self, request: Request, token: Token, **params: str) -> Response:
        team, repo = self._team_and_repo(params, token)
        if repo.name not in team.repos:
            raise _fail(404, "Not Found")
        self.org.revoke_team(team.slug, repo.name)
        return Response(204)

    def _set_collaborator(self, request: Request, token: Token, **params: str) -> Response:
        repo, login = self._repo(params), params["username"]
        self._require_owner(token, "Must have admin rights to Repository.")
        try:
            role = self.org.role(request.json().get("permission", "push"))
        except ValueError as error:
            raise _fail(422, str(error)) from None
        if login in repo.collaborators or login in self.org.members:
            self.org.add_collaborator(repo.name, login, role)
            return Response(204)
        if login not in self.org.users:
            raise _fail(404, "Not Found")
        invitation = self.org.add_repo_invitation(repo.name, login, role, token.login)
        return Response(201, _Render(self.org, request).repo_invitation(repo, invitation))

    def _remove_collaborator(self, request: Request, token: Token, **params: str) -> Response:
        repo, login = self._repo(params), params["username"]
        self._require_owner(token, "Must have admin rights to Repository.")
        if login not in repo.collaborators:
            raise _fail(404, "Not Found")
        self.org.remove_collaborator(repo.name, login)
        return Response(204)

    def _cancel_repo_invitation(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._repo(params)
        self._require_owner(token, "Must have admin rights to Repository.")
        before = len(repo.invitations)
        repo.invitations = [inv for inv in repo.invitations if str(inv.id) != params["invitation_id"]]
        if len(repo.invitations) == before:
            raise _fail(404, "Not Found")
        return Response(204)

    def _remove_key(self, request: Request, token: Token, **params: str) -> Response:
        repo = self._repo(params)
        self._require_owner(token, "Must have admin rights to Repository.")
        try:
            self.org.remove_deploy_key(repo.name, int(params["key_id"]))
        except (StopIteration, ValueError):
            raise _fail(404, "Not Found") from None
        return Response(204)

    def _remove_installation_repo(self, request: Request, token: Token, **params: str) -> Response:
        self._require_owner(token)
        installation = next((i for i in self.org.installations if str(i.id) == params["installation_id"]), None)
        repo = next((r for r in self.org.repos.values() if str(r.id) == params["repository_id"]), None)
        if installation is None or repo is None or repo.name not in installation.repositories:
            raise _fail(404, "Not Found")
        installation.repositories.remove(repo.name)
        return Response(204)

    # -- control endpoints

    _MUTATIONS = (
        "add_member",
        "remove_member",
        "set_member_role",
        "add_outside_collaborator",
        "remove_outside_collaborator",
        "add_collaborator",
        "set_collaborator_role",
        "remove_collaborator",
        "add_team",
        "remove_team",
        "add_team_member",
        "remove_team_member",
        "grant_team",
        "revoke_team",
        "add_repo",
        "remove_repo",
        "add_deploy_key",
        "remove_deploy_key",
        "add_invitation",
        "cancel_invitation",
        "add_installation",
    )

    @property
    def model(self) -> GitHubOrg:
        return self.org

    def _control_writes(self, request: Request) -> Response:
        with self.lock:
            return Response(200, [asdict(entry) for entry in self.writes])

    def _control_write_delay(self, request: Request) -> Response:
        """``{"seconds": 5}``: later writes are applied, then answered that many seconds later (0 turns it off)."""
        seconds = float(request.json()["seconds"])
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self.write_delay = seconds
        return Response(200, {"write_delay": self.write_delay})

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            org = self.org
            counts = {
                "members": len(org.members),
                "outside_collaborators": len(org.outside_collaborators()),
                "teams": len(org.teams),
                "repos": len(org.repos),
                "grants": len(org.grants()),
            }
            lower_bound = org.rest_lower_bound()
        return Response(200, {"org": org.name, "counts": counts, "rest_lower_bound": lower_bound})


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators github …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", default="acme")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--outside-collaborators", type=int, default=5)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--repos", type=int, default=30)
    parser.add_argument("--token", help="token to accept (default: generated)")
    parser.add_argument("--token-file", type=Path, help="write the token to this file (mode 600)")
    parser.add_argument("--primary-limit", type=int, default=5000, help="requests per token per hour")
    parser.add_argument("--secondary-limit", type=int, default=900, help="points per minute per endpoint; 0 disables")
    parser.add_argument("--max-concurrent", type=int, default=100)
    parser.add_argument("--rate-limit-status", type=int, choices=(403, 429), default=403)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--link-style", choices=("ids", "paths"), default="ids")
    parser.add_argument("--saml", action="store_true", help="SAML SSO with identities for most members (GraphQL)")
    parser.add_argument("--write-delay", type=float, default=0.0, help="seconds between applying a write and answering")
    parser.add_argument("--graphql-limit", type=int, default=5000, help="GraphQL points per token per hour")
    parser.add_argument("--window-scale", type=float, default=1.0, help="limit windows last 1/SCALE of an hour/minute")


def build(args: argparse.Namespace) -> GitHubSimulator:
    org = GitHubOrg.generate(
        args.org, args.seed, args.members, args.outside_collaborators, args.teams, args.repos, saml=args.saml
    )
    token = args.token or generate_token()
    if args.token_file:
        write_secret_file(args.token_file, token)
    simulator = GitHubSimulator(
        org,
        tokens={token: Token(org.owner_login)},
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        primary_limit=args.primary_limit,
        secondary_limit=args.secondary_limit or None,
        max_concurrent=args.max_concurrent,
        rate_limit_status=args.rate_limit_status,
        link_style=args.link_style,
        write_delay=args.write_delay,
        window_scale=args.window_scale,
    )
    simulator.graphql_limit = args.graphql_limit
    simulator.notes.append(f"token written to {args.token_file}" if args.token_file else f"token: {token}")
    return simulator
