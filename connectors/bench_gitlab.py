"""The GitLab bench (`make bench`): one simulated GitLab group tree, synced for real, measured.

Issue "GitLab": a top-level group of 2,000 members with 200 subgroups and 2,000 projects, reporting requests
against the lower bound, grants/s and peak memory. The method is bench.py's (see bench_harbor.py): the tree
generated in-process for the truth (GitLabOrg.rest_lower_bound(), same seed and sizes as the simulator), the
simulator in its own process, a full sync and an immediate re-sync as `manage.py sync` child processes, and
the engine's ingest rate against a raw COPY of the same rows.

GitLab's REST lists send no ETag, so a re-sync reads every page again; its request count is reported with no
target. The connector reads per group its detail (shares), members, invitations, access and deploy tokens,
per project the same plus deploy keys: the lower bound is that plan's, as GitLabOrg.rest_lower_bound() says.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .actions import do_add_connector
from .bench import (
    REQUESTS,
    RSS,
    BenchError,
    Simulator,
    environment,
    environment_line,
    ingest_rows,
    ingest_target,
    measure_ingest,
    requests_target,
    rss_target,
    sync_twice,
    table,
    wipe_bench_connectors,
)
from .simulators.gitlab_org import GitLabOrg

CONNECTOR_PREFIX = "bench-gitlab"
TOP = "acme"  # the generator's top-level group


@dataclass(frozen=True)
class Size:
    members: int
    subgroups: int
    projects: int
    seed: int = 1


GITLAB = Size(members=2_000, subgroups=200, projects=2_000)
SMALL = Size(members=200, subgroups=20, projects=200)


def generate(size: Size) -> GitLabOrg:
    """The instance the simulator serves for the same arguments (connectors/simulators/gitlab.py build())."""
    return GitLabOrg.generate(size.seed, members=size.members, subgroups=size.subgroups, projects=size.projects)


def gitlab_simulator(size: Size, workdir: Path) -> Simulator:
    args = ["--seed", str(size.seed), "--members", str(size.members), "--subgroups", str(size.subgroups)]
    args += ["--projects", str(size.projects)]
    return Simulator("gitlab", args, workdir, credential_option="--token-file")


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
    org = generate(size)
    instance = asdict(org.facts()) | {"seed": size.seed, "top": TOP}
    bound = org.rest_lower_bound([TOP])
    wiped = wipe_bench_connectors(CONNECTOR_PREFIX)
    if wiped:
        say(f"removed {wiped} connector(s) left by an earlier bench")
    say(
        f"starting the GitLab simulator ({size.members:,} members, {size.subgroups:,} subgroups, "
        f"{size.projects:,} projects)"
    )
    with gitlab_simulator(size, workdir) as simulator:
        info = simulator.control(f"info?group={TOP}")
        if (info["rest_lower_bound"], info["facts"]["projects"]) != (bound, instance["projects"]):
            raise BenchError(f"the simulator serves another instance than generated here: {info}")
        connector = do_add_connector(
            name=CONNECTOR_PREFIX,
            kind="gitlab",
            base_url=simulator.url,
            options={"group": [TOP], "allow_private_network": "true"},
            secrets={"token": f"file:{simulator.credential_file}"},
        )
        full, resync = sync_twice(connector, simulator, env, workdir, say)
        ingest = measure_ingest(connector, say=say)

    full.update(lower_bound=bound, ratio_to_lower_bound=full["requests"] / bound)
    resync["share_of_full"] = resync["requests"] / full["requests"]
    report = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "instance": instance,
        "environment": environment(simulator),
        "full_sync": full,
        "resync": resync,
        "ingest": ingest,
    }
    report["targets"] = [requests_target(full), ingest_target(ingest), rss_target(full)]
    return report


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    instance, full, resync, ingest = (report[k] for k in ("instance", "full_sync", "resync", "ingest"))
    counts = full["counts"]
    lines = [
        f"GitLab bench, {report['generated_at']}",
        f"group {instance['top']} (seed {instance['seed']}): {instance['groups']:,} groups, "
        f"{instance['projects']:,} projects, {instance['users']:,} users, {instance['shares']:,} shares",
        environment_line(report["environment"]),
        "simulator: separate process, no rate limits; GitLab's lists send no ETag, so no conditional requests",
        "",
    ]
    rows = [
        ("direct memberships", f"{instance['direct_memberships']:,}", None, "where granted; inheritance is derived"),
        (
            "tokens: access / deploy / keys",
            f"{instance['access_tokens']:,} / {instance['deploy_tokens']:,} / {instance['deploy_key_links']:,}",
            None,
            "",
        ),
        ("full sync: API requests", f"{full['requests']:,}", None, ""),
        ("  seen by the simulator", f"{full['requests_seen_by_simulator']:,}", None, ""),
        ("  REST lower bound", f"{full['lower_bound']:,}", None, "GitLabOrg.rest_lower_bound(), per_page 100"),
        ("  requests / lower bound", f"{full['ratio_to_lower_bound']:.3f}", REQUESTS, ""),
        ("  wall time (sync process)", f"{full['wall_seconds']:.1f} s", None, ""),
        ("  requests/s", f"{full['requests_per_second']:,.0f}", None, "over the wall time"),
        ("  peak RSS (sync process)", f"{full['peak_rss_mb']:.0f} MB", RSS, ""),
        (
            "  recorded",
            f"{counts['grants']:,} grants",
            None,
            f"{counts['accounts']:,} accounts, {counts['resources']:,} resources",
        ),
        ("re-sync, nothing changed: requests", f"{resync['requests']:,}", None, "no ETag: every page again"),
        ("  share of full sync", f"{resync['share_of_full']:.2%}", None, ""),
        ("  wall time (sync process)", f"{resync['wall_seconds']:.1f} s", None, ""),
        *ingest_rows(ingest),
    ]
    lines += table(rows, report["targets"])
    lines.append(f"ingest copy method: {ingest['copy_method']}")
    return "\n".join(lines)
