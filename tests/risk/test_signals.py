"""Every risk signal fires where it should and stays quiet where it should not, on a synced inventory."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.base import ResourceRecord
from connectors.choices import AccountType, Level
from connectors.models import GrantRisk
from reviews.models import Campaign
from tests.risk.builders import (
    codes,
    days_ago,
    grant,
    human,
    link,
    member,
    nonhuman,
    org,
    own,
    person,
    refresh,
    repo,
    sync,
    team,
)

pytestmark = pytest.mark.django_db


def records():
    return [
        org(),
        team("eng"),
        repo("api"),
        repo("site", visibility="public"),
        human("alice", two_factor=True, last_active_at=days_ago(5)),
        human("bob"),
        human("ghost"),
        human("carl", two_factor=False),
        human("dora", is_outside=True),
        human("gina", attributes={"external": True}),
        human("olga", last_active_at=days_ago(200)),
        human("root", is_admin=True),
        human("ed"),
        nonhuman("dk1", AccountType.DEPLOY_KEY),
        nonhuman("ci", attributes={"expires_at": "2030-01-01T00:00:00+00:00"}, last_active_at=days_ago(1)),
        nonhuman("old", attributes={"expires_at": "2030-01-01T00:00:00+00:00"}, last_active_at=days_ago(200)),
        nonhuman("orphaned", attributes={"expires_at": "2030-01-01T00:00:00+00:00"}),
        nonhuman(
            "tok",
            AccountType.ACCESS_TOKEN,
            attributes={"expires_at": "2030-01-01", "last_used_at": days_ago(300).isoformat()},
        ),
        nonhuman("app:ci", AccountType.APP_INSTALLATION),
        nonhuman("anonymous", AccountType.PSEUDO),
        *[member("org:1", f"user:{login}") for login in ("alice", "bob", "ghost", "carl", "gina", "olga", "root")],
        member("team:eng", "user:alice"),
        grant("org:1", "user:ed", level=Level.OWNER, via="org_owner", kind="membership", cascade_to=("repository",)),
        grant("repo:api", "team:eng", via="team:acme/eng"),
        grant("repo:site", "team:eng", level=Level.READ, via="team:acme/eng"),
        grant("repo:api", "user:dora"),
        grant("repo:api", "deploy_key:dk1"),
        *[grant("repo:api", f"robot:{login}", level=Level.READ) for login in ("ci", "old", "orphaned")],
        grant("repo:api", "access_token:tok", level=Level.READ),
        grant("org:1", "app_installation:app:ci", level=Level.READ),
        grant("repo:site", "pseudo:anonymous", level=Level.READ),
        grant(
            "org:1",
            "org:1",
            level=Level.READ,
            via="org_base_permission",
            cascade_to=("repository",),
            applies_to_self=False,
        ),
    ]


@pytest.fixture
def gh():
    connector = sync("gh", records())
    alice = person("alice@acme.test")
    leaver = person("bob@acme.test", leaver=True)
    for login in ("alice", "carl", "dora", "gina", "olga", "root", "ed"):
        link(connector, login, person(f"{login}@acme.test") if login != "alice" else alice)
    link(connector, "bob", leaver)
    for robot in ("ci", "old", "tok"):
        own(connector, robot, alice)
    own(connector, "orphaned", leaver)
    refresh(connector)
    return connector


def test_privileged_fires_on_admin_or_owner_and_not_on_read(gh):
    assert "privileged" in codes(gh, "ed", "acme")
    assert "privileged" not in codes(gh, "alice", "acme")


def test_org_owner_or_admin_fires_for_owners_and_admin_accounts_only(gh):
    assert "org_owner_or_admin" in codes(gh, "ed", "acme")
    assert "org_owner_or_admin" in codes(gh, "root", "acme")
    assert "org_owner_or_admin" not in codes(gh, "alice", "acme")


def test_outside_fires_for_outside_collaborators_and_external_users(gh):
    assert "outside" in codes(gh, "dora", "acme/api")
    assert "outside" in codes(gh, "gina", "acme")
    assert "outside" not in codes(gh, "alice", "acme")


def test_orphan_fires_for_a_human_account_linked_to_nobody(gh):
    assert "orphan" in codes(gh, "ghost", "acme")
    assert "orphan" not in codes(gh, "alice", "acme")
    assert "orphan" not in codes(gh, "ci", "acme/api")  # robots have owners, not identities


def test_leaver_fires_while_a_leaver_still_holds_access(gh):
    assert "leaver" in codes(gh, "bob", "acme")
    assert "leaver" not in codes(gh, "alice", "acme")


def test_no_2fa_fires_only_when_the_upstream_says_it_is_off(gh):
    assert "no_2fa" in codes(gh, "carl", "acme")
    assert "no_2fa" not in codes(gh, "alice", "acme")
    assert "no_2fa" not in codes(gh, "ghost", "acme")  # not reported: unknown, not off


def test_inactive_fires_past_the_configured_days_where_activity_is_reported(gh, settings):
    assert "inactive" in codes(gh, "olga", "acme")
    assert "inactive" not in codes(gh, "alice", "acme")
    assert "inactive" not in codes(gh, "ghost", "acme")  # never reported
    settings.RISK_INACTIVE_DAYS = 365
    refresh(gh)
    assert "inactive" not in codes(gh, "olga", "acme")


def test_nonhuman_unowned_fires_without_an_owner_or_with_a_leaver_as_owner(gh):
    assert "nonhuman_unowned" in codes(gh, "dk1", "acme/api")
    assert "nonhuman_unowned" in codes(gh, "orphaned", "acme/api")
    assert "nonhuman_unowned" not in codes(gh, "ci", "acme/api")


def test_nonhuman_no_expiry_fires_for_credentials_that_never_expire(gh):
    assert "nonhuman_no_expiry" in codes(gh, "dk1", "acme/api")
    assert "nonhuman_no_expiry" not in codes(gh, "ci", "acme/api")
    assert "nonhuman_no_expiry" not in codes(gh, "app:ci", "acme")  # app tokens last an hour


def test_nonhuman_unused_fires_from_last_activity_or_last_use(gh):
    assert "nonhuman_unused" in codes(gh, "old", "acme/api")
    assert "nonhuman_unused" in codes(gh, "tok", "acme/api")
    assert "nonhuman_unused" not in codes(gh, "ci", "acme/api")
    assert "nonhuman_unused" not in codes(gh, "dk1", "acme/api")  # GitHub does not report deploy key use


def test_public_fires_for_anonymous_and_for_public_resources(gh):
    assert "public" in codes(gh, "anonymous", "acme/site")
    assert "public" in codes(gh, "acme/team/eng", "acme/site")
    assert "public" not in codes(gh, "acme/team/eng", "acme/api")


def test_direct_bypass_fires_for_a_humans_direct_grant_where_teams_are_used(gh):
    assert "direct_bypass" in codes(gh, "dora", "acme/api")
    assert "direct_bypass" not in codes(gh, "dk1", "acme/api")  # a deploy key is direct by nature
    assert "direct_bypass" not in codes(gh, "acme/team/eng", "acme/api")


def test_direct_bypass_is_quiet_where_the_system_grants_nothing_through_groups():
    harbor = sync(
        "hb",
        [
            ResourceRecord("project:1", "project", "web"),
            human("zoe"),
            grant("project:1", "user:zoe", level=Level.WRITE),
        ],
        kind="harbor",
    )
    refresh(harbor)
    assert "direct_bypass" not in codes(harbor, "zoe", "web")


def _closed_review(*, launched_at, connectors=()):
    return Campaign.objects.create(
        name="q3",
        config={"scope": {"connectors": list(connectors)}},
        state="closed",
        launched_at=launched_at,
        due_at=launched_at + timedelta(days=14),
        closed_at=launched_at + timedelta(days=14),
    )


def test_new_since_review_fires_for_access_that_appeared_after_the_last_completed_review(gh):
    _closed_review(launched_at=timezone.now())
    sync("gh", [*records(), human("newbie"), member("org:1", "user:newbie")])
    assert "new_since_review" in codes(gh, "newbie", "acme")
    assert "new_since_review" not in codes(gh, "alice", "acme")


def test_new_since_review_ignores_reviews_of_other_connectors_and_open_ones(gh):
    _closed_review(launched_at=timezone.now(), connectors=["other"])
    Campaign.objects.create(
        name="open", config={}, state="open", launched_at=timezone.now(), due_at=timezone.now() + timedelta(days=1)
    )
    sync("gh", [*records(), human("newbie"), member("org:1", "user:newbie")])
    assert "new_since_review" not in codes(gh, "newbie", "acme")


def test_a_group_principal_gets_only_the_signals_of_its_grant(gh):
    assert codes(gh, "acme/team/eng", "acme/api") == []
    assert codes(gh, "acme", "acme", via="org_base_permission") == []


def test_scores_sum_the_weights_and_order_by_risk(gh):
    ed = GrantRisk.objects.get(grant__account__login="ed")
    assert ed.score == 25 + 30  # privileged + org_owner_or_admin
    alice = GrantRisk.objects.get(grant__account__login="alice", grant__resource__path="acme")
    assert (alice.score, alice.codes) == (0, ",")
