"""Who may do what on the security-team pages, for every URL the resolver knows in their namespaces.

A new URL in connectors:, inventory: or ops: without an entry in ACCESS fails test_every_url_has_an_entry.
Denied requests change nothing (the audit log does not move). ASVS 5.0 V8.2.1/V8.2.2 (function- and
data-level access), V3.5.1 (CSRF on every state-changing request).
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from connectors.models import Account, Grant, Identity, Resource
from reviews.models import AuditEvent, Revocation

pytestmark = pytest.mark.django_db

NAMESPACES = {"connectors", "inventory", "ops"}
# read: security and auditors may GET; nobody may POST.  form: security only (GET and POST).
# action: security only, POST only (GET is 405).
ACCESS = {
    "connectors:list": "read",
    "connectors:detail": "read",
    "connectors:run": "read",
    "connectors:add": "form",
    "connectors:edit": "form",
    "connectors:test": "action",
    "connectors:test_existing": "action",
    "connectors:sync": "action",
    "connectors:run_confirm": "action",
    "connectors:run_discard": "action",
    "inventory:accounts": "read",
    "inventory:account": "read",
    "inventory:people": "read",
    "inventory:person": "read",
    "inventory:resources": "read",
    "inventory:resource": "read",
    "inventory:changes": "read",
    "ops:audit": "read",
    "ops:audit_export": "read",
    "ops:revocations": "read",
    "ops:revocation": "read",
    "ops:revocation_approve": "action",
    "ops:revocation_retry": "action",
    "ops:revocation_narrow": "action",
    "ops:revocation_close": "action",
    "ops:revocation_cancel": "action",
    "ops:mails": "read",
    "ops:mail_resend": "action",
    "ops:mail_settings": "read",
    "ops:mail_settings_save": "action",
}


def routes(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry, entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and namespace in NAMESPACES and entry.name:
            yield f"{namespace}:{entry.name}", entry


def changes() -> int:
    """Audit events other than the record of a refusal: what a denied request must not add to."""
    return AuditEvent.objects.exclude(action="auth.access_denied").count()


def test_every_url_has_an_entry():
    found = {name for name, _ in routes()}
    assert found == set(ACCESS), f"missing: {found - set(ACCESS)}; stale: {set(ACCESS) - found}"


@pytest.fixture
def objects(synced):
    account = Account.objects.filter(connector=synced).first()
    person = Identity.objects.create(email="pat@example.com")
    grant = Grant.objects.current().filter(connector=synced, account__isnull=False).first()
    rev = Revocation.objects.create(
        key="matrix",
        grant=grant,
        grant_key=grant.key,
        connector=synced,
        action="remove x",
        state="awaiting_approval",
        created=timezone.now(),
    )
    return {
        "name": synced.name,
        "run_id": synced.runs.get().pk,
        "pk": {"account": account.pk, "person": person.pk, "resource": Resource.objects.first().pk},
        "rev": rev,
    }


def url_for(name, pattern, objects):
    kwargs = {}
    for key in pattern.pattern.converters:
        if key == "pk":
            kind = name.split(":")[1].removesuffix("_approve").removesuffix("_retry")
            kwargs[key] = objects["pk"].get(kind, objects["rev"].pk)
        elif key == "fmt":
            kwargs[key] = "csv"
        else:
            kwargs[key] = objects[key]
    return reverse(name, kwargs=kwargs)


def expected(kind, role, method):
    if kind == "action" and method == "GET":
        return 405
    if role == "anonymous":
        return 302
    if role in {"reviewer", "none"}:
        return 403
    if kind == "read":
        return 200 if method == "GET" else 403
    if role == "auditor":
        return 403
    return None  # the security role: the view's own answer (checked by the page tests)


@pytest.mark.parametrize("role", ["anonymous", "none", "reviewer", "auditor", "security"])
def test_each_role_gets_what_the_table_says_and_denials_change_nothing(
    client, role, objects, make_user, security_user, auditor_user, reviewer_user, user_without_role
):
    users = {"security": security_user, "auditor": auditor_user, "reviewer": reviewer_user, "none": user_without_role}
    if role in users:
        client.force_login(users[role])
    for name, pattern in routes():
        url = url_for(name, pattern, objects)
        for method in ("GET", "POST"):
            want = expected(ACCESS[name], role, method)
            if want is None:
                continue
            before, denials = changes(), AuditEvent.objects.filter(action="auth.access_denied").count()
            response = client.get(url) if method == "GET" else client.post(url, {"note": "x", "level": "10"})
            assert response.status_code == want, (role, method, url)
            if want != 200:
                assert changes() == before, (role, method, url)
            if want == 403:
                # Refusals are recorded (pipeaccess.auth_audit).
                assert AuditEvent.objects.filter(action="auth.access_denied").count() == denials + 1
            if want == 302:
                assert response["Location"].startswith("/accounts/login/")
    objects["rev"].refresh_from_db()
    assert objects["rev"].state == "awaiting_approval" or role == "security"


def test_every_state_change_needs_the_csrf_token(security_user, objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(security_user)
    for name, pattern in routes():
        if ACCESS[name] == "read":
            continue
        before, denials = changes(), AuditEvent.objects.filter(action="auth.access_denied").count()
        response = client.post(url_for(name, pattern, objects), {"note": "x", "level": "10"})
        assert response.status_code == 403, name
        assert changes() == before, name
        assert AuditEvent.objects.filter(action="auth.access_denied").count() == denials + 1, name
    objects["rev"].refresh_from_db()
    assert objects["rev"].state == "awaiting_approval"
