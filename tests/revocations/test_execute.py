"""execute_revocation against the Harbor simulator: outcomes, retries, failures, throttling, the closed loop."""

import pytest

from connectors.choices import Level
from connectors.models import Identity
from connectors.simulators.server import ERROR
from reviews.choices import RevocationState
from reviews.models import AuditEvent, OutboundMail, Revocation
from reviews.revocations import plan
from reviews.tasks.revocations import execute_revocation

from . import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(grant_of):
    """planned(login, downgrade_to=None): a queued revocation of that user's membership of project shared."""

    def make(login: str = "olivia", downgrade_to=None, via="direct", path="shared") -> Revocation:
        campaign = factories.campaign()
        verdict = "downgrade" if downgrade_to else "revoke"
        person, _ = Identity.objects.get_or_create(email=f"{login}@example.com", defaults={"name": login.title()})
        grant = grant_of(login, path, via=via)
        factories.decided_item(campaign, grant, verdict=verdict, downgrade_to=downgrade_to, subject=person)
        (rev,) = plan(campaign)
        return rev

    return make


def run(rev: Revocation, capture) -> Revocation:
    """Run the task as a worker would, then whatever it left for after its commits (mail)."""
    with capture(execute=True):
        execute_revocation.apply(args=(rev.pk,))
    rev.refresh_from_db()
    return rev


def audit_actions(rev: Revocation) -> list[str]:
    events = AuditEvent.objects.filter(object_type="reviews.revocation", object_id=str(rev.pk))
    return list(events.values_list("action", flat=True))


def test_a_revocation_removes_the_membership_upstream_and_tells_the_person(
    planned, org, sim, django_capture_on_commit_callbacks
):
    rev = run(planned("olivia"), django_capture_on_commit_callbacks)

    assert (rev.state, rev.outcome, rev.attempts) == (RevocationState.DONE, "revoked", 1)
    assert rev.executed_at is not None
    assert [(m, p) for _, m, p in sim.writes] == [("DELETE", p) for _, _, p in sim.writes]
    assert len(sim.writes) == 1
    assert not [m for m in org.project("shared").members.values() if org.entity_name(m) == "olivia"]
    assert audit_actions(rev) == ["revocation.planned", "revocation.running", "revocation.done"]
    notice = OutboundMail.objects.get(kind="revocation_notice")
    assert notice.recipient == "olivia@example.com"
    assert "shared" in notice.text


def test_a_transient_error_is_retried_with_backoff_and_then_done(planned, sim, django_capture_on_commit_callbacks):
    rev = planned("olivia")
    sim.add_fault(ERROR, "/projects/*/members/*", method="DELETE", status=503, times=2)

    rev = run(rev, django_capture_on_commit_callbacks)

    assert (rev.state, rev.outcome, rev.attempts) == (RevocationState.DONE, "revoked", 3)
    statuses = [r.status for r in sim.logged("DELETE")]
    assert statuses == [503, 503, 200]
    assert audit_actions(rev).count("revocation.transient_error") == 2


def test_a_permanent_failure_is_recorded_and_the_security_team_is_told(
    planned, sim, security_user, django_capture_on_commit_callbacks
):
    rev = planned("olivia")
    sim.add_fault(ERROR, "/projects/*/members/*", method="DELETE", status=403, times=None)

    rev = run(rev, django_capture_on_commit_callbacks)

    assert rev.state == RevocationState.FAILED
    assert "403" in rev.last_error
    assert [r.status for r in sim.logged("DELETE")] == [403]  # not retried: retrying cannot help
    mail = OutboundMail.objects.get(kind="revocation_failed")
    assert mail.recipient == security_user.email


def test_a_grant_already_gone_upstream_counts_as_done(planned, org, sim, django_capture_on_commit_callbacks):
    rev = planned("olivia")
    org.remove_member("shared", org.find_member("shared", user="olivia").id)

    rev = run(rev, django_capture_on_commit_callbacks)

    assert (rev.state, rev.outcome) == (RevocationState.DONE, "already_absent")
    assert sim.writes == []


def test_a_downgrade_lowers_the_role(planned, org, django_capture_on_commit_callbacks):
    rev = run(planned("peter", downgrade_to=Level.READ), django_capture_on_commit_callbacks)

    assert (rev.state, rev.outcome) == (RevocationState.DONE, "revoked")
    assert org.role_name(org.find_member("shared", user="peter").role_id) == "guest"


def test_the_next_sync_verifies_what_was_revoked(planned, sync, django_capture_on_commit_callbacks):
    removal = run(planned("olivia"), django_capture_on_commit_callbacks)
    downgrade = run(planned("peter", downgrade_to=Level.READ), django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        later = sync()

    for rev in (removal, downgrade):
        rev.refresh_from_db()
        assert (rev.state, rev.verified_run_id) == (RevocationState.VERIFIED, later.pk)
        assert "revocation.verified" in audit_actions(rev)


def test_access_granted_again_upstream_raises_access_reappeared(
    planned, org, sync, security_user, django_capture_on_commit_callbacks
):
    rev = run(planned("olivia"), django_capture_on_commit_callbacks)
    org.add_member("shared", user="olivia", role="developer")  # config as code puts it back

    with django_capture_on_commit_callbacks(execute=True):
        sync()

    rev.refresh_from_db()
    assert rev.state == RevocationState.REAPPEARED
    event = AuditEvent.objects.get(action="revocation.reappeared", object_type="reviews.revocation")
    assert event.data["level"] == "write"
    assert OutboundMail.objects.get(kind="access_reappeared").recipient == security_user.email


def test_a_downgrade_undone_upstream_reappears_but_one_that_stays_low_is_verified(
    planned, org, sync, django_capture_on_commit_callbacks
):
    rev = run(planned("peter", downgrade_to=Level.READ), django_capture_on_commit_callbacks)
    member = org.find_member("shared", user="peter")
    org.set_member_role("shared", member.id, "maintainer")

    with django_capture_on_commit_callbacks(execute=True):
        sync()

    rev.refresh_from_db()
    assert rev.state == RevocationState.REAPPEARED


def test_a_revocation_that_is_not_queued_is_left_alone(planned, sim, django_capture_on_commit_callbacks):
    rev = run(planned("olivia"), django_capture_on_commit_callbacks)
    sim.reset_counters()

    outcome = execute_revocation.apply(args=(rev.pk,)).get()

    assert outcome == f"revocation {rev.pk} is done: nothing to do"
    assert list(sim.requests) == []


def test_a_crash_inside_the_connector_fails_the_revocation_instead_of_leaving_it_running(
    planned, monkeypatch, django_capture_on_commit_callbacks
):
    from connectors.providers.harbor import HarborConnector

    def crash(self, grant, *, downgrade_to=None):
        raise RuntimeError("unexpected answer shape")

    monkeypatch.setattr(HarborConnector, "revoke", crash)
    rev = run(planned("olivia"), django_capture_on_commit_callbacks)

    assert rev.state == RevocationState.FAILED
    assert rev.last_error == "unexpected error: RuntimeError: unexpected answer shape"
