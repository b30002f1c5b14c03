"""The data behind the Jenkins simulator: users, the folder/job tree, agents and one authorization strategy.

Strategies (one at a time, as in Jenkins): ``roleBased`` (role-strategy plugin: global, project and agent
roles with regex patterns and USER/GROUP/EITHER sids), ``projectMatrix`` (matrix-auth: global entries plus
an ``AuthorizationMatrixProperty`` in any folder's or job's config.xml, with its inheritance strategy),
``folderBased`` (folder-auth: global, folder and agent roles), ``unsecured`` and
``loggedInUsersCanDoAnything``. facts() gives what a connector must find; rest_lower_bound() the fewest
requests that find it.
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..providers.jenkins_perms import parse_entry as parse_permission_line

ROLE_TYPES = ("globalRoles", "projectRoles", "slaveRoles")
STRATEGIES = ("roleBased", "projectMatrix", "folderBased", "unsecured", "loggedInUsersCanDoAnything")
INHERITANCE = {
    "parent": "org.jenkinsci.plugins.matrixauth.inheritance.InheritParentStrategy",
    "global": "org.jenkinsci.plugins.matrixauth.inheritance.InheritGlobalStrategy",
    "none": "org.jenkinsci.plugins.matrixauth.inheritance.NonInheritingStrategy",
}
FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
JOB_CLASS = "hudson.model.FreeStyleProject"
FOLDER_PROPERTY = "com.cloudbees.hudson.plugins.folder.properties.AuthorizationMatrixProperty"
JOB_PROPERTY = "hudson.security.AuthorizationMatrixProperty"


@dataclass
class User:
    id: str
    full_name: str = ""
    password: str = ""
    api_token: str = ""
    admin: bool = False


@dataclass(frozen=True)
class Entry:
    """One matrix line: ``type`` USER, GROUP or EITHER (written without prefix, the legacy form)."""

    type: str
    permission: str  # Java id
    sid: str


@dataclass
class Item:
    full_name: str
    kind: str  # folder | job
    matrix: list[Entry] | None = None  # None: no AuthorizationMatrixProperty
    inheritance: str = "parent"  # parent | global | none | legacy_block
    description: str = ""

    @property
    def name(self) -> str:
        return self.full_name.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str | None:
        return self.full_name.rsplit("/", 1)[0] if "/" in self.full_name else None


@dataclass
class Role:
    name: str
    permissions: list[str]  # Java ids
    pattern: str = ".*"
    sids: list[tuple[str, str]] = field(default_factory=list)  # (USER|GROUP|EITHER, sid)


@dataclass
class FolderRole:
    name: str
    permissions: list[str]  # short names, as folder-auth's JCasC writes them
    targets: list[str] = field(default_factory=list)  # folders or agents; empty for global roles
    sids: list[str] = field(default_factory=list)


class JenkinsOrg:
    def __init__(self, strategy: str = "roleBased"):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}")
        self.strategy = strategy
        self.users: dict[str, User] = {}
        self.items: dict[str, Item] = {}
        self.agents: list[str] = ["built-in"]
        self.roles: dict[str, dict[str, Role]] = {t: {} for t in ROLE_TYPES}
        self.global_matrix: list[Entry] = []
        self.folder_roles: dict[str, dict[str, FolderRole]] = {"global": {}, "folder": {}, "agent": {}}
        self.anonymous_read = False  # loggedInUsersCanDoAnything.allowAnonymousRead

    # -- building

    def add_user(self, user_id: str, *, admin: bool = False, password: str = "", api_token: str = "") -> User:
        user = User(user_id, full_name=user_id.title(), password=password, api_token=api_token, admin=admin)
        self.users[user_id] = user
        return user

    def add_item(self, full_name: str, kind: str = "job", **options) -> Item:
        parent = full_name.rsplit("/", 1)[0] if "/" in full_name else None
        if parent is not None and (parent not in self.items or self.items[parent].kind != "folder"):
            raise ValueError(f"no folder {parent!r}")
        item = Item(full_name, kind, **options)
        self.items[full_name] = item
        return item

    def add_agent(self, name: str) -> None:
        self.agents.append(name)

    def add_role(self, role_type: str, name: str, permissions: list[str], pattern: str = ".*", sids=()) -> Role:
        role = Role(name, list(permissions), pattern, [tuple(s) for s in sids])
        self.roles[role_type][name] = role
        return role

    def assign(self, role_type: str, role_name: str, sid_type: str, sid: str) -> None:
        role = self.roles[role_type][role_name]
        if (sid_type, sid) not in role.sids:
            role.sids.append((sid_type, sid))

    def unassign(self, role_type: str, role_name: str, sid_type: str, sid: str) -> bool:
        """Remove one sid from a role; False (and nothing changed) when it was not there, as Jenkins does silently."""
        role = self.roles[role_type].get(role_name)
        if role is None or (sid_type, sid) not in role.sids:
            return False
        role.sids.remove((sid_type, sid))
        return True

    def set_matrix(self, full_name: str, entries, inheritance: str = "parent") -> None:
        item = self.items[full_name]
        item.matrix = [Entry(*e) for e in entries]
        item.inheritance = inheritance

    def add_folder_role(self, scope: str, name: str, permissions: list[str], targets=(), sids=()) -> FolderRole:
        role = FolderRole(name, list(permissions), list(targets), list(sids))
        self.folder_roles[scope][name] = role
        return role

    # -- queries

    def folders(self) -> list[str]:
        return [name for name, item in self.items.items() if item.kind == "folder"]

    def jobs(self) -> list[str]:
        return [name for name, item in self.items.items() if item.kind == "job"]

    def children(self, parent: str | None) -> list[Item]:
        return [item for item in self.items.values() if item.parent == parent]

    def matching_items(self, pattern: str) -> list[str]:
        """Full names a role pattern matches (java.util.regex Matcher.matches(): the whole name)."""
        try:
            regex = re.compile(pattern)
        except re.error:
            return []
        return [name for name in self.items if regex.fullmatch(name)]

    def matching_agents(self, pattern: str) -> list[str]:
        try:
            regex = re.compile(pattern)
        except re.error:
            return []
        return [name for name in self.agents if regex.fullmatch(name)]

    # -- config.xml of one item

    def config_xml(self, full_name: str) -> str:
        item = self.items[full_name]
        root = ET.Element(FOLDER_CLASS if item.kind == "folder" else "project")
        ET.SubElement(root, "description").text = item.description
        properties = ET.SubElement(root, "properties")
        if item.matrix is not None:
            prop = ET.SubElement(properties, FOLDER_PROPERTY if item.kind == "folder" else JOB_PROPERTY)
            if item.inheritance == "legacy_block":
                ET.SubElement(prop, "blocksInheritance").text = "true"
            else:
                ET.SubElement(prop, "inheritanceStrategy", {"class": INHERITANCE[item.inheritance]})
            for entry in item.matrix:
                prefix = "" if entry.type == "EITHER" else f"{entry.type}:"
                ET.SubElement(prop, "permission").text = f"{prefix}{entry.permission}:{entry.sid}"
        if item.kind == "job":
            ET.SubElement(root, "disabled").text = "false"
        ET.indent(root)
        return "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode")

    def apply_config_xml(self, full_name: str, text: str) -> None:
        """Take a posted config.xml: only its description and matrix property matter here."""
        item = self.items[full_name]
        root = ET.fromstring(text)  # noqa: S314 # nosec B314 # simulator input from tests; expat resolves no external entities
        item.description = root.findtext("description") or ""
        prop = None
        properties = root.find("properties")
        if properties is not None:
            prop = properties.find(FOLDER_PROPERTY if item.kind == "folder" else JOB_PROPERTY)
        if prop is None:
            item.matrix = None
            return
        item.matrix = [parse_entry(p.text or "") for p in prop.findall("permission")]
        strategy = prop.find("inheritanceStrategy")
        if prop.findtext("blocksInheritance") == "true":
            item.inheritance = "legacy_block"
        elif strategy is not None:
            reverse = {v: k for k, v in INHERITANCE.items()}
            item.inheritance = reverse.get(strategy.get("class", ""), "parent")
        else:
            item.inheritance = "parent"

    # -- generation

    @classmethod
    def generate(
        cls,
        seed: int = 1,
        *,
        strategy: str = "roleBased",
        folders: int = 6,
        jobs: int = 30,
        users: int = 20,
        agents: int = 3,
        groups: int = 3,
        depth: int = 3,
    ) -> JenkinsOrg:
        """A plausible controller; sizes scale linearly (10,000 jobs build in well under a second)."""
        rng = random.Random(seed)  # noqa: S311 - test data, not security
        org = cls(strategy)
        org.add_user("admin", admin=True)
        for n in range(users):
            org.add_user(f"user{n:04d}")
        group_names = [f"team-{n}" for n in range(groups)]
        folder_names: list[str] = []
        for n in range(folders):
            parents = [f for f in folder_names if f.count("/") < depth - 1]
            parent = rng.choice(parents) if parents and rng.random() < 0.5 else None
            name = f"{parent}/folder{n:03d}" if parent else f"folder{n:03d}"
            org.add_item(name, "folder")
            folder_names.append(name)
        for n in range(jobs):
            parent = rng.choice(folder_names) if folder_names and rng.random() < 0.8 else None
            org.add_item(f"{parent}/job{n:04d}" if parent else f"job{n:04d}", "job")
        for n in range(agents):
            org.add_agent(f"agent-{n:02d}")
        user_ids = [u for u in org.users if u != "admin"]
        build = ["hudson.model.Item.Read", "hudson.model.Item.Build", "hudson.model.Item.Cancel"]
        read = ["hudson.model.Hudson.Read", "hudson.model.Item.Read"]
        if strategy == "roleBased":
            org.add_role("globalRoles", "admin", ["hudson.model.Hudson.Administer"], sids=[("USER", "admin")])
            org.add_role("globalRoles", "readers", read, sids=[("GROUP", "authenticated")])
            for n, folder in enumerate(f for f in folder_names if "/" not in f):
                sids = [("USER", u) for u in rng.sample(user_ids, min(3, len(user_ids)))]
                if group_names:
                    sids.append(("GROUP", rng.choice(group_names)))
                org.add_role("projectRoles", f"builders-{n}", build, f"{re.escape(folder)}/.*", sids)
            for n in range(agents):
                sid = [("EITHER", rng.choice(user_ids))] if user_ids else []
                org.add_role("slaveRoles", f"agent-ops-{n}", ["hudson.model.Computer.Connect"], f"agent-{n:02d}", sid)
        elif strategy == "projectMatrix":
            org.global_matrix = [
                Entry("USER", "hudson.model.Hudson.Administer", "admin"),
                Entry("GROUP", "hudson.model.Hudson.Read", "authenticated"),
            ]
            for folder in folder_names:
                if rng.random() < 0.6 and user_ids:
                    sid = rng.choice(user_ids)
                    inheritance = rng.choice(("parent", "parent", "none", "global"))
                    org.set_matrix(folder, [("USER", p, sid) for p in build], inheritance)
        elif strategy == "folderBased":
            org.add_folder_role("global", "admin", ["Overall/Administer"], sids=["admin"])
            org.add_folder_role("global", "read", ["Overall/Read"], sids=["authenticated"])
            for n, folder in enumerate(f for f in folder_names if "/" not in f):
                sids = rng.sample(user_ids, min(2, len(user_ids)))
                org.add_folder_role("folder", f"folder-{n}", ["Job/Read", "Job/Build"], [folder], sids)
        return org

    # -- expectations

    def facts(self) -> dict:
        """What a connector must report: items, agents, and (sid, role) assignments per role type."""
        assignments = {
            (role_type, name, sid_type, sid)
            for role_type, roles in self.roles.items()
            for name, role in roles.items()
            for sid_type, sid in role.sids
        }
        matrix = {
            (item.full_name, entry.type, entry.sid) for item in self.items.values() for entry in item.matrix or ()
        }
        return {
            "folders": set(self.folders()),
            "jobs": set(self.jobs()),
            "agents": set(self.agents),
            "users": set(self.users),
            "assignments": assignments,
            "matrix": matrix,
            "reach": {
                name: set(self.matching_items(role.pattern)) for name, role in self.roles["projectRoles"].items()
            },
        }

    def rest_lower_bound(self, tree_depth: int = 4) -> int:
        """Fewest requests for a full read: export, people, computers, tree (+1 per folder whose children
        the query it came from no longer reaches: depth 4, 8, …), then per strategy: role-strategy
        3 getAllRoles + one getRole per role + one getMatching* per project/agent role; matrix one
        config.xml per folder and job."""
        deep = sum(1 for f in self.folders() if (f.count("/") + 1) % tree_depth == 0)
        total = 4 + deep
        if self.strategy == "roleBased":
            total += 3 + sum(len(r) for r in self.roles.values())
            total += len(self.roles["projectRoles"]) + len(self.roles["slaveRoles"])
        elif self.strategy == "projectMatrix":
            total += len(self.items)
        return total


def parse_entry(text: str) -> Entry:
    return Entry(*parse_permission_line(text))
