"""People through real syncs: GitLab and Jenkins simulators over HTTP, the sync engine and its post-sync hooks."""

import contextlib
import functools

import pytest

from connectors import correlation
from connectors.actions import do_add_connector
from connectors.choices import SyncStatus
from connectors.client import build_connector
from connectors.models import Account, CorrelationRule, Identity, Resource
from connectors.simulators.gitlab import GitLabOrg, GitLabSimulator
from connectors.simulators.jenkins import JenkinsOrg, JenkinsSimulator
from connectors.sync import run_sync
from tests.fakes import FakeTime

GITLAB_TOKEN = "glpat-people-admin-0123456789"
JENKINS_TOKEN = "11e2e0jenkins0people0token0a"
ROSTER = [
    "ann.lee@acme.example,Ann Lee,,Platform,active,,ann@example.test",
    "bo.park@acme.example,Bo Park,ann.lee@acme.example,Platform,active,,bo@example.test",
    "cid.khan@acme.example,Cid Khan,ann.lee@acme.example,Payments,active,,cid@example.test",
]


def gitlab_org() -> GitLabOrg:
    org = GitLabOrg()
    org.add_user("root", is_admin=True)
    org.add_token("root", GITLAB_TOKEN)
    org.add_group("acme")
    org.add_group("payments", parent="acme")
    org.add_project("ledger", group="acme/payments")
    # Usernames differ from the HR addresses; GitLab's (admin-visible) emails tie them to people.
    for username in ("ann", "bo", "cid", "zed"):
        org.add_user(username)
    org.add_member("acme", "root", 50)
    org.add_member("acme", "ann", 50)
    org.add_member("acme/payments", "cid", 50)
    org.add_member("acme/payments", "bo", 30)
    org.add_member("acme/payments", "zed", 30)  # nobody on the roster: an orphan
    org.add_access_token("acme/payments", "ci", 30, ("read_api",))
    return org


def jenkins_org() -> JenkinsOrg:
    org = JenkinsOrg("roleBased")
    org.add_user("admin", admin=True, api_token=JENKINS_TOKEN)
    for user in ("ann", "bo", "zed"):  # Jenkins authenticates through GitLab: the same logins
        org.add_user(user)
    org.add_item("deploy", "job")
    org.add_role("globalRoles", "admin", ["hudson.model.Hudson.Administer"], sids=[("USER", "admin")])
    deployers = [("USER", "ann"), ("USER", "bo"), ("USER", "zed")]
    org.add_role("projectRoles", "deployers", ["hudson.model.Item.Build"], "deploy", sids=deployers)
    return org


@pytest.fixture
def systems(db, monkeypatch):
    fake_time = FakeTime(1_800_000_000.0)
    factory = functools.partial(
        build_connector, sleep=fake_time.sleep, clock=fake_time.clock, timeout=2, max_retries=2, max_concurrency=4
    )
    monkeypatch.setenv("PEOPLE_GITLAB_TOKEN", GITLAB_TOKEN)
    monkeypatch.setenv("PEOPLE_JENKINS_TOKEN", JENKINS_TOKEN)
    gl_org, jk_org = gitlab_org(), jenkins_org()
    with contextlib.ExitStack() as stack:
        gl_sim = stack.enter_context(GitLabSimulator(gl_org, clock=fake_time.clock))
        jk_sim = stack.enter_context(JenkinsSimulator(jk_org, clock=fake_time.clock))
        gitlab = do_add_connector(
            name="gitlab",
            kind="gitlab",
            base_url=gl_sim.url,
            options={"group": ["acme"], "allow_private_network": "true"},
            secrets={"token": "env:PEOPLE_GITLAB_TOKEN"},
        )
        jenkins = do_add_connector(
            name="jenkins",
            kind="jenkins",
            base_url=jk_sim.url,
            options={"username": "admin", "allow_private_network": "true"},
            secrets={"token": "env:PEOPLE_JENKINS_TOKEN"},
        )

        def sync(connector):
            run = run_sync(connector, connector_factory=factory)
            assert run.status == SyncStatus.SUCCEEDED, run.error
            assert "hooks_failed" not in run.counts
            return run

        yield {"gitlab": gitlab, "jenkins": jenkins, "gl_org": gl_org, "sync": sync}


def linked(connector) -> dict[str, tuple]:
    return {
        a.login: (a.identity.email if a.identity else None, a.identity_rule)
        for a in Account.objects.filter(connector=connector, type="human", present=True).select_related("identity")
    }


def test_a_sync_links_accounts_to_people_and_gives_groups_their_owners(systems, roster):
    roster(*ROSTER)
    CorrelationRule.objects.create(connector=systems["jenkins"], kind="same_login_as", other=systems["gitlab"])

    systems["sync"](systems["gitlab"])
    systems["sync"](systems["jenkins"])

    assert linked(systems["gitlab"]) == {
        "root": (None, ""),
        "ann": ("ann.lee@acme.example", "email"),
        "bo": ("bo.park@acme.example", "email"),
        "cid": ("cid.khan@acme.example", "email"),
        "zed": (None, ""),
    }
    jenkins = linked(systems["jenkins"])
    assert jenkins["ann"] == ("ann.lee@acme.example", "login_rule")
    assert jenkins["bo"] == ("bo.park@acme.example", "login_rule")
    assert jenkins["zed"] == (None, "")
    resources = Resource.objects.filter(connector=systems["gitlab"]).select_related("owner")
    owners = {r.path: (r.owner.email if r.owner else None, r.owner_rule) for r in resources}
    assert owners["acme"] == ("ann.lee@acme.example", "group_owner")  # root is an owner too, but nobody's
    assert owners["acme/payments"] == ("cid.khan@acme.example", "group_owner")
    assert owners["acme/payments/ledger"] == ("cid.khan@acme.example", "group_owner")
    token = Account.objects.get(connector=systems["gitlab"], type="access_token")
    assert token.identity is None and token.owner is None  # a bot is owned, not a person; nobody owns this one


def test_roster_import_before_or_after_the_sync_gives_the_same_links(systems, roster):
    systems["sync"](systems["gitlab"])
    assert set(linked(systems["gitlab"]).values()) == {(None, "")}

    roster(*ROSTER)

    assert linked(systems["gitlab"])["bo"] == ("bo.park@acme.example", "email")


def test_a_manual_link_survives_resyncs_and_reimports(systems, roster):
    roster(*ROSTER)
    systems["sync"](systems["gitlab"])
    zed = Account.objects.get(connector=systems["gitlab"], login="zed")
    correlation.link(zed, Identity.objects.get(email="cid.khan@acme.example"), actor=None, reason="Cid's test user")

    systems["gl_org"].add_member("acme", "zed", 10)  # something changes upstream
    systems["sync"](systems["gitlab"])
    roster(*ROSTER)

    assert linked(systems["gitlab"])["zed"] == ("cid.khan@acme.example", "manual")


def test_a_leaver_after_a_full_import_keeps_the_link(systems, roster):
    roster(*ROSTER)
    systems["sync"](systems["gitlab"])

    report = roster(*ROSTER[:2])

    assert report.leavers == ["cid.khan@acme.example"]
    cid = Account.objects.select_related("identity").get(connector=systems["gitlab"], login="cid")
    assert (cid.identity.email, cid.identity.status) == ("cid.khan@acme.example", "leaver")
