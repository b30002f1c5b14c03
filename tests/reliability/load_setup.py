"""The load test's campaign: reviewers who each own their own review items, and a logged-in session each.

An inventory of one GitHub-like organisation is synced through the real engine (a Replay source): one
developer per item with push or admin on one of a few repositories. Each developer's manager is one of the
reviewers, and the campaign routes by manager, so every reviewer owns ``items_per_reviewer`` items of
people they manage. Each reviewer is logged in the way a browser ends up after signing in (a session in
the session store); the locust users carry those cookies. The plan is what the locustfile reads.
"""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django.utils import timezone

from connectors.base import AccountRecord, GrantRecord, ResourceRecord
from connectors.choices import GrantKind, Level
from connectors.models import Account, Connector, Identity
from connectors.replay import Replay
from connectors.sync import run_sync
from pipeaccess.roles import REVIEWER, create_user
from reviews import campaigns
from reviews.models import Campaign

ORG = "load"
REPOS = 10
# Every grant is above read, so each item can be downgraded.
LEVELS = [(Level.WRITE, "push"), (Level.ADMIN, "admin")]


def reviewer_email(number: int) -> str:
    return f"reviewer-{number:02d}@load.test"


def _records(people: int) -> list:
    records: list = [ResourceRecord(f"org:{ORG}", "organization", ORG)]
    records += [
        ResourceRecord(f"repo:{r}", "repository", f"{ORG}/repo-{r:02d}", parent_external_id=f"org:{ORG}")
        for r in range(REPOS)
    ]
    for i in range(people):
        records.append(AccountRecord(f"user:{i}", f"dev-{i:04d}", email=f"dev-{i:04d}@load.test"))
        level, permission = LEVELS[i % len(LEVELS)]
        records.append(
            GrantRecord(
                f"repo:{i % REPOS}", GrantKind.PERMISSION, permission, level, "direct", account_external_id=f"user:{i}"
            )
        )
    return records


def build(*, reviewers: int, items_per_reviewer: int) -> dict:
    """Create everything in the current database; returns the plan (campaign, and per reviewer a session and
    the items they own with their versions)."""
    people = reviewers * items_per_reviewer
    connector = Connector.objects.create(
        name=ORG, kind="github", base_url="https://github.invalid", options={"org": ORG}, removal_threshold=1.0
    )
    run = run_sync(connector, connector_factory=lambda c: Replay(iter(_records(people))))
    assert run.status == "succeeded", run.error

    managers = [Identity.objects.create(email=reviewer_email(n), name=f"Reviewer {n}") for n in range(reviewers)]
    Identity.objects.bulk_create(
        Identity(email=f"dev-{i:04d}@load.test", name=f"Dev {i}", manager=managers[i % reviewers])
        for i in range(people)
    )
    person = dict(Identity.objects.values_list("email", "pk"))
    accounts = list(Account.objects.filter(connector=connector).exclude(email=""))
    for account in accounts:
        account.identity_id, account.identity_rule = person[account.email], "email"
    Account.objects.bulk_update(accounts, ["identity", "identity_rule"], batch_size=1000)
    users = [create_user(m.email, roles=[REVIEWER], name=m.name) for m in managers]

    (template,) = campaigns.apply_templates(
        [{"name": ORG, "scope": {"connectors": [ORG]}, "reviewers": ["manager"], "duration": "14d"}]
    )
    campaign: Campaign = campaigns.launch(template, now=timezone.now())
    by_reviewer: dict[str, list[dict]] = {}
    for pk, email, version in campaign.items.values_list("pk", "reviewer__email", "version").order_by("pk"):
        by_reviewer.setdefault(email, []).append({"pk": pk, "version": version})
    plan = []
    for user in users:
        client = Client()
        client.force_login(user)
        items = by_reviewer.get(user.email, [])
        assert len(items) == items_per_reviewer, (user.email, len(items))
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        plan.append({"email": user.email, "session": session, "items": items})
    return {"campaign": campaign.pk, "session_cookie": settings.SESSION_COOKIE_NAME, "reviewers": plan}
