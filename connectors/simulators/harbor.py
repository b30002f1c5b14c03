"""Harbor API v2.0 simulator: a generated (or hand-made) Harbor instance served over real HTTP.

Shapes and status codes follow goharbor/harbor ``api/v2.0/swagger.yaml`` (a copy is in
``/work/shared/reference/harbor/``), base path ``/api/v2.0``, Basic authentication (local user and
password, an OIDC user's CLI secret, or a robot's full name and secret).

Harbor behaviours reproduced because they break naive connectors:
* Pagination is ``page``/``page_size`` (default 10; above 100 is refused with 422), ``X-Total-Count`` and a
  ``Link`` header whose URLs are relative, joined by `` , ``, with an *unescaped* query string
  (``src/server/v2.0/handler/base.go`` ``Links``), so a ``q`` filter's commas appear raw in the link.
* ``GET /robots`` without ``q`` lists system-level robots only; project robots need
  ``q=Level=project,ProjectID=N`` (400 "must with project ID when to query project robots" without it).
* A path's ``{project_name_or_id}`` is an id when it is all digits, unless ``X-Is-Resource-Name: true``:
  a project named ``42`` is reached by name only with that header.
* Without credentials the caller is anonymous and ``/projects`` lists the public projects only (200, not
  401); a user who is not a system administrator sees their own projects plus the public ones, and 403
  on ``/users``, ``/usergroups`` and ``/configurations``.
* Every answer sets a ``sid`` session cookie. A write that sends it back without the matching
  ``X-Harbor-CSRF-Token`` is refused with 403 (``src/server/middleware/csrf/csrf.go``: the CSRF check is
  skipped for ``/api/`` only when no session is carried), so API clients must not keep cookies.
* Robot updates (``PUT /robots/{id}``) replace the whole object: a missing ``disable`` re-enables the
  robot, a missing ``duration`` resets the expiry to the default 30 days, the name and level must be
  unchanged, a project robot has exactly one permission; legacy (v1, ``editable: false``) robots
  silently ignore permission changes (``src/server/v2.0/handler/robot.go``).
* ``PUT /users/{id}/sysadmin`` answers 200 whatever the previous flag; absent ids answer 404, as do
  absent members and robots on ``DELETE``.
* Lists never carry robot secrets (``model.Robot.ToSwagger``), but ``/users/current`` shows an OIDC
  user their own CLI secret (``oidc_user_meta.secret``): clients must not store that body.

Out-of-process users steer it like the GitHub simulator: ``/_simulator/faults``, ``/stats``, ``/requests``,
``/reset`` (``server.py``), ``POST /_simulator/mutate`` (``{"fraction": 0.01, "seed": 2}`` or
``{"action": "remove_member", "args": {...}}``) and ``GET /_simulator/info`` (sizes and ``rest_lower_bound``).
The data model is in ``harbor_org.py``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from .harbor_org import (
    DEFAULT_ROBOT_DAYS,
    ROLES,
    Access,
    Change,
    Group,
    HarborFacts,
    HarborOrg,
    Member,
    Project,
    Robot,
    RobotPermission,
    User,
)
from .server import HTTPError, Request, Response, Simulator, write_secret_file

__all__ = ["Change", "HarborFacts", "HarborOrg", "HarborSimulator", "add_arguments", "build"]

API_PREFIX = "/api/v2.0"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    412: "PRECONDITION",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}

# What project roles may do, beyond projectAdmin who may do everything (src/common/rbac/project/rbac_role.go,
# reduced to the resources this simulator serves).
_READ_MEMBERS = {("member", "list"), ("member", "read"), ("project", "read"), ("repository", "pull")}
ROLE_POLICIES: dict[int, set[tuple[str, str]]] = {
    4: _READ_MEMBERS | {("robot", "list"), ("robot", "read"), ("repository", "push"), ("repository", "delete")},
    2: _READ_MEMBERS | {("repository", "push")},
    3: set(_READ_MEMBERS),
    5: {("project", "read"), ("repository", "pull")},
}
# What /users/current/permissions?scope=/system lists for a system administrator.
SYSADMIN_POLICIES = [
    (resource, action)
    for resource in ("project", "user", "user-group", "robot", "configuration", "registry", "replication")
    for action in ("list", "read", "create", "update", "delete")
]


def _error(status: int, message: str) -> Response:
    return Response(status, {"errors": [{"code": ERROR_CODES.get(status, "UNKNOWN"), "message": message}]})


def _fail(status: int, message: str) -> HTTPError:
    return HTTPError(_error(status, message))


@dataclass(frozen=True)
class Caller:
    """Who a request runs as: a local user, a robot, or nobody (anonymous)."""

    user: User | None = None
    robot: Robot | None = None

    @property
    def anonymous(self) -> bool:
        return self.user is None and self.robot is None

    @property
    def sysadmin(self) -> bool:
        return self.user is not None and self.user.sysadmin


class HarborSimulator(Simulator):
    """Serves ``org`` like a Harbor core under ``/api/v2.0``.

    Users log in with their ``password`` (the generated instance's ``admin`` has Harbor's default
    ``Harbor12345`` unless ``build`` sets another), OIDC users also with their ``cli_secret``, robots with
    their full name and ``secret``. ``leak_robot_secrets`` adds each robot's secret to list answers, which
    Harbor does not do: it exists to prove that a client drops such a field. ``session_cookies`` switches
    the ``sid`` cookie and its CSRF check off and on.
    """

    prefixes = (API_PREFIX,)
    server_header = "harbor"

    def __init__(
        self,
        org: HarborOrg,
        *,
        clock=time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        max_concurrent: int | None = None,
        session_cookies: bool = True,
        leak_robot_secrets: bool = False,
    ):
        super().__init__(host=host, port=port, clock=clock, latency=latency, max_concurrent=max_concurrent)
        self.org = org
        self.session_cookies = session_cookies
        self.leak_robot_secrets = leak_robot_secrets
        self.lock = threading.RLock()  # guards ``org`` against concurrent requests and HTTP mutations
        self._csrf_key = secrets.token_bytes(32)
        self._id_lock = threading.Lock()
        self._request_ids = 0
        self._add_routes()
        self.control.add("POST", "/_simulator/mutate", self._control_mutate)
        self.control.add("GET", "/_simulator/info", self._control_info)

    @property
    def api_url(self) -> str:
        return f"{self.url}{API_PREFIX}"

    def describe(self) -> list[str]:
        org = self.org
        summary = (
            f"Harbor ({org.auth_mode}): {len(org.projects)} projects, {len(org.users)} users, "
            f"{len(org.groups)} groups, {len(org.robots)} robots"
        )
        return [summary, *self.notes]

    # -- request pipeline

    def handle(self, request: Request) -> Response:
        matched = self.router.match(request.method, request.path)
        if matched is not None:
            request.endpoint = matched[0].name
        sid = _cookie(request.headers.get("cookie", ""), "sid")
        caller = self._authenticate(request)
        if caller is None:
            response = _error(401, "unauthorized")
        elif sid and request.method in UNSAFE_METHODS and not self._csrf_ok(request, sid):
            reason = "CSRF token invalid" if request.headers.get("x-harbor-csrf-token") else "CSRF token not found"
            response = _error(403, f"{reason} in request")
        elif matched is None:
            response = _error(404, f"{request.method} {API_PREFIX}{request.path} not found")
        else:
            route, params = matched
            with self.lock:
                try:
                    response = route.handler(request, caller, **params)
                except HTTPError as error:
                    response = error.response
        return self._finish(request, response, sid)

    def _finish(self, request: Request, response: Response, sid: str | None) -> Response:
        response.headers["X-Request-Id"] = request.headers.get("x-request-id") or self._next_request_id()
        if not self.session_cookies:
            return response
        if sid:
            response.headers["X-Harbor-CSRF-Token"] = self._csrf_token(sid)
        else:
            response.headers["Set-Cookie"] = f"sid={secrets.token_hex(16)}; Path=/; HttpOnly"
        return response

    def _csrf_token(self, sid: str) -> str:
        return hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, request: Request, sid: str) -> bool:
        if not self.session_cookies:
            return True
        return hmac.compare_digest(request.headers.get("x-harbor-csrf-token", ""), self._csrf_token(sid))

    def _next_request_id(self) -> str:
        with self._id_lock:
            self._request_ids += 1
            number = self._request_ids
        return f"{number:08x}-{number * 7 % 65536:04x}-4{number % 4096:03x}-a000-{int(self.clock()):012x}"

    def _authenticate(self, request: Request) -> Caller | None:
        """The caller, an anonymous caller without credentials, or None for credentials that do not log in."""
        header = request.headers.get("authorization")
        if not header:
            return Caller()
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        with self.lock:
            org = self.org
            if username.startswith(org.robot_prefix):
                robot = next((r for r in org.robots.values() if org.robot_name(r) == username), None)
                usable = robot is not None and robot.secret and not robot.disabled and not self._expired(robot)
                if usable and hmac.compare_digest(robot.secret, password):
                    return Caller(robot=robot)
                return None
            user_id = org._user_by_name.get(username)
            user = org.users.get(user_id) if user_id is not None else None
            if user is None:
                return None
            accepted = [user.password]
            if org.auth_mode == "oidc_auth":
                accepted.append(user.cli_secret)
            if any(candidate and hmac.compare_digest(candidate, password) for candidate in accepted):
                return Caller(user=user)
        return None

    def _expired(self, robot: Robot) -> bool:
        return robot.expires_at != -1 and robot.expires_at <= self.clock()

    def client_key(self, request: Request) -> str | None:
        return request.headers.get("authorization") or "anonymous"

    def error_response(self, request: Request, status: int) -> Response:
        """Injected errors carry Harbor's error bodies."""
        message = "internal server error" if status >= 500 else HTTPStatus(status).phrase.lower()
        return self._finish(request, _error(status, message), _cookie(request.headers.get("cookie", ""), "sid"))

    def secondary_limit_response(self, request: Request, retry_after: int) -> Response:
        """Harbor has no documented rate limit; a proxy in front of it answers 429 with Retry-After."""
        response = _error(429, "too many requests")
        response.headers["Retry-After"] = str(retry_after)
        return response

    # -- permissions

    def _system_can(self, caller: Caller, resource: str, action: str) -> bool:
        if caller.sysadmin:
            return True
        robot = caller.robot
        return (
            robot is not None
            and robot.level == "system"
            and _allows(robot.permissions, "system", "/", resource, action)
        )

    def _project_can(self, caller: Caller, project: Project, resource: str, action: str) -> bool:
        if caller.sysadmin:
            return True
        if caller.user is not None:
            role = self._role_of(caller.user, project)
            if role == 1:
                return True
            return role is not None and (resource, action) in ROLE_POLICIES[role]
        if caller.robot is not None:
            return _allows(caller.robot.permissions, "project", project.name, resource, action)
        return False

    def _role_of(self, user: User, project: Project) -> int | None:
        roles = [m.role_id for m in project.members.values() if m.entity_type == "u" and m.entity_id == user.id]
        # Harbor's role ids do not order by power; a user has one direct membership anyway.
        return min(roles) if roles else None

    def _require_system(self, caller: Caller, resource: str, action: str) -> None:
        if not self._system_can(caller, resource, action):
            raise _fail(401, "unauthorized") if caller.anonymous else _fail(403, "forbidden")

    def _require_project(self, caller: Caller, project: Project, resource: str, action: str) -> None:
        readable = project.public and (resource, action) in (("project", "read"), ("repository", "pull"))
        if not readable and not self._project_can(caller, project, resource, action):
            raise _fail(401, "unauthorized") if caller.anonymous else _fail(403, "forbidden")

    def _visible(self, caller: Caller, project: Project) -> bool:
        if project.public or self._system_can(caller, "project", "list"):
            return True
        if caller.user is not None:
            return self._role_of(caller.user, project) is not None
        if caller.robot is not None:
            return any(p.kind == "project" and p.namespace in (project.name, "*") for p in caller.robot.permissions)
        return False

    # -- helpers for handlers

    def _project(self, request: Request, name_or_id: str) -> Project:
        org = self.org
        by_name = request.headers.get("x-is-resource-name", "").lower() == "true"
        if not by_name and name_or_id.isdigit():
            project = org.projects.get(int(name_or_id))
        else:
            project_id = org._project_by_name.get(name_or_id)
            project = org.projects.get(project_id) if project_id is not None else None
        if project is None:
            raise _fail(404, f"project {name_or_id} not found")
        return project

    def _member(self, project: Project, mid: str) -> Member:
        member = project.members.get(int(mid)) if mid.isdigit() else None
        if member is None:
            raise _fail(404, f"project member {mid} not found in project {project.id}")
        return member

    def _robot(self, robot_id: str) -> Robot:
        robot = self.org.robots.get(int(robot_id)) if robot_id.isdigit() else None
        if robot is None:
            raise _fail(404, f"robot {robot_id} not found")
        return robot

    def _require_robot(self, caller: Caller, robot: Robot, action: str) -> None:
        if robot.level == "system":
            self._require_system(caller, "robot", action)
        else:
            self._require_project(caller, self.org.projects[robot.project_id], "robot", action)

    def _list(self, request: Request, items: list[Any], render: Callable[[Any], dict]) -> Response:
        """One page the way Harbor pages: relative, unescaped Link URLs joined by " , ", and X-Total-Count."""
        query = request.query
        size_text = query.get("page_size")
        if size_text is not None and not _is_int(size_text):
            raise _fail(422, f"page_size in query must be of type int64: {size_text!r}")
        size = int(size_text) if size_text is not None else DEFAULT_PAGE_SIZE
        if size > MAX_PAGE_SIZE:
            raise _fail(
                422, f"validation failure list:\npage_size in query should be less than or equal to {MAX_PAGE_SIZE}"
            )
        size = size if size > 0 else DEFAULT_PAGE_SIZE
        number = int(query["page"]) if _is_int(query.get("page")) and int(query["page"]) > 0 else 1
        total = len(items)
        response = Response(200, [render(item) for item in items[(number - 1) * size : number * size]])
        response.headers["X-Total-Count"] = str(total)

        def link(page: int, rel: str) -> str:
            values: dict[str, list[str]] = {}
            for key, value in request.query_pairs:
                values.setdefault(key, []).append(value)
            values["page"], values["page_size"] = [str(page)], [str(size)]
            raw = "&".join(f"{key}={value}" for key in sorted(values) for value in values[key])
            return f'<{request.prefix}{request.path}?{raw}>; rel="{rel}"'

        links = []
        if number > 1 and (number - 1) * size < total:
            links.append(link(number - 1, "prev"))
        if size * number < total:
            links.append(link(number + 1, "next"))
        if links:
            response.headers["Link"] = " , ".join(links)
        return response

    # -- rendering

    def _render_project(self, project: Project, caller: Caller) -> dict[str, Any]:
        owner = self.org.users.get(project.owner_id)
        role = self._role_of(caller.user, project) if caller.user is not None else None
        body = {
            "project_id": project.id,
            "owner_id": project.owner_id,
            "name": project.name,
            "creation_time": project.created_at,
            "update_time": project.created_at,
            "deleted": False,
            "owner_name": owner.username if owner else "",
            "togglable": True,
            "current_user_role_id": role or 0,
            "current_user_role_ids": [role] if role else [],
            "repo_count": project.repo_count,
            "metadata": {
                "public": "true" if project.public else "false",
                "auto_scan": "false",
                "prevent_vul": "false",
                "severity": "low",
                "reuse_sys_cve_allowlist": "true",
            },
            "cve_allowlist": {"id": project.id, "project_id": project.id, "items": [], "expires_at": None},
        }
        if project.registry_id is not None:
            body["registry_id"] = project.registry_id
        return body

    def _render_member(self, member: Member) -> dict[str, Any]:
        return {
            "id": member.id,
            "project_id": member.project_id,
            "entity_name": self.org.entity_name(member),
            "role_name": self.org.role_name(member.role_id),
            "role_id": member.role_id,
            "entity_id": member.entity_id,
            "entity_type": member.entity_type,
        }

    def _render_user(self, user: User, *, own: bool = False) -> dict[str, Any]:
        body = {
            "user_id": user.id,
            "username": user.username,
            "email": user.email,
            "realname": user.realname,
            "comment": user.comment,
            "sysadmin_flag": user.sysadmin,
            "admin_role_in_auth": False,
            "creation_time": user.created_at,
            "update_time": user.created_at,
        }
        if own and self.org.auth_mode == "oidc_auth" and user.cli_secret:
            body["oidc_user_meta"] = {
                "id": user.id,
                "user_id": user.id,
                "subiss": f"{user.username}https://idp.example.com",
                "secret": user.cli_secret,
                "creation_time": user.created_at,
                "update_time": user.created_at,
            }
        return body

    def _render_group(self, group: Group) -> dict[str, Any]:
        return {"id": group.id, "group_name": group.name, "group_type": group.type, "ldap_group_dn": group.ldap_dn}

    def _render_robot(self, robot: Robot, *, listed: bool = False) -> dict[str, Any]:
        body = {
            "id": robot.id,
            "name": self.org.robot_name(robot),
            "description": robot.description,
            "level": robot.level,
            "duration": robot.duration,
            "editable": robot.editable,
            "disable": robot.disabled,
            "expires_at": robot.expires_at,
            "permissions": [
                {
                    "kind": permission.kind,
                    "namespace": permission.namespace,
                    "access": [asdict(access) for access in permission.access],
                }
                for permission in robot.permissions
            ],
            "creator_type": robot.creator_type,
            "creator_ref": robot.creator_ref,
            "creation_time": robot.created_at,
            "update_time": robot.updated_at,
        }
        if listed and self.leak_robot_secrets and robot.secret:
            body["secret"] = robot.secret
        return body

    # -- routes

    def _add_routes(self) -> None:
        project = "/projects/{project_name_or_id}"
        table = [
            ("GET", "/systeminfo", self._get_systeminfo),
            ("GET", "/users/current", self._get_current_user),
            ("GET", "/users/current/permissions", self._get_current_permissions),
            ("GET", "/users", self._list_users),
            ("GET", "/users/{user_id}", self._get_user),
            ("PUT", "/users/{user_id}/sysadmin", self._set_sysadmin),
            ("GET", "/usergroups", self._list_groups),
            ("GET", "/configurations", self._get_configurations),
            ("GET", "/projects", self._list_projects),
            ("GET", project, self._get_project),
            ("PUT", project, self._update_project),
            ("GET", f"{project}/members", self._list_members),
            ("GET", f"{project}/members/{{mid}}", self._get_member),
            ("PUT", f"{project}/members/{{mid}}", self._update_member),
            ("DELETE", f"{project}/members/{{mid}}", self._delete_member),
            ("GET", "/robots", self._list_robots),
            ("GET", "/robots/{robot_id}", self._get_robot),
            ("PUT", "/robots/{robot_id}", self._update_robot),
            ("PATCH", "/robots/{robot_id}", self._refresh_robot_secret),
            ("DELETE", "/robots/{robot_id}", self._delete_robot),
        ]
        for method, pattern, handler in table:
            self.router.add(method, pattern, handler)

    # -- read handlers

    def _get_systeminfo(self, request: Request, caller: Caller) -> Response:
        body = {"auth_mode": self.org.auth_mode, "primary_auth_mode": False, "self_registration": False}
        if not caller.anonymous:
            body |= {"harbor_version": self.org.version, "has_ca_root": False, "registry_url": request.root_url}
        return Response(200, body)

    def _get_current_user(self, request: Request, caller: Caller) -> Response:
        if caller.anonymous:
            raise _fail(401, "unauthorized")
        if caller.user is None:
            raise _fail(412, "the current user is a robot account, which has no user profile")
        return Response(200, self._render_user(caller.user, own=True))

    def _get_current_permissions(self, request: Request, caller: Caller) -> Response:
        scope = request.query.get("scope", "/system")
        relative = request.query.get("relative", "false").lower() == "true"
        if caller.anonymous:
            raise _fail(401, "unauthorized")
        policies: list[tuple[str, str]] = []
        if scope == "/system":
            if caller.sysadmin:
                policies = list(SYSADMIN_POLICIES)
            elif caller.robot is not None and caller.robot.level == "system":
                policies = [
                    (a.resource, a.action)
                    for p in caller.robot.permissions
                    if p.kind == "system"
                    for a in p.access
                    if a.effect == "allow"
                ]
        prefix = "" if relative else f"{scope}/"
        return Response(200, [{"resource": f"{prefix}{resource}", "action": action} for resource, action in policies])

    def _list_users(self, request: Request, caller: Caller) -> Response:
        self._require_system(caller, "user", "list")
        return self._list(request, list(self.org.users.values()), self._render_user)

    def _get_user(self, request: Request, caller: Caller, user_id: str) -> Response:
        user = self.org.users.get(int(user_id)) if user_id.isdigit() else None
        own = caller.user is not None and user is not None and caller.user.id == user.id
        if not own:
            self._require_system(caller, "user", "read")
        if user is None:
            raise _fail(404, f"user {user_id} not found")
        return Response(200, self._render_user(user, own=own))

    def _list_groups(self, request: Request, caller: Caller) -> Response:
        self._require_system(caller, "user-group", "list")
        groups = list(self.org.groups.values())
        if request.query.get("group_name"):
            groups = [g for g in groups if request.query["group_name"].lower() in g.name.lower()]
        if request.query.get("ldap_group_dn"):
            groups = [g for g in groups if g.ldap_dn.lower() == request.query["ldap_group_dn"].lower()]
        return self._list(request, groups, self._render_group)

    def _get_configurations(self, request: Request, caller: Caller) -> Response:
        self._require_system(caller, "configuration", "read")
        org = self.org

        def item(value: Any, editable: bool = True) -> dict[str, Any]:
            return {"value": value, "editable": editable}

        return Response(
            200,
            {
                "auth_mode": item(org.auth_mode, editable=False),
                "primary_auth_mode": item(False),
                "ldap_group_admin_dn": item(org.ldap_group_admin_dn),
                "oidc_admin_group": item(org.oidc_admin_group),
                "http_authproxy_admin_groups": item(org.http_authproxy_admin_groups),
                "http_authproxy_admin_usernames": item(org.http_authproxy_admin_usernames),
                "robot_name_prefix": item(org.robot_prefix),
                "robot_token_duration": item(DEFAULT_ROBOT_DAYS),
                "self_registration": item(False),
                "project_creation_restriction": item("adminonly"),
            },
        )

    def _list_projects(self, request: Request, caller: Caller) -> Response:
        query = request.query
        projects = [p for p in self.org.projects.values() if self._visible(caller, p)]
        if query.get("name"):
            projects = [p for p in projects if p.name == query["name"]]
        if query.get("public") in ("true", "false"):
            projects = [p for p in projects if p.public == (query["public"] == "true")]
        return self._list(request, projects, lambda p: self._render_project(p, caller))

    def _get_project(self, request: Request, caller: Caller, project_name_or_id: str) -> Response:
        project = self._project(request, project_name_or_id)
        self._require_project(caller, project, "project", "read")
        return Response(200, self._render_project(project, caller))

    def _list_members(self, request: Request, caller: Caller, project_name_or_id: str) -> Response:
        project = self._project(request, project_name_or_id)
        self._require_project(caller, project, "member", "list")
        members = list(project.members.values())
        wanted = request.query.get("entityname")
        if wanted:
            members = [m for m in members if wanted.lower() in self.org.entity_name(m).lower()]
        return self._list(request, members, self._render_member)

    def _get_member(self, request: Request, caller: Caller, project_name_or_id: str, mid: str) -> Response:
        project = self._project(request, project_name_or_id)
        self._require_project(caller, project, "member", "read")
        return Response(200, self._render_member(self._member(project, mid)))

    def _list_robots(self, request: Request, caller: Caller) -> Response:
        keywords = _query_keywords(request.query.get("q", ""))
        level = keywords.get("Level", "system")
        if level not in ("system", "project"):
            raise _fail(400, "bad request error level input")
        if level == "system":
            self._require_system(caller, "robot", "list")
            robots = self.org.system_robots()
        else:
            if "ProjectID" not in keywords:
                raise _fail(400, "must with project ID when to query project robots")
            if not _is_int(keywords["ProjectID"]):
                raise _fail(400, "Project ID must be int type.")
            project = self.org.projects.get(int(keywords["ProjectID"]))
            if project is None:
                if not caller.sysadmin:
                    raise _fail(403, "forbidden")
                robots = []
            else:
                self._require_project(caller, project, "robot", "list")
                robots = self.org.project_robots(project.id)
        return self._list(request, robots, lambda robot: self._render_robot(robot, listed=True))

    def _get_robot(self, request: Request, caller: Caller, robot_id: str) -> Response:
        robot = self._robot(robot_id)
        self._require_robot(caller, robot, "read")
        return Response(200, self._render_robot(robot))

    # -- write handlers (revocation)

    def _set_sysadmin(self, request: Request, caller: Caller, user_id: str) -> Response:
        self._require_system(caller, "user", "update")
        user = self.org.users.get(int(user_id)) if user_id.isdigit() else None
        if user is None:
            raise _fail(404, f"user {user_id} not found")
        flag = request.json().get("sysadmin_flag")
        if not isinstance(flag, bool):
            raise _fail(400, "sysadmin_flag must be a boolean")
        user.sysadmin = flag
        return Response(200)

    def _update_project(self, request: Request, caller: Caller, project_name_or_id: str) -> Response:
        project = self._project(request, project_name_or_id)
        self._require_project(caller, project, "project", "update")
        body = request.json()
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if isinstance(metadata, dict) and "public" in metadata:
            if metadata["public"] not in ("true", "false"):
                raise _fail(400, "invalid value of metadata public: must be true or false")
            project.public = metadata["public"] == "true"
        return Response(200)

    def _update_member(self, request: Request, caller: Caller, project_name_or_id: str, mid: str) -> Response:
        project = self._project(request, project_name_or_id)
        self._require_project(caller, project, "member", "update")
        member = self._member(project, mid)
        role = request.json().get("role_id")
        if role not in ROLES and role not in self.org.custom_roles:
            raise _fail(400, f"invalid role id {role!r}")
        member.role_id = role
        return Response(200)

    def _delete_member(self, request: Request, caller: Caller, project_name_or_id: str, mid: str) -> Response:
        project = self._project(request, project_name_or_id)
        self._require_project(caller, project, "member", "delete")
        del project.members[self._member(project, mid).id]
        return Response(200)

    def _update_robot(self, request: Request, caller: Caller, robot_id: str) -> Response:
        robot = self._robot(robot_id)
        body = request.json()
        if not isinstance(body, dict):
            raise _fail(400, "the request body must be a robot object")
        if not robot.editable:  # v1 robots: only disable and description change, permissions are ignored
            self._require_robot(caller, robot, "update")
            robot.disabled = bool(body.get("disable", False))
            robot.description = str(body.get("description") or "")
            return Response(200)
        duration = body.get("duration") or 0  # absent: Go's zero value
        if not isinstance(duration, int) or duration < -1:
            raise _fail(400, f"bad request error duration input: {duration}")
        level = body.get("level")
        if level not in ("system", "project"):
            raise _fail(400, f"bad request error level input: {level}")
        permissions = _permissions(body.get("permissions"))
        if level == "project" and len(permissions) > 1:
            raise _fail(400, "bad request permission")
        self._require_robot(caller, robot, "update")
        if level != robot.level or body.get("name") != self.org.robot_name(robot):
            raise _fail(400, "cannot update the level or name of robot")
        if duration != robot.duration:
            created = int(datetime.fromisoformat(robot.created_at).timestamp())
            if duration == -1:
                robot.duration, robot.expires_at = -1, -1
            else:
                robot.duration = duration or DEFAULT_ROBOT_DAYS
                robot.expires_at = created + robot.duration * 86400
        robot.description = str(body.get("description") or "")
        robot.disabled = bool(body.get("disable", False))
        robot.permissions = permissions
        robot.updated_at = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return Response(200)

    def _refresh_robot_secret(self, request: Request, caller: Caller, robot_id: str) -> Response:
        """Exists so that tests can show a connector never asks for a secret."""
        robot = self._robot(robot_id)
        self._require_robot(caller, robot, "update")
        robot.secret = secrets.token_urlsafe(24)
        return Response(200, {"secret": robot.secret})

    def _delete_robot(self, request: Request, caller: Caller, robot_id: str) -> Response:
        robot = self._robot(robot_id)
        self._require_robot(caller, robot, "delete")
        del self.org.robots[robot.id]
        return Response(200)

    # -- control endpoints

    _MUTATIONS = (
        "add_user",
        "remove_user",
        "set_sysadmin",
        "add_group",
        "add_project",
        "remove_project",
        "set_public",
        "add_member",
        "add_custom_role",
        "set_member_role",
        "remove_member",
        "add_project_robot",
        "add_system_robot",
        "remove_robot",
        "set_robot_disabled",
        "configure_admin_group",
    )

    @property
    def model(self) -> HarborOrg:
        return self.org

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            org = self.org
            counts = {
                "projects": len(org.projects),
                "users": len(org.users),
                "groups": len(org.groups),
                "robots": len(org.robots),
                "members": len(org.memberships()),
            }
            lower_bound = org.rest_lower_bound()
        return Response(200, {"auth_mode": org.auth_mode, "counts": counts, "rest_lower_bound": lower_bound})


def _allows(permissions: list[RobotPermission], kind: str, namespace: str, resource: str, action: str) -> bool:
    for permission in permissions:
        if permission.kind != kind or permission.namespace not in (namespace, "*"):
            continue
        for access in permission.access:
            if access.effect != "allow" or access.resource not in (resource, "*"):
                continue
            # Harbor gives every push access a pull access too.
            if access.action in (action, "*") or (action == "pull" and access.action == "push"):
                return True
    return False


def _permissions(raw: Any) -> list[RobotPermission]:
    if not isinstance(raw, list) or not raw:
        raise _fail(400, "bad request empty permission")
    permissions = []
    for entry in raw:
        access = entry.get("access") if isinstance(entry, dict) else None
        if not isinstance(access, list) or not access:
            raise _fail(400, "bad request empty access")
        permissions.append(
            RobotPermission(
                str(entry.get("kind", "")),
                str(entry.get("namespace", "")),
                [Access(str(a.get("resource")), str(a.get("action")), str(a.get("effect") or "allow")) for a in access],
            )
        )
    return permissions


def _query_keywords(q: str) -> dict[str, str]:
    """Harbor's ``q``: ``k=v`` (exact) or ``k=~v`` (fuzzy) joined by commas; the fuzzy marker is kept."""
    keywords = {}
    for part in q.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            keywords[key.strip()] = value.strip()
    return keywords


def _is_int(value: str | None) -> bool:
    if value is None:
        return False
    try:
        int(value)
    except ValueError:
        return False
    return True


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators harbor …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--projects", type=int, default=30)
    parser.add_argument("--users", type=int, default=80)
    parser.add_argument("--robots", type=int, default=20)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--auth-mode", choices=("db_auth", "ldap_auth", "oidc_auth", "http_auth"), default="ldap_auth")
    parser.add_argument("--password", help="password of the admin user (default: generated)")
    parser.add_argument("--password-file", type=Path, help="write the admin password to this file (mode 600)")
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)


def build(args: argparse.Namespace) -> HarborSimulator:
    org = HarborOrg.generate(args.seed, args.projects, args.users, args.robots, args.groups, auth_mode=args.auth_mode)
    password = args.password or secrets.token_urlsafe(18)
    org.user("admin").password = password
    if args.password_file:
        write_secret_file(args.password_file, password)
    simulator = HarborSimulator(
        org, host=args.host, port=args.port, latency=args.latency_ms / 1000, max_concurrent=args.max_concurrent
    )
    where = f"written to {args.password_file}" if args.password_file else password
    simulator.notes.append(f"user: admin, password: {where}")
    return simulator
