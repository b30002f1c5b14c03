"""If the audit event cannot be written, the action fails and changes nothing."""

import pytest
from django.db import DatabaseError, connection
from django.urls import reverse

from connectors.actions import do_add_connector, do_remove_connector
from connectors.choices import SyncStatus
from connectors.models import Account, Connector, Grant, SyncRun
from reviews.models import AuditEvent
from tests.audit.helpers import members
from tests.mfa import totp_code

pytestmark = pytest.mark.django_db


def make_audit_unwritable() -> None:
    """A trigger that refuses every insert into the audit table, as a full disk or a revoked grant would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION audit_unwritable() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit table is not writable'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER audit_unwritable BEFORE INSERT ON reviews_auditevent "
                "FOR EACH ROW EXECUTE FUNCTION audit_unwritable()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER audit_unwritable BEFORE INSERT ON reviews_auditevent "
                "BEGIN SELECT RAISE(ABORT, 'audit table is not writable'); END"
            )


def inventory() -> tuple:
    return (
        set(Grant.objects.values_list("id", "removed_run_id")),
        set(Account.objects.values_list("id", "present")),
        set(SyncRun.objects.values_list("id", "status")),
    )


def test_connector_add_fails_and_leaves_no_connector():
    make_audit_unwritable()
    with pytest.raises(DatabaseError, match="audit table is not writable"):
        do_add_connector(
            name="gh",
            kind="github",
            base_url="http://127.0.0.1:9",
            options={"org": "acme", "allow_private_network": "true"},
            secrets={"token": "env:GH_TOKEN"},
        )
    assert not Connector.objects.exists()


def test_connector_removal_fails_and_keeps_the_connector_and_its_inventory(connector, sync):
    sync()
    before = inventory()
    make_audit_unwritable()
    with pytest.raises(DatabaseError, match="audit table is not writable"):
        do_remove_connector(connector)
    assert Connector.objects.filter(pk=connector.pk).exists()
    assert inventory() == before


def test_a_sync_whose_apply_cannot_be_recorded_applies_nothing(connector, sync, org):
    good = sync()
    before = inventory()
    events_before = AuditEvent.objects.count()
    for login in members(org)[:2]:
        org.remove_member(login)  # a real upstream change the run must not half-apply
    make_audit_unwritable()
    with pytest.raises(DatabaseError, match="audit table is not writable"):
        sync()
    grants, accounts, runs = inventory()
    assert (grants, accounts) == before[:2]
    assert not Grant.objects.filter(removed_run__isnull=False).exists()
    assert connector.last_applied_run() == good
    # Neither applied nor failed: marking it failed is a change too, and could not be recorded either. It stays
    # running until declared stale (SYNC_STALE_AFTER_SECONDS), which is then recorded.
    (new_run,) = runs - before[2]
    assert new_run[1] == SyncStatus.RUNNING
    assert AuditEvent.objects.count() == events_before


@pytest.mark.urls("tests.audit.urls")
def test_a_login_that_cannot_be_recorded_does_not_log_in(client, security_user, user_password):
    make_audit_unwritable()
    client.raise_request_exception = False
    # The password, then the authenticator code (the security role has one): the code completes the login.
    client.post(reverse("account_login"), {"login": "alice@example.com", "password": user_password})
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code()})
    assert response.status_code == 500
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("security_only")).status_code == 302  # still sent to the login page


@pytest.mark.urls("tests.audit.urls")
def test_denied_access_that_cannot_be_recorded_is_still_denied(client, reviewer_user):
    client.force_login(reviewer_user)
    make_audit_unwritable()
    client.raise_request_exception = False
    response = client.get(reverse("security_only"))
    assert response.status_code == 500
    assert b"connector settings" not in response.content
