"""The audit log (filters, CSV and JSON export) and the revocation queue (approve, narrow, retry, close)."""

import csv
import io
import json

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from connectors.models import Grant
from reviews import audit
from reviews import revocations as revs
from reviews.choices import RevocationState as S
from reviews.models import AuditEvent, Revocation

pytestmark = pytest.mark.django_db


def row(action: str) -> str:
    """How an event's action appears in a table row of the audit page."""
    return f'<a href="?action={action}">{action}</a>'


def event(action, *, actor=None, **data):
    with transaction.atomic():
        return audit.record(action, actor=actor, **data)


def test_the_audit_log_filters_by_action_actor_and_date(security_client, security_user):
    event("connector.added", actor=security_user, name="gh")
    event("sync.applied", name="gh")
    html = security_client.get(reverse("ops:audit"), {"action": "connector."}).content.decode()
    assert row("connector.added") in html and row("sync.applied") not in html
    html = security_client.get(reverse("ops:audit"), {"actor": "system"}).content.decode()
    assert row("sync.applied") in html and row("connector.added") not in html
    today = timezone.now().date().isoformat()
    html = security_client.get(reverse("ops:audit"), {"since": today, "until": today}).content.decode()
    assert row("connector.added") in html and row("sync.applied") in html
    html = security_client.get(reverse("ops:audit"), {"until": "2000-01-01"}).content.decode()
    assert "No events match." in html
    html = security_client.get(reverse("ops:audit"), {"since": "last tuesday"}).content.decode()
    assert "is not an ISO 8601 date" in html


def test_the_audit_log_takes_a_fixed_number_of_queries(security_client, security_user, django_assert_num_queries):
    for n in range(30):
        event("test.event", actor=security_user if n % 2 else None, n=n)
    # user, roles and MFA (pipeaccess.mfa; the menu reuses them), role check, count, page, the action list; the
    # session comes from the cache (cached_db)
    with django_assert_num_queries(6):
        security_client.get(reverse("ops:audit"))


def test_the_csv_export_neutralizes_formulas(auditor_client):
    event("connector.added", name='=HYPERLINK("http://evil.example","x")')
    response = auditor_client.get(reverse("ops:audit_export", kwargs={"fmt": "csv"}), {"action": "connector."})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 and rows[0]["action"] == "connector.added"
    assert rows[0]["data"].startswith("{") and "=HYPERLINK" in rows[0]["data"]
    event("x", actor=None, actor_label="=cmd|' /C calc'!A0")
    response = auditor_client.get(reverse("ops:audit_export", kwargs={"fmt": "csv"}), {"action": "x"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["actor"] == "'=cmd|' /C calc'!A0"


def test_the_json_export_is_the_filtered_events_oldest_first(auditor_client):
    for n in range(3):
        event("sync.applied", n=n)
    event("other.thing")
    response = auditor_client.get(reverse("ops:audit_export", kwargs={"fmt": "json"}), {"action": "sync."})
    data = json.loads(b"".join(response.streaming_content))
    assert [row["data"]["n"] for row in data] == [0, 1, 2]
    assert auditor_client.get(reverse("ops:audit_export", kwargs={"fmt": "xml"})).status_code == 404


def test_reviewers_cannot_read_or_export_the_audit_log(reviewer_client):
    assert reviewer_client.get(reverse("ops:audit")).status_code == 403
    assert reviewer_client.get(reverse("ops:audit_export", kwargs={"fmt": "csv"})).status_code == 403


# --- revocations -------------------------------------------------------------------------------------


@pytest.fixture
def make_revocation(synced):
    def make(state=S.AWAITING_APPROVAL, *, n=0):
        grant = Grant.objects.current().filter(connector=synced, account__login="acme-owner").order_by("id")[n]
        return Revocation.objects.create(
            key=f"test:{grant.pk}:{state}",
            grant=grant,
            grant_key=grant.key,
            connector=synced,
            action=revs.describe(grant),
            blast_radius=revs.blast_radius(grant),
            state=state,
            instructions="Remove the member by hand." if state == S.MANUAL else "",
            created=timezone.now(),
        )

    return make


def test_the_queue_lists_revocations_with_their_blast_radius(security_client, make_revocation):
    rev = make_revocation()
    html = security_client.get(reverse("ops:revocations")).content.decode()
    assert escape(rev.action) in html and escape(rev.blast_radius["summary"]) in html
    assert "Awaiting approval (1)" in html and ">Approve</button>" in html


def test_the_queue_takes_a_fixed_number_of_queries(security_client, make_revocation, django_assert_num_queries):
    for n in range(3):
        make_revocation(n=n)
    # user, roles and MFA (pipeaccess.mfa; the menu and the buttons reuse them), role check, totals per state,
    # count, page; the session comes from the cache (cached_db)
    with django_assert_num_queries(6):
        security_client.get(reverse("ops:revocations"))


def test_approving_in_dry_run_lists_the_revocation_without_sending_it(security_client, security_user, make_revocation):
    rev = make_revocation()
    response = security_client.post(
        reverse("ops:revocation_approve", kwargs={"pk": rev.pk}), {"next": "/revocations/?state=awaiting_approval"}
    )
    assert response["Location"] == "/revocations/?state=awaiting_approval"
    rev.refresh_from_db()
    assert rev.state == S.DRY_RUN
    assert AuditEvent.objects.get(action="revocation.approved").actor == security_user


def test_approving_twice_says_why_it_cannot(security_client, make_revocation):
    rev = make_revocation(S.DONE)
    response = security_client.post(reverse("ops:revocation_approve", kwargs={"pk": rev.pk}), follow=True)
    assert "it cannot be approved" in response.content.decode()


def test_an_offsite_next_is_ignored(security_client, make_revocation):
    rev = make_revocation()
    response = security_client.post(
        reverse("ops:revocation_approve", kwargs={"pk": rev.pk}), {"next": "//evil.example/revocations/"}
    )
    assert response["Location"] == reverse("ops:revocation", kwargs={"pk": rev.pk})


def test_a_manual_task_is_closed_with_a_note(security_client, make_revocation):
    rev = make_revocation(S.MANUAL)
    response = security_client.post(reverse("ops:revocation_close", kwargs={"pk": rev.pk}), {"note": ""}, follow=True)
    assert "a note is required" in response.content.decode()
    security_client.post(reverse("ops:revocation_close", kwargs={"pk": rev.pk}), {"note": "removed in the UI"})
    rev.refresh_from_db()
    assert rev.state == S.DONE
    assert AuditEvent.objects.get(action="revocation.note").data["note"] == "removed in the UI"
    html = security_client.get(reverse("ops:revocation", kwargs={"pk": rev.pk})).content.decode()
    assert "revocation.closed_manually" in html and "removed in the UI" in html


def test_retry_needs_the_connector_out_of_dry_run(security_client, make_revocation, synced):
    rev = make_revocation(S.FAILED)
    response = security_client.post(reverse("ops:revocation_retry", kwargs={"pk": rev.pk}), follow=True)
    assert "is in dry-run" in response.content.decode()
    synced.dry_run = False
    synced.save()
    security_client.post(reverse("ops:revocation_retry", kwargs={"pk": rev.pk}))
    rev.refresh_from_db()
    assert rev.state == S.QUEUED


def test_narrowing_turns_a_removal_into_a_downgrade_or_says_why_not(security_client, make_revocation):
    rev = make_revocation()
    response = security_client.post(
        reverse("ops:revocation_narrow", kwargs={"pk": rev.pk}), {"level": "10"}, follow=True
    )
    rev.refresh_from_db()
    html = response.content.decode()
    if rev.downgrade_to == 10:
        assert "narrowed to a downgrade to read" in html
    else:
        assert 'class="error"' in html and rev.state == S.AWAITING_APPROVAL
    response = security_client.post(
        reverse("ops:revocation_narrow", kwargs={"pk": rev.pk}), {"level": "x"}, follow=True
    )
    assert "Choose the level to keep." in response.content.decode()


def test_auditors_see_the_queue_without_buttons_and_cannot_post(auditor_client, make_revocation):
    rev = make_revocation()
    html = auditor_client.get(reverse("ops:revocations")).content.decode()
    assert escape(rev.action) in html and ">Approve</button>" not in html
    for name in (
        "revocation_approve",
        "revocation_retry",
        "revocation_narrow",
        "revocation_close",
        "revocation_cancel",
    ):
        assert auditor_client.post(reverse(f"ops:{name}", kwargs={"pk": rev.pk}), {"level": 10}).status_code == 403
    rev.refresh_from_db()
    assert rev.state == S.AWAITING_APPROVAL


def test_reviewers_cannot_see_the_queue(reviewer_client, make_revocation):
    rev = make_revocation()
    assert reviewer_client.get(reverse("ops:revocations")).status_code == 403
    assert reviewer_client.get(reverse("ops:revocation", kwargs={"pk": rev.pk})).status_code == 403
    assert reviewer_client.post(reverse("ops:revocation_approve", kwargs={"pk": rev.pk})).status_code == 403


def test_actions_are_post_only(security_client, make_revocation):
    rev = make_revocation()
    assert security_client.get(reverse("ops:revocation_approve", kwargs={"pk": rev.pk})).status_code == 405
    rev.refresh_from_db()
    assert rev.state == S.AWAITING_APPROVAL
