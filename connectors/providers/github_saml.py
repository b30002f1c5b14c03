"""SAML identities of a GitHub organization's members, for correlating accounts with people (option ``saml=true``).

GitHub exposes them only over GraphQL (https://docs.github.com/en/graphql/reference/objects#organizationidentityprovider,
``Organization.samlIdentityProvider.externalIdentities``; https://docs.github.com/en/organizations/managing-saml-single-sign-on-for-your-organization/viewing-and-managing-a-members-saml-access-to-your-organization).
The provider is visible to organization owners and their classic tokens with ``read:org`` or ``admin:org`` (and to
apps with members read access); for anyone else, and for an organization without SAML SSO, it is ``null``.
Endpoint: ``POST /graphql`` on api.github.com, ``POST /api/graphql`` on Enterprise Server
(https://docs.github.com/en/graphql/guides/forming-calls-with-graphql#the-graphql-endpoint). GraphQL reports
errors with HTTP 200 and an ``errors`` list (https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api),
so the body is checked before the data is used. Pages of 100 follow ``pageInfo.endCursor``.
"""

from __future__ import annotations

from ..base import ConnectorError, PermissionProblem

PAGE_SIZE = 100
QUERY = """
query($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    samlIdentityProvider {
      externalIdentities(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges {
          node {
            guid
            samlIdentity { nameId username emails { value } }
            scimIdentity { username }
            user { login }
          }
        }
      }
    }
  }
}
"""
PERMISSION_ERRORS = frozenset({"INSUFFICIENT_SCOPES", "FORBIDDEN", "NOT_FOUND", "UNAUTHORIZED"})


def graphql_url(api_url: str) -> str:
    """api.github.com/graphql (and GHE.com's api host); Enterprise Server's /api/v3 becomes /api/graphql."""
    url = api_url.rstrip("/")
    if url.endswith("/api/v3"):
        return f"{url.removesuffix('/v3')}/graphql"
    return f"{url}/graphql"


def sso_ids(http, api_url: str, org: str) -> dict[str, str]:
    """login (lower case) -> SSO identity (lower case) of every external identity linked to a GitHub user."""
    found: dict[str, str] = {}
    after: str | None = None
    seen: set[str] = set()
    while True:
        provider = _page(http, graphql_url(api_url), org, after)
        identities = provider.get("externalIdentities") or {}
        for edge in identities.get("edges") or []:
            node = (edge or {}).get("node") or {}
            login = ((node.get("user") or {}).get("login") or "").lower()
            sso = extract_sso_id(node)
            if login and sso:
                found[login] = sso
        info = identities.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return found
        after = info.get("endCursor")
        if not after or after in seen:
            raise ConnectorError("GitHub's externalIdentities pagination did not advance", permanent=True)
        seen.add(after)


def extract_sso_id(node: dict) -> str | None:
    """The identity a person signs in with: an email-like SAML NameID (or username, email, SCIM username), lower-cased.

    The NameID wins when it looks like an email; otherwise the first email-like value, else the NameID as is.
    """
    saml = node.get("samlIdentity") or {}
    scim = node.get("scimIdentity") or {}
    emails = [e.get("value") for e in saml.get("emails") or [] if isinstance(e, dict)]
    candidates = [
        v.strip().lower() for v in (saml.get("nameId"), saml.get("username"), *emails, scim.get("username")) if v
    ]
    return next((v for v in candidates if "@" in v), candidates[0] if candidates else None)


def _page(http, url: str, org: str, after: str | None) -> dict:
    body = {"query": QUERY, "variables": {"org": org, "first": PAGE_SIZE, "after": after}}
    data = http.request("POST", url, json=body, ok=(200,)).data
    if not isinstance(data, dict):
        raise ConnectorError("GitHub's GraphQL API answered with something other than JSON", permanent=True)
    errors = data.get("errors") or []
    if errors:
        raise _error(errors, org)
    organization = (data.get("data") or {}).get("organization")
    if organization is None:
        raise PermissionProblem(f"GitHub's GraphQL API does not show the organization {org} to this token")
    provider = organization.get("samlIdentityProvider")
    if provider is None:
        raise PermissionProblem(
            f"saml=true, but GitHub shows no SAML identity provider for {org}: either SAML single sign-on is not "
            "configured on the organization (SAML configured on an enterprise is not read), or the token is not an "
            "owner's classic token with read:org (or admin:org); remove saml=true or use an owner's token"
        )
    return provider


def _error(errors: list, org: str) -> ConnectorError:
    types = {str((e or {}).get("type") or "") for e in errors}
    message = "; ".join(str((e or {}).get("message") or "unknown error") for e in errors)[:500]
    text = f"GitHub's GraphQL API refused the SAML identities query for {org}: {message}"
    if types & PERMISSION_ERRORS:
        return PermissionProblem(f"{text} (needs an owner's token with read:org)")
    if "RATE_LIMITED" in types:
        return ConnectorError(text, permanent=False)
    return ConnectorError(text, permanent=True)
