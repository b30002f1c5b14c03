"""An open campaign with reviewers and pending items, written into a database that another process serves.

Tests that run the app as real processes on a private PostgreSQL (tests/reliability/servers.py) cannot use the
ORM of the test process, which is bound to its own test database. ``seed(database_url, env, …)`` runs
:func:`build` in a ``manage.py shell`` child against ``database_url`` and returns what it printed: each reviewer's
email, password, API token and pending item ids.

The inventory comes from records (no upstream server): one repository, and per reviewer ``items_each`` member
accounts with a direct write grant on it; each grant is one pending item assigned to that reviewer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.base import AccountRecord, GrantRecord, ResourceRecord
from connectors.choices import GrantKind, Level
from connectors.models import Connector, Grant, Identity
from connectors.sync import run_sync
from pipeaccess.models import ApiToken
from pipeaccess.roles import REVIEWER, create_user
from reviews.choices import CampaignState
from reviews.models import Campaign, ReviewerProgress, ReviewItem
from tests.cli import ROOT
from tests.connectors.records import RecordSource

PASSWORD = "reliability-reviewer-passphrase"


def build(reviewers: int, items_each: int) -> dict:
    """Runs inside the child, whose Django uses the target database."""
    logins = [f"member{r}x{i}" for r in range(reviewers) for i in range(items_each)]
    records = [
        ResourceRecord("org:1", "organization", "acme"),
        ResourceRecord("repo:1", "repository", "acme/deploy", parent_external_id="org:1"),
        *[AccountRecord(f"user:{login}", login, email=f"{login}@acme.test") for login in logins],
        *[
            GrantRecord("repo:1", GrantKind.PERMISSION, "push", Level.WRITE, "direct", account_external_id=f"user:{x}")
            for x in logins
        ],
    ]
    connector = Connector.objects.create(name="acme-gh", kind="github", base_url="https://github.example")
    run = run_sync(connector, connector_factory=RecordSource(records))
    if run.status != "succeeded":
        raise RuntimeError(run.error)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="reliability review",
        config={"approve_revocations": False, "on_timeout": "keep"},
        state=CampaignState.OPEN,
        launched_at=now - timedelta(days=1),
        due_at=now + timedelta(days=13),
    )
    grants = {g.account.login: g for g in Grant.objects.current().select_related("account", "resource", "entitlement")}
    people = []
    for r in range(reviewers):
        email = f"reviewer{r}@acme.test"
        user = create_user(email, roles=[REVIEWER], name=f"Reviewer {r}", password=PASSWORD)
        identity = Identity.objects.create(email=email, name=f"Reviewer {r}")
        ReviewerProgress.objects.create(campaign=campaign, reviewer=identity)
        items = []
        for i in range(items_each):
            grant = grants[f"member{r}x{i}"]
            items.append(
                ReviewItem.objects.create(
                    campaign=campaign,
                    grant=grant,
                    grant_key=grant.key,
                    connector=connector,
                    account=grant.account,
                    resource=grant.resource,
                    holder_label=grant.account.login,
                    holder_type=grant.account.type,
                    resource_path=grant.resource.path,
                    resource_type=grant.resource.type,
                    kind=grant.entitlement.kind,
                    permission=grant.entitlement.name,
                    level=grant.entitlement.level,
                    via=grant.via,
                    reviewer=identity,
                    routed_by="users",
                ).pk
            )
        _, token = ApiToken.issue(user, name="reliability")
        people.append({"email": email, "password": PASSWORD, "token": token, "items": items})
    return {"campaign": campaign.pk, "reviewers": people}


def seed(database_url: str, env: dict[str, str], *, reviewers: int, items_each: int) -> dict:
    """:func:`build` in a child process on ``database_url`` (migrated); ``env`` as the app processes get it."""
    code = (
        "import json; from tests.reliability.open_campaign import build; "
        f"print('SEED' + json.dumps(build({int(reviewers)}, {int(items_each)})))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("SEED")), None)
    if result.returncode != 0 or line is None:
        pytest.fail(f"seeding failed:\n{result.stdout}{result.stderr}")
    return json.loads(line[len("SEED") :])
