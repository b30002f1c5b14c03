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

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from . import bench
from .bench import Simulator
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
    org = generate(size)
    instance = asdict(org.facts()) | {"seed": size.seed, "top": TOP}
    bound = org.rest_lower_bound([TOP])
    measured = bench.measure(
        gitlab_simulator(size, workdir),
        name=CONNECTOR_PREFIX,
        announce=f"GitLab simulator ({size.members:,} members, {size.subgroups:,} subgroups, "
        f"{size.projects:,} projects)",
        info=f"info?group={TOP}",
        served=lambda info: (info["rest_lower_bound"], info["facts"]["projects"]),
        expected=(bound, instance["projects"]),
        options={"group": [TOP]},
        lower_bound=bound,
        workdir=workdir,
        child_env=child_env,
        say=say,
    )
    return bench.no_etag_report(instance, measured)


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    instance, full, resync = report["instance"], report["full_sync"], report["resync"]
    heading = [
        f"GitLab bench, {report['generated_at']}",
        f"group {instance['top']} (seed {instance['seed']}): {instance['groups']:,} groups, "
        f"{instance['projects']:,} projects, {instance['users']:,} users, {instance['shares']:,} shares",
    ]
    rows = [
        ("direct memberships", f"{instance['direct_memberships']:,}", None, "where granted; inheritance is derived"),
        (
            "tokens: access / deploy / keys",
            f"{instance['access_tokens']:,} / {instance['deploy_tokens']:,} / {instance['deploy_key_links']:,}",
            None,
            "",
        ),
        *bench.full_sync_rows(full, "GitLabOrg.rest_lower_bound(), per_page 100"),
        bench.recorded_row(full),
        *bench.resync_rows(resync, "no ETag: every page again"),
    ]
    simulator = "separate process, no rate limits; GitLab's lists send no ETag, so no conditional requests"
    return bench.render(heading, simulator, rows, report)
