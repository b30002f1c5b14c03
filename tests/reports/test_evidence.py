"""The evidence package: built for closed campaigns only, verified offline, any change detected."""

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reviews import audit, evidence
from reviews.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _remanifest(files: dict[str, bytes]) -> dict[str, bytes]:
    """Recompute the manifest, as a forger who edits the events would: the chain checks must still catch it."""
    body = "".join(f"{hashlib.sha256(c).hexdigest()}  {n}\n" for n, c in files.items() if n != evidence.MANIFEST)
    return {**files, evidence.MANIFEST: body.encode()}


@pytest.fixture
def package(closed):
    return evidence.export(closed)


def test_a_fresh_package_verifies(package, closed):
    result = evidence.verify(io.BytesIO(package))
    assert result.ok, result.problems
    files = _files(package)
    assert set(files) == {*evidence.FILES, evidence.MANIFEST}
    events = [json.loads(line) for line in files["audit-events.jsonl"].decode().splitlines()]
    chain = json.loads(files["chain.json"])
    # Every event of the campaign up to the export: launch, both decisions, the close and the revocation plan.
    expected = list(AuditEvent.objects.filter(campaign_id=closed.pk, seq__lte=chain["head"]["seq"]).order_by("seq"))
    assert [e["seq"] for e in events] == [e.seq for e in expected]
    assert {"campaign.closed", "decision.revoke", "decision.approve"} <= {e["action"] for e in events}
    assert chain["events"]["last_hash"] == events[-1]["hash"] and chain["events"]["count"] == len(events)
    assert result.events == len(events)
    assert b"sha256sum -c MANIFEST.sha256" in files["README.txt"]
    assert b"manage.py audit verify" in files["README.txt"]
    revocations = files["revocations.csv"].decode()
    assert "verified_at" in revocations.splitlines()[0] and "dry_run" in revocations


def test_the_export_itself_is_an_audit_event(closed):
    data = evidence.export(closed)
    event = AuditEvent.objects.filter(action="report.evidence_exported").get()
    assert (event.campaign_id, event.data["sha256"]) == (closed.pk, hashlib.sha256(data).hexdigest())


def test_the_manifest_is_sha256sum_format(package, tmp_path):
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        zf.extractall(tmp_path)
    lines = (tmp_path / evidence.MANIFEST).read_text().splitlines()
    assert len(lines) == len(evidence.FILES)
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest


def test_changing_any_single_byte_of_any_file_fails(package):
    files = _files(package)
    for name, content in files.items():
        for position in sorted({0, len(content) // 2, len(content) - 1}):
            changed = bytearray(content)
            changed[position] ^= 0x01
            result = evidence.verify(io.BytesIO(_zip({**files, name: bytes(changed)})))
            assert not result.ok, f"a change at byte {position} of {name} went unnoticed"


def test_removing_or_adding_a_file_fails(package):
    files = _files(package)
    for name in files:
        result = evidence.verify(io.BytesIO(_zip({k: v for k, v in files.items() if k != name})))
        assert not result.ok, f"removing {name} went unnoticed"
        assert name in result.problems[0] or evidence.MANIFEST in result.problems[0]
    result = evidence.verify(io.BytesIO(_zip({**files, "notes.txt": b"trust me"})))
    assert result.problems == ["notes.txt is not listed in MANIFEST.sha256 (a file was added)"]


def test_a_broken_link_is_found_even_with_a_recomputed_manifest(package):
    files = _files(package)
    events = [json.loads(line) for line in files["audit-events.jsonl"].decode().splitlines()]
    # Two consecutive events: the second's prev_hash must be the first's hash.
    index = next(i for i in range(1, len(events)) if events[i]["seq"] == events[i - 1]["seq"] + 1)
    events[index]["data"] = {"justification": "rewritten"}
    events[index - 1]["hash"] = "f" * 64
    forged = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events).encode()
    result = evidence.verify(io.BytesIO(_zip(_remanifest({**files, "audit-events.jsonl": forged}))))
    assert not result.ok
    assert f"event #{events[index]['seq']}'s prev_hash is not the hash of event" in result.problems[0]


def test_a_dropped_last_event_is_found_against_chain_json(package):
    files = _files(package)
    lines = files["audit-events.jsonl"].decode().splitlines(keepends=True)
    result = evidence.verify(
        io.BytesIO(_zip(_remanifest({**files, "audit-events.jsonl": "".join(lines[:-1]).encode()})))
    )
    assert not result.ok and "chain.json says" in result.problems[0]


def test_an_open_campaign_is_refused(launched, tmp_path):
    campaign = launched()
    with pytest.raises(evidence.EvidenceError, match="closed campaign only"):
        evidence.build(campaign)
    with pytest.raises(CommandError, match=f"campaign {campaign.pk} is open"):
        call_command("report", "evidence", str(campaign.pk), "--output", str(tmp_path / "e.zip"))
    assert not (tmp_path / "e.zip").exists()
    assert not AuditEvent.objects.filter(action="report.evidence_exported").exists()


def test_the_command_writes_and_verifies_and_the_standalone_verifier_needs_no_django(closed, tmp_path, capsys):
    out = tmp_path / "evidence.zip"
    call_command("report", "evidence", str(closed.pk), "--output", str(out))
    call_command("report", "verify-evidence", str(out))
    assert capsys.readouterr().out.startswith("OK: 7 files match the manifest")
    # The standard library only: no Django settings, no database, run from a copy of the module alone.
    alone = tmp_path / "verifier"
    alone.mkdir()
    (alone / "evidence_verify.py").write_bytes((ROOT / "reviews" / "evidence.py").read_bytes())
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    ok = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-I", "evidence_verify.py", "verify", str(out)],
        cwd=alone,
        capture_output=True,
        text=True,
        env=env,
    )
    assert (ok.returncode, ok.stdout[:3]) == (0, "OK:"), ok.stderr
    module = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "reviews.evidence", "verify", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert module.returncode == 0, module.stderr
    files = _files(out.read_bytes())
    out.write_bytes(_zip({**files, "report.csv": files["report.csv"] + b"x"}))
    bad = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "reviews.evidence", "verify", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == "FAILED: report.csv was changed: its SHA-256 does not match MANIFEST.sha256"
    with pytest.raises(SystemExit) as exit_info:
        call_command("report", "verify-evidence", str(out))
    assert exit_info.value.code == 1


def test_a_file_that_is_not_a_zip_is_reported(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    result = evidence.verify(junk)
    assert not result.ok and result.problems[0].startswith("not a readable zip file")


def test_chain_json_carries_the_latest_signed_checkpoint(closed, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    checkpoint, _ = audit.write_checkpoint()
    files = _files(evidence.export(closed))
    chain = json.loads(files["chain.json"])
    assert (chain["checkpoint"]["seq"], chain["checkpoint"]["hash"]) == (checkpoint.seq, checkpoint.hash)
    assert chain["checkpoint"]["seq"] == chain["events"]["last_seq"]  # the close was the newest event then
    assert evidence.verify(io.BytesIO(_zip(files))).ok
    chain["checkpoint"]["hash"] = "0" * 64
    forged = {**files, "chain.json": json.dumps(chain).encode()}
    result = evidence.verify(io.BytesIO(_zip(_remanifest(forged))))
    assert result.problems == [f"event #{checkpoint.seq} does not have the hash the signed checkpoint recorded"]
