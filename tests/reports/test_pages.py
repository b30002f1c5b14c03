"""Report pages: security and auditors only, fixed query counts, hostile names escaped, downloads audited."""

import csv
import io
import json
import zipfile

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews import campaigns, evidence, reports
from reviews.models import AuditEvent

from .conftest import HOSTILE, HOSTILE_JUSTIFICATION

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_urls(campaign) -> list[str]:
    return [
        reverse("reports:index"),
        reverse("reports:campaign", kwargs={"pk": campaign.pk}),
        *[reverse("reports:inventory", kwargs={"kind": kind}) for kind in reports.INVENTORY],
    ]


def download_urls(campaign) -> list[str]:
    return [
        *[reverse("reports:campaign_download", kwargs={"pk": campaign.pk, "fmt": f}) for f in ("csv", "json", "pdf")],
        reverse("reports:campaign_evidence", kwargs={"pk": campaign.pk}),
        reverse("reports:inventory_download", kwargs={"kind": "admins", "fmt": "csv"}),
    ]


def test_reviewers_and_people_without_a_role_get_403_and_export_nothing(closed, reviewer_user, user_without_role):
    for user in (reviewer_user, user_without_role):
        client = client_for(user)
        for url in page_urls(closed) + download_urls(closed):
            assert client.get(url).status_code == 403, url
    assert not AuditEvent.objects.filter(action__startswith="report.").exists()


def test_anonymous_visitors_are_sent_to_the_login_page(closed):
    response = Client().get(reverse("reports:campaign", kwargs={"pk": closed.pk}))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", ["security_user", "auditor_user"])
def test_security_and_auditors_see_every_page(closed, role, request):
    client = client_for(request.getfixturevalue(role))
    for url in page_urls(closed):
        response = client.get(url)
        assert response.status_code == 200, url


def test_the_campaign_page_escapes_hostile_names_and_links_the_downloads(closed, auditor_user):
    html = client_for(auditor_user).get(reverse("reports:campaign", kwargs={"pk": closed.pk})).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert ESCAPED in html
    assert "second line" in html  # the justification is shown (escaped)
    for url in download_urls(closed)[:4]:
        assert f'href="{url}"' in html
    assert "Completion over time" in html and "Exceptions" in html and "timed_out" in html


def test_inventory_pages_escape_hostile_names(inventory, security_user):
    client = client_for(security_user)
    for kind in ("admins", "outside", "orphaned"):
        html = client.get(reverse("reports:inventory", kwargs={"kind": kind})).content.decode()
        assert "<script>alert(1)</script>" not in html and ESCAPED in html, kind


def test_page_query_counts_are_fixed(closed, security_user, django_assert_max_num_queries):
    client = client_for(security_user)
    client.get(reverse("reports:index"))  # session and role lookups warmed
    with django_assert_max_num_queries(18):
        assert client.get(reverse("reports:campaign", kwargs={"pk": closed.pk})).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(reverse("reports:index")).status_code == 200
    for kind in ("admins", "outside", "orphaned", "leavers", "nonhuman", "public"):
        with django_assert_max_num_queries(8):
            assert client.get(reverse("reports:inventory", kwargs={"kind": kind})).status_code == 200


def test_campaign_page_queries_do_not_grow_with_exceptions_and_revocations(closed, launched, security_user):
    client = client_for(security_user)
    url = reverse("reports:campaign", kwargs={"pk": closed.pk})
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    # Another campaign with every item timed out and revoked (more exceptions, more revocations).
    other = launched(on_timeout="revoke", name="everything")
    campaigns.close(other)
    assert other.items.filter(timed_out=True).count() > closed.items.filter(timed_out=True).count()
    with CaptureQueriesContext(connection) as large:
        client.get(reverse("reports:campaign", kwargs={"pk": other.pk}))
    assert len(large) == len(small)


def test_downloads_are_neutralized_and_audited(closed, auditor_user):
    client = client_for(auditor_user)
    response = client.get(reverse("reports:campaign_download", kwargs={"pk": closed.pk, "fmt": "csv"}))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith(f'attachment; filename="campaign-{closed.pk}-report-')
    parsed = list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))
    assert {"'" + HOSTILE, "acme/team/eng"} <= {r["holder"] for r in parsed}
    assert "'" + HOSTILE_JUSTIFICATION in {r["justification"] for r in parsed}
    doc = json.loads(client.get(reverse("reports:campaign_download", kwargs={"pk": closed.pk, "fmt": "json"})).content)
    assert doc["campaign"]["id"] == closed.pk
    pdf = client.get(reverse("reports:campaign_download", kwargs={"pk": closed.pk, "fmt": "pdf"}))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    inventory = client.get(reverse("reports:inventory_download", kwargs={"kind": "outside", "fmt": "json"}))
    assert {r["login"] for r in json.loads(inventory.content)["rows"]} == {HOSTILE, "dave"}
    events = AuditEvent.objects.filter(action="report.exported").order_by("seq")
    assert [(e.actor_label, e.data["report"], e.data["format"]) for e in events] == [
        ("carol@example.com", "campaign", "csv"),
        ("carol@example.com", "campaign", "json"),
        ("carol@example.com", "campaign", "pdf"),
        ("carol@example.com", "inventory:outside", "json"),
    ]


def test_the_evidence_package_downloads_for_a_closed_campaign_only(closed, launched, security_user):
    client = client_for(security_user)
    response = client.get(reverse("reports:campaign_evidence", kwargs={"pk": closed.pk}))
    assert response["Content-Type"] == "application/zip"
    assert evidence.verify(io.BytesIO(response.content)).ok
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert sorted(zf.namelist()) == sorted([*evidence.FILES, evidence.MANIFEST])
    event = AuditEvent.objects.get(action="report.evidence_exported")
    assert (event.actor_label, event.campaign_id) == ("alice@example.com", closed.pk)
    open_one = launched(name="still open")
    response = client.get(reverse("reports:campaign_evidence", kwargs={"pk": open_one.pk}), follow=True)
    assert "closed campaign only" in response.content.decode()
    assert AuditEvent.objects.filter(action="report.evidence_exported").count() == 1


def test_inventory_filters_with_bad_input_show_the_error(inventory, security_user):
    client = client_for(security_user)
    url = reverse("reports:inventory", kwargs={"kind": "changes"})
    html = client.get(url, {"since": "soon", "until": "2026-01-01"}).content.decode()
    assert "is not an ISO 8601 date" in html
    html = client.get(reverse("reports:inventory", kwargs={"kind": "access-at"}), {"resource": "acme-gh:acme/r2"})
    assert "anonymous" in html.content.decode()
    assert client.get(reverse("reports:inventory", kwargs={"kind": "nope"})).status_code == 404
    bad = client.get(reverse("reports:inventory_download", kwargs={"kind": "changes", "fmt": "csv"}), follow=True)
    assert "--since and --until" in bad.content.decode()
