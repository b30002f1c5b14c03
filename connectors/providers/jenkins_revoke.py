"""Taking a Jenkins grant away where it is made, then reading again to verify.

- a role-strategy assignment: ``POST /role-strategy/strategy/unassignUserRole`` (USER sids),
  ``unassignGroupRole`` (GROUP) or ``unassignRole`` (EITHER), with ``type`` and ``roleName``
  (RoleBasedAuthorizationStrategy.java javadoc). The plugin answers 200 whether or not anything was
  assigned, so the role is read (``getRole``) before, to report already_absent, and after, to report
  revoked only when the sid is really gone.
- a matrix entry on a folder or job: its ``config.xml`` is fetched, only that sid's ``<permission>``
  lines are removed from the text (everything else stays byte for byte), the document is fetched again
  just before the write and the write is refused if it changed in between (Jenkins has no conditional
  write), then posted back and read again.
Global matrix entries and folder-auth roles live in the instance configuration (JCasC or Manage Jenkins >
Security): reported as not revocable here.
"""

from __future__ import annotations

import re
from urllib.parse import quote
from xml.sax.saxutils import unescape

from ..base import ConnectorError, GrantTarget, Outcome, RevocationResult
from ..choices import Level
from .jenkins_perms import level_of, parse_entry

PERMISSION_LINE = re.compile(r"[ \t]*<permission>(.*?)</permission>[ \t]*\r?\n?", re.S)
UNASSIGN = {
    "USER": ("unassignUserRole", "user"),
    "GROUP": ("unassignGroupRole", "group"),
    "EITHER": ("unassignRole", "sid"),
}


def refusal(grant: GrantTarget, downgrade_to: Level | None) -> str | None:
    via = grant.via
    if grant.account is None:
        return "Jenkins grants are held by sids recorded as accounts"
    if via.startswith("role:"):
        if downgrade_to is not None:
            return "a role's permissions are shared by everyone assigned to it: unassign, or change the role itself"
        if "role_type" not in grant.attributes or grant.attributes.get("sid_type") not in UNASSIGN:
            return "not a role assignment"
        return None
    if via == "matrix:/":
        return "global matrix entries live in the instance configuration: change them with JCasC or Manage Jenkins"
    if via.startswith("matrix:"):
        if grant.attributes.get("item") is None:
            return "not a matrix entry of a folder or job"
        if downgrade_to is not None and downgrade_to >= grant.level:
            return f"{downgrade_to.label} is not below the grant's level ({grant.level.label})"
        return None
    if via.startswith("folder_role:"):
        return "folder-based authorization roles are changed in the instance configuration (JCasC), not here"
    return f"via {via} cannot be revoked: it is the authorization strategy itself"


def item_url(full_name: str) -> str:
    return "".join(f"/job/{quote(part, safe='')}" for part in full_name.split("/"))


class Revocation:
    def __init__(self, connector):
        self.connector = connector
        self.http = connector.http

    def run(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        try:
            self.connector.prepare_writes()
            if grant.via.startswith("role:"):
                return self._role(grant)
            return self._matrix(grant, downgrade_to)
        except ConnectorError as exc:
            return RevocationResult(Outcome.FAILED, str(exc))

    def present(self, grant: GrantTarget) -> bool | None:
        """Whether the sid still holds what the grant records (read only; None when Jenkins does not say)."""
        a = grant.attributes
        if grant.via.startswith("role:"):
            return self._assigned(a["role_type"], a["role_name"], a["sid_type"], a["sid"])
        config = self._config(a["item"])
        return config is not None and bool(remove_entries(config, a["sid_type"], a["sid"], None)[1])

    # -- role-strategy

    def _assigned(self, role_type: str, role: str, sid_type: str, sid: str) -> bool | None:
        response = self.http.request(
            "GET", "/role-strategy/strategy/getRole", params={"type": role_type, "roleName": role}, ok=(200, 404)
        )
        if response.status == 404 or not isinstance(response.data, dict):
            return None
        return any(s.get("type") == sid_type and s.get("sid") == sid for s in response.data.get("sids") or [])

    def _role(self, grant: GrantTarget) -> RevocationResult:
        a = grant.attributes
        role_type, role, sid_type, sid = a["role_type"], a["role_name"], a["sid_type"], a["sid"]
        where = f"{sid} from role {role} ({role_type})"
        if not self._assigned(role_type, role, sid_type, sid):
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{sid} is not assigned to role {role} (or it is gone)")
        call, field = UNASSIGN[sid_type]
        params = {"type": role_type, "roleName": role, field: sid}
        self.http.request("POST", f"/role-strategy/strategy/{call}", params=params)
        # 200 says nothing: the plugin answers it for a no-op too.
        if self._assigned(role_type, role, sid_type, sid):
            return RevocationResult(Outcome.FAILED, f"Jenkins answered 200, but {sid} is still assigned to {role}")
        return RevocationResult(Outcome.REVOKED, f"unassigned {where}")

    # -- matrix entries in an item's config.xml

    def _config(self, item: str) -> str | None:
        response = self.http.request("GET", f"{item_url(item)}/config.xml", ok=(200, 404))
        return response.text if response.status == 200 else None

    def _matrix(self, grant: GrantTarget, downgrade_to: Level | None) -> RevocationResult:
        item, sid_type, sid = grant.attributes["item"], grant.attributes["sid_type"], grant.attributes["sid"]
        before = self._config(item)
        if before is None:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{item} no longer exists")
        edited, removed = remove_entries(before, sid_type, sid, downgrade_to)
        if not removed:
            return RevocationResult(Outcome.ALREADY_ABSENT, f"{sid} has nothing to remove in {item}'s matrix")
        if self._config(item) != before:
            return RevocationResult(
                Outcome.FAILED, f"{item}'s config.xml changed while it was edited; nothing written, sync and retry"
            )
        self.http.request("POST", f"{item_url(item)}/config.xml", body=edited.encode(), content_type="application/xml")
        after = self._config(item) or ""
        _, left = remove_entries(after, sid_type, sid, downgrade_to)
        if left:
            return RevocationResult(
                Outcome.FAILED, f"Jenkins accepted the config.xml, but {sid} keeps {', '.join(left)}"
            )
        return RevocationResult(Outcome.REVOKED, f"removed {', '.join(removed)} of {sid} from {item}")


def remove_entries(text: str, sid_type: str, sid: str, downgrade_to: Level | None) -> tuple[str, list[str]]:
    """The text without that sid's lines (those above ``downgrade_to`` only), and the permissions removed."""
    removed: list[str] = []

    def drop(match: re.Match) -> str:
        kind, permission, holder = parse_entry(unescape(match.group(1), {"&quot;": '"', "&apos;": "'"}))
        if kind != sid_type or holder != sid:
            return match.group(0)
        if downgrade_to is not None and level_of(permission) <= downgrade_to:
            return match.group(0)
        removed.append(permission)
        return ""

    return PERMISSION_LINE.sub(drop, text), removed
