"""The one outbound HTTP client: every connector request goes through HttpClient.

It owns what each connector would otherwise get subtly wrong: the SSRF guard on every
connection (connectors/netguard.py), manual redirects that drop credentials when the
host changes, retries with backoff, the upstreams' rate-limit signals, conditional
requests (ETag), Link-header pagination, and keeping tokens out of errors and logs.

Upstream behaviour it follows:
* GitHub: rate-limit headers and how to wait — https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
  and https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
  (retry-after first, then x-ratelimit-reset when remaining is 0, else at least a minute and
  exponential growth; follow redirects by repeating the request; 304s do not count). The client
  paces itself so that it never meets the primary limit: it keeps the least x-ratelimit-remaining
  answered in the current window, and sends only while that exceeds the requests in flight; when
  nothing is left and nothing is in flight, no thread sends until x-ratelimit-reset (so a sync at the
  limit gets no 403/429, only waits; 304s, which do not count, cost nothing);
  pagination via Link rel="next" only — https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
* GitLab: RateLimit-* headers, 429 with or without Retry-After — https://docs.gitlab.com/user/gitlab_com/#rate-limits-on-gitlabcom
* Docker Hub: 429 with X-Retry-After as epoch seconds — https://docs.docker.com/reference/api/hub/latest/#tag/rate-limiting
"""

from __future__ import annotations

import email.utils
import hashlib
import json as jsonlib
import logging
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests
from django.conf import settings
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, parse_header_links

from pipeaccess.redact import redact, register_secret

from .base import ConnectorError, PermissionProblem
from .netguard import GuardedAdapter, NetGuard, Resolver, system_resolve

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

USER_AGENT = "PipeAccess"
MAX_REDIRECTS = 5
# Failures that another attempt cannot fix: a certificate that does not match, a malformed URL or header.
PERMANENT_REQUEST_ERRORS = (
    requests.exceptions.SSLError,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Consecutive rate-limit answers to one request before giving up (each wait is bounded separately).
MAX_RATE_LIMIT_WAITS = 6
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
# GitHub: with no header to go by, wait at least a minute, then exponentially longer.
SECONDARY_RATE_LIMIT_SECONDS = 60.0
# Waiting for a window's reset: this much past x-ratelimit-reset (whole seconds, and clocks differ a little).
RESET_MARGIN_SECONDS = 1.0
# Headers worth replaying from the cache on a 304 (pagination and body type), not volatile ones.
CACHED_HEADERS = ("content-type", "link", "etag", "last-modified", "x-total", "x-total-pages", "x-next-page")
# Headers known to carry no secret. Every other configured header is treated as a credential:
# registered for redaction and sent only to the base URL's host.
PUBLIC_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "user-agent", "x-github-api-version"}
)


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    data: Any  # parsed JSON, or None
    text: str
    url: str
    from_cache: bool = False

    def link(self, rel: str) -> str | None:
        """The target of a Link header relation, as the upstream wrote it (resolved against this URL)."""
        for link in parse_header_links(self.headers.get("link", "")):
            if rel in link.get("rel", "").split() and link.get("url"):
                return urljoin(self.url, link["url"])
        return None


class HttpError(ConnectorError):
    """A non-ok status after retries and rate limits were handled; callers may inspect it (e.g. 404)."""

    def __init__(self, message: str, *, status: int, response: Response | None = None, permanent: bool = True):
        super().__init__(message, permanent=permanent)
        self.status = status
        self.response = response


@dataclass
class HttpStats:
    requests: int = 0  # attempts made over the network: each retry, redirect hop and 304 counts
    not_modified: int = 0  # answered 304 and served from the cache
    retries: int = 0
    rate_limit_waits: int = 0
    waited_seconds: float = 0.0  # time spent waiting for rate limits (not retry backoff)
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    rate_limit_used: int = 0  # responses counted against the primary limit (every non-304)


@dataclass
class CachedResponse:
    etag: str
    status: int
    headers: dict[str, str]
    text: str


class ResponseCache(Protocol):
    def get(self, key: str) -> CachedResponse | None: ...

    def set(self, key: str, value: CachedResponse) -> None: ...


class DjangoCacheResponseCache:
    """Cached bodies for conditional requests, in the "http" cache alias (Redis or files under var/)."""

    def __init__(self, alias: str = "http", timeout: float | None = 30 * 24 * 3600):
        # Explicit timeout: Django's default (300 s) would expire entries between two syncs.
        self.alias = alias
        self.timeout = timeout

    def get(self, key: str) -> CachedResponse | None:
        from django.core.cache import caches

        value = caches[self.alias].get(key)
        if not isinstance(value, dict):
            return None
        try:
            return CachedResponse(**value)
        except TypeError:  # written by an older version with other fields
            return None

    def set(self, key: str, value: CachedResponse) -> None:
        from django.core.cache import caches

        caches[self.alias].set(key, asdict(value), self.timeout)


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix; response is set for a 5xx."""

    def __init__(self, cause: str, response: Response | None = None):
        super().__init__(cause)
        self.cause = cause
        self.response = response


class HttpClient:
    """One upstream's client: thread-safe, one connection pool, options default to the HTTP_* settings.

    ``sleep`` and ``clock`` let tests wait for rate limits without waiting; ``resolve``
    replaces DNS for the address guard (tests use it to simulate DNS rebinding).
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        allow_private_network: bool = False,
        cache: ResponseCache | None = None,
        cache_namespace: str = "",
        timeout: float | None = None,
        max_retries: int | None = None,
        max_concurrency: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_rate_limit_wait: float | None = None,
        resolve: Resolver = system_resolve,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = settings.HTTP_TIMEOUT_SECONDS if timeout is None else timeout
        self.max_retries = settings.HTTP_MAX_RETRIES if max_retries is None else max_retries
        self.max_concurrency = max(1, settings.HTTP_MAX_CONCURRENCY if max_concurrency is None else max_concurrency)
        self.max_rate_limit_wait = (
            settings.HTTP_MAX_RATE_LIMIT_WAIT_SECONDS if max_rate_limit_wait is None else max_rate_limit_wait
        )
        self.cache = cache
        self.cache_namespace = cache_namespace
        self.sleep = sleep
        self.clock = clock
        self.stats = HttpStats()
        self._lock = threading.Lock()
        # The upstream's rate-limit window as its headers tell it (module docstring): the least remaining
        # answered in it (None: unknown), when it resets (per clock), requests in flight; answers notify.
        self._quota_remaining: int | None = None
        self._quota_reset = 0.0
        self._in_flight = 0
        self._answered = threading.Condition(self._lock)

        # Fails here, before any request, for a refused base URL.
        self.guard = NetGuard(allow_private=allow_private_network, resolve=resolve)
        self.guard.check_url(self.base_url)
        base = urlsplit(self.base_url)
        self._base_host = base.hostname
        self._base_scheme = base.scheme

        self._public_headers: dict[str, str] = {}
        self._credentials: dict[str, str] = {}
        for name, value in (headers or {}).items():
            if name.lower() in PUBLIC_HEADERS:
                self._public_headers[name] = value
            else:
                self._credentials[name] = value
                _register_credential(value)

        self.session = requests.Session()
        # No proxy or .netrc from the environment: a proxy would bypass the guard, .netrc adds credentials.
        self.session.trust_env = False
        self.session.headers = CaseInsensitiveDict({"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})
        adapter = GuardedAdapter(self.guard, pool_connections=4, pool_maxsize=self.max_concurrency)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # --- public API ---------------------------------------------------------------

    def get(self, url_or_path: str, params: dict | None = None) -> Response:
        return self.request("GET", url_or_path, params=params)

    def paginate(self, url_or_path: str, params: dict | None = None) -> Iterator[Response]:
        """Every page, in order, following the upstream's Link relations.

        Pages are the upstream's own URLs: rel="next" one after another, except when the first page names the
        last one (rel="last") with a page number and we are not already inside one of this client's workers:
        then pages 2..last (the next URL with only its page number changed) are read concurrently, so an
        org-wide list of hundreds of pages costs the latency of a few. A list that grew while it was read still
        ends by following rel="next" from the page read last.
        """
        response = self.get(url_or_path, params)
        seen = {response.url}
        yield response
        if not getattr(_worker, "active", False):
            pages = _numbered_pages(response.link("next"), response.link("last"))
            if pages is not None:
                for response in self.imap(self.get, pages):
                    seen.add(response.url)
                    yield response
        while True:
            next_url = response.link("next")
            if next_url is None:
                return
            if next_url in seen:
                raise ConnectorError(f"pagination of GET {_path(response.url)} links back to a page already read")
            seen.add(next_url)
            response = self.get(next_url)
            yield response

    def request(
        self,
        method: str,
        url_or_path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        ok: Collection[int] = (200, 201, 202, 204),
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Response:
        """``body`` with ``content_type`` sends raw bytes instead of ``json`` (Jenkins config.xml)."""
        method = method.upper()
        url = self._absolute(url_or_path, params)
        where = f"{method} {_path(url)}"
        cached = self._cache_get(url) if method == "GET" else None
        failures = rate_limited = 0
        while True:
            try:
                raw = self._send(method, url, json, cached.etag if cached else None, body, content_type)
                if raw.status_code == 304 and cached is not None:
                    with self._lock:
                        self.stats.not_modified += 1
                    return _from_cache(cached, url)
                wait = self._rate_limit_wait(raw, rate_limited)
                if wait is not None:
                    rate_limited += 1
                    if rate_limited > MAX_RATE_LIMIT_WAITS:
                        raise ConnectorError(f"{where} is still rate limited after {MAX_RATE_LIMIT_WAITS} waits")
                    self._pause(where, wait)
                    continue
                if raw.status_code >= 500:
                    response = _parse(raw, strict=False)
                    raise _Retry(f"HTTP {raw.status_code}{_detail(response)}", response)
                response = _parse(raw, strict=raw.status_code in ok)
            except _Retry as failure:
                failures = self._backoff(where, failures, failure)
                continue
            if raw.status_code in ok:
                self._cache_set(method, url, raw, response)
                return response
            raise self._error(where, response)

    def imap(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """fn over items on max_concurrency threads; results in input order; the first failure stops the rest.

        At most twice max_concurrency items are in flight, so a long input is never
        submitted (or held as results) all at once.
        """
        if self.max_concurrency == 1:
            for item in items:
                yield fn(item)
            return
        window = 2 * self.max_concurrency
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        pending: deque[Future] = deque()
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="http", initializer=_mark_worker) as pool:
            try:
                for item in items:
                    future = pool.submit(fn, item)
                    future.add_done_callback(finished.put)
                    pending.append(future)
                    if len(pending) >= window:
                        yield _next_in_order(pending, finished)
                while pending:
                    yield _next_in_order(pending, finished)
            finally:
                for future in pending:
                    future.cancel()

    def set_credential(self, name: str, value: str) -> None:
        """Send ``name: value`` from now on, like a credential given at construction (redacted, base host only).

        For tokens obtained at run time, e.g. Docker Hub's short-lived JWT from POST /v2/auth/token.
        """
        _register_credential(value)
        with self._lock:
            self._credentials = {**self._credentials, name: value}  # replaced whole: readers never see it half-built

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- one attempt ----------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        json: Any,
        etag: str | None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> requests.Response:
        """One attempt, following redirects by hand so that each hop passes the guard."""
        for hop in range(MAX_REDIRECTS + 1):
            self.guard.check_url_syntax(url)
            headers = self._headers_for(url)
            if etag:
                headers["If-None-Match"] = etag
            if content_type:
                headers["Content-Type"] = content_type
            self._take_quota(f"{method} {_path(url)}")
            with self._lock:
                self.stats.requests += 1
            raw = None
            try:
                raw = self.session.request(
                    method,
                    url,
                    headers=headers,
                    json=json,
                    data=body,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                )
            except PERMANENT_REQUEST_ERRORS as exc:
                raise ConnectorError(redact(f"{method} {_path(url)}: {_describe(exc)}"), permanent=True) from None
            except requests.RequestException as exc:
                raise _Retry(_describe(exc)) from None
            finally:
                self._answered_by(raw)
            location = raw.headers.get("location")
            if raw.status_code not in REDIRECT_STATUSES or not location:
                return raw
            if hop == MAX_REDIRECTS:
                break
            url = urljoin(url, location)
            # Resolve and check now, for a clear error before any connection to the new host.
            self.guard.check_url(url)
            if raw.status_code == 303:
                method, json, body = "GET", None, None
            # 301/302/307/308 repeat the request as it was (GitHub's guidance for API clients).
        raise ConnectorError(f"{method} {_path(url)}: more than {MAX_REDIRECTS} redirects", permanent=True)

    def _headers_for(self, url: str) -> dict[str, str]:
        headers = dict(self._public_headers)
        target = urlsplit(url)
        same_host = target.hostname == self._base_host
        downgrade = self._base_scheme == "https" and target.scheme != "https"
        if same_host and not downgrade:
            headers.update(self._credentials)
        return headers

    def _backoff(self, where: str, failures: int, failure: _Retry) -> int:
        """Sleep before the next attempt (exponential, full jitter), or raise once retries are spent."""
        if failures >= self.max_retries:
            attempts = f"{failures + 1} attempt{'s' if failures else ''}"
            message = redact(f"{where} failed after {attempts}: {failure.cause}")
            if failure.response is not None:
                raise HttpError(message, status=failure.response.status, response=failure.response, permanent=False)
            raise ConnectorError(message)
        delay = random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**failures))  # noqa: S311
        logger.warning(
            "%s: %s; retry %d of %d in %.1f s", where, redact(failure.cause), failures + 1, self.max_retries, delay
        )
        with self._lock:
            self.stats.retries += 1
        self.sleep(delay)
        return failures + 1

    # --- rate limits ----------------------------------------------------------------

    def _answered_by(self, raw: requests.Response | None) -> None:
        """A request is no longer in flight: note its rate-limit headers at the same time (None: no answer)."""
        with self._lock:
            self._in_flight -= 1
            self._answered.notify_all()
            if raw is not None:
                self._note_rate_limit(raw)

    def _note_rate_limit(self, raw: requests.Response) -> None:
        """Under self._lock, so that no request is sent between leaving the in-flight count and this."""
        headers = raw.headers
        remaining = _int_header(headers, "x-ratelimit-remaining", "ratelimit-remaining")
        limit = _int_header(headers, "x-ratelimit-limit", "ratelimit-limit")
        reset = _int_header(headers, "x-ratelimit-reset", "ratelimit-reset")
        if raw.status_code != 304:
            self.stats.rate_limit_used += 1
        if remaining is not None:
            self.stats.rate_limit_remaining = remaining
        if limit is not None:
            self.stats.rate_limit_limit = limit
        if remaining is None or reset is None:
            return
        resets_at = reset + RESET_MARGIN_SECONDS
        if resets_at > self._quota_reset:  # a newer window
            self._quota_reset, self._quota_remaining = resets_at, remaining
        elif resets_at == self._quota_reset:  # answers arrive out of order: the least remaining is the latest
            known = self._quota_remaining
            self._quota_remaining = remaining if known is None else min(known, remaining)

    def _rate_limit_wait(self, raw: requests.Response, waits_so_far: int) -> float | None:
        """Seconds to wait if this response says we are rate limited, else None."""
        if raw.status_code not in (403, 429):
            return None
        headers = raw.headers
        now = self.clock()
        waits = []
        if "retry-after" in headers:
            waits.append(_retry_after(headers["retry-after"], now))
        if "x-retry-after" in headers:  # Docker Hub: epoch seconds
            until = _epoch(headers["x-retry-after"])
            waits.append(None if until is None else until - now)
        remaining = _int_header(headers, "x-ratelimit-remaining", "ratelimit-remaining")
        reset = _int_header(headers, "x-ratelimit-reset", "ratelimit-reset")
        if remaining == 0 and reset is not None:
            waits.append(reset + 1 - now)
        waits = [wait for wait in waits if wait is not None]
        if waits:
            return max(1.0, *waits)
        body = raw.text.lower()
        if remaining == 0 or "secondary rate limit" in body or "abuse detection" in body:
            return SECONDARY_RATE_LIMIT_SECONDS * 2**waits_so_far
        if raw.status_code == 429:
            return max(1.0, random.uniform(0, min(BACKOFF_CAP_SECONDS, 5 * 2**waits_so_far)))  # noqa: S311
        return None

    def _take_quota(self, where: str) -> None:
        """Before each request: one from the window's quota, or, when it is spent, wait for the window's reset."""
        while True:
            with self._lock:
                now = self.clock()
                if self._quota_remaining is not None and now >= self._quota_reset:
                    self._quota_remaining = None  # a new window: its first answers tell what is left
                if self._quota_remaining is None or self._quota_remaining > self._in_flight:
                    self._in_flight += 1
                    return
                if self._in_flight:
                    # Those answers tell whether they counted (a 304 does not): wait for them, not for the reset.
                    self._answered.wait()
                    continue
                wait = self._quota_reset - now
            self._pause(where, wait)

    def _pause(self, where: str, seconds: float) -> None:
        if seconds > self.max_rate_limit_wait:
            raise ConnectorError(
                f"{where}: rate limit resets in {math.ceil(seconds)} s, "
                f"longer than the {self.max_rate_limit_wait:g} s allowed (HTTP_MAX_RATE_LIMIT_WAIT_SECONDS)"
            )
        logger.info("%s: rate limited, waiting %.0f s", where, seconds)
        with self._lock:
            self.stats.rate_limit_waits += 1
            self.stats.waited_seconds += seconds
        self.sleep(seconds)

    # --- responses ------------------------------------------------------------------

    def _error(self, where: str, response: Response) -> ConnectorError:
        status = response.status
        if status == 401:
            return PermissionProblem(f"authentication failed (401) for {where}")
        if status == 403:
            message = f"permission denied (403) for {where}{_detail(response)}"
            if "x-github-sso" in response.headers:
                message += " (X-GitHub-SSO: the token must be authorized for this organization's SAML single sign-on)"
            return PermissionProblem(redact(message))
        return HttpError(redact(f"HTTP {status} for {where}{_detail(response)}"), status=status, response=response)

    def _absolute(self, url_or_path: str, params: dict | None) -> str:
        if url_or_path.startswith(("http://", "https://")):
            url = url_or_path
        else:
            url = f"{self.base_url}/{url_or_path.lstrip('/')}"
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, params)
        return prepared.url

    # --- cache ----------------------------------------------------------------------

    def _cache_key(self, url: str) -> str:
        return f"{self.cache_namespace}:{hashlib.sha256(url.encode()).hexdigest()}"

    def _cache_get(self, url: str) -> CachedResponse | None:
        if self.cache is None:
            return None
        try:
            return self.cache.get(self._cache_key(url))
        except Exception as exc:  # a cache outage costs requests, never the sync
            logger.warning("response cache unavailable (%s); requesting without ETag", type(exc).__name__)
            return None

    def _cache_set(self, method: str, url: str, raw: requests.Response, response: Response) -> None:
        etag = raw.headers.get("etag")
        if self.cache is None or method != "GET" or raw.status_code != 200 or not etag:
            return
        headers = {name: raw.headers[name] for name in CACHED_HEADERS if name in raw.headers}
        try:
            self.cache.set(self._cache_key(url), CachedResponse(etag, response.status, headers, response.text))
        except Exception as exc:
            logger.warning("response cache unavailable (%s); response not stored", type(exc).__name__)


# 10,000 pages of 100: a million items. Beyond that a stated last page is more likely wrong than true.
MAX_NUMBERED_PAGES = 10_000

# Set in this client's worker threads: a list read inside a worker pages one by one, so concurrency stays
# max_concurrency (a worker fanning out its own pages would multiply it).
_worker = threading.local()


def _mark_worker() -> None:
    _worker.active = True


def _numbered_pages(next_url: str | None, last_url: str | None) -> Iterator[str] | None:
    """URLs of pages 2..last when both links differ only in an integer ``page`` parameter, else None.

    A last page beyond MAX_NUMBERED_PAGES is not believed: such a list is followed by rel="next" instead.
    """
    if not next_url or not last_url:
        return None
    next_parts, last_parts = urlsplit(next_url), urlsplit(last_url)
    next_query, last_query = parse_qsl(next_parts.query), parse_qsl(last_parts.query)
    next_page, last_page = dict(next_query).get("page", ""), dict(last_query).get("page", "")
    if not (next_page == "2" and last_page.isdigit() and int(last_page) <= MAX_NUMBERED_PAGES):
        return None
    others = sorted((k, v) for k, v in next_query if k != "page")
    if next_parts._replace(query="") != last_parts._replace(query="") or others != sorted(
        (k, v) for k, v in last_query if k != "page"
    ):
        return None
    return (
        next_parts._replace(query=urlencode([(k, str(n) if k == "page" else v) for k, v in next_query])).geturl()
        for n in range(2, int(last_page) + 1)
    )


def _register_credential(value: str) -> None:
    register_secret(value)
    # "Bearer abc" / "token abc" / "Basic abc": the bare token may show up on its own.
    _, _, token = value.partition(" ")
    if token:
        register_secret(token.strip())


def _next_in_order(pending: deque[Future], finished: queue.SimpleQueue[Future]):
    """The result of the oldest future; raises as soon as any future fails, not only the oldest."""
    head = pending[0]
    while not head.done():
        done = finished.get()
        if not done.cancelled() and done.exception() is not None:
            raise done.exception()
    pending.popleft()
    return head.result()


def _from_cache(cached: CachedResponse, url: str) -> Response:
    headers = CaseInsensitiveDict(cached.headers)
    return Response(
        status=cached.status,
        headers=headers,
        data=_json_or_none(cached.text, headers.get("content-type", "")),
        text=cached.text,
        url=url,
        from_cache=True,
    )


def _parse(raw: requests.Response, *, strict: bool) -> Response:
    """Our Response for a requests one; with strict, a JSON body that does not parse is a failed attempt."""
    content_type = raw.headers.get("content-type", "")
    try:
        text = raw.content.decode(get_encoding_from_headers(raw.headers) or "utf-8", errors="replace")
    except LookupError:
        text = raw.content.decode("utf-8", errors="replace")
    data = None
    if _is_json(content_type) and text.strip():
        try:
            data = jsonlib.loads(text)
        except ValueError:
            if strict:
                raise _Retry(f"invalid JSON body ({len(raw.content)} bytes)") from None
    return Response(raw.status_code, CaseInsensitiveDict(raw.headers), data, text, raw.url)


def _json_or_none(text: str, content_type: str) -> Any:
    if not _is_json(content_type) or not text.strip():
        return None
    try:
        return jsonlib.loads(text)
    except ValueError:
        return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _detail(response: Response) -> str:
    """ ": upstream message" for error texts, from the JSON body or a short plain-text body."""
    message = ""
    if isinstance(response.data, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(response.data.get(key), str):
                message = response.data[key]
                break
    elif response.text and not response.text.lstrip().startswith("<"):
        message = response.text.strip().splitlines()[0]
    message = message.strip()
    if len(message) > 300:
        message = message[:300] + "…"
    return f": {message}" if message else ""


def _describe(exc: Exception) -> str:
    """A short cause for messages and logs: what went wrong, never the request's URL or headers."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "read timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "response body cut short"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "response body could not be decoded"
    inner: BaseException = exc
    while True:
        nested = getattr(inner, "reason", None)
        if nested is None and inner.args and isinstance(inner.args[0], BaseException):
            nested = inner.args[0]
        if not isinstance(nested, BaseException):
            break
        inner = nested
    if type(inner).__name__ == "ReadTimeoutError":
        return "read timed out"
    # urllib3's connection errors keep their own text apart from the connection's repr.
    detail = getattr(inner, "_message", None) or str(inner) or type(inner).__name__
    return f"{type(exc).__name__}: {detail}"


def _path(url: str) -> str:
    """The URL's path for messages: no query string, which could carry a token."""
    return urlsplit(url).path or "/"


def _int_header(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                return int(float(value))
            except ValueError:
                return None
    return None


def _epoch(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _retry_after(value: str, now: float) -> float | None:
    """Retry-After is delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now
