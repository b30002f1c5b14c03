"""The scale bench's database side (connectors/bench_scale_db.py) at a tiny size: every target is measured and
the diff finds exactly the grants the next snapshot changed."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from connectors import bench_scale_db
from connectors import diff as inventory_diff
from connectors.models import Connector, Grant


@pytest.fixture
def report():
    lines = []
    result = bench_scale_db.run("XS", lines.append)
    assert lines, "the bench says what it is doing"
    return result


@pytest.mark.django_db
def test_every_database_target_is_reported_with_a_measured_value(report):
    names = [t["name"] for t in report["targets"]]
    assert names == [
        bench_scale_db.INGEST,
        bench_scale_db.DIFF_RATIO,
        bench_scale_db.DIFF_SECONDS,
        bench_scale_db.LAUNCH,
    ]
    for target in report["targets"]:
        assert isinstance(target["value"], float) and target["value"] > 0, target
        assert isinstance(target["passed"], bool)
    figures = report["figures"]
    assert figures["ingest"]["engine_seconds"] > 0 and figures["ingest"]["copy_seconds"] > 0
    # The launch and its baseline wrote the same number of items: one per current grant.
    current = Grant.objects.filter(connector__name=f"{bench_scale_db.PREFIX}-org", removed_run__isnull=True).count()
    assert figures["launch"]["items"] == figures["launch"]["bare_insert_select_rows"] == current


@pytest.mark.django_db
def test_the_diff_finds_exactly_the_grants_the_next_snapshot_changed(report):
    diff = report["figures"]["diff"]
    assert diff["exact"] is True
    assert diff["found"] == diff["expected"]
    assert all(count > 0 for count in diff["expected"].values())
    assert diff["rows_differing"] == sum(diff["expected"].values())
    # What an operator reads from `manage.py diff` says the same.
    out = io.StringIO()
    call_command("diff", f"{bench_scale_db.PREFIX}-org", stdout=out)
    expected = diff["expected"]
    assert f"{expected['added']} added, {expected['removed']} removed, {expected['changed']} changed" in out.getvalue()


@pytest.mark.django_db
def test_a_first_run_diffs_as_every_grant_added(report):
    connector = Connector.objects.get(name=f"{bench_scale_db.PREFIX}-org")
    first = inventory_diff.applied_runs(connector).first()
    result = inventory_diff.diff(connector, None, first)
    assert len(result["added"]) == report["figures"]["ingest"]["grants"]
    assert result["removed"] == result["changed"] == []


@pytest.mark.django_db
def test_a_large_apply_leaves_the_planner_statistics_of_the_grant_table_current(report):
    """Without ANALYZE after the first sync the planner still sees an empty table and the diff ran for minutes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Grant._meta.db_table])
        (estimated,) = cursor.fetchone()
    assert estimated >= report["figures"]["ingest"]["grants"]
