"""JFrog Artifactory REST API simulator: a generated (or hand-made) instance served over real HTTP.

Two API roots on one host, as on a JFrog Platform: ``/artifactory/api/…`` and ``/access/api/…``. Shapes follow
the JFrog REST API documentation (jfrog.com/help/r/jfrog-rest-apis):

* repositories: https://jfrog.com/help/r/jfrog-rest-apis/get-repositories (one whole array)
* users: https://jfrog.com/help/r/jfrog-rest-apis/get-users-list (Access v2, ``limit``/``cursor``) and the user
  details with ``admin``, ``groups``, ``lastLoggedIn`` of the Security Configuration JSON
  (https://www.jfrog.com/confluence/display/JFROG/Security+Configuration+JSON)
* groups: https://jfrog.com/help/r/jfrog-rest-apis/get-a-list-of-groups (``limit``/``cursor``),
  https://jfrog.com/help/r/jfrog-rest-apis/get-group-details, and
  https://jfrog.com/help/r/jfrog-rest-apis/add-or-remove-a-group-member (``PATCH …/members``)
* permission targets v2: https://www.jfrog.com/confluence/display/JFROG/Artifactory+REST+API+V2 (list, details,
  ``PUT`` to replace)
* access tokens: https://jfrog.com/help/r/jfrog-rest-apis/get-tokens and
  https://jfrog.com/help/r/jfrog-rest-apis/revoke-token-by-id (200, or 204 when already revoked)

Artifactory behaviours reproduced because they break naive connectors:
* Only the Access v2 user and group lists are paginated, by an opaque ``cursor`` that is absent on the last
  page; every other list is one array. ``max_page_size`` caps ``limit`` so tests cross pages cheaply.
* With ``security.api.plus.insteadof.space`` (the default) a ``+`` in a user or permission-target path means a
  space; the simulator falls back to that reading when no name matches literally.
* Empty exclude patterns are sent as ``[""]``; empty ``users``/``groups`` action maps are left out.
* A ``PUT`` of a permission target replaces it whole: a section left out is gone.
* Errors are ``{"errors": [{"status"|"code", "message"}]}``; non-admin tokens get 403 on security lists and
  see only their own access tokens. Artifactory sends no ETags on these JSON APIs.
* Token secrets are never part of any answer (they are shown once, at creation, which is not simulated).

Out-of-process users steer it over HTTP: the shared ``/_simulator/*`` endpoints (``server.py``),
``POST /_simulator/mutate`` (``{"fraction": 0.01, "seed": 2}`` or ``{"action": "remove_member", "args": {…}}``)
and ``GET /_simulator/info`` (sizes and ``rest_lower_bound``). The data model is in ``artifactory_org.py``,
its JSON forms in ``artifactory_render.py``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fnmatch
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from .artifactory_org import ArtifactoryInstance, Change, InstanceFacts
from .artifactory_render import parse_permission, render_permission, render_token, render_user
from .server import HTTPError, Request, Response, Simulator, SlidingWindow, write_secret_file

__all__ = [
    "ArtifactoryInstance",
    "ArtifactorySimulator",
    "Change",
    "Credential",
    "InstanceFacts",
    "add_arguments",
    "build",
    "generate_token",
]

ART = "/artifactory/api"
ACCESS = "/access/api"
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class Credential:
    """An access token the simulator accepts: whose it is and whether that user is an administrator."""

    user: str
    admin: bool = True


def generate_token() -> str:
    """Looks like a reference token (64 characters); never an identity a response reveals."""
    alphabet = string.ascii_letters + string.digits
    return "cmVmdGtuOjAxOjE3" + "".join(secrets.choice(alphabet) for _ in range(48))


def _errors(status: int, message: str, *, access: bool = False) -> Response:
    """Artifactory answers {"errors":[{"status",…}]}, the Access service {"errors":[{"code",…}]}."""
    key, value = ("code", HTTPStatus(status).name) if access else ("status", status)
    return Response(status, {"errors": [{key: value, "message": message}]})


def _fail(status: int, message: str, *, access: bool = False) -> HTTPError:
    return HTTPError(_errors(status, message, access=access))


@dataclass
class _Hook:
    method: str
    path: str
    action: Callable[[ArtifactoryInstance], Any]
    on: int = 1
    seen: int = 0
    done: bool = False


class ArtifactorySimulator(Simulator):
    """Serves ``instance`` like a JFrog Platform host.

    ``tokens`` maps bearer token strings to :class:`Credential`; by default one admin token for ``admin`` is
    generated (``.token``). ``max_page_size`` caps the Access v2 ``limit``; ``rate_limit`` (requests per
    minute per token, None: unlimited, as self-hosted Artifactory) answers 429 with ``Retry-After`` like
    JFrog SaaS; ``max_concurrent`` requests in flight per token.
    """

    server_header = "Artifactory/7.104.5"

    def __init__(
        self,
        instance: ArtifactoryInstance,
        *,
        tokens: Mapping[str, Credential] | None = None,
        clock=time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        max_page_size: int | None = None,
        rate_limit: int | None = None,
        max_concurrent: int | None = None,
    ):
        super().__init__(host=host, port=port, clock=clock, latency=latency, max_concurrent=max_concurrent)
        self.instance = instance
        self.tokens: dict[str, Credential] = dict(tokens) if tokens else {generate_token(): Credential("admin")}
        self.max_page_size = max_page_size
        self.rate_limit = rate_limit
        self.window = SlidingWindow(clock)
        self.lock = threading.RLock()  # guards ``instance`` against concurrent requests and HTTP mutations
        self._hooks: list[_Hook] = []
        self._add_routes()
        self.control.add("POST", "/_simulator/mutate", self._control_mutate)
        self.control.add("GET", "/_simulator/info", self._control_info)

    @property
    def token(self) -> str:
        return next(iter(self.tokens))

    def add_token(self, value: str, credential: Credential) -> str:
        self.tokens[value] = credential
        return value

    def after(self, method: str, path: str, action: Callable[[ArtifactoryInstance], Any], *, on: int = 1) -> None:
        """Run ``action(instance)`` once, right after answering the ``on``-th ``method`` request matching ``path``
        (a shell pattern): how tests make a change land between two reads of a connector."""
        self._hooks.append(_Hook(method.upper(), path, action, on))

    def reset_counters(self) -> None:
        super().reset_counters()
        self.window.clear()

    def describe(self) -> list[str]:
        inst = self.instance
        summary = (
            f"Artifactory {inst.version}: {len(inst.users)} users, {len(inst.groups)} groups, "
            f"{len(inst.repositories)} repositories, {len(inst.permissions)} permission targets, "
            f"{len(inst.tokens)} access tokens"
        )
        return [summary, *self.notes]

    def rest_lower_bound(self) -> int:
        page = min(DEFAULT_LIMIT, self.max_page_size or DEFAULT_LIMIT)
        with self.lock:
            return self.instance.rest_lower_bound(page)

    # -- request pipeline

    def _credential(self, request: Request) -> Credential | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return self.tokens.get(value.strip())

    def client_key(self, request: Request) -> str | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return value.strip() or None

    def handle(self, request: Request) -> Response:
        access = request.path.startswith(ACCESS)
        matched = self.router.match(request.method, request.path)
        if matched is not None:
            request.endpoint = matched[0].name
        credential = self._credential(request)
        if credential is None:
            return _errors(401, "Bad credentials", access=access)
        if self.rate_limit is not None:
            key = self.client_key(request)
            wait = self.window.retry_after(key, self.rate_limit, 1)
            if wait:
                response = _errors(429, "Too Many Requests", access=access)
                response.headers["Retry-After"] = str(wait)
                return response
            self.window.add(key, 1)
        if matched is None:
            return _errors(404, "Not Found", access=access)
        route, params = matched
        if route.meta.get("admin") and not credential.admin:
            return _errors(403, "Forbidden", access=access)
        with self.lock:
            try:
                response = route.handler(request, credential, **params)
            except HTTPError as error:
                response = error.response
            self._run_hooks(request)
        return response

    def _run_hooks(self, request: Request) -> None:
        for hook in self._hooks:
            if hook.done or hook.method != request.method or not fnmatch.fnmatchcase(request.path, hook.path):
                continue
            hook.seen += 1
            if hook.seen == hook.on:
                hook.done = True
                hook.action(self.instance)

    def busy_response(self, request: Request) -> Response:
        response = _errors(429, "Too Many Requests", access=request.path.startswith(ACCESS))
        response.headers["Retry-After"] = "1"
        return response

    def error_response(self, request: Request, status: int) -> Response:
        return _errors(status, HTTPStatus(status).phrase, access=request.path.startswith(ACCESS))

    def secondary_limit_response(self, request: Request, retry_after: int) -> Response:
        response = _errors(429, "Too Many Requests", access=request.path.startswith(ACCESS))
        response.headers["Retry-After"] = str(retry_after)
        return response

    # -- helpers for handlers

    def _lookup(self, names: Mapping[str, Any], name: str, what: str, *, access: bool = False) -> Any:
        """By name; then, as with security.api.plus.insteadof.space, with every '+' read as a space."""
        if name in names:
            return names[name]
        if not access and "+" in name and name.replace("+", " ") in names:
            return names[name.replace("+", " ")]
        raise _fail(404, f"{what} '{name}' not found", access=access)

    def _cursor_page(self, request: Request, names: list[str]) -> tuple[list[str], str | None]:
        """Keyset pagination over sorted names: the cursor encodes the last name of the page."""
        raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
        try:
            limit = int(raw_limit)
        except ValueError:
            raise _fail(400, f"invalid limit {raw_limit!r}", access=True) from None
        if limit < 1:
            raise _fail(400, "limit must be at least 1", access=True)
        if self.max_page_size:
            limit = min(limit, self.max_page_size)
        ordered = sorted(names)
        cursor = request.query.get("cursor")
        if cursor:
            try:
                after = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _fail(400, "invalid cursor", access=True) from None
            ordered = [name for name in ordered if name > after]
        page = ordered[:limit]
        more = len(ordered) > limit
        return page, base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None

    # -- routes

    def _add_routes(self) -> None:
        add = self.router.add
        add("GET", f"{ART}/system/version", self._version)
        add("GET", f"{ART}/repositories", self._repositories)
        add("GET", f"{ART}/security/users/{{name}}", self._user, admin=True)
        add("GET", f"{ART}/v2/security/permissions", self._permissions, admin=True)
        add("GET", f"{ART}/v2/security/permissions/{{name}}", self._permission, admin=True)
        add("PUT", f"{ART}/v2/security/permissions/{{name}}", self._put_permission, admin=True)
        add("GET", f"{ACCESS}/v2/users", self._users, admin=True)
        add("GET", f"{ACCESS}/v2/groups", self._groups, admin=True)
        add("GET", f"{ACCESS}/v2/groups/{{name}}", self._group, admin=True)
        add("PATCH", f"{ACCESS}/v2/groups/{{name}}/members", self._patch_members, admin=True)
        add("GET", f"{ACCESS}/v1/tokens", self._tokens)
        add("DELETE", f"{ACCESS}/v1/tokens/{{token_id}}", self._revoke_token)

    def _version(self, request: Request, credential: Credential) -> Response:
        version = self.instance.version
        return Response(200, {"version": version, "revision": "78900900", "addons": [], "license": "simulated"})

    def _repositories(self, request: Request, credential: Credential) -> Response:
        root = request.root_url
        body = [
            {
                "key": repo.key,
                "type": repo.rclass.upper(),
                "description": repo.description,
                "url": f"{root}/artifactory/{repo.key}",
                "packageType": repo.package_type.capitalize(),
            }
            for repo in self.instance.repositories.values()
        ]
        return Response(200, body)

    def _users(self, request: Request, credential: Credential) -> Response:
        users = self.instance.users
        page, cursor = self._cursor_page(request, list(users))
        body: dict[str, Any] = {
            "users": [
                {
                    "username": name,
                    "uri": f"{request.root_url}{ACCESS}/v2/users/{name}",
                    "realm": users[name].realm,
                    "status": users[name].status,
                }
                for name in page
            ]
        }
        if cursor:
            body["cursor"] = cursor
        return Response(200, body)

    def _user(self, request: Request, credential: Credential, name: str) -> Response:
        user = self._lookup(self.instance.users, name, "User")
        return Response(200, render_user(user, self.instance.groups_of(user.name)))

    def _groups(self, request: Request, credential: Credential) -> Response:
        page, cursor = self._cursor_page(request, list(self.instance.groups))
        body: dict[str, Any] = {
            "groups": [{"group_name": name, "uri": f"{request.root_url}{ACCESS}/v2/groups/{name}"} for name in page]
        }
        if cursor:
            body["cursor"] = cursor
        return Response(200, body)

    def _group(self, request: Request, credential: Credential, name: str) -> Response:
        group = self._lookup(self.instance.groups, name, "Group", access=True)
        return Response(
            200,
            {
                "name": group.name,
                "description": group.description,
                "auto_join": group.auto_join,
                "admin_privileges": group.admin_privileges,
                "realm": group.realm,
                "realm_attributes": "",
                "external_id": group.external_id,
                "members": list(group.members),
            },
        )

    def _patch_members(self, request: Request, credential: Credential, name: str) -> Response:
        group = self._lookup(self.instance.groups, name, "Group", access=True)
        body = request.json()
        add, remove = body.get("add"), body.get("remove")
        if not add and not remove:
            raise _fail(400, "at least one of add or remove is required", access=True)
        add, remove = list(add or []), list(remove or [])
        if set(add) & set(remove):
            raise _fail(400, "the same user appears in add and remove", access=True)
        unknown = [user for user in add + remove if user not in self.instance.users]
        if unknown:
            raise _fail(400, f"users not found: {', '.join(unknown)}", access=True)
        for user in add:
            self.instance.add_member(group.name, user)
        for user in remove:
            self.instance.remove_member(group.name, user)
        return Response(200, {"members": list(group.members)})

    def _permissions(self, request: Request, credential: Credential) -> Response:
        root = f"{request.root_url}{ART}/v2/security/permissions"
        return Response(200, [{"name": name, "uri": f"{root}/{name}"} for name in self.instance.permissions])

    def _permission(self, request: Request, credential: Credential, name: str) -> Response:
        target = self._lookup(self.instance.permissions, name, "Permission target")
        return Response(200, render_permission(target))

    def _put_permission(self, request: Request, credential: Credential, name: str) -> Response:
        body = request.json()
        existing = None
        try:
            existing = self._lookup(self.instance.permissions, name, "Permission target")
        except HTTPError:
            pass
        target_name = existing.name if existing else name
        if not isinstance(body, dict) or body.get("name", target_name) != target_name:
            raise _fail(400, "the permission target name in the body must match the path")
        try:
            target = parse_permission(target_name, body, self.instance)
        except ValueError as error:
            raise _fail(400, str(error)) from None
        self.instance.permissions[target_name] = target
        return Response(200 if existing else 201)

    def _tokens(self, request: Request, credential: Credential) -> Response:
        query = request.query
        chosen = []
        for token in self.instance.tokens.values():
            username = token.subject.rsplit("/users/", 1)[-1]
            if not credential.admin and username != credential.user:
                continue  # a non-admin sees only the tokens of its own user
            if query.get("token_id") and token.token_id != query["token_id"]:
                continue
            if query.get("username") and username != query["username"]:
                continue
            description = query.get("description")
            if description and not fnmatch.fnmatchcase(token.description, description):
                continue
            chosen.append(render_token(token, self.instance.service_id))
        return Response(200, {"tokens": chosen})

    def _revoke_token(self, request: Request, credential: Credential, token_id: str) -> Response:
        inst = self.instance
        token = inst.tokens.get(token_id)
        if token is None:
            if token_id in inst.revoked_tokens:
                return Response(204)
            raise _fail(404, "Token not found", access=True)
        if not credential.admin and not token.subject.endswith(f"/users/{credential.user}"):
            raise _fail(403, "The authenticated principal has no permissions to revoke this token", access=True)
        inst.revoke_token(token_id)
        return Response(200, raw=b"Token revoked", headers={"Content-Type": "text/plain"})

    # -- control endpoints

    _MUTATIONS = (
        "add_user",
        "remove_user",
        "set_admin",
        "add_group",
        "remove_group",
        "add_member",
        "remove_member",
        "add_repository",
        "remove_repository",
        "add_permission",
        "remove_permission",
        "set_actions",
        "add_token",
        "revoke_token",
    )

    @property
    def model(self) -> ArtifactoryInstance:
        return self.instance

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            inst = self.instance
            counts = {
                "users": len(inst.users),
                "groups": len(inst.groups),
                "repositories": len(inst.repositories),
                "permission_targets": len(inst.permissions),
                "tokens": len(inst.tokens),
                "grants": len(inst.grants()),
            }
        return Response(200, {"version": inst.version, "counts": counts, "rest_lower_bound": self.rest_lower_bound()})


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators artifactory …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--repositories", type=int, default=30)
    parser.add_argument("--permission-targets", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--token", help="admin access token to accept (default: generated)")
    parser.add_argument("--token-file", type=Path, help="write the token to this file (mode 600)")
    parser.add_argument("--max-page-size", type=int, default=0, help="cap of the Access v2 limit; 0: none")
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per minute per token; 0: unlimited")
    parser.add_argument("--max-concurrent", type=int, default=0, help="requests in flight per token; 0: unlimited")
    parser.add_argument("--latency-ms", type=float, default=0.0)


def build(args: argparse.Namespace) -> ArtifactorySimulator:
    instance = ArtifactoryInstance.generate(
        args.seed, args.users, args.groups, args.repositories, args.permission_targets, args.tokens
    )
    token = args.token or generate_token()
    if args.token_file:
        write_secret_file(args.token_file, token)
    simulator = ArtifactorySimulator(
        instance,
        tokens={token: Credential("admin")},
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        max_page_size=args.max_page_size or None,
        rate_limit=args.rate_limit or None,
        max_concurrent=args.max_concurrent or None,
    )
    simulator.notes.append(f"token written to {args.token_file}" if args.token_file else f"token: {token}")
    return simulator
