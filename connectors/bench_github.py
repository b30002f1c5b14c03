"""The GitHub foundation benchmark (`make bench`): one simulated org, synced for real, measured.

The method is bench.py's: the org generated in-process for the truth (effective account–repository
pairs and the REST lower bound, GitHubOrg.rest_plan()), the simulator in its own process with its limits
out of the way (no secondary limit, a primary limit never reached), a full sync and an immediate re-sync
with nothing changed (conditional requests should turn it into 304s) as `manage.py sync` child
processes, and the ingest rate of the engine against a raw COPY of the same rows into the grant table.

Lower bound: the REST plan includes GET /user/installations/{id}/repositories for installations on
selected repositories; the connector skips it by design (it needs an installation token, see
connectors/providers/github.py), so those requests are subtracted and listed in the report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import bench
from .bench import BenchError, Simulator
from .simulators.github_org import GitHubOrg

CONNECTOR_PREFIX = "bench-github"
ORG_NAME = "bench"
PER_PAGE = 100
# Far above what a bench sends in an hour: the primary limit must never make the client wait.
PRIMARY_LIMIT = 1_000_000_000

# Targets of the foundation issue beyond those every system shares (bench.py).
MIN_EFFECTIVE_PAIRS = 200_000
MAX_RESYNC_SHARE = 0.05

# Target names (JSON "targets" and the table); REQUESTS, INGEST and RSS come from bench.py.
PAIRS = "effective account-repository pairs"
RESYNC = "re-sync non-304 requests, share of full sync"

# Plan entries the connector does not request, by design, with the reason printed in the report.
SKIPPED_BY_DESIGN = {
    "/user/installations/": "app installations on selected repositories: listing them needs an installation token",
}


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


def github_simulator(size: Size, workdir: Path) -> Simulator:
    """The GitHub simulator serving the org of SIZE, its rate limits out of the way."""
    args = [
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
    ]
    return Simulator("github", args, workdir, credential_option="--token-file")


# --- the bench ----------------------------------------------------------------------------------------


def run(
    size: Size,
    *,
    workdir: Path,
    child_env: dict[str, str] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> dict:
    """Run the bench against the configured database and return the report (see render())."""
    org = GitHubOrg.generate(ORG_NAME, size.seed, size.members, size.outside_collaborators, size.teams, size.repos)
    if org.default_repository_permission == "none":
        raise BenchError(f"seed {size.seed} gives base permission 'none'; choose a seed whose org has one")
    pairs = effective_pairs(org)
    bound = lower_bound(org)
    measured = bench.measure(
        github_simulator(size, workdir),
        name=CONNECTOR_PREFIX,
        announce=f"GitHub simulator ({size.members:,} members, {size.repos:,} repos, {size.teams:,} teams)",
        served=lambda info: info["rest_lower_bound"],
        expected=bound["plan"],
        options={"org": ORG_NAME},
        lower_bound=bound["bound"],
        workdir=workdir,
        child_env=child_env,
        say=say,
    )
    full, resync = measured["full_sync"], measured["resync"]
    full.update(lower_bound_plan=bound["plan"], lower_bound_skipped=bound["skipped"])
    resync["non_304"] = resync["requests"] - resync["not_modified"]
    resync["non_304_share_of_full"] = resync["non_304"] / full["requests"]
    report = {
        "generated_at": bench.generated_at(),
        "org": {
            "name": ORG_NAME,
            "seed": size.seed,
            "members": size.members,
            "repos": size.repos,
            "teams": size.teams,
            "outside_collaborators": size.outside_collaborators,
            "default_repository_permission": org.default_repository_permission,
        },
        "effective_pairs": pairs,
        **measured,
    }
    report["targets"] = targets(report)
    return report


def targets(report: dict) -> list[dict]:
    """Each target with the measured value, as printed (PASS/MISS) and written to the JSON."""
    pairs, full, resync, ingest = (report[k] for k in ("effective_pairs", "full_sync", "resync", "ingest"))
    return [
        bench.target(PAIRS, pairs["total"], f">= {MIN_EFFECTIVE_PAIRS:,}", pairs["total"] >= MIN_EFFECTIVE_PAIRS),
        bench.requests_target(full),
        bench.target(
            RESYNC,
            round(resync["non_304_share_of_full"], 4),
            f"<= {MAX_RESYNC_SHARE:.0%}",
            resync["non_304_share_of_full"] <= MAX_RESYNC_SHARE,
        ),
        bench.ingest_target(ingest),
        bench.rss_target(full),
    ]


# --- the table ----------------------------------------------------------------------------------------


def render(report: dict) -> str:
    """The human-readable table: one line per figure, targets marked PASS or MISS."""
    org, pairs, full, resync = (report[k] for k in ("org", "effective_pairs", "full_sync", "resync"))
    skipped = sum(entry["requests"] for entry in full["lower_bound_skipped"])
    heading = [
        f"GitHub foundation bench, {report['generated_at']}",
        f"org {org['name']} (seed {org['seed']}): {org['members']:,} members, {org['repos']:,} repos, "
        f"{org['teams']:,} teams, {org['outside_collaborators']:,} outside collaborators, "
        f"base permission {org['default_repository_permission']}",
    ]
    rows = [
        ("effective account-repository pairs", f"{pairs['total']:,}", PAIRS, ""),
        (
            "  people / deploy keys / apps",
            f"{pairs['people']:,} / {pairs['deploy_keys']:,} / {pairs['app_installations']:,}",
            None,
            "",
        ),
        *bench.full_sync_rows(full, f"plan {full['lower_bound_plan']:,} less {skipped} skipped by design (below)"),
        *bench.resync_rows(
            resync,
            f"{resync['not_modified']:,} were 304",
            (
                "  non-304 share of full sync",
                f"{resync['non_304']:,} = {resync['non_304_share_of_full']:.2%}",
                RESYNC,
                "",
            ),
        ),
    ]
    simulator = (
        f"separate process with --secondary-limit 0 (off) and --primary-limit {PRIMARY_LIMIT:,} (never reached), "
        "so rate limits do not distort timing"
    )
    notes = tuple(
        f"lower bound excludes {entry['path']} ({entry['requests']} request): {entry['why']}"
        for entry in full["lower_bound_skipped"]
    )
    return bench.render(heading, simulator, rows, report, notes)
