"""The GitHub foundation benchmark (`make bench`): one simulated org, synced for real, measured.

What it does, in this order, all against one database:
1. generates the org in-process (same seed and sizes as the simulator) to know the truth: effective
   account–repository pairs and the REST lower bound (GitHubOrg.rest_plan());
2. starts the simulator as a separate process, limits out of the way (no secondary limit, a primary
   limit never reached), so neither its memory nor throttling is counted;
3. runs `manage.py sync NAME` in a child process twice: a full sync, then an immediate re-sync with
   nothing changed (conditional requests should turn it into 304s); peak RSS comes from the child's
   own rusage (os.wait4), wall time from around the process, request counts from its SyncRun;
4. ingest rate: the records the connector yields, collected once into a list (for this measurement
   only), applied with the engine to a fresh connector (run_sync: staging, reference checks, compare,
   apply) versus a raw COPY of the same grant rows into the grant table itself (its indexes and foreign
   keys checked, then rolled back): the fastest way the same rows can land in the inventory, which is
   the target's baseline. A COPY into an index-free scratch table is reported too, as context: the
   distance between the two is what the grant table's indexes and keys cost any writer.

Lower bound: the REST plan includes GET /user/installations/{id}/repositories for installations on
selected repositories; the connector skips it by design (it needs an installation token, see
connectors/providers/github.py), so those requests are subtracted and listed in the report.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from . import staging
from .actions import do_add_connector
from .base import AccountRecord, GrantRecord, ResourceRecord
from .client import build_connector
from .http import HttpStats
from .models import (
    Account,
    Connector,
    Entitlement,
    Grant,
    Resource,
    StagedAccount,
    StagedGrant,
    StagedResource,
    SyncRun,
)
from .simulators.github_org import GitHubOrg
from .sync import run_sync

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR_PREFIX = "bench-github"
ORG_NAME = "bench"
PER_PAGE = 100
# Far above what a bench sends in an hour: the primary limit must never make the client wait.
PRIMARY_LIMIT = 1_000_000_000
SIMULATOR_START_SECONDS = 60
SCRATCH_TABLE = "bench_grant_copy"

# Targets of the foundation issue.
MIN_EFFECTIVE_PAIRS = 200_000
MAX_RESYNC_SHARE = 0.05
MIN_INGEST_RATIO = 1 / 3
MAX_RSS_MB = 300
# Requests within this factor of the lower bound (our tolerance; below the bound would mean a missed list).
MAX_REQUESTS_OVER_BOUND = 1.05

# Target names (JSON "targets" and the table).
PAIRS = "effective account-repository pairs"
REQUESTS = "full sync requests vs REST lower bound"
RESYNC = "re-sync non-304 requests, share of full sync"
INGEST = "ingest rate, engine vs raw COPY"
RSS = "full sync peak RSS"

# Plan entries the connector does not request, by design, with the reason printed in the report.
SKIPPED_BY_DESIGN = {
    "/user/installations/": "app installations on selected repositories: listing them needs an installation token",
}


class BenchError(Exception):
    """The bench could not run (database, simulator or a sync failed)."""


@dataclass(frozen=True)
class Size:
    members: int
    repos: int
    teams: int
    outside_collaborators: int
    # Seed 1 gives base permission "read": every member reaches every repository.
    seed: int = 1


FOUNDATION = Size(members=5_000, repos=2_000, teams=300, outside_collaborators=50)
SMALL = Size(members=500, repos=200, teams=30, outside_collaborators=10)


# --- database -----------------------------------------------------------------------------------------


def ensure_postgres_database(db: dict) -> bool:
    """Create the configured PostgreSQL database if it is missing; True when it was created."""
    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "connect_timeout": 5,
    }
    try:
        psycopg.connect(dbname=db["NAME"], **params).close()
        return False
    except psycopg.OperationalError:
        pass  # missing database, or no server: the maintenance database tells which
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    except psycopg.errors.DuplicateDatabase:
        return False
    except psycopg.Error as exc:
        where = f"{params['host']}:{params['port']}"
        raise BenchError(
            f"PostgreSQL is not reachable at {where}, or database {db['NAME']} cannot be created there; "
            f"start PostgreSQL or point DATABASE_URL at one.\n{str(exc).strip()}"
        ) from None
    return True


def wipe_bench_connectors() -> int:
    """Delete earlier bench connectors and everything they recorded, so runs are repeatable."""
    ids = list(Connector.objects.filter(name__startswith=CONNECTOR_PREFIX).values_list("id", flat=True))
    if not ids:
        return 0
    marks = ", ".join(["%s"] * len(ids))
    runs = _select_ids(SyncRun, "connector_id", marks)
    resources = _select_ids(Resource, "connector_id", marks)
    deletes = [
        (Grant, "connector_id", marks),
        (Entitlement, "resource_id", resources),
        (Account, "connector_id", marks),
        (Resource, "connector_id", marks),
        (StagedAccount, "run_id", runs),
        (StagedResource, "run_id", runs),
        (StagedGrant, "run_id", runs),
        (SyncRun, "connector_id", marks),
        (Connector, "id", marks),
    ]
    # Raw deletes: the ORM would load every row to honour PROTECT between grants, resources and runs.
    with transaction.atomic(), connection.cursor() as cursor:
        for model, column, among in deletes:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE {column} IN ({among})", ids)  # noqa: S608
    return len(ids)


def _select_ids(model, column: str, among: str) -> str:
    return f"SELECT id FROM {model._meta.db_table} WHERE {column} IN ({among})"  # noqa: S608 - names from metadata


def database_label() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version}, database {db['NAME']} on {db.get('HOST') or 'localhost'}"
    return f"{connection.vendor} {db['NAME']}"


def http_cache_label() -> str:
    config = settings.CACHES["http"]
    backend = config["BACKEND"].rsplit(".", 1)[-1]
    return f"{backend} ({config.get('LOCATION')})"


# --- the org's truth ----------------------------------------------------------------------------------


def effective_pairs(org: GitHubOrg) -> dict[str, int]:
    """Distinct (account, repository) pairs with access, from the model rather than the API.

    People reach a repository as owners, through the base permission, through any team granted
    it (child-team members included: they inherit the parent's grants) or directly. Deploy keys
    reach their repository; active app installations reach all or their selected repositories.
    """
    if org.default_repository_permission == "none":
        everyone = {login for login, role in org.members.items() if role == "admin"}
    else:
        everyone = set(org.members)
    team_members = {slug: set(org.team_members(slug)) for slug in org.teams}
    teams_by_repo: dict[str, list[str]] = defaultdict(list)
    for slug, team in org.teams.items():
        for repo in team.repos:
            teams_by_repo[repo].append(slug)
    people = 0
    for name, repo in org.repos.items():
        reached = set(everyone)
        for slug in teams_by_repo[name]:
            reached |= team_members[slug]
        reached.update(repo.collaborators)
        people += len(reached)
    deploy_keys = sum(len(repo.keys) for repo in org.repos.values())
    apps = sum(len(org.installation_repos(inst)) for inst in org.installations if inst.suspended_at is None)
    return {
        "total": people + deploy_keys + apps,
        "people": people,
        "deploy_keys": deploy_keys,
        "app_installations": apps,
    }


def _plan_requests(items: int | None) -> int:
    """Requests for one plan entry, as GitHubOrg.rest_lower_bound counts them."""
    return 1 if items is None else max(1, math.ceil(items / PER_PAGE))


def lower_bound(org: GitHubOrg) -> dict:
    """The REST lower bound, less the plan entries the connector skips by design (listed)."""
    plan = org.rest_lower_bound(PER_PAGE)
    skipped = []
    for path, items in org.rest_plan():
        for prefix, why in SKIPPED_BY_DESIGN.items():
            if path.startswith(prefix):
                skipped.append({"path": path, "requests": _plan_requests(items), "why": why})
    return {"plan": plan, "skipped": skipped, "bound": plan - sum(entry["requests"] for entry in skipped)}


# --- processes ----------------------------------------------------------------------------------------


class Simulator:
    """`python -m connectors.simulators github …` in its own process (its CPU and memory are not ours)."""

    def __init__(self, size: Size, workdir: Path):
        self.token_file = workdir / "github-token"
        self.log_file = workdir / "simulator.log"
        self.args = [
            "github",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--org",
            ORG_NAME,
            "--seed",
            str(size.seed),
            "--members",
            str(size.members),
            "--repos",
            str(size.repos),
            "--teams",
            str(size.teams),
            "--outside-collaborators",
            str(size.outside_collaborators),
            "--secondary-limit",
            "0",
            "--primary-limit",
            str(PRIMARY_LIMIT),
            "--token-file",
            str(self.token_file),
        ]
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxy from the environment

    def __enter__(self) -> Simulator:
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter and module
                [sys.executable, "-m", "connectors.simulators", *self.args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C on the bench must not reach it before we stop it
            )
        deadline = time.monotonic() + SIMULATOR_START_SECONDS
        while time.monotonic() < deadline:
            first = self.log_file.read_text().partition("\n")
            if first[1] and first[0].startswith("http"):
                self.url = first[0].strip()
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise BenchError(f"the GitHub simulator did not start: {self.log_file.read_text()[-2000:]}")

    def __exit__(self, *exc_info) -> None:
        self.session.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def control(self, name: str) -> dict:
        response = self.session.get(f"{self.url}/_simulator/{name}", timeout=30)
        response.raise_for_status()
        return response.json()


@dataclass
class ChildResult:
    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    output: str


def run_child(args: list[str], env: dict[str, str], log_file: Path) -> ChildResult:
    """Run `manage.py ARGS` and read its own peak RSS from the kernel when it exits."""
    with log_file.open("w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
            [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        # wait4, not RUSAGE_CHILDREN: the latter is the maximum over every child reaped so far.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB.
    return ChildResult(process.returncode, wall, usage.ru_maxrss / 1024, log_file.read_text())


# --- ingest -------------------------------------------------------------------------------------------


class _Replay:
    """A provider that yields records already fetched, so run_sync times only the engine."""

    def __init__(self, records: list):
        self.records = records
        self.http = _NoHttp()

    def fetch(self) -> Iterator:
        return iter(self.records)


class _NoHttp:
    def __init__(self):
        self.stats = HttpStats()

    def close(self) -> None:
        pass


def measure_ingest(source: Connector, *, say: Callable[[str], None]) -> dict:
    """Engine rows/s into a fresh connector vs raw COPY rows/s of the same grant rows (module docstring)."""
    say("ingest: collecting the connector's records once (conditional requests, mostly 304s)")
    provider = build_connector(source)
    try:
        records = list(provider.fetch())
    finally:
        provider.http.close()
    grants = [r for r in records if isinstance(r, GrantRecord)]
    fresh = do_add_connector(
        name=f"{CONNECTOR_PREFIX}-ingest",
        kind=source.kind,
        base_url=source.base_url,
        options=source.options,
        secrets=source.secrets,
    )
    say(f"ingest: engine, {len(records):,} records ({len(grants):,} grants) into a fresh connector")
    timer = _SqlTimer()
    with connection.execute_wrapper(timer):
        started = time.perf_counter()
        run = run_sync(fresh, trigger="bench", connector_factory=lambda connector: _Replay(records))
        engine_seconds = time.perf_counter() - started
    if run.status != "succeeded":
        raise BenchError(f"the ingest run {run.pk} did not succeed: {run.status} {run.error}")

    say("ingest: raw copy of the same grant rows into a plain scratch table")
    started = time.perf_counter()
    rows = [staging.grant_row(0, grant) for grant in grants]
    build_seconds = time.perf_counter() - started
    method, copy_seconds = _raw_copy(rows)
    table_seconds = _copy_into_grant_table(fresh)
    return {
        "records": len(records),
        "grants": len(grants),
        "accounts": sum(isinstance(r, AccountRecord) for r in records),
        "resources": sum(isinstance(r, ResourceRecord) for r in records),
        "engine_seconds": engine_seconds,
        "engine_rows_per_second": len(grants) / engine_seconds,
        "engine_sql_seconds": timer.total,
        "engine_slowest_statements": timer.slowest(5),
        "copy_method": method,
        "copy_seconds": copy_seconds,
        "copy_rows_per_second": len(grants) / copy_seconds,
        "copy_with_row_building_rows_per_second": len(grants) / (copy_seconds + build_seconds),
        # Context: the same rows into an index-free scratch table.
        "ratio_to_scratch_copy": (len(grants) / engine_seconds) / (len(grants) / copy_seconds),
        "copy_into_grant_table_seconds": table_seconds,
        "copy_into_grant_table_rows_per_second": len(grants) / table_seconds if table_seconds else None,
        # The target: engine rate over a raw COPY of the same rows into the grant table (None off PostgreSQL).
        "ratio": table_seconds / engine_seconds if table_seconds else None,
    }


class _SqlTimer:
    """connection.execute_wrapper: time spent in execute() (not COPY, not commits), by statement."""

    def __init__(self):
        self.total = 0.0
        self.by_statement: dict[str, float] = defaultdict(float)

    def __call__(self, execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            spent = time.perf_counter() - started
            self.total += spent
            self.by_statement[" ".join(str(statement).split())[:80]] += spent

    def slowest(self, count: int) -> list[dict]:
        ranked = sorted(self.by_statement.items(), key=lambda item: item[1], reverse=True)[:count]
        return [{"sql": text, "seconds": round(seconds, 4)} for text, seconds in ranked]


def _raw_copy(rows: list[tuple]) -> tuple[str, float]:
    """Load rows into a scratch table with the staged grant columns and no index; (method, seconds)."""
    columns = ", ".join(staging._columns(StagedGrant))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
        # Same column types as the staged grant table, no constraint, no index.
        cursor.execute(
            f"CREATE TABLE {SCRATCH_TABLE} AS SELECT {columns} FROM {StagedGrant._meta.db_table} WHERE 1 = 0"  # noqa: S608
        )
    try:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                method = "COPY"
                with cursor.cursor.copy(f"COPY {SCRATCH_TABLE} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                method = f"executemany INSERT ({connection.vendor} has no COPY)"
                marks = ", ".join(["%s"] * len(rows[0])) if rows else ""
                cursor.executemany(f"INSERT INTO {SCRATCH_TABLE} ({columns}) VALUES ({marks})", rows)  # noqa: S608
        seconds = time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
    return method, seconds


def _copy_into_grant_table(connector: Connector) -> float | None:
    """Seconds to COPY the connector's grants into the grant table again, foreign keys checked; rolled back.

    PostgreSQL only. The copies are closed rows (removed_run_id set), which the one-current-grant-per-key
    index accepts next to the originals.
    """
    if connection.vendor != "postgresql":
        return None
    table = Grant._meta.db_table
    columns = [f.column for f in Grant._meta.concrete_fields if f.column != "id"]
    select = ", ".join("added_run_id" if column == "removed_run_id" else column for column in columns)
    with connection.cursor() as cursor:
        query = f"COPY (SELECT {select} FROM {table} WHERE connector_id = {int(connector.pk)}) TO STDOUT"  # noqa: S608
        with cursor.cursor.copy(query) as copy:
            blocks = [bytes(block) for block in copy]
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        # Deferred foreign keys would be checked at a commit that never comes: check them per statement.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for block in blocks:
                copy.write(block)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


# --- the bench ----------------------------------------------------------------------------------------


def _sync_figures(connector: Connector, child: ChildResult, seen: int) -> dict:
    run = connector.runs.order_by("-id").first()
    if child.returncode != 0 or run is None or run.status != "succeeded":
        raise BenchError(f"`manage.py sync {connector.name}` failed (exit {child.returncode}):\n{child.output[-3000:]}")
    return {
        "run": run.pk,
        "status": run.status,
        "counts": run.counts,
        "requests": run.requests_made,
        "not_modified": run.requests_not_modified,
        "requests_seen_by_simulator": seen,
        # The whole `manage.py sync` process: start-up, requests, staging, apply.
        "wall_seconds": child.wall_seconds,
        "requests_per_second": run.requests_made / child.wall_seconds,
        "peak_rss_mb": child.peak_rss_mb,
    }


def run(
    size: Size,
    *,
    workdir: Path,
    child_env: dict[str, str] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> dict:
    """Run the bench against the configured database and return the report (see render())."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(child_env or {})}
    org = GitHubOrg.generate(ORG_NAME, size.seed, size.members, size.outside_collaborators, size.teams, size.repos)
    if org.default_repository_permission == "none":
        raise BenchError(f"seed {size.seed} gives base permission 'none'; choose a seed whose org has one")
    pairs = effective_pairs(org)
    bound = lower_bound(org)
    wiped = wipe_bench_connectors()
    if wiped:
        say(f"removed {wiped} connector(s) left by an earlier bench")

    say(f"starting the GitHub simulator ({size.members:,} members, {size.repos:,} repos, {size.teams:,} teams)")
    with Simulator(size, workdir) as simulator:
        info = simulator.control("info")
        if info["rest_lower_bound"] != bound["plan"]:
            raise BenchError(f"the simulator serves another org than generated here: {info}")
        connector = do_add_connector(
            name=CONNECTOR_PREFIX,
            kind="github",
            base_url=simulator.url,
            options={"org": ORG_NAME, "allow_private_network": "true"},
            secrets={"token": f"file:{simulator.token_file}"},
        )
        figures = {}
        for label in ("full_sync", "resync"):
            say(f"{label.replace('_', ' ')}: manage.py sync {connector.name} in a child process")
            before = simulator.control("stats")["total"]
            child = run_child(["sync", connector.name], env, workdir / f"{label}.log")
            seen = simulator.control("stats")["total"] - before
            figures[label] = _sync_figures(connector, child, seen)
        ingest = measure_ingest(connector, say=say)

    full, resync = figures["full_sync"], figures["resync"]
    full.update(lower_bound=bound["bound"], lower_bound_plan=bound["plan"], lower_bound_skipped=bound["skipped"])
    full["ratio_to_lower_bound"] = full["requests"] / bound["bound"]
    resync["non_304"] = resync["requests"] - resync["not_modified"]
    resync["non_304_share_of_full"] = resync["non_304"] / full["requests"]
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "org": {
            "name": ORG_NAME,
            "seed": size.seed,
            "members": size.members,
            "repos": size.repos,
            "teams": size.teams,
            "outside_collaborators": size.outside_collaborators,
            "default_repository_permission": org.default_repository_permission,
        },
        "environment": {
            "database": database_label(),
            "http_cache": http_cache_label(),
            "http_max_concurrency": settings.HTTP_MAX_CONCURRENCY,
            "cpus": os.cpu_count(),
            "simulator": " ".join(["python -m connectors.simulators", *simulator.args[:-2]]),
        },
        "effective_pairs": pairs,
        "full_sync": full,
        "resync": resync,
        "ingest": ingest,
    }
    report["targets"] = targets(report)
    return report


def targets(report: dict) -> list[dict]:
    """Each target with the measured value, as printed (PASS/MISS) and written to the JSON."""
    pairs, full, resync, ingest = (report[k] for k in ("effective_pairs", "full_sync", "resync", "ingest"))
    ratio = full["ratio_to_lower_bound"]
    return [
        _target(PAIRS, pairs["total"], f">= {MIN_EFFECTIVE_PAIRS:,}", pairs["total"] >= MIN_EFFECTIVE_PAIRS),
        _target(REQUESTS, round(ratio, 4), f"1 to {MAX_REQUESTS_OVER_BOUND}", 1 <= ratio <= MAX_REQUESTS_OVER_BOUND),
        _target(
            RESYNC,
            round(resync["non_304_share_of_full"], 4),
            f"<= {MAX_RESYNC_SHARE:.0%}",
            resync["non_304_share_of_full"] <= MAX_RESYNC_SHARE,
        ),
        _target(
            INGEST,
            round(ingest["ratio"], 4) if ingest["ratio"] is not None else None,
            ">= 1/3 of a raw COPY into the grant table",
            ingest["ratio"] is not None and ingest["ratio"] >= MIN_INGEST_RATIO,
        ),
        _target(RSS, round(full["peak_rss_mb"], 1), f"< {MAX_RSS_MB} MB", full["peak_rss_mb"] < MAX_RSS_MB),
    ]


def _target(name: str, value, target: str, passed: bool) -> dict:
    return {"name": name, "value": value, "target": target, "passed": passed}


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")


# --- the table ----------------------------------------------------------------------------------------


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    org, env, pairs = report["org"], report["environment"], report["effective_pairs"]
    full, resync, ingest = report["full_sync"], report["resync"], report["ingest"]
    verdict = {t["name"]: "PASS" if t["passed"] else "MISS" for t in report["targets"]}
    skipped = sum(entry["requests"] for entry in full["lower_bound_skipped"])
    lines = [
        f"GitHub foundation bench, {report['generated_at']}",
        f"org {org['name']} (seed {org['seed']}): {org['members']:,} members, {org['repos']:,} repos, "
        f"{org['teams']:,} teams, {org['outside_collaborators']:,} outside collaborators, "
        f"base permission {org['default_repository_permission']}",
        f"database: {env['database']}; HTTP cache: {env['http_cache']}; "
        f"{env['http_max_concurrency']} concurrent requests; {env['cpus']} CPUs",
        "simulator: separate process with --secondary-limit 0 (off) and --primary-limit "
        f"{PRIMARY_LIMIT:,} (never reached), so rate limits do not distort timing",
        "",
    ]
    # (figure, value, target it is judged by or None, note)
    rows = [
        ("effective account-repository pairs", f"{pairs['total']:,}", PAIRS, ""),
        (
            "  people / deploy keys / apps",
            f"{pairs['people']:,} / {pairs['deploy_keys']:,} / {pairs['app_installations']:,}",
            None,
            "",
        ),
        ("full sync: API requests", f"{full['requests']:,}", None, ""),
        ("  seen by the simulator", f"{full['requests_seen_by_simulator']:,}", None, ""),
        (
            "  REST lower bound",
            f"{full['lower_bound']:,}",
            None,
            f"plan {full['lower_bound_plan']:,} less {skipped} skipped by design (below)",
        ),
        ("  requests / lower bound", f"{full['ratio_to_lower_bound']:.3f}", REQUESTS, ""),
        ("  wall time (sync process)", f"{full['wall_seconds']:.1f} s", None, ""),
        ("  requests/s", f"{full['requests_per_second']:,.0f}", None, "over the wall time"),
        ("  peak RSS (sync process)", f"{full['peak_rss_mb']:.0f} MB", RSS, ""),
        ("re-sync, nothing changed: requests", f"{resync['requests']:,}", None, f"{resync['not_modified']:,} were 304"),
        (
            "  non-304 share of full sync",
            f"{resync['non_304']:,} = {resync['non_304_share_of_full']:.2%}",
            RESYNC,
            "",
        ),
        ("  wall time (sync process)", f"{resync['wall_seconds']:.1f} s", None, ""),
        ("  requests/s", f"{resync['requests_per_second']:,.0f}", None, "over the wall time"),
        ("  peak RSS (sync process)", f"{resync['peak_rss_mb']:.0f} MB", None, ""),
        (
            "ingest: engine, fresh connector",
            f"{ingest['engine_rows_per_second']:,.0f} grants/s",
            None,
            f"{ingest['grants']:,} grants (+{ingest['accounts']:,} accounts, {ingest['resources']:,} resources) "
            f"in {ingest['engine_seconds']:.2f} s",
        ),
        (
            f"  raw {ingest['copy_method'].split(' ')[0]}, scratch table",
            f"{ingest['copy_rows_per_second']:,.0f} rows/s",
            None,
            f"{ingest['copy_seconds']:.3f} s; {ingest['copy_with_row_building_rows_per_second']:,.0f} rows/s "
            "counting the rows' building",
        ),
        (
            "  engine / scratch copy (context)",
            f"{ingest['ratio_to_scratch_copy']:.3f} (1/{1 / ingest['ratio_to_scratch_copy']:.0f})",
            None,
            "what any writer pays for the grant table's indexes and keys",
        ),
    ]
    if ingest["copy_into_grant_table_seconds"]:
        rows += [
            (
                "  raw COPY into the grant table",
                f"{ingest['copy_into_grant_table_rows_per_second']:,.0f} rows/s",
                None,
                f"{ingest['copy_into_grant_table_seconds']:.3f} s: the same rows, indexes and foreign keys, no engine",
            ),
            ("  engine / COPY into the grant table", f"{ingest['ratio']:.3f}", INGEST, ""),
        ]
    judged = {t["name"]: t for t in report["targets"]}
    lines.append(f"{'figure':<38} {'value':>24}  {'':<4}  target / note")
    for name, value, target, note in rows:
        mark, note = ("", note) if target is None else (verdict[target], judged[target]["target"])
        lines.append(f"{name:<38} {value:>24}  {mark:<4}  {note}".rstrip())
    lines.extend(
        f"lower bound excludes {entry['path']} ({entry['requests']} request): {entry['why']}"
        for entry in full["lower_bound_skipped"]
    )
    lines.append(f"ingest copy method: {ingest['copy_method']}")
    return "\n".join(lines)
