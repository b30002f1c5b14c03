"""The inventory explorer: search and filters over a synced GitHub organization, person and resource pages."""

import pytest
from django.urls import reverse

from connectors.models import Account, Identity, Resource
from tests.views.pipeline import HOSTILE_LOGINS

pytestmark = pytest.mark.django_db


def test_accounts_are_searched_by_login_name_or_email(security_client, synced):
    login = Account.objects.filter(connector=synced, type="human").exclude(login__contains="<").first().login
    html = security_client.get(reverse("inventory:accounts"), {"q": login[:6]}).content.decode()
    assert login in html
    html = security_client.get(reverse("inventory:accounts"), {"q": "no-such-account"}).content.decode()
    assert "No accounts match." in html


def test_the_risk_filter_keeps_accounts_with_that_signal_on_a_current_grant(security_client, synced):
    # The hostile members were added without two-factor authentication.
    html = security_client.get(reverse("inventory:accounts"), {"risk": "no_2fa"}).content.decode()
    assert "javascript:alert(3)" in html
    owner = Account.objects.get(connector=synced, login="acme-owner")
    assert f'href="/inventory/accounts/{owner.pk}/"' not in html


def test_filters_by_connector_and_type(security_client, synced):
    html = security_client.get(
        reverse("inventory:accounts"), {"connector": "gh", "type": "deploy_key"}
    ).content.decode()
    assert "deploy_key:" in html and "acme-owner" not in html


def test_hostile_names_are_escaped_and_never_become_links(security_client, synced):
    html = security_client.get(reverse("inventory:accounts"), {"q": "<"}).content.decode()
    assert "&lt;script&gt;alert(&quot;login&quot;)&lt;/script&gt;" in html
    for login in HOSTILE_LOGINS:
        assert login not in html or login.isascii() and "<" not in login and '"' not in login
    assert 'href="javascript:' not in html
    html = security_client.get(reverse("inventory:accounts"), {"q": "{{"}).content.decode()
    assert "{{ 7|add:7 }}" in html and "14" not in html.split("{{ 7|add:7 }}")[1][:20]


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("inventory:accounts", {"risk": "no_2fa"}),
        ("inventory:accounts", {"q": "a", "connector": "gh", "type": "human"}),
        ("inventory:people", {"risk": "no_2fa"}),
        ("inventory:people", {"connector": "gh"}),
        ("inventory:resources", {"connector": "gh"}),
        ("inventory:resources", {"risk": "privileged"}),
    ],
)
def test_list_pages_take_a_fixed_number_of_queries(security_client, synced, name, query, django_assert_num_queries):
    # Every account linked to a person of its own, with a manager: a per-row query would show.
    boss = Identity.objects.create(email="boss@example.com")
    for n, account in enumerate(Account.objects.filter(connector=synced)):
        person = Identity.objects.create(email=f"p{n}@example.com", manager=boss)
        Account.objects.filter(pk=account.pk).update(identity=person)
    # user, roles and MFA (pipeaccess.mfa; the menu reuses them), role check, count, page, connector names for
    # the filter; the session comes from the cache (cached_db)
    with django_assert_num_queries(6):
        response = security_client.get(reverse(name), query)
    assert "match." not in response.content.decode()


def test_people_are_listed_with_their_accounts(security_client, synced):
    person = Identity.objects.create(email="sam@example.com", name="Sam Tanaka", department="Platform")
    Account.objects.filter(connector=synced, login="acme-owner").update(identity=person)
    html = security_client.get(reverse("inventory:people"), {"q": "platform"}).content.decode()
    assert "sam@example.com" in html
    html = security_client.get(reverse("inventory:person", kwargs={"pk": person.pk})).content.decode()
    assert "Access across the pipeline" in html and "acme-owner" in html


def test_the_resource_page_lists_who_reaches_it(security_client, synced):
    org = Resource.objects.get(connector=synced, type="organization")
    html = security_client.get(reverse("inventory:resource", kwargs={"pk": org.pk})).content.decode()
    assert "Who can reach it" in html and "acme-owner" in html


def test_the_changes_page_compares_two_runs(security_client, synced, sync_github, github_org):
    github_org.add_member("newcomer-7")
    second = sync_github()
    html = security_client.get(reverse("inventory:changes"), {"connector": "gh"}).content.decode()
    assert "Added (1)" in html and "newcomer-7" in html
    html = security_client.get(
        reverse("inventory:changes"), {"connector": "gh", "from": second.pk, "to": synced.runs.last().pk}
    ).content.decode()
    assert "Choose an earlier run" in html


def test_reviewers_cannot_browse_the_inventory(reviewer_client, synced):
    assert reviewer_client.get(reverse("inventory:accounts")).status_code == 403
    person = Identity.objects.create(email="x@example.com")
    assert reviewer_client.get(reverse("inventory:person", kwargs={"pk": person.pk})).status_code == 403
