"""Jenkins controller simulator: users, the folder/job tree, agents and its authorization strategy over HTTP.

Endpoints as Jenkins serves them (jenkins.io/doc/book/using/remote-access-api, plugin sources named in
jenkins_org.py): ``/api/json?tree=`` on the root and on every folder (``/job/a/job/b/api/json``), no
pagination; ``/asynchPeople/api/json``, ``/computer/api/json``, ``/whoAmI/api/json``,
``/crumbIssuer/api/json``, ``POST /manage/configuration-as-code/export`` (YAML), ``GET``/``POST`` of an
item's ``config.xml``, and the role-strategy REST API under ``/role-strategy/strategy/`` (getAllRoles,
getRole, getMatchingJobs, getMatchingAgents, assign/unassign*).

Behaviours reproduced because they break naive connectors:
* Basic auth with an API token needs no crumb; with a password, every POST needs the ``Jenkins-Crumb``
  header issued for the same session (``JSESSIONID`` cookie) — a crumb without the cookie is refused with
  403 "No valid crumb was included in the request" (API-NOTES Gotcha 12).
* ``unassign*Role`` answers 200 whether or not anything was assigned (Gotcha 13); ``ignore_unassign``
  makes it answer 200 and change nothing, to prove that clients verify by reading again.
* ``on_config_read`` runs after each config.xml read, so a test can change the item in between a client's
  read and its write (Jenkins has no conditional write for config.xml).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import yaml

from ..providers.jenkins_perms import short_name
from .jenkins_org import FOLDER_CLASS, JOB_CLASS, JenkinsOrg, User
from .server import Request, Response, Simulator, write_secret_file

__all__ = ["JenkinsOrg", "JenkinsSimulator", "add_arguments", "build"]

ITEM_PATH = re.compile(r"^((?:/job/[^/]+)+)/(api/json|config\.xml)$")
ROLE_API = "/role-strategy/strategy/"
ROLE_TYPES = ("globalRoles", "projectRoles", "slaveRoles")


class JenkinsSimulator(Simulator):
    server_header = "Jetty(10.0.20)"

    def __init__(self, org: JenkinsOrg, *, clock=time.time, host: str = "127.0.0.1", port: int = 0, **options):
        super().__init__(host=host, port=port, clock=clock, **options)
        self.org = org
        self.lock = threading.RLock()
        self._crumb_key = secrets.token_bytes(32)
        self._sessions: dict[str, str] = {}  # JSESSIONID -> user id
        self.ignore_unassign = False
        self.on_config_read: Callable[[str], None] | None = None
        self.control.add("GET", "/_simulator/info", self._control_info)

    def describe(self) -> list[str]:
        org = self.org
        summary = (
            f"Jenkins ({org.strategy}): {len(org.folders())} folders, {len(org.jobs())} jobs, "
            f"{len(org.users)} users, {len(org.agents)} agents"
        )
        return [summary, *self.notes]

    # -- request pipeline

    def handle(self, request: Request) -> Response:
        request.endpoint = self.endpoint_name(request)
        with self.lock:
            caller, session, via_token, problem = self._authenticate(request)
            if problem is not None:
                return problem
            if request.method == "POST" and not via_token and not self._crumb_ok(request, caller, session):
                return _text(403, "No valid crumb was included in the request")
            response = self._route(request, caller, session)
        if session and not _cookie(request.headers.get("cookie", ""), "JSESSIONID"):
            response.headers["Set-Cookie"] = f"JSESSIONID={session}; Path=/; HttpOnly"
        return response

    def endpoint_name(self, request: Request) -> str:
        found = ITEM_PATH.match(request.path)
        if found:
            return f"{request.method} /job/…/{found.group(2)}"
        if request.path.startswith(ROLE_API):
            return f"{request.method} {request.path}"
        return f"{request.method} {request.path}"

    def _authenticate(self, request: Request):
        header = request.headers.get("authorization", "")
        session = _cookie(request.headers.get("cookie", ""), "JSESSIONID")
        if not header.startswith("Basic "):
            if session in self._sessions:
                return self.org.users[self._sessions[session]], session, False, None
            return None, None, False, _text(403, "Authentication required")
        try:
            user_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None, False, _text(401, "Invalid authorization header")
        user = self.org.users.get(user_id)
        if user is None or not secret:
            return None, None, False, _text(401, f"Invalid password/token for user: {user_id}")
        if user.api_token and hmac.compare_digest(secret, user.api_token):
            return user, None, True, None  # API token: stateless, no session, no crumb
        if user.password and hmac.compare_digest(secret, user.password):
            if session not in self._sessions or self._sessions[session] != user.id:
                session = secrets.token_hex(12)
                self._sessions[session] = user.id
            return user, session, False, None
        return None, None, False, _text(401, f"Invalid password/token for user: {user_id}")

    def _crumb(self, user: User, session: str | None) -> str:
        return hmac.new(self._crumb_key, f"{user.id};{session or ''}".encode(), hashlib.sha256).hexdigest()

    def _crumb_ok(self, request: Request, user: User, session: str | None) -> bool:
        sent = request.headers.get("jenkins-crumb", "")
        # A fresh session (no cookie sent) cannot match a crumb issued for another one.
        carried = _cookie(request.headers.get("cookie", ""), "JSESSIONID")
        return bool(sent) and carried == session and hmac.compare_digest(sent, self._crumb(user, session))

    def _route(self, request: Request, user: User, session: str | None) -> Response:
        path, method = request.path, request.method
        if path == "/whoAmI/api/json" and method == "GET":
            return Response(
                200,
                {
                    "_class": "hudson.security.WhoAmI",
                    "name": user.id,
                    "anonymous": False,
                    "authenticated": True,
                    "authorities": ["authenticated"],
                },
            )
        if path == "/crumbIssuer/api/json" and method == "GET":
            return Response(
                200,
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": self._crumb(user, session),
                    "crumbRequestField": "Jenkins-Crumb",
                },
            )
        if path == "/api/json" and method == "GET":
            return Response(200, _tree(self._node(None), request.query.get("tree")))
        if not user.admin:
            return _text(403, f"{user.id} is missing the Overall/Administer permission")
        found = ITEM_PATH.match(path)
        if found:
            names = [unquote(part) for part in found.group(1).split("/job/")[1:]]
            return self._item(request, "/".join(names), found.group(2))
        if path == "/asynchPeople/api/json" and method == "GET":
            people = [{"user": {"id": u.id, "fullName": u.full_name}} for u in self.org.users.values()]
            return Response(
                200,
                _tree({"_class": "hudson.model.View$AsynchPeople$People", "users": people}, request.query.get("tree")),
            )
        if path == "/computer/api/json" and method == "GET":
            computers = [{"_class": "hudson.slaves.SlaveComputer", "displayName": a} for a in self.org.agents]
            return Response(200, _tree({"computer": computers}, request.query.get("tree")))
        if path == "/manage/configuration-as-code/export" and method == "POST":
            text = yaml.safe_dump(self._casc(), sort_keys=False, allow_unicode=True)
            return Response(200, raw=text.encode(), headers={"Content-Type": "text/plain;charset=utf-8"})
        if path.startswith(ROLE_API):
            if self.org.strategy != "roleBased":
                return _text(404, "Not Found")
            return self._roles(request, path[len(ROLE_API) :])
        return _text(404, "Not Found")

    # -- items

    def _node(self, full_name: str | None) -> dict:
        if full_name is None:
            data = {"_class": "hudson.model.Hudson", "url": "/"}
        else:
            item = self.org.items[full_name]
            data = {
                "_class": FOLDER_CLASS if item.kind == "folder" else JOB_CLASS,
                "name": item.name,
                "fullName": item.full_name,
            }
            if item.kind == "job":
                return data
        data["jobs"] = [self._node(child.full_name) for child in self.org.children(full_name)]
        return data

    def _item(self, request: Request, full_name: str, what: str) -> Response:
        if full_name not in self.org.items:
            return _text(404, "Not Found")
        if what == "api/json":
            if request.method != "GET":
                return _text(405, "Method Not Allowed")
            return Response(200, _tree(self._node(full_name), request.query.get("tree")))
        if request.method == "GET":
            text = self.org.config_xml(full_name)
            if self.on_config_read is not None:
                self.on_config_read(full_name)
            return Response(200, raw=text.encode(), headers={"Content-Type": "application/xml;charset=utf-8"})
        if request.method == "POST":
            try:
                self.org.apply_config_xml(full_name, request.body.decode())
            except Exception:  # noqa: BLE001 - Jenkins answers 500 for a body it cannot read
                return _text(500, "Failed to read the posted config.xml")
            return Response(200, raw=b"")
        return _text(405, "Method Not Allowed")

    # -- role-strategy

    def _roles(self, request: Request, call: str) -> Response:
        params = dict(request.query_pairs)
        if request.body and request.method == "POST":
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        role_type = params.get("type", "globalRoles")
        if role_type not in ROLE_TYPES:
            return _text(400, f"Unknown role type {role_type}")
        roles = self.org.roles[role_type]
        if request.method == "GET":
            if call == "getAllRoles":
                return Response(200, {n: [{"type": t, "sid": s} for t, s in r.sids] for n, r in roles.items()})
            if call == "getRole":
                role = roles.get(params.get("roleName", ""))
                if role is None:
                    return _text(404, "Not Found")
                return Response(
                    200,
                    {
                        "permissionIds": {p: True for p in role.permissions},
                        "sids": [{"type": t, "sid": s} for t, s in role.sids],
                        "pattern": role.pattern,
                    },
                )
            if call == "getMatchingJobs":
                found = self.org.matching_items(params.get("pattern", ""))
                limit = int(params.get("maxJobs", "15"))
                return Response(200, {"matchingJobs": found[:limit], "itemCount": len(found)})
            if call == "getMatchingAgents":
                found = self.org.matching_agents(params.get("pattern", ""))
                limit = int(params.get("maxAgents", "10"))
                return Response(200, {"matchingAgents": found[:limit], "agentCount": len(found)})
            return _text(404, "Not Found")
        if request.method != "POST":
            return _text(405, "Method Not Allowed")
        kinds = {
            "unassignUserRole": ("USER", "user"),
            "unassignGroupRole": ("GROUP", "group"),
            "unassignRole": ("EITHER", "sid"),
            "assignUserRole": ("USER", "user"),
            "assignGroupRole": ("GROUP", "group"),
        }
        if call not in kinds:
            return _text(404, "Not Found")
        sid_type, field = kinds[call]
        name, sid = params.get("roleName", ""), params.get(field, "")
        if call.startswith("assign"):
            if name in roles:
                self.org.assign(role_type, name, sid_type, sid)
        elif not self.ignore_unassign:
            self.org.unassign(role_type, name, sid_type, sid)
        return Response(200, raw=b"")  # whatever happened, as the plugin does

    # -- JCasC export

    def _casc(self) -> dict:
        org = self.org
        if org.strategy == "roleBased":

            def entries(role):
                keys = {"USER": "user", "GROUP": "group", "EITHER": "either"}
                return [{keys[t]: s} for t, s in role.sids]

            def export(role_type, with_pattern=True):
                out = []
                for role in org.roles[role_type].values():
                    item = {"entries": entries(role), "name": role.name}
                    if with_pattern:
                        item["pattern"] = role.pattern
                    item["permissions"] = [short_name(p) for p in role.permissions]
                    out.append(item)
                return out

            strategy = {
                "roleBased": {
                    "roles": {
                        "agents": export("slaveRoles"),
                        "global": export("globalRoles"),
                        "items": export("projectRoles"),
                    }
                }
            }
        elif org.strategy == "projectMatrix":
            grouped: dict[tuple[str, str], list[str]] = {}
            for entry in org.global_matrix:
                grouped.setdefault((entry.type, entry.sid), []).append(short_name(entry.permission))
            keys = {"USER": "user", "GROUP": "group", "EITHER": "userOrGroup"}
            strategy = {
                "projectMatrix": {
                    "entries": [
                        {keys[t]: {"name": sid, "permissions": sorted(perms)}} for (t, sid), perms in grouped.items()
                    ]
                }
            }
        elif org.strategy == "folderBased":

            def roles(scope, key):
                out = []
                for role in org.folder_roles[scope].values():
                    item = {
                        "name": role.name,
                        "permissions": [{"id": p} for p in role.permissions],
                        "sids": list(role.sids),
                    }
                    if key:
                        item[key] = list(role.targets)
                    out.append(item)
                return out

            strategy = {
                "folderBased": {
                    "agentRoles": roles("agent", "agents"),
                    "folderRoles": roles("folder", "folders"),
                    "globalRoles": roles("global", None),
                }
            }
        elif org.strategy == "unsecured":
            strategy = "unsecured"
        else:
            strategy = {"loggedInUsersCanDoAnything": {"allowAnonymousRead": org.anonymous_read}}
        return {"jenkins": {"authorizationStrategy": strategy, "numExecutors": 2}}

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            counts = {"folders": len(self.org.folders()), "jobs": len(self.org.jobs()), "users": len(self.org.users)}
            return Response(
                200, {"strategy": self.org.strategy, "counts": counts, "rest_lower_bound": self.org.rest_lower_bound()}
            )


def _text(status: int, message: str) -> Response:
    return Response(status, raw=message.encode(), headers={"Content-Type": "text/plain;charset=utf-8"})


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def parse_tree(spec: str) -> dict[str, dict | None]:
    """``jobs[name,jobs[name]]`` -> {"jobs": {"name": None, "jobs": {"name": None}}} (ranges ``{M,N}`` ignored)."""
    spec = re.sub(r"\{[^}]*\}", "", spec)
    result: dict[str, dict | None] = {}
    stack = [result]
    name = ""
    for char in spec + ",":
        if char == "[":
            child: dict[str, dict | None] = {}
            stack[-1][name.strip()] = child
            stack.append(child)
            name = ""
        elif char in ",]":
            if name.strip():
                stack[-1][name.strip()] = None
            name = ""
            if char == "]" and len(stack) > 1:
                stack.pop()
        else:
            name += char
    return result


def _tree(data, spec: str | None):
    """Keep only the fields ``tree=`` asks for (Jenkins' api/json with a tree parameter)."""
    if not spec:
        return data
    return _filter(data, parse_tree(spec))


def _filter(data, fields):
    if isinstance(data, list):
        return [_filter(item, fields) for item in data]
    if not isinstance(data, dict) or fields is None:
        return data
    out = {"_class": data["_class"]} if "_class" in data else {}
    for key, sub in fields.items():
        if key in data:
            out[key] = _filter(data[key], sub)
    return out


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators jenkins …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strategy", choices=("roleBased", "projectMatrix", "folderBased"), default="roleBased")
    parser.add_argument("--folders", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--token", help="API token of the admin user (default: generated)")
    parser.add_argument("--token-file", type=Path, help="write the admin's API token to this file (mode 600)")
    parser.add_argument("--latency-ms", type=float, default=0.0)


def build(args: argparse.Namespace) -> JenkinsSimulator:
    org = JenkinsOrg.generate(
        args.seed, strategy=args.strategy, folders=args.folders, jobs=args.jobs, users=args.users, agents=args.agents
    )
    token = args.token or secrets.token_hex(17)
    org.users["admin"].api_token = token
    simulator = JenkinsSimulator(org, host=args.host, port=args.port, latency=args.latency_ms / 1000)
    if args.token_file:
        write_secret_file(args.token_file, token)
        simulator.notes.append(f"user: admin, API token written to {args.token_file}")
    else:
        simulator.notes.append(f"user: admin, API token: {token}")
    return simulator
