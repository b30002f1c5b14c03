"""The campaign bench runs end to end at a tiny size, twice, and judges its figures against the targets."""

import pytest

from reviews import bench_campaign


@pytest.mark.django_db
def test_the_campaign_bench_launches_decides_and_reports_against_its_targets():
    size = bench_campaign.Size(grants=600, accounts=60, repos=30, decisions=8)
    report = bench_campaign.run(size)
    assert report["instance"]["items"] == 600
    assert report["decision"]["samples"] == 8
    assert report["launch"]["bare_insert_seconds"] > 0
    assert {t["name"] for t in report["targets"]} == {bench_campaign.LAUNCH, bench_campaign.DECISION}
    # A second run replaces the first one's data instead of failing on it.
    again = bench_campaign.run(size)
    assert again["instance"]["items"] == 600
    text = bench_campaign.render(again)
    assert "campaign launch" in text and ("PASS" in text or "MISS" in text)
