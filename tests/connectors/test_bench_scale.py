"""`make bench-scale` below size S: every target row is reported, and the scaled limits are met without a 403/429."""

import json

import pytest

from connectors import bench, bench_github, bench_scale
from connectors.simulators.github_org import GitHubOrg
from tests.cli import database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess, pytest.mark.slow]

XS = bench_scale.XS


def test_a_sync_over_several_scaled_quotas_is_never_refused_and_every_target_is_reported(tmp_path):
    """XS needs about 120 requests against a quota of 50 per 5-second "hour": two resets must pass, unrefused."""
    # Syncs run as child processes on the test database, with a file HTTP cache of their own.
    child_env = {**database_env(), "PIPEACCESS_VAR_DIR": str(tmp_path / "var"), "REDIS_URL": ""}
    report = bench_scale.run(XS, workdir=tmp_path / "bench", child_env=child_env, parts=())
    org = GitHubOrg.generate(bench_scale.ORG_NAME, XS.seed, XS.members, XS.outside_collaborators, XS.teams, XS.repos)
    full = report["full_sync"]
    assert full["lower_bound"] == bench_github.lower_bound(org)["bound"]
    assert full["status"] == "succeeded" and full["counts"]["grants"] > 0
    assert full["quota_used"] > 2 * XS.primary_limit
    assert full["imposed"]["primary"] == pytest.approx(2 * 3600 / XS.window_scale)
    # Paced, not refused: every answer a 200, and the sync still lasted the two windows it had to wait.
    assert full["by_status"] == {"200": full["requests"]}
    assert full["wall_seconds"] >= full["imposed"]["primary"]
    assert report["resync"]["refused"] == report["changed_resync"]["refused"] == 0
    # 304s cost no quota: re-reading all ~120 lists (a few changed) fits one window of 50 without a wait.
    assert report["changed_resync"]["quota_used"] < XS.primary_limit
    assert "rate limited" not in (tmp_path / "bench" / "changed_resync.log").read_text()

    rows = {row["name"]: row for row in report["targets"]}
    assert list(rows) == [
        bench.REQUESTS,
        bench_scale.REFUSED,
        bench_scale.LIMITED_WALL,
        bench_scale.LATENCY_WALL,
        bench_scale.SEQUENTIAL,
        bench_scale.NAIVE_REQUESTS,
        bench_scale.NAIVE_WALL_50,
        bench_scale.NAIVE_WALL_0,
        bench_scale.RESYNC_QUOTA,
        bench_scale.RSS,
        bench_scale.RSS_OVER_S,
        bench_scale.GRAPHQL,
    ]
    assert rows[bench.REQUESTS]["passed"] and rows[bench_scale.REFUSED]["passed"]
    assert rows[bench_scale.RSS_OVER_S]["pending"]  # no size S report to compare with
    assert rows[bench_scale.RESYNC_QUOTA]["passed"]  # conditional requests: the re-sync costs almost no quota
    # The naive script reads collaborators of every member on every repository, 30 a page.
    naive = report["naive_0ms"]
    assert not naive["sampled"] and naive["statuses"] == {"200": naive["requests"]}
    assert naive["requests"] == naive["requests_made"] > 0
    assert rows[bench_scale.NAIVE_REQUESTS]["baseline"] == naive["requests"]
    assert not report["sequential_sync"]["measured"]  # XS uses the floor, requests x 50 ms
    assert report["sequential_sync"]["wall_seconds"] == report["latency_sync"]["requests"] * 0.05
    assert report["changed_resync"]["counts"]["changed"] + report["changed_resync"]["counts"]["added"] > 0

    table = bench_scale.render(report)
    for row in rows.values():
        assert row["name"] in table
    assert "pending" in table
    path = tmp_path / "scale-XS.json"
    bench.write_json(report, path)
    assert json.loads(path.read_text())["targets"] == report["targets"]
