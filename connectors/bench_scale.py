"""`make bench-scale` (`manage.py bench --scale S|M|L`): a large GitHub org synced at the API's own limits.

The org is generated in-process (seeded) for the truth: the REST lower bound (GitHubOrg.rest_plan(), less
what the connector skips by design, bench_github.lower_bound). Two GitHub simulators serve it, each in its
own process (bench.Simulator), and every sync is a `manage.py sync` child process (bench.run_child):

1. "limited": GitHub's documented limits enforced — 5,000 requests per hour per token (primary), 900 points
   per minute per endpoint (secondary), 100 requests in flight — with the windows shortened by
   `window_scale` (an hour lasts 3600/scale real seconds) so that several hourly quotas pass in minutes.
   A full sync (requests against the bound; 403/429 seen by the simulator; wall time against the time the
   limits impose, from its request counts and the scaled windows), a re-sync with nothing changed (primary
   quota it used: 304s are free), then 1% of the grants changed (simulator control API) and a re-sync.
2. "free": no limits, 50 ms added to every request: a full sync at the default concurrency (8) against
   requests × 50 ms ÷ 8, a sequential one (HTTP_MAX_CONCURRENCY=1; at sizes where it would take too long its
   floor, requests × 50 ms, is used instead and the report says so), and the naive script
   (connectors/bench_naive.py) at 50 ms and at 0 ms, next to a full sync at 0 ms; last, a full sync in the
   connector's GraphQL mode (api=graphql), whose points the simulator counts (pending while that mode is absent).

Wall times of syncs are the sync run's own (started → finished, as a long-running worker spends it); the
process wall (with interpreter and Django start-up) is reported next to them. The database and review-page
parts (connectors/bench_scale_db.py, reviews/bench_scale_web.py) are run when present and merged into one
report, var/bench/scale-SIZE.json.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import bench, bench_github, bench_naive
from .actions import do_add_connector
from .base import ConfigurationError
from .bench import BenchError, Simulator
from .models import Connector
from .simulators.github_org import GitHubOrg

PREFIX = "bench-scale"
ORG_NAME = "bench"
LATENCY_SECONDS = 0.05
CONCURRENCY = 8  # the default HTTP_MAX_CONCURRENCY the targets are stated for
HOUR, MINUTE = 3600.0, 60.0

# Targets (issue 11).
MAX_LIMITED_WALL = 1.15
MAX_LATENCY_WALL = 1.25
MIN_SPEEDUP_OVER_SEQUENTIAL = 6
MIN_FEWER_REQUESTS_THAN_NAIVE = 10
MIN_FASTER_THAN_NAIVE = 5
MAX_RESYNC_QUOTA = 0.1
MAX_RSS_OVER_S = 1.5
MAX_GRAPHQL_POINTS = 0.05

# Target names (JSON "targets" and the table).
REQUESTS = bench.REQUESTS
REFUSED = "403/429 answers under the limits"
LIMITED_WALL = "wall under limits / time the limits impose"
LATENCY_WALL = "50 ms: wall / (requests x 50 ms / 8)"
SEQUENTIAL = "50 ms: speed-up over a sequential sync"
NAIVE_REQUESTS = "requests: naive / ours"
NAIVE_WALL_50 = "50 ms: wall naive / ours"
NAIVE_WALL_0 = "0 ms: wall naive / ours"
RESYNC_QUOTA = "re-sync, no change: primary quota / full sync's"
RSS = "full sync peak RSS"
RSS_OVER_S = "peak RSS / at size S"
GRAPHQL = "GraphQL points / REST requests"
PARTS = ("db", "web", "gitlab")  # the other parts: connectors.bench_scale_db, reviews.bench_scale_web, GitLab
PART_MODULES = {
    "db": "connectors.bench_scale_db",
    "web": "reviews.bench_scale_web",
    "gitlab": "connectors.bench_scale_gitlab",
}


@dataclass(frozen=True)
class Scale:
    name: str
    members: int
    repos: int
    teams: int
    outside_collaborators: int
    window_scale: float  # the simulated hour lasts 3600 / window_scale seconds
    naive_sample: int  # teams and repositories the naive script reads (the rest extrapolated)
    sequential: bool = True  # measure a sequential sync, else use its floor (requests x latency)
    primary_limit: int = 5_000
    secondary_limit: int = 900
    max_concurrent: int = 100
    seed: int = 1  # base permission "read": every member reaches every repository


SIZES = {
    "S": Scale("S", 500, 300, 50, 10, window_scale=60, naive_sample=10),
    "M": Scale("M", 5_000, 3_000, 300, 100, window_scale=30, naive_sample=5, sequential=False),
    "L": Scale("L", 20_000, 10_000, 1_000, 400, window_scale=30, naive_sample=2, sequential=False),
}
# Smaller than S, for the tests: a quota of 50 per 5-second "hour" makes the limits bind.
XS = Scale("XS", 40, 30, 6, 4, window_scale=720, naive_sample=30, sequential=False, primary_limit=50)


def simulator(scale: Scale, workdir: Path, *, limited: bool) -> Simulator:
    args = ["--org", ORG_NAME, "--seed", str(scale.seed), "--members", str(scale.members)]
    args += ["--repos", str(scale.repos), "--teams", str(scale.teams)]
    args += ["--outside-collaborators", str(scale.outside_collaborators)]
    if limited:
        args += ["--primary-limit", str(scale.primary_limit), "--secondary-limit", str(scale.secondary_limit)]
        args += ["--max-concurrent", str(scale.max_concurrent), "--window-scale", str(scale.window_scale)]
    else:
        args += ["--primary-limit", str(bench_github.PRIMARY_LIMIT), "--secondary-limit", "0"]
        args += ["--max-concurrent", "1000", "--latency-ms", str(LATENCY_SECONDS * 1000)]
    workdir.mkdir(parents=True, exist_ok=True)
    return Simulator("github", args, workdir, credential_option="--token-file")


def _post(sim: Simulator, name: str, body: dict | None = None) -> dict:
    response = sim.session.post(f"{sim.url}/_simulator/{name}", json=body or {}, timeout=120)
    response.raise_for_status()
    return response.json() if response.content else {}


def _connector(sim: Simulator, label: str, **options: str) -> Connector:
    return do_add_connector(
        name=f"{PREFIX}-{label}",
        kind="github",
        base_url=sim.url,
        options={"org": ORG_NAME, "allow_private_network": "true", **options},
        secrets={"token": f"file:{sim.credential_file}"},
    )


def sync(connector: Connector, sim: Simulator, env: dict, workdir: Path, label: str, say) -> dict:
    """One `manage.py sync` child with the simulator's counters (and quota windows) reset first."""
    say(f"{label}: manage.py sync {connector.name}")
    _post(sim, "reset")
    child = bench.run_child(["sync", connector.name], env, workdir / f"{label}.log")
    stats = sim.control("stats")
    figures = bench.sync_figures(connector, child, stats["total"])
    run = connector.runs.order_by("-id").first()
    figures.update(
        process_wall_seconds=child.wall_seconds,
        process_cpu_seconds=child.cpu_seconds,
        wall_seconds=(run.finished_at - run.started_at).total_seconds(),
        quota_used=run.rate_limit_used,
        by_status=stats["by_status"],
        by_endpoint=stats["by_endpoint"],
        refused=sum(stats["by_status"].get(code, 0) for code in ("403", "429")),
    )
    return figures


def imposed_seconds(full: dict, scale: Scale) -> dict:
    """The least time the limits allow the full sync's requests: whole windows that must pass before the last."""
    hour, minute = HOUR / scale.window_scale, MINUTE / scale.window_scale
    primary = (math.ceil(full["quota_used"] / scale.primary_limit) - 1) * hour
    busiest = max(full["by_endpoint"].values(), default=0)
    secondary = (math.ceil(busiest / scale.secondary_limit) - 1) * minute
    return {"hour_seconds": hour, "minute_seconds": minute, "primary": primary, "secondary": max(0.0, secondary)}


def run(
    scale: Scale,
    *,
    workdir: Path,
    child_env: dict[str, str] | None = None,
    say: Callable[[str], None] = lambda line: None,
    parts: Sequence[str] = PARTS,
    s_report: Path | None = None,
) -> dict:
    """Run the scale bench at SCALE and return the report; S_REPORT is size S's JSON (for the RSS ratio)."""
    org = GitHubOrg.generate(ORG_NAME, scale.seed, scale.members, scale.outside_collaborators, scale.teams, scale.repos)
    bound = bench_github.lower_bound(org)
    env = {**os.environ, **(child_env or {})}
    wiped = bench.wipe_bench_connectors(PREFIX)
    if wiped:
        say(f"removed {wiped} connector(s) left by an earlier bench")
    report: dict = {
        "generated_at": bench.generated_at(),
        "scale": scale.name,
        "org": {
            "members": scale.members,
            "repos": scale.repos,
            "teams": scale.teams,
            "outside_collaborators": scale.outside_collaborators,
            "seed": scale.seed,
            "grants_in_model": len(org.grants()),
            "lower_bound": bound["bound"],
        },
        "limits": {
            "primary_per_hour": scale.primary_limit,
            "secondary_points_per_minute_per_endpoint": scale.secondary_limit,
            "max_concurrent": scale.max_concurrent,
            "window_scale": scale.window_scale,
        },
    }
    say(f"starting the limit-enforcing GitHub simulator (an hour lasts {HOUR / scale.window_scale:g} s)")
    with simulator(scale, workdir / "limited", limited=True) as limited:
        if limited.control("info")["rest_lower_bound"] != bound["plan"]:
            raise BenchError("the simulator serves another org than generated here")
        connector = _connector(limited, "limited")
        full = sync(connector, limited, env, workdir, "full_sync", say)
        full.update(lower_bound=bound["bound"], ratio_to_lower_bound=full["requests"] / bound["bound"])
        full["imposed"] = imposed_seconds(full, scale)
        resync = sync(connector, limited, env, workdir, "resync", say)
        changes = _post(limited, "mutate", {"fraction": 0.01, "seed": 2})["count"]
        changed = sync(connector, limited, env, workdir, "changed_resync", say)
        changed["grants_changed_upstream"] = changes
        report["environment"] = bench.environment(limited)
    report.update(full_sync=full, resync=resync, changed_resync=changed)

    say(f"starting the GitHub simulator without limits, {LATENCY_SECONDS * 1000:g} ms per request")
    with simulator(scale, workdir / "free", limited=False) as free:
        latency = sync(_connector(free, "latency"), free, env, workdir, "latency_sync", say)
        if scale.sequential:
            one = {**env, "HTTP_MAX_CONCURRENCY": "1"}
            sequential = sync(_connector(free, "sequential"), free, one, workdir, "sequential_sync", say)
            sequential["measured"] = True
        else:
            sequential = {"measured": False, "wall_seconds": latency["requests"] * LATENCY_SECONDS}
        token = free.credential_file.read_text().strip()
        say(f"naive script at {LATENCY_SECONDS * 1000:g} ms (sample of {scale.naive_sample} teams and repos)")
        naive_50 = bench_naive.run(
            free.session, free.url, token, ORG_NAME, teams=scale.teams, repos=scale.repos, sample=scale.naive_sample
        )
        _post(free, "faults", {"latency": 0})
        say("naive script at 0 ms")
        naive_0 = bench_naive.run(
            free.session, free.url, token, ORG_NAME, teams=scale.teams, repos=scale.repos, sample=scale.naive_sample
        )
        free_0 = sync(_connector(free, "zero"), free, env, workdir, "zero_latency_sync", say)
        report["graphql"] = graphql_sync(free, env, workdir, say)
    report.update(latency_sync=latency, sequential_sync=sequential, naive_50ms=naive_50, naive_0ms=naive_0)
    report["zero_latency_sync"] = free_0
    report["rss_at_s"] = _rss_at_s(scale, full, s_report)
    report["targets"] = targets(report, scale)
    for part in parts:
        report["targets"] += _part(report, part, scale.name, say)
    return report


def _rss_at_s(scale: Scale, full: dict, s_report: Path | None) -> float | None:
    if scale.name == "S":
        return full["peak_rss_mb"]
    if s_report is not None and s_report.exists():
        return json.loads(s_report.read_text())["full_sync"]["peak_rss_mb"]
    return None


def graphql_sync(sim: Simulator, env: dict, workdir: Path, say) -> dict:
    """A full sync in the connector's GraphQL mode (api=graphql): the points it spends; pending if it is missing."""
    try:
        connector = _connector(sim, "graphql", api="graphql")
    except ConfigurationError as exc:
        return {"status": "pending", "why": str(exc)}
    try:
        figures = sync(connector, sim, env, workdir, "graphql_sync", say)
    except BenchError as exc:
        return {"status": "failed", "why": str(exc)[-2000:]}
    figures["points"] = sim.control("stats").get("graphql", {}).get("points")
    figures["status"] = "measured" if figures["points"] is not None else "pending"
    return figures


def _part(report: dict, part: str, size: str, say) -> list[dict]:
    """The database or review-page part, run if its module exists; else one pending row."""
    try:
        module = importlib.import_module(PART_MODULES[part])
    except ModuleNotFoundError:
        report[part] = {"status": "pending"}
        return [pending(f"{part} part ({PART_MODULES[part]})", "not built yet")]
    result = module.run(size, say)
    report[part] = result["figures"]
    return list(result["targets"])


def pending(name: str, target: str) -> dict:
    return {**bench.target(name, None, target, False), "pending": True}


def judged(name, value, target, passed, baseline=None, ratio=None) -> dict:
    return {**bench.target(name, value, target, passed), "baseline": baseline, "ratio": ratio}


def targets(report: dict, scale: Scale) -> list[dict]:
    full, resync, latency = report["full_sync"], report["resync"], report["latency_sync"]
    sequential, naive_50, naive_0 = report["sequential_sync"], report["naive_50ms"], report["naive_0ms"]
    zero = report["zero_latency_sync"]
    refused = sum(report[k]["refused"] for k in ("full_sync", "resync", "changed_resync"))
    floor = max(full["imposed"]["primary"], full["imposed"]["secondary"], zero["wall_seconds"])
    ideal = latency["requests"] * LATENCY_SECONDS / CONCURRENCY
    speedup = sequential["wall_seconds"] / latency["wall_seconds"]
    fewer = naive_0["requests"] / full["requests"]
    faster_50 = naive_50["wall_seconds"] / latency["wall_seconds"]
    faster_0 = naive_0["wall_seconds"] / zero["wall_seconds"]
    quota = resync["quota_used"] / full["quota_used"]
    rss, rss_s = full["peak_rss_mb"], report["rss_at_s"]
    rows = [
        judged(
            REQUESTS,
            full["requests"],
            f"<= {bench.MAX_REQUESTS_OVER_BOUND} x bound",
            full["ratio_to_lower_bound"] <= bench.MAX_REQUESTS_OVER_BOUND,
            full["lower_bound"],
            round(full["ratio_to_lower_bound"], 4),
        ),
        judged(REFUSED, refused, "0", refused == 0),
        judged(
            LIMITED_WALL,
            round(full["wall_seconds"], 1),
            f"<= {MAX_LIMITED_WALL} x",
            full["wall_seconds"] <= MAX_LIMITED_WALL * floor,
            round(floor, 1),
            round(full["wall_seconds"] / floor, 3),
        ),
        judged(
            LATENCY_WALL,
            round(latency["wall_seconds"], 1),
            f"<= {MAX_LATENCY_WALL} x",
            latency["wall_seconds"] <= MAX_LATENCY_WALL * ideal,
            round(ideal, 1),
            round(latency["wall_seconds"] / ideal, 3),
        ),
        judged(
            SEQUENTIAL,
            round(latency["wall_seconds"], 1),
            f">= {MIN_SPEEDUP_OVER_SEQUENTIAL} x",
            speedup >= MIN_SPEEDUP_OVER_SEQUENTIAL,
            round(sequential["wall_seconds"], 1),
            round(speedup, 2),
        ),
        judged(
            NAIVE_REQUESTS,
            full["requests"],
            f">= {MIN_FEWER_REQUESTS_THAN_NAIVE} x fewer",
            fewer >= MIN_FEWER_REQUESTS_THAN_NAIVE,
            naive_0["requests"],
            round(fewer, 1),
        ),
        judged(
            NAIVE_WALL_50,
            round(latency["wall_seconds"], 1),
            f">= {MIN_FASTER_THAN_NAIVE} x faster",
            faster_50 >= MIN_FASTER_THAN_NAIVE,
            round(naive_50["wall_seconds"], 1),
            round(faster_50, 1),
        ),
        judged(
            NAIVE_WALL_0,
            round(zero["wall_seconds"], 1),
            f">= {MIN_FASTER_THAN_NAIVE} x faster",
            faster_0 >= MIN_FASTER_THAN_NAIVE,
            round(naive_0["wall_seconds"], 1),
            round(faster_0, 1),
        ),
        judged(
            RESYNC_QUOTA,
            resync["quota_used"],
            f"<= {MAX_RESYNC_QUOTA}",
            quota <= MAX_RESYNC_QUOTA,
            full["quota_used"],
            round(quota, 4),
        ),
        judged(RSS, round(rss, 1), f"<= {bench.MAX_RSS_MB} MB", rss <= bench.MAX_RSS_MB),
    ]
    if rss_s is None:
        rows.append(pending(RSS_OVER_S, f"<= {MAX_RSS_OVER_S} x (run size S first)"))
    else:
        rows.append(
            judged(
                RSS_OVER_S,
                round(rss, 1),
                f"<= {MAX_RSS_OVER_S} x",
                rss <= MAX_RSS_OVER_S * rss_s,
                round(rss_s, 1),
                round(rss / rss_s, 3),
            )
        )
    graphql, aim = report["graphql"], f"<= {MAX_GRAPHQL_POINTS} x (at L)"
    if graphql["status"] != "measured":
        rows.append(pending(GRAPHQL, f"{aim}; {graphql['status']}"))
    else:
        share = graphql["points"] / full["requests"]
        rows.append(
            judged(GRAPHQL, graphql["points"], aim, share <= MAX_GRAPHQL_POINTS, full["requests"], round(share, 4))
        )
    return rows


# --- the table ----------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(report: dict) -> str:
    """Every target: value, baseline, ratio, met (yes / no / pending), then the figures behind them."""
    org, limits, full = report["org"], report["limits"], report["full_sync"]
    imposed = full["imposed"]
    lines = [
        f"Scale bench, size {report['scale']}, {report['generated_at']}",
        f"GitHub org: {org['members']:,} members, {org['repos']:,} repos, {org['teams']:,} teams, "
        f"{org['outside_collaborators']:,} outside collaborators (seed {org['seed']}); "
        f"{full['counts'].get('grants', 0):,} grants recorded",
        f"limits: {limits['primary_per_hour']:,}/hour per token, {limits['secondary_points_per_minute_per_endpoint']}"
        f"/minute per endpoint, {limits['max_concurrent']} in flight; windows scaled 1/{limits['window_scale']:g} "
        f"(an hour lasts {imposed['hour_seconds']:g} s)",
        bench.environment_line(report["environment"]),
        "",
        f"{'target':<50} {'value':>12} {'baseline':>12} {'ratio':>9}  {'met':<8} target",
    ]
    section = None
    for row in report["targets"]:
        if row.get("section") != section:  # the GitLab part's rows under their own heading
            section = row.get("section")
            lines.append(section or "")
        met = "pending" if row.get("pending") else ("yes" if row["passed"] else "no")
        met = "n/a" if row.get("not_applicable") else met
        lines.append(
            f"{row['name']:<50} {_cell(row['value']):>12} {_cell(row.get('baseline')):>12} "
            f"{_cell(row.get('ratio')):>9}  {met:<8} {row['target']}"
        )
    resync, changed, naive = report["resync"], report["changed_resync"], report["naive_0ms"]
    lines += [
        "",
        f"limited full sync: {full['requests']:,} requests, quota used {full['quota_used']:,}, "
        f"imposed: primary {imposed['primary']:.0f} s, secondary {imposed['secondary']:.0f} s; "
        f"process wall {full['process_wall_seconds']:.1f} s; statuses {full['by_status']}",
        f"50 ms sync: {report['latency_sync']['requests'] / report['latency_sync']['wall_seconds']:,.0f} requests/s, "
        f"sync process CPU {report['latency_sync']['process_cpu_seconds']:.1f} s over "
        f"{report['latency_sync']['process_wall_seconds']:.1f} s of process wall",
        f"re-sync, no change: {resync['requests']:,} requests, {resync['not_modified']:,} were 304",
        f"1% of grants changed ({changed['grants_changed_upstream']:,} changes): re-sync {changed['requests']:,} "
        f"requests, quota used {changed['quota_used']:,}, wall {changed['wall_seconds']:.1f} s",
        f"sequential sync: {'measured' if report['sequential_sync']['measured'] else 'floor, requests x 50 ms'}",
        f"naive script: {naive['requests_made']:,} requests made on {naive['teams_read']} teams and "
        f"{naive['repos_read']} repos" + (", extrapolated linearly to the whole org" if naive["sampled"] else ""),
        "wall times: the sync run's own (started -> finished); process wall includes start-up",
    ]
    return "\n".join(lines)
