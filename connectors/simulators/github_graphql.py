"""GitHub's GraphQL API for the simulator: the SAML external-identities query, and enumeration queries.

The enumeration part (``plan`` and ``Executor``, below) resolves queries over an organization's members,
teams and repositories; see its comment. The SAML part, :func:`answer`:

``POST /graphql`` (GHES: ``POST /api/graphql``) with ``{"query": …, "variables": …}``, answering
``organization(login:) { samlIdentityProvider { externalIdentities(first:, after:) { pageInfo edges nodes } } }``
as GitHub documents it (https://docs.github.com/en/graphql/reference/objects#organizationidentityprovider,
schema extract in /work/shared/reference/github/graphql-schema-access-subset.graphql). This is not a GraphQL
engine: arguments are read from the query text (literals or ``$variables``) and every field of an identity is
returned whatever the selection. GitHub's behaviours kept: errors come with HTTP 200 and an ``errors`` list;
``first``/``last`` is required and at most 100; the provider is visible to owners with ``read:org`` or
``admin:org`` only (others, and organizations without SAML, get ``null``); a token without those scopes gets an
``INSUFFICIENT_SCOPES`` error; cursors are opaque strings.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
)
from graphql.utilities import value_from_ast_untyped

from .github_org import ExternalIdentity, GitHubOrg, Repo, Team, User, node_id

READ_ORG_SCOPES = frozenset({"read:org", "write:org", "admin:org"})
_ORG = re.compile(r"organization\s*\(\s*login\s*:\s*(\$\w+|\"[^\"]*\")\s*\)")
_CONNECTION = re.compile(r"externalIdentities\s*(?:\(([^)]*)\))?\s*\{")
_ARGUMENT = re.compile(r"(\w+)\s*:\s*(\$\w+|\"[^\"]*\"|-?\d+|null|true|false)")


def answer(org: GitHubOrg, query: str, variables: dict, *, scopes: set[str], owner: bool) -> dict[str, Any]:
    """The JSON body GitHub would send (always with HTTP 200) for one request."""
    if not isinstance(query, str) or "samlIdentityProvider" not in query:
        return _errors("The simulator answers organization.samlIdentityProvider.externalIdentities queries only")
    found = _ORG.search(query)
    connection = _CONNECTION.search(query)
    if found is None or connection is None:
        return _errors("Parse error: expected organization(login:) { samlIdentityProvider { externalIdentities … } }")
    login = _value(found.group(1), variables)
    if not scopes & READ_ORG_SCOPES:
        return _errors(
            "Your token has not been granted the required scopes to execute this query. The 'samlIdentityProvider' "
            "field requires one of the following scopes: ['read:org'], but your token has only been granted the: "
            f"{sorted(scopes)} scopes. Please modify your token's scopes at: https://github.com/settings/tokens.",
            type="INSUFFICIENT_SCOPES",
        )
    if not isinstance(login, str) or login.lower() != org.name.lower():
        return {
            "data": {"organization": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["organization"],
                    "message": f"Could not resolve to an Organization with the login of '{login}'.",
                }
            ],
        }
    arguments = {name: _value(raw, variables) for name, raw in _ARGUMENT.findall(connection.group(1) or "")}
    first = arguments.get("first")
    if first is None:
        return _errors(
            "You must provide a `first` or `last` value to properly paginate the `externalIdentities` connection."
        )
    if not isinstance(first, int) or not 1 <= first <= 100:
        return _errors(
            f"Requesting {first} records on the `externalIdentities` connection exceeds the `first` limit of "
            "100 records."
        )
    if not (owner and org.saml_enabled):
        return {"data": {"organization": {"samlIdentityProvider": None}}}
    start = _decode(arguments.get("after"))
    if start is None:
        return _errors("`after` is not a valid cursor", type="INVALID_CURSOR_ARGUMENTS")
    chunk = org.external_identities[start : start + first]
    edges = [{"cursor": _cursor(start + i + 1), "node": _node(identity)} for i, identity in enumerate(chunk)]
    identities: dict[str, Any] = {
        "totalCount": len(org.external_identities),
        "pageInfo": {
            "hasNextPage": start + len(chunk) < len(org.external_identities),
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
    selection = query[connection.end() :]
    if "edges" in selection:
        identities["edges"] = edges
    if "nodes" in selection:
        identities["nodes"] = [edge["node"] for edge in edges]
    provider = {"id": base64.b64encode(f"0:OrganizationIdentityProvider{org.id}".encode()).decode()}
    return {"data": {"organization": {"samlIdentityProvider": provider | {"externalIdentities": identities}}}}


def _node(identity: ExternalIdentity) -> dict[str, Any]:
    return {
        "guid": identity.guid,
        "samlIdentity": {
            "nameId": identity.name_id,
            "username": identity.username,
            "emails": [{"value": email, "primary": index == 0} for index, email in enumerate(identity.emails)],
        },
        "scimIdentity": {"username": identity.scim_username},
        "user": {"login": identity.login} if identity.login else None,
    }


def _value(raw: str | None, variables: dict) -> Any:
    if raw is None or raw == "null":
        return None
    if raw.startswith("$"):
        return (variables or {}).get(raw[1:])
    if raw.startswith('"'):
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    return int(raw)


def _cursor(position: int) -> str:
    return base64.b64encode(f"cursor:v2:{position}".encode()).decode()


def _decode(cursor: Any) -> int | None:
    """Position after ``cursor`` (0 for none); None for a cursor this server did not hand out."""
    if cursor is None:
        return 0
    try:
        text = base64.b64decode(str(cursor), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.rpartition(":")
    return int(number) if prefix == "cursor:v2" and number.isdigit() else None


def _errors(message: str, **extra: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "locations": [{"line": 1, "column": 1}]} | extra]}


# ---------------------------------------------------------------------------
# Enumeration queries: organization members, teams, repositories (a small GraphQL executor)
#
# Queries are parsed with graphql-core and resolved field by field against the GitHubOrg: aliases, variables,
# inline fragments and named fragments work; unknown fields answer null. GitHub's limits are applied before
# anything is resolved (https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api):
# every connection needs ``first`` (or ``last``) between 1 and 100, a query may reach at most 500,000 nodes, and
# its cost is the number of requests its connections need (each connection once per possible parent node),
# divided by 100, rounded, at least 1.

MAX_NODES = 500_000
CONNECTIONS = frozenset(
    {"membersWithRole", "teams", "repositories", "members", "collaborators", "deployKeys", "childTeams"}
)


class QueryError(Exception):
    """A query GitHub refuses before running it (HTTP 200 with ``errors``, no ``data``)."""

    def __init__(self, message: str, type: str | None = None):
        super().__init__(message)
        self.type = type


@dataclass
class Field:
    key: str  # the alias, or the name
    name: str
    arguments: dict[str, Any]
    fields: list[Field]


@dataclass
class Plan:
    fields: list[Field]
    cost: int
    nodes: int


def plan(query: str, variables: dict) -> Plan:
    """Parse and check a query; raises QueryError for what GitHub refuses before running it."""
    try:
        document = parse(query)
    except GraphQLError as error:
        raise QueryError(f"Parse error: {error.message}") from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if len(operations) != 1 or operations[0].operation.value != "query":
        raise QueryError("The simulator runs exactly one query operation per request")
    fields = _fields(operations[0].selection_set, variables or {}, fragments)
    requests, nodes = _count(fields, 1)
    if nodes > MAX_NODES:
        raise QueryError(
            f"By the time this query traverses to the connections, it requests up to {nodes:,} possible nodes "
            f"which exceeds the maximum limit of {MAX_NODES:,}.",
            type="MAX_NODE_LIMIT_EXCEEDED",
        )
    return Plan(fields, max(1, math.floor(requests / 100 + 0.5)), nodes)


def _fields(selection_set, variables: dict, fragments: dict) -> list[Field]:
    found: list[Field] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, InlineFragmentNode):
            found.extend(_fields(selection.selection_set, variables, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            found.extend(_fields(fragments[selection.name.value].selection_set, variables, fragments))
        elif isinstance(selection, FieldNode):
            given = selection.arguments or ()
            arguments = {arg.name.value: value_from_ast_untyped(arg.value, variables) for arg in given}
            key = selection.alias.value if selection.alias else selection.name.value
            found.append(
                Field(key, selection.name.value, arguments, _fields(selection.selection_set, variables, fragments))
            )
    return found


def _count(fields: list[Field], parents: int) -> tuple[int, int]:
    """(requests, nodes) below ``parents`` possible parent objects."""
    requests = nodes = 0
    for field in fields:
        below = parents
        if field.name in CONNECTIONS:
            size = field.arguments.get("first", field.arguments.get("last"))
            if size is None:
                raise QueryError(
                    f"You must provide a `first` or `last` value to properly paginate the `{field.name}` connection."
                )
            if not isinstance(size, int) or not 1 <= size <= 100:
                raise QueryError(
                    f"Requesting {size} records on the `{field.name}` connection exceeds the `first` limit of "
                    "100 records."
                )
            requests += parents
            below = parents * size
            nodes += below
        more_requests, more_nodes = _count(field.fields, below)
        requests, nodes = requests + more_requests, nodes + more_nodes
    return requests, nodes


class Executor:
    """Resolves a checked query against ``org`` for one viewer (owner or not)."""

    def __init__(self, org: GitHubOrg, *, owner: bool, rate_limit: dict[str, Any]):
        self.org, self.owner, self.rate_limit = org, owner, rate_limit
        self.errors: list[dict[str, Any]] = []

    def run(self, fields: list[Field]) -> dict[str, Any]:
        body: dict[str, Any] = {"data": self._object(self._query, None, fields)}
        if self.errors:
            body["errors"] = self.errors
        return body

    def _object(self, resolver, value, fields: list[Field]) -> dict[str, Any]:
        return {field.key: resolver(value, field) for field in fields}

    # -- types

    def _query(self, _, field: Field) -> Any:
        if field.name == "organization":
            login = field.arguments.get("login")
            if not isinstance(login, str) or login.lower() != self.org.name.lower():
                self._not_found(field, f"Could not resolve to an Organization with the login of '{login}'.")
                return None
            return self._object(self._organization, self.org, field.fields)
        if field.name == "repository":
            owner, name = field.arguments.get("owner"), field.arguments.get("name")
            repo = self.org.repos.get(name) if str(owner).lower() == self.org.name.lower() else None
            if repo is None:
                self._not_found(field, f"Could not resolve to a Repository with the name '{owner}/{name}'.")
                return None
            return self._object(self._repository, repo, field.fields)
        if field.name == "rateLimit":
            return {f.key: self.rate_limit.get(f.name) for f in field.fields}
        return None

    def _organization(self, org: GitHubOrg, field: Field) -> Any:
        if field.name == "membersWithRole":
            members = sorted(((org.users[login], role) for login, role in org.members.items()), key=lambda p: p[0].id)
            return self._connection(members, field, self._member_edge, lambda pair: pair[0], self._user)
        if field.name == "teams":
            teams = sorted(org.teams.values(), key=lambda team: team.id)
            return self._connection(teams, field, None, lambda team: team, self._team)
        if field.name == "team":
            team = org.teams.get(field.arguments.get("slug"))
            return None if team is None else self._object(self._team, team, field.fields)
        if field.name == "repositories":
            repos = sorted(org.repos.values(), key=lambda repo: repo.id)
            return self._connection(repos, field, None, lambda repo: repo, self._repository)
        if field.name == "repository":
            repo = org.repos.get(field.arguments.get("name"))
            return None if repo is None else self._object(self._repository, repo, field.fields)
        scalars = {"login": org.name, "name": org.name.title(), "databaseId": org.id, "__typename": "Organization"}
        scalars["id"] = node_id("012:Organization", org.id)
        return scalars.get(field.name)

    def _member_edge(self, pair: tuple[User, str], field: Field) -> Any:
        user, role = pair
        if field.name == "role":
            return role.upper()
        if field.name == "hasTwoFactorEnabled":  # owners only, null for anyone else
            return user.two_factor if self.owner else None
        return None

    def _user(self, user: User, field: Field) -> Any:
        scalars = {"login": user.login, "databaseId": user.id, "name": user.name or None, "__typename": "User"}
        scalars |= {"id": node_id("04:User", user.id), "isSiteAdmin": user.site_admin}
        return scalars.get(field.name)

    def _team(self, team: Team, field: Field) -> Any:
        org = self.org
        if field.name == "members":
            membership = field.arguments.get("membership", "ALL")
            immediate = dict(team.members)
            listed = org.team_members(team.slug)
            if membership == "IMMEDIATE":
                listed = immediate
            elif membership == "CHILD_TEAM":
                listed = {login: role for login, role in listed.items() if login not in immediate}
            pairs = sorted(((org.users[login], role) for login, role in listed.items()), key=lambda p: p[0].id)

            def edge(pair: tuple[User, str], edge_field: Field) -> Any:
                role = org.reported_team_role(pair[0].login, pair[1])  # owners show as maintainers, as in REST
                return role.upper() if edge_field.name == "role" else None

            return self._connection(pairs, field, edge, lambda pair: pair[0], self._user)
        if field.name == "repositories":
            grants = sorted(((org.repos[name], role) for name, role in team.repos.items()), key=lambda g: g[0].id)

            def edge(grant: tuple[Repo, str], edge_field: Field) -> Any:
                # GitHub's RepositoryPermission enum has no custom roles: a custom role shows as its base role.
                return org.base_role(grant[1]).upper() if edge_field.name == "permission" else None

            return self._connection(grants, field, edge, lambda grant: grant[0], self._repository)
        if field.name == "childTeams":
            children = sorted((t for t in org.teams.values() if t.parent == team.slug), key=lambda t: t.id)
            return self._connection(children, field, None, lambda child: child, self._team)
        if field.name == "parentTeam":
            parent = org.teams.get(team.parent) if team.parent else None
            return None if parent is None else self._object(self._team, parent, field.fields)
        scalars = {"slug": team.slug, "name": team.name, "databaseId": team.id, "description": team.description}
        scalars |= {"id": node_id("04:Team", team.id), "__typename": "Team"}
        scalars["privacy"] = "SECRET" if team.privacy == "secret" else "VISIBLE"
        return scalars.get(field.name)

    def _repository(self, repo: Repo, field: Field) -> Any:
        org = self.org
        if field.name == "collaborators":
            affiliation = field.arguments.get("affiliation", "ALL")
            pairs = org.collaborators(repo.name, {"DIRECT": "direct", "OUTSIDE": "outside"}.get(affiliation, "all"))

            def edge(pair: tuple[User, str], edge_field: Field) -> Any:
                if edge_field.name == "permission":
                    return org.base_role(pair[1]).upper()
                if edge_field.name == "permissionSources":
                    return [self._object(self._source, (repo, pair), edge_field.fields)]
                return None

            return self._connection(pairs, field, edge, lambda pair: pair[0], self._user)
        if field.name == "deployKeys":
            return self._connection(list(repo.keys), field, None, lambda key: key, self._deploy_key)
        scalars = {"name": repo.name, "databaseId": repo.id, "nameWithOwner": f"{org.name}/{repo.name}"}
        scalars |= {"id": node_id("010:Repository", repo.id), "isPrivate": repo.visibility != "public"}
        scalars |= {"isArchived": repo.archived, "isFork": False, "visibility": repo.visibility.upper()}
        scalars["__typename"] = "Repository"
        return scalars.get(field.name)

    def _source(self, value: tuple[Repo, tuple[User, str]], field: Field) -> Any:
        """The repository itself as the source of a direct grant (affiliation DIRECT lists only those)."""
        repo, (_user, role) = value
        base = self.org.base_role(role)
        if field.name == "roleName":
            return role
        if field.name == "permission":
            return {"triage": "READ", "maintain": "WRITE"}.get(base, base.upper())
        if field.name == "source":
            return self._object(self._repository, repo, field.fields)
        return None

    def _deploy_key(self, key, field: Field) -> Any:
        scalars = {"title": key.title, "readOnly": key.read_only, "createdAt": key.created_at, "key": key.key}
        scalars |= {"id": node_id("09:DeployKey", key.id), "verified": True, "enabled": True}
        return scalars.get(field.name)

    # -- connections

    def _connection(self, items: list, field: Field, edge_resolver, node_of, node_resolver) -> dict[str, Any] | None:
        after = field.arguments.get("after")
        start = _decode(after)
        if start is None:
            self.errors.append(
                {"type": "INVALID_CURSOR_ARGUMENTS", "path": [field.key], "message": "`after` is not a valid cursor"}
            )
            return None
        first = field.arguments.get("first") or field.arguments.get("last")
        chunk = items[start : start + first]
        result: dict[str, Any] = {}
        for sub in field.fields:
            if sub.name == "totalCount":
                result[sub.key] = len(items)
            elif sub.name == "pageInfo":
                info = {
                    "hasNextPage": start + len(chunk) < len(items),
                    "hasPreviousPage": start > 0,
                    "endCursor": _cursor(start + len(chunk)) if chunk else None,
                    "startCursor": _cursor(start + 1) if chunk else None,
                }
                result[sub.key] = {f.key: info.get(f.name) for f in sub.fields}
            elif sub.name == "nodes":
                result[sub.key] = [self._object(node_resolver, node_of(item), sub.fields) for item in chunk]
            elif sub.name == "edges":
                result[sub.key] = [
                    {
                        f.key: _cursor(start + index + 1)
                        if f.name == "cursor"
                        else self._object(node_resolver, node_of(item), f.fields)
                        if f.name == "node"
                        else (edge_resolver(item, f) if edge_resolver else None)
                        for f in sub.fields
                    }
                    for index, item in enumerate(chunk)
                ]
            else:
                result[sub.key] = None
        return result

    def _not_found(self, field: Field, message: str) -> None:
        self.errors.append({"type": "NOT_FOUND", "path": [field.key], "message": message})
