"""Harbor (2.x): who can reach which project of one Harbor instance, and how.

Reads the v2.0 REST API (base path /api/v2.0; specification goharbor/harbor api/v2.0/swagger.yaml,
https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml) with Basic authentication: a user and
password, an OIDC user's CLI secret, or a robot's full name and secret.

Records each grant where Harbor makes it:
- the instance ``/`` and every project (``PROJECT``, type project) below it;
- project memberships of users and of user groups (LDAP/HTTP/OIDC; Harbor cannot list a group's
  members, so the group is an account of type group holding the grant, via direct) with the member id
  revocation needs; roles and levels in harbor_roles
  (https://goharbor.io/docs/2.16.0/administration/managing-users/user-permissions-by-role/);
- public projects as a read grant to the pseudo-account ``anonymous`` (anonymous pull);
- system administrators once on the instance, cascading to every project at owner (a system administrator
  holds every project administrator's rights; CONTRACT clarification: recorded once, expanded per
  project): the sysadmin flag, and the admin group or user names of the authentication settings, whose
  members Harbor's user list does not flag (https://github.com/goharbor/harbor/issues/8052,
  https://goharbor.io/docs/2.14.0/administration/configure-authentication/ldap-auth,
  https://github.com/goharbor/harbor/issues/13113 for OIDC);
- robots, project- and system-level (https://goharbor.io/docs/2.6.0/administration/robot-accounts/,
  https://goharbor.io/docs/2.5.0/working-with-projects/project-configuration/create-robot-accounts),
  one grant per permission namespace: on its project, on the instance for ``system`` permissions, and on
  the instance cascading to every project for namespace ``*``. Robot secrets are never requested, read or
  stored; Harbor does not report when a robot was last used.

Lists use page_size=100 and follow the Link header (Harbor's links are relative, with an unescaped query),
and each list is checked against X-Total-Count: a list that changed while it was paged is read again once,
then fails the sync rather than record a partial state. Only a system administrator (or a system robot
allowed to list projects, users, groups, robots and read the configuration) sees every project; any other
token is refused up front, never allowed to produce a silently partial inventory.

Harbor's CSRF protection applies to requests that carry its ``sid`` session cookie
(src/server/middleware/csrf/csrf.go), so this client keeps no cookies at all.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy

from pipeaccess.redact import register_secret

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
    Unsupported,
)
from ..choices import AccountState, AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from .harbor_revoke import ROBOT_REVOCATION_MODES, Revocation, refusal
from .harbor_roles import CUSTOM_ROLE_NOTE, ROLES, member_role, robot_access

API_PATH = "/api/v2.0"
PAGE_SIZE = 100
INSTANCE_ID = "instance"
ANONYMOUS_ID = "pseudo:anonymous"
GROUP_TYPES = {1: "ldap", 2: "http", 3: "oidc"}
# What a robot token needs to see everything (GET /users/current/permissions?scope=/system).
ROBOT_NEEDS = (
    ("project", "list"),
    ("user", "list"),
    ("user-group", "list"),
    ("robot", "list"),
    ("configuration", "read"),
)
# Authentication settings that make a group's members (or named users) system administrators, per auth mode.
ADMIN_GROUP_ITEMS = {
    "ldap_auth": ("ldap_group_admin_dn", 1),
    "oidc_auth": ("oidc_admin_group", 3),
    "http_auth": ("http_authproxy_admin_groups", 2),
}
LAST_USE_UNKNOWN = "Harbor's API does not report when a robot was last used (see its audit log)"


class HarborConnector(BaseConnector):
    kind = "harbor"
    label = "Harbor"
    option_specs = {
        "username": OptionSpec(
            required=True, help="the user (a system administrator) or robot full name the token belongs to"
        ),
        "robot_revocation": OptionSpec(help="what revoking a robot's last grant does: delete (default) or disable"),
    }
    secret_names = ("token",)
    revocable = frozenset({"direct", "system_admin"})

    @classmethod
    def api_url(cls, base_url: str) -> str:
        url = base_url.rstrip("/")
        return url if url.endswith(API_PATH) else f"{url}{API_PATH}"

    @classmethod
    def validate_options(cls, options: dict) -> None:
        super().validate_options(options)
        mode = options.get("robot_revocation", "delete")
        if mode not in ROBOT_REVOCATION_MODES:
            raise ConfigurationError(f"robot_revocation= is one of {', '.join(ROBOT_REVOCATION_MODES)}, not {mode!r}")

    @property
    def http(self):
        return self._http

    @http.setter
    def http(self, client) -> None:
        """Keep no cookies: a Harbor session cookie would subject every write to its CSRF check."""
        self._http = client
        if client is not None:
            client.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    @property
    def username(self) -> str:
        return self.config.options["username"]

    def auth_headers(self) -> dict[str, str]:
        secret = self.config.secret("token")
        register_secret(secret)
        credentials = base64.b64encode(f"{self.username}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {credentials}", "Accept": "application/json"}

    # --- test ---------------------------------------------------------------

    def test(self) -> str:
        # GET /systeminfo (swagger.yaml): version and auth mode, shown to any authenticated caller
        info = self.http.get("/systeminfo").data or {}
        who = self._require_full_view()
        version = info.get("harbor_version") or "version not shown"
        return f"Harbor {version} ({info.get('auth_mode') or 'auth mode not shown'}); {who} sees the whole instance"

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        """Every record once: the first version of an account or resource wins (listed ones come first)."""
        seen: set[str] = set()
        for record in self._records():
            key = f"grant:{record.key}" if isinstance(record, GrantRecord) else record.external_id
            if key in seen:
                continue
            seen.add(key)
            yield record

    def _records(self) -> Iterator[Record]:
        self._require_full_view()
        config = self._configuration()
        instance = self.extract_instance(config)
        yield instance

        projects = [self.extract_project(p) for p in self._list("/projects", key="project_id", what="projects")]
        yield from projects
        by_name = {project.path: project for project in projects}

        users = {u["user_id"]: u for u in self._list("/users", key="user_id", what="users")}
        yield from (self.extract_user(user) for user in users.values())
        groups = {g["id"]: g for g in self._list("/usergroups", key="id", what="user groups")}
        yield from (self.extract_group(group) for group in groups.values())

        public = [project for project in projects if project.attributes["public"]]
        if public:
            yield AccountRecord(ANONYMOUS_ID, "anonymous", AccountType.PSEUDO, name="anyone, without logging in")
        for project in public:
            yield GrantRecord(
                project.external_id,
                GrantKind.PERMISSION,
                "public",
                Level.READ,
                "direct",
                account_external_id=ANONYMOUS_ID,
                attributes={"metadata": "public"},
            )

        yield from self._system_admins(config, users, groups)

        # Without q, GET /robots lists the system robots only (src/server/v2.0/handler/robot.go ListRobot)
        for robot in self._list("/robots", key="id", what="system robot accounts"):
            yield from self._robot_records(robot, users, by_name)

        def read(project: ResourceRecord) -> list[Record]:
            return self._project_records(project, users, by_name)

        for records in self.http.imap(read, projects):
            yield from records

    def _project_records(self, project: ResourceRecord, users: dict, by_name: dict) -> list[Record]:
        """Members and project robots of one project, addressed by id (a project may be named "42")."""
        project_id = project.attributes["project_id"]
        records: list[Record] = []
        members = self._list(f"/projects/{project_id}/members", key="id", what=f"members of {project.path}")
        for member in members:
            account = self.extract_member_account(member)
            permission, level = member_role(member.get("role_id"), member.get("role_name"))
            attributes = {"member_id": member["id"], "role_id": member["role_id"]}
            if member.get("role_id") not in ROLES:
                attributes["custom_role"] = CUSTOM_ROLE_NOTE
            grant = GrantRecord(
                project.external_id,
                GrantKind.PERMISSION,
                permission,
                level,
                "direct",
                account_external_id=account.external_id,
                attributes=attributes,
            )
            records.extend((account, grant))  # the account is already yielded unless it appeared mid-sync
        query = {"q": f"Level=project,ProjectID={project_id}"}
        for robot in self._list("/robots", query, key="id", what=f"robot accounts of {project.path}"):
            records.extend(self._robot_records(robot, users, by_name, project=project))
        return records

    def _system_admins(self, config: dict, users: dict, groups: dict) -> Iterator[Record]:
        """One instance grant per administrator, cascading to every project at owner."""
        auth_mode = _config_value(config, "auth_mode") or ""
        sources: dict[str, list[str]] = {}
        accounts: dict[str, AccountRecord] = {}
        for user in users.values():
            if user.get("sysadmin_flag"):
                sources.setdefault(f"user:{user['user_id']}", []).append("sysadmin_flag")
        if auth_mode == "http_auth":
            by_username = {user["username"]: user for user in users.values()}
            for name in _split(_config_value(config, "http_authproxy_admin_usernames")):
                user = by_username.get(name)
                external_id = f"user:{user['user_id']}" if user else f"admin_user:{name}"
                if user is None:  # not logged in yet, so unknown to Harbor's user list
                    accounts[external_id] = AccountRecord(external_id, name, attributes={"onboarded": False})
                sources.setdefault(external_id, []).append("http_authproxy_admin_usernames")
        item, group_type = ADMIN_GROUP_ITEMS.get(auth_mode, (None, None))
        if item is not None:
            names = _split(_config_value(config, item)) if group_type == 2 else [_config_value(config, item) or ""]
            for name in filter(None, (n.strip() for n in names)):
                account = self._admin_group(name, group_type, groups)
                accounts.setdefault(account.external_id, account)
                sources.setdefault(account.external_id, []).append(item)
        yield from accounts.values()
        for external_id, found in sources.items():
            attributes = {"sources": found}
            if external_id.startswith("user:"):
                attributes["user_id"] = int(external_id.removeprefix("user:"))
            yield GrantRecord(
                INSTANCE_ID,
                GrantKind.PERMISSION,
                "sysadmin",
                Level.OWNER,
                "system_admin",
                account_external_id=external_id,
                cascade_to=(ResourceType.PROJECT,),
                cascade_level=Level.OWNER,
                attributes=attributes,
            )

    def _admin_group(self, name: str, group_type: int, groups: dict) -> AccountRecord:
        """The group a setting names: the known user group when there is one (LDAP: by DN)."""
        for group in groups.values():
            if group.get("group_type") != group_type:
                continue
            value = group.get("ldap_group_dn") if group_type == 1 else group.get("group_name")
            if (value or "").casefold() == name.casefold():
                return self.extract_group(group)
        kind = GROUP_TYPES[group_type]
        attributes = {"group_type": kind, "onboarded": False} | ({"ldap_group_dn": name} if group_type == 1 else {})
        return AccountRecord(f"admin_group:{kind}:{name}", name, AccountType.GROUP, attributes=attributes)

    def _robot_records(
        self, robot: dict, users: dict, by_name: dict, project: ResourceRecord | None = None
    ) -> list[Record]:
        """The robot and one grant per permission namespace (entries for the same one are merged)."""
        merged: dict[tuple[str, str], list[dict]] = {}
        for permission in robot.get("permissions") or []:
            scope = (str(permission.get("kind") or ""), str(permission.get("namespace") or ""))
            merged.setdefault(scope, []).extend(permission.get("access") or [])
        grants: list[Record] = []
        unknown: list[str] = []
        for (kind, namespace), access in merged.items():
            permission, level = robot_access(access)
            extra: dict = {}
            if kind == "system":
                target = INSTANCE_ID
            elif namespace == "*":
                target = INSTANCE_ID
                extra = {"cascade_to": (ResourceType.PROJECT,), "cascade_level": level, "applies_to_self": False}
            elif namespace in by_name:
                target = by_name[namespace].external_id
            elif project is not None:  # a project robot's namespace is its project, whatever the name says
                target = project.external_id
            else:  # a project deleted since the robot was made
                unknown.append(f"{kind}:{namespace}")
                continue
            grants.append(
                GrantRecord(
                    target,
                    GrantKind.PERMISSION,
                    permission,
                    level,
                    "direct",
                    account_external_id=f"robot:{robot['id']}",
                    attributes={"robot_id": robot["id"], "permission_kind": kind, "namespace": namespace},
                    **extra,
                )
            )
        scopes = sorted(f"{kind}:{namespace}" for kind, namespace in merged)
        return [self.extract_robot(robot, users, scopes=scopes, unknown=unknown), *grants]

    # --- requests -----------------------------------------------------------

    def _require_full_view(self) -> str:
        """Who the token is, if it sees the whole instance; a PermissionProblem otherwise."""
        response = self.http.request("GET", "/users/current", ok=(200, 412))
        if response.status == 200:
            # An OIDC user's profile carries their CLI secret: read two fields, keep nothing else.
            name, admin = response.data.get("username"), response.data.get("sysadmin_flag")
            if not admin:
                raise PermissionProblem(
                    f"Harbor user {name} is not a system administrator: it would see only its own projects and the "
                    "public ones, so the inventory would be silently partial"
                )
            return f"system administrator {name}"
        # 412: a robot account, which has no user profile; check its system-level permissions instead.
        granted = self.http.get("/users/current/permissions", {"scope": "/system", "relative": "true"}).data or []
        have = {(p.get("resource"), p.get("action")) for p in granted if isinstance(p, dict)}
        missing = [
            f"{resource}:{action}"
            for resource, action in ROBOT_NEEDS
            if not {(resource, action), (resource, "*"), ("*", action), ("*", "*")} & have
        ]
        if missing:
            raise PermissionProblem(
                f"robot {self.username} lacks the system permissions {', '.join(missing)}: it would not see the "
                "whole instance"
            )
        return f"robot {self.username}"

    def _configuration(self) -> dict:
        # GET /configurations (swagger.yaml, system administrators only): items wrapped as {"value", "editable"}
        data = self.http.get("/configurations").data
        if not isinstance(data, dict):
            raise ConnectorError("Harbor answered /configurations with something other than an object", permanent=True)
        return data

    def _list(self, path: str, params: dict | None = None, *, key: str, what: str) -> list[dict]:
        """Every item of a paginated list, unique by ``key``; read again once if it changed while paged."""
        for _attempt in range(2):
            items, totals = self._pages(path, params, what)
            unique = {item[key]: item for item in items}
            # Offset paging skips or repeats items when the list changes between pages; the counts show it.
            if not totals or (len(totals) == 1 and len(unique) in totals):
                return list(unique.values())
        raise ConnectorError(
            f"the list of {what} changed while it was read ({len(unique)} items, Harbor counted "
            f"{', '.join(map(str, sorted(totals)))}); nothing recorded, the next sync reads it again"
        )

    def _pages(self, path: str, params: dict | None, what: str) -> tuple[list[dict], set[int]]:
        """The items of every page, and the distinct X-Total-Count values the pages reported."""
        items: list[dict] = []
        totals: set[int] = set()
        try:
            for page in self.http.paginate(path, {**(params or {}), "page_size": PAGE_SIZE}):
                if not isinstance(page.data, list):
                    raise ConnectorError(f"Harbor answered {path} with something other than a list", permanent=True)
                items.extend(page.data)
                total = _int(page.headers.get("x-total-count"))
                if total is not None:
                    totals.add(total)
        except HttpError as exc:
            if exc.status == 404 and path.startswith("/projects/"):
                raise ConnectorError(
                    f"the {what} could not be read (404): the project went away during the sync"
                ) from exc
            if exc.status == 404:
                raise ConnectorError(
                    f"Harbor answered 404 for {path}: is {self.config.api_url} a Harbor 2.x API?", permanent=True
                ) from exc
            raise
        return items, totals

    # --- extract hooks: raw payload -> records --------------------------------

    def extract_instance(self, config: dict) -> ResourceRecord:
        return ResourceRecord(
            INSTANCE_ID,
            ResourceType.INSTANCE,
            "/",
            name="Harbor",
            attributes={"auth_mode": _config_value(config, "auth_mode")},
        )

    def extract_project(self, project: dict) -> ResourceRecord:
        metadata = project.get("metadata") or {}
        return ResourceRecord(
            external_id=f"project:{project['project_id']}",
            type=ResourceType.PROJECT,
            path=project["name"],
            name=project["name"],
            parent_external_id=INSTANCE_ID,
            attributes={
                "project_id": project["project_id"],
                "public": str(metadata.get("public", "false")).lower() == "true",
                "proxy_cache": bool(project.get("registry_id")),
                "owner": project.get("owner_name") or "",
                "created_at": project.get("creation_time"),
            },
        )

    def extract_user(self, user: dict) -> AccountRecord:
        return AccountRecord(
            external_id=f"user:{user['user_id']}",
            login=user["username"],
            name=user.get("realname") or "",
            email=user.get("email") or "",
            is_admin=bool(user.get("sysadmin_flag")),
            attributes={"user_id": user["user_id"], "created_at": user.get("creation_time")},
        )

    def extract_group(self, group: dict) -> AccountRecord:
        """A user group: Harbor cannot list its members (they live in the LDAP/OIDC/HTTP identity provider)."""
        attributes = {"group_id": group["id"], "group_type": GROUP_TYPES.get(group.get("group_type"), "unknown")}
        if group.get("ldap_group_dn"):
            attributes["ldap_group_dn"] = group["ldap_group_dn"]
        return AccountRecord(f"group:{group['id']}", group["group_name"], AccountType.GROUP, attributes=attributes)

    def extract_member_account(self, member: dict) -> AccountRecord:
        """The member's account as far as the member entry tells (the user and group lists tell more)."""
        entity_type = member.get("entity_type")
        if entity_type == "u":
            return AccountRecord(f"user:{member['entity_id']}", member["entity_name"])
        if entity_type == "g":
            return AccountRecord(f"group:{member['entity_id']}", member["entity_name"], AccountType.GROUP)
        raise ConnectorError(f"unknown Harbor member entity type {entity_type!r}", permanent=True)

    def extract_robot(self, robot: dict, users: dict, *, scopes: list[str], unknown: list[str]) -> AccountRecord:
        """A robot without its secret, with its scope, creator, creation and expiry."""
        expires_at = robot.get("expires_at")
        never = expires_at in (None, -1)
        if robot.get("disable"):
            state = AccountState.DISABLED
        elif not never and expires_at <= self.http.clock():
            state = AccountState.EXPIRED
        else:
            state = AccountState.ACTIVE
        creator = None
        if robot.get("creator_type") == "local" and robot.get("creator_ref") in users:
            creator = users[robot["creator_ref"]]["username"]
        elif robot.get("creator_type") == "robot" and robot.get("creator_ref"):
            creator = f"robot:{robot['creator_ref']}"
        attributes = {
            "robot_id": robot["id"],
            "level": robot.get("level"),
            "namespaces": scopes,
            "editable": robot.get("editable", True) is not False,
            "description": robot.get("description") or "",
            "duration_days": robot.get("duration"),
            "expires_at": None if never else datetime.fromtimestamp(expires_at, UTC).isoformat(),
            "creator": creator,
            "creator_type": robot.get("creator_type") or None,
            "created_at": robot.get("creation_time"),
            "updated_at": robot.get("update_time"),
            "last_used_at": None,
            "last_used_unknown_reason": LAST_USE_UNKNOWN,
        }
        if unknown:
            attributes["unknown_namespaces"] = unknown
        return AccountRecord(
            f"robot:{robot['id']}", robot["name"], AccountType.ROBOT, state=state, attributes=attributes
        )

    # --- revocation -----------------------------------------------------------

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        return refusal(grant, downgrade_to, username=self.username)

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        reason = self.cannot_revoke(grant, downgrade_to=downgrade_to)
        if reason is not None:
            raise Unsupported(reason)
        mode = self.config.options.get("robot_revocation", "delete")
        return Revocation(self.http, robot_mode=mode).run(grant, downgrade_to)

    def is_present(self, grant: GrantTarget) -> bool | None:
        if self.cannot_revoke(grant) is not None:
            return None
        mode = self.config.options.get("robot_revocation", "delete")
        return Revocation(self.http, robot_mode=mode).present(grant)


def _config_value(config: dict, key: str):
    """A configuration item's value (GET /configurations wraps each as {"value": …, "editable": …})."""
    item = config.get(key)
    return item.get("value") if isinstance(item, dict) else item


def _split(value) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
