"""The one GraphQL query the GitHub simulator answers: an organization's SAML external identities.

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
import re
from typing import Any

from .github_org import ExternalIdentity, GitHubOrg

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
