"""The scale bench's GitLab part (issue "Scale"): a large GitLab group tree synced at GitLab.com's own limit.

`manage.py bench --scale S|M|L` calls run(size, say). The tree is generated in-process for the truth (the REST
lower bound, GitLabOrg.rest_lower_bound(), as connectors/bench_gitlab.py does), and served by the GitLab
simulator in its own process; every sync is a `manage.py sync` child process (bench.run_child):

1. "limited": GitLab.com's authenticated API limit, 2,000 requests a minute per user
   (https://docs.gitlab.com/user/gitlab_com/#rate-limits-on-gitlabcom), with the minute shortened by the
   simulator's `--window-scale`; `RateLimit-Reset` and `Retry-After` stay in real epoch seconds. A full sync:
   requests against the bound, 429s answered, wall time against the time the limit imposes (the whole
   windows that must pass before the last, or the same sync without limits when that is longer).
2. "free": no limit, 50 ms added to every request: a full sync against requests x 50 ms / 8; then the latency
   set to 0 and an immediate re-sync with nothing changed, which is also the floor of the limited sync.

GitLab's REST lists send no ETag and the connector sends no If-None-Match to GitLab (bench_gitlab.py), so a
re-sync reads every page again: its share of the full sync is reported, and the re-sync target row is marked
not applicable, with that reason.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import bench
from .actions import do_add_connector
from .bench import BenchError, Simulator
from .models import Connector
from .simulators.gitlab_org import GitLabOrg

PREFIX = "bench-scale-gitlab"
TOP = "acme"  # the generator's top-level group
SECTION = "GitLab"
LATENCY_SECONDS = 0.05
CONCURRENCY = 8  # the default HTTP_MAX_CONCURRENCY the targets are stated for
MINUTE = 60.0
GITLAB_COM_LIMIT = 2_000  # authenticated API requests per minute per user on GitLab.com

# Targets (issue 11), as for GitHub.
MAX_LIMITED_WALL = 1.15
MAX_LATENCY_WALL = 1.25
MAX_RESYNC_SHARE = 0.1

REQUESTS = "GitLab: full sync requests / REST lower bound"
REFUSED = "GitLab: 429 answers under the limit"
LIMITED_WALL = "GitLab: wall under limit / time it imposes"
LATENCY_WALL = "GitLab: 50 ms: wall / (requests x 50 ms / 8)"
RESYNC = "GitLab: re-sync, no change: requests / full's"
RSS = "GitLab: full sync peak RSS"
ROWS = (REQUESTS, REFUSED, LIMITED_WALL, LATENCY_WALL, RESYNC, RSS)
NO_ETAG = "n/a: GitLab's lists send no ETag (simulator and connector send no If-None-Match)"


@dataclass(frozen=True)
class Size:
    name: str
    members: int
    projects: int
    subgroups: int
    window_scale: float  # the simulated minute lasts 60 / window_scale seconds
    rate_limit: int = GITLAB_COM_LIMIT
    seed: int = 1


# Proportional to the GitHub sizes (members / repositories / teams). A 20-second "minute" keeps the client's
# one-second margin past each reset small next to the window.
SIZES = {
    "S": Size("S", 500, 300, 50, window_scale=3),
    "M": Size("M", 5_000, 3_000, 300, window_scale=3),
    "L": Size("L", 20_000, 10_000, 1_000, window_scale=3),
}
# For the test: about 90 requests against 30 per 3-second "minute" make the limit bind three times.
XS = Size("XS", 20, 10, 3, window_scale=20, rate_limit=30)


def generate(size: Size) -> GitLabOrg:
    """The instance the simulator serves for the same arguments (connectors/simulators/gitlab.py build())."""
    return GitLabOrg.generate(size.seed, members=size.members, subgroups=size.subgroups, projects=size.projects)


def simulator(size: Size, workdir: Path, *, limited: bool) -> Simulator:
    args = ["--seed", str(size.seed), "--members", str(size.members), "--subgroups", str(size.subgroups)]
    args += ["--projects", str(size.projects)]
    if limited:
        args += ["--rate-limit", str(size.rate_limit), "--window-scale", str(size.window_scale)]
    else:
        args += ["--latency-ms", str(LATENCY_SECONDS * 1000)]
    workdir.mkdir(parents=True, exist_ok=True)
    return Simulator("gitlab", args, workdir, credential_option="--token-file")


def _connector(sim: Simulator, label: str) -> Connector:
    return do_add_connector(
        name=f"{PREFIX}-{label}",
        kind="gitlab",
        base_url=sim.url,
        options={"group": [TOP], "allow_private_network": "true"},
        secrets={"token": f"file:{sim.credential_file}"},
    )


def sync(connector: Connector, sim: Simulator, env: dict, workdir: Path, label: str, say) -> dict:
    """One `manage.py sync` child with the simulator's counters and rate-limit window reset first."""
    say(f"gitlab {label}: manage.py sync {connector.name}")
    sim.session.post(f"{sim.url}/_simulator/reset", timeout=30).raise_for_status()
    child = bench.run_child(["sync", connector.name], env, workdir / f"gitlab-{label}.log")
    stats = sim.control("stats")
    figures = bench.sync_figures(connector, child, stats["total"])
    run = connector.runs.order_by("-id").first()
    figures.update(
        process_wall_seconds=child.wall_seconds,
        process_cpu_seconds=child.cpu_seconds,
        wall_seconds=(run.finished_at - run.started_at).total_seconds(),
        by_status=stats["by_status"],
        refused=stats["by_status"].get("429", 0),
    )
    return figures


def imposed_seconds(full: dict, size: Size) -> float:
    """The least time the limit allows the requests the simulator counted: the windows that must pass first."""
    return (math.ceil(full["requests_seen_by_simulator"] / size.rate_limit) - 1) * MINUTE / size.window_scale


def run(
    size: str | Size,
    say: Callable[[str], None] = lambda line: None,
    *,
    workdir: Path | None = None,
    child_env: dict[str, str] | None = None,
) -> dict:
    """Measure size SIZE (a name of SIZES, or a Size): {"figures": …, "targets": [rows under "GitLab"]}."""
    size = SIZES[size] if isinstance(size, str) else size
    workdir = workdir or bench.ROOT / "var" / "bench" / f"scale-{size.name}" / "gitlab"
    env = {**os.environ, **(child_env or {})}
    org = generate(size)
    bound = org.rest_lower_bound([TOP])
    wiped = bench.wipe_bench_connectors(PREFIX)
    if wiped:
        say(f"removed {wiped} GitLab connector(s) left by an earlier bench")
    facts = org.facts()
    figures: dict = {
        "instance": {
            "members": size.members,
            "projects": facts.projects,
            "groups": facts.groups,
            "users": facts.users,
            "seed": size.seed,
            "top": TOP,
            "lower_bound": bound,
        },
        "limit": {
            "requests_per_minute": size.rate_limit,
            "window_scale": size.window_scale,
            "minute_seconds": MINUTE / size.window_scale,
        },
    }
    say(
        f"scale gitlab: {size.members:,} members, {facts.projects:,} projects, {facts.groups:,} groups; "
        f"{size.rate_limit:,}/minute, a minute lasts {MINUTE / size.window_scale:g} s"
    )
    with simulator(size, workdir / "limited", limited=True) as limited:
        if limited.control(f"info?group={TOP}")["rest_lower_bound"] != bound:
            raise BenchError("the GitLab simulator serves another instance than generated here")
        full = sync(_connector(limited, "limited"), limited, env, workdir, "full_sync", say)
    full.update(lower_bound=bound, ratio_to_lower_bound=full["requests"] / bound)
    full["imposed_seconds"] = imposed_seconds(full, size)
    with simulator(size, workdir / "free", limited=False) as free:
        connector = _connector(free, "latency")
        latency = sync(connector, free, env, workdir, "latency_sync", say)
        free.session.post(f"{free.url}/_simulator/faults", json={"latency": 0}, timeout=30).raise_for_status()
        resync = sync(connector, free, env, workdir, "zero_latency_resync", say)
    resync["share_of_full"] = resync["requests"] / latency["requests"]
    figures.update(full_sync=full, latency_sync=latency, resync=resync)
    return {"figures": figures, "targets": targets(figures)}


def judged(name, value, target, passed, baseline=None, ratio=None) -> dict:
    return {**bench.target(name, value, target, passed), "baseline": baseline, "ratio": ratio, "section": SECTION}


def targets(figures: dict) -> list[dict]:
    full, latency, resync = figures["full_sync"], figures["latency_sync"], figures["resync"]
    floor = max(full["imposed_seconds"], resync["wall_seconds"])
    ideal = latency["requests"] * LATENCY_SECONDS / CONCURRENCY
    rss = full["peak_rss_mb"]
    return [
        judged(
            REQUESTS,
            full["requests"],
            f"<= {bench.MAX_REQUESTS_OVER_BOUND} x bound",
            full["ratio_to_lower_bound"] <= bench.MAX_REQUESTS_OVER_BOUND,
            full["lower_bound"],
            round(full["ratio_to_lower_bound"], 4),
        ),
        judged(REFUSED, full["refused"], "0", full["refused"] == 0),
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
        {
            **judged(
                RESYNC,
                resync["requests"],
                f"<= {MAX_RESYNC_SHARE}; {NO_ETAG}",
                False,
                latency["requests"],
                round(resync["share_of_full"], 4),
            ),
            "not_applicable": True,
        },
        judged(RSS, round(rss, 1), f"<= {bench.MAX_RSS_MB} MB", rss <= bench.MAX_RSS_MB),
    ]
