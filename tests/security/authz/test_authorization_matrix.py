"""Every URL of the resolver × every role × GET/POST (session and API token): ASVS 5.0 V8.2.1, V8.2.2, V8.3.1,
V6.3.2 (the security role without its second factor is refused everywhere).

The table is tests/security/authz/matrix.py; a URL without an entry fails test_every_url_has_an_entry. Denied
requests change nothing (row counts and states of the main tables, the audit chain without auth events)
and each 403 is recorded as auth.access_denied.
"""

import json

import pytest
from django.test import Client

from pipeaccess.models import ApiToken
from reviews.models import AuditEvent, Decision, ReviewItem

from .matrix import ACCESS, HELD_BACK, METHOD_NOT_ALLOWED, ROLES, denials, matrix_routes, snapshot, url_for

pytestmark = pytest.mark.django_db


def test_every_url_has_an_entry():
    """V8.1.1 (documented access rules): every URL the resolver knows has a row in the authorization table."""
    found = {name for name, _ in matrix_routes()}
    assert found == set(ACCESS), f"missing: {sorted(found - set(ACCESS))}; stale: {sorted(set(ACCESS) - found)}"


def form_data(world) -> dict:
    return {
        "decision": "revoke",
        "justification": "matrix",
        "text": "matrix",
        "note": "matrix",
        "level": "10",
        "items": [world["item_a"].pk, world["item_b"].pk],
        "to": "mia@acme.test",
        "reason": "matrix",
        "name": "matrix",
        "yaml": "name: x",
    }


def clients(role, world):
    """(label, client, is_api_token) for a role: a session; and for the API also a bearer token."""
    if role == "anonymous":
        return [("session", Client(), False)]
    user = world["users"][role]
    session = Client()
    session.force_login(user)
    _, raw = ApiToken.issue(user)
    return [("session", session, False), ("token", Client(HTTP_AUTHORIZATION=f"Token {raw}"), True)]


def is_denial(response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def call(client, method, url, world):
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        body = {"decision": "revoke", "justification": "matrix"}
        return client.post(url, json.dumps(body), content_type="application/json")
    return client.post(url, form_data(world))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says_and_denials_change_nothing(role, world):
    """V8.2.1 (function level), V8.2.2 (data level: B's item as seen by A and by its subject), V8.3.1 (enforced
    on the server), V16.3.2 (refusals logged), V6.3.2 (the security role needs its second factor: without one,
    every URL is refused, by session and by token): every URL × GET/POST for one role."""
    routes = matrix_routes()
    failures = []
    role_clients = clients(role, world)  # one session and one token for the whole loop
    for method in ("GET", "POST"):  # every GET first: allowed POSTs (close, launch, decide) come after
        for name, pattern in routes:
            url = url_for(name, pattern, world)
            allowed = ACCESS[name][0 if method == "GET" else 1]
            for label, client, token in role_clients:
                if token and not url.startswith("/api/"):
                    continue
                before, refused = snapshot(), denials()
                response = call(client, method, url, world)
                status = response.status_code
                where = (role, label, method, url, status)
                if role == HELD_BACK:
                    # Before any other answer (405, 404, the view's own): the setup page, or 403 for the API.
                    ok = status == 403 if url.startswith("/api/") else response.get("Location") == "/accounts/2fa/"
                    if ok and denials() != refused + 1:
                        failures.append(("refusal not audited", *where))
                elif allowed == METHOD_NOT_ALLOWED:
                    ok = status == 405 or is_denial(response)
                elif role in allowed:
                    ok = not is_denial(response) and (status in (200, 302) if method == "GET" else status < 500)
                elif role == "anonymous":
                    ok = status in (401, 403) if url.startswith("/api/") else is_denial(response) and status == 302
                else:
                    # 405: a read-only URL refuses the method first; 302: the page sends this role elsewhere
                    # (the security team's campaign page instead of the reviewer page), showing nothing.
                    ok = status in (403, 404, 405) or (status == 302 and response["Location"] != url)
                if not ok:
                    failures.append(where)
                    continue
                if role not in (allowed if allowed != METHOD_NOT_ALLOWED else ()):
                    if snapshot() != before:
                        failures.append(("changed state", *where))
                    if status == 403 and denials() != refused + 1:
                        failures.append(("403 not audited", *where))
    assert not failures, "\n".join(map(str, failures))


def test_reviewer_a_cannot_decide_undo_or_comment_on_reviewer_b_items(world):
    """V8.2.2 (IDOR): A posting on B's item (pages and API) gets 404/403 and nothing changes; a bulk selection
    mixing A's and B's items decides A's only."""
    a_client = Client()
    a_client.force_login(world["users"]["reviewer_a"])
    campaign, item_a, item_b = world["campaign"], world["item_a"], world["item_b"]
    base = f"/reviews/campaigns/{campaign.pk}/items/{item_b.pk}/"
    before = snapshot()
    for suffix, data in (
        ("decide/", {"decision": "revoke", "justification": "x"}),
        ("undo/", {}),
        ("comment/", {"text": "x"}),
    ):
        assert a_client.post(base + suffix, data).status_code == 404, suffix
    # B's item reached through A's own campaign id and through the API
    response = a_client.post(
        f"/api/v1/items/{item_b.pk}/decision/",
        json.dumps({"decision": "revoke", "justification": "x"}),
        "application/json",
    )
    assert response.status_code == 403
    assert a_client.get(f"/api/v1/items/{item_b.pk}/history/").status_code == 403
    assert snapshot() == before
    # Bulk: the ticked selection holds A's and B's items
    response = a_client.post(
        f"/reviews/campaigns/{campaign.pk}/bulk/",
        {"decision": "approve", "items": [item_a.pk, item_b.pk], "justification": "x"},
    )
    assert response.status_code in (200, 302)
    item_a.refresh_from_db()
    item_b.refresh_from_db()
    assert item_a.state == "decided" and item_a.verdict == "approve"
    assert item_b.state == "pending" and item_b.decided_by_id is None
    assert not Decision.objects.filter(item=item_b).exists()


def test_the_subject_of_an_item_never_sees_or_decides_it(world):
    """V8.2.2: the person whose access is reviewed cannot read or decide their own item."""
    subject = Client()
    subject.force_login(world["users"]["subject"])
    item = world["subject_item"]
    assert item.subject.email == world["users"]["subject"].email
    campaign = world["campaign"]
    before = snapshot()
    assert subject.get(f"/reviews/campaigns/{campaign.pk}/").status_code == 404
    assert subject.get(f"/reviews/campaigns/{campaign.pk}/items/{item.pk}/").status_code == 404
    assert (
        subject.post(f"/reviews/campaigns/{campaign.pk}/items/{item.pk}/decide/", {"decision": "approve"}).status_code
        == 404
    )
    assert (
        subject.post(f"/reviews/campaigns/{campaign.pk}/bulk/", {"decision": "approve", "items": [item.pk]}).status_code
        == 404
    )
    assert subject.get(f"/api/v1/items/{item.pk}/").status_code == 403
    response = subject.post(
        f"/api/v1/items/{item.pk}/decision/", json.dumps({"decision": "approve"}), content_type="application/json"
    )
    assert response.status_code == 403
    listed = subject.get("/api/v1/campaigns/").json()
    assert listed["results"] == []
    assert snapshot() == before
    assert ReviewItem.objects.get(pk=item.pk).state == "pending"


@pytest.mark.parametrize("role", ["none", "reviewer_a", "reviewer_b", "subject"])
def test_exports_are_for_security_and_auditors_only(role, world):
    """V8.2.1 (function level, for the exports too) and V16.3.2 (each refusal logged): CSV/JSON/PDF/evidence
    downloads refused to other roles."""
    client = Client()
    client.force_login(world["users"][role])
    pk = world["campaign"].pk
    urls = [f"/reports/campaigns/{pk}/report.{fmt}" for fmt in ("csv", "json", "pdf")]
    urls += [f"/reports/campaigns/{pk}/evidence.zip", "/audit/export.csv", "/audit/export.json"]
    urls += [f"/reports/inventory/admins/report.{fmt}" for fmt in ("csv", "json", "pdf")]
    for url in urls:
        refused = denials()
        response = client.get(url)
        assert response.status_code == 403, url
        assert denials() == refused + 1, url
    assert AuditEvent.objects.filter(action="auth.access_denied").exists()
