"""The scale bench's web side (reviews/bench_scale_web.py): the review page's queries do not grow with the items,
and the page is served by gunicorn under 16 requests in flight and judged against a template-only page."""

import pytest
from django.test import Client
from django.urls import reverse

from reviews import bench_review, bench_scale_web

# Issue "Scale" asks for <= 5: user, roles and MFA (pipeaccess.mfa; the navigation reuses them), the campaign
# with the reviewer's counts, systems and sign-off, the page's rows with the matching count, their history.
# The session comes from the cache (cached_db).
REVIEW_PAGE_QUERIES = 5


def _counts(items: int) -> dict[int, int]:
    user, campaign, _ = bench_review._setup(items, repos=5)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return bench_scale_web.query_counts(client, reverse("reviews:review", args=[campaign.pk]))


@pytest.mark.django_db
def test_the_review_page_costs_at_most_5_queries_for_30_or_2000_items_and_25_or_200_rows():
    few, many = _counts(30), _counts(2_000)
    assert set(few.values()) == set(many.values()) == {REVIEW_PAGE_QUERIES} and REVIEW_PAGE_QUERIES <= 5, (few, many)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_web_bench_loads_the_review_page_on_gunicorn_and_judges_every_target():
    lines = []
    report = bench_scale_web.run("XS", lines.append)
    assert [t["name"] for t in report["targets"]] == [
        bench_scale_web.QUERIES,
        bench_scale_web.P95,
        bench_scale_web.THROUGHPUT,
    ]
    assert all(isinstance(t["value"], int | float) and t["value"] > 0 for t in report["targets"])
    figures = report["figures"]
    requests = bench_scale_web.SIZES["XS"].requests
    # Every request of both pages answered 200 with the review page's markup (run() raises otherwise).
    assert figures["review_page"]["n"] == figures["template_only_page"]["n"] == requests
    assert 0 < figures["review_page"]["p50_ms"] <= figures["review_page"]["p95_ms"]
    assert figures["items_for_the_reviewer"] == bench_scale_web.SIZES["XS"].items
    assert any("gunicorn" in line for line in lines)
