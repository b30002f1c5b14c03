"""HTTP machinery shared by the upstream API simulators (tests, `make demo`, `make bench`).

A simulator is a real HTTP server on loopback so that clients exercise their whole stack
(sockets, timeouts, retries, pagination, rate limits). This module knows nothing about any
particular upstream: it provides a threading server, a tiny router, offset pagination with
``Link`` headers, ETags, fixed- and sliding-window rate-limit bookkeeping, fault injection,
a request log and the ``/_simulator/*`` control endpoints. Upstream modules (``github.py``,
later ``gitlab.py`` …) subclass :class:`Simulator` and register their routes.

Time: rate-limit windows use the injectable ``clock`` (epoch seconds) so tests can share a fake
clock with the client's injected sleep. ``window_scale`` shortens every limit window (an "hour" lasts
3600/scale seconds, a "minute" 60/scale) so a bench can live through many hourly quotas; the headers
(``x-ratelimit-reset``, ``retry-after``) stay in real epoch seconds, so clients wait the real time left.
Latency and delay faults use real time on purpose: they
exist to make real sockets time out, and they are interruptible by :meth:`Simulator.stop`.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
CONTROL_PREFIX = "/_simulator/"


# ---------------------------------------------------------------------------
# Requests and responses


@dataclass
class Request:
    method: str
    path: str  # without the API prefix (e.g. "/orgs/acme/members" for "/api/v3/orgs/acme/members")
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # "http://host:port" + API prefix; absolute links are built from it
    prefix: str = ""
    endpoint: str | None = None  # route name once routed, e.g. "GET /orgs/{org}/members"

    @property
    def query(self) -> dict[str, str]:
        """First value of each query parameter."""
        result: dict[str, str] = {}
        for key, value in self.query_pairs:
            result.setdefault(key, value)
        return result

    @property
    def root_url(self) -> str:
        """Scheme and host without the API prefix (GHES web UI lives there)."""
        return self.base_url[: len(self.base_url) - len(self.prefix)] if self.prefix else self.base_url

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise HTTPError(Response(400, {"message": "Problems parsing JSON"})) from None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable; None means no body
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # pre-encoded body, wins over ``body``

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


class HTTPError(Exception):
    """Raised by handlers to answer with ``response`` immediately."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0 when the connection was dropped without an answer
    endpoint: str
    prefix: str = ""


# ---------------------------------------------------------------------------
# Routing


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    name: str  # routes that are aliases of one another share a name (stats, per-endpoint limits)
    regex: re.Pattern[str]
    handler: Callable[..., Response]
    meta: dict[str, Any]


class Router:
    """Method + path template (``/orgs/{org}/members``) -> handler; parameters are single segments."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Callable[..., Response], *, name: str | None = None, **meta):
        regex = re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$")
        route = Route(method, pattern, name or f"{method} {pattern}", regex, handler, meta)
        self.routes.append(route)
        return route

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                found = route.regex.match(path)
                if found:
                    return route, {key: unquote(value) for key, value in found.groupdict().items()}
        return None


# ---------------------------------------------------------------------------
# Pagination, Link headers, ETags


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    number: int
    per_page: int
    last: int
    links: dict[str, str]  # rel -> absolute URL, in GitHub's order: prev, next, last, first

    def link_header(self) -> str | None:
        if not self.links:
            return None
        return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in self.links.items())


def _positive_int(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


def paginate(
    request: Request,
    items: Sequence[Any],
    *,
    link_path: str | None = None,
    default_per_page: int = 30,
    max_per_page: int = 100,
) -> Page:
    """Slice ``items`` by ``page``/``per_page`` and build GitHub-style links.

    ``link_path`` lets a simulator point the links at another form of the same resource (GitHub's
    ``/repositories/{id}/…``), so clients must follow links instead of building URLs. The links
    keep the request's other query parameters in their order and set ``page``.
    """
    query = request.query
    per_page = min(_positive_int(query.get("per_page"), default_per_page), max_per_page)
    number = _positive_int(query.get("page"), 1)
    last = max(1, math.ceil(len(items) / per_page))
    start = (number - 1) * per_page
    chunk = items[start : start + per_page]

    def url(page: int) -> str:
        pairs = [(key, value) for key, value in request.query_pairs if key != "page"]
        pairs.append(("page", str(page)))
        return f"{request.base_url}{link_path or request.path}?{urlencode(pairs)}"

    links: dict[str, str] = {}
    if number > 1:
        links["prev"] = url(number - 1)
    if number < last:
        links["next"] = url(number + 1)
        links["last"] = url(last)
    if number > 1:
        links["first"] = url(1)
    return Page(chunk, number, per_page, last, links)


def make_etag(body: bytes, *, weak: bool = True) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f'W/"{digest}"' if weak else f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as servers do for If-None-Match."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


# ---------------------------------------------------------------------------
# Rate-limit bookkeeping (the simulators decide status codes, headers and messages)


@dataclass(frozen=True)
class QuotaState:
    limit: int
    used: int
    reset: int  # epoch seconds when the window restarts

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class FixedWindowQuota:
    """Requests per key in a window that starts with the first counted request (GitHub's hourly limit)."""

    def __init__(self, clock: Clock, window: float = 3600.0):
        self.clock = clock
        self.window = window
        self._lock = threading.Lock()
        self._windows: dict[Any, list[float]] = {}  # key -> [window_end, used]

    def _current(self, key: Any) -> list[float] | None:
        state = self._windows.get(key)
        if state is not None and self.clock() >= state[0]:
            del self._windows[key]
            return None
        return state

    def peek(self, key: Any, limit: int) -> QuotaState:
        with self._lock:
            state = self._current(key)
            if state is None:
                return QuotaState(limit, 0, math.ceil(self.clock() + self.window))
            return QuotaState(limit, int(state[1]), math.ceil(state[0]))

    def consume(self, key: Any, limit: int, amount: int = 1) -> QuotaState:
        with self._lock:
            state = self._current(key)
            if state is None:
                state = self._windows[key] = [self.clock() + self.window, 0]
            state[1] += amount
            return QuotaState(limit, int(state[1]), math.ceil(state[0]))

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


class SlidingWindow:
    """Points per key over the last ``window`` seconds (GitHub's secondary points-per-minute limit)."""

    def __init__(self, clock: Clock, window: float = 60.0):
        self.clock = clock
        self.window = window
        self._lock = threading.Lock()
        self._events: dict[Any, deque[tuple[float, int]]] = {}

    def _prune(self, key: Any, now: float) -> deque[tuple[float, int]]:
        events = self._events.setdefault(key, deque())
        while events and events[0][0] <= now - self.window:
            events.popleft()
        return events

    def retry_after(self, key: Any, limit: int, points: int) -> int:
        """0 if ``points`` more fit under ``limit``, else whole seconds until they would."""
        with self._lock:
            now = self.clock()
            events = self._prune(key, now)
            excess = sum(p for _, p in events) + points - limit
            if excess <= 0:
                return 0
            for at, spent in events:
                excess -= spent
                if excess <= 0:
                    return max(1, math.ceil(at + self.window - now))
            return max(1, math.ceil(self.window))

    def add(self, key: Any, points: int) -> None:
        with self._lock:
            now = self.clock()
            self._prune(key, now).append((now, points))

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


# ---------------------------------------------------------------------------
# Fault injection

ERROR = "error"  # answer with ``status`` (default 502) instead of the real response
SECONDARY_RATE_LIMIT = "secondary_rate_limit"  # the simulator's secondary-limit answer, retry-after ``seconds``
DELAY = "delay"  # wait ``seconds`` before answering (make clients time out)
LATENCY = "latency"  # like delay, but meant for every matching request (``times`` defaults to always)
TRUNCATE = "truncate"  # announce the full Content-Length, send half the body, close
DISCONNECT = "disconnect"  # close the connection without answering
FAULT_KINDS = (ERROR, SECONDARY_RATE_LIMIT, DELAY, LATENCY, TRUNCATE, DISCONNECT)


@dataclass
class Fault:
    """Fires on the ``on``-th request matching ``method``/``path`` and then ``times`` times (None: always).

    ``path`` is a shell-style pattern (``*`` crosses slashes) over the path without the API prefix
    and without the query string, e.g. ``/orgs/*/members`` or ``/repos/acme/*/collaborators``.
    """

    kind: str
    path: str = "*"
    method: str | None = None
    on: int = 1
    times: int | None = 1
    status: int = 502
    seconds: float = 0.0
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if self.on < 1:
            raise ValueError("'on' counts matching requests from 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {"kind", "path", "method", "on", "times", "status", "seconds"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "times" not in values and values.get("kind") == LATENCY:
            values["times"] = None
        if values.get("times") == "always":
            values["times"] = None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)

    def _fires(self) -> bool:
        if self.matched < self.on:
            return False
        return self.times is None or self.fired < self.times


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def take(self, method: str, path: str) -> list[Fault]:
        """Count this request against every matching fault; return the ones that fire for it."""
        firing = []
        with self._lock:
            for fault in self.faults:
                if fault._matches(method, path):
                    fault.matched += 1
                    if fault._fires():
                        fault.fired += 1
                        firing.append(fault)
        return firing


# ---------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a bench does thousands of requests per minute
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would add ~40 ms each
    server_version = "simulator"

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header follows the simulator's clock, so it agrees with x-ratelimit-reset under a fake clock."""
        return super().date_time_string(self.server.simulator.clock() if timestamp is None else timestamp)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        self.server.simulator._serve(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    simulator: Simulator


class Simulator:
    """Base of every simulator: lifecycle, faults, request log, stats and control endpoints.

    Subclasses register routes on ``self.router`` and override :meth:`handle` (auth, limits) and the
    ``*_response`` hooks so injected faults look like the upstream's own errors.
    """

    prefixes: tuple[str, ...] = ("",)
    server_header = "simulator"
    # Methods of ``model`` that ``POST /_simulator/mutate`` may call by name (see :meth:`_control_mutate`).
    _MUTATIONS: tuple[str, ...] = ()
    lock: threading.RLock  # set by simulators with mutable state; guards it against concurrent requests

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = time.time,
        latency: float = 0.0,
        max_concurrent: int | None = None,
        request_log_size: int = 100_000,
        window_scale: float = 1.0,
    ):
        if window_scale <= 0:
            raise ValueError("window_scale must be positive")
        self.host = host
        self.port = port
        self.clock = clock
        self.latency = latency  # seconds added to every request (real time)
        self.max_concurrent = max_concurrent  # per client_key(); delayed requests count while they wait
        self.window_scale = window_scale
        self._in_flight: Counter[str] = Counter()
        self._flight_lock = threading.Lock()
        self.router = Router()
        self.control = Router()
        self.faults = FaultPlan()
        # Recent requests for assertions; bounded so a long demo does not grow without end (stats() is not).
        self.requests: deque[LoggedRequest] = deque(maxlen=request_log_size)
        self._log_lock = threading.Lock()
        self._stats: Counter[str] = Counter()
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.notes: list[str] = []  # extra lines the command line prints after the URL
        self._add_control_routes()

    def scaled(self, seconds: float) -> float:
        """A limit window's length under ``window_scale`` (``scaled(3600)`` is the simulated hour)."""
        return seconds / self.window_scale

    # -- lifecycle

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("simulator not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"server_version": self.server_header})
        self._server = _Server((self.host, self.port), handler)
        self._server.simulator = self
        self.port = self._server.server_address[1]  # stays known after stop(); a restart reuses it
        self._stopping.clear()
        # A short poll interval keeps stop() quick; serving itself does not poll.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name=f"{self.server_header}-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed requests
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults, counters

    def add_fault(self, kind: str, path: str = "*", **options: Any) -> Fault:
        return self.faults.add(Fault(kind=kind, path=path, **options))

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_counters(self) -> None:
        """Forget the request log and statistics (subclasses also reset their rate limits)."""
        with self._log_lock:
            self.requests.clear()
            self._stats.clear()
            self._by_endpoint.clear()
            self._by_status.clear()

    def stats(self) -> dict[str, Any]:
        with self._log_lock:
            return {
                "total": self._stats["total"],
                "not_modified": self._by_status["304"],
                "faults_fired": self._stats["faults_fired"],
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
                "by_status": dict(sorted(self._by_status.items())),
            }

    # -- hooks for subclasses

    def describe(self) -> list[str]:
        return list(self.notes)

    def handle(self, request: Request) -> Response:
        """Answer one (non-control) request. The default only routes."""
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return Response(404, {"message": "Not Found"})
        route, params = matched
        request.endpoint = route.name
        try:
            return route.handler(request, **params)
        except HTTPError as error:
            return error.response

    def client_key(self, request: Request) -> str | None:
        """Who a request counts against for ``max_concurrent`` (None: not limited)."""
        return None

    def busy_response(self, request: Request) -> Response:
        return Response(429, {"message": "Too many concurrent requests"}, {"Retry-After": "1"})

    def error_response(self, request: Request, status: int) -> Response:
        return Response(status, {"message": HTTPStatus(status).phrase})

    def secondary_limit_response(self, request: Request, retry_after: int) -> Response:
        return Response(429, {"message": "Too Many Requests"}, {"Retry-After": str(retry_after)})

    def endpoint_name(self, request: Request) -> str:
        if request.endpoint:
            return request.endpoint
        matched = self.router.match(request.method, request.path)
        return matched[0].name if matched else f"{request.method} (unrouted)"

    def sleep(self, seconds: float) -> None:
        """Real-time wait that :meth:`stop` interrupts."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- request processing

    def _parse(self, handler: BaseHTTPRequestHandler) -> Request:
        parts = urlsplit(handler.path)
        path = parts.path or "/"
        prefix = ""
        for candidate in sorted(self.prefixes, key=len, reverse=True):
            if candidate and (path == candidate or path.startswith(candidate + "/")):
                prefix, path = candidate, path[len(candidate) :] or "/"
                break
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        host = handler.headers.get("Host") or f"{self.host}:{handler.server.server_address[1]}"
        return Request(
            method=handler.command,
            path=path,
            query_pairs=parse_qsl(parts.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in handler.headers.items()},
            body=body,
            base_url=f"http://{host}{prefix}",
            prefix=prefix,
        )

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            request = self._parse(handler)
        except ValueError:
            self._send(handler, Response(400, {"message": "Bad request"}), head=False)
            return
        head = request.method == "HEAD"
        if request.path.startswith(CONTROL_PREFIX):
            self._send(handler, self._control(request), head=head)
            return

        key = self.client_key(request) if self.max_concurrent else None
        if key is not None:
            with self._flight_lock:
                busy = self._in_flight[key] >= self.max_concurrent
                if not busy:
                    self._in_flight[key] += 1
            if busy:
                response = self.busy_response(request)
                self._record(request, response.status, fired=0)
                self._send(handler, response, head=head)
                return
        try:
            self._process(handler, request, head=head)
        finally:
            if key is not None:
                with self._flight_lock:
                    self._in_flight[key] -= 1

    def _process(self, handler: BaseHTTPRequestHandler, request: Request, *, head: bool) -> None:
        firing = self.faults.take(request.method, request.path)
        self.sleep(self.latency)
        for fault in firing:
            if fault.kind in (DELAY, LATENCY):
                self.sleep(fault.seconds)
        kinds = {fault.kind for fault in firing}
        if DISCONNECT in kinds:
            self._record(request, 0, fired=len(firing))
            handler.close_connection = True
            return
        injected = next((f for f in firing if f.kind in (ERROR, SECONDARY_RATE_LIMIT)), None)
        if injected is None:
            try:
                response = self.handle(request)
            except Exception:
                logger.exception("simulator failed on %s %s", request.method, request.path)
                response = Response(500, {"message": "Server Error"})
        elif injected.kind == ERROR:
            response = self.error_response(request, injected.status)
        else:
            response = self.secondary_limit_response(request, max(1, math.ceil(injected.seconds or 60)))
        self._record(request, response.status, fired=len(firing))
        self._send(handler, response, head=head, truncate=TRUNCATE in kinds)

    def _record(self, request: Request, status: int, *, fired: int) -> None:
        endpoint = self.endpoint_name(request)
        entry = LoggedRequest(request.method, request.path, request.query, status, endpoint, request.prefix)
        with self._log_lock:
            self.requests.append(entry)
            self._stats["total"] += 1
            self._stats["faults_fired"] += fired
            self._by_endpoint[endpoint] += 1
            self._by_status[str(status)] += 1

    def _send(self, handler: BaseHTTPRequestHandler, response: Response, *, head: bool, truncate: bool = False):
        body = b"" if response.status in (204, 304) else response.encoded()
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            if response.status not in (204, 304):
                if body and "content-type" not in {name.lower() for name in response.headers}:
                    handler.send_header("Content-Type", "application/json; charset=utf-8")
                handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if not head:
                handler.wfile.write(body[: len(body) // 2] if truncate else body)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout fired)
            handler.close_connection = True
            return
        if truncate:
            handler.close_connection = True

    # -- control endpoints (never logged, never rate limited)

    def _control(self, request: Request) -> Response:
        matched = self.control.match(request.method, request.path)
        if matched is None:
            return Response(404, {"message": f"no simulator control endpoint {request.method} {request.path}"})
        route, params = matched
        try:
            return route.handler(request, **params)
        except HTTPError as error:
            return error.response
        except (TypeError, ValueError, KeyError, LookupError) as error:
            return Response(400, {"message": str(error)})

    def _add_control_routes(self) -> None:
        self.control.add("GET", "/_simulator/faults", self._control_list_faults)
        self.control.add("POST", "/_simulator/faults", self._control_add_faults)
        self.control.add("DELETE", "/_simulator/faults", self._control_clear_faults)
        self.control.add("GET", "/_simulator/stats", lambda request: Response(200, self.stats()))
        self.control.add("GET", "/_simulator/requests", self._control_requests)
        self.control.add("POST", "/_simulator/reset", self._control_reset)

    @property
    def model(self) -> Any:
        """The simulated system that named mutations act on; simulators with ``_MUTATIONS`` override it."""
        raise NotImplementedError

    def mutate(self, fraction: float, seed: int = 0) -> list[Any]:
        """Change about ``fraction`` of the simulated grants (seeded); returns the changes as dataclasses."""
        with self.lock:
            return self.model.mutate_fraction(fraction, seed)

    def mutation_result(self, result: Any) -> Any:
        """How a named mutation's return value is shown; override to hide secrets."""
        return asdict(result) if is_dataclass(result) else result

    def _control_mutate(self, request: Request) -> Response:
        """``{"fraction": 0.01, "seed": 2}`` or ``{"action": "remove_member", "args": {...}}`` (one of ``_MUTATIONS``).

        Simulators register it as ``POST /_simulator/mutate`` when they support changes.
        """
        data = request.json()
        if "action" in data:
            if data["action"] not in self._MUTATIONS:
                return Response(400, {"message": f"unknown action; use one of {', '.join(self._MUTATIONS)}"})
            with self.lock:
                result = getattr(self.model, data["action"])(**data.get("args", {}))
            return Response(200, {"result": self.mutation_result(result)})
        changes = self.mutate(float(data["fraction"]), int(data.get("seed", 0)))
        return Response(200, {"count": len(changes), "changes": [asdict(change) for change in changes]})

    def _control_list_faults(self, request: Request) -> Response:
        return Response(200, {"latency": self.latency, "faults": [fault.to_dict() for fault in self.faults.faults]})

    def _control_add_faults(self, request: Request) -> Response:
        """Body: one fault object or a list; ``{"latency": 0.05}`` sets the base latency instead."""
        data = request.json()
        if isinstance(data, dict) and set(data) == {"latency"}:
            self.latency = float(data["latency"])
            return self._control_list_faults(request)
        specs: Iterable[dict[str, Any]] = data if isinstance(data, list) else [data]
        added = [self.faults.add(Fault.from_dict(spec)) for spec in specs]
        return Response(201, {"faults": [fault.to_dict() for fault in added]})

    def _control_clear_faults(self, request: Request) -> Response:
        """Clears the faults (including ``latency`` faults); the base latency stays as configured."""
        self.clear_faults()
        return Response(204)

    def _control_requests(self, request: Request) -> Response:
        limit = _positive_int(request.query.get("limit"), 100)
        with self._log_lock:
            recent = list(self.requests)[-limit:]
        return Response(200, [asdict(entry) for entry in recent])

    def _control_reset(self, request: Request) -> Response:
        self.reset_counters()
        return Response(204)


# ---------------------------------------------------------------------------
# Command line helpers


def write_secret_file(path: Path, secret: str) -> None:
    """Write a generated credential for scripts to pick up, readable by its owner only (mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
