"""Docker Hub API simulator: a generated (or hand-made) organization served over real HTTP.

Shapes follow the Docker Hub API 2-beta (https://docs.docker.com/reference/api/hub/latest/, copy in
``/work/shared/reference/dockerhub/hub-api-latest.yaml``):

* auth: ``POST /v2/auth/token`` {"identifier", "secret"} -> {"access_token": JWT} (10 minutes), then Bearer;
* members, invites, groups (teams) and group members under ``/v2/orgs/{org}/…``, ``DELETE /v2/invites/{id}``;
* repositories: ``GET /v2/namespaces/{ns}/repositories`` and the legacy ``/v2/repositories/{ns}/``;
* team grants on repositories: ``/v2/repositories/{ns}/{repo}/groups[/{group_id}]`` (read / write / admin;
  https://docs.docker.com/reference/api/hub/latest/operations/CreateRepositoryGroup/);
* organization access tokens: ``/v2/orgs/{org}/access-tokens[/{id}]`` (added 2025-03-25;
  https://docs.docker.com/reference/api/hub/latest/operations/getV2OrgsByNameAccessTokens/).

Docker Hub behaviours reproduced because they break naive connectors:
* lists are pages of ``{count, next, previous, results}`` (the token list says ``total``); a page past the
  end is ``404 {"detail": "Invalid page."}``; ``page_size`` is capped at 100;
* roles come back capitalised (``Owner``) while requests must use lowercase (``owner``, else 400);
* ``GET …/members`` lists pending invitees too when asked (``invites=true`` or ``type=invitee``);
* an organization access token (OAT) without ``scope-repository-list`` silently sees public repositories
  only, and so does an anonymous caller; legacy ``/v2/repositories/{ns}`` rejects every OAT
  (https://docs.docker.com/security/access-tokens/organization-access-tokens/#hub-api-support), and so do
  the access-token endpoints (owners manage OATs);
* the token list does not carry a token's resources and scopes: only ``GET …/access-tokens/{id}`` does;
* limits per minute: ``X-RateLimit-Limit/-Remaining/-Reset`` on every answer, and ``429`` with
  ``X-Retry-After`` as a Unix timestamp (https://docs.docker.com/reference/api/hub/latest/#tag/rate-limiting);
* an expired JWT is ``401``; clients log in again.

Out-of-process users steer it over HTTP like the GitHub simulator: ``/_simulator/faults``, ``stats``,
``requests``, ``reset`` (see ``server.py``), ``POST /_simulator/mutate`` and ``GET /_simulator/info``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .dockerhub_org import (
    PERMISSIONS,
    ROLES,
    TYPE_ORG,
    TYPE_REPO,
    AccessToken,
    Change,
    DockerHubOrg,
    OrgFacts,
    Repo,
    Team,
)
from .dockerhub_render import Render
from .server import FixedWindowQuota, HTTPError, QuotaState, Request, Response, Simulator, write_secret_file

__all__ = ["Change", "DockerHubOrg", "DockerHubSimulator", "OrgFacts", "add_arguments", "build", "generate_pat"]

OAT_REFUSED = "token issued from organization access token is not allowed"
MAX_PAGE_SIZE = 100


def generate_pat() -> str:
    return "dckr_pat_" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for: a user (by Docker ID), an organization access token, or nobody."""

    kind: str  # user | oat | anonymous
    name: str = ""  # username, or token id


ANONYMOUS = Principal("anonymous")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fail(status: int, message: str, detail: str | None = None, **errinfo: Any) -> HTTPError:
    """Docker Hub's error body: {"errinfo": {field: problem}, "detail": …, "message": …}."""
    body: dict[str, Any] = {"errinfo": errinfo, "message": message}
    if detail is not None:
        body["detail"] = detail
    return HTTPError(Response(status, body))


class DockerHubSimulator(Simulator):
    """Serves ``org`` like hub.docker.com.

    ``pats`` maps personal access tokens to the Docker ID they belong to (by default one generated token of
    the org's first owner, ``.token``); organization access tokens are the org's own (``org.tokens``).
    ``rate_limit`` requests per minute per caller; ``jwt_lifetime`` seconds for each bearer token.
    """

    server_header = "docker-hub-simulator"

    def __init__(
        self,
        org: DockerHubOrg,
        *,
        pats: Mapping[str, str] | None = None,
        clock=time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit: int = 600,
        jwt_lifetime: float = 600.0,
    ):
        super().__init__(host=host, port=port, clock=clock, latency=latency)
        self.org = org
        self.render = Render(org)
        self.pats: dict[str, str] = dict(pats) if pats else {generate_pat(): org.owner_username}
        self.rate_limit = rate_limit
        self.jwt_lifetime = jwt_lifetime
        self.lock = threading.RLock()  # guards ``org`` against concurrent requests and HTTP mutations
        self.quota = FixedWindowQuota(clock, window=60.0)
        self._key = secrets.token_bytes(32)
        self._jti = 0
        self.logins = 0
        self._add_routes()
        self.control.add("POST", "/_simulator/mutate", self._control_mutate)
        self.control.add("GET", "/_simulator/info", self._control_info)

    @property
    def token(self) -> str:
        """The first personal access token (the generated owner's by default)."""
        return next(iter(self.pats))

    def reset_counters(self) -> None:
        super().reset_counters()
        self.quota.clear()

    def describe(self) -> list[str]:
        org = self.org
        summary = (
            f"Docker Hub org {org.name!r}: {len(org.members)} members, {len(org.teams)} teams, "
            f"{len(org.repos)} repositories, {len(org.tokens)} access tokens"
        )
        return [summary, *self.notes]

    # -- bearer tokens

    def issue(self, principal: Principal) -> str:
        """A signed JWT for ``principal`` (HS256 over the simulator's own key), valid ``jwt_lifetime`` s."""
        now = self.clock()
        with self.lock:
            self._jti += 1
            jti = self._jti
        payload = {"sub": principal.name, "kind": principal.kind, "iat": int(now), "exp": int(now + self.jwt_lifetime)}
        payload["jti"] = jti
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(payload).encode())
        signature = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{signature}"

    def _principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            return ANONYMOUS
        if scheme.lower() != "bearer" or value.count(".") != 2:
            raise _fail(401, "unauthorized", detail="malformed bearer token")
        head, body, signature = value.strip().split(".")
        expected = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            raise _fail(401, "unauthorized", detail="invalid token")
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            raise _fail(401, "unauthorized", detail="invalid token") from None
        if payload["exp"] <= self.clock():
            raise _fail(401, "unauthorized", detail="token expired")
        principal = Principal(payload["kind"], payload["sub"])
        if principal.kind == "oat" and principal.name not in self.org.tokens:
            raise _fail(401, "unauthorized", detail="token revoked")
        return principal

    # -- request pipeline

    def handle(self, request: Request) -> Response:
        matched = self.router.match(request.method, request.path)
        if matched is not None:
            request.endpoint = matched[0].name
        try:
            principal = ANONYMOUS if request.path.rstrip("/") == "/v2/auth/token" else self._principal(request)
        except HTTPError as error:
            return error.response
        key = "login" if request.path.rstrip("/") == "/v2/auth/token" else f"{principal.kind}:{principal.name}"
        state = self.quota.peek(key, self.rate_limit)
        if state.remaining <= 0:
            return self._limited(state)
        if matched is None:
            response = Response(404, {"errinfo": {}, "message": "not found"})
        else:
            route, params = matched
            if principal is ANONYMOUS and not route.meta.get("anonymous"):
                response = Response(401, {"errinfo": {}, "message": "authentication required"})
            else:
                with self.lock:
                    try:
                        response = route.handler(request, principal, **params)
                    except HTTPError as error:
                        response = error.response
        response.headers |= self._rate_headers(self.quota.consume(key, self.rate_limit))
        return response

    def _rate_headers(self, state: QuotaState) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(state.reset),
        }

    def _limited(self, state: QuotaState) -> Response:
        body = {"errinfo": {}, "message": "too many requests", "detail": "rate limit exceeded"}
        return Response(429, body, self._rate_headers(state) | {"X-Retry-After": str(state.reset)})

    def secondary_limit_response(self, request: Request, retry_after: int) -> Response:
        """An injected limit answers like Docker Hub: 429 and an epoch timestamp in X-Retry-After."""
        until = math.ceil(self.clock()) + retry_after
        body = {"errinfo": {}, "message": "too many requests", "detail": "rate limit exceeded"}
        return Response(429, body, {"X-Retry-After": str(until)})

    def error_response(self, request: Request, status: int) -> Response:
        return Response(status, {"errinfo": {}, "message": HTTPStatus(status).phrase.lower()})

    # -- access rules

    def _org(self, name: str) -> DockerHubOrg:
        if name.lower() != self.org.name.lower():
            raise _fail(404, "not found", detail=f"organization {name} not found")
        return self.org

    def _role(self, principal: Principal) -> str | None:
        return self.org.members.get(principal.name) if principal.kind == "user" else None

    def _token(self, principal: Principal) -> AccessToken | None:
        return self.org.tokens.get(principal.name) if principal.kind == "oat" else None

    def _require(
        self,
        principal: Principal,
        roles: tuple[str, ...],
        scope: str | None = None,
        *,
        repo: str | None = None,
        oat: bool = True,
    ) -> None:
        """Users need one of ``roles``; an OAT needs ``scope`` on the org (or on ``repo``), if OATs may call."""
        token = self._token(principal)
        if token is not None:
            if not oat:
                raise _fail(403, OAT_REFUSED)
            where = (TYPE_REPO, f"{self.org.name}/{repo}") if repo else (TYPE_ORG, self.org.name)
            if scope is None or scope not in self.org.token_scopes(token, *where):
                raise _fail(403, "permission denied", detail=f"the token lacks {scope}")
            return
        if self._role(principal) not in roles:
            raise _fail(403, "permission denied")

    def _visible_repos(self, principal: Principal) -> list[Repo]:
        """What a repository list shows: all to owners and editors, else public ones plus what is granted."""
        repos = list(self.org.repos.values())
        role, token = self._role(principal), self._token(principal)
        if role in ("owner", "editor"):
            return repos
        if token is not None:
            if "scope-repository-list" in self.org.token_scopes(token, TYPE_ORG, self.org.name):
                return repos
            return [repo for repo in repos if not repo.is_private]  # silently: the documented OAT behaviour
        if role == "member":
            mine = {team.id for team in self.org.teams.values() if principal.name in team.members}
            return [repo for repo in repos if not repo.is_private or mine & set(repo.groups)]
        return [repo for repo in repos if not repo.is_private]

    def _shows_email(self, principal: Principal) -> bool:
        return self._role(principal) in ("owner", "editor") or self._token(principal) is not None

    # -- pagination

    def _page(self, request: Request, items: list[Any], render: Callable[[Any], dict], total: str = "count"):
        query = request.query
        try:
            page = int(query.get("page") or 1)
            size = int(query.get("page_size") or 10)
        except ValueError:
            raise _fail(400, "bad request", detail="page and page_size are numbers") from None
        if page < 1 or size < 1:
            raise HTTPError(Response(404, {"detail": "Invalid page."}))
        size = min(size, MAX_PAGE_SIZE)
        last = max(1, math.ceil(len(items) / size))
        if page > last:
            raise HTTPError(Response(404, {"detail": "Invalid page."}))  # Django REST framework's answer

        def url(number: int) -> str:
            pairs = [(key, value) for key, value in request.query_pairs if key != "page"] + [("page", str(number))]
            return f"{request.base_url}{request.path}?{urlencode(pairs)}"

        chunk = items[(page - 1) * size : page * size]
        return Response(
            200,
            {
                total: len(items),
                "next": url(page + 1) if page < last else None,
                "previous": url(page - 1) if page > 1 else None,
                "results": [render(item) for item in chunk],
            },
        )

    # -- routes

    def _add_routes(self) -> None:
        """Each path answers with and without a trailing slash, as Docker Hub does."""
        org, repo_groups = "/v2/orgs/{org}", "/v2/repositories/{namespace}/{repository}/groups"
        table = [
            ("POST", "/v2/auth/token", self._login, {"anonymous": True}),
            ("GET", f"{org}/members", self._list_members, {}),
            ("PUT", f"{org}/members/{{username}}", self._set_role, {}),
            ("DELETE", f"{org}/members/{{username}}", self._remove_member, {}),
            ("GET", f"{org}/invites", self._list_invites, {}),
            ("DELETE", "/v2/invites/{invite_id}", self._cancel_invite, {}),
            ("GET", f"{org}/groups", self._list_groups, {}),
            ("GET", f"{org}/groups/{{group}}", self._get_group, {}),
            ("GET", f"{org}/groups/{{group}}/members", self._list_group_members, {}),
            ("POST", f"{org}/groups/{{group}}/members", self._add_group_member, {}),
            ("DELETE", f"{org}/groups/{{group}}/members/{{username}}", self._remove_group_member, {}),
            ("GET", "/v2/namespaces/{namespace}/repositories", self._list_repos, {"anonymous": True}),
            ("GET", "/v2/repositories/{namespace}", self._list_repos_legacy, {"anonymous": True}),
            ("GET", repo_groups, self._list_repo_groups, {}),
            ("POST", repo_groups, self._add_repo_group, {}),
            ("GET", f"{repo_groups}/{{group_id}}", self._get_repo_group, {}),
            ("PATCH", f"{repo_groups}/{{group_id}}", self._set_repo_group, {}),
            ("DELETE", f"{repo_groups}/{{group_id}}", self._remove_repo_group, {}),
            ("GET", f"{org}/access-tokens", self._list_tokens, {}),
            ("GET", f"{org}/access-tokens/{{token_id}}", self._get_token, {}),
            ("PATCH", f"{org}/access-tokens/{{token_id}}", self._update_token, {}),
            ("DELETE", f"{org}/access-tokens/{{token_id}}", self._delete_token, {}),
        ]
        for method, pattern, handler, meta in table:
            route = self.router.add(method, pattern, handler, **meta)
            self.router.add(method, pattern + "/", handler, name=route.name, **meta)

    # -- auth

    def _login(self, request: Request, principal: Principal) -> Response:
        data = request.json()
        identifier, secret = str(data.get("identifier") or ""), str(data.get("secret") or "")
        if not identifier or not secret:
            raise _fail(400, "identifier and secret are required")
        self.logins += 1
        username = self.pats.get(secret)
        if username is not None and username.lower() == identifier.lower():
            return Response(200, {"access_token": self.issue(Principal("user", username))})
        token = next((t for t in self.org.tokens.values() if hmac.compare_digest(t.secret, secret)), None)
        now = self.clock()
        usable = token is not None and token.is_active and not token.expired(now)
        if token is not None and usable and identifier.lower() == self.org.name.lower():
            token.last_used_at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return Response(200, {"access_token": self.issue(Principal("oat", token.id))})
        raise _fail(401, "incorrect username or password", detail="authentication failed")

    # -- members and invites

    def _list_members(self, request: Request, principal: Principal, org: str) -> Response:
        org_ = self._org(org)
        self._require(principal, ROLES, "scope-member-read")
        query = request.query
        kind = query.get("type", "all")
        if kind not in ("all", "member", "invitee"):
            raise _fail(400, "bad request", type="must be all, member or invitee")
        email = self._shows_email(principal)
        rows: list[tuple[str, Any]] = []
        if kind in ("all", "member"):
            users = [org_.users[u] for u in org_.members]
            if query.get("role"):
                users = [user for user in users if org_.members[user.username] == query["role"]]
            rows.extend(("member", user) for user in users)
        if kind == "invitee" or (kind == "all" and query.get("invites") == "true"):
            rows.extend(("invitee", invite) for invite in org_.invites)
        search = (query.get("search") or "").lower()
        if search:
            rows = [row for row in rows if search in _searchable(row)]
        return self._page(
            request,
            rows,
            lambda row: self.render.member(row[1], email=email) if row[0] == "member" else self.render.invitee(row[1]),
        )

    def _set_role(self, request: Request, principal: Principal, org: str, username: str) -> Response:
        org_ = self._org(org)
        self._require(principal, ("owner",), "scope-member-edit")
        role = request.json().get("role")
        if role not in ROLES:  # "Owner" as the responses spell it is refused: requests use lowercase
            raise _fail(400, "invalid role", role=f"{role!r} is not one of {', '.join(ROLES)}")
        if username not in org_.members:
            raise _fail(404, "member not found")
        try:
            org_.set_member_role(username, role)
        except ValueError as error:
            raise _fail(400, str(error)) from None
        return Response(200, self.render.member(org_.users[username], email=True))

    def _remove_member(self, request: Request, principal: Principal, org: str, username: str) -> Response:
        org_ = self._org(org)
        self._require(principal, ("owner",), "scope-member-edit")
        if username not in org_.members:
            raise _fail(404, "member not found")
        try:
            org_.remove_member(username)
        except ValueError as error:
            raise _fail(400, str(error)) from None
        return Response(204)

    def _list_invites(self, request: Request, principal: Principal, org: str) -> Response:
        org_ = self._org(org)
        self._require(principal, ("owner",), "scope-invite-read")
        return Response(200, {"data": [self.render.invite(invite) for invite in org_.invites]})

    def _cancel_invite(self, request: Request, principal: Principal, invite_id: str) -> Response:
        self._require(principal, ("owner",), "scope-invite-edit")
        try:
            self.org.cancel_invite(invite_id)
        except KeyError:
            raise _fail(404, "invite not found") from None
        return Response(204)

    # -- groups (teams)

    def _group(self, org: str, name: str) -> Team:
        team = self._org(org).teams.get(name)
        if team is None:
            raise _fail(404, "group not found")
        return team

    def _list_groups(self, request: Request, principal: Principal, org: str) -> Response:
        org_ = self._org(org)
        self._require(principal, ROLES, "scope-group-read")
        teams = list(org_.teams.values())
        if request.query.get("username"):
            teams = [team for team in teams if request.query["username"] in team.members]
        if request.query.get("search"):
            teams = [team for team in teams if request.query["search"].lower() in team.name.lower()]
        return self._page(request, teams, self.render.team)

    def _get_group(self, request: Request, principal: Principal, org: str, group: str) -> Response:
        team = self._group(org, group)
        self._require(principal, ROLES, "scope-group-read")
        return Response(200, self.render.team(team))

    def _list_group_members(self, request: Request, principal: Principal, org: str, group: str) -> Response:
        team = self._group(org, group)
        self._require(principal, ROLES, "scope-group-read")
        users = [self.org.users[username] for username in team.members]
        search = (request.query.get("search") or "").lower()
        if search:
            users = [user for user in users if search in f"{user.username} {user.full_name} {user.email}".lower()]
        email = self._shows_email(principal)
        return self._page(request, users, lambda user: self.render.user(user, email=email))

    def _add_group_member(self, request: Request, principal: Principal, org: str, group: str) -> Response:
        team = self._group(org, group)
        self._require(principal, ("owner",), "scope-group-edit")
        try:
            self.org.add_team_member(team.name, str(request.json().get("member", "")))
        except ValueError as error:
            raise _fail(400, str(error)) from None
        return Response(200)

    def _remove_group_member(self, request: Request, principal: Principal, org: str, group: str, username: str):
        team = self._group(org, group)
        self._require(principal, ("owner",), "scope-group-edit")
        try:
            self.org.remove_team_member(team.name, username)
        except KeyError:
            raise _fail(404, "member not found in group") from None
        except ValueError as error:
            raise _fail(400, str(error)) from None
        return Response(204)

    # -- repositories

    def _list_repos(self, request: Request, principal: Principal, namespace: str) -> Response:
        self._org(namespace)
        repos = sorted(self._visible_repos(principal), key=lambda repo: repo.name)
        return self._page(request, repos, self.render.repo)

    def _list_repos_legacy(self, request: Request, principal: Principal, namespace: str) -> Response:
        if principal.kind == "oat":
            raise _fail(403, OAT_REFUSED)
        return self._list_repos(request, principal, namespace)

    def _repository(self, namespace: str, name: str) -> Repo:
        repo = self._org(namespace).repos.get(name)
        if repo is None:
            raise _fail(404, "repository not found")
        return repo

    def _repo_grant(self, repo: Repo, group_id: str) -> int:
        try:
            team_id = int(group_id)
        except ValueError:
            raise _fail(404, "not found") from None
        if team_id not in repo.groups:
            raise _fail(404, "group permission not found")
        return team_id

    def _list_repo_groups(self, request: Request, principal: Principal, namespace: str, repository: str):
        repo = self._repository(namespace, repository)
        self._require(principal, ("owner", "editor"), "scope-repo-group-read", repo=repo.name)
        return self._page(request, sorted(repo.groups.items()), lambda item: self.render.repo_group(*item))

    def _add_repo_group(self, request: Request, principal: Principal, namespace: str, repository: str):
        repo = self._repository(namespace, repository)
        self._require(principal, ("owner", "editor"), "scope-repo-group-edit", repo=repo.name)
        data = request.json()
        team = self.org.team_by_id(data.get("group_id")) if isinstance(data.get("group_id"), int) else None
        if team is None or data.get("permission") not in PERMISSIONS:
            raise _fail(400, "bad request", detail="group_id of a team and permission read, write or admin")
        repo.groups[team.id] = data["permission"]
        return Response(200, self.render.repo_group(team.id, data["permission"]))

    def _get_repo_group(self, request, principal: Principal, namespace: str, repository: str, group_id: str):
        repo = self._repository(namespace, repository)
        self._require(principal, ("owner", "editor"), "scope-repo-group-read", repo=repo.name)
        team_id = self._repo_grant(repo, group_id)
        return Response(200, self.render.repo_group(team_id, repo.groups[team_id]))

    def _set_repo_group(self, request, principal: Principal, namespace: str, repository: str, group_id: str):
        repo = self._repository(namespace, repository)
        self._require(principal, ("owner", "editor"), "scope-repo-group-edit", repo=repo.name)
        team_id = self._repo_grant(repo, group_id)
        permission = request.json().get("permission")
        if permission not in PERMISSIONS:
            raise _fail(400, "bad request", permission="read, write or admin")
        repo.groups[team_id] = permission
        return Response(200, self.render.repo_group(team_id, permission))

    def _remove_repo_group(self, request, principal: Principal, namespace: str, repository: str, group_id: str):
        repo = self._repository(namespace, repository)
        self._require(principal, ("owner", "editor"), "scope-repo-group-admin", repo=repo.name)
        del repo.groups[self._repo_grant(repo, group_id)]
        return Response(204)

    # -- organization access tokens (owners only; OATs are refused)

    def _org_token(self, org: str, principal: Principal, token_id: str | None = None) -> AccessToken | None:
        org_ = self._org(org)
        self._require(principal, ("owner",), oat=False)
        if token_id is None:
            return None
        token = org_.tokens.get(token_id)
        if token is None:
            raise _fail(404, "access token not found")
        return token

    def _list_tokens(self, request: Request, principal: Principal, org: str) -> Response:
        self._org_token(org, principal)
        tokens = sorted(self.org.tokens.values(), key=lambda token: token.created_at)
        listed = functools.partial(self.render.access_token, resources=False)
        return self._page(request, tokens, listed, total="total")

    def _get_token(self, request: Request, principal: Principal, org: str, token_id: str) -> Response:
        return Response(200, self.render.access_token(self._org_token(org, principal, token_id), resources=True))

    def _update_token(self, request: Request, principal: Principal, org: str, token_id: str) -> Response:
        token = self._org_token(org, principal, token_id)
        data = request.json()
        if "is_active" in data:
            if not isinstance(data["is_active"], bool):
                raise _fail(400, "bad request", is_active="must be a boolean")
            token.is_active = data["is_active"]
        for name in ("label", "description"):
            if name in data:
                setattr(token, name, str(data[name]))
        return Response(200, self.render.access_token(token, resources=True))

    def _delete_token(self, request: Request, principal: Principal, org: str, token_id: str) -> Response:
        token = self._org_token(org, principal, token_id)
        self.org.delete_token(token.id)
        return Response(204)

    # -- control endpoints

    _MUTATIONS = (
        "add_member",
        "remove_member",
        "set_member_role",
        "add_team",
        "remove_team",
        "add_team_member",
        "remove_team_member",
        "add_repo",
        "remove_repo",
        "grant_team",
        "revoke_team",
        "add_invite",
        "cancel_invite",
        "set_token_active",
        "delete_token",
    )

    @property
    def model(self) -> DockerHubOrg:
        return self.org

    def mutation_result(self, result: Any) -> Any:
        """Named mutations never echo a token's secret."""
        if is_dataclass(result):
            return {key: value for key, value in asdict(result).items() if key != "secret"}
        return result

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            org = self.org
            counts = {
                "members": len(org.members),
                "teams": len(org.teams),
                "repositories": len(org.repos),
                "invites": len(org.invites),
                "access_tokens": len(org.tokens),
                "grants": len(org.grants()),
            }
            return Response(200, {"org": org.name, "counts": counts, "rest_lower_bound": org.rest_lower_bound()})


def _searchable(row: tuple[str, Any]) -> str:
    kind, item = row
    if kind == "member":
        return f"{item.username} {item.full_name} {item.email}".lower()
    return item.invitee.lower()


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators dockerhub …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", default="acme")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--members", type=int, default=25)
    parser.add_argument("--teams", type=int, default=5)
    parser.add_argument("--repos", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=5, help="organization access tokens")
    parser.add_argument("--invites", type=int, default=None)
    parser.add_argument("--token", help="personal access token of the owner to accept (default: generated)")
    parser.add_argument("--token-file", type=Path, help="write the owner's token to this file (mode 600)")
    parser.add_argument("--rate-limit", type=int, default=600, help="requests per minute per caller")
    parser.add_argument("--jwt-lifetime", type=float, default=600.0, help="seconds a bearer token stays valid")
    parser.add_argument("--latency-ms", type=float, default=0.0)


def build(args: argparse.Namespace) -> DockerHubSimulator:
    org = DockerHubOrg.generate(
        args.org, args.seed, args.members, args.teams, args.repos, tokens=args.tokens, invites=args.invites
    )
    token = args.token or generate_pat()
    if args.token_file:
        write_secret_file(args.token_file, token)
    simulator = DockerHubSimulator(
        org,
        pats={token: org.owner_username},
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        jwt_lifetime=args.jwt_lifetime,
    )
    simulator.notes.append(f"connector options: org={org.name} username={org.owner_username}")
    simulator.notes.append(f"token written to {args.token_file}" if args.token_file else f"token: {token}")
    return simulator
