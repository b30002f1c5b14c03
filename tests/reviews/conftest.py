"""A small synced inventory with people, managers and owners, for campaign tests.

acme (GitHub-like, fed by a record source): alice org owner, bob maintainer of team eng and direct admin
on r2, carol member of child team eng-ci, dave an outside collaborator; team eng has push on r1; the org's
base permission is read. People: mia manages alice, bob and carol; sam is the security fallback reviewer;
ola owns r1 and r2. dave has no person (an orphan).
"""

import pytest
from django.utils import timezone

from connectors.base import AccountRecord, GrantRecord
from connectors.choices import GrantKind, Level
from connectors.models import Account, Connector, Identity, Resource
from connectors.sync import run_sync
from pipeaccess.roles import REVIEWER, SECURITY
from reviews import campaigns
from tests.connectors.records import RecordSource, small_org


def records(*, push_level="push", drop=(), extra=()):
    recs = small_org(push_level=push_level, drop=drop)
    recs.append(AccountRecord("user:dave", "dave", email="", is_outside=True))
    recs.append(
        GrantRecord("repo:1", GrantKind.PERMISSION, "read", Level.READ, "direct", account_external_id="user:dave")
    )
    recs.extend(extra)
    return [r for r in recs if getattr(r, "account_external_id", None) not in drop]


class Inventory:
    def __init__(self):
        self.connector = Connector.objects.create(
            name="acme-gh",
            kind="github",
            base_url="https://github.example",
            options={"org": "acme"},
            removal_threshold=1.0,
        )
        self.source = RecordSource(records())

    def sync(self, **changes):
        if changes:
            self.source.records = records(**changes)
        run = run_sync(self.connector, connector_factory=self.source)
        assert run.status == "succeeded", run.error
        self.link_people()
        return run

    def link_people(self):
        """Links the synced accounts to people by hand-free rules: the same email."""
        for account in Account.objects.filter(connector=self.connector, identity__isnull=True):
            person = Identity.objects.filter(email=account.email).first() if account.email else None
            if person:
                Account.objects.filter(pk=account.pk).update(identity=person, identity_rule="email")
        Resource.objects.filter(connector=self.connector, path__in=["acme/r1", "acme/r2"]).update(
            owner=Identity.objects.get(email="ola@acme.test")
        )


@pytest.fixture
def people(db):
    mia = Identity.objects.create(email="mia@acme.test", name="Mia Manager")
    sam = Identity.objects.create(email="sam@acme.test", name="Sam Security")
    ola = Identity.objects.create(email="ola@acme.test", name="Ola Owner", manager=mia)
    for login in ("alice", "bob", "carol"):
        Identity.objects.create(email=f"{login}@acme.test", name=login.title(), manager=mia)
    return {p.email.split("@")[0]: p for p in Identity.objects.all()} | {"mia": mia, "sam": sam, "ola": ola}


@pytest.fixture
def inventory(people):
    inv = Inventory()
    inv.sync()
    return inv


@pytest.fixture
def users(make_user, people):
    """A login for every person who reviews (same email as the person)."""
    made = {name: make_user(f"{name}@acme.test", REVIEWER) for name in ("mia", "ola", "bob", "carol", "alice")}
    made["sam"] = make_user("sam@acme.test", SECURITY)
    return made


TEMPLATE = {
    "name": "quarterly",
    "scope": {"connectors": ["acme-gh"]},
    "reviewers": ["manager", "resource_owner", {"fallback": "sam@acme.test"}],
    "duration": "14d",
    "reminders": [7, 3, 1],
    "on_timeout": "keep",
}


@pytest.fixture
def make_template(inventory):
    def make(**overrides):
        doc = {**TEMPLATE, **overrides}
        (template,) = campaigns.apply_templates([doc])
        return template

    return make


@pytest.fixture
def launched(make_template):
    """A fresh campaign over the whole inventory (launch syncs nothing: the inventory is a minute old)."""

    def make(**overrides):
        return campaigns.launch(make_template(**overrides), now=timezone.now())

    return make
