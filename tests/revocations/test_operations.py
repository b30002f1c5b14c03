"""What the security role does with revocations: approve, narrow, retry, close a manual task, cancel,
switch a connector out of dry-run; through the functions and the `revocation` command."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connectors.choices import Level
from connectors.models import Connector
from reviews import revocations
from reviews.choices import RevocationState
from reviews.models import AuditEvent, Revocation
from reviews.tasks.revocations import execute_revocation

from . import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(grant_of):
    def make(login="olivia", *, approve=False, path="shared", via="direct", verdict="revoke", downgrade_to=None):
        campaign = factories.campaign(approve_revocations=approve)
        factories.decided_item(campaign, grant_of(login, path, via=via), verdict=verdict, downgrade_to=downgrade_to)
        (rev,) = revocations.plan(campaign)
        return rev

    return make


def command(*args) -> str:
    out = StringIO()
    call_command("revocation", *args, stdout=out)
    return out.getvalue()


def test_narrowing_a_removal_to_a_downgrade_changes_what_is_sent(planned, org, security_user):
    rev = planned("peter", approve=True)
    assert rev.action == "remove peter's maintainer access on shared"

    narrowed = revocations.narrow(rev, level="read", actor=security_user)

    assert narrowed.action == "downgrade peter on shared from admin to read"
    assert narrowed.downgrade_to == Level.READ
    assert narrowed.blast_radius["lowered"]["paths"] == ["shared"]
    assert narrowed.blast_radius["removed"]["count"] == 0
    event = AuditEvent.objects.get(action="revocation.narrowed")
    assert (event.data["before"], event.actor_label) == (rev.action, security_user.email)
    revocations.approve(narrowed, actor=security_user)
    execute_revocation.apply(args=(rev.pk,))
    assert org.role_name(org.find_member("shared", user="peter").role_id) == "guest"


def test_narrowing_is_refused_where_the_connector_cannot_downgrade(planned, security_user):
    rev = planned("olivia", approve=True, path="/", via="system_admin")

    with pytest.raises(revocations.RevocationError, match="can be removed, not lowered"):
        revocations.narrow(rev, level="read", actor=security_user)
    with pytest.raises(revocations.RevocationError, match="not below"):
        revocations.narrow(planned("peter", approve=True), level="owner", actor=security_user)
    rev.refresh_from_db()
    assert rev.action == "remove the system administrator role from olivia"


def test_a_manual_task_is_closed_by_the_security_role_with_a_note(planned, security_user):
    rev = planned("olivia", path="/", via="system_admin", verdict="downgrade", downgrade_to=Level.READ)
    assert rev.state == RevocationState.MANUAL

    with pytest.raises(revocations.RevocationError, match="note is required"):
        revocations.close_manual(rev, actor=security_user, note="  ")
    closed = revocations.close_manual(rev, actor=security_user, note="removed the LDAP admin group mapping")

    assert (closed.state, closed.closed_by, closed.outcome) == (RevocationState.DONE, security_user, "revoked")
    assert AuditEvent.objects.get(action="revocation.note").data["note"] == "removed the LDAP admin group mapping"
    with pytest.raises(revocations.RevocationError, match="is done"):
        revocations.close_manual(closed, actor=security_user, note="again")


def test_a_dry_run_revocation_is_sent_only_after_the_connector_goes_live(planned, connector, org, security_user):
    revocations.set_dry_run(connector, True, actor=security_user)
    rev = planned("olivia")
    assert rev.state == RevocationState.DRY_RUN

    with pytest.raises(revocations.RevocationError, match="dry-run"):
        revocations.retry(rev, actor=security_user)
    revocations.set_dry_run(connector, False, actor=security_user)
    revocations.retry(rev, actor=security_user)
    execute_revocation.apply(args=(rev.pk,))

    rev.refresh_from_db()
    assert rev.state == RevocationState.DONE
    changes = AuditEvent.objects.filter(action="connector.dry_run_changed").values_list("data", flat=True)
    assert [c["dry_run"] for c in changes] == [True, False]
    assert not Connector.objects.get(pk=connector.pk).dry_run


def test_a_cancelled_revocation_is_never_sent(planned, sim, security_user):
    rev = planned("olivia")
    revocations.cancel(rev, actor=security_user, reason="decided in error")

    assert execute_revocation.apply(args=(rev.pk,)).get() == f"revocation {rev.pk} is cancelled: nothing to do"
    assert sim.writes == []


def test_the_command_lists_shows_and_acts(planned, security_user, reviewer_user):
    rev = planned("peter", approve=True)

    listed = json.loads(command("list", "--format", "json"))
    assert [(r["id"], r["state"], r["action"]) for r in listed] == [(rev.pk, "awaiting_approval", rev.action)]
    shown = command("show", str(rev.pk))
    assert "blast radius: peter loses access to 1 project" in shown and "  loses shared" in shown

    narrowed = json.loads(
        command("narrow", str(rev.pk), "--level", "write", "--user", security_user.email, "--format", "json")
    )
    assert (narrowed["downgrade_to"], narrowed["state"]) == ("write", "awaiting_approval")
    approved = json.loads(command("approve", str(rev.pk), "--user", security_user.email, "--format", "json"))
    assert approved["state"] == "queued"

    with pytest.raises(CommandError, match="is queued: it cannot be approved"):
        command("approve", str(rev.pk), "--user", security_user.email)
    with pytest.raises(CommandError, match="not a user with the security role"):
        command("retry", str(rev.pk), "--user", reviewer_user.email)
    with pytest.raises(CommandError, match="no revocation 999"):
        command("show", "999")
    assert Revocation.objects.get(pk=rev.pk).state == RevocationState.QUEUED
