"""`audit verify` names the first broken event after every kind of tampering with the table or the checkpoints."""

import hashlib
import json

import pytest
from django.db import transaction

from reviews import audit
from reviews.models import AuditEvent
from tests.audit.helpers import TEST_KEY, run_command, write_events
from tests.cli import manage

pytestmark = pytest.mark.django_db


def verify_json() -> tuple[int, dict]:
    code, out, _ = run_command("verify", "--format", "json")
    return code, json.loads(out)


def event(seq: int) -> AuditEvent:
    return AuditEvent.objects.get(seq=seq)


def checkpoint() -> None:
    code, out, err = run_command("checkpoint")
    assert code == 0, err


def test_an_untouched_chain_verifies_with_its_count_and_head(checkpoint_dir):
    write_events(12)
    checkpoint()
    code, out, err = run_command("verify")
    head = event(12)
    assert code == 0
    assert out.startswith(f"audit chain OK: 12 events, head #12 {head.hash}; 1 checkpoint(s) in 1 file(s) match")
    assert err == ""


def test_an_empty_chain_verifies(checkpoint_dir):
    code, report = verify_json()
    assert code == 0
    assert report["ok"] is True and report["events"] == 0 and report["head"]["seq"] == 0


def test_without_checkpoints_it_verifies_but_warns_that_truncation_would_not_show():
    write_events(3)
    code, out, err = run_command("verify")
    assert code == 0
    assert "no checkpoints in" in err and "truncated or fully rewritten chain cannot be detected" in err


def test_an_edited_row_is_named_and_the_rows_after_it_still_check():
    write_events(10)
    AuditEvent.objects.filter(seq=6).update(data={"step": 5, "approved": True})
    code, report = verify_json()
    assert code == 1 and report["ok"] is False
    first = report["first_broken"]
    assert (first["seq"], first["id"], first["kind"]) == (6, event(6).pk, "content_edited")
    assert "content edited" in first["message"]
    assert report["problem_count"] == 1  # 7..10 still chain to #6's stored hash


@pytest.mark.parametrize(
    "column,value",
    [("actor_label", "mallory@example.com"), ("action", "test.other"), ("object_id", "99"), ("created", None)],
)
def test_every_hashed_column_is_covered(column, value):
    write_events(5)
    if value is None:  # a moved timestamp
        value = event(3).created.replace(year=2020)
    AuditEvent.objects.filter(seq=3).update(**{column: value})
    code, report = verify_json()
    assert code == 1
    assert (report["first_broken"]["seq"], report["first_broken"]["kind"]) == (3, "content_edited")


def test_the_text_report_names_the_first_broken_event_and_exits_1():
    write_events(4)
    AuditEvent.objects.filter(seq=2).update(data={"step": 99})
    code, out, _ = run_command("verify")
    assert code == 1
    assert out.startswith(f"audit chain BROKEN at event #2 (id {event(2).pk}): content edited")


def test_a_deleted_row_shows_as_a_sequence_gap_at_the_next_event():
    write_events(8)
    AuditEvent.objects.filter(seq=4).delete()
    code, report = verify_json()
    first = report["first_broken"]
    assert code == 1
    assert (first["seq"], first["id"], first["kind"]) == (5, event(5).pk, "seq_gap")
    assert "event(s) #4 are missing (deleted)" in first["message"]


def test_deleting_the_first_rows_is_caught_too():
    write_events(5)
    AuditEvent.objects.filter(seq__lte=2).delete()
    code, report = verify_json()
    assert code == 1
    assert report["first_broken"]["seq"] == 3
    assert "#1..#2 are missing" in report["first_broken"]["message"]


def test_a_deletion_hidden_by_renumbering_breaks_the_previous_hash_link():
    write_events(8)
    AuditEvent.objects.filter(seq=4).delete()
    for seq in range(5, 9):  # close the gap one row at a time (seq is unique)
        AuditEvent.objects.filter(seq=seq).update(seq=seq - 1)
    code, report = verify_json()
    first = report["first_broken"]
    assert code == 1
    assert (first["seq"], first["kind"]) == (4, "prev_link_broken")
    assert "no event has the hash it points to" in first["message"]


def forged_hash(row: AuditEvent) -> str:
    """What a forger without the key can compute: a plain SHA-256 of the canonical content."""
    return hashlib.sha256(audit.canonical(row)).hexdigest()


def test_a_row_forged_without_the_key_at_the_end_is_named():
    write_events(6)
    last = event(6)
    forged = AuditEvent(
        seq=7,
        created=last.created,
        actor_label="alice@example.com",
        action="decision.approve",
        data={"item": 1},
        prev_hash=last.hash,
    )
    forged.hash = forged_hash(forged)
    forged.save()
    code, report = verify_json()
    assert code == 1
    assert (report["first_broken"]["seq"], report["first_broken"]["id"]) == (7, forged.pk)
    assert report["first_broken"]["kind"] == "content_edited"


def test_a_row_forged_into_the_middle_is_named():
    write_events(6)
    for seq in range(6, 3, -1):  # make room at #4
        AuditEvent.objects.filter(seq=seq).update(seq=seq + 1)
    forged = AuditEvent(
        seq=4, created=event(3).created, actor_label="system", action="test.event", data={}, prev_hash=event(3).hash
    )
    forged.hash = forged_hash(forged)
    forged.save()
    code, report = verify_json()
    assert code == 1
    assert (report["first_broken"]["seq"], report["first_broken"]["id"]) == (4, forged.pk)


def test_two_swapped_rows_are_named_at_the_first_position():
    write_events(9)
    a, b = event(3), event(7)
    AuditEvent.objects.filter(pk=a.pk).update(seq=10_000)
    AuditEvent.objects.filter(pk=b.pk).update(seq=3)
    AuditEvent.objects.filter(pk=a.pk).update(seq=7)
    code, report = verify_json()
    first = report["first_broken"]
    assert code == 1
    assert (first["seq"], first["id"], first["kind"]) == (3, b.pk, "prev_link_broken")
    assert "its prev_hash is the hash of event #6: events were reordered or renumbered" in first["message"]


def test_a_truncated_tail_is_caught_by_the_checkpoint(checkpoint_dir):
    write_events(10)
    checkpoint()
    AuditEvent.objects.filter(seq__gt=7).delete()
    code, report = verify_json()
    first = report["first_broken"]
    assert code == 1
    assert (first["kind"], first["seq"]) == ("truncated", 8)
    assert "recorded event #10 but the chain ends at #7" in first["message"]
    assert first["checkpoint"].endswith(".jsonl:1")
    out = run_command("verify")[1]
    assert out.startswith(f"audit chain BROKEN at event #8 (missing), checkpoint {first['checkpoint']}: truncated")


def test_a_truncated_tail_then_refilled_shows_as_a_rewrite(checkpoint_dir):
    write_events(5)
    checkpoint()
    AuditEvent.objects.filter(seq__gt=3).delete()
    write_events(4, action="test.refill")  # the chain is valid again, and longer than the checkpoint
    code, report = verify_json()
    assert code == 1
    assert (report["first_broken"]["kind"], report["first_broken"]["seq"]) == ("rewritten", 5)


def test_a_full_rewrite_with_a_fresh_valid_chain_is_caught_by_the_checkpoint(checkpoint_dir):
    # The worst case: someone holding the key replaces every row with a self-consistent chain.
    write_events(6, action="connector.removed")
    checkpoint()
    AuditEvent.objects.all().delete()
    write_events(8, action="test.innocent")
    assert audit.verify(checkpoint_dir=checkpoint_dir.parent / "elsewhere").ok  # the chain alone looks fine
    code, report = verify_json()
    first = report["first_broken"]
    assert code == 1
    assert (first["kind"], first["seq"]) == ("rewritten", 6)
    assert "the chain was rewritten at or before #6" in first["message"]


def test_a_tampered_checkpoint_file_is_reported(checkpoint_dir):
    write_events(4)
    checkpoint()
    write_events(2)
    checkpoint()
    (path,) = checkpoint_dir.iterdir()
    lines = path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["seq"] = 2  # roll the checkpoint back to hide later events
    path.write_text(lines[0] + "\n" + json.dumps(entry) + "\n")
    code, report = verify_json()
    assert code == 1
    (problem,) = report["problems"]
    assert problem["kind"] == "tampered_checkpoint"
    assert problem["checkpoint"] == f"{path.name}:2"
    assert "signature does not match" in problem["message"]


def test_a_checkpoint_signed_with_another_key_is_reported(checkpoint_dir, settings):
    write_events(3)
    # A forger writes a well-formed line, signed with a key of their own.
    settings.AUDIT_KEY = "some-other-key-" + "f" * 32
    entry = {"seq": 3, "hash": event(3).hash, "time": "2026-01-01T00:00:00+00:00"}
    line = json.dumps({**entry, "sig": audit._sign(entry)})
    settings.AUDIT_KEY = TEST_KEY
    checkpoint_dir.mkdir(parents=True)
    (checkpoint_dir / "audit-checkpoints-2026-01-01.jsonl").write_text(line + "\n")
    code, report = verify_json()
    assert code == 1
    assert report["first_broken"]["kind"] == "tampered_checkpoint"


def test_a_garbled_checkpoint_line_is_reported(checkpoint_dir):
    write_events(2)
    checkpoint()
    (path,) = checkpoint_dir.iterdir()
    with open(path, "a") as fh:
        fh.write("not json at all\n")
    code, report = verify_json()
    assert code == 1
    assert report["first_broken"]["kind"] == "tampered_checkpoint"
    assert "the line is not a checkpoint" in report["first_broken"]["message"]


def test_verifying_with_the_wrong_key_fails_at_the_first_event(settings):
    write_events(3)
    settings.AUDIT_KEY = "not-the-key-the-chain-was-written-with"
    code, report = verify_json()
    assert code == 1
    assert (report["first_broken"]["seq"], report["first_broken"]["kind"]) == (1, "content_edited")


def test_a_deleted_user_does_not_break_the_chain(make_user):
    user = make_user("erin@example.com")
    with transaction.atomic():
        audit.record("test.by_user", actor=user)
    user.delete()
    ev = AuditEvent.objects.get(action="test.by_user")
    assert ev.actor_id is None and ev.actor_label == "erin@example.com"
    assert verify_json()[0] == 0


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_the_command_exits_1_in_a_real_process_and_prints_json(audit_env):
    write_events(5)
    AuditEvent.objects.filter(seq=2).update(object_id="7")
    result = manage("audit", "verify", "--format", "json", env=audit_env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["first_broken"]["seq"] == 2
    assert report["events"] == 5
