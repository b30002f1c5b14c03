"""One dataset for the security tests: a launched campaign (tests/reviews fixtures) and a synced simulator."""

import pytest
from django.utils import timezone

from connectors.models import Account, Grant, Resource
from pipeaccess.roles import SECURITY
from reviews.models import OutboundMail, ReviewItem, Revocation
from tests.reviews.conftest import inventory, launched, make_template, people, users  # noqa: F401
from tests.views.conftest import github_connector, github_org, github_sim, sync_github, synced  # noqa: F401


@pytest.fixture
def world(launched, users, synced, people, security_user, auditor_user, user_without_role, make_user):  # noqa: F811
    """Reviewer A = mia (manager), reviewer B = ola (resource owner), both with items in the same campaign;
    bob is the subject of items and reviews none of them; sven has the security role but no authenticator."""
    campaign = launched()
    item_a = ReviewItem.objects.filter(campaign=campaign, reviewer=people["mia"]).order_by("pk").first()
    item_b = ReviewItem.objects.filter(campaign=campaign, reviewer=people["ola"]).order_by("pk").first()
    subject_item = ReviewItem.objects.filter(campaign=campaign, subject=people["bob"]).order_by("pk").first()
    assert item_a and item_b and subject_item
    assert not ReviewItem.objects.filter(campaign=campaign, reviewer=people["bob"]).exists()
    grant = Grant.objects.current().filter(connector=synced, account__isnull=False).first()
    rev = Revocation.objects.create(
        key="security-matrix",
        grant=grant,
        grant_key=grant.key,
        connector=synced,
        action="remove x",
        state="awaiting_approval",
        created=timezone.now(),
    )
    mail = OutboundMail.objects.create(
        key="security-matrix",
        kind="launch",
        recipient="mia@acme.test",
        campaign=campaign,
        day=timezone.now().date(),
        message_id="<security-matrix@pipeaccess>",
        subject="Review",
        text="x",
        html="x",
        state=OutboundMail.State.FAILED,
        created=timezone.now(),
    )
    return {
        "campaign": campaign,
        "item_a": item_a,
        "item_b": item_b,
        "subject_item": subject_item,
        "connector": synced,
        "run": synced.runs.order_by("pk").first(),
        "rev": rev,
        "mail": mail,
        "account": Account.objects.filter(connector=synced).first(),
        "resource": Resource.objects.filter(connector=synced).first(),
        "person": people["bob"],
        "users": {
            "none": user_without_role,
            "reviewer_a": users["mia"],
            "reviewer_b": users["ola"],
            "subject": users["bob"],
            "auditor": auditor_user,
            "security": security_user,
            "security_no_mfa": make_user("sven@example.com", SECURITY, name="Sven Security", mfa=False),
        },
    }
