"""The dashboard: campaigns with completion, overdue reviewers, revocations by state, risk, syncs; fixed queries."""
# ruff: noqa: F811 - the campaign fixtures are imported from tests/reviews/conftest.py and used by name

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.models import Grant
from reviews.choices import RevocationState as S
from reviews.decisions import decide
from reviews.models import Revocation
from tests.reviews.conftest import inventory, launched, make_template, people, users  # noqa: F401

pytestmark = pytest.mark.django_db


def add_revocations(connector, states):
    grants = list(Grant.objects.current().filter(connector=connector, account__isnull=False)[: len(states)])
    for n, (grant, state) in enumerate(zip(grants, states, strict=True)):
        Revocation.objects.create(
            key=f"dash:{n}",
            grant=grant,
            grant_key=grant.key,
            connector=connector,
            action=f"remove #{n}",
            state=state,
            created=timezone.now(),
        )


def test_the_dashboard_shows_completion_overdue_reviewers_revocations_and_risk(
    client,
    launched,
    users,
    inventory,
):
    campaign = launched()
    item = campaign.items.filter(reviewer__email="mia@acme.test").first()
    decide(item, actor=users["mia"], decision="approve", justification="needed for releases")
    total = campaign.items.exclude(state="gone").count()
    campaign.__class__.objects.filter(pk=campaign.pk).update(due_at=timezone.now() - timedelta(days=1))
    add_revocations(inventory.connector, [S.QUEUED, S.FAILED, S.FAILED])

    client.force_login(users["sam"])
    html = client.get(reverse("home")).content.decode()
    assert campaign.name in html and f"1 of {total}" in html
    assert "<polyline" in html  # completion over time
    assert "Overdue reviewers" in html and "mia@acme.test" in html
    assert "<title>Failed: 2</title>" in html and "<title>Queued: 1</title>" in html
    assert "Grants per risk signal and connector" in html and "acme-gh" in html
    assert "Recent syncs" in html and "/connectors/acme-gh/runs/" in html


def test_the_dashboard_takes_the_same_queries_with_more_campaigns_and_revocations(
    client,
    launched,
    users,
    inventory,
    django_assert_num_queries,
):
    launched()
    client.force_login(users["sam"])
    # user, roles (the menu reuses them), campaigns, overdue, revocations, risk, runs, held, decisions for the
    # chart; the session comes from the cache (cached_db)
    with django_assert_num_queries(9):
        client.get(reverse("home"))
    launched(name="second")
    add_revocations(inventory.connector, [S.QUEUED, S.DONE, S.VERIFIED, S.REAPPEARED])
    with django_assert_num_queries(9):
        response = client.get(reverse("home"))
    assert "second" in response.content.decode()


def test_auditors_get_the_dashboard_and_reviewers_their_reviews(client, auditor_user, reviewer_user):
    client.force_login(auditor_user)
    assert "Dashboard" in client.get(reverse("home")).content.decode()
    client.force_login(reviewer_user)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("reviews:my_reviews")


def test_someone_without_a_role_is_told_to_ask_for_one(client, user_without_role):
    client.force_login(user_without_role)
    assert "You have no role yet" in client.get(reverse("home")).content.decode()
