"""Correlation of accounts to people across systems: rules, confidence, conflicts, manual links, speed."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors import correlation
from connectors.choices import AccountType
from connectors.models import Account, CorrelationConflict, CorrelationRule, Identity
from reviews.models import AuditEvent

from .inventory import Inventory

ROSTER = [
    "ana.silva@acme.example,Ana Silva,,Platform,active,,asilva@old.example",
    "ben.okafor@acme.example,Ben Okafor,ana.silva@acme.example,Platform,active,",
    "cara.chen@acme.example,Cara Chen,ana.silva@acme.example,Payments,active,",
    "dev.kumar@acme.example,Dev Kumar,ana.silva@acme.example,Payments,active,",
    # Two people whose addresses share a local part: "sam" is ambiguous by login.
    "sam@acme.example,Sam Berg,ana.silva@acme.example,Data,active,",
    "sam@contractors.example,Sam Lopez,ana.silva@acme.example,Data,active,",
]


@pytest.fixture
def pipeline(roster):
    """The same people in GitHub (hidden emails, SAML), GitLab (emails, other usernames) and Jenkins (GitLab logins)."""
    roster(*ROSTER)
    github, gitlab, jenkins = Inventory("gh", "github"), Inventory("gl", "gitlab"), Inventory("jk", "jenkins")
    a = {
        # GitHub hides emails; the org's SAML identity names the person.
        "gh:anasilva": github.account("anasilva", attributes={"sso_id": "Ana.Silva@acme.example"}),
        "gh:bokafor": github.account("bokafor", attributes={"sso_id": "ben.okafor@acme.example"}),
        "gh:stranger": github.account("stranger"),
        "gh:renovate": github.account("renovate[bot]", type=AccountType.BOT, email="bot@acme.example"),
        # GitLab shows (verified) emails; an old address still matches through other_emails.
        "gl:asilva": gitlab.account("asilva", email="asilva@old.example"),
        "gl:cchen": gitlab.account("cchen", email="Cara.Chen@ACME.example"),
        "gl:dkumar": gitlab.account("dkumar", email="dev.kumar@acme.example"),
        "gl:invite": gitlab.account("ben.okafor@acme.example", email="ben.okafor@acme.example", state="pending"),
        # Jenkins authenticates through GitLab: same logins.
        "jk:asilva": jenkins.account("asilva"),
        "jk:cchen": jenkins.account("cchen", type=AccountType.USER_OR_GROUP),
        "jk:ghost": jenkins.account("ghost"),
        "jk:sam": jenkins.account("sam"),
    }
    CorrelationRule.objects.create(connector=jenkins.connector, kind="same_login_as", other=gitlab.connector)
    CorrelationRule.objects.create(connector=jenkins.connector, kind="email_local_part")
    return a


def links():
    found = {}
    for a in Account.objects.select_related("connector", "identity"):
        email = a.identity.email if a.identity else None
        found[f"{a.connector.name}:{a.login}"] = (email, a.identity_rule, a.identity_confidence)
    return found


def test_same_person_is_found_in_every_system_by_the_strongest_rule(pipeline):
    counts = correlation.correlate()

    found = links()
    assert found["gh:anasilva"] == ("ana.silva@acme.example", "sso", 95)
    assert found["gh:bokafor"] == ("ben.okafor@acme.example", "sso", 95)
    assert found["gl:asilva"] == ("ana.silva@acme.example", "email", 90)
    assert found["gl:cchen"] == ("cara.chen@acme.example", "email", 90)
    assert found["gl:ben.okafor@acme.example"] == ("ben.okafor@acme.example", "email", 90)  # an invitation
    assert found["jk:asilva"] == ("ana.silva@acme.example", "login_rule", 70)
    assert found["jk:cchen"] == ("cara.chen@acme.example", "login_rule", 70)
    # Nobody: orphans stay unlinked; non-human accounts are owned, never linked.
    assert found["gh:stranger"] == (None, "", None)
    assert found["jk:ghost"] == (None, "", None)
    assert found["gh:renovate[bot]"] == (None, "", None)
    assert counts["linked"] == 8
    assert counts["conflicts"] == 1


def test_email_local_part_rule_links_with_lower_confidence(roster):
    roster("zoe@acme.example,Zoe,,,active,")
    jenkins = Inventory("jk", "jenkins")
    zoe = jenkins.account("ZOE")
    CorrelationRule.objects.create(connector=jenkins.connector, kind="email_local_part")

    correlation.correlate(jenkins.connector)

    zoe.refresh_from_db()
    assert (zoe.identity.email, zoe.identity_rule, zoe.identity_confidence) == ("zoe@acme.example", "login_rule", 60)


def test_two_candidates_make_a_conflict_not_a_link(pipeline):
    correlation.correlate()

    sam = pipeline["jk:sam"]
    sam.refresh_from_db()
    assert sam.identity is None
    conflicts = CorrelationConflict.objects.filter(account=sam)
    assert sorted(c.identity.email for c in conflicts) == ["sam@acme.example", "sam@contractors.example"]
    assert {c.rule for c in conflicts} == {"login_rule"}

    out = _call("conflicts", "--format", "json")
    assert json.loads(out) == [
        {
            "connector": "jk",
            "login": "sam",
            "email": "",
            "rule": "login_rule",
            "candidates": ["sam@acme.example", "sam@contractors.example"],
        }
    ]


def test_conflict_is_cleared_once_the_evidence_is_unique(pipeline, roster):
    correlation.correlate()

    roster(*ROSTER[:5], partial=False)  # the contractor leaves the roster... but stays a (leaver) person
    assert CorrelationConflict.objects.filter(account=pipeline["jk:sam"]).count() == 2

    Identity.objects.filter(email="sam@contractors.example").update(email="s.lopez@contractors.example")
    correlation.correlate()

    assert not CorrelationConflict.objects.exists()
    pipeline["jk:sam"].refresh_from_db()
    assert pipeline["jk:sam"].identity.email == "sam@acme.example"


def test_conflict_is_cleared_by_a_manual_link(pipeline):
    correlation.correlate()
    sam = Identity.objects.get(email="sam@acme.example")

    correlation.link(pipeline["jk:sam"], sam, actor=None, reason="asked Sam")

    assert not CorrelationConflict.objects.exists()
    correlation.correlate()
    assert not CorrelationConflict.objects.exists()


def test_a_link_whose_evidence_disappeared_is_removed(pipeline):
    correlation.correlate()

    Account.objects.filter(pk=pipeline["gl:dkumar"].pk).update(email="dk@personal.example")
    counts = correlation.correlate()

    assert links()["gl:dkumar"] == (None, "", None)
    assert counts["unlinked"] == 1


def test_jenkins_links_follow_gitlab_when_only_gitlab_is_correlated(pipeline):
    gitlab = pipeline["gl:asilva"].connector
    correlation.correlate(gitlab)

    # The Jenkins rule depends on GitLab's links, so correlating GitLab re-correlated Jenkins too.
    assert links()["jk:asilva"] == ("ana.silva@acme.example", "login_rule", 70)


def test_manual_link_survives_resync_and_reimport(pipeline, roster):
    correlation.correlate()
    ghost = Account.objects.get(login="ghost")
    dev = Identity.objects.get(email="dev.kumar@acme.example")

    correlation.link(ghost, dev, actor=None, reason="Dev's old Jenkins user")
    correlation.correlate()
    roster(*ROSTER)

    assert links()["jk:ghost"] == ("dev.kumar@acme.example", "manual", 100)


def test_manual_link_overrides_a_rule_and_is_never_overwritten(pipeline, security_user):
    correlation.correlate()
    cara = Identity.objects.get(email="cara.chen@acme.example")

    correlation.link(pipeline["gl:dkumar"], cara, actor=security_user, reason="shared mailbox, Cara uses it")
    correlation.correlate()

    assert links()["gl:dkumar"] == ("cara.chen@acme.example", "manual", 100)
    event = AuditEvent.objects.get(action="account.link")
    assert event.actor_id == security_user.pk
    assert event.data["account"] == "gl:dkumar"
    assert event.data["identity"] == "cara.chen@acme.example"
    assert event.data["previous"] == "dev.kumar@acme.example"
    assert event.data["reason"] == "shared mailbox, Cara uses it"


def test_unlink_by_hand_keeps_the_account_unlinked(pipeline):
    correlation.correlate()

    correlation.unlink(pipeline["gl:cchen"], actor=None, reason="a test account Cara made")
    correlation.correlate()

    assert links()["gl:cchen"] == (None, "unlinked", None)
    assert AuditEvent.objects.filter(action="account.unlink").count() == 1


def test_release_hands_an_account_back_to_the_rules(pipeline):
    correlation.correlate()
    correlation.unlink(pipeline["gl:cchen"], actor=None, reason="mistake")

    correlation.release(pipeline["gl:cchen"], actor=None, reason="it was Cara's after all")

    assert links()["gl:cchen"] == ("cara.chen@acme.example", "email", 90)


def test_manual_changes_need_a_reason(pipeline):
    with pytest.raises(correlation.CorrelationError, match="reason is required"):
        correlation.unlink(pipeline["gl:cchen"], actor=None, reason="  ")
    assert not AuditEvent.objects.filter(action="account.unlink").exists()


def test_identity_of_user_is_by_email_case_insensitively(roster, make_user):
    roster("ana.silva@acme.example,Ana,,,active,")
    user = make_user("Ana.Silva@ACME.example")
    other = make_user("nobody@acme.example")

    assert correlation.identity_of_user(user).email == "ana.silva@acme.example"
    assert correlation.identity_of_user(other) is None


def test_cli_link_unlink_and_rules(pipeline, security_user):
    out = _call("link", "jk:ghost", "Dev.Kumar@acme.example", "--reason", "old user", "--user", security_user.email)
    assert "linked jk:ghost to dev.kumar@acme.example (manual)" in out
    assert AuditEvent.objects.get(action="account.link").actor_id == security_user.pk

    _call("unlink", "jk:ghost", "--reason", "not Dev after all")
    assert links()["jk:ghost"] == (None, "unlinked", None)
    assert AuditEvent.objects.get(action="account.unlink").actor_label.startswith("cli:")

    with pytest.raises(CommandError, match="the following arguments are required: --reason"):
        _call("unlink", "jk:ghost")
    with pytest.raises(CommandError, match="no account 'nobody' in jk"):
        _call("link", "jk:nobody", "dev.kumar@acme.example", "--reason", "x")
    with pytest.raises(CommandError, match="bot account; set its owner instead"):
        _call("link", "gh:renovate[bot]", "dev.kumar@acme.example", "--reason", "x")
    with pytest.raises(CommandError, match="is not a user with the security role"):
        _call("link", "jk:ghost", "dev.kumar@acme.example", "--reason", "x", "--user", "nobody@acme.example")

    rules = _call("rule", "list")
    assert "jk\tsame_login_as gl" in rules and "jk\temail_local_part" in rules
    _call("rule", "remove", "jk", "--email-local-part")
    _call("rule", "add", "gh", "--same-login-as", "gl")
    with pytest.raises(CommandError, match="rule already exists"):
        _call("rule", "add", "gh", "--same-login-as", "gl")
    assert set(CorrelationRule.objects.values_list("connector__name", "kind")) == {
        ("jk", "same_login_as"),
        ("gh", "same_login_as"),
    }
    assert AuditEvent.objects.filter(action__startswith="correlation_rule.").count() == 2


def test_show_lists_linked_accounts_with_rule_and_confidence(pipeline):
    correlation.correlate()

    shown = json.loads(_call("show", "ana.silva@acme.example", "--format", "json"))

    assert {(a["connector"], a["login"], a["rule"], a["confidence"]) for a in shown["accounts"]} == {
        ("gh", "anasilva", "sso", 95),
        ("gl", "asilva", "email", 90),
        ("jk", "asilva", "login_rule", 70),
    }
    text = _call("show", "ana.silva@acme.example")
    assert "gl:asilva  human  email 90" in text


@pytest.mark.parametrize("size", [10, 200])
def test_correlation_makes_a_fixed_number_of_queries(roster, django_assert_max_num_queries, size):
    roster(*(f"p{i}@acme.example,P {i},,,active," for i in range(size)))
    gitlab, jenkins = Inventory("gl", "gitlab"), Inventory("jk", "jenkins")
    for i in range(size):
        gitlab.account(f"p{i}", email=f"p{i}@acme.example" if i % 5 else "")
        jenkins.account(f"p{i}")
        jenkins.account(f"p{i}.sso", attributes={"sso_id": f"p{i}@acme.example"})
    CorrelationRule.objects.create(connector=jenkins.connector, kind="same_login_as", other=gitlab.connector)
    CorrelationRule.objects.create(connector=gitlab.connector, kind="email_local_part")
    Identity.objects.create(email="p0@other.example", source="manual")  # GitLab "p0" (no email): a conflict

    # identities, rules, accounts, linked logins, conflicts; writes; the audit event (lock, last, insert)
    with django_assert_max_num_queries(16):
        counts = correlation.correlate()

    assert counts["linked"] == 3 * size - 2  # GitLab p0 conflicts, so Jenkins p0 has nothing to follow
    assert counts["conflicts"] == 1
    with django_assert_max_num_queries(7):  # the five reads, and the savepoint pair
        assert correlation.correlate()["unchanged"] == 3 * size


def _call(*args) -> str:
    out = io.StringIO()
    call_command("people", *args, stdout=out)
    return out.getvalue()


def test_text_output_shows_control_characters_in_synced_names_escaped(roster):
    roster("eve@acme.example,Eve,,,active,")
    jenkins = Inventory("jk", "jenkins")
    jenkins.account("eve\x1b[2J\u202egpj", email="eve@acme.example")
    correlation.correlate()

    out = _call("show", "eve@acme.example")

    assert "\x1b" not in out and "\u202e" not in out
    assert "jk:eve\\x1b[2J\\u202egpj" in out
