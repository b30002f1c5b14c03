"""The people bench at a tiny size: every figure is reported and each is sane (`make bench` runs 100,000 grants)."""

import pytest

from connectors import bench_people

pytestmark = pytest.mark.django_db

TINY = bench_people.Size(
    members=20, teams=4, repos=40, grants=500, person_direct=20, person_teams=2, repos_per_team=3, person_projects=4
)


def test_it_measures_the_person_view_and_the_refresh_of_a_tiny_inventory():
    report = bench_people.run(TINY)
    view = report["person_view"]
    # direct + org membership + team memberships + the teams' repositories + base permission + registry projects
    assert view["grants_in_view"] == 20 + 1 + 2 + 2 * 3 + 1 + 4
    assert (view["accounts"], view["systems"], view["queries"]) == (2, 2, 5)
    assert 0 < view["min_ms"] <= view["median_ms"] <= view["p95_ms"]
    assert view["baseline_rows"] == view["grants_in_view"]  # the same rows, read plainly
    assert view["ratio_to_baseline"] == pytest.approx(view["median_ms"] / view["baseline"]["median_ms"])

    refresh = report["risk_refresh"]
    assert refresh["grants"] == refresh["written"] == report["instance"]["grants_recorded"]
    assert refresh["unchanged_written"] == 0
    assert report["resource_view"]["paths"] > 0

    assert [t["name"] for t in report["targets"]] == [bench_people.VIEW, bench_people.REFRESH]
    table = bench_people.render(report)
    for figure in ("person view: grants shown", "view / baseline", "risk refresh from empty", "PASS"):
        assert figure in table
