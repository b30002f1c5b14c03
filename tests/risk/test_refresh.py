"""refresh(): stored after every sync, incremental, bounded in queries, and explained in words."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors import risk
from connectors.choices import IdentityStatus, Level
from connectors.models import Grant, GrantRisk, Identity
from tests.risk.builders import grant, human, link, member, org, person, refresh, repo, sync, team

pytestmark = pytest.mark.django_db


def small(extra=0):
    logins = ["alice", "bob", *[f"user{i}" for i in range(extra)]]
    return [
        org(),
        team("eng"),
        repo("api"),
        *[human(login) for login in logins],
        *[member("org:1", f"user:{login}") for login in logins],
        grant("repo:api", "team:eng", via="team:acme/eng"),
        grant("repo:api", "user:bob", level=Level.ADMIN),
    ]


def test_every_current_grant_gets_its_row_after_a_sync_without_calling_refresh():
    connector = sync("gh", small())
    current = Grant.objects.current().filter(connector=connector)
    assert GrantRisk.objects.filter(connector=connector).count() == current.count() == 4
    bob = GrantRisk.objects.get(grant__account__login="bob", grant__resource__path="acme/api")
    assert bob.code_list == ["orphan", "privileged", "direct_bypass"]
    assert bob.score == 25 + 25 + 10


def test_a_second_refresh_with_nothing_changed_writes_nothing():
    connector = sync("gh", small())
    assert refresh(connector)["written"] == 0


def test_a_roster_change_shows_after_refresh_all():
    connector = sync("gh", small())
    alice = person("alice@acme.test")
    link(connector, "alice", alice)
    counts = risk.refresh_all()
    assert counts["gh"]["written"] == 1  # alice's membership: orphan -> nothing
    Identity.objects.filter(pk=alice.pk).update(status=IdentityStatus.LEAVER, end_date=date(2026, 10, 1))
    risk.refresh_all()
    assert GrantRisk.objects.get(grant__account__login="alice").code_list == ["leaver"]


def test_rows_of_grants_a_sync_removed_are_deleted():
    connector = sync("gh", small())
    sync("gh", [r for r in small() if getattr(r, "account_external_id", None) != "user:bob"])
    assert not GrantRisk.objects.filter(grant__removed_run__isnull=False).exists()
    assert GrantRisk.objects.filter(connector=connector).count() == 2


def test_weights_come_from_settings(settings):
    connector = sync("gh", small())
    settings.RISK_WEIGHTS = {"orphan": 70, "privileged": 50}
    assert refresh(connector)["written"] == 3  # every flagged score changed although no code did
    assert GrantRisk.objects.get(grant__account__login="bob", grant__resource__path="acme/api").score == 100


def test_refresh_makes_the_same_number_of_queries_for_ten_times_the_grants():
    counts = []
    for name, extra in (("small", 10), ("large", 100)):
        connector = sync(name, small(extra))
        GrantRisk.objects.filter(connector=connector).delete()
        with CaptureQueriesContext(connection) as queries:
            result = refresh(connector)
        assert result["written"] == result["grants"] == 4 + extra
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_score_sums_weights_and_caps_at_100():
    assert risk.score([]) == 0
    assert risk.score(["privileged", "outside"]) == 40
    assert risk.score(["leaver", "org_owner_or_admin", "orphan", "privileged"]) == 100
    assert risk.score(["unknown-code"]) == 0


def test_explain_says_why_in_words():
    sentences = risk.explain(
        ["new_since_review", "privileged", "leaver", "nonhuman_unowned"],
        context={
            "level": Level.ADMIN,
            "resource_type": "repository",
            "resource_path": "acme/api",
            "end_date": date(2026, 10, 1),
            "account_type": "robot",
            "valid_from": "2026-11-20T10:00:00+00:00",
            "reviewed_at": "2026-11-01T00:00:00+00:00",
        },
    )
    assert sentences == [
        "leaver since 2026-10-01 still holds access",
        "admin on repository acme/api",
        "robot without an owner",
        "appeared 2026-11-20, after the last completed review (2026-11-01)",
    ]


def test_explain_without_context_still_makes_sentences():
    assert risk.explain(["orphan", "public", "nonhuman_no_expiry"]) == [
        "account linked to no person",
        "resource is public",
        "account that never expires",
    ]
    assert risk.explain(["public"], context={"account_type": "pseudo", "account_login": "anonymous", "level": "read"})[
        0
    ] == ("read for everyone (anonymous)")
