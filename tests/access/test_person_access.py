"""person_access: every account and grant of one person across systems, in a fixed number of queries."""

import pytest

from connectors import access, export
from connectors.models import Identity
from tests.access.scenario import build

pytestmark = pytest.mark.django_db


def _alice(alice):
    return Identity.objects.select_related("manager").get(pk=alice.pk)


def _grants(view, connector):
    system = next(s for s in view.systems if s.connector == connector)
    (account,) = system.accounts
    return {(g.resource["path"], g.via, g.through): g for g in account.grants}


def test_it_lists_every_account_grouped_by_system_with_the_person():
    _, _, alice, _ = build()
    view = access.person_access(_alice(alice))
    assert view.person["email"] == "alice@acme.test" and view.person["manager"] == "boss@acme.test"
    assert [(s.connector, s.system, [a.login for a in s.accounts]) for s in view.systems] == [
        ("gh", "github", ["alice"]),
        ("gl", "gitlab", ["alice"]),
    ]
    account = view.systems[0].accounts[0]
    assert (account.link_rule, account.link_confidence) == ("manual", 100)
    assert account.first_seen is not None


def test_it_lists_grants_as_granted_and_what_the_persons_teams_hold():
    _, _, alice, _ = build()
    grants = _grants(access.person_access(_alice(alice)), "gh")
    assert set(grants) == {
        ("acme", "membership", None),
        ("acme/team/eng-ci", "membership", None),
        # A member of the child team reaches the parent team's repository.
        ("acme/api", "team:acme/eng", "acme/team/eng"),
        # The organization's base permission reaches its members, cascading to every repository.
        ("acme", "org_base_permission", "acme"),
    }
    base = grants[("acme", "org_base_permission", "acme")]
    assert (base.cascades_to, base.cascade_level) == (["repository"], "read")
    api = grants[("acme/api", "team:acme/eng", "acme/team/eng")]
    assert (api.level, api.permission, api.first_seen is not None) == ("write", "write", True)


def test_a_cascading_group_membership_reaches_what_its_subgroups_hold_capped_at_the_share():
    _, _, alice, _ = build()
    grants = _grants(access.person_access(_alice(alice)), "gl")
    membership = grants[("acme", "direct", None)]
    assert (membership.level, membership.cascades_to) == ("admin", ["group", "project"])
    assert membership.risk == ["privileged"] and membership.explanations == ["admin on group acme"]
    share = grants[("partners/tool", "shared_group:acme/sub", "acme/sub")]
    assert share.level == "write"  # min(the share's Developer, her Maintainer in acme)
    assert share.risk == []


def test_the_grants_agree_with_the_effective_export_for_the_person():
    gh, gl, alice, _ = build(extra_repos=3)
    view = access.person_access(_alice(alice))
    shown = {
        (s.connector, g.resource["path"], g.via, g.level)
        for s in view.systems
        for a in s.accounts
        for g in a.grants
        if "organization" != g.resource["type"] or g.via != "org_base_permission"  # applies to repositories only
    }
    exported = {
        (r["connector"], r["resource"]["path"], r["via"], r["level"])
        for r in export.rows([gh, gl], export.Filters(person="alice@acme.test"), as_granted=False)
    }
    assert shown <= exported


def test_a_leavers_grants_carry_the_leaver_signal_in_words():
    _, _, _, bob = build()
    view = access.person_access(Identity.objects.get(pk=bob.pk))
    grants = _grants(view, "gh")
    direct = grants[("acme/api", "direct", None)]
    assert direct.risk == ["leaver", "privileged", "direct_bypass"]
    assert direct.explanations[0] == "leaver since 2026-10-01 still holds access"
    through_team = grants[("acme/api", "team:acme/eng", "acme/team/eng")]
    assert through_team.risk == ["leaver"] and through_team.score == 40


def test_a_person_without_accounts_has_an_empty_view():
    build()
    view = access.person_access(Identity.objects.get(email="boss@acme.test"))
    assert view.systems == [] and view.grant_count == 0


@pytest.mark.parametrize("extra_repos", [5, 500])
def test_it_makes_five_queries_whatever_the_number_of_grants(extra_repos, django_assert_num_queries):
    _, _, alice, _ = build(extra_repos=extra_repos)
    identity = _alice(alice)
    with django_assert_num_queries(5):
        view = access.person_access(identity)
    assert view.grant_count == 6 + extra_repos
