"""Access inventory reports: admins, outside, orphans, leavers, non-human, public, changes, access at T."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from connectors.models import Identity
from reviews import reports
from reviews.models import AuditEvent

from .conftest import HOSTILE

NOW = reports.InventoryParams()


def rows(kind, params=NOW):
    return list(reports.inventory(kind, params)[1])


def test_admins_and_owners_anywhere(inventory):
    found = {(r["holder"], r["resource"], r["level"], r["via"]) for r in rows("admins")}
    assert ("alice", "acme", "owner", "org_owner") in found
    assert ("bob", "acme/r2", "admin", "direct") in found
    assert (HOSTILE, "acme/r2", "admin", "direct") in found
    assert all(r["level"] in ("admin", "owner") for r in rows("admins"))
    owner = next(r for r in rows("admins") if r["via"] == "org_owner")
    assert owner["reach"] == "acme and every repository below it"


def test_outside_orphaned_and_nonhuman_accounts(inventory):
    assert {r["login"] for r in rows("outside")} == {HOSTILE, "dave"}
    assert {r["login"] for r in rows("orphaned")} == {HOSTILE, "dave"}
    (key,) = rows("nonhuman")
    assert (key["login"], key["type"], key["risk"]) == (
        "deploy_key:acme/r1:7",
        "deploy_key",
        ["nonhuman_unowned", "nonhuman_no_expiry"],
    )
    assert key["explanation"] == "deploy key without an owner; deploy key that never expires"


def test_leavers_with_access_are_listed(inventory, people):
    assert rows("leavers") == []
    Identity.objects.filter(pk=people["carol"].pk).update(status="leaver")
    (carol,) = rows("leavers")
    assert (carol["login"], carol["identity"], carol["identity_status"]) == ("carol", "carol@acme.test", "leaver")
    assert carol["grants"] >= 1


def test_public_and_anonymous_grants(inventory):
    (anon,) = rows("public")
    assert (anon["holder"], anon["holder_type"], anon["resource"], anon["risk"]) == (
        "anonymous",
        "pseudo",
        "acme/r2",
        ["public"],
    )


def test_changes_between_two_dates(inventory):
    first = timezone.now()
    inventory.sync(drop=("user:carol",), extra=[])
    second = timezone.now()
    changed = rows("changes", reports.InventoryParams(since=first, until=second))
    removed = {(r["holder"], r["resource"]) for r in changed if r["change"] == "removed"}
    assert ("carol", "acme/team/eng-ci") in removed
    assert ("anonymous", "acme/r2") in removed  # extra records dropped by this sync
    assert not [r for r in changed if r["change"] == "added"]
    assert rows("changes", reports.InventoryParams(since=second, until=second + timedelta(days=1))) == []
    with pytest.raises(reports.ReportError, match="--since and --until"):
        rows("changes", reports.InventoryParams(since=first))
    with pytest.raises(reports.ReportError, match="before"):
        rows("changes", reports.InventoryParams(since=second, until=first))


def test_who_had_access_to_a_resource_on_a_date(inventory):
    before = timezone.now()
    inventory.sync(drop=("user:bob",), extra=[])
    then = {
        (r["account_login"], r["level"], r["via"])
        for r in rows("access-at", reports.InventoryParams(at=before, resource="acme-gh:acme/r2"))
    }
    now = {
        (r["account_login"], r["level"], r["via"])
        for r in rows("access-at", reports.InventoryParams(resource="acme-gh:acme/r2"))
    }
    assert ("bob", "admin", "direct") in then and ("bob", "admin", "direct") not in now
    assert ("alice", "admin", "org_owner") in then
    with pytest.raises(reports.ReportError, match="unknown connector"):
        rows("access-at", reports.InventoryParams(resource="nope:acme/r2"))
    with pytest.raises(reports.ReportError, match="CONNECTOR:PATH"):
        rows("access-at", reports.InventoryParams(resource="acme/r2"))


def test_the_command_writes_csv_and_json_and_records_the_export(inventory, tmp_path):
    out = tmp_path / "admins.csv"
    call_command("report", "inventory", "admins", "--format", "csv", "--output", str(out))
    parsed = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    assert "'" + HOSTILE in {r["holder"] for r in parsed}
    assert out.read_bytes().count(b"\r\n") == len(parsed) + 1
    call_command(
        "report",
        "inventory",
        "access-at",
        "--resource",
        "acme-gh:acme/r1",
        "--at",
        timezone.now().isoformat(),
        "--format",
        "json",
        "--output",
        str(tmp_path / "at.json"),
    )
    doc = json.loads((tmp_path / "at.json").read_text())
    assert doc["report"] == "access-at" and {r["resource_path"] for r in doc["rows"]} == {"acme/r1"}
    events = AuditEvent.objects.filter(action="report.exported").order_by("seq")
    assert [(e.data["report"], e.data["format"]) for e in events] == [
        ("inventory:admins", "csv"),
        ("inventory:access-at", "json"),
    ]
    assert events.last().data["resource"] == "acme-gh:acme/r1"


def test_bad_dates_and_missing_parameters_fail_with_a_message(inventory):
    with pytest.raises(CommandError, match="not an ISO 8601"):
        call_command(
            "report", "inventory", "access-at", "--resource", "acme-gh:acme/r1", "--at", "yesterday", "--format", "csv"
        )
    with pytest.raises(CommandError, match="--since and --until"):
        call_command("report", "inventory", "changes", "--format", "json")


def test_moments_are_read_in_utc_whatever_their_offset():
    assert reports.parse_moment("0137-09-19T05:18:06-18:56", "since").isoformat() == "0137-09-20T00:14:06+00:00"
    assert reports.parse_moment("2026-11-01", "at").isoformat() == "2026-11-01T00:00:00+00:00"
    assert reports.parse_moment("0001-01-01T00:00:00+05:00", "at").year == 1
    assert reports.parse_moment("", "at") is None
