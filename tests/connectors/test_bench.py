"""`make bench` at a tiny size: every figure is reported and each is sane (`make bench` runs the real size)."""

import json

import pytest

from connectors import bench
from connectors.simulators.github_org import GitHubOrg
from tests.cli import database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

TINY = bench.Size(members=30, repos=10, teams=4, outside_collaborators=3)


@pytest.fixture
def report(tmp_path):
    # The syncs run as child processes on the test database, with a file HTTP cache of their own.
    child_env = {**database_env(), "PIPEACCESS_VAR_DIR": str(tmp_path / "var"), "REDIS_URL": ""}
    return bench.run(TINY, workdir=tmp_path / "bench", child_env=child_env)


def test_it_reports_every_figure_of_a_tiny_org_with_sane_values(report, tmp_path):
    org = GitHubOrg.generate(
        bench.ORG_NAME, TINY.seed, TINY.members, TINY.outside_collaborators, TINY.teams, TINY.repos
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
    assert resync["non_304_share_of_full"] <= bench.MAX_RESYNC_SHARE

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
        bench.PAIRS: False,  # a tiny org is far below 200,000 pairs
        bench.REQUESTS: True,
        bench.RESYNC: True,
        bench.INGEST: ingest["ratio"] is not None and ingest["ratio"] >= bench.MIN_INGEST_RATIO,
        bench.RSS: True,
    }

    table = bench.render(report)
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
