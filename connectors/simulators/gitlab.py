"""GitLab REST API v4 simulator: a generated (or hand-made) GitLab instance served over real HTTP under /api/v4.

Shapes follow docs.gitlab.com/api/members, /api/groups, /api/projects, /api/group_access_tokens,
/api/project_access_tokens, /api/deploy_tokens, /api/deploy_keys, /api/invitations, /api/group_service_accounts
(example bodies in /work/shared/reference/gitlab/). Authentication: ``PRIVATE-TOKEN: <token>`` or
``Authorization: Bearer <token>``.

GitLab behaviours reproduced because they break naive connectors:
* offset pagination (``page``/``per_page``, default 20, max 100) with ``x-page``, ``x-per-page``,
  ``x-next-page``, ``x-prev-page``, ``Link``; ``x-total``, ``x-total-pages`` and ``rel="last"`` are omitted
  above 10,000 rows (https://docs.gitlab.com/api/rest/#pagination-response-headers);
* ``RateLimit-*`` headers on every answer; over the limit a 429 ``Retry later``, with ``Retry-After`` only
  when ``retry_after_header`` is on (GitLab often omits it);
* ``/members`` lists direct members only; ``DELETE``/``GET`` of ``/members/:user_id`` answers 404 for a user
  who only inherits membership there; ``DELETE`` without ``skip_subresources=true`` also deletes that user's
  direct memberships in every subgroup and project below; ``PUT`` below an inherited level is refused (400);
* ``shared_with_groups`` is only in the single group answer (``GET /groups/:id``), and in project answers
  (where its date is named ``expire_at``); ``/groups/:id/projects`` includes projects shared INTO the group
  unless ``with_shared=false``;
* revoking a group or project access token deactivates its bot user and removes its membership; revoked
  tokens stay listed with ``revoked: true, active: false``;
* SSO identities: a group member's ``group_saml_identity`` (``extern_uid``, ``provider: group_saml``,
  ``saml_provider_id``) is the user's identity with the SAML provider of the top-level group, shown for group
  members to owners of the group and administrators (``null`` otherwise; project members never carry it); the
  users API shows ``identities`` (every provider: group SAML, LDAP, OAuth) to administrators only
  (https://docs.gitlab.com/api/members/, https://docs.gitlab.com/api/users/).

Control endpoints: those of ``server.py`` plus ``GET /_simulator/info[?group=PATH…]`` (sizes and
rest_lower_bound for those top-level groups, or the whole instance) and ``POST /_simulator/mutate``
(``{"fraction": 0.01, "seed": 2}`` or ``{"action": "remove_member", "args": {"path": …, "username": …}}``).
"""

from __future__ import annotations

import argparse
import email.utils
import math
import secrets
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .gitlab_org import ROLE_NAMES, GitLabOrg, Group, Project, User
from .server import FixedWindowQuota, HTTPError, Request, Response, Simulator

__all__ = ["GitLabOrg", "GitLabSimulator", "add_arguments", "build"]

API_PREFIX = "/api/v4"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
TOTALS_LIMIT = 10_000
UNLIMITED = 1_000_000  # the headers' limit when no rate limit is configured (never reached in practice)


def _fail(status: int, message: Any = None) -> HTTPError:
    default = {401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not found"}.get(status, str(status))
    return HTTPError(Response(status, {"message": message or default}))


class GitLabSimulator(Simulator):
    prefixes = (API_PREFIX,)
    server_header = "nginx"
    _MUTATIONS = ("remove_member", "set_level")

    def __init__(
        self,
        org: GitLabOrg,
        *,
        clock=time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        max_concurrent: int | None = None,
        rate_limit: int | None = None,
        retry_after_header: bool = True,
        link_header: bool = True,
        window_scale: float = 1.0,
    ):
        super().__init__(
            host=host, port=port, clock=clock, latency=latency, max_concurrent=max_concurrent, window_scale=window_scale
        )
        self.org = org
        self.rate_limit = rate_limit  # requests per minute per token; None: unlimited (headers still sent)
        self.retry_after_header = retry_after_header
        self.link_header = link_header  # off: like a proxy that drops Link, only x-next-page is left
        self.quota = FixedWindowQuota(clock, window=self.scaled(60.0))  # the "minute" of --rate-limit
        self.lock = threading.RLock()
        self._add_routes()
        self.control.add("GET", "/_simulator/info", self._control_info)
        self.control.add("POST", "/_simulator/mutate", self._control_mutate)

    @property
    def model(self) -> GitLabOrg:
        return self.org

    @property
    def api_url(self) -> str:
        return f"{self.url}{API_PREFIX}"

    def describe(self) -> list[str]:
        f = self.org.facts()
        return [f"GitLab: {f.groups} groups, {f.projects} projects, {f.users} users", *self.notes]

    def reset_counters(self) -> None:
        super().reset_counters()
        self.quota.clear()

    # -- pipeline

    def client_key(self, request: Request) -> str | None:
        return request.headers.get("private-token") or request.headers.get("authorization") or "anonymous"

    def handle(self, request: Request) -> Response:
        matched = self.router.match(request.method, request.path)
        if matched is not None:
            request.endpoint = matched[0].name
        token = request.headers.get("private-token") or ""
        auth = request.headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        limit = self.rate_limit or UNLIMITED
        state = self.quota.consume(token or "anonymous", limit)
        headers = {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(state.used),
            "RateLimit-Remaining": str(state.remaining),
            "RateLimit-Reset": str(state.reset),
            "RateLimit-ResetTime": email.utils.formatdate(state.reset, usegmt=True),
        }
        if self.rate_limit is not None and state.used > limit:
            response = Response(429, raw=b"Retry later\n", headers={"Content-Type": "text/plain"})
            if self.retry_after_header:
                response.headers["Retry-After"] = str(max(1, state.reset - math.floor(self.clock())))
        else:
            with self.lock:
                user_id = self.org.tokens.get(token)
                user = self.org.users.get(user_id) if user_id else None
                if user is None or user.state != "active":
                    response = Response(401, {"message": "401 Unauthorized"})
                elif matched is None:
                    response = Response(404, {"error": "404 Not Found"})
                else:
                    route, params = matched
                    try:
                        response = route.handler(request, user, **params)
                    except HTTPError as error:
                        response = error.response
        response.headers.update({k: v for k, v in headers.items() if k not in response.headers})
        return response

    def error_response(self, request: Request, status: int) -> Response:
        if status == 429:  # a throttled answer without Retry-After, as GitLab often sends
            return Response(429, raw=b"Retry later\n", headers={"Content-Type": "text/plain"})
        return Response(status, {"message": f"{status} {'Internal Server Error' if status >= 500 else 'Error'}"})

    def secondary_limit_response(self, request: Request, retry_after: int) -> Response:
        return Response(
            429, raw=b"Retry later\n", headers={"Content-Type": "text/plain", "Retry-After": str(retry_after)}
        )

    # -- access

    def _level(self, user: User, node: Group | Project) -> int:
        if user.is_admin:
            return 60
        return self.org.effective_level(user.id, node) or 0

    def _node(self, user: User, kind: str, ident: str, need: int = 5) -> Group | Project:
        node = self.org.find(ident, kind)
        if node is None or self._level(user, node) == 0:
            raise _fail(404, f"404 {kind.title()} Not Found")
        if self._level(user, node) < need:
            raise _fail(403)
        return node

    def _list(self, request: Request, items: list, render) -> Response:
        query = request.query
        try:
            per_page = int(query.get("per_page", DEFAULT_PER_PAGE))
            page = int(query.get("page", 1))
        except ValueError:
            raise _fail(400, "page is invalid") from None
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        page = max(page, 1)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        has_next = page * per_page < total

        def url(number: int) -> str:
            pairs = [(k, v) for k, v in request.query_pairs if k not in ("page", "per_page")]
            pairs += [("page", str(number)), ("per_page", str(per_page))]
            return f"{request.base_url}{request.path}?{urlencode(pairs)}"

        links = []
        if page > 1:
            links.append(f'<{url(page - 1)}>; rel="prev"')
        if has_next:
            links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(1)}>; rel="first"')
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-next-page": str(page + 1) if has_next else "",
            "x-prev-page": str(page - 1) if page > 1 else "",
        }
        if total <= TOTALS_LIMIT:
            links.append(f'<{url(pages)}>; rel="last"')
            headers |= {"x-total": str(total), "x-total-pages": str(pages)}
        if self.link_header:
            headers["Link"] = ", ".join(links)
        return Response(200, [render(item) for item in chunk], headers)

    # -- rendering

    def _user_basic(self, user: User) -> dict:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": None,
            "web_url": f"https://gitlab.example.test/{user.username}",
        }

    def _user(self, user: User, caller: User) -> dict:
        body = self._user_basic(user) | {"created_at": user.created_at, "bot": user.bot}
        if caller.is_admin:
            body["identities"] = [
                {"provider": i.provider, "extern_uid": i.extern_uid, "saml_provider_id": i.saml_provider_id}
                for i in user.identities
            ]
        if caller.is_admin or caller.id == user.id:
            body |= {
                "email": user.email,
                "is_admin": user.is_admin,
                "external": user.external,
                "two_factor_enabled": user.two_factor,
                "last_activity_on": user.last_activity_on,
                "last_sign_in_at": user.last_sign_in_at,
                "current_sign_in_at": user.last_sign_in_at,
            }
        return body

    def _member(self, node: Group | Project, user_id: int, caller: User, level: int | None = None) -> dict:
        member = node.members.get(user_id)
        user = self.org.users[user_id]
        body = self._user_basic(user) | {
            "access_level": level if level is not None else member.access_level,
            "created_at": member.created_at if member else None,
            "expires_at": member.expires_at if member else None,
            "group_saml_identity": None,
            "membership_state": "active",
        }
        if isinstance(node, Group) and self._level(caller, node) >= 50:  # owners and administrators
            identity = self.org.group_saml_identity(node, user_id)
            if identity is not None:
                body["group_saml_identity"] = {
                    "extern_uid": identity.extern_uid,
                    "provider": identity.provider,
                    "saml_provider_id": identity.saml_provider_id,
                }
        if member and member.created_by:
            body["created_by"] = self._user_basic(self.org.users[member.created_by])
        if member and member.member_role_id:
            role = self.org.member_roles[member.member_role_id]
            body["member_role"] = asdict(role) | {"description": ""}
        return body

    def _group(self, group: Group, *, detail: bool = False) -> dict:
        path = self.org.full_path(group)
        body = {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "full_path": path,
            "full_name": " / ".join(g.name for g in reversed(self.org.ancestors(group.id))),
            "parent_id": group.parent_id,
            "visibility": "private",
            "web_url": f"https://gitlab.example.test/groups/{path}",
            "created_at": group.created_at,
        }
        if detail:
            body["shared_with_groups"] = [
                {
                    "group_id": share.group_id,
                    "group_name": self.org.groups[share.group_id].name,
                    "group_full_path": self.org.full_path(self.org.groups[share.group_id]),
                    "group_access_level": share.access_level,
                    "expires_at": share.expires_at,
                }
                for share in group.shares.values()
            ]
        return body

    def _project(self, project: Project) -> dict:
        namespace = self.org.groups[project.namespace_id]
        return {
            "id": project.id,
            "name": project.name,
            "path": project.path,
            "path_with_namespace": self.org.full_path(project),
            "name_with_namespace": f"{namespace.name} / {project.name}",
            "namespace": {"id": namespace.id, "kind": "group", "full_path": self.org.full_path(namespace)},
            "visibility": "private",
            "created_at": project.created_at,
            "shared_with_groups": [
                {
                    "group_id": share.group_id,
                    "group_name": self.org.groups[share.group_id].name,
                    "group_full_path": self.org.full_path(self.org.groups[share.group_id]),
                    "group_access_level": share.access_level,
                    "expire_at": share.expires_at,
                }
                for share in project.shares.values()
            ],
        }

    # -- routes

    def _add_routes(self) -> None:
        r = self.router.add
        r("GET", "/user", lambda req, user: Response(200, self._user(user, user)))
        r("GET", "/users", self._list_users)
        r("GET", "/users/{uid}", self._get_user)
        r("GET", "/groups", self._list_groups)
        r("GET", "/groups/{gid}", self._get_group)
        r("GET", "/groups/{gid}/descendant_groups", self._descendants)
        r("GET", "/groups/{gid}/projects", self._group_projects)
        r("GET", "/groups/{gid}/service_accounts", self._service_accounts)
        r(
            "GET",
            "/projects/{pid}",
            lambda req, user, pid: Response(200, self._project(self._node(user, "project", pid))),
        )
        for kind, param in (("groups", "gid"), ("projects", "pid")):
            base = f"/{kind}/{{{param}}}"
            k = kind[:-1]
            r("GET", f"{base}/members", self._members(k))
            r("GET", f"{base}/members/all/{{uid}}", self._member_all(k))
            r("GET", f"{base}/members/{{uid}}", self._member_get(k))
            r("PUT", f"{base}/members/{{uid}}", self._member_put(k))
            r("DELETE", f"{base}/members/{{uid}}", self._member_delete(k))
            r("DELETE", f"{base}/share/{{group_id}}", self._unshare(k))
            r("GET", f"{base}/invitations", self._invitations(k))
            r("DELETE", f"{base}/invitations/{{email}}", self._uninvite(k))
            r("GET", f"{base}/access_tokens", self._tokens(k))
            r("GET", f"{base}/access_tokens/{{tid}}", self._token_get(k))
            r("DELETE", f"{base}/access_tokens/{{tid}}", self._token_delete(k))
            r("GET", f"{base}/deploy_tokens", self._deploy_tokens(k))
            r("GET", f"{base}/deploy_tokens/{{tid}}", self._deploy_token_get(k))
            r("DELETE", f"{base}/deploy_tokens/{{tid}}", self._deploy_token_delete(k))
        r("GET", "/projects/{pid}/deploy_keys", self._deploy_keys)
        r("GET", "/projects/{pid}/deploy_keys/{kid}", self._deploy_key)
        r("PUT", "/projects/{pid}/deploy_keys/{kid}", self._deploy_key_put)
        r("DELETE", "/projects/{pid}/deploy_keys/{kid}", self._deploy_key_delete)

    # -- users and groups

    def _list_users(self, request: Request, user: User) -> Response:
        users = list(self.org.users.values())
        if request.query.get("humans") == "true":
            users = [u for u in users if not u.bot]
        return self._list(request, users, lambda u: self._user(u, user))

    def _get_user(self, request: Request, user: User, uid: str) -> Response:
        found = self.org.users.get(int(uid)) if uid.isdigit() else None
        if found is None:
            raise _fail(404, "404 User Not Found")
        return Response(200, self._user(found, user))

    def _list_groups(self, request: Request, user: User) -> Response:
        groups = [g for g in self.org.groups.values() if self._level(user, g)]
        if request.query.get("top_level_only") == "true":
            groups = [g for g in groups if not g.parent_id]
        return self._list(request, groups, self._group)

    def _get_group(self, request: Request, user: User, gid: str) -> Response:
        return Response(200, self._group(self._node(user, "group", gid), detail=True))

    def _descendants(self, request: Request, user: User, gid: str) -> Response:
        group = self._node(user, "group", gid)
        return self._list(request, [g for g in self.org.descendants(group) if self._level(user, g)], self._group)

    def _group_projects(self, request: Request, user: User, gid: str) -> Response:
        group = self._node(user, "group", gid)
        sub = request.query.get("include_subgroups") == "true"
        projects = self.org.projects_under(group, include_subgroups=sub)
        if request.query.get("with_shared", "true") != "false":
            ids = {group.id} | ({g.id for g in self.org.descendants(group)} if sub else set())
            shared = [p for p in self.org.projects.values() if ids & set(p.shares) and p not in projects]
            projects = projects + shared
        projects = sorted((p for p in projects if self._level(user, p)), key=lambda p: p.id)
        return self._list(request, projects, self._project)

    def _service_accounts(self, request: Request, user: User, gid: str) -> Response:
        group = self._node(user, "group", gid, need=50)
        if group.parent_id:
            raise _fail(400, "400 Bad request - Group must be a top-level group")
        accounts = [self.org.users[uid] for uid in group.service_accounts]
        return self._list(request, accounts, lambda u: {"id": u.id, "username": u.username, "name": u.name})

    # -- members

    def _members(self, kind: str):
        def handler(request: Request, user: User, **params) -> Response:
            node = self._node(user, kind, next(iter(params.values())))
            return self._list(request, sorted(node.members), lambda uid: self._member(node, uid, user))

        return handler

    def _member_all(self, kind: str):
        def handler(request: Request, user: User, uid: str, **params) -> Response:
            node = self._node(user, kind, next(iter(params.values())))
            level = self.org.effective_level(int(uid), node) if uid.isdigit() else None
            if level is None:
                raise _fail(404)
            return Response(200, self._member(node, int(uid), user, level))

        return handler

    def _direct(self, node: Group | Project, uid: str):
        member = node.members.get(int(uid)) if uid.isdigit() else None
        if member is None:
            raise _fail(404)  # also for a user who only inherits membership here
        return member

    def _member_get(self, kind: str):
        def handler(request: Request, user: User, uid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"])
            return Response(200, self._member(node, self._direct(node, uid).user_id, user))

        return handler

    def _member_put(self, kind: str):
        def handler(request: Request, user: User, uid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            member = self._direct(node, uid)
            raw = request.query.get("access_level") or str(request.json().get("access_level", ""))
            if not raw.isdigit() or int(raw) not in ROLE_NAMES:
                raise _fail(400, "400 Bad request - access_level does not have a valid value")
            inherited = [(n, m.access_level) for n in self.org.chain(node)[1:] if (m := n.members.get(member.user_id))]
            if inherited and int(raw) < max(level for _, level in inherited):
                source, level = max(inherited, key=lambda pair: pair[1])
                role = ROLE_NAMES[level].title()
                message = f"should be greater than or equal to {role} inherited membership from group {source.name}"
                raise _fail(400, {"access_level": [message]})
            member.access_level = int(raw)
            return Response(200, self._member(node, member.user_id, user))

        return handler

    def _member_delete(self, kind: str):
        def handler(request: Request, user: User, uid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            member = self._direct(node, uid)
            del node.members[member.user_id]
            if isinstance(node, Group) and request.query.get("skip_subresources") != "true":
                for below in [*self.org.descendants(node), *self.org.projects_under(node)]:
                    below.members.pop(member.user_id, None)
            return Response(204)

        return handler

    def _unshare(self, kind: str):
        def handler(request: Request, user: User, group_id: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            if not group_id.isdigit() or int(group_id) not in node.shares:
                raise _fail(404, "404 Group Link Not Found")
            del node.shares[int(group_id)]
            return Response(204)

        return handler

    def _invitations(self, kind: str):
        def handler(request: Request, user: User, **params) -> Response:
            node = self._node(user, kind, next(iter(params.values())), need=40)

            def render(inv):
                creator = self.org.users.get(inv.created_by) if inv.created_by else None
                return {
                    "id": abs(hash(inv.email)) % 100000,
                    "invite_email": inv.email,
                    "created_at": inv.created_at,
                    "access_level": inv.access_level,
                    "expires_at": inv.expires_at,
                    "user_name": None,
                    "created_by_name": creator.name if creator else None,
                }

            return self._list(request, list(node.invitations.values()), render)

        return handler

    def _uninvite(self, kind: str):
        def handler(request: Request, user: User, email: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            if node.invitations.pop(email, None) is None:
                raise _fail(404, "Invitation not found")
            return Response(204)

        return handler

    # -- access tokens, deploy tokens, deploy keys

    def _render_token(self, token) -> dict:
        return {
            "id": token.id,
            "name": token.name,
            "revoked": token.revoked,
            "active": not token.revoked,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
            "scopes": token.scopes,
            "user_id": token.user_id,
            "expires_at": token.expires_at,
            "access_level": token.access_level,
        }

    def _tokens(self, kind: str):
        def handler(request: Request, user: User, **params) -> Response:
            node = self._node(user, kind, next(iter(params.values())), need=50 if kind == "group" else 40)
            return self._list(request, list(node.access_tokens.values()), self._render_token)

        return handler

    def _token(self, node, tid: str):
        token = node.access_tokens.get(int(tid)) if tid.isdigit() else None
        if token is None:
            raise _fail(404, "404 Token Not Found")
        return token

    def _token_get(self, kind: str):
        def handler(request: Request, user: User, tid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            return Response(200, self._render_token(self._token(node, tid)))

        return handler

    def _token_delete(self, kind: str):
        def handler(request: Request, user: User, tid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            token = self._token(node, tid)
            if token.revoked:
                raise _fail(404, "404 Token Not Found")
            self.org.revoke_access_token(node, token)
            return Response(204)

        return handler

    def _render_deploy_token(self, token) -> dict:
        return {
            "id": token.id,
            "name": token.name,
            "username": token.username,
            "expires_at": token.expires_at,
            "revoked": token.revoked,
            "expired": False,
            "scopes": token.scopes,
        }

    def _deploy_tokens(self, kind: str):
        def handler(request: Request, user: User, **params) -> Response:
            node = self._node(user, kind, next(iter(params.values())), need=40)
            return self._list(request, list(node.deploy_tokens.values()), self._render_deploy_token)

        return handler

    def _deploy_token(self, node, tid: str):
        token = node.deploy_tokens.get(int(tid)) if tid.isdigit() else None
        if token is None:
            raise _fail(404, "404 Deploy Token Not Found")
        return token

    def _deploy_token_get(self, kind: str):
        def handler(request: Request, user: User, tid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            return Response(200, self._render_deploy_token(self._deploy_token(node, tid)))

        return handler

    def _deploy_token_delete(self, kind: str):
        def handler(request: Request, user: User, tid: str, **params) -> Response:
            node = self._node(user, kind, params.get("gid") or params["pid"], need=40)
            del node.deploy_tokens[self._deploy_token(node, tid).id]
            return Response(204)

        return handler

    def _render_key(self, project: Project, key_id: int) -> dict:
        key = self.org.deploy_keys[key_id]
        return {
            "id": key.id,
            "title": key.title,
            "key": key.key,
            "fingerprint_sha256": f"SHA256:{key.id:043d}",
            "created_at": key.created_at,
            "can_push": project.deploy_keys[key_id],
        }

    def _key_of(self, project: Project, kid: str) -> int:
        if not kid.isdigit() or int(kid) not in project.deploy_keys:
            raise _fail(404, "404 Deploy key Not Found")
        return int(kid)

    def _deploy_keys(self, request: Request, user: User, pid: str) -> Response:
        project = self._node(user, "project", pid, need=40)
        return self._list(request, sorted(project.deploy_keys), lambda k: self._render_key(project, k))

    def _deploy_key(self, request: Request, user: User, pid: str, kid: str) -> Response:
        project = self._node(user, "project", pid, need=40)
        return Response(200, self._render_key(project, self._key_of(project, kid)))

    def _deploy_key_put(self, request: Request, user: User, pid: str, kid: str) -> Response:
        project = self._node(user, "project", pid, need=40)
        key_id = self._key_of(project, kid)
        body = request.json()
        if "can_push" in body:
            project.deploy_keys[key_id] = bool(body["can_push"])
        return Response(200, self._render_key(project, key_id))

    def _deploy_key_delete(self, request: Request, user: User, pid: str, kid: str) -> Response:
        project = self._node(user, "project", pid, need=40)
        del project.deploy_keys[self._key_of(project, kid)]
        return Response(204)

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            groups = [value for key, value in request.query_pairs if key == "group"] or None
            bound = self.org.rest_lower_bound(groups)
            return Response(200, {"facts": asdict(self.org.facts()), "rest_lower_bound": bound})


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators gitlab …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--subgroups", type=int, default=20)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--token", help="the admin's API token (default: generated)")
    parser.add_argument("--token-file", type=Path, help="write the admin's token to this file (mode 600)")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute per token")
    parser.add_argument("--no-retry-after", action="store_true", help="answer 429 without Retry-After")
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--window-scale", type=float, default=1.0, help="the rate-limit minute lasts 60/SCALE s")


def build(args: argparse.Namespace) -> GitLabSimulator:
    org = GitLabOrg.generate(args.seed, members=args.members, subgroups=args.subgroups, projects=args.projects)
    token = args.token or f"glpat-{secrets.token_urlsafe(20)}"
    org.add_token("root", token)
    if args.token_file:
        args.token_file.parent.mkdir(parents=True, exist_ok=True)
        args.token_file.touch(mode=0o600)
        args.token_file.write_text(token + "\n")
    simulator = GitLabSimulator(
        org,
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        max_concurrent=args.max_concurrent,
        rate_limit=args.rate_limit,
        retry_after_header=not args.no_retry_after,
        window_scale=args.window_scale,
    )
    where = f"written to {args.token_file}" if args.token_file else token
    simulator.notes.append(f"token (PRIVATE-TOKEN, user root, admin): {where}")
    return simulator
