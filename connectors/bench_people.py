"""The people bench (`make bench`, `--system people`): one person with 500 grants in a 100,000-grant inventory.

Issue "People": the pipeline-wide view of one person with 500 grants in < 100 ms on PostgreSQL, and risk
signals for every grant fast enough to follow each sync. Method:
1. earlier bench connectors go first, so runs are repeatable;
2. two inventories are generated in-process and applied with the sync engine (Replay, no HTTP: the sync's
   own speed is the other benches' subject): a GitHub-like organization of MEMBERS people, TEAMS teams and
   REPOS repositories with direct collaborators up to about GRANTS grants, and a small Harbor-like registry;
   one person holds PERSON_DIRECT direct grants, PERSON_TEAMS team memberships (each team holding
   REPOS_PER_TEAM repositories) and PERSON_PROJECTS registry projects: 500 grants in their view;
3. risk.refresh() of the large connector from empty (every row written), then again with nothing changed;
4. person_access() of that person, warm, RUNS times: median and 95th percentile, and its query count;
   baseline in the same run: the plainest read of the same rows (the person's own grants and their teams'
   grants, values() with their resource and entitlement, no expansion, no words). The ratio says what the
   view's tree walk, risk and sentences cost on top of reading the rows at all;
5. as context: resource_access() of one repository (the effective-access expansion of the whole connector).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

from . import access, bench, risk
from .base import AccountRecord, GrantRecord, ResourceRecord
from .choices import GrantKind, IdentityStatus, Level, LinkRule
from .models import Account, Connector, Grant, GrantRisk, Identity, Resource
from .replay import Replay
from .sync import run_sync

CONNECTOR_PREFIX = "bench-people"
PERSON = "person@bench.test"
TARGET_MS = 100
# "Seconds" for 100,000 grants (the issue); what a sync may add after applying.
REFRESH_SECONDS = 10
RUNS = 30
# Targets (JSON "targets" and the table).
VIEW = "person view, one person with 500 grants"
REFRESH = "risk refresh, every grant written"


@dataclass(frozen=True)
class Size:
    members: int
    teams: int
    repos: int
    grants: int
    person_direct: int = 300
    person_teams: int = 8
    repos_per_team: int = 20
    person_projects: int = 30
    seed: int = 1


PEOPLE = Size(members=3_000, teams=200, repos=2_000, grants=100_000)
SMALL = Size(members=300, teams=20, repos=400, grants=10_000)


def github_records(size: Size) -> list:
    """The organization: the person is u0; everybody else is background at the requested volume."""
    rng = random.Random(size.seed)  # noqa: S311 - test data, not secrets
    records: list = [ResourceRecord("org:1", "organization", "acme")]
    records += [
        ResourceRecord(f"team:{t}", "team", f"acme/team/t{t}", parent_external_id="org:1") for t in range(size.teams)
    ]
    records += [
        ResourceRecord(
            f"repo:{r}",
            "repository",
            f"acme/r{r}",
            parent_external_id="org:1",
            attributes={"visibility": "public" if r % 10 == 0 else "private"},
        )
        for r in range(size.repos)
    ]
    for m in range(size.members):
        records.append(
            AccountRecord(
                f"user:{m}",
                f"u{m}",
                email=f"u{m}@bench.test",
                two_factor=m % 17 != 0,
                is_outside=m % 23 == 0,
            )
        )
    keys = range(min(200, size.repos))
    records += [AccountRecord(f"deploy_key:{k}", f"deploy_key:acme/r{k}:{k}", "deploy_key") for k in keys]

    def add(resource, holder, level, via, kind=GrantKind.PERMISSION, **extra):
        group = holder.startswith(("team:", "org:"))
        records.append(
            GrantRecord(
                resource,
                kind,
                Level(level).label,
                level,
                via,
                account_external_id=None if group else holder,
                group_external_id=holder if group else None,
                **extra,
            )
        )

    add("org:1", "org:1", Level.READ, "org_base_permission", cascade_to=("repository",), applies_to_self=False)
    for t in range(size.teams):
        for r in rng.sample(range(size.repos), size.repos_per_team):
            add(f"repo:{r}", f"team:{t}", Level.WRITE, f"team:acme/t{t}")
    for k in keys:
        add(f"repo:{k}", f"deploy_key:{k}", Level.READ, "direct")
    person_teams = range(size.person_teams)
    for m in range(size.members):
        add("org:1", f"user:{m}", Level.READ, "membership", GrantKind.MEMBERSHIP)
        teams = person_teams if m == 0 else rng.sample(range(size.teams), 2)
        for t in teams:
            add(f"team:{t}", f"user:{m}", Level.READ, "membership", GrantKind.MEMBERSHIP)
    grants_so_far = sum(isinstance(r, GrantRecord) for r in records)
    background = max(0, size.grants - grants_so_far - size.person_direct)
    per_member = background // max(1, size.members - 1)
    for r in range(size.person_direct):
        add(f"repo:{r}", "user:0", Level.ADMIN if r % 50 == 0 else Level.WRITE, "direct")
    for m in range(1, size.members):
        for r in rng.sample(range(size.repos), min(per_member, size.repos)):
            add(f"repo:{r}", f"user:{m}", Level.WRITE, "direct")
    return records


def registry_records(size: Size) -> list:
    records: list = [ResourceRecord(f"project:{p}", "project", f"p{p}") for p in range(size.person_projects + 20)]
    records.append(AccountRecord("user:1", "u0", email="u0@bench.test"))
    records += [
        GrantRecord(f"project:{p}", GrantKind.PERMISSION, "developer", Level.WRITE, "direct", account_external_id=u)
        for p, u in ((p, "user:1") for p in range(size.person_projects))
    ]
    return records


def _sync(name: str, kind: str, records: list):
    # Records are replayed, never fetched: the connector needs no URL, options or token that work.
    connector = Connector.objects.create(name=name, kind=kind, base_url="https://bench.invalid")
    run = run_sync(connector, trigger="bench", connector_factory=lambda c: Replay(records))
    if run.status != "succeeded":
        raise bench.BenchError(f"the {name} run did not succeed: {run.status} {run.error}")
    return connector


def _analyze() -> None:
    """Table statistics after a bulk load, as autovacuum would gather them: without them PostgreSQL guesses plans."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in (Grant, GrantRisk, Account, Resource):
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def _timed(function: Callable[[], object], runs: int) -> tuple[dict, object]:
    """Wall and CPU (this process only: what the view itself costs, apart from the database) per run."""
    function()  # warm: connection, caches, the database's buffers
    wall, cpu, result = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return {"wall": wall, "cpu": cpu}, result


def _summary(times: dict) -> dict:
    ordered = sorted(times["wall"])
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_ms": ordered[0],
        "cpu_median_ms": statistics.median(times["cpu"]),
    }


def _baseline(identity: Identity) -> int:
    """The plainest read of the rows the view shows: the person's grants and their teams' grants."""
    fields = ("id", "resource__path", "resource__type", "via", "valid_from", "entitlement__name", "entitlement__level")
    own = list(Grant.objects.current().filter(account__identity=identity).values(*fields, "resource_id"))
    groups = [g["resource_id"] for g in own]
    held = list(Grant.objects.current().filter(group_id__in=groups).values(*fields))
    return len(own) + len(held)


def run(size: Size, *, workdir: Path | None = None, say: Callable[[str], None] = lambda line: None) -> dict:
    """Build the inventories, measure, and return the report (see render())."""
    wiped = bench.wipe_bench_connectors(CONNECTOR_PREFIX)
    if wiped:
        say(f"removed {wiped} connector(s) left by an earlier bench")
    Identity.objects.filter(email=PERSON).delete()
    say(f"generating and applying an organization of about {size.grants:,} grants")
    started = time.perf_counter()
    github = _sync(f"{CONNECTOR_PREFIX}-github", "github", github_records(size))
    registry = _sync(f"{CONNECTOR_PREFIX}-registry", "harbor", registry_records(size))
    setup_seconds = time.perf_counter() - started
    grants = Grant.objects.current().filter(connector=github).count()

    _analyze()
    person = Identity.objects.create(email=PERSON, name="Bench Person", status=IdentityStatus.ACTIVE)
    Account.objects.filter(connector__in=[github, registry], login="u0").update(
        identity=person, identity_rule=LinkRule.MANUAL, identity_confidence=100
    )

    say(f"risk.refresh of {grants:,} grants from empty, then again with nothing changed")
    GrantRisk.objects.filter(connector=github).delete()
    started = time.perf_counter()
    full = risk.refresh(github)
    full_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = risk.refresh(github)
    again_seconds = time.perf_counter() - started
    risk.refresh(registry)
    _analyze()

    say(f"person_access of {PERSON}, {RUNS} warm runs, and the baseline read of the same rows")
    with CaptureQueriesContext(connection) as queries:
        view = access.person_access(person)
    view_times, view = _timed(lambda: access.person_access(person), RUNS)
    base_times, base_rows = _timed(lambda: _baseline(person), RUNS)
    target_resource = Resource.objects.select_related("connector", "owner").get(connector=github, path="acme/r0")
    resource_times, resource_view = _timed(lambda: access.resource_access(target_resource), 3)

    person_figures = {
        "grants_in_view": view.grant_count,
        "accounts": sum(len(s.accounts) for s in view.systems),
        "systems": len(view.systems),
        "queries": len(queries),
        **_summary(view_times),
        "baseline_rows": base_rows,
        "baseline": _summary(base_times),
    }
    person_figures["ratio_to_baseline"] = person_figures["median_ms"] / person_figures["baseline"]["median_ms"]
    report = {
        "generated_at": bench.generated_at(),
        "environment": {"database": bench.database_label()},
        "instance": asdict(size) | {"grants_recorded": grants, "setup_seconds": setup_seconds},
        "risk_refresh": {
            "grants": full["grants"],
            "flagged": full["flagged"],
            "written": full["written"],
            "seconds": full_seconds,
            "grants_per_second": full["grants"] / full_seconds if full_seconds else None,
            "unchanged_seconds": again_seconds,
            "unchanged_written": again["written"],
        },
        "person_view": person_figures,
        "resource_view": {"paths": len(resource_view.reach), **_summary(resource_times)},
    }
    report["targets"] = [
        bench.target(VIEW, round(person_figures["median_ms"], 2), f"< {TARGET_MS} ms (median, warm)",
                     person_figures["median_ms"] < TARGET_MS),
        bench.target(REFRESH, round(full_seconds, 2), f"< {REFRESH_SECONDS} s", full_seconds < REFRESH_SECONDS),
    ]  # fmt: skip
    return report


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    instance, refresh, view = report["instance"], report["risk_refresh"], report["person_view"]
    resource = report["resource_view"]
    rows: list[bench.Row] = [
        ("inventory", f"{instance['grants_recorded']:,} grants", None,
         f"{instance['members']:,} members, {instance['teams']:,} teams, {instance['repos']:,} repositories; "
         f"applied in {instance['setup_seconds']:.1f} s"),
        ("risk refresh from empty", f"{refresh['seconds']:.2f} s", REFRESH,
         ""),
        ("  grants/s", f"{refresh['grants_per_second']:,.0f}", None,
         f"{refresh['flagged']:,} of {refresh['grants']:,} grants flagged"),
        ("  again, nothing changed", f"{refresh['unchanged_seconds']:.2f} s", None,
         f"{refresh['unchanged_written']} rows written"),
        ("person view: grants shown", f"{view['grants_in_view']:,}", None,
         f"{view['accounts']} accounts in {view['systems']} systems"),
        ("  queries", f"{view['queries']}", None, "fixed, whatever the number of grants"),
        ("  median (warm)", f"{view['median_ms']:.1f} ms", VIEW, ""),
        ("  95th percentile / fastest", f"{view['p95_ms']:.1f} / {view['min_ms']:.1f} ms", None, ""),
        ("  CPU of this process (median)", f"{view['cpu_median_ms']:.1f} ms", None,
         "the view's own work, apart from waiting for the database"),
        ("  baseline: plain read of the rows", f"{view['baseline']['median_ms']:.1f} ms", None,
         f"{view['baseline_rows']:,} rows, values(), no expansion or words; "
         f"CPU {view['baseline']['cpu_median_ms']:.1f} ms"),
        ("  view / baseline", f"{view['ratio_to_baseline']:.2f}", None, ""),
        ("resource view (context)", f"{resource['median_ms']:.0f} ms", None,
         f"{resource['paths']:,} paths to acme/r0; expands the whole connector, as the export does"),
    ]  # fmt: skip
    lines = [
        f"People bench, {report['generated_at']}",
        f"database: {report['environment']['database']}",
        "",
        *bench.table(rows, report["targets"]),
    ]
    return "\n".join(lines)
