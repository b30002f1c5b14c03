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


# (signal, holder login or group path, resource path, why): the grant carries the signal.
FIRES = [
    ("privileged", "ed", "acme", "org owner"),
    ("org_owner_or_admin", "ed", "acme", "via org_owner"),
    ("org_owner_or_admin", "root", "acme", "site administrator account"),
    ("outside", "dora", "acme/api", "outside collaborator"),
    ("outside", "gina", "acme", "external user attribute"),
    ("orphan", "ghost", "acme", "linked to nobody"),
    ("leaver", "bob", "acme", "linked to a leaver"),
    ("no_2fa", "carl", "acme", "2FA reported off"),
    ("inactive", "olga", "acme", "200 days without activity"),
    ("nonhuman_unowned", "dk1", "acme/api", "no owner"),
    ("nonhuman_unowned", "orphaned", "acme/api", "owner is a leaver"),
    ("nonhuman_no_expiry", "dk1", "acme/api", "deploy key without expiry"),
    ("nonhuman_unused", "old", "acme/api", "last active 200 days ago"),
    ("nonhuman_unused", "tok", "acme/api", "last_used_at 300 days ago"),
    ("public", "anonymous", "acme/site", "pseudo-principal"),
    ("public", "acme/team/eng", "acme/site", "public repository"),
    ("direct_bypass", "dora", "acme/api", "human direct grant where teams hold repositories"),
]

# (signal, holder, resource path, why): the grant does not carry the signal.
QUIET = [
    ("privileged", "alice", "acme", "read membership"),
    ("org_owner_or_admin", "alice", "acme", "plain member"),
    ("outside", "alice", "acme", "member"),
    ("orphan", "alice", "acme", "linked"),
    ("orphan", "ci", "acme/api", "robots have owners, not identities"),
    ("leaver", "alice", "acme", "active person"),
    ("no_2fa", "alice", "acme", "2FA on"),
    ("no_2fa", "ghost", "acme", "2FA not reported: unknown, not off"),
    ("inactive", "alice", "acme", "active 5 days ago"),
    ("inactive", "ghost", "acme", "activity never reported"),
    ("nonhuman_unowned", "ci", "acme/api", "owned by an active person"),
    ("nonhuman_no_expiry", "ci", "acme/api", "expires"),
    ("nonhuman_no_expiry", "app:ci", "acme", "app installation tokens last an hour"),
    ("nonhuman_unused", "ci", "acme/api", "used yesterday"),
    ("nonhuman_unused", "dk1", "acme/api", "use not reported"),
    ("public", "acme/team/eng", "acme/api", "private repository"),
    ("direct_bypass", "dk1", "acme/api", "a deploy key is direct by nature"),
    ("direct_bypass", "acme/team/eng", "acme/api", "a team grant"),
]


@pytest.mark.parametrize(("signal", "holder", "resource", "why"), FIRES, ids=[f"{c[0]}-{c[1]}" for c in FIRES])
def test_the_signal_fires(gh, signal, holder, resource, why):
    assert signal in codes(gh, holder, resource), why


@pytest.mark.parametrize(("signal", "holder", "resource", "why"), QUIET, ids=[f"{c[0]}-{c[1]}" for c in QUIET])
def test_the_signal_stays_quiet(gh, signal, holder, resource, why):
    assert signal not in codes(gh, holder, resource), why


def test_inactive_follows_the_configured_days(gh, settings):
    settings.RISK_INACTIVE_DAYS = 365
    refresh(gh)
    assert "inactive" not in codes(gh, "olga", "acme")


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
