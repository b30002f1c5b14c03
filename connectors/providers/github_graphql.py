"""GitHub's GraphQL API for enumeration (option ``api=graphql``): few points, adaptive pages, limits that answer 200.

One query pages the organization's members with their role and 2FA state (``membersWithRole`` edges), one its
teams with their immediate members and repositories (``members(membership: IMMEDIATE)``, ``repositories``
edges' ``permission``) and parent, one its repositories with their direct collaborators
(``collaborators(affiliation: DIRECT)`` edges, the role from the repository's own ``permissionSources``) and
deploy keys. An inner
connection with more than one page is finished by a query for that one team or repository.

Cost (https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api): the requests
each connection needs (once per possible parent node), summed, divided by 100, at least 1 point; 100 teams with
two inner connections of 100 cost 2 points, as do 100 repositories with their collaborators and deploy keys.
Every query asks for ``rateLimit { cost remaining resetAt }`` and :class:`GraphQLUsage` adds up what GitHub
charged.

Failures GitHub documents for GraphQL:
* a timeout (HTTP 502/504, or an ``errors`` entry "Something went wrong while executing your query. This may be
  the result of a timeout") means the query was too big: the page size halves and the same page is asked again;
  after a few successes it doubles back towards the maximum;
* an exhausted points quota answers HTTP 200 with ``errors[].type == "RATE_LIMITED"`` and
  ``x-ratelimit-remaining: 0``: we wait until ``x-ratelimit-reset`` and ask again (never "empty");
* secondary limits (403/429 with retry-after) are waited out by connectors/http.py, as for REST.

The GraphQL endpoint gets its own HttpClient (the same machinery: SSRF guard, secondary limits, pacing) so that
its points quota, reported in the same x-ratelimit-* headers with ``x-ratelimit-resource: graphql``, is kept apart
from REST's requests quota, and with no retries of its own: a 502 must shrink the page, not repeat it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..base import ConnectorError, PermissionProblem
from ..http import HttpClient, HttpError

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100  # GitHub's limit for first/last
INNER_PAGE_SIZE = 100  # inner connections: the cost depends on the parents' count, not on this
GROW_AFTER = 3  # successes at a page size before it doubles again
MAX_FAILURES = 10  # consecutive timeouts or transient errors on one page before the sync fails
MAX_RATE_LIMIT_WAITS = 5
TIMEOUT_MESSAGE = "something went wrong while executing your query"
PERMISSION_ERRORS = frozenset({"INSUFFICIENT_SCOPES", "FORBIDDEN", "UNAUTHORIZED"})

_PAGE = "pageInfo { hasNextPage endCursor }"
_USER = "databaseId login isSiteAdmin"
REPOSITORY_FIELDS = "fragment Repo on Repository { databaseId name visibility isPrivate isArchived isFork }"
_TEAM_MEMBERS = f"members(first: $inner, membership: IMMEDIATE) {{ {_PAGE} edges {{ role node {{ {_USER} }} }} }}"
_TEAM_REPOS = f"repositories(first: $inner) {{ {_PAGE} edges {{ permission node {{ ...Repo }} }} }}"
_COLLABORATOR_EDGES = (
    f"edges {{ permission permissionSources {{ roleName source {{ ... on Repository {{ databaseId }} }} }} "
    f"node {{ {_USER} }} }}"
)
_RATE = "rateLimit { cost remaining resetAt }"

MEMBERS = f"""query($org: String!, $first: Int!, $after: String) {{
  organization(login: $org) {{
    membersWithRole(first: $first, after: $after) {{ {_PAGE} edges {{ role hasTwoFactorEnabled node {{ {_USER} }} }} }}
  }}
  {_RATE}
}}"""
TEAMS = f"""query($org: String!, $first: Int!, $after: String, $inner: Int!) {{
  organization(login: $org) {{
    teams(first: $first, after: $after) {{
      {_PAGE}
      nodes {{ databaseId slug name privacy parentTeam {{ databaseId }} {_TEAM_MEMBERS} {_TEAM_REPOS} }}
    }}
  }}
  {_RATE}
}}
{REPOSITORY_FIELDS}"""
TEAM_MEMBERS = f"""query($org: String!, $slug: String!, $first: Int!, $after: String) {{
  organization(login: $org) {{
    team(slug: $slug) {{
      members(first: $first, after: $after, membership: IMMEDIATE) {{ {_PAGE} edges {{ role node {{ {_USER} }} }} }}
    }}
  }}
  {_RATE}
}}"""
TEAM_REPOS = f"""query($org: String!, $slug: String!, $first: Int!, $after: String) {{
  organization(login: $org) {{
    team(slug: $slug) {{
      repositories(first: $first, after: $after) {{ {_PAGE} edges {{ permission node {{ ...Repo }} }} }}
    }}
  }}
  {_RATE}
}}
{REPOSITORY_FIELDS}"""
_KEY_NODES = "nodes { id title readOnly createdAt }"
REPOSITORIES = f"""query($org: String!, $first: Int!, $after: String, $inner: Int!) {{
  organization(login: $org) {{
    repositories(first: $first, after: $after) {{
      {_PAGE}
      nodes {{
        ...Repo
        collaborators(first: $inner, affiliation: DIRECT) {{ {_PAGE} {_COLLABORATOR_EDGES} }}
        deployKeys(first: $inner) {{ {_PAGE} {_KEY_NODES} }}
      }}
    }}
  }}
  {_RATE}
}}
{REPOSITORY_FIELDS}"""
DEPLOY_KEYS = f"""query($org: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $org, name: $name) {{ deployKeys(first: $first, after: $after) {{ {_PAGE} {_KEY_NODES} }} }}
  {_RATE}
}}"""
COLLABORATORS = f"""query($org: String!, $name: String!, $first: Int!, $after: String) {{
  repository(owner: $org, name: $name) {{
    collaborators(first: $first, after: $after, affiliation: DIRECT) {{ {_PAGE} {_COLLABORATOR_EDGES} }}
  }}
  {_RATE}
}}"""


@dataclass
class GraphQLUsage:
    """What one sync spent on GraphQL: points GitHub charged (rateLimit.cost), queries, and what went wrong."""

    points: int = 0
    queries: int = 0
    follow_ups: int = 0  # queries for one team's or repository's further inner pages
    timeouts: int = 0  # 502/504 or GitHub's timeout error: the page size halved
    rate_limit_waits: int = 0  # RATE_LIMITED answers waited out
    smallest_page_size: int = MAX_PAGE_SIZE
    remaining: int | None = None  # points left in the window, as last reported


class _Timeout(Exception):
    """The query took too long for GitHub: ask again for fewer nodes."""


class PageSize:
    """An outer page size that halves on a timeout and doubles back after GROW_AFTER successes."""

    def __init__(self, usage: GraphQLUsage, maximum: int = MAX_PAGE_SIZE):
        self.usage, self.maximum, self.current, self._successes = usage, maximum, maximum, 0

    def shrink(self) -> None:
        self.current, self._successes = max(1, self.current // 2), 0
        self.usage.smallest_page_size = min(self.usage.smallest_page_size, self.current)

    def succeeded(self) -> None:
        self._successes += 1
        if self._successes >= GROW_AFTER and self.current < self.maximum:
            self.current, self._successes = min(self.maximum, self.current * 2), 0


class GraphQLReader:
    """Runs enumeration queries for one organization; ``usage`` says what they cost."""

    def __init__(self, http: HttpClient, url: str, org: str):
        self.http, self.url, self.org = http, url, org
        self.usage = GraphQLUsage()
        self.sizes: dict[str, PageSize] = {}

    def connection(self, query: str, path: tuple[str, ...], variables: dict, *, after: str | None = None):
        """Every page of the connection at ``path`` (keys below ``data``), as its JSON object, from ``after``."""
        size = self.sizes.setdefault(query, PageSize(self.usage))
        seen: set[str] = set()
        while True:
            page = self._page(query, path, {**variables, "org": self.org, "after": after}, size)
            yield page
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")
            if not after or after in seen:
                raise ConnectorError(f"GitHub's GraphQL pagination of {path[-1]} did not advance", permanent=True)
            seen.add(after)

    def rest_of(
        self, query: str, path: tuple[str, ...], variables: dict, first_page: dict, items: str = "edges"
    ) -> Iterator[dict]:
        """The edges (or nodes) of an inner connection: those already read, then the following pages."""
        yield from first_page.get(items) or []
        info = first_page.get("pageInfo") or {}
        if info.get("hasNextPage"):
            self.usage.follow_ups += 1
            for page in self.connection(query, path, variables, after=info.get("endCursor")):
                yield from page.get(items) or []

    def _page(self, query: str, path: tuple[str, ...], variables: dict, size: PageSize) -> dict:
        failures = 0
        while True:
            try:
                data = self.query(query, {**variables, "first": size.current, "inner": INNER_PAGE_SIZE})
            except _Timeout as exc:
                failures += 1
                self.usage.timeouts += 1
                if failures > MAX_FAILURES:
                    raise ConnectorError(f"GitHub's GraphQL API kept failing on {path[-1]}: {exc}") from None
                if size.current == 1:  # nothing left to shrink: give GitHub a moment
                    self.http.sleep(min(60.0, 2.0**failures))
                size.shrink()
                log.info("GraphQL %s: %s; page size now %d", path[-1], exc, size.current)
                continue
            size.succeeded()
            found = data
            for key in path:
                found = (found or {}).get(key)
            if found is None:
                raise PermissionProblem(f"GitHub's GraphQL API does not show {'.'.join(path)} to this token")
            return found

    def query(self, query: str, variables: dict) -> dict:
        """``data`` of one query; waits out RATE_LIMITED, raises _Timeout for what a smaller page may fix."""
        for _ in range(MAX_RATE_LIMIT_WAITS + 1):
            try:
                response = self.http.request("POST", self.url, json={"query": query, "variables": variables}, ok=(200,))
            except HttpError as exc:
                if exc.permanent:
                    raise
                raise _Timeout(f"HTTP {exc.status}") from None
            except PermissionProblem:
                raise
            except ConnectorError as exc:
                if exc.permanent:
                    raise
                raise _Timeout(str(exc)) from None
            body = response.data if isinstance(response.data, dict) else {}
            errors = body.get("errors") or []
            if any((error or {}).get("type") == "RATE_LIMITED" for error in errors):
                self._wait_for_reset(response.headers)
                continue
            self.usage.queries += 1
            rate = (body.get("data") or {}).get("rateLimit") or {}
            self.usage.points += int(rate.get("cost") or 0)
            if rate.get("remaining") is not None:
                self.usage.remaining = int(rate["remaining"])
            if errors:
                message = "; ".join(str((error or {}).get("message") or "unknown error") for error in errors)[:500]
                if TIMEOUT_MESSAGE in message.lower():
                    raise _Timeout(message)
                raise self._error(errors, message)
            if not isinstance(body.get("data"), dict):
                raise ConnectorError("GitHub's GraphQL API answered without data", permanent=True)
            return body["data"]
        raise ConnectorError(f"GitHub's GraphQL API is still rate limited after {MAX_RATE_LIMIT_WAITS} waits")

    def _wait_for_reset(self, headers) -> None:
        """RATE_LIMITED arrives with HTTP 200: wait until x-ratelimit-reset (at least a minute without it)."""
        self.usage.rate_limit_waits += 1
        try:
            wait = int(headers.get("x-ratelimit-reset", "")) + 1 - self.http.clock()
        except ValueError:
            wait = 60.0
        wait = max(1.0, wait)
        if wait > self.http.max_rate_limit_wait:
            raise ConnectorError(
                f"GitHub's GraphQL points are spent until {int(wait)} s from now, longer than the "
                f"{self.http.max_rate_limit_wait:g} s allowed (HTTP_MAX_RATE_LIMIT_WAIT_SECONDS)"
            )
        log.info("GraphQL points exhausted; waiting %.0f s for the window to reset", wait)
        self.http.sleep(wait)

    def _error(self, errors: list, message: str) -> ConnectorError:
        types = {str((error or {}).get("type") or "") for error in errors}
        if types & PERMISSION_ERRORS or "NOT_FOUND" in types:
            return PermissionProblem(f"GitHub's GraphQL API refused the query: {message} (needs read:org and repo)")
        return ConnectorError(f"GitHub's GraphQL API refused the query: {message}", permanent=True)


def user_json(node: dict) -> dict:
    """A GraphQL User as the REST fields extract_account reads (REST lists show no name or email)."""
    return {"id": node["databaseId"], "login": node["login"], "type": "User", "site_admin": node.get("isSiteAdmin")}


def repository_json(node: dict) -> dict:
    """A GraphQL Repository as the REST fields extract_repository reads."""
    return {
        "id": node["databaseId"],
        "name": node["name"],
        "visibility": (node.get("visibility") or "").lower() or None,
        "private": node.get("isPrivate"),
        "archived": node.get("isArchived"),
        "fork": node.get("isFork"),
    }


def team_json(node: dict) -> dict:
    """A GraphQL Team as the REST fields extract_team reads (REST's "closed" is GraphQL's VISIBLE)."""
    parent = node.get("parentTeam")
    return {
        "id": node["databaseId"],
        "slug": node["slug"],
        "name": node.get("name"),
        "privacy": "secret" if node.get("privacy") == "SECRET" else "closed",
        "parent": {"id": parent["databaseId"]} if parent else None,
    }


def direct_role(edge: dict, repository_id: int) -> str:
    """The role a direct collaborator was given on the repository itself: its permission source's roleName.

    ``permission`` alone is the highest base role from any source and cannot name a custom role.
    """
    for source in edge.get("permissionSources") or []:
        if ((source or {}).get("source") or {}).get("databaseId") == repository_id and source.get("roleName"):
            return source["roleName"]
    return str(edge.get("permission") or "read").lower()


# RepositoryPermission -> the REST permissions flag it sets (the strongest), for a custom role's base level.
_FLAGS = {"READ": "pull", "TRIAGE": "triage", "WRITE": "push", "MAINTAIN": "maintain", "ADMIN": "admin"}


def permission_flag(edge: dict) -> dict[str, bool]:
    """The edge's base permission as REST's permissions booleans (github_roles.repository_role reads them)."""
    flag = _FLAGS.get(str(edge.get("permission") or ""))
    return {flag: True} if flag else {}


_LEGACY_ID = re.compile(r"^\d+:DeployKey(\d+)$")


def deploy_key_id(node_id: str) -> int | None:
    """The database id REST keys deploy keys by, read from a DeployKey's node id; None when it cannot be read.

    GraphQL's DeployKey has no ``databaseId``. Legacy node ids are base64 of ``"09:DeployKey<id>"``; next-format
    ids (https://docs.github.com/en/graphql/guides/migrating-graphql-global-node-ids) are a type prefix, ``_``
    and base64url of a MessagePack array of integers ending with the id. Anything else: the caller reads REST.
    """
    prefix, _, payload = node_id.rpartition("_")
    try:
        if not prefix:
            found = _LEGACY_ID.match(base64.b64decode(node_id, validate=True).decode())
            return int(found.group(1)) if found else None
        return _msgpack_ints(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[-1]
    except (ValueError, UnicodeDecodeError, binascii.Error, IndexError):
        return None


def _msgpack_ints(data: bytes) -> list[int]:
    """A MessagePack fixarray of unsigned integers (positive fixint, uint8/16/32/64); ValueError otherwise."""
    if not data or data[0] & 0xF0 != 0x90:
        raise ValueError("not a MessagePack fixarray")
    numbers, position = [], 1
    widths = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
    for _ in range(data[0] & 0x0F):
        marker = data[position]
        if marker < 0x80:
            numbers.append(marker)
            position += 1
        elif marker in widths:
            width = widths[marker]
            if position + 1 + width > len(data):
                raise ValueError("truncated MessagePack integer")
            numbers.append(int.from_bytes(data[position + 1 : position + 1 + width], "big"))
            position += 1 + width
        else:
            raise ValueError("not an unsigned MessagePack integer")
    if position != len(data):
        raise ValueError("trailing bytes after the MessagePack array")
    return numbers


def deploy_key_json(node: dict, key_id: int) -> dict:
    """A GraphQL DeployKey as the REST fields extract_deploy_key reads."""
    return {
        "id": key_id,
        "title": node.get("title"),
        "created_at": node.get("createdAt"),
        "read_only": node.get("readOnly"),
    }
