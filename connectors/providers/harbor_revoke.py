"""Taking one Harbor grant away where it is made, then reading it back to verify.

What each recorded grant maps to (API v2.0, goharbor/harbor api/v2.0/swagger.yaml):
- a project membership (user or group, via direct): DELETE /projects/{id}/members/{member id}, or a
  downgrade with PUT …/members/{member id} {"role_id": N};
- anonymous read of a public project: PUT /projects/{id} {"metadata": {"public": "false"}};
- the sysadmin flag: PUT /users/{id}/sysadmin {"sysadmin_flag": false};
- a robot's permission on one namespace: PUT /robots/{id} with that namespace removed (or its actions
  reduced for a downgrade); its last permission: DELETE /robots/{id}, or PUT with "disable": true when the
  connector's robot_revocation option says disable. Harbor's robot update replaces the whole robot, so the
  body is the robot as just read (a missing "disable" would re-enable it, a missing "duration" reset its expiry).

Harbor answers 404 for absent members, robots and users and 200 for a flag set to what it already is, so
every revocation reads the current state first (already_absent when there is nothing to take away) and
again afterwards (revoked only when the change is visible).
"""

from __future__ import annotations

from ..base import ConnectorError, GrantTarget, Outcome, RevocationResult
from ..choices import AccountType, Level, ResourceType
from .harbor_roles import ROLE_FOR_LEVEL, ROLES, action_level, member_role, parse_permission, robot_access

ROBOT_REVOCATION_MODES = ("delete", "disable")
# Fields of a robot that PUT /robots/{id} takes back; never a secret.
ROBOT_FIELDS = ("id", "name", "description", "level", "duration", "editable", "disable", "expires_at", "permissions")


def refusal(grant: GrantTarget, downgrade_to: Level | None, *, username: str) -> str | None:
    """Why this grant cannot be revoked (or downgraded) here, or None."""
    if downgrade_to is not None and downgrade_to >= grant.level:
        return f"{downgrade_to.label} is not below the grant's level ({grant.level.label})"
    account = grant.account
    if account is None:
        return "this Harbor connector records grants held by accounts only"
    if grant.via == "system_admin":
        return _sysadmin_refusal(grant, downgrade_to, username)
    if grant.via != "direct":
        return f"via {grant.via} is not a Harbor grant"
    if account.type == AccountType.PSEUDO:
        if downgrade_to is not None:
            return "anonymous access to a public project is read-only already; revoke it to make the project private"
        return None
    if account.type == AccountType.ROBOT:
        return _robot_refusal(grant, downgrade_to, username)
    if account.type in (AccountType.HUMAN, AccountType.GROUP):
        if grant.resource.type != ResourceType.PROJECT or "member_id" not in grant.attributes:
            return "not a project membership"
        return None
    return f"{account.type} accounts hold no revocable Harbor grant"


def _sysadmin_refusal(grant: GrantTarget, downgrade_to: Level | None, username: str) -> str | None:
    account = grant.account
    configured = [source for source in grant.attributes.get("sources", []) if source != "sysadmin_flag"]
    if downgrade_to is not None:
        return "Harbor's system administrator role is a flag: it can be removed, not lowered"
    if configured:
        return (
            f"granted by Harbor's authentication settings ({', '.join(configured)}): change them under "
            "Configuration > Authentication, or the group's members in the identity provider"
        )
    if account.type != AccountType.HUMAN or "user_id" not in grant.attributes:
        return "not a user's sysadmin flag"
    if account.login == username:
        return "this is the connector's own account: without it no later sync could read Harbor"
    return None


def _robot_refusal(grant: GrantTarget, downgrade_to: Level | None, username: str) -> str | None:
    account = grant.account
    if account.login == username:
        return "this is the connector's own robot account: without it no later sync could read Harbor"
    if "robot_id" not in account.attributes or "namespace" not in grant.attributes:
        return "not a robot permission"
    editable = account.attributes.get("editable", True)
    if downgrade_to is not None:
        if not editable:
            return "a legacy (v1) robot's permissions cannot be changed (Harbor ignores them); delete or disable it"
        if not any(action_level(*pair) <= downgrade_to for pair in parse_permission(grant.permission)):
            return f"none of this robot's permissions is at {downgrade_to.label} or below; revoke it instead"
    elif not editable and len(account.attributes.get("namespaces") or []) > 1:
        return "a legacy (v1) robot's permissions cannot be changed; only the whole robot can be deleted or disabled"
    return None


def _done(outcome: str, message: str) -> RevocationResult:
    return RevocationResult(outcome, message)


class Revocation:
    """One revocation through one connector's HTTP client; run() never raises for an upstream answer."""

    def __init__(self, http, *, robot_mode: str = "delete"):
        self.http = http
        self.robot_mode = robot_mode

    def run(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        try:
            if grant.via == "system_admin":
                return self._sysadmin(grant)
            if grant.account.type == AccountType.PSEUDO:
                return self._public(grant)
            if grant.account.type == AccountType.ROBOT:
                return self._robot(grant, downgrade_to)
            return self._member(grant, downgrade_to)
        except ConnectorError as exc:
            return _done(Outcome.FAILED, str(exc))

    def present(self, grant: GrantTarget) -> bool:
        """Whether there is still something to take away (the reads revoke() starts with, nothing written)."""
        if grant.via == "system_admin":
            user = self._read(f"/users/{grant.attributes['user_id']}")
            return bool(user and user.get("username") == grant.account.login and user.get("sysadmin_flag"))
        if grant.account.type == AccountType.PSEUDO:
            project = self._read(f"/projects/{_project_id(grant)}")
            return project is not None and _is_public(project)
        if grant.account.type == AccountType.ROBOT:
            robot = self._read(f"/robots/{grant.account.attributes['robot_id']}")
            if robot is None or robot.get("name") != grant.account.login:
                return False
            if self.robot_mode == "disable" and robot.get("disable"):
                return False
            scope = (grant.attributes.get("permission_kind"), grant.attributes["namespace"])
            return any((p.get("kind"), p.get("namespace")) == scope for p in robot.get("permissions") or [])
        current = self._read(f"/projects/{_project_id(grant)}/members/{grant.attributes['member_id']}")
        if current is not None and _same_member(current, grant):
            return True
        return self._find_member(grant) is not None

    def _read(self, path: str) -> dict | None:
        response = self.http.request("GET", path, ok=(200, 404))
        return response.data if response.status == 200 and isinstance(response.data, dict) else None

    # -- project memberships

    def _member(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        login, project = grant.account.login, grant.resource.path
        path = f"/projects/{_project_id(grant)}/members/{grant.attributes['member_id']}"
        current = self._read(path)
        if current is None or not _same_member(current, grant):
            again = self._find_member(grant)
            if again is not None:  # a new membership nobody reviewed: report it rather than guess
                return _done(
                    Outcome.FAILED,
                    f"{login} was removed from {project} and added again since the last sync "
                    f"(member {again['id']}, {again.get('role_name')}); sync and review that membership",
                )
            return _done(Outcome.ALREADY_ABSENT, f"{login} is no longer a member of {project}")
        if downgrade_to is not None:
            role = ROLE_FOR_LEVEL[downgrade_to]
            name, level = member_role(current.get("role_id"), current.get("role_name"))
            if level <= downgrade_to:
                return _done(Outcome.ALREADY_ABSENT, f"{login} is {name} of {project}, not above {downgrade_to.label}")
            self.http.request("PUT", path, json={"role_id": role})
            after = self._read(path)
            if after is not None and after.get("role_id") == role:
                return _done(Outcome.REVOKED, f"{login} is now {ROLES[role][0]} of {project}")
            shown = after.get("role_name") if after else "no longer a member"
            return _done(Outcome.FAILED, f"Harbor accepted the change, but {login} is still {shown} of {project}")
        if self.http.request("DELETE", path, ok=(200, 404)).status == 404:
            return _done(Outcome.ALREADY_ABSENT, f"{login} is no longer a member of {project}")
        if self._read(path) is None:
            return _done(Outcome.REVOKED, f"removed {login} from {project}")
        return _done(Outcome.FAILED, f"Harbor accepted the removal, but {login} is still a member of {project}")

    def _find_member(self, grant: GrantTarget) -> dict | None:
        """The account's current membership of the project under any member id (entityname is a fuzzy filter)."""
        path = f"/projects/{_project_id(grant)}/members"
        for page in self.http.paginate(path, {"entityname": grant.account.login, "page_size": 100}):
            for member in page.data if isinstance(page.data, list) else []:
                if _same_member(member, grant):
                    return member
        return None

    # -- anonymous access

    def _public(self, grant: GrantTarget) -> RevocationResult:
        project = grant.resource.path
        path = f"/projects/{_project_id(grant)}"
        current = self._read(path)
        if current is None or not _is_public(current):
            return _done(Outcome.ALREADY_ABSENT, f"{project} is not public (or no longer exists)")
        self.http.request("PUT", path, json={"metadata": {"public": "false"}})
        after = self._read(path)
        if after is not None and not _is_public(after):
            return _done(Outcome.REVOKED, f"{project} is private now: anonymous pull is off")
        return _done(Outcome.FAILED, f"Harbor accepted the change, but {project} is still public")

    # -- system administrators

    def _sysadmin(self, grant: GrantTarget) -> RevocationResult:
        login = grant.account.login
        path = f"/users/{grant.attributes['user_id']}"
        current = self._read(path)
        if current is None or current.get("username") != login or not current.get("sysadmin_flag"):
            return _done(Outcome.ALREADY_ABSENT, f"{login} is not a system administrator (or no longer exists)")
        self.http.request("PUT", f"{path}/sysadmin", json={"sysadmin_flag": False})
        after = self._read(path)
        if after is not None and not after.get("sysadmin_flag"):
            return _done(Outcome.REVOKED, f"{login} is no longer a system administrator")
        return _done(Outcome.FAILED, f"Harbor accepted the change, but {login} is still a system administrator")

    # -- robots

    def _robot(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        login = grant.account.login
        path = f"/robots/{grant.account.attributes['robot_id']}"
        scope = (grant.attributes.get("permission_kind"), grant.attributes["namespace"])
        robot = self._read(path)
        if robot is None or robot.get("name") != login:
            return _done(Outcome.ALREADY_ABSENT, f"robot {login} no longer exists")
        permissions = robot.get("permissions") or []
        mine = [p for p in permissions if (p.get("kind"), p.get("namespace")) == scope]
        others = [p for p in permissions if (p.get("kind"), p.get("namespace")) != scope]
        if not mine:
            return _done(Outcome.ALREADY_ABSENT, f"robot {login} has no permission on {scope[1]} any more")
        if downgrade_to is not None:
            return self._robot_downgrade(path, robot, mine, others, downgrade_to)
        if others:
            if robot.get("editable") is False:
                return _done(Outcome.FAILED, f"robot {login} is a legacy robot: its permissions cannot be changed")
            self._put_robot(path, robot, permissions=others)
            after = self._read(path)
            still = after is not None and any(
                (p.get("kind"), p.get("namespace")) == scope for p in after.get("permissions") or []
            )
            if after is not None and not still:
                return _done(Outcome.REVOKED, f"removed robot {login}'s permission on {scope[1]}")
            return _done(Outcome.FAILED, f"Harbor accepted the change, but robot {login} keeps its {scope[1]} access")
        return self._robot_whole(path, robot)

    def _robot_downgrade(self, path: str, robot: dict, mine: list, others: list, downgrade_to: Level):
        login = robot["name"]
        access = [a for p in mine for a in p.get("access") or []]
        _, level = robot_access(access)
        if level <= downgrade_to:
            return _done(Outcome.ALREADY_ABSENT, f"robot {login}'s permission is not above {downgrade_to.label}")
        if robot.get("editable") is False:
            return _done(Outcome.FAILED, f"robot {login} is a legacy robot: its permissions cannot be changed")
        kept = [
            a for a in access if a.get("effect") == "deny" or action_level(a["resource"], a["action"]) <= downgrade_to
        ]
        if not any(a.get("effect") != "deny" for a in kept):
            return _done(Outcome.FAILED, f"none of robot {login}'s actions is at {downgrade_to.label} or below")
        reduced = {"kind": mine[0].get("kind"), "namespace": mine[0].get("namespace"), "access": kept}
        self._put_robot(path, robot, permissions=[*others, reduced])
        after = self._read(path) or {}
        scope = (reduced["kind"], reduced["namespace"])
        remaining = [
            a
            for p in after.get("permissions") or []
            if (p.get("kind"), p.get("namespace")) == scope
            for a in p.get("access") or []
        ]
        if after and robot_access(remaining)[1] <= downgrade_to:
            return _done(Outcome.REVOKED, f"robot {login} now has {robot_access(remaining)[0]} on {scope[1]}")
        return _done(
            Outcome.FAILED, f"Harbor accepted the change, but robot {login} keeps more than {downgrade_to.label}"
        )

    def _robot_whole(self, path: str, robot: dict) -> RevocationResult:
        login = robot["name"]
        if self.robot_mode == "disable":
            if robot.get("disable"):
                return _done(Outcome.ALREADY_ABSENT, f"robot {login} is disabled already")
            self._put_robot(path, robot, disable=True)
            after = self._read(path)
            if after is not None and after.get("disable"):
                return _done(Outcome.REVOKED, f"disabled robot {login}")
            return _done(Outcome.FAILED, f"Harbor accepted the change, but robot {login} is still enabled")
        if self.http.request("DELETE", path, ok=(200, 404)).status == 404:
            return _done(Outcome.ALREADY_ABSENT, f"robot {login} no longer exists")
        if self._read(path) is None:
            return _done(Outcome.REVOKED, f"deleted robot {login}")
        return _done(Outcome.FAILED, f"Harbor accepted the deletion, but robot {login} still exists")

    def _put_robot(self, path: str, robot: dict, **changes) -> None:
        """Harbor replaces the whole robot: send back what was read, with only ``changes`` different."""
        body = {key: robot[key] for key in ROBOT_FIELDS if key in robot} | changes
        self.http.request("PUT", path, json=body)


def _project_id(grant: GrantTarget) -> int:
    project_id = grant.resource.attributes.get("project_id")
    if project_id is None:
        project_id = int(grant.resource.external_id.removeprefix("project:"))
    return project_id


def _same_member(member: dict, grant: GrantTarget) -> bool:
    prefix = {"u": "user", "g": "group"}.get(member.get("entity_type"))
    return f"{prefix}:{member.get('entity_id')}" == grant.account.external_id


def _is_public(project: dict) -> bool:
    return str((project.get("metadata") or {}).get("public", "false")).lower() == "true"
