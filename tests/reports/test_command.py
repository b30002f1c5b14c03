"""The `report` command as scripts run it: a real process, its exit codes and messages, the committed data."""

import json

import pytest

from reviews import evidence
from tests.cli import manage

pytestmark = pytest.mark.django_db(transaction=True)


def test_exit_codes_say_success_failure_or_bad_usage(closed, launched, tmp_path, settings):
    env = {"AUDIT_CHECKPOINT_DIR": str(settings.AUDIT_CHECKPOINT_DIR)}
    ok = manage("report", "campaign", str(closed.pk), "--format", "json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["campaign"]["id"] == closed.pk
    out = tmp_path / "e.zip"
    made = manage("report", "evidence", str(closed.pk), "--output", str(out), env=env)
    assert made.returncode == 0, made.stderr
    assert evidence.verify(out).ok
    checked = manage("report", "verify-evidence", str(out), env=env)
    assert (checked.returncode, checked.stdout[:3]) == (0, "OK:")
    still_open = launched(name="open one")
    refused = manage("report", "evidence", str(still_open.pk), "--output", str(tmp_path / "x.zip"), env=env)
    assert refused.returncode == 1 and "closed campaign only" in refused.stderr
    assert not (tmp_path / "x.zip").exists()
    assert manage("report", "campaign", "9999", "--format", "csv", env=env).returncode == 1
    unknown = manage("report", "inventory", "access-at", "--resource", "nope:x", "--format", "csv", env=env)
    assert unknown.returncode == 1 and "unknown connector 'nope'" in unknown.stderr
    for usage in (
        ("inventory", "bogus", "--format", "csv"),
        ("inventory", "changes", "--format", "csv"),
        ("inventory", "changes", "--since", "soon", "--until", "2026-01-01", "--format", "csv"),
        ("campaign", str(closed.pk), "--format", "pdf"),
    ):
        result = manage("report", *usage, env=env)
        assert result.returncode == 2, (usage, result.stderr)
