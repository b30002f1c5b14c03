"""Jenkins: who can do what on one controller, from whichever authorization strategy is in use.

Reads (jenkins.io/doc/book/using/remote-access-api; API-NOTES section 3):
- users ``GET /asynchPeople/api/json?tree=users[user[id,fullName]]``; the folder/job tree with ``tree=``
  queries on ``/api/json`` (a folder nested deeper than the query reaches is read from its own
  ``/job/…/api/json``; never ``depth=``); agents ``GET /computer/api/json``;
- the strategy from the JCasC export ``POST /manage/configuration-as-code/export``
  (configuration-as-code-plugin; needs Overall/SystemRead);
- role-strategy (https://plugins.jenkins.io/role-strategy/, RoleBasedAuthorizationStrategy.java javadoc):
  ``getAllRoles`` and ``getRole`` per role type, ``getMatchingJobs``/``getMatchingAgents`` to resolve each
  project or agent role's regex with Jenkins' own regex engine. A project/agent role is recorded once as a
  resource ``role/project/NAME`` whose ``reach`` lists the items it matches; each sid's grant is on it;
- matrix-auth (https://plugins.jenkins.io/matrix-auth/): global entries from the export, item entries from
  every folder's and job's ``config.xml`` with their inheritance strategy;
- folder-auth (https://plugins.jenkins.io/folder-auth/): global, folder and agent roles from the export.
Auth: Basic with the user's API token (no crumb needed since Jenkins 2.96); with option ``auth=password``
a crumb is fetched from ``/crumbIssuer/api/json`` before any POST and the session cookie kept, as the
default crumb issuer binds a crumb to its session (jenkins.io/doc/book/security/csrf-protection).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import yaml
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

from pipeaccess.redact import register_secret

from ..base import (
    AccountRecord,
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    GrantRecord,
    GrantTarget,
    OptionSpec,
    Record,
    ResourceRecord,
    RevocationResult,
    Unsupported,
)
from ..choices import AccountType, GrantKind, Level, ResourceType
from ..http import HttpError
from .jenkins_perms import agent_level, highest, item_level, java_id, parse_entry, short_name
from .jenkins_revoke import Revocation, item_url, refusal

INSTANCE_ID = "instance"
ROLE_RESOURCE = "role"  # a role-strategy or folder-auth role, recorded once with the items it reaches
ITEM_TYPES = (ResourceType.FOLDER, ResourceType.JOB)
PSEUDO = ("anonymous", "authenticated")
TREE_DEPTH = 4
ROLE_TYPES = {"globalRoles": "global", "projectRoles": "project", "slaveRoles": "agent"}
MATRIX_PROPERTIES = (
    "com.cloudbees.hudson.plugins.folder.properties.AuthorizationMatrixProperty",
    "hudson.security.AuthorizationMatrixProperty",
)
INHERITANCE = {
    "org.jenkinsci.plugins.matrixauth.inheritance.InheritParentStrategy": "parent",
    "org.jenkinsci.plugins.matrixauth.inheritance.InheritGlobalStrategy": "global",
    "org.jenkinsci.plugins.matrixauth.inheritance.NonInheritingStrategy": "none",
}


def _tree_query(depth: int) -> str:
    query = "jobs[name]"
    for _ in range(depth):
        query = f"jobs[name,_class,{query}]"
    return query


TREE = _tree_query(TREE_DEPTH)


class JenkinsConnector(BaseConnector):
    kind = "jenkins"
    label = "Jenkins"
    option_specs = {
        "username": OptionSpec(required=True, help="the Jenkins user the token belongs to"),
        "auth": OptionSpec(help="api_token (default: no crumb needed) or password (crumb + session cookie)"),
    }
    secret_names = ("token",)
    revocable = frozenset({"role:*", "matrix:ITEM"})

    @classmethod
    def validate_options(cls, options: dict) -> None:
        super().validate_options(options)
        if options.get("auth", "api_token") not in ("api_token", "password"):
            raise ConfigurationError("auth= is api_token or password")

    def auth_headers(self) -> dict[str, str]:
        secret = self.config.secret("token")
        register_secret(secret)
        credentials = base64.b64encode(f"{self.config.options['username']}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {credentials}", "Accept": "application/json"}

    def prepare_writes(self) -> None:
        """With a password, POSTs need a crumb from the same session; the client's cookie jar keeps it."""
        if self.config.options.get("auth", "api_token") != "password" or getattr(self, "_crumb_ready", False):
            return
        data = self.http.get("/crumbIssuer/api/json").data or {}
        self.http.set_credential(data.get("crumbRequestField") or "Jenkins-Crumb", str(data.get("crumb", "")))
        self._crumb_ready = True

    def test(self) -> str:
        who = self.http.get("/whoAmI/api/json").data or {}
        return f"Jenkins user {who.get('name')}; strategy {self._strategy_name(self._export())}"

    # --- fetch --------------------------------------------------------------

    def fetch(self) -> Iterator[Record]:
        self.accounts: dict[str, AccountRecord] = {}
        strategy = self._export()
        self.items = self._tree()
        self.agents = self._agents()
        for person in self.http.get("/asynchPeople/api/json", {"tree": "users[user[id,fullName]]"}).data["users"]:
            user = person.get("user") or {}
            self.accounts[f"user:{user['id']}"] = AccountRecord(
                f"user:{user['id']}", user["id"], name=user.get("fullName") or ""
            )
        name = self._strategy_name(strategy)
        body = strategy.get(name) if isinstance(strategy, dict) else None
        handler = {
            "roleBased": self._role_based,
            "projectMatrix": self._matrix,
            "globalMatrix": self._matrix,
            "folderBased": self._folder_based,
        }.get(name, self._simple)
        others = list(handler(name, body or {}))
        yield ResourceRecord(INSTANCE_ID, ResourceType.INSTANCE, "/", name="Jenkins", attributes={"strategy": name})
        yield from self.items.values()  # after the handler: a non-inheriting matrix marks its item
        yield from self.agents.values()
        yield from self.accounts.values()
        yield from others

    def _export(self) -> dict | str:
        self.prepare_writes()
        response = self.http.request("POST", "/manage/configuration-as-code/export")
        try:
            data = yaml.safe_load(response.text) or {}
        except yaml.YAMLError as exc:
            raise ConnectorError(f"the JCasC export is not YAML: {exc}", permanent=True) from None
        return (data.get("jenkins") or {}).get("authorizationStrategy") or "unsecured"

    @staticmethod
    def _strategy_name(strategy) -> str:
        return strategy if isinstance(strategy, str) else next(iter(strategy), "unsecured")

    def _tree(self) -> dict[str, ResourceRecord]:
        items: dict[str, ResourceRecord] = {}

        def walk(nodes: list, parent: str | None, levels: int) -> None:
            for node in nodes:
                full = f"{parent}/{node['name']}" if parent else node["name"]
                folder = "jobs" in node
                items[full] = ResourceRecord(
                    f"item:{full}",
                    ResourceType.FOLDER if folder else ResourceType.JOB,
                    full,
                    name=node["name"],
                    parent_external_id=f"item:{parent}" if parent else INSTANCE_ID,
                    attributes={"class": node.get("_class", "")},
                )
                if folder and levels == 0:
                    # The query stopped above this folder's children: read its own subtree.
                    children = self.http.get(f"{item_url(full)}/api/json", {"tree": TREE}).data.get("jobs") or []
                    walk(children, full, TREE_DEPTH - 1)
                elif folder:
                    walk(node["jobs"], full, levels - 1)

        walk(self.http.get("/api/json", {"tree": TREE}).data.get("jobs") or [], None, TREE_DEPTH - 1)
        return items

    def _agents(self) -> dict[str, ResourceRecord]:
        computers = self.http.get("/computer/api/json", {"tree": "computer[displayName]"}).data.get("computer") or []
        return {
            c["displayName"]: ResourceRecord(
                f"agent:{c['displayName']}",
                ResourceType.AGENT,
                f"agent/{c['displayName']}",
                name=c["displayName"],
                parent_external_id=INSTANCE_ID,
            )
            for c in computers
        }

    # --- principals -----------------------------------------------------------

    def principal(self, sid_type: str, sid: str) -> str:
        """The account holding a sid's grants: USER human, GROUP group, EITHER/legacy user_or_group, pseudo."""
        if sid in PSEUDO:
            external_id, account = (
                f"pseudo:{sid}",
                AccountRecord(f"pseudo:{sid}", sid, AccountType.PSEUDO, attributes={"risk": ["pseudo_principal"]}),
            )
        elif sid_type == "USER":
            external_id = f"user:{sid}"
            account = AccountRecord(external_id, sid, attributes={"listed": False})
        elif sid_type == "GROUP":
            external_id, account = f"group:{sid}", AccountRecord(f"group:{sid}", sid, AccountType.GROUP)
        else:
            external_id, account = f"either:{sid}", AccountRecord(f"either:{sid}", sid, AccountType.USER_OR_GROUP)
        self.accounts.setdefault(external_id, account)
        return external_id

    def _grant(
        self,
        resource: str,
        permissions: list[str],
        via: str,
        holder: str,
        attributes: dict,
        *,
        applies_to_self: bool = True,
        cascade: tuple = ITEM_TYPES,
        name: str = "",
    ) -> Iterator[GrantRecord]:
        level = highest(permissions) or Level.READ
        attributes = {**attributes, "permissions": sorted(short_name(p) for p in permissions)}
        if holder.startswith("pseudo:"):
            attributes["risk"] = ["pseudo_principal"]
        cascade_level = item_level(permissions) if cascade == ITEM_TYPES else agent_level(permissions)
        yield GrantRecord(
            resource,
            GrantKind.PERMISSION,
            name or ", ".join(attributes["permissions"]),
            level,
            via,
            account_external_id=holder,
            applies_to_self=applies_to_self,
            attributes=attributes,
            cascade_to=cascade if cascade_level else (),
            cascade_level=cascade_level,
        )
        # A global entry also reaches every agent at the level of its Agent permissions.
        if resource == INSTANCE_ID and applies_to_self and agent_level(permissions):
            yield GrantRecord(
                resource,
                GrantKind.PERMISSION,
                name or ", ".join(attributes["permissions"]),
                level,
                via,
                account_external_id=holder,
                applies_to_self=False,
                attributes=attributes,
                cascade_to=(ResourceType.AGENT,),
                cascade_level=agent_level(permissions),
            )

    # --- role-strategy --------------------------------------------------------

    def _role_based(self, name: str, body: dict) -> Iterator[Record]:
        base = "/role-strategy/strategy"
        for role_type, scope in ROLE_TYPES.items():
            for role_name in self.http.get(f"{base}/getAllRoles", {"type": role_type}).data or {}:
                role = self.http.get(f"{base}/getRole", {"type": role_type, "roleName": role_name}).data or {}
                permissions = [p for p, on in (role.get("permissionIds") or {}).items() if on]
                sids = role.get("sids") or []
                pattern = role.get("pattern") or ""
                via = f"role:{role_name}"
                if scope == "global":
                    resource, applies, cascade = INSTANCE_ID, True, ITEM_TYPES
                else:
                    resource = f"role:{scope}:{role_name}"
                    reach, applies = self._matching(scope, pattern), False
                    cascade = ITEM_TYPES if scope == "project" else (ResourceType.AGENT,)
                    yield ResourceRecord(
                        resource,
                        ROLE_RESOURCE,
                        f"role/{scope}/{role_name}",
                        name=role_name,
                        parent_external_id=INSTANCE_ID,
                        attributes={
                            "role_type": role_type,
                            "pattern": pattern,
                            "reach": reach,
                            "permissions": sorted(short_name(p) for p in permissions),
                        },
                    )
                for sid in sids:
                    holder = self.principal(sid.get("type") or "EITHER", sid["sid"])
                    attributes = {
                        "role_type": role_type,
                        "role_name": role_name,
                        "sid_type": sid.get("type"),
                        "sid": sid["sid"],
                        "pattern": pattern,
                    }
                    yield from self._grant(
                        resource,
                        permissions,
                        via,
                        holder,
                        attributes,
                        applies_to_self=applies,
                        cascade=cascade,
                        name=role_name,
                    )

    def _matching(self, scope: str, pattern: str) -> list[str]:
        if scope == "project":
            limit = len(self.items) + 1
            data = (
                self.http.get("/role-strategy/strategy/getMatchingJobs", {"pattern": pattern, "maxJobs": limit}).data
                or {}
            )
            names, count, known = data.get("matchingJobs") or [], data.get("itemCount"), self.items
            ids = [f"item:{n}" for n in names if n in known]
        else:
            limit = len(self.agents) + 1
            data = (
                self.http.get(
                    "/role-strategy/strategy/getMatchingAgents", {"pattern": pattern, "maxAgents": limit}
                ).data
                or {}
            )
            names, count = data.get("matchingAgents") or [], data.get("agentCount")
            ids = [f"agent:{n}" for n in names if n in self.agents]
        if count is not None and count > len(names):
            raise ConnectorError(f"pattern {pattern!r} matched {count} items but Jenkins listed {len(names)}")
        return ids

    # --- matrix-auth ------------------------------------------------------------

    def _matrix(self, name: str, body: dict) -> Iterator[Record]:
        global_entries = list(_casc_matrix_entries(body))
        by_sid = _group(global_entries)
        global_grants = {key: perms for key, perms in by_sid.items()}
        for (sid_type, sid), permissions in global_grants.items():
            holder = self.principal(sid_type, sid)
            yield from self._grant(INSTANCE_ID, permissions, "matrix:/", holder, {"sid_type": sid_type, "sid": sid})
        if name == "globalMatrix":
            return  # a global matrix ignores item properties

        def read(item: ResourceRecord):
            response = self.http.request("GET", f"{item_url(item.path)}/config.xml", ok=(200, 404))
            return item, response.text if response.status == 200 else None

        for item, text in self.http.imap(read, list(self.items.values())):
            if text is None:
                raise ConnectorError(f"{item.path} went away during the sync")
            inheritance, entries = parse_matrix(text)
            if inheritance is None:
                continue
            if inheritance != "parent":
                # Sealed: nothing cascades from above; re-grant what still applies (all global entries for
                # "global", global administrators for "none": Overall/Administer is never blocked).
                self.items[item.path] = ResourceRecord(
                    item.external_id,
                    item.type,
                    item.path,
                    name=item.name,
                    parent_external_id=item.parent_external_id,
                    attributes={**item.attributes, "inherits": False, "inheritance": inheritance},
                )
                for (sid_type, sid), permissions in global_grants.items():
                    if inheritance == "global" or "Overall/Administer" in map(short_name, permissions):
                        holder = self.principal(sid_type, sid)
                        attributes = {"sid_type": sid_type, "sid": sid, "inheritance": inheritance}
                        yield from self._item_grant(item, permissions, "matrix:/", holder, attributes)
            for (sid_type, sid), permissions in _group(entries).items():
                holder = self.principal(sid_type, sid)
                attributes = {"sid_type": sid_type, "sid": sid, "item": item.path}
                yield from self._item_grant(item, permissions, f"matrix:{item.path}", holder, attributes)

    def _item_grant(self, item, permissions, via, holder, attributes) -> Iterator[GrantRecord]:
        level = item_level(permissions)
        if level is None:
            return
        attributes = {**attributes, "permissions": sorted(short_name(p) for p in permissions)}
        if holder.startswith("pseudo:"):
            attributes["risk"] = ["pseudo_principal"]
        yield GrantRecord(
            item.external_id,
            GrantKind.PERMISSION,
            ", ".join(attributes["permissions"]),
            level,
            via,
            account_external_id=holder,
            attributes=attributes,
            cascade_to=ITEM_TYPES,
            cascade_level=level,
        )

    # --- folder-auth ------------------------------------------------------------

    def _folder_based(self, name: str, body: dict) -> Iterator[Record]:
        for scope, key in (("global", "globalRoles"), ("folder", "folderRoles"), ("agent", "agentRoles")):
            for role in body.get(key) or []:
                permissions = [java_id(p["id"] if isinstance(p, dict) else p) for p in role.get("permissions") or []]
                via = f"folder_role:{role['name']}"
                if scope == "global":
                    resource, applies, cascade = INSTANCE_ID, True, ITEM_TYPES
                else:
                    resource, applies = f"role:folder-auth-{scope}:{role['name']}", False
                    if scope == "folder":
                        reach = self._subtrees(role.get("folders") or [])
                        cascade = ITEM_TYPES
                    else:
                        reach = [f"agent:{a}" for a in role.get("agents") or [] if a in self.agents]
                        cascade = (ResourceType.AGENT,)
                    yield ResourceRecord(
                        resource,
                        ROLE_RESOURCE,
                        f"role/{scope}/{role['name']}",
                        name=role["name"],
                        parent_external_id=INSTANCE_ID,
                        attributes={"reach": reach, "permissions": [short_name(p) for p in permissions]},
                    )
                for sid in role.get("sids") or []:
                    holder = self.principal("EITHER", sid)
                    yield from self._grant(
                        resource,
                        permissions,
                        via,
                        holder,
                        {"sid_type": "EITHER", "sid": sid},
                        applies_to_self=applies,
                        cascade=cascade,
                        name=role["name"],
                    )

    def _subtrees(self, folders: list[str]) -> list[str]:
        """Folder roles apply to the listed folders and everything inside them."""
        return [
            i.external_id
            for path, i in self.items.items()
            if any(path == f or path.startswith(f + "/") for f in folders)
        ]

    # --- the simple strategies ----------------------------------------------------

    def _simple(self, name: str, body) -> Iterator[Record]:
        via = f"strategy:{name}"
        administer = ["hudson.model.Hudson.Administer"]
        if name == "unsecured":
            yield from self._grant(INSTANCE_ID, administer, via, self.principal("USER", "anonymous"), {})
        elif name == "loggedInUsersCanDoAnything":
            yield from self._grant(INSTANCE_ID, administer, via, self.principal("GROUP", "authenticated"), {})
            if (body or {}).get("allowAnonymousRead"):
                read = ["hudson.model.Hudson.Read", "hudson.model.Item.Read"]
                yield from self._grant(INSTANCE_ID, read, via, self.principal("USER", "anonymous"), {})
        else:
            raise Unsupported(f"authorization strategy {name!r} is not understood by this connector")

    # --- revocation -----------------------------------------------------------

    def cannot_revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> str | None:
        return refusal(grant, downgrade_to)

    def revoke(self, grant: GrantTarget, *, downgrade_to: Level | None = None) -> RevocationResult:
        reason = self.cannot_revoke(grant, downgrade_to=downgrade_to)
        if reason:
            raise Unsupported(reason)
        return Revocation(self).run(grant, downgrade_to)

    def is_present(self, grant: GrantTarget) -> bool | None:
        if self.cannot_revoke(grant) is not None:
            return None
        return Revocation(self).present(grant)


def _casc_matrix_entries(body: dict) -> Iterator[tuple[str, str, str]]:
    """(type, permission id, sid) from ``entries`` (matrix-auth 3.x) or the older ``permissions`` lines."""
    keys = {"user": "USER", "group": "GROUP", "userOrGroup": "EITHER"}
    for entry in body.get("entries") or []:
        for key, sid_type in keys.items():
            if key in entry:
                for permission in entry[key].get("permissions") or []:
                    yield sid_type, java_id(permission), entry[key]["name"]
    for line in body.get("permissions") or []:
        sid_type, permission, sid = parse_entry(line)
        yield sid_type, java_id(permission), sid


def _group(entries) -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for sid_type, permission, sid in entries:
        grouped.setdefault((sid_type, sid), []).append(permission)
    return grouped


def parse_matrix(text: str) -> tuple[str | None, list[tuple[str, str, str]]]:
    """An item's matrix property: (inheritance or None when absent, entries)."""
    try:
        # An upstream's config.xml is untrusted: defusedxml refuses entity declarations and external references.
        root = DefusedET.fromstring(text)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise ConnectorError(f"config.xml does not parse: {exc}") from None
    properties = root.find("properties")
    prop = None
    if properties is not None:
        prop = next((p for p in (properties.find(n) for n in MATRIX_PROPERTIES) if p is not None), None)
    if prop is None:
        return None, []
    if (prop.findtext("blocksInheritance") or "").strip() == "true":
        inheritance = "none"
    else:
        strategy = prop.find("inheritanceStrategy")
        inheritance = INHERITANCE.get(strategy.get("class", ""), "parent") if strategy is not None else "parent"
    return inheritance, [parse_entry(p.text or "") for p in prop.findall("permission")]


__all__ = ["JenkinsConnector", "HttpError", "parse_matrix"]
