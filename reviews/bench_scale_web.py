"""The scale bench's web side (issue "Scale"): the review page of a reviewer with thousands of items, on gunicorn.

`manage.py bench --scale S|M|L` calls run(size, say), against PostgreSQL:
1. a campaign routes every item to one reviewer (reviews/bench_review.py sets it up: an inventory synced through
   the engine, then reviews.campaigns.launch);
2. SQL queries of the review page, counted in-process (CaptureQueriesContext) at 25 and at 200 rows a page:
   the whole request, session and user included;
3. gunicorn (gthread, 2 workers x 8 threads: 16 requests can be served at once) serves the app with
   reviews/bench_urls.py, which adds a template-only page (the review page's templates and rows from a context
   kept in memory: the same middleware, session and navigation, none of the page's queries). 16 threads, each
   a requests.Session logged in as the reviewer, keep 16 requests in flight, first on the template-only page,
   then on the review page. p95 latency and throughput of both come from the same run, so the ratio holds on
   a loaded machine where absolute times do not.
The load goes only to the gunicorn started here, on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connectors import bench

from . import bench_review
from .bench_urls import TEMPLATE_ONLY

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16
START_SECONDS = 60
MAX_QUERIES = 5
MAX_P95_MS = 100
MIN_THROUGHPUT_RATIO = 0.7

QUERIES = "review page SQL queries, 25 or 200 rows"
P95 = "review page p95 at 16 in flight (gunicorn)"
THROUGHPUT = "review page throughput vs template-only page"


@dataclass(frozen=True)
class Size:
    items: int
    repos: int
    requests: int


SIZES = {
    "XS": Size(items=60, repos=6, requests=48),  # tests
    "S": Size(items=500, repos=20, requests=320),
    "M": Size(items=5_000, repos=100, requests=480),
    "L": Size(items=20_000, repos=400, requests=480),
}


def query_counts(client: Client, url: str) -> dict[int, int]:
    """SQL queries of one GET of the review page, by rows a page."""
    counts = {}
    for per_page in (25, 200):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"per_page": per_page})
        if response.status_code != 200:
            raise bench.BenchError(f"the review page answered {response.status_code}")
        counts[per_page] = len(captured.captured_queries)
    return counts


def _database_url() -> str:
    """This process's database (in tests, the test database) as DATABASE_URL for gunicorn."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{quote(db.get('USER') or '', safe='')}{password}@{host}/{db['NAME']}"


class Gunicorn:
    """gunicorn serving reviews.bench_wsgi on a free loopback port, in its own process group."""

    def __init__(self, workdir: Path):
        self.log = workdir / "gunicorn.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> Gunicorn:
        # DEBUG off: Django would record every query of every request.
        env = {**os.environ, "DATABASE_URL": _database_url(), "DEBUG": "false"}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter and gunicorn
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "reviews.bench_wsgi:application",
                    "--bind=127.0.0.1:0",
                    "--worker-class=gthread",
                    "--workers=2",
                    "--threads=8",
                    "--preload",
                    "--timeout=60",
                    "--error-logfile=-",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.log.read_text())
            if found:
                self.url = found.group(1)
                return self
            time.sleep(0.2)
        self.__exit__()
        raise bench.BenchError(f"gunicorn did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc_info) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def load(url: str, cookie: str, total: int, *, marker: bytes, concurrency: int = CONCURRENCY) -> dict:
    """TOTAL GETs of URL, CONCURRENCY at a time; latency percentiles and throughput."""
    if not url.startswith("http://127.0.0.1:"):
        raise bench.BenchError(f"the bench loads only its own local gunicorn, not {url}")
    tickets = itertools.count()
    lock = threading.Lock()
    samples: list[float] = []
    failures: list[str] = []

    def worker() -> None:
        with requests.Session() as session:
            session.trust_env = False  # loopback: no proxy from the environment
            session.headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={cookie}"
            while True:
                with lock:
                    if next(tickets) >= total:
                        return
                started = time.perf_counter()
                response = session.get(url, timeout=60, allow_redirects=False)
                spent = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code == 200 and marker in response.content:
                        samples.append(spent)
                    else:
                        failures.append(f"{response.status_code} {response.headers.get('Location', '')}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise bench.BenchError(f"{len(failures)} of {total} requests to {url} failed, e.g. {failures[0]}")
    return {**bench_review._summary(samples), "seconds": round(wall, 3), "per_second": round(len(samples) / wall, 1)}


def run(size: str | Size, say: Callable[[str], None]) -> dict:
    """Query counts, p95 at 16 in flight and throughput of the review page at SIZE; figures and judged targets."""
    if connection.vendor != "postgresql":
        raise bench.BenchError("the web bench needs PostgreSQL (gunicorn and this process share the database)")
    shape = SIZES[size] if isinstance(size, str) else size
    say(f"scale web: a reviewer with {shape.items:,} items")
    user, campaign, _ = bench_review._setup(shape.items, shape.repos)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    path = reverse("reviews:review", args=[campaign.pk])
    client.get(path)  # warm-up: templates compiled
    queries = query_counts(client, path)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    say(f"queries: {queries}; starting gunicorn (2 workers x 8 threads)")
    with TemporaryDirectory(prefix="bench-web-") as workdir, Gunicorn(Path(workdir)) as server:
        warm = max(CONCURRENCY * 2, shape.requests // 10)
        pages = (server.url + TEMPLATE_ONLY.format(campaign.pk), server.url + path)
        for url in pages:
            load(url, cookie, warm, marker=b"review-progress")
        say(f"{shape.requests} requests, {CONCURRENCY} in flight: the template-only page, then the review page")
        template_only, review = (load(url, cookie, shape.requests, marker=b"review-progress") for url in pages)
        # Context for the p95: one request at a time, what a request costs when it does not queue for a CPU.
        alone = load(pages[1], cookie, CONCURRENCY, marker=b"review-progress", concurrency=1)
    ratio = round(review["per_second"] / template_only["per_second"], 3)
    figures = {
        "size": asdict(shape),
        "database": bench.database_label(),
        "items_for_the_reviewer": campaign.items.count(),
        "queries_by_rows_a_page": queries,
        "concurrency": CONCURRENCY,
        "gunicorn": "gthread, 2 workers x 8 threads",
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "review_page": review,
        "review_page_one_in_flight": alone,
        "template_only_page": template_only,
        "throughput_ratio": ratio,
    }
    most = max(queries.values())
    targets = [
        bench.target(
            QUERIES,
            most,
            f"<= {MAX_QUERIES}, whatever the rows",
            most <= MAX_QUERIES and len(set(queries.values())) == 1,
        ),
        bench.target(P95, review["p95_ms"], f"<= {MAX_P95_MS} ms", review["p95_ms"] <= MAX_P95_MS),
        bench.target(THROUGHPUT, ratio, f">= {MIN_THROUGHPUT_RATIO}x", ratio >= MIN_THROUGHPUT_RATIO),
    ]
    rates = f"{review['per_second']}/s, template-only {template_only['per_second']}/s"
    say(f"review page p95 {review['p95_ms']:.0f} ms; {rates}")
    return {"figures": figures, "targets": targets}
