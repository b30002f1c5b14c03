"""Closing at the deadline (keep, revoke, extend once), the campaign clock, escalation and the CLI."""

import json
from datetime import timedelta

import pytest
import yaml
from django.core.management import CommandError, call_command

from pipeaccess.celery import app as celery_app
from reviews import campaigns, decisions
from reviews.choices import CampaignState, ItemState, Verdict
from reviews.models import Campaign, CampaignTemplate, ReviewerProgress


def test_closing_keeps_undecided_access_by_default_and_records_the_timeout(launched, users):
    campaign = launched(on_timeout="keep")
    decisions.decide(
        campaign.items.get(holder_label="carol", via="membership", resource_path="acme/team/eng-ci"),
        actor=users["mia"],
        decision="revoke",
        justification="moved teams",
    )
    campaigns.close(campaign)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CLOSED
    timed_out = campaign.items.filter(timed_out=True)
    assert timed_out.count() == 8
    assert set(timed_out.values_list("verdict", flat=True)) == {Verdict.APPROVE}
    assert campaign.items.get(timed_out=False).verdict == Verdict.REVOKE


def test_on_timeout_revoke_revokes_what_nobody_approved(launched):
    campaign = launched(on_timeout="revoke")
    campaigns.close(campaign)
    assert set(campaign.items.values_list("verdict", flat=True)) == {Verdict.REVOKE}


def test_on_timeout_extend_moves_the_deadline_once_then_keeps(launched):
    campaign = launched(on_timeout="extend", duration="10d")
    due = campaign.due_at
    result = campaigns.tick(now=due + timedelta(minutes=1))
    campaign.refresh_from_db()
    assert (campaign.state, campaign.extended, campaign.due_at) == (CampaignState.OPEN, True, due + timedelta(days=10))
    assert result["closed"] == []
    campaigns.tick(now=campaign.due_at + timedelta(minutes=1))
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CLOSED
    assert set(campaign.items.values_list("verdict", flat=True)) == {Verdict.APPROVE}


def test_a_closed_campaign_cannot_be_closed_again(launched):
    campaign = launched()
    campaigns.close(campaign)
    with pytest.raises(ValueError, match="not open"):
        campaigns.close(campaign)


def test_a_scheduled_template_launches_once_per_period_however_often_the_clock_beats(make_template):
    template = make_template(schedule="every: 30d")
    first = template.next_launch_at
    assert first is not None
    assert campaigns.tick(now=first - timedelta(minutes=1))["launched"] == []
    launched = campaigns.tick(now=first + timedelta(seconds=30))["launched"]
    again = campaigns.tick(now=first + timedelta(seconds=40))["launched"]
    assert len(launched) == 1
    assert again == []
    template.refresh_from_db()
    assert template.next_launch_at == first + timedelta(days=30)
    campaign = Campaign.objects.get(pk=launched[0])
    assert campaign.state == CampaignState.LAUNCHING
    campaigns.populate(campaign, max_sync_age=timedelta(days=400))
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.OPEN
    assert campaign.items.count() == 9


def test_cron_schedules_are_understood(make_template):
    template = make_template(schedule="0 9 1 */3 *")
    assert (template.next_launch_at.day, template.next_launch_at.hour) == (1, 9)


def test_an_overdue_reviewer_is_escalated_to_their_manager_once(launched, people):
    campaign = launched(escalate_after="5d")
    assert campaigns.escalate(campaign, now=campaign.launched_at + timedelta(days=4)) == 0
    later = campaign.launched_at + timedelta(days=6)
    assert campaigns.escalate(campaign, now=later) == 3
    assert campaigns.escalate(campaign, now=later + timedelta(hours=1)) == 0
    ola = ReviewerProgress.objects.get(campaign=campaign, reviewer=people["ola"])
    assert (ola.escalated_at, ola.escalated_to) == (later, people["mia"])
    # mia has no manager: the fallback reviewer hears about it.
    mia = ReviewerProgress.objects.get(campaign=campaign, reviewer=people["mia"])
    assert mia.escalated_to == people["sam"]


def test_escalation_can_reassign_the_overdue_items(launched, people):
    campaign = launched(escalate_after="5d", escalate_reassign=True)
    campaigns.escalate(campaign, now=campaign.launched_at + timedelta(days=6))
    assert campaign.items.filter(reviewer=people["ola"]).count() == 0
    moved = campaign.items.filter(routed_by="reassigned")
    assert moved.filter(reviewer=people["mia"]).count() == 2


def test_reviewers_who_finished_are_not_escalated(launched, users, people):
    campaign = launched(escalate_after="5d")
    decisions.bulk_decide(
        decisions.reviewer_items(users["ola"], campaign), actor=users["ola"], decision="approve", justification="ok"
    )
    campaigns.escalate(campaign, now=campaign.launched_at + timedelta(days=6))
    assert ReviewerProgress.objects.get(campaign=campaign, reviewer=people["ola"]).escalated_at is None


def test_status_follows_the_contract(launched, users):
    campaign = launched()
    doc = campaigns.status(campaign)
    assert set(doc) >= {"id", "template", "state", "launched_at", "due_at", "items", "reviewers", "revocations"}
    assert set(doc["items"]) >= {"total", "decided", "approved", "revoked", "downgraded", "pending"}
    assert set(doc["revocations"]) >= {"queued", "done", "verified", "failed", "reappeared", "manual"}
    assert doc["items"]["total"] == 9
    assert {"email": "ola@acme.test", "total": 2, "pending": 2} in doc["reviewers"]


# --- The command line -------------------------------------------------------------


def write(tmp_path, docs) -> str:
    path = tmp_path / "templates.yaml"
    path.write_text(yaml.safe_dump_all(docs) if isinstance(docs, list) else docs)
    return str(path)


def test_templates_are_applied_from_a_file_and_listed(inventory, tmp_path, capsys):
    path = write(
        tmp_path,
        """
name: privileged
scope: {connectors: [acme-gh], min_level: admin}
reviewers: [manager, resource_owner, {fallback: sam@acme.test}]
schedule: {every: 90d}
duration: 14d
reminders: [7, 3, 1]
escalate_after: 10d
on_timeout: revoke
carry_forward: true
---
name: everything
reviewers: {strategies: [manager], fallback: sam@acme.test}
""",
    )
    call_command("campaign", "template", "apply", path)
    out = capsys.readouterr().out
    assert "privileged: saved, next launch" in out
    call_command("campaign", "template", "list", "--format", "json")
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["privileged"]["schedule"] == "every: 90d"
    assert listed["privileged"]["on_timeout"] == "revoke"
    assert listed["everything"]["schedule"] == ""
    # Applying again updates in place.
    call_command("campaign", "template", "apply", path)
    assert CampaignTemplate.objects.count() == 2


def test_a_bad_template_file_fails_with_the_reason(inventory, tmp_path):
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command("campaign", "template", "apply", write(tmp_path, "name: [unclosed"))
    with pytest.raises(CommandError, match="unknown connector"):
        call_command(
            "campaign",
            "template",
            "apply",
            write(tmp_path, [{"name": "x", "reviewers": ["manager"], "scope": {"connectors": ["gone"]}}]),
        )
    with pytest.raises(CommandError, match="cannot read"):
        call_command("campaign", "template", "apply", str(tmp_path / "missing.yaml"))


def test_launch_wait_status_and_close_from_the_command_line(make_template, capsys):
    make_template()
    call_command("campaign", "launch", "quarterly", "--wait")
    campaign_id = int(capsys.readouterr().out.strip())
    call_command("campaign", "status", str(campaign_id), "--format", "json")
    doc = json.loads(capsys.readouterr().out)
    assert (doc["id"], doc["state"], doc["items"]["total"]) == (campaign_id, "open", 9)
    call_command("campaign", "close", str(campaign_id))
    assert Campaign.objects.get(pk=campaign_id).state == CampaignState.CLOSED
    with pytest.raises(CommandError, match="not open"):
        call_command("campaign", "close", str(campaign_id))
    with pytest.raises(CommandError, match="no template named"):
        call_command("campaign", "launch", "nope", "--wait")


def test_launch_without_wait_returns_at_once_and_the_worker_freezes_the_items(make_template, capsys, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    make_template()
    call_command("campaign", "create", "--template", "quarterly")
    campaign = Campaign.objects.get(pk=int(capsys.readouterr().out.strip()))
    assert campaign.state == CampaignState.OPEN
    assert campaign.items.filter(state=ItemState.PENDING).count() == 9
