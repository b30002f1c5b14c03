"""/api/v1/reports/: JSON reports for the security team and auditors, token or session; reviewers are refused."""

from django.urls import reverse

from pipeaccess.models import ApiToken
from reviews.models import AuditEvent

from .conftest import HOSTILE


def token_client(client, user, *, read_only=True):
    _, raw = ApiToken.issue(user, read_only=read_only)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {raw}"
    return client


def test_the_campaign_report_over_the_api(closed, auditor_user, client):
    api = token_client(client, auditor_user)
    response = api.get(reverse("api:report_campaign", kwargs={"pk": closed.pk}))
    assert response.status_code == 200
    body = response.json()
    assert body["campaign"]["id"] == closed.pk
    assert len(body["decisions"]) == closed.items.count()
    assert {e.data["format"] for e in AuditEvent.objects.filter(action="report.exported")} == {"api"}
    assert api.get(reverse("api:report_campaign", kwargs={"pk": 9999})).status_code == 404


def test_inventory_reports_over_the_api(inventory, security_user, client):
    api = token_client(client, security_user)
    body = api.get(reverse("api:report_inventory", kwargs={"kind": "outside"})).json()
    assert {r["login"] for r in body["rows"]} == {HOSTILE, "dave"}
    bad = api.get(reverse("api:report_changes"), {"since": "soon", "until": "2026-01-01T00:00Z"})
    assert bad.status_code == 400 and "not an ISO 8601" in bad.json()["detail"]
    missing = api.get(reverse("api:report_changes"), {"since": "2026-01-01T00:00Z"})
    assert missing.status_code == 400 and "--since and --until" in missing.json()["detail"]
    window = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    added = api.get(reverse("api:report_changes"), window).json()["rows"]
    assert {r["change"] for r in added} == {"added"} and len(added) >= 10
    reversed_window = {"since": window["until"], "until": window["since"]}
    assert api.get(reverse("api:report_changes"), reversed_window).json()["rows"] == []
    assert api.get(reverse("api:report_inventory", kwargs={"kind": "nope"})).status_code == 404
    at = api.get(reverse("api:report_access_at"), {"resource": "acme-gh:acme/r2"})
    assert "anonymous" in {r["account_login"] for r in at.json()["rows"]}
    assert api.get(reverse("api:report_access_at"), {"resource": "nope:acme/r2"}).status_code == 404


def test_reviewers_are_refused(closed, reviewer_user, client):
    api = token_client(client, reviewer_user, read_only=False)
    assert api.get(reverse("api:report_campaign", kwargs={"pk": closed.pk})).status_code == 403
    assert api.get(reverse("api:report_inventory", kwargs={"kind": "admins"})).status_code == 403
    assert not AuditEvent.objects.filter(action="report.exported").exists()
