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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import bench
from .bench import Simulator
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
    org = generate(size)
    instance = instance_figures(org, size)
    bound = org.rest_lower_bound(PAGE_SIZE)
    measured = bench.measure(
        harbor_simulator(size, workdir),
        name=CONNECTOR_PREFIX,
        announce=f"Harbor simulator ({size.projects:,} projects, {size.users:,} users, {size.robots:,} robots, "
        f"{size.groups:,} groups)",
        served=lambda info: (info["rest_lower_bound"], info["counts"]["projects"], info["counts"]["users"]),
        expected=(bound, instance["projects"], instance["users"]),
        options={"username": ADMIN},
        lower_bound=bound,
        workdir=workdir,
        child_env=child_env,
        say=say,
    )
    return bench.no_etag_report(instance, measured)


# --- the table ----------------------------------------------------------------------------------------


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    instance, full, resync = report["instance"], report["full_sync"], report["resync"]
    heading = [
        f"Harbor registry bench, {report['generated_at']}",
        f"instance (seed {instance['seed']}, {instance['auth_mode']}): {instance['projects']:,} projects "
        f"({instance['public_projects']:,} public), {instance['users']:,} users ({instance['sysadmins']:,} "
        f"system administrators), {instance['robots']:,} robots ({instance['system_robots']:,} system-level), "
        f"{instance['user_groups']:,} user groups",
    ]
    rows = [
        ("users + robots", f"{instance['users'] + instance['robots']:,}", None, ""),
        (
            "members: users / groups",
            f"{instance['user_members']:,} / {instance['group_members']:,}",
            None,
            "project memberships in the generated instance",
        ),
        ("robot permissions", f"{instance['robot_permissions']:,}", None, "one per robot and namespace"),
        *bench.full_sync_rows(full, "HarborOrg.rest_lower_bound(), page_size 100"),
        bench.recorded_row(full),
        *bench.resync_rows(
            resync, f"{resync['not_modified']:,} were 304: no ETag, every page is read again (no target)"
        ),
    ]
    simulator = "separate process, no rate limits; Harbor's API sends no ETag, so no conditional requests"
    return bench.render(heading, simulator, rows, report)
