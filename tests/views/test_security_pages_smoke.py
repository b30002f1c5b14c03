"""Every security-team page renders for the security role and for auditors, on a real synced inventory."""

import pytest
from django.urls import reverse

from connectors.models import Account, Identity, Resource

pytestmark = pytest.mark.django_db


def page_urls(connector):
    run = connector.runs.get()
    account = Account.objects.filter(connector=connector).first()
    resource = Resource.objects.filter(connector=connector, type="organization").get()
    person = Identity.objects.create(email="pat@example.com", name="Pat")
    Account.objects.filter(pk=account.pk).update(identity=person)
    return [
        reverse("home"),
        reverse("connectors:list"),
        reverse("connectors:add"),
        reverse("connectors:detail", kwargs={"name": connector.name}),
        reverse("connectors:edit", kwargs={"name": connector.name}),
        reverse("connectors:run", kwargs={"name": connector.name, "run_id": run.pk}),
        reverse("inventory:accounts"),
        reverse("inventory:accounts") + "?q=a&risk=no_2fa&connector=gh&type=human",
        reverse("inventory:account", kwargs={"pk": account.pk}),
        reverse("inventory:people"),
        reverse("inventory:person", kwargs={"pk": person.pk}),
        reverse("inventory:resources"),
        reverse("inventory:resource", kwargs={"pk": resource.pk}),
        reverse("inventory:changes"),
        reverse("ops:audit"),
        reverse("ops:revocations"),
    ]


def test_every_page_renders_for_the_security_team(security_client, synced):
    for url in page_urls(synced):
        response = security_client.get(url)
        assert response.status_code == 200, url


def test_every_page_renders_read_only_for_auditors(auditor_client, synced):
    for url in page_urls(synced):
        if url.endswith(("/add/", "/edit/")):
            assert auditor_client.get(url).status_code == 403, url
            continue
        response = auditor_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        # The only form an auditor gets is "Sign out".
        assert html.count('method="post"') == 1, url
        assert 'action="/accounts/logout/"' in html
