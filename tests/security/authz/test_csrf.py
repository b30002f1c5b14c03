"""CSRF on every state-changing request and no state change on GET: ASVS 5.0 V3.5.1, V3.5.2, V3.5.3.

With Client(enforce_csrf_checks=True), a POST without the token, from a user who may make that request,
is refused with 403 and changes nothing; the same for allauth's state-changing pages. Then every GET URL
is crawled by the roles that may read it, and nothing changes but the record of access.
"""

import json

import pytest
from django.test import Client
from django.urls import reverse

from .matrix import (
    ACCESS,
    ALLAUTH_STATE_CHANGING,
    METHOD_NOT_ALLOWED,
    denials,
    matrix_routes,
    snapshot,
    url_for,
)
from .test_authorization_matrix import form_data

pytestmark = pytest.mark.django_db

ANONYMOUS_FORMS = {"account_login", "account_signup", "account_reset_password"}


def poster(allowed) -> str:
    """A role allowed to POST there: the security team, else reviewer B (whose item the URLs name)."""
    return "security" if "security" in allowed else "reviewer_b"


def test_every_state_changing_request_without_the_token_is_refused_and_changes_nothing(world):
    """V3.5.1 (anti-CSRF on every state-changing request, pages and session-authenticated API), V3.5.2 (no reliance
    on CORS preflight: a JSON POST, which a browser would preflight, still needs the token)."""
    clients = {}
    failures = []
    for name, pattern in matrix_routes():
        allowed = ACCESS[name][1]
        if allowed == METHOD_NOT_ALLOWED:
            continue
        role = poster(allowed)
        if role not in clients:
            clients[role] = Client(enforce_csrf_checks=True)
            clients[role].force_login(world["users"][role])
        url = url_for(name, pattern, world)
        before, refused = snapshot(), denials()
        if url.startswith("/api/"):
            body = json.dumps({"decision": "revoke", "justification": "csrf"})
            response = clients[role].post(url, body, content_type="application/json")
        else:
            response = clients[role].post(url, form_data(world))
        if response.status_code != 403:
            failures.append((role, url, response.status_code))
        elif snapshot() != before:
            failures.append(("changed state", role, url))
        elif not url.startswith("/api/") and denials() != refused + 1:
            failures.append(("not audited", role, url))
    assert not failures, "\n".join(map(str, failures))
    world["item_b"].refresh_from_db()
    assert world["item_b"].state == "pending"


def test_allauth_state_changing_pages_need_the_token(world):
    """V3.5.1 on the login machinery: login, signup, password reset (anonymous) and logout, email, password
    change, re-authentication and MFA pages (signed in) refuse a POST without the token."""
    anonymous = Client(enforce_csrf_checks=True)
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(world["users"]["security"])
    before = snapshot()
    data = {"login": "alice@example.com", "password": "x", "email": "x@example.com", "code": "123456"}
    for name in ALLAUTH_STATE_CHANGING:
        client = anonymous if name in ANONYMOUS_FORMS else signed_in
        response = client.post(reverse(name), data)
        assert response.status_code == 403, name
    assert snapshot() == before
    # The logout without a token did not log out.
    assert signed_in.get(reverse("reviews:campaigns")).status_code == 200


@pytest.mark.parametrize("role", ["security", "auditor", "reviewer_b"])
def test_no_get_changes_state(role, world):
    """V3.5.3 (sensitive functionality not on safe methods): every URL a role may GET, crawled, changes nothing."""
    client = Client()
    client.force_login(world["users"][role])
    before = snapshot(reads_recorded=True)
    crawled = 0
    for name, pattern in matrix_routes():
        allowed = ACCESS[name][0]
        if allowed == METHOD_NOT_ALLOWED or role not in allowed:
            continue
        url = url_for(name, pattern, world)
        response = client.get(url)
        assert response.status_code in (200, 302), url
        crawled += 1
        assert snapshot(reads_recorded=True) == before, url
    assert crawled >= 8
