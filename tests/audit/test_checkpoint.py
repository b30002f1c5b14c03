"""Signed checkpoints: appended one line each to a file per day, never written over a broken chain."""

import json
import stat
from datetime import UTC, datetime

import pytest
from django.conf import settings

from pipeaccess.celery import app as celery_app
from reviews import audit
from reviews.models import AuditEvent
from reviews.tasks.audit import write_audit_checkpoint
from tests.audit.helpers import run_command, write_events

pytestmark = pytest.mark.django_db


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_checkpoint_is_one_signed_line_with_the_head(checkpoint_dir):
    write_events(7)
    code, out, err = run_command("checkpoint")
    head = AuditEvent.objects.get(seq=7)
    (path,) = checkpoint_dir.iterdir()
    assert code == 0, err
    assert out.startswith(f"checkpoint #7 {head.hash} at ")
    assert path.name == f"audit-checkpoints-{datetime.now(UTC):%Y-%m-%d}.jsonl"
    (entry,) = lines(path)
    assert (entry["seq"], entry["hash"]) == (7, head.hash)
    assert set(entry) == {"seq", "hash", "time", "sig"}
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 in (0o040, 0o000)  # not writable by group or others


def test_checkpoints_append_and_rotate_per_day(checkpoint_dir):
    write_events(2)
    audit.write_checkpoint(now=datetime(2026, 11, 24, 23, 50, tzinfo=UTC))
    write_events(1)
    audit.write_checkpoint(now=datetime(2026, 11, 24, 23, 59, tzinfo=UTC))
    audit.write_checkpoint(now=datetime(2026, 11, 25, 0, 5, tzinfo=UTC))
    first, second = sorted(checkpoint_dir.iterdir())
    assert first.name == "audit-checkpoints-2026-11-24.jsonl"
    assert [e["seq"] for e in lines(first)] == [2, 3]
    assert second.name == "audit-checkpoints-2026-11-25.jsonl"
    assert [e["seq"] for e in lines(second)] == [3]
    assert audit.verify().ok and audit.verify().checkpoints_checked == 3


def test_no_checkpoint_is_written_over_a_chain_edited_since_the_last_one(checkpoint_dir):
    write_events(3)
    run_command("checkpoint")
    write_events(3)
    AuditEvent.objects.filter(seq=5).update(data={"step": "edited"})
    code, _, err = run_command("checkpoint")
    assert code == 1
    assert f"refusing to add a checkpoint: event #5 (id {AuditEvent.objects.get(seq=5).pk}): content edited" in err
    (path,) = checkpoint_dir.iterdir()
    assert len(lines(path)) == 1


def test_no_checkpoint_is_written_after_a_truncation(checkpoint_dir):
    write_events(5)
    run_command("checkpoint")
    AuditEvent.objects.filter(seq__gt=3).delete()
    code, _, err = run_command("checkpoint")
    assert code == 1
    assert "event #5 of checkpoint" in err and "is gone (truncated)" in err


def test_no_checkpoint_is_written_after_a_rewrite(checkpoint_dir):
    write_events(3)
    run_command("checkpoint")
    AuditEvent.objects.all().delete()
    write_events(4)
    code, _, err = run_command("checkpoint")
    assert code == 1
    assert "event #3 differs from checkpoint" in err


def test_no_checkpoint_is_written_next_to_a_tampered_one(checkpoint_dir):
    write_events(2)
    run_command("checkpoint")
    (path,) = checkpoint_dir.iterdir()
    path.write_text(path.read_text().replace('"seq":2', '"seq":1'))
    code, _, err = run_command("checkpoint")
    assert code == 1
    assert "tampered checkpoint" in err


def test_the_first_checkpoint_checks_the_whole_chain(checkpoint_dir):
    write_events(4)
    AuditEvent.objects.filter(seq=1).update(actor_label="someone-else")
    with pytest.raises(audit.CheckpointError, match="event #1 "):
        audit.write_checkpoint()
    assert not checkpoint_dir.exists() or not any(checkpoint_dir.iterdir())


def test_an_empty_chain_gets_a_checkpoint_at_zero(checkpoint_dir):
    checkpoint, _ = audit.write_checkpoint()
    assert (checkpoint.seq, checkpoint.hash) == (0, audit.GENESIS)
    write_events(1)
    assert audit.write_checkpoint()[0].seq == 1


def test_the_periodic_task_writes_a_checkpoint_and_is_on_the_beat_schedule(checkpoint_dir):
    write_events(2)
    summary = write_audit_checkpoint()
    assert summary.startswith("checkpoint #2 ")
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    celery_app.loader.import_default_modules()
    assert entry["task"] in celery_app.tasks
    assert entry["task"] == write_audit_checkpoint.name


def test_the_periodic_task_fails_loudly_on_a_broken_chain(checkpoint_dir, caplog):
    write_events(2)
    AuditEvent.objects.filter(seq=2).delete()
    AuditEvent.objects.filter(seq=1).update(action="x")
    with pytest.raises(audit.CheckpointError):
        write_audit_checkpoint()
    assert "audit checkpoint not written" in caplog.text
