"""The scale bench's GitLab part below size S: every GitLab target row is reported, the scaled limit never refuses."""

import pytest

from connectors import bench_scale_gitlab
from tests.cli import database_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]

XS = bench_scale_gitlab.XS


def test_a_gitlab_sync_over_several_scaled_minutes_is_never_refused_and_every_target_is_reported(tmp_path):
    """XS needs about 90 requests against 30 per 3-second "minute": the sync waits out the windows, no 429."""
    child_env = {**database_env(), "PIPEACCESS_VAR_DIR": str(tmp_path / "var"), "REDIS_URL": ""}
    result = bench_scale_gitlab.run(XS, workdir=tmp_path / "bench", child_env=child_env)
    figures = result["figures"]
    full = figures["full_sync"]
    bound = bench_scale_gitlab.generate(XS).rest_lower_bound([bench_scale_gitlab.TOP])
    assert full["lower_bound"] == bound and full["requests"] == bound
    assert full["status"] == "succeeded" and full["counts"]["grants"] > 0
    # The limit binds: more than two windows' worth, paced rather than refused, and the waits were really made.
    assert full["requests_seen_by_simulator"] > 2 * XS.rate_limit
    assert full["by_status"] == {"200": full["requests"]} and full["refused"] == 0
    assert full["wall_seconds"] >= full["imposed_seconds"] >= 2 * 60 / XS.window_scale
    # No ETag on GitLab's lists: the re-sync reads every page again.
    assert figures["resync"]["requests"] == figures["latency_sync"]["requests"]

    rows = {row["name"]: row for row in result["targets"]}
    assert tuple(rows) == bench_scale_gitlab.ROWS
    assert {row["section"] for row in rows.values()} == {"GitLab"}
    assert rows[bench_scale_gitlab.REFUSED]["value"] == 0 and rows[bench_scale_gitlab.REFUSED]["passed"]
    assert rows[bench_scale_gitlab.REQUESTS]["passed"]
    assert rows[bench_scale_gitlab.RESYNC]["not_applicable"] and "no ETag" in rows[bench_scale_gitlab.RESYNC]["target"]
