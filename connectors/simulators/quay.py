"""Quay API simulator (quay.io and Red Hat Quay, ``/api/v1``): generated organizations over real HTTP.

Shapes and behaviour follow Quay's own API code (quay/quay ``endpoints/api/organization.py``, ``team.py``,
``robot.py``, ``permission.py``, ``prototype.py``, ``repository.py``, ``endpoints/decorated.py``,
``endpoints/exception.py``) and the Red Hat Quay API guide
(https://docs.redhat.com/en/documentation/red_hat_quay/3/html/red_hat_quay_api_guide/index).

Quay behaviours reproduced because they break naive connectors:
* Removing something that is not there is a ``DataModelException``: **400** ``{"message": …}``, not 404
  (team member, repository permission, robot). Removing a non-member from the organization answers 204.
* The robot list returns every robot's secret unless ``token=false`` (the default is true), and
  ``GET …/robots/{short}`` always returns it to an admin.
* Organization-wide lists (members, collaborators, robots, prototypes, team members) are not paginated;
  the repository list is, 100 per page, with an opaque ``next_page`` token in the body. An unknown or
  expired token silently restarts at the first page, as Quay's ``decrypt_page_token`` does.
* The members and collaborators lists name repositories without roles; roles come from the repository's
  permission lists. Members are team members: there is no other organization membership.
* ``PUT`` on a repository permission or a team creates it when it does not exist.
* Errors other than ``DataModelException`` are problem+json (``detail``, ``error_message``, ``error_type``):
  401 ``invalid_token`` without a valid token, 403 ``insufficient_scope`` for a token lacking the scope
  or the role.

quay.io rate limits with 429 and no documented headers; ``rate_limit`` requests per ``rate_window`` seconds
per token reproduce that (an nginx HTML body, no ``Retry-After``). Control endpoints: the shared
``/_simulator/*`` ones (``server.py``), ``POST /_simulator/mutate`` (``{"fraction": 0.05, "seed": 2}``) and
``GET /_simulator/info`` (sizes and ``rest_lower_bound``). The organization model is in ``quay_org.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .quay_org import REPO_ROLES, TEAM_ROLES, Change, QuayFacts, QuayOrg, Team
from .server import FixedWindowQuota, HTTPError, Request, Response, Route, Simulator, write_secret_file

__all__ = ["Change", "QuayFacts", "QuayOrg", "QuaySimulator", "Token", "add_arguments", "build", "generate_token"]

ORG_ADMIN = "org:admin"
REPO_ADMIN = "repo:admin"
REPO_READ = "repo:read"
ALL_SCOPES = ("org:admin", "repo:admin", "repo:create", "repo:read", "repo:write", "user:admin", "user:read")
PER_PAGE = 100
PAGE_TOKEN_TTL = 2 * 24 * 3600  # Quay's _PAGE_TOKEN_TTL
FALSY = {"false", "False", "FALSE", "0", "", "null"}
# auth/scopes.py IMPLIED_SCOPES: repo:admin includes repo:write and repo:read.
IMPLIED = {"repo:admin": {"repo:write", "repo:read"}, "repo:write": {"repo:read"}}
NGINX_429 = b"<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>\n"  # noqa: E501


@dataclass(frozen=True)
class Token:
    """An OAuth access token: the user it acts for and its scopes."""

    user: str
    scopes: tuple[str, ...] = ALL_SCOPES


def generate_token() -> str:
    return secrets.token_urlsafe(30)[:40]


def truthy(value: str | None, default: bool) -> bool:
    """Quay's truthy_bool over a query parameter."""
    return default if value is None else value not in FALSY


def avatar(name: str, kind: str) -> dict[str, str]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {"name": name, "hash": digest, "color": f"#{digest[:6]}", "kind": kind}


def _problem(request: Request, status: int, error_type: str, detail: str) -> HTTPError:
    """Quay's ApiException body (RFC 7807 plus its deprecated fields)."""
    body = {
        "detail": detail,
        "error_message": detail,
        "error_type": error_type,
        "title": error_type,
        "type": f"{request.root_url}/api/v1/error/{error_type}",
        "status": status,
    }
    return HTTPError(Response(status, body))


def _data_model_error(message: str) -> HTTPError:
    """A DataModelException as endpoints/decorated.py answers it."""
    return HTTPError(Response(400, {"message": message}))


class QuaySimulator(Simulator):
    """Serves one or more organizations like quay.io under ``/api/v1``.

    ``tokens`` maps token strings to :class:`Token`; by default one token with every scope is generated
    for the first organization's owner (``.token``).
    """

    prefixes = ("/api/v1",)
    server_header = "nginx"

    def __init__(
        self,
        orgs: QuayOrg | Iterable[QuayOrg],
        *,
        tokens: Mapping[str, Token] | None = None,
        clock=time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        per_page: int = PER_PAGE,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
    ):
        super().__init__(host=host, port=port, clock=clock, latency=latency)
        self.orgs: dict[str, QuayOrg] = {org.name: org for org in ([orgs] if isinstance(orgs, QuayOrg) else orgs)}
        first = next(iter(self.orgs.values()))
        owner = next((m for m in first.teams["owners"].members), None) if "owners" in first.teams else None
        self.tokens: dict[str, Token] = dict(tokens) if tokens else {generate_token(): Token(owner or "admin")}
        self.per_page = per_page
        self.rate_limit = rate_limit
        self.quota = FixedWindowQuota(clock, rate_window)
        self.lock = threading.RLock()  # guards the orgs against concurrent requests and HTTP mutations
        self._page_tokens: dict[str, tuple[str, int, float]] = {}  # token -> (namespace, offset, expires)
        self._add_routes()
        self.control.add("POST", "/_simulator/mutate", self._control_mutate)
        self.control.add("GET", "/_simulator/info", self._control_info)

    @property
    def token(self) -> str:
        return next(iter(self.tokens))

    @property
    def org(self) -> QuayOrg:
        return next(iter(self.orgs.values()))

    def reset_counters(self) -> None:
        super().reset_counters()
        self.quota.clear()

    def describe(self) -> list[str]:
        lines = [
            f"Quay org {o.name!r}: {len(o.members())} members, {len(o.teams)} teams, {len(o.repos)} repos, "
            f"{len(o.robots)} robots"
            for o in self.orgs.values()
        ]
        return [*lines, *self.notes]

    # -- request pipeline

    def handle(self, request: Request) -> Response:
        token = self._authenticate(request)
        if token is None:
            return _problem(request, 401, "invalid_token", "Requires authentication").response
        if self.rate_limit is not None:
            state = self.quota.consume(request.headers.get("authorization"), self.rate_limit)
            if state.used > self.rate_limit:
                return Response(429, raw=NGINX_429, headers={"Content-Type": "text/html"})
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return _problem(request, 404, "not_found", "Not Found").response
        route, params = matched
        request.endpoint = route.name
        scope = route.meta.get("scope")
        try:
            held = set(token.scopes).union(*(IMPLIED.get(scope, set()) for scope in token.scopes))
            if scope and scope not in held:
                raise _problem(request, 403, "insufficient_scope", "Unauthorized")
            with self.lock:
                return route.handler(request, token, **params)
        except HTTPError as error:
            return error.response

    def _authenticate(self, request: Request) -> Token | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return self.tokens.get(value.strip())

    # -- lookups and permission checks

    def _org(self, request: Request, name: str) -> QuayOrg:
        org = self.orgs.get(name)
        if org is None:
            raise _problem(request, 404, "not_found", "Not Found")
        return org

    def _admin(self, request: Request, token: Token, org: QuayOrg) -> None:
        if token.user not in org.admins():
            raise _problem(request, 403, "insufficient_scope", "Unauthorized")

    def _member(self, token: Token, org: QuayOrg) -> bool:
        return bool(org.teams_of(token.user))

    def _team(self, request: Request, org: QuayOrg, name: str) -> Team:
        team = org.teams.get(name)
        if team is None:
            raise _problem(request, 404, "not_found", "Not Found")
        return team

    def _known_user(self, name: str) -> bool:
        return any(name in org.users or org.is_robot(name) for org in self.orgs.values())

    def _repo(self, request: Request, token: Token, path: str):
        namespace, _, name = path.partition("/")
        org = self.orgs.get(namespace)
        repo = org.repos.get(name) if org else None
        if org is None or repo is None:
            raise _problem(request, 404, "not_found", "Not Found")
        if org.role_on(token.user, repo) != "admin":
            raise _problem(request, 403, "insufficient_scope", "Unauthorized")
        return org, repo

    # -- routes

    def _add_routes(self) -> None:
        org = "/organization/{org}"
        routes = [
            ("GET", org, self._get_org, None),
            ("PUT", f"{org}/team/{{team}}", self._put_team, ORG_ADMIN),
            ("GET", f"{org}/members", self._list_members, ORG_ADMIN),
            ("GET", f"{org}/members/{{member}}", self._get_member, ORG_ADMIN),
            ("DELETE", f"{org}/members/{{member}}", self._remove_member, ORG_ADMIN),
            ("GET", f"{org}/collaborators", self._list_collaborators, ORG_ADMIN),
            ("GET", f"{org}/team/{{team}}/members", self._list_team_members, ORG_ADMIN),
            ("DELETE", f"{org}/team/{{team}}/members/{{member}}", self._remove_team_member, ORG_ADMIN),
            ("DELETE", f"{org}/team/{{team}}/invite/{{email}}", self._delete_email_invite, ORG_ADMIN),
            ("GET", f"{org}/team/{{team}}/permissions", self._list_team_permissions, None),
            ("GET", f"{org}/robots", self._list_robots, ORG_ADMIN),
            ("GET", f"{org}/robots/{{short}}", self._get_robot, ORG_ADMIN),
            ("DELETE", f"{org}/robots/{{short}}", self._delete_robot, ORG_ADMIN),
            ("GET", f"{org}/robots/{{short}}/permissions", self._robot_permissions, None),
            ("GET", f"{org}/prototypes", self._list_prototypes, ORG_ADMIN),
            ("PUT", f"{org}/prototypes/{{proto}}", self._put_prototype, ORG_ADMIN),
            ("DELETE", f"{org}/prototypes/{{proto}}", self._delete_prototype, ORG_ADMIN),
            ("GET", "/repository", self._list_repos, REPO_READ),
        ]
        for method, pattern, handler, scope in routes:
            self.router.add(method, pattern, handler, scope=scope)
        # Repository paths are namespace/name where the name may hold slashes (extended repository names),
        # like Quay's apirepopath converter: these routes need their own regular expressions.
        repo = r"/repository/(?P<repo>[^/]+/.+?)/permissions"
        for method, suffix, pattern, handler in (
            ("GET", r"/(?P<kind>user|team)/", "/{kind}/", self._list_repo_permissions),
            ("GET", r"/(?P<kind>user|team)/(?P<name>[^/]+)", "/{kind}/{name}", self._get_repo_permission),
            ("PUT", r"/(?P<kind>user|team)/(?P<name>[^/]+)", "/{kind}/{name}", self._put_repo_permission),
            ("DELETE", r"/(?P<kind>user|team)/(?P<name>[^/]+)", "/{kind}/{name}", self._delete_repo_permission),
        ):
            name = f"{method} /repository/{{repo}}/permissions{pattern}"
            regex = re.compile(f"^{repo}{suffix}$")
            self.router.routes.append(Route(method, name, name, regex, handler, {"scope": REPO_ADMIN}))

    # -- organization

    def _get_org(self, request: Request, token: Token, org: str) -> Response:
        found = self._org(request, org)
        is_admin = token.user in found.admins()
        body: dict[str, Any] = {
            "name": found.name,
            "email": found.email if is_admin else "",
            "avatar": avatar(found.name, "org"),
            "is_admin": is_admin,
            "is_member": self._member(token, found),
        }
        if self._member(token, found):
            viewable = {t for t in found.teams if is_admin or token.user in found.teams[t].members}
            body["teams"] = {team.name: self._team_view(team, team.name in viewable) for team in found.teams.values()}
            body["ordered_teams"] = list(found.teams)
        if is_admin:
            body |= {"invoice_email": False, "invoice_email_address": None, "tag_expiration_s": 1209600}
            body["is_free_account"] = True
        return Response(200, body)

    def _team_view(self, team: Team, can_view: bool) -> dict[str, Any]:
        return {
            "name": team.name,
            "description": team.description,
            "role": team.role,
            "avatar": avatar(team.name, "team"),
            "can_view": can_view,
            "repo_count": len(team.repos),
            "member_count": len(team.members),
            "is_synced": team.synced is not None,
        }

    def _put_team(self, request: Request, token: Token, org: str, team: str) -> Response:
        """Update a team's organization-wide role, or create the team (Quay does both)."""
        found = self._org(request, org)
        self._admin(request, token, found)
        details = request.json()
        role = details.get("role")
        if role not in TEAM_ROLES:
            raise _problem(request, 400, "invalid_request", f"{role!r} is not one of {list(TEAM_ROLES)}")
        existing = found.teams.get(team)
        if existing is None:
            existing = found.add_team(team, role, description=details.get("description", ""))
        elif existing.role == "admin" and role != "admin":
            own = {t.name for t in found.teams.values() if t.role == "admin" and token.user in t.members}
            if existing.name in own and len(own) <= 1:
                raise _data_model_error(
                    f"Cannot remove admin from team '{existing.name}' because calling user would no longer have "
                    f"admin on org '{found.name}'"
                )
        existing.role = role
        view = {"name": existing.name, "description": existing.description, "can_view": True, "role": role}
        return Response(200, view | {"avatar": avatar(existing.name, "team"), "new_team": False})

    def _list_members(self, request: Request, token: Token, org: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        return Response(200, {"members": [self._member_view(found, name) for name in found.members()]})

    def _member_view(self, org: QuayOrg, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "robot" if "+" in name else "user",
            "avatar": avatar(name, "user"),
            "teams": [{"name": t, "avatar": avatar(t, "team")} for t in org.teams_of(name)],
            "repositories": org.user_repos(name),
        }

    def _get_member(self, request: Request, token: Token, org: str, member: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        if not self._known_user(member) or (not found.teams_of(member) and not found.is_robot(member)):
            raise _problem(request, 404, "not_found", "Not Found")
        return Response(200, self._member_view(found, member))

    def _remove_member(self, request: Request, token: Token, org: str, member: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        if "+" in member or not self._known_user(member):
            raise _problem(request, 404, "not_found", "Not Found")
        admins = {name for name in found.admins() if "+" not in name}
        if admins == {member}:
            raise _data_model_error("Cannot remove user as they are the only organization admin")
        found.remove_member(member)  # a non-member: nothing to remove, and still 204
        return Response(204)

    def _list_collaborators(self, request: Request, token: Token, org: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        body = [
            {"kind": "user", "name": name, "avatar": avatar(name, "user"), "repositories": found.user_repos(name)}
            for name in found.outside_collaborators()
        ]
        return Response(200, {"collaborators": body})

    # -- teams

    def _list_team_members(self, request: Request, token: Token, org: str, team: str) -> Response:
        found = self._org(request, org)
        is_admin = token.user in found.admins()
        the_team = self._team(request, found, team)
        if not is_admin and token.user not in the_team.members:
            raise _problem(request, 403, "insufficient_scope", "Unauthorized")
        members = [
            {"name": n, "kind": "user", "is_robot": "+" in n, "avatar": avatar(n, "user"), "invited": False}
            for n in the_team.members
        ]
        if truthy(request.query.get("includePending"), False) and is_admin:
            for invite in the_team.invites:
                if invite.user is not None:
                    view = {
                        "name": invite.user,
                        "kind": "user",
                        "is_robot": False,
                        "avatar": avatar(invite.user, "user"),
                    }
                else:
                    view = {"email": invite.email, "kind": "invite", "avatar": avatar(invite.email or "", "user")}
                members.append(view | {"invited": True})
        body: dict[str, Any] = {"name": the_team.name, "members": members, "can_edit": is_admin}
        if the_team.synced:
            body["synced"] = {"service": the_team.synced}
        return Response(200, body)

    def _remove_team_member(self, request: Request, token: Token, org: str, team: str, member: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        the_team = self._team(request, found, team)
        if the_team.synced and "+" not in member:
            raise _problem(request, 400, "invalid_request", "Cannot call this method on an auth-synced team")
        if not self._known_user(member):
            raise _problem(request, 404, "not_found", "Not Found")
        invite = next((i for i in the_team.invites if i.user == member), None)
        if invite is not None:  # Quay removes a pending invite first
            the_team.invites.remove(invite)
            return Response(204)
        if member not in the_team.members:
            raise _data_model_error(f"User {member} does not belong to team {team}")
        own_admin_teams = {t.name for t in found.teams.values() if t.role == "admin" and member in t.members}
        if member == token.user and team in own_admin_teams and len(own_admin_teams) <= 1:
            raise _data_model_error("User cannot remove themselves from their only admin team.")
        found.remove_team_member(team, member)
        return Response(204)

    def _delete_email_invite(self, request: Request, token: Token, org: str, team: str, email: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        the_team = self._team(request, found, team)
        invite = next((i for i in the_team.invites if i.email == email), None)
        if invite is None:
            raise _problem(request, 404, "not_found", "Not Found")
        the_team.invites.remove(invite)
        return Response(204)

    def _list_team_permissions(self, request: Request, token: Token, org: str, team: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        the_team = self._team(request, found, team)
        body = [
            {"repository": {"name": repo, "is_public": found.repos[repo].is_public}, "role": role}
            for repo, role in the_team.repos.items()
        ]
        return Response(200, {"permissions": body})

    # -- robots

    def _robot_view(self, org: QuayOrg, short: str, *, permissions: bool, token: bool) -> dict[str, Any]:
        robot = org.robots[short]
        full = org.robot_name(short)
        view: dict[str, Any] = {
            "name": full,
            "created": robot.created,
            "last_accessed": robot.last_accessed,
            "description": robot.description,
        }
        if permissions:
            view["teams"] = [{"name": t, "avatar": avatar(t, "team")} for t in org.teams_of(full)]
            view["repositories"] = org.user_repos(full)
        if token:
            view["token"] = robot.token
        return view

    def _list_robots(self, request: Request, token: Token, org: str) -> Response:
        found = self._org(request, org)
        if not self._member(token, found):
            raise _problem(request, 403, "insufficient_scope", "Unauthorized")
        is_admin = token.user in found.admins()
        include_token = is_admin and truthy(request.query.get("token"), True)  # Quay's default: the secrets
        include_permissions = is_admin and truthy(request.query.get("permissions"), False)
        shorts = list(found.robots)
        limit = request.query.get("limit")
        if limit and limit.isdigit():
            shorts = shorts[: int(limit)]
        robots = [self._robot_view(found, s, permissions=include_permissions, token=include_token) for s in shorts]
        return Response(200, {"robots": robots})

    def _get_robot(self, request: Request, token: Token, org: str, short: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        if short not in found.robots:
            raise _data_model_error(f"Could not find robot with specified username: {found.robot_name(short)}")
        view = self._robot_view(found, short, permissions=False, token=True)
        return Response(200, view | {"unstructured_metadata": {}})

    def _delete_robot(self, request: Request, token: Token, org: str, short: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        robot = found.robots.get(short)
        if robot is not None and robot.mirror:
            raise _problem(request, 400, "invalid_request", "Robot is being used by a mirror")
        if robot is None:
            raise _data_model_error(f"Could not find robot with username: {found.robot_name(short)}")
        found.delete_robot(short)
        return Response(204)

    def _robot_permissions(self, request: Request, token: Token, org: str, short: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        if short not in found.robots:
            raise _data_model_error(f"Could not find robot with specified username: {found.robot_name(short)}")
        full = found.robot_name(short)
        body = [
            {"repository": {"name": repo.name, "is_public": repo.is_public}, "role": repo.users[full]}
            for repo in found.repos.values()
            if full in repo.users
        ]
        return Response(200, {"permissions": body})

    # -- default permissions

    def _prototype_view(self, org: QuayOrg, proto) -> dict[str, Any]:
        members = set(org.members())

        def user(name: str) -> dict[str, Any]:
            robot = "+" in name
            view = {"name": name, "is_robot": robot, "kind": "user", "is_org_member": robot or name in members}
            return view | {"avatar": avatar(name, "user")}

        if proto.delegate_kind == "user":
            delegate = user(proto.delegate)
        else:
            delegate = {"name": proto.delegate, "kind": "team", "avatar": avatar(proto.delegate, "team")}
        activating = user(proto.activating_user) if proto.activating_user else None
        return {"activating_user": activating, "delegate": delegate, "role": proto.role, "id": proto.id}

    def _list_prototypes(self, request: Request, token: Token, org: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        return Response(200, {"prototypes": [self._prototype_view(found, p) for p in found.prototypes]})

    def _find_prototype(self, request: Request, org: QuayOrg, proto_id: str):
        proto = next((p for p in org.prototypes if p.id == proto_id), None)
        if proto is None:
            raise _problem(request, 404, "not_found", "Not Found")
        return proto

    def _put_prototype(self, request: Request, token: Token, org: str, proto: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        prototype = self._find_prototype(request, found, proto)
        role = request.json().get("role")
        if role not in REPO_ROLES:
            raise _problem(request, 400, "invalid_request", f"{role!r} is not one of {list(REPO_ROLES)}")
        prototype.role = role
        return Response(200, self._prototype_view(found, prototype))

    def _delete_prototype(self, request: Request, token: Token, org: str, proto: str) -> Response:
        found = self._org(request, org)
        self._admin(request, token, found)
        found.prototypes.remove(self._find_prototype(request, found, proto))
        return Response(204)

    # -- repositories

    def _list_repos(self, request: Request, token: Token) -> Response:
        namespace = request.query.get("namespace")
        if not namespace and not truthy(request.query.get("public"), False):
            raise _problem(
                request, 400, "invalid_request", "namespace, starred or public are required for this API call"
            )
        org = self.orgs.get(namespace or "")
        visible = [r for r in org.repos.values() if org.can_read(token.user, r)] if org else []
        offset = 0
        page_token = request.query.get("next_page")
        if page_token:
            # Unknown or expired tokens give the first page, as decrypt_page_token's None does.
            entry = self._page_tokens.get(page_token)
            if entry and entry[0] == namespace and entry[2] > self.clock():
                offset = entry[1]
        chunk = visible[offset : offset + self.per_page]
        body: dict[str, Any] = {
            "repositories": [
                {
                    "namespace": namespace,
                    "name": repo.name,
                    "description": repo.description,
                    "is_public": repo.is_public,
                    "kind": "image",
                    "state": repo.state,
                }
                for repo in chunk
            ]
        }
        if offset + self.per_page < len(visible):
            next_token = secrets.token_urlsafe(48)
            self._page_tokens[next_token] = (namespace or "", offset + self.per_page, self.clock() + PAGE_TOKEN_TTL)
            body["next_page"] = next_token
        return Response(200, body)

    def _list_repo_permissions(self, request: Request, token: Token, repo: str, kind: str) -> Response:
        org, found = self._repo(request, token, repo)
        if kind == "team":
            body = {
                team.name: {"role": team.repos[found.name], "name": team.name, "avatar": avatar(team.name, "team")}
                for team in org.teams.values()
                if found.name in team.repos
            }
            return Response(200, {"permissions": body})
        return Response(200, {"permissions": {n: self._user_permission(org, n, r) for n, r in found.users.items()}})

    def _user_permission(self, org: QuayOrg, name: str, role: str) -> dict[str, Any]:
        robot = "+" in name
        view = {"role": role, "name": name, "is_robot": robot, "avatar": avatar(name, "user")}
        return view | {"is_org_member": robot or bool(org.teams_of(name))}

    def _get_repo_permission(self, request: Request, token: Token, repo: str, kind: str, name: str) -> Response:
        org, found = self._repo(request, token, repo)
        if kind == "team":
            team = org.teams.get(name)
            if team is None or found.name not in team.repos:
                raise _data_model_error("Team does not have permission for repo.")
            return Response(200, {"role": team.repos[found.name]})
        if name not in found.users:
            raise _data_model_error("User does not have permission for repo.")
        return Response(200, self._user_permission(org, name, found.users[name]))

    def _put_repo_permission(self, request: Request, token: Token, repo: str, kind: str, name: str) -> Response:
        org, found = self._repo(request, token, repo)
        role = request.json().get("role")
        if role not in REPO_ROLES:
            raise _problem(request, 400, "invalid_request", f"{role!r} is not one of {list(REPO_ROLES)}")
        if kind == "team":
            if name not in org.teams:
                raise _problem(request, 400, "invalid_request", f"No team {name} in organization {org.name}")
            org.teams[name].repos[found.name] = role  # created when absent, like Quay
            return Response(200, {"role": role, "name": name, "avatar": avatar(name, "team")})
        if not self._known_user(name):
            raise _problem(request, 400, "invalid_request", f"Invalid username: {name}")
        if "+" in name and not org.is_robot(name):
            raise _problem(request, 400, "invalid_request", f"Cannot add robot {name} under namespace {org.name}")
        found.users[name] = role  # created when absent, like Quay
        return Response(200, self._user_permission(org, name, role))

    def _delete_repo_permission(self, request: Request, token: Token, repo: str, kind: str, name: str) -> Response:
        org, found = self._repo(request, token, repo)
        if kind == "team":
            team = org.teams.get(name)
            if team is None or found.name not in team.repos:
                raise _problem(request, 400, "invalid_request", "Team does not have permission for repo.")
            del team.repos[found.name]
            return Response(204)
        if name not in found.users:
            raise _problem(request, 400, "invalid_request", "User does not have permission for repo.")
        del found.users[name]
        return Response(204)

    # -- control endpoints

    def mutate(self, fraction: float, seed: int = 0) -> list[Change]:
        with self.lock:
            return [change for org in self.orgs.values() for change in org.mutate_fraction(fraction, seed)]

    def _control_info(self, request: Request) -> Response:
        with self.lock:
            orgs = {
                org.name: {
                    "members": len(org.members()),
                    "outside_collaborators": len(org.outside_collaborators()),
                    "teams": len(org.teams),
                    "repos": len(org.repos),
                    "robots": len(org.robots),
                    "grants": len(org.grants()),
                    "rest_lower_bound": org.rest_lower_bound(self.per_page),
                }
                for org in self.orgs.values()
            }
        total = sum(info["rest_lower_bound"] for info in orgs.values())
        return Response(200, {"orgs": orgs, "rest_lower_bound": total})


# ---------------------------------------------------------------------------
# Command line (``python -m connectors.simulators quay …``)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", action="append", help="organization name (repeatable; default acme)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--teams", type=int, default=8)
    parser.add_argument("--repos", type=int, default=30)
    parser.add_argument("--robots", type=int, default=6)
    parser.add_argument("--outside-collaborators", type=int, default=4)
    parser.add_argument("--owner", default="quayadmin", help="the token user, admin of every organization")
    parser.add_argument("--token", help="token to accept (default: generated)")
    parser.add_argument("--token-file", type=Path, help="write the token to this file (mode 600)")
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per second per token; 0 disables")
    parser.add_argument("--latency-ms", type=float, default=0.0)


def build(args: argparse.Namespace) -> QuaySimulator:
    orgs = [
        QuayOrg.generate(
            name,
            args.seed + index,
            members=args.members,
            teams=args.teams,
            repos=args.repos,
            robots=args.robots,
            outside_collaborators=args.outside_collaborators,
            owner=args.owner,
        )
        for index, name in enumerate(args.org or ["acme"])
    ]
    token = args.token or generate_token()
    if args.token_file:
        write_secret_file(args.token_file, token)
    simulator = QuaySimulator(
        orgs,
        tokens={token: Token(args.owner)},
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        rate_limit=args.rate_limit or None,
    )
    simulator.notes.append(f"token written to {args.token_file}" if args.token_file else f"token: {token}")
    return simulator
