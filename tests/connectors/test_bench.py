"""`make bench` at a tiny size: every figure is reported and each is sane (`make bench` runs the real size)."""

import json

import pytest

from connectors import bench, bench_github, bench_gitlab, bench_harbor
from connectors.models import Connector, Entitlement, Grant
from connectors.simulators.github_org import GitHubOrg
from tests.cli import database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

TINY = bench_github.Size(members=30, repos=10, teams=4, outside_collaborators=3)
TINY_HARBOR = bench_harbor.Size(projects=12, users=20, robots=8, groups=3)
TINY_GITLAB = bench_gitlab.Size(members=20, subgroups=3, projects=12)


@pytest.fixture
def child_env(tmp_path):
    # The syncs run as child processes on the test database, with a file HTTP cache of their own.
    return {**database_env(), "PIPEACCESS_VAR_DIR": str(tmp_path / "var"), "REDIS_URL": ""}


@pytest.fixture
def report(tmp_path, child_env):
    return bench_github.run(TINY, workdir=tmp_path / "bench", child_env=child_env)


def test_it_reports_every_figure_of_a_tiny_org_with_sane_values(report, tmp_path):
    org = GitHubOrg.generate(
        bench_github.ORG_NAME, TINY.seed, TINY.members, TINY.outside_collaborators, TINY.teams, TINY.repos
    )
    people = [*org.members, *org.outside_collaborators()]
    reached = sum(1 for repo in org.repos for login in people if org.effective_role(login, repo) is not None)
    pairs = report["effective_pairs"]
    assert pairs["people"] == reached
    assert pairs["total"] == pairs["people"] + pairs["deploy_keys"] + pairs["app_installations"]

    full = report["full_sync"]
    assert full["status"] == "succeeded" and full["counts"]["grants"] > 0
    assert full["requests"] == full["requests_seen_by_simulator"]
    assert full["lower_bound"] <= full["requests"] <= full["lower_bound"] * bench.MAX_REQUESTS_OVER_BOUND
    selected = [inst for inst in org.installations if inst.repository_selection == "selected"]
    assert len(full["lower_bound_skipped"]) == len(selected) > 0
    assert full["lower_bound"] == org.rest_lower_bound() - len(selected)
    assert 20 < full["peak_rss_mb"] < bench.MAX_RSS_MB
    assert full["requests_per_second"] == pytest.approx(full["requests"] / full["wall_seconds"])

    resync = report["resync"]
    assert resync["requests"] == full["requests"]
    assert resync["non_304"] == resync["requests"] - resync["not_modified"]
    assert resync["non_304_share_of_full"] <= bench_github.MAX_RESYNC_SHARE

    ingest = report["ingest"]
    assert ingest["grants"] == full["counts"]["grants"]
    assert ingest["copy_rows_per_second"] > ingest["engine_rows_per_second"] > 0
    assert ingest["ratio_to_scratch_copy"] == pytest.approx(
        ingest["engine_rows_per_second"] / ingest["copy_rows_per_second"]
    )
    if ingest["copy_into_grant_table_rows_per_second"] is None:  # SQLite has no COPY: no baseline, no verdict
        assert ingest["ratio"] is None
    else:
        assert ingest["ratio"] == pytest.approx(
            ingest["engine_rows_per_second"] / ingest["copy_into_grant_table_rows_per_second"]
        )

    verdicts = {target["name"]: target["passed"] for target in report["targets"]}
    assert verdicts == {
        bench_github.PAIRS: False,  # a tiny org is far below 200,000 pairs
        bench.REQUESTS: True,
        bench_github.RESYNC: True,
        bench.INGEST: ingest["ratio"] is not None and ingest["ratio"] >= bench.MIN_INGEST_RATIO,
        bench.RSS: True,
    }

    table = bench_github.render(report)
    assert "MISS  >= 200,000" in table
    for figure in (
        "API requests",
        "REST lower bound",
        "non-304 share",
        "peak RSS",
        "grants/s",
        "engine / scratch copy",
    ):
        assert figure in table
    path = tmp_path / "out" / "report.json"
    bench.write_json(report, path)
    assert json.loads(path.read_text())["full_sync"]["requests"] == full["requests"]


def assert_a_no_etag_report_is_sane(report: dict, bound: int, prefix: str, tmp_path) -> None:
    """What holds for every system whose lists send no ETag (Harbor, GitLab), at a size where lists fit a page."""
    full = report["full_sync"]
    assert full["status"] == "succeeded" and full["counts"]["grants"] > 0
    # The connector asks for exactly the plan: every list fits in one page of 100.
    assert full["requests"] == full["requests_seen_by_simulator"] == full["lower_bound"] == bound
    assert full["ratio_to_lower_bound"] == 1
    assert 20 < full["peak_rss_mb"] < bench.MAX_RSS_MB

    resync = report["resync"]  # no ETag: everything is read again, and nothing changes
    assert resync["requests"] == full["requests"] and resync["not_modified"] == 0
    assert resync["share_of_full"] == 1
    assert resync["counts"]["added"] == resync["counts"]["changed"] == resync["counts"]["removed"] == 0

    ingest = report["ingest"]
    assert ingest["grants"] == full["counts"]["grants"]
    assert ingest["copy_rows_per_second"] > ingest["engine_rows_per_second"] > 0

    verdicts = {target["name"]: target["passed"] for target in report["targets"]}
    assert verdicts == {
        bench.REQUESTS: True,
        bench.INGEST: ingest["ratio"] is not None and ingest["ratio"] >= bench.MIN_INGEST_RATIO,
        bench.RSS: True,
    }

    path = tmp_path / "out" / f"{prefix}.json"
    bench.write_json(report, path)
    assert json.loads(path.read_text())["full_sync"]["lower_bound"] == bound

    # The next bench starts clean: the synced connector and the ingest one go, with all they recorded.
    assert bench.wipe_bench_connectors(prefix) == 2
    assert not Connector.objects.exists() and not Grant.objects.exists() and not Entitlement.objects.exists()


def test_it_reports_every_figure_of_a_tiny_harbor_with_sane_values(tmp_path, child_env):
    report = bench_harbor.run(TINY_HARBOR, workdir=tmp_path / "bench", child_env=child_env)
    org = bench_harbor.generate(TINY_HARBOR)
    instance = report["instance"]
    assert (instance["projects"], instance["users"] + instance["robots"]) == (12, 28)
    assert instance["user_members"] == len(org.facts().user_members) > 0

    table = bench_harbor.render(report)
    assert "PASS  1 to 1.05" in table
    assert "0 were 304: no ETag" in table
    for figure in ("Harbor registry bench", "users + robots", "REST lower bound", "peak RSS", "grants/s"):
        assert figure in table
    assert_a_no_etag_report_is_sane(report, org.rest_lower_bound(), bench_harbor.CONNECTOR_PREFIX, tmp_path)


def test_it_reports_every_figure_of_a_tiny_gitlab_with_sane_values(tmp_path, child_env):
    report = bench_gitlab.run(TINY_GITLAB, workdir=tmp_path / "bench", child_env=child_env)
    org = bench_gitlab.generate(TINY_GITLAB)
    instance = report["instance"]
    assert (instance["top"], instance["projects"]) == (bench_gitlab.TOP, 12)
    assert instance["direct_memberships"] == org.facts().direct_memberships > 0

    table = bench_gitlab.render(report)
    assert "PASS  1 to 1.05" in table
    assert "no ETag: every page again" in table
    for figure in ("GitLab bench", "direct memberships", "REST lower bound", "peak RSS", "recorded", "grants/s"):
        assert figure in table
    bound = org.rest_lower_bound([bench_gitlab.TOP])
    assert_a_no_etag_report_is_sane(report, bound, bench_gitlab.CONNECTOR_PREFIX, tmp_path)
