"""`make bench`: each simulated system synced for real and measured; the parts every system's bench shares.

A system's part (bench_github.py, bench_harbor.py, bench_gitlab.py) generates the simulated instance
in-process (same seed and sizes as the simulator) to know what the sync must find and the REST lower bound,
then hands its simulator to measure(), which follows one method, all against one database:
1. it removes the connectors an earlier bench left, with all they recorded;
2. it starts the simulator as a separate process (Simulator), so neither its memory nor its CPU is
   counted;
3. it runs `manage.py sync NAME` in a child process twice (sync_twice): a full sync, then an immediate
   re-sync with nothing changed; peak RSS comes from the child's own rusage (os.wait4), wall time from
   around the process, request counts from its SyncRun;
4. ingest rate (measure_ingest): the records the connector yields, collected once into a list (for this
   measurement only), applied with the engine to a fresh connector (run_sync: staging, reference checks,
   compare, apply) versus a raw COPY of the same grant rows into the grant table itself (its indexes and
   foreign keys checked, then rolled back): the fastest way the same rows can land in the inventory, which
   is the target's baseline. A COPY into an index-free scratch table is reported too, as context: the
   distance between the two is what the grant table's indexes and keys cost any writer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from . import staging
from .actions import do_add_connector, do_remove_connector
from .base import AccountRecord, GrantRecord, ResourceRecord
from .client import build_connector
from .models import (
    Connector,
    Grant,
    StagedGrant,
)
from .replay import Replay
from .sync import run_sync

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_START_SECONDS = 60
SCRATCH_TABLE = "bench_grant_copy"

# Targets every system is judged by (the foundation issue's, kept for the registry connectors).
MIN_INGEST_RATIO = 1 / 3
MAX_RSS_MB = 300
# Requests within this factor of the lower bound (our tolerance; below the bound would mean a missed list).
MAX_REQUESTS_OVER_BOUND = 1.05

# Target names (JSON "targets" and the table).
REQUESTS = "full sync requests vs REST lower bound"
INGEST = "ingest rate, engine vs raw COPY"
RSS = "full sync peak RSS"


class BenchError(Exception):
    """The bench could not run (database, simulator or a sync failed)."""


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


def wipe_bench_connectors(prefix: str) -> int:
    """Delete earlier bench connectors named PREFIX… and everything they recorded, so runs are repeatable."""
    connectors = list(Connector.objects.filter(name__startswith=prefix))
    for connector in connectors:
        do_remove_connector(connector)
    return len(connectors)


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


# --- processes ----------------------------------------------------------------------------------------


class Simulator:
    """`python -m connectors.simulators KIND …` in its own process (its CPU and memory are not ours).

    The simulator writes its credential (token or password) to `credential_file` through CREDENTIAL_OPTION,
    so the connector reads it as file:PATH and it never appears on a command line.
    """

    def __init__(self, kind: str, args: list[str], workdir: Path, *, credential_option: str):
        self.kind = kind
        self.credential_file = workdir / f"{kind}-credential"
        self.log_file = workdir / f"{kind}-simulator.log"
        self.args = [kind, "--host", "127.0.0.1", "--port", "0", *args, credential_option, str(self.credential_file)]
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxy from the environment

    @property
    def command(self) -> str:
        """The command line as reported, without the credential file option."""
        return " ".join(["python -m connectors.simulators", *self.args[:-2]])

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
        raise BenchError(f"the {self.kind} simulator did not start: {self.log_file.read_text()[-2000:]}")

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
    cpu_seconds: float = 0.0  # user + system CPU of the child (not the simulator's, not PostgreSQL's)


# Starts the measured command and reports its peak RSS. The kernel charges a child, until it execs, with the
# memory of the process that forked it: run directly from a large parent (a long test session), a small sync
# would show the parent's size. This small interpreter is that parent instead.
_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "cpu = usage.ru_utime + usage.ru_stime\n"
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} {cpu}')\n"
)


def run_child(args: list[str], env: dict[str, str], log_file: Path) -> ChildResult:
    """Run `manage.py ARGS` and read its own peak RSS from the kernel when it exits."""
    result_file = log_file.with_suffix(".rss")
    with log_file.open("w") as log:
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - our interpreter and manage.py
            [sys.executable, "-I", "-c", _MEASURE, str(result_file), sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
        wall = time.perf_counter() - started
    # Linux reports ru_maxrss in KiB.
    max_rss_kib, returncode, cpu = result_file.read_text().split()
    return ChildResult(int(returncode), wall, int(max_rss_kib) / 1024, log_file.read_text(), float(cpu))


def environment(simulator: Simulator) -> dict:
    """Where the figures were measured (JSON "environment")."""
    return {
        "database": database_label(),
        "http_cache": http_cache_label(),
        "http_max_concurrency": settings.HTTP_MAX_CONCURRENCY,
        "cpus": os.cpu_count(),
        "simulator": simulator.command,
    }


def environment_line(env: dict) -> str:
    return (
        f"database: {env['database']}; HTTP cache: {env['http_cache']}; "
        f"{env['http_max_concurrency']} concurrent requests; {env['cpus']} CPUs"
    )


# --- ingest -------------------------------------------------------------------------------------------


def measure_ingest(source: Connector, *, say: Callable[[str], None]) -> dict:
    """Engine rows/s into a fresh connector vs raw COPY rows/s of the same grant rows (module docstring)."""
    say("ingest: collecting the connector's records once, outside the measurement")
    provider = build_connector(source)
    try:
        records = list(provider.fetch())
    finally:
        provider.http.close()
    grants = [r for r in records if isinstance(r, GrantRecord)]
    fresh = do_add_connector(
        name=f"{source.name}-ingest",
        kind=source.kind,
        base_url=source.base_url,
        options=source.options,
        secrets=source.secrets,
    )
    say(f"ingest: engine, {len(records):,} records ({len(grants):,} grants) into a fresh connector")
    timer = _SqlTimer()
    with connection.execute_wrapper(timer):
        started = time.perf_counter()
        run = run_sync(fresh, trigger="bench", connector_factory=lambda connector: Replay(records))
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
            f"CREATE TABLE {SCRATCH_TABLE} AS SELECT {columns} FROM {StagedGrant._meta.db_table} WHERE 1 = 0"  # noqa: S608 # nosec B608 # table/column names are ours, values are parameters
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
                cursor.executemany(f"INSERT INTO {SCRATCH_TABLE} ({columns}) VALUES ({marks})", rows)  # noqa: S608 # nosec B608 # table/column names are ours, values are parameters
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
        query = f"COPY (SELECT {select} FROM {table} WHERE connector_id = {int(connector.pk)}) TO STDOUT"  # noqa: S608 # nosec B608 # table/column names are ours, values are parameters
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


# --- the syncs ----------------------------------------------------------------------------------------


def sync_figures(connector: Connector, child: ChildResult, seen: int) -> dict:
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


def sync_twice(
    connector: Connector, simulator: Simulator, env: dict[str, str], workdir: Path, say: Callable[[str], None]
) -> tuple[dict, dict]:
    """A full sync, then an immediate re-sync with nothing changed, each a `manage.py sync` child process."""
    figures = {}
    for label in ("full_sync", "resync"):
        say(f"{label.replace('_', ' ')}: manage.py sync {connector.name} in a child process")
        before = simulator.control("stats")["total"]
        child = run_child(["sync", connector.name], env, workdir / f"{simulator.kind}-{label}.log")
        seen = simulator.control("stats")["total"] - before
        figures[label] = sync_figures(connector, child, seen)
    return figures["full_sync"], figures["resync"]


def measure(
    simulator: Simulator,
    *,
    name: str,
    announce: str,
    served: Callable[[dict], object],
    expected: object,
    options: dict,
    lower_bound: int,
    workdir: Path,
    child_env: dict[str, str] | None,
    say: Callable[[str], None],
    info: str = "info",
) -> dict:
    """The sequence every system's bench follows (module docstring), with a connector called NAME.

    Earlier bench connectors go first so runs are repeatable; the simulator must serve what was generated here
    (served(info) == expected), else the lower bound would be another instance's. Returns the report's shared
    part: environment, full_sync (with lower_bound and ratio_to_lower_bound), resync and ingest.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(child_env or {})}
    wiped = wipe_bench_connectors(name)
    if wiped:
        say(f"removed {wiped} connector(s) left by an earlier bench")
    say(f"starting the {announce}")
    with simulator:
        facts = simulator.control(info)
        if served(facts) != expected:
            raise BenchError(f"the simulator serves another instance than generated here: {facts}")
        connector = do_add_connector(
            name=name,
            kind=simulator.kind,
            base_url=simulator.url,
            options={**options, "allow_private_network": "true"},
            secrets={"token": f"file:{simulator.credential_file}"},
        )
        full, resync = sync_twice(connector, simulator, env, workdir, say)
        ingest = measure_ingest(connector, say=say)
    full.update(lower_bound=lower_bound, ratio_to_lower_bound=full["requests"] / lower_bound)
    return {"environment": environment(simulator), "full_sync": full, "resync": resync, "ingest": ingest}


# --- targets and the report ---------------------------------------------------------------------------


def generated_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def target(name: str, value, target: str, passed: bool) -> dict:
    return {"name": name, "value": value, "target": target, "passed": passed}


def requests_target(full: dict) -> dict:
    ratio = full["ratio_to_lower_bound"]
    return target(REQUESTS, round(ratio, 4), f"1 to {MAX_REQUESTS_OVER_BOUND}", 1 <= ratio <= MAX_REQUESTS_OVER_BOUND)


def ingest_target(ingest: dict) -> dict:
    return target(
        INGEST,
        round(ingest["ratio"], 4) if ingest["ratio"] is not None else None,
        ">= 1/3 of a raw COPY into the grant table",
        ingest["ratio"] is not None and ingest["ratio"] >= MIN_INGEST_RATIO,
    )


def rss_target(full: dict) -> dict:
    return target(RSS, round(full["peak_rss_mb"], 1), f"< {MAX_RSS_MB} MB", full["peak_rss_mb"] < MAX_RSS_MB)


def no_etag_report(instance: dict, measured: dict) -> dict:
    """The report of a system whose lists send no ETag (Harbor, GitLab), judged by the shared targets only.

    Its re-sync reads every page again, so the re-sync is reported as its share of the full sync, with no target.
    """
    full, resync, ingest = measured["full_sync"], measured["resync"], measured["ingest"]
    resync["share_of_full"] = resync["requests"] / full["requests"]
    report = {"generated_at": generated_at(), "instance": instance, **measured}
    report["targets"] = [requests_target(full), ingest_target(ingest), rss_target(full)]
    return report


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")


# --- the table ----------------------------------------------------------------------------------------


# A row of table(): (figure, value, target it is judged by or None, note).
Row = tuple[str, str, str | None, str]


def table(rows: list[Row], targets: list[dict]) -> list[str]:
    """Rows of (figure, value, target it is judged by or None, note); a judged row shows PASS/MISS and its target."""
    judged = {t["name"]: t for t in targets}
    lines = [f"{'figure':<38} {'value':>24}  {'':<4}  target / note"]
    for name, value, target_name, note in rows:
        mark = ""
        if target_name is not None:
            mark, note = ("PASS" if judged[target_name]["passed"] else "MISS"), judged[target_name]["target"]
        lines.append(f"{name:<38} {value:>24}  {mark:<4}  {note}".rstrip())
    return lines


def ingest_rows(ingest: dict) -> list[Row]:
    """The ingest figures for table(): the engine, the scratch copy (context) and the COPY into the grant table."""
    rows = [
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
    return rows


def process_rows(figures: dict, rss: str | None = None) -> list[Row]:
    """Wall time, request rate and peak RSS of one `manage.py sync` child process."""
    return [
        ("  wall time (sync process)", f"{figures['wall_seconds']:.1f} s", None, ""),
        ("  requests/s", f"{figures['requests_per_second']:,.0f}", None, "over the wall time"),
        ("  peak RSS (sync process)", f"{figures['peak_rss_mb']:.0f} MB", rss, ""),
    ]


def full_sync_rows(full: dict, bound_note: str) -> list[Row]:
    """The full sync's requests against the lower bound (BOUND_NOTE says where it comes from), then its process."""
    return [
        ("full sync: API requests", f"{full['requests']:,}", None, ""),
        ("  seen by the simulator", f"{full['requests_seen_by_simulator']:,}", None, ""),
        ("  REST lower bound", f"{full['lower_bound']:,}", None, bound_note),
        ("  requests / lower bound", f"{full['ratio_to_lower_bound']:.3f}", REQUESTS, ""),
        *process_rows(full, RSS),
    ]


def recorded_row(full: dict) -> Row:
    counts = full["counts"]
    return (
        "  recorded",
        f"{counts['grants']:,} grants",
        None,
        f"{counts['accounts']:,} accounts, {counts['resources']:,} resources",
    )


def resync_rows(resync: dict, note: str, share: Row | None = None) -> list[Row]:
    """The re-sync's requests (NOTE says how many were 304 and why), its SHARE of the full sync, its process."""
    share = share or ("  share of full sync", f"{resync['share_of_full']:.2%}", None, "")
    requests = ("re-sync, nothing changed: requests", f"{resync['requests']:,}", None, note)
    return [requests, share, *process_rows(resync)]


def render(heading: list[str], simulator: str, rows: list[Row], report: dict, notes: tuple[str, ...] = ()) -> str:
    """HEADING (title, instance), where it ran, the table with the ingest rows last, NOTES, the copy method."""
    ingest = report["ingest"]
    lines = [*heading, environment_line(report["environment"]), f"simulator: {simulator}", ""]
    lines += table([*rows, *ingest_rows(ingest)], report["targets"])
    lines += notes
    lines.append(f"ingest copy method: {ingest['copy_method']}")
    return "\n".join(lines)
