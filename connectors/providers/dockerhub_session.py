"""Docker Hub sign-in and lists: a short-lived JWT renewed before it expires, and body-paginated lists.

``POST /v2/auth/token`` {"identifier": Docker ID or org name, "secret": PAT or OAT} answers
{"access_token": JWT}, valid ten minutes
(https://docs.docker.com/reference/api/hub/latest/#tag/authentication-api/operation/AuthCreateAccessToken);
every other call sends it as a Bearer token. The session renews it a minute before its ``exp`` claim, and
once more when a call answers 401 (revoked, or a clock that disagrees); a second 401 is a permission problem.

Lists answer ``{count, next, previous, results}`` and are followed through ``next`` only
(https://docs.docker.com/reference/api/hub/latest/, schema ``page``); we never build page URLs.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Collection, Iterator
from urllib.parse import urlsplit

from pipeaccess.redact import register_secret

from ..base import ConnectorError, PermissionProblem
from ..http import HttpClient, Response

PAGE_SIZE = 100  # the documented maximum
TOKEN_LIFETIME_SECONDS = 600.0  # when the JWT does not say
RENEW_BEFORE_SECONDS = 60.0


class HubSession:
    """Requests as ``identifier``: signs in on first use, renews the JWT, retries a 401 once after renewing."""

    def __init__(self, http: HttpClient, identifier: str, secret: Callable[[], str]):
        self.http = http
        self.identifier = identifier
        self._secret = secret
        self._lock = threading.Lock()
        self._jwt: str | None = None
        self._expires_at = 0.0
        self.logins = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: dict | None = None,
        ok: Collection[int] = (200, 201, 204),
    ) -> Response:
        used = self._current()
        response = self.http.request(method, path, params=params, json=json, ok=(*ok, 401))
        if response.status == 401:
            self._renew(used)
            response = self.http.request(method, path, params=params, json=json, ok=(*ok, 401))
            if response.status == 401:
                raise PermissionProblem(f"authentication failed (401) for {method} {urlsplit(response.url).path}")
        return response

    def get(self, path: str, params: dict | None = None, *, ok: Collection[int] = (200,)) -> Response:
        return self.request("GET", path, params=params, ok=ok)

    def pages(self, path: str, params: dict | None = None, *, key: str = "id") -> Iterator[dict]:
        """Every item of a list once (by ``key``), page after page through the body's ``next`` URL.

        Pages are offsets: an item added or removed between two page reads shifts the rest, so one item can
        be listed twice and another never. Duplicates are dropped; if the count changes from page to page, or
        the items found do not add up to it, the list changed while being read and the read fails (transient):
        a missed member must never look like a removed one. (One addition and one removal between two page
        reads keep the count and can still hide an item until the next sync; Docker Hub offers no cursor.)
        """
        response = self.get(path, {**(params or {}), "page_size": PAGE_SIZE})
        where = urlsplit(response.url).path
        pages, seen, counts = {response.url}, set(), set()
        while True:
            data = response.data
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise ConnectorError(f"GET {where} did not answer a list page")
            counts.add(data.get("count", data.get("total")))  # the token list says total
            for item in data["results"]:
                if item.get(key) not in seen:
                    seen.add(item.get(key))
                    yield item
            next_url = data.get("next")
            if not next_url:
                break
            if next_url in pages:
                raise ConnectorError(f"pagination of GET {where} links back to a page already read")
            pages.add(next_url)
            response = self.get(next_url)
        count = counts.pop() if len(counts) == 1 else -1  # a list without a count is taken as it comes
        if isinstance(count, int) and count != len(seen):
            raise ConnectorError(f"GET {where} changed while it was read ({len(seen)} items found); try again")

    # --- the JWT ----------------------------------------------------------------

    def sign_in(self) -> None:
        """Make sure a usable bearer token is held (signing in if needed): a refused credential fails here."""
        self._current()

    def _current(self) -> str:
        with self._lock:
            if self._jwt is None or self.http.clock() >= self._expires_at - RENEW_BEFORE_SECONDS:
                self._sign_in()
            return self._jwt

    def _renew(self, failed: str) -> None:
        with self._lock:
            if self._jwt == failed:  # another thread may have renewed it already
                self._sign_in()

    def _sign_in(self) -> None:
        secret = self._secret()
        register_secret(secret)
        body = {"identifier": self.identifier, "secret": secret}
        response = self.http.request("POST", "/v2/auth/token", json=body, ok=(200, 401))
        if response.status == 401:
            raise PermissionProblem(
                f"Docker Hub refused the sign-in of {self.identifier} (401): check the token, and that username= is "
                "the Docker ID it belongs to (the organization's name for an organization access token)"
            )
        token = response.data.get("access_token") if isinstance(response.data, dict) else None
        if not isinstance(token, str) or not token:
            raise ConnectorError("POST /v2/auth/token answered without an access_token", permanent=True)
        self.http.set_credential("Authorization", f"Bearer {token}")
        self._jwt = token
        self._expires_at = _expiry(token) or self.http.clock() + TOKEN_LIFETIME_SECONDS
        self.logins += 1


def _expiry(jwt: str) -> float | None:
    """The ``exp`` claim, read without verifying the signature (only to know when to renew)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None
