"""The Harbor registry bench (`make bench`): one simulated Harbor instance, synced for real, measured.

Issue "Registry connectors": a Harbor with 1,000 projects and 3,000 users and robots, reporting requests
against the lower bound, grants/s and peak memory. The method is bench.py's: the instance generated
in-process for the truth (HarborOrg.rest_lower_bound(), from the same seed and sizes the simulator
uses), the simulator in its own process, a full sync and an immediate re-sync as `manage.py sync` child
processes, and the ingest rate of the engine against a raw COPY of the same rows into the grant table.

Two differences from the GitHub bench:
- Harbor's API sends no ETag, so a re-sync cannot be answered with 304s: it reads every page again. Its
  request count is reported as it is, with no target.
- The connector requests exactly HarborOrg.rest_plan() (users/current, configurations, users, user
  groups, projects, system robots; per project its members and its robots, page_size=100): nothing is
  skipped by design, so the lower bound is the plan's. The simulator has no rate limits to switch off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
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
from .providers.harbor import PAGE_SIZE
from .simulators.harbor_org import HarborOrg

CONNECTOR_PREFIX = "bench-harbor"
# LDAP authentication: user groups are members of projects, and an admin group makes system administrators.
AUTH_MODE = "ldap_auth"
ADMIN = "admin"


@dataclass(frozen=True)
class Size:
    projects: int  # including Harbor's default "library"
    users: int  # including "admin"
    robots: int  # project- and system-level together
    groups: int  # LDAP groups, plus the admin group the generator adds
    seed: int = 1


# 1,000 projects and 2,400 users + 600 robots = 3,000 users and robots (issue "Registry connectors").
REGISTRY = Size(projects=1_000, users=2_400, robots=600, groups=100)
SMALL = Size(projects=100, users=240, robots=60, groups=10)


def generate(size: Size) -> HarborOrg:
    """The instance the simulator serves for the same arguments (connectors/simulators/harbor.py build())."""
    return HarborOrg.generate(size.seed, size.projects, size.users, size.robots, size.groups, auth_mode=AUTH_MODE)


def instance_figures(org: HarborOrg, size: Size) -> dict:
    """What the instance holds, from the model rather than the API."""
    facts = org.facts()
    system_robots = len(org.system_robots())
    return {
        "seed": size.seed,
        "auth_mode": org.auth_mode,
        "projects": len(org.projects),
        "public_projects": sum(facts.projects.values()),
        "users": len(org.users),
        "sysadmins": len(facts.sysadmins),
        "robots": len(org.robots),
        "system_robots": system_robots,
        "project_robots": len(org.robots) - system_robots,
        "user_groups": len(org.groups),
        "user_members": len(facts.user_members),
        "group_members": len(facts.group_members),
        "robot_permissions": len(facts.robot_grants),
    }


def harbor_simulator(size: Size, workdir: Path) -> Simulator:
    args = [
        "--seed",
        str(size.seed),
        "--projects",
        str(size.projects),
        "--users",
        str(size.users),
        "--robots",
        str(size.robots),
        "--groups",
        str(size.groups),
        "--auth-mode",
        AUTH_MODE,
    ]
    return Simulator("harbor", args, workdir, credential_option="--password-file")


# --- the bench ----------------------------------------------------------------------------------------


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
    instance = instance_figures(org, size)
    bound = org.rest_lower_bound(PAGE_SIZE)
    wiped = wipe_bench_connectors(CONNECTOR_PREFIX)
    if wiped:
        say(f"removed {wiped} connector(s) left by an earlier bench")

    say(
        f"starting the Harbor simulator ({size.projects:,} projects, {size.users:,} users, {size.robots:,} robots, "
        f"{size.groups:,} groups)"
    )
    with harbor_simulator(size, workdir) as simulator:
        info = simulator.control("info")
        served = (info["rest_lower_bound"], info["counts"]["projects"], info["counts"]["users"])
        if served != (bound, instance["projects"], instance["users"]):
            raise BenchError(f"the simulator serves another instance than generated here: {info}")
        connector = do_add_connector(
            name=CONNECTOR_PREFIX,
            kind="harbor",
            base_url=simulator.url,
            options={"username": ADMIN, "allow_private_network": "true"},
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
    report["targets"] = targets(report)
    return report


def targets(report: dict) -> list[dict]:
    """Each target with the measured value, as printed (PASS/MISS) and written to the JSON."""
    full, ingest = report["full_sync"], report["ingest"]
    return [requests_target(full), ingest_target(ingest), rss_target(full)]


# --- the table ----------------------------------------------------------------------------------------


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    instance, full, resync, ingest = (report[k] for k in ("instance", "full_sync", "resync", "ingest"))
    counts = full["counts"]
    lines = [
        f"Harbor registry bench, {report['generated_at']}",
        f"instance (seed {instance['seed']}, {instance['auth_mode']}): {instance['projects']:,} projects "
        f"({instance['public_projects']:,} public), {instance['users']:,} users ({instance['sysadmins']:,} "
        f"system administrators), {instance['robots']:,} robots ({instance['system_robots']:,} system-level), "
        f"{instance['user_groups']:,} user groups",
        environment_line(report["environment"]),
        "simulator: separate process, no rate limits; Harbor's API sends no ETag, so no conditional requests",
        "",
    ]
    # (figure, value, target it is judged by or None, note)
    rows = [
        ("users + robots", f"{instance['users'] + instance['robots']:,}", None, ""),
        (
            "members: users / groups",
            f"{instance['user_members']:,} / {instance['group_members']:,}",
            None,
            "project memberships in the generated instance",
        ),
        ("robot permissions", f"{instance['robot_permissions']:,}", None, "one per robot and namespace"),
        ("full sync: API requests", f"{full['requests']:,}", None, ""),
        ("  seen by the simulator", f"{full['requests_seen_by_simulator']:,}", None, ""),
        ("  REST lower bound", f"{full['lower_bound']:,}", None, "HarborOrg.rest_lower_bound(), page_size 100"),
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
        (
            "re-sync, nothing changed: requests",
            f"{resync['requests']:,}",
            None,
            f"{resync['not_modified']:,} were 304: no ETag, every page is read again (no target)",
        ),
        ("  share of full sync", f"{resync['share_of_full']:.2%}", None, ""),
        ("  wall time (sync process)", f"{resync['wall_seconds']:.1f} s", None, ""),
        ("  requests/s", f"{resync['requests_per_second']:,.0f}", None, "over the wall time"),
        ("  peak RSS (sync process)", f"{resync['peak_rss_mb']:.0f} MB", None, ""),
        *ingest_rows(ingest),
    ]
    lines += table(rows, report["targets"])
    lines.append(f"ingest copy method: {ingest['copy_method']}")
    return "\n".join(lines)
