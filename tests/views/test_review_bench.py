"""The review bench scenario (reviews/bench_review.py) runs end to end at a small size and reports its figures."""

import pytest

from reviews import bench_review
from reviews.models import Campaign


@pytest.mark.django_db
def test_the_bench_decides_through_the_page_and_reports_percentiles():
    report = bench_review.run(bench_review.Size(items=300, decisions=20, repos=10, page_loads=2))
    assert report["items_in_campaign"] == 300
    assert report["decisions"] == report["decided_after"] == 20
    timing = report["decision_round_trip"]
    assert 0 < timing["p50_ms"] <= timing["p95_ms"] <= timing["max_ms"]
    assert report["review_page"]["n"] == 2
    # A second run starts from scratch: the first run's campaign and inventory are gone.
    again = bench_review.run(bench_review.Size(items=120, decisions=5, repos=4, page_loads=1))
    assert again["items_in_campaign"] == 120
    assert Campaign.objects.filter(template__name=bench_review.NAME).count() == 1
    assert "decision round trip p95" in bench_review.render(again)
