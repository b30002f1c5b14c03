"""The scale bench's database side (issue "Scale"): ingest, diff and campaign launch over ~1,000,000 grants.

`manage.py bench --scale S|M|L` calls run(size, say). No upstream is synced: a seeded generator yields the
org's records straight into the engine (a Replay provider), streamed, so a million grants never sit in a list.
Each figure is judged against a baseline measured in the same run, on the same rows:

1. ingest: the engine (connectors.sync.run_sync: staging COPY, reference checks, compare, apply) loading the
   first snapshot into a fresh connector, against a raw COPY of the same grant rows into the grant table
   (connectors.bench._copy_into_grant_table: indexes and foreign keys checked, rolled back). The after-sync
   hooks (correlation, owners, risk) are switched off: they are not ingest, and have their own benches.
2. diff: the next snapshot changes 1% of the grants (a third removed, a third at another level, a third new
   ones), applied through the engine; connectors.diff.diff (what `manage.py diff` prints) between the two runs
   against a bare FULL JOIN of the two snapshots' (id, key) on key, the least any diff must read.
3. campaign: reviews.campaigns.launch over every current grant against one bare INSERT…SELECT writing the same
   number of item rows from the same joins (no routing, no comparison with a previous review), committed like
   the launch's items, then deleted. A launch over an empty scope goes first, untimed: the process's first
   task sent (the launch mail) imports and connects to the broker, which a running web or beat process has done.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

from django.db import connection, transaction
from django.test.utils import override_settings

from . import bench
from . import diff as inventory_diff
from .base import AccountRecord, GrantRecord, ResourceRecord
from .choices import GrantKind, Level
from .models import Connector, Grant, Identity
from .replay import Replay
from .sync import run_sync

PREFIX = "bench-scale"
REVIEWER = "bench-scale-reviewer@pipeaccess.test"
SEED = 11

MIN_INGEST_RATIO = bench.MIN_INGEST_RATIO
MAX_DIFF_OVER_JOIN = 1.5
MAX_DIFF_SECONDS = 5.0
MAX_LAUNCH_OVER_INSERT = 1.5

INGEST = "ingest rate, engine vs raw COPY"
DIFF_RATIO = "diff vs bare FULL JOIN"
DIFF_SECONDS = "diff of two snapshots"
LAUNCH = "campaign launch vs bare INSERT…SELECT"


@dataclass(frozen=True)
class Size:
    accounts: int
    repos: int
    teams: int
    grants: int


SIZES = {
    "XS": Size(accounts=60, repos=40, teams=4, grants=1_500),  # tests
    "S": Size(accounts=500, repos=300, teams=50, grants=25_000),
    "M": Size(accounts=5_000, repos=3_000, teams=300, grants=250_000),
    "L": Size(accounts=20_000, repos=10_000, teams=1_000, grants=1_000_000),
}

PERMISSIONS = [("pull", Level.READ), ("triage", Level.READ), ("push", Level.WRITE), ("admin", Level.ADMIN)]


@dataclass
class Changes:
    """What the next snapshot changed, counted while it was generated: the diff must find exactly these."""

    added: int = 0
    removed: int = 0
    changed: int = 0
    grants: int = 0
    keys: dict[str, set] = field(default_factory=lambda: {"added": set(), "removed": set(), "changed": set()})


def records(size: Size, *, next_snapshot: bool = False, changes: Changes | None = None) -> Iterator:
    """The org's records, seeded: teams with repositories, accounts in one or two teams, direct grants.

    With next_snapshot, every hundredth direct grant changes: in turn removed, moved to another permission,
    or joined by a new grant of the same account on a repository it had none on (once per account).
    """
    rng = random.Random(SEED)  # noqa: S311 # nosec B311 # synthetic data, not secrets
    changes = changes if changes is not None else Changes()
    yield ResourceRecord("org", "organization", "scale")
    for r in range(size.repos):
        yield ResourceRecord(f"repo:{r}", "repository", f"scale/repo-{r:05d}", parent_external_id="org")
    for t in range(size.teams):
        yield ResourceRecord(f"team:{t}", "team", f"scale/team-{t:04d}", parent_external_id="org")
    team_repos = max(1, size.repos // size.teams)
    for t in range(size.teams):
        for r in rng.sample(range(size.repos), team_repos):
            changes.grants += 1
            yield GrantRecord(
                f"repo:{r}", GrantKind.PERMISSION, "push", Level.WRITE, "direct", group_external_id=f"team:{t}"
            )
    memberships = size.accounts + size.accounts // 2
    direct = max(1, (size.grants - size.teams * team_repos - memberships) // size.accounts)
    index = 0
    for a in range(size.accounts):
        account = f"user:{a}"
        yield AccountRecord(account, f"dev-{a:05d}", email=f"dev-{a:05d}@scale.test", two_factor=a % 9 != 0)
        for t in rng.sample(range(size.teams), 1 + a % 2):
            changes.grants += 1
            yield GrantRecord(
                f"team:{t}", GrantKind.MEMBERSHIP, "member", Level.READ, "membership", account_external_id=account
            )
        repos = rng.sample(range(size.repos), direct + 1)  # the last one is kept for an added grant
        added_one = False
        for r in repos[:-1]:
            name, level = PERMISSIONS[(a + r) % len(PERMISSIONS)]
            grant = GrantRecord(f"repo:{r}", GrantKind.PERMISSION, name, level, "direct", account_external_id=account)
            change = index % 100 == 0 and next_snapshot
            kind = (index // 100) % 3
            index += 1
            if change and kind == 0:
                changes.removed += 1
                changes.keys["removed"].add(grant.key)
                continue
            if change and kind == 1:
                name, level = PERMISSIONS[(a + r + 1) % len(PERMISSIONS)]
                grant = GrantRecord(
                    f"repo:{r}", GrantKind.PERMISSION, name, level, "direct", account_external_id=account
                )
                changes.changed += 1
                changes.keys["changed"].add(grant.key)
            changes.grants += 1
            yield grant
            if change and kind == 2 and not added_one:
                added_one = True
                extra = GrantRecord(
                    f"repo:{repos[-1]}", GrantKind.PERMISSION, "pull", Level.READ, "direct", account_external_id=account
                )
                changes.added += 1
                changes.grants += 1
                changes.keys["added"].add(extra.key)
                yield extra


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def _sync(connector: Connector, stream: Iterator):
    """The engine without the after-sync hooks (module docstring)."""
    with override_settings(SYNC_APPLIED_HOOKS=[]):
        run, seconds = _timed(lambda: run_sync(connector, trigger="bench", connector_factory=lambda c: Replay(stream)))
    if run.status != "succeeded":
        raise bench.BenchError(f"the bench sync {run.status}: {run.error}")
    return run, seconds


def _clean() -> None:
    from reviews.models import Campaign, CampaignTemplate, Decision, ReviewerProgress, ReviewItem

    campaigns = Campaign.objects.filter(template__name__startswith=PREFIX)
    # Set-based: the ORM's cascade would load a million items into memory first.
    Decision.objects.filter(item__campaign__in=campaigns)._raw_delete(connection.alias)
    ReviewerProgress.objects.filter(campaign__in=campaigns)._raw_delete(connection.alias)
    ReviewItem.objects.filter(campaign__in=campaigns)._raw_delete(connection.alias)
    CampaignTemplate.objects.filter(name__startswith=PREFIX).delete()
    bench.wipe_bench_connectors(PREFIX)


# --- diff ---------------------------------------------------------------------------------------------------


def bare_full_join(connector: Connector, from_run, to_run) -> list[tuple]:
    """(id before, id after) of every key whose grant row differs between the two snapshots: no names, no rows."""
    table = Grant._meta.db_table
    at = "connector_id = %s AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT b.id, a.id FROM (SELECT id, key FROM {table} WHERE {at}) b
                FULL JOIN (SELECT id, key FROM {table} WHERE {at}) a ON a.key = b.key
                WHERE a.id IS DISTINCT FROM b.id""",  # noqa: S608 # nosec B608 # table/column names are ours, values are parameters
            [
                connector.pk,
                from_run.applied_at,
                from_run.applied_at,
                connector.pk,
                to_run.applied_at,
                to_run.applied_at,
            ],
        )
        return cursor.fetchall()


def _best_of(fn: Callable[[], object], times: int = 3) -> tuple[object, float]:
    """The fastest of a few runs: both sides of a ratio get the same warm cache."""
    best, result = float("inf"), None
    for _ in range(times):
        result, seconds = _timed(fn)
        best = min(best, seconds)
    return result, best


# --- campaign -----------------------------------------------------------------------------------------------


def bare_insert_select(connector: Connector, campaign) -> tuple[int, float]:
    """(rows, seconds) of one committed INSERT…SELECT writing an item per current grant into a scratch campaign.

    The same joins the launch reads (entitlement, resource, holder), the same item columns; no routing, no
    previous review, no effect text: the floor for freezing these grants into review items.
    """
    from reviews.models import Campaign, ReviewItem

    table, grants = ReviewItem._meta.db_table, Grant._meta.db_table
    computed = {
        "campaign_id": "%(campaign)s",
        "grant_id": "g.id",
        "grant_key": "g.key",
        "connector_id": "g.connector_id",
        "account_id": "g.account_id",
        "group_id": "g.group_id",
        "resource_id": "g.resource_id",
        "holder_label": "COALESCE(a.login, h.path)",
        "holder_type": "COALESCE(a.type, 'group')",
        "resource_path": "r.path",
        "resource_type": "r.type",
        "kind": "e.kind",
        "permission": "e.name",
        "level": "e.level",
        "via": "g.via",
        "last_active_at": "a.last_active_at",
        "subject_id": "a.identity_id",
        "reviewer_id": "%(reviewer)s",
        "routed_by": "'users'",
    }
    fields = [f for f in ReviewItem._meta.concrete_fields if f.column != "id"]
    params: dict = {}
    values = []
    for f in fields:
        if f.column in computed:
            values.append(computed[f.column])
        else:
            params[f.column] = f.get_db_prep_save(f.get_default(), connection)
            values.append(f"%({f.column})s")
    query = f"""INSERT INTO {table} ({", ".join(f.column for f in fields)})
        SELECT {", ".join(values)} FROM {grants} g
        JOIN connectors_entitlement e ON e.id = g.entitlement_id
        JOIN connectors_resource r ON r.id = g.resource_id
        LEFT JOIN connectors_account a ON a.id = g.account_id
        LEFT JOIN connectors_resource h ON h.id = g.group_id
        WHERE g.connector_id = %(connector)s AND g.removed_run_id IS NULL"""  # noqa: S608 # nosec B608 # table/column names are ours, values are parameters
    reviewer = campaign.items.values_list("reviewer_id", flat=True).first()
    scratch = Campaign.objects.create(
        name="bare insert", config={}, launched_at=campaign.launched_at, due_at=campaign.due_at
    )
    params.update(campaign=scratch.pk, reviewer=reviewer, connector=connector.pk)
    try:
        # Committed like the launch's items (its WAL flush counted too), then removed.
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(query, params)
            rows = cursor.rowcount
        seconds = time.perf_counter() - started
    finally:
        ReviewItem.objects.filter(campaign=scratch)._raw_delete(connection.alias)
        scratch.delete()
    return rows, seconds


def _launch(connector: Connector):
    from reviews import campaigns

    Identity.objects.get_or_create(email=REVIEWER, defaults={"name": "Scale Reviewer"})
    common = {"reviewers": [{"users": [REVIEWER]}], "duration": "14d", "max_sync_age": "24h"}
    template, warm_up = campaigns.apply_templates(
        [
            {"name": f"{PREFIX}-all", "scope": {"connectors": [connector.name]}, **common},
            {"name": f"{PREFIX}-warm-up", "scope": {"connectors": [connector.name], "resources": ["none"]}, **common},
        ]
    )
    # A web or beat process that launches has its code loaded and its broker connection open; this fresh process
    # has not (the first task sent imports and connects: 0.5 s, a third of a launch at S). One launch over an
    # empty scope first, so the figure is the launch, not the process's cold start.
    campaigns.launch(warm_up)
    return _timed(lambda: campaigns.launch(template))


# --- the run ------------------------------------------------------------------------------------------------


def run(size: str | Size, say: Callable[[str], None]) -> dict:
    """Measure ingest, diff and launch at SIZE (a name of SIZES, or a Size); figures and judged targets."""
    shape = SIZES[size] if isinstance(size, str) else size
    say(
        f"scale db: {shape.accounts:,} accounts, {shape.repos:,} repos, {shape.teams:,} teams, ~{shape.grants:,} grants"
    )
    _clean()
    connector = Connector.objects.create(
        name=f"{PREFIX}-org",
        kind="github",
        base_url="https://bench.invalid",
        options={"org": "scale"},
        removal_threshold=1.0,
    )
    first = Changes()
    say("ingest: the engine loads the first snapshot (streamed from the generator)")
    run1, engine_seconds = _sync(connector, records(shape, changes=first))
    say("ingest: raw COPY of the same grant rows into the grant table (rolled back)")
    copy_seconds = bench._copy_into_grant_table(connector)
    ingest = {
        "grants": first.grants,
        "accounts": shape.accounts,
        "resources": 1 + shape.repos + shape.teams,
        "engine_seconds": round(engine_seconds, 3),
        "engine_grants_per_second": round(first.grants / engine_seconds),
        "copy_seconds": round(copy_seconds, 3),
        "copy_grants_per_second": round(first.grants / copy_seconds),
        "ratio": round(copy_seconds / engine_seconds, 4),
    }
    say(f"ingest: {engine_seconds:.1f} s engine, {copy_seconds:.1f} s COPY; the next snapshot (1% changed)")

    second = Changes()
    run2, resync_seconds = _sync(connector, records(shape, next_snapshot=True, changes=second))
    say(f"applied the next snapshot in {resync_seconds:.1f} s; diffing")
    result, diff_seconds = _best_of(lambda: inventory_diff.diff(connector, run1, run2))
    pairs, join_seconds = _best_of(lambda: bare_full_join(connector, run1, run2))
    found = {name: {row_key(row) for row in result[name]} for name in ("added", "removed", "changed")}
    diff = {
        "expected": {"added": second.added, "removed": second.removed, "changed": second.changed},
        "found": {name: len(rows) for name, rows in found.items()},
        "exact": found == second.keys,
        "rows_differing": len(pairs),
        "seconds": round(diff_seconds, 3),
        "full_join_seconds": round(join_seconds, 3),
        "ratio": round(diff_seconds / join_seconds, 3),
        "apply_seconds": round(resync_seconds, 3),
    }

    say("campaign: launching over every current grant")
    campaign, launch_seconds = _launch(connector)
    items = campaign.items.count()
    rows, insert_seconds = bare_insert_select(connector, campaign)
    launch = {
        "items": items,
        "seconds": round(launch_seconds, 3),
        "bare_insert_select_rows": rows,
        "bare_insert_select_seconds": round(insert_seconds, 3),
        "ratio": round(launch_seconds / insert_seconds, 3),
    }
    say(f"launched {items:,} items in {launch_seconds:.1f} s; bare INSERT…SELECT {insert_seconds:.1f} s")

    figures = {
        "size": asdict(shape),
        "database": bench.database_label(),
        "ingest": ingest,
        "diff": diff,
        "launch": launch,
    }
    targets = [
        bench.target(
            INGEST, ingest["ratio"], ">= 1/3 of a raw COPY into the grant table", ingest["ratio"] >= MIN_INGEST_RATIO
        ),
        bench.target(
            DIFF_RATIO,
            diff["ratio"],
            f"<= {MAX_DIFF_OVER_JOIN}x, same result",
            diff["ratio"] <= MAX_DIFF_OVER_JOIN and diff["exact"],
        ),
        bench.target(
            DIFF_SECONDS, diff["seconds"], f"<= {MAX_DIFF_SECONDS:.0f} s", diff["seconds"] <= MAX_DIFF_SECONDS
        ),
        bench.target(
            LAUNCH,
            launch["ratio"],
            f"<= {MAX_LAUNCH_OVER_INSERT}x",
            launch["ratio"] <= MAX_LAUNCH_OVER_INSERT and items == rows,
        ),
    ]
    return {"figures": figures, "targets": targets}


def row_key(row: dict) -> str:
    """The grant key of a diff row (connectors.diff rows carry names, not keys)."""
    holder = row["account"]
    kind = "account" if holder["type"] != "group" else "group"
    record = GrantRecord(
        row["resource"]["external_id"],
        row["grant_kind"],
        row["permission"],
        Level[row["level"].upper()],
        row["via"],
        **{f"{kind}_external_id": holder["external_id"]},
    )
    return record.key
