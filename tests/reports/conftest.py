"""Report tests reuse the campaign fixtures (tests/reviews/conftest.py) and add hostile and risky accounts.

The extra inventory: an outside collaborator whose login is a formula and a script tag (untrusted input),
a deploy key without owner or expiry, and the anonymous pseudo-principal on a repository.
"""

import pytest
from django.utils import timezone

from connectors.base import AccountRecord, GrantRecord
from connectors.choices import GrantKind, Level
from reviews import campaigns, decisions
from reviews.models import ReviewItem
from tests.reviews.conftest import Inventory, make_template, people, records, users  # noqa: F401

HOSTILE = '=HYPERLINK("http://evil")<script>alert(1)</script>'
HOSTILE_JUSTIFICATION = '+cmd|" /C calc"!A0, "quoted"\nsecond line \u202eRTL'

EXTRA = [
    AccountRecord("user:evil", HOSTILE, email="", is_outside=True),
    GrantRecord("repo:2", GrantKind.PERMISSION, "admin", Level.ADMIN, "direct", account_external_id="user:evil"),
    AccountRecord("key:7", "deploy_key:acme/r1:7", type="deploy_key"),
    GrantRecord("repo:1", GrantKind.PERMISSION, "write", Level.WRITE, "direct", account_external_id="key:7"),
    AccountRecord("anon", "anonymous", type="pseudo"),
    GrantRecord("repo:2", GrantKind.PERMISSION, "read", Level.READ, "direct", account_external_id="anon"),
]


@pytest.fixture(autouse=True)
def _own_checkpoints(settings, tmp_path):
    """Checkpoints of this test only: the ones under var/ belong to another database's chain."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"


@pytest.fixture
def inventory(people):  # noqa: F811
    inv = Inventory()
    inv.source.records = records(extra=EXTRA)
    inv.sync()
    return inv


@pytest.fixture
def launched(make_template):  # noqa: F811
    def make(**overrides):
        return campaigns.launch(make_template(**overrides), now=timezone.now())

    return make


def item(campaign, **lookup) -> ReviewItem:
    return campaign.items.get(**lookup)


def reviewer_of(review_item: ReviewItem, users):  # noqa: F811
    return users[review_item.reviewer.email.split("@")[0]]


@pytest.fixture
def closed(launched, users):  # noqa: F811
    """A closed campaign: one approval, one revocation with a hostile justification, the rest timed out."""
    campaign = launched(on_timeout="keep")
    bob = item(campaign, holder_label="bob", resource_path="acme/r2", permission="admin")
    decisions.decide(bob, actor=reviewer_of(bob, users), decision="approve", justification="runs the release")
    evil = item(campaign, holder_label=HOSTILE)
    decisions.decide(evil, actor=reviewer_of(evil, users), decision="revoke", justification=HOSTILE_JUSTIFICATION)
    campaigns.close(campaign, actor=users["sam"])
    campaign.refresh_from_db()
    return campaign
