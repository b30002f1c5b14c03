"""`access who` (text and json) and the export's identity and risk fields, run as real processes."""

import csv
import io
import json

import pytest

from connectors.models import Account
from tests.access.scenario import build
from tests.cli import manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


@pytest.fixture
def scenario():
    return build()


def test_who_person_json_lists_accounts_and_grants_by_system(scenario):
    result = manage("access", "who", "--person", "Alice@Acme.test", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["person"]["email"] == "alice@acme.test"
    assert [s["connector"] for s in data["systems"]] == ["gh", "gl"]
    gl_grants = data["systems"][1]["accounts"][0]["grants"]
    membership = next(g for g in gl_grants if g["resource"]["path"] == "acme")
    assert membership["explanations"] == ["admin on group acme"]
    assert membership["cascades_to"] == ["group", "project"]


def test_who_person_text_reads_as_sentences(scenario):
    result = manage("access", "who", "--person", "bob@acme.test")
    assert result.returncode == 0, result.stderr
    assert "Bob <bob@acme.test>, leaver (end date 2026-10-01)" in result.stdout
    assert "admin  repository acme/api  admin via direct" in result.stdout
    assert "- leaver since 2026-10-01 still holds access" in result.stdout
    assert "(member of acme/team/eng)" in result.stdout


def test_who_resource_text_and_json(scenario):
    text = manage("access", "who", "--resource", "gh:acme/api")
    assert text.returncode == 0, text.stderr
    assert "repository acme/api in gh (github)" in text.stdout
    assert "8 path(s) of access" in text.stdout
    data = json.loads(manage("access", "who", "--resource", "gh:acme/api", "--format", "json").stdout)
    assert data["resource"]["path"] == "acme/api"
    assert {r["account"]["login"] for r in data["reach"]} == {"alice", "bob", "ed", "ci"}


def test_synced_names_cannot_write_terminal_escapes(scenario):
    gh, *_ = scenario
    Account.objects.filter(connector=gh, login="bob").update(login="bob\x1b[2J\nfake")
    result = manage("access", "who", "--resource", "gh:acme/api")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "bob\\x1b[2J\\nfake" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--person", "nobody@acme.test"], "no person with the email nobody@acme.test"),
        (["--resource", "gh:acme/nothing"], "no resource acme/nothing in connector gh"),
        (["--resource", "zz:acme/api"], "no connector named zz"),
    ],
)
def test_who_an_unknown_person_or_resource_fails(scenario, args, message):
    result = manage("access", "who", *args)
    assert result.returncode == 1
    assert message in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--person", "alice@acme.test", "--resource", "gh:acme/api"],
        ["--resource", "acme/api"],
        ["--person", "alice@acme.test", "--format", "yaml"],
    ],
)
def test_who_bad_usage_exits_2(args):
    assert manage("access", "who", *args).returncode == 2


def test_export_rows_carry_the_person_and_the_risk_codes(scenario):
    result = manage("access", "export", "--resource", "gh:acme/api")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    bob_team = next(r for r in rows if r["account"]["login"] == "bob" and r["via"] == "team:acme/eng")
    assert bob_team["identity"] == "bob@acme.test"
    assert bob_team["risk"] == ["leaver"]  # the member's own signal on a row reached through a team
    ed = next(r for r in rows if r["account"]["login"] == "ed" and r["via"] == "org_owner")
    assert ed["risk"] == ["org_owner_or_admin", "privileged"]
    robot = next(r for r in rows if r["account"]["login"] == "ci")
    assert robot["identity"] is None and robot["risk"] == ["nonhuman_no_expiry"]


def test_as_granted_rows_carry_them_too_and_a_team_has_no_person(scenario):
    result = manage("access", "export", "--as-granted", "--resource", "gh:acme/api")
    rows = {(r["account"]["login"], r["via"]): r for r in map(json.loads, result.stdout.splitlines())}
    assert rows[("acme/team/eng", "team:acme/eng")]["identity"] is None
    assert rows[("acme/team/eng", "team:acme/eng")]["risk"] == []
    assert rows[("bob", "direct")]["risk"] == ["leaver", "privileged", "direct_bypass"]


def test_csv_export_has_identity_and_risk_columns(scenario):
    result = manage("access", "export", "--format", "csv", "--as-granted", "--connector", "gh")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    bob = next(r for r in rows if r["account_login"] == "bob" and r["via"] == "direct")
    assert (bob["identity"], bob["risk"]) == ("bob@acme.test", "leaver;privileged;direct_bypass")
    team = next(r for r in rows if r["account_login"] == "acme/team/eng")
    assert (team["identity"], team["risk"]) == ("", "")


def test_who_person_finds_a_person_by_another_email(scenario):
    _, _, alice, _ = scenario
    alice.other_emails = ["a.example@old.test"]
    alice.save()
    result = manage("access", "who", "--person", "A.Example@old.test", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["person"]["email"] == "alice@acme.test"
