"""The campaign report: scope, reviewers, completion, decisions, revocations with verification, exceptions."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reviews import reports
from reviews.choices import RevocationState
from reviews.models import AuditEvent, Revocation

from .conftest import HOSTILE, HOSTILE_JUSTIFICATION


def test_the_report_lists_every_decision_with_its_justification(closed):
    report = reports.campaign_report(closed)
    assert report["campaign"]["state"] == "closed"
    assert report["scope"]["connectors"] == ["acme-gh"]
    decisions = {(d["holder"], d["resource"], d["permission"]): d for d in report["decisions"]}
    assert len(report["decisions"]) == closed.items.count()
    bob = decisions[("bob", "acme/r2", "admin")]
    assert (bob["verdict"], bob["justification"], bob["timed_out"]) == ("approve", "runs the release", False)
    assert bob["decided_by"] == bob["reviewer"] == "mia@acme.test"
    evil = decisions[(HOSTILE, "acme/r2", "admin")]
    assert (evil["verdict"], evil["justification"]) == ("revoke", HOSTILE_JUSTIFICATION)
    others = [d for d in report["decisions"] if d["item"] not in (bob["item"], evil["item"])]
    assert others and all(d["timed_out"] and d["decided_by"] == "system" for d in others)


def test_reviewers_completion_and_exceptions(closed):
    report = reports.campaign_report(closed)
    by_reviewer = {r["reviewer"]: r for r in report["reviewers"]}
    assert sum(r["total"] for r in report["reviewers"]) == closed.items.count()
    assert by_reviewer["mia@acme.test"]["approved"] >= 1
    assert all(r["pending"] == 0 for r in report["reviewers"])
    (today,) = report["completion"]
    assert today["day"] == timezone.now().date().isoformat()
    assert (today["cumulative"], today["percent"]) == (closed.items.count(), 100)
    kinds = [e["kind"] for e in report["exceptions"]]
    assert kinds.count("timed_out") == closed.items.filter(timed_out=True).count() > 0


def test_revocations_carry_their_verification_and_failures_are_exceptions(closed):
    rev = Revocation.objects.get(item__campaign=closed)
    now = timezone.now()
    Revocation.objects.filter(pk=rev.pk).update(state=RevocationState.VERIFIED, verified_at=now, executed_at=now)
    (row,) = reports.campaign_report(closed)["revocations"]
    assert (row["state"], row["verified"], row["verified_at"]) == ("verified", True, now.isoformat())
    for state, kind in (("reappeared", "reappeared"), ("failed", "revocation_failed"), ("manual", "manual_task")):
        Revocation.objects.filter(pk=rev.pk).update(state=state, last_error=f"{state} reason")
        exceptions = [e for e in reports.campaign_report(closed)["exceptions"] if e["revocation"] == rev.pk]
        assert [(e["kind"], e["detail"], e["holder"]) for e in exceptions] == [(kind, f"{state} reason", HOSTILE)]


def test_report_csv_has_one_row_per_item_neutralized(closed, tmp_path):
    out = tmp_path / "r.csv"
    call_command("report", "campaign", str(closed.pk), "--format", "csv", "--output", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert len(rows) == closed.items.count()
    evil = next(r for r in rows if r["verdict"] == "revoke")
    assert evil["holder"] == "'" + HOSTILE
    assert evil["justification"] == "'" + HOSTILE_JUSTIFICATION
    assert evil["revocation_state"] == "dry_run"


def test_json_and_pdf_from_the_command_line_and_each_export_is_audited(closed, tmp_path):
    before = AuditEvent.objects.filter(action="report.exported").count()
    call_command("report", "campaign", str(closed.pk), "--format", "json", "--output", str(tmp_path / "r.json"))
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {"campaign", "scope", "reviewers", "completion", "decisions", "revocations", "exceptions"} <= set(doc)
    call_command("report", "campaign", str(closed.pk), "--format", "pdf", "--output", str(tmp_path / "r.pdf"))
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") + pdf.count(b"/Type /Page ") >= 1
    events = AuditEvent.objects.filter(action="report.exported").order_by("seq")
    assert events.count() == before + 2
    assert [(e.data["format"], e.campaign_id) for e in events][-2:] == [("json", closed.pk), ("pdf", closed.pk)]


def test_pdf_without_an_output_file_and_unknown_campaign_are_refused(closed):
    with pytest.raises(CommandError, match="--output"):
        call_command("report", "campaign", str(closed.pk), "--format", "pdf")
    with pytest.raises(CommandError, match="no campaign 9999"):
        call_command("report", "campaign", "9999", "--format", "json")


def test_an_open_campaign_has_a_report_too(launched, tmp_path):
    campaign = launched()
    report = reports.campaign_report(campaign)
    assert report["campaign"]["state"] == "open"
    assert report["completion"] == []
    assert {d["state"] for d in report["decisions"]} == {"pending"}
