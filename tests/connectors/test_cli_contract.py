"""The command-line contract (CONTRACT.md): exit codes, refusals and export formats, run as real processes."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from connectors.models import Connector, Grant, StoredSecret, SyncRun
from connectors.sync import run_sync
from tests.cli import ROOT, database_env, manage
from tests.connectors.records import RecordSource, small_org

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


def test_an_unknown_kind_is_bad_usage_and_lists_the_known_kinds():
    result = manage("connector", "add", "x", "--kind", "gitlub", "--base-url", "https://example.com")
    assert result.returncode == 2
    assert "github" in result.stderr and "gitlub" in result.stderr
    assert not Connector.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254",
        "http://2852039166",
        "http://0251.0376.0251.0376",
        "http://[::ffff:169.254.169.254]",
        "http://127.0.0.1:9",
    ],
)
def test_a_refused_base_url_fails_add_before_any_request(url):
    result = manage(
        "connector",
        "add",
        "x",
        "--kind",
        "github",
        "--base-url",
        url,
        "--option",
        "org=acme",
        "--secret",
        "token=env:GH_TOKEN",
    )
    assert result.returncode == 1
    assert "refusing to connect" in result.stderr
    assert not Connector.objects.exists()


def test_a_secret_value_instead_of_a_reference_is_refused_and_not_echoed():
    token = "ghp_" + "A1b2C3d4" * 4
    result = manage("connector", "add", "x", "--kind", "github", "--option", "org=acme", "--secret", f"token={token}")
    assert result.returncode == 1
    assert "env:NAME" in result.stderr
    assert token not in result.stderr + result.stdout
    assert not Connector.objects.exists()


def test_add_then_list_shows_references_never_values():
    result = manage(
        "connector", "add", "gh", "--kind", "github", "--option", "org=acme", "--secret", "token=env:GH_TOKEN"
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(manage("connector", "list", "--format", "json").stdout)
    assert listed[0]["name"] == "gh"
    assert listed[0]["base_url"] == "https://api.github.com"
    assert listed[0]["secrets"] == {"token": "env:GH_TOKEN"}
    assert listed[0]["last_sync"] is None
    # Campaign revocations reach GitHub members, teams, collaborators, deploy keys and invitations.
    assert {"membership:membership", "permission:direct", "invitation:invitation"} <= set(listed[0]["revocable"])
    assert manage("connector", "remove", "gh").returncode == 0
    assert not Connector.objects.exists()


def test_a_missing_required_option_is_refused():
    result = manage("connector", "add", "gh", "--kind", "github", "--secret", "token=env:GH_TOKEN")
    assert result.returncode == 1
    assert "org=" in result.stderr


@pytest.fixture
def synced():
    connector = Connector.objects.create(
        name="gh", kind="github", base_url="https://api.github.com", options={"org": "acme"}
    )
    first = run_sync(connector, connector_factory=RecordSource(small_org(extra_members=("=cmd|evil",))))
    second = run_sync(connector, connector_factory=RecordSource(small_org(extra_members=("erin",))))
    return connector, first, second


def test_diff_json_lists_what_changed_between_the_last_two_runs(synced):
    _, first, second = synced
    result = manage("diff", "gh", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["from_run"], data["to_run"]) == (first.pk, second.pk)
    assert [r["account"]["login"] for r in data["added"]] == ["erin"]
    assert [r["account"]["login"] for r in data["removed"]] == ["=cmd|evil"]
    assert data["changed"] == []


def test_diff_of_an_unknown_run_fails():
    Connector.objects.create(name="gh", kind="github", base_url="https://api.github.com", options={"org": "acme"})
    assert manage("diff", "gh", "--from", "999").returncode == 1


def test_access_export_jsonl_rows_follow_the_contract(synced):
    result = manage("access", "export", "--connector", "gh", "--resource", "gh:acme/r1")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    carol = next(r for r in rows if r["account"]["login"] == "carol" and r["via"] == "team:acme/eng")
    assert carol["system"] == "github" and carol["connector"] == "gh"
    assert carol["resource"] == {"type": "repository", "external_id": "repo:1", "path": "acme/r1"}
    assert carol["account"]["type"] == "human" and carol["account"]["state"] == "active"
    assert carol["permission"] == "push" and carol["level"] == "write"
    assert carol["first_seen"] and carol["last_seen"]


def test_access_export_as_granted_names_the_team_as_holder(synced):
    result = manage("access", "export", "--as-granted", "--resource", "gh:acme/r1")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["account"]["login"], r["account"]["type"], r["via"]) for r in rows] == [
        ("acme/team/eng", "group", "team:acme/eng")
    ]


def test_access_export_at_a_past_time_shows_the_access_then(synced):
    _, first, _ = synced
    result = manage("access", "export", "--at", first.applied_at.isoformat(), "--as-granted")
    logins = {json.loads(line)["account"]["login"] for line in result.stdout.splitlines()}
    assert "=cmd|evil" in logins and "erin" not in logins


def test_access_export_csv_neutralizes_formulas(synced):
    _, first, _ = synced
    result = manage("access", "export", "--format", "csv", "--at", first.applied_at.isoformat())
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    logins = {r["account_login"] for r in rows}
    assert "'=cmd|evil" in logins and "=cmd|evil" not in logins


def test_access_export_with_a_bad_time_is_bad_usage():
    assert manage("access", "export", "--at", "yesterday").returncode == 2


def test_removing_a_synced_connector_removes_its_inventory(synced):
    result = manage("connector", "remove", "gh")
    assert result.returncode == 0, result.stderr
    assert not Connector.objects.exists()
    assert not Grant.objects.exists() and not SyncRun.objects.exists()


def secret_set(name: str, key: str, *, stdin: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(ROOT / "manage.py"), "connector", "secret", "set", name, key],
        input=stdin,
        env={**os.environ, **database_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_secret_set_reads_the_token_from_stdin_stores_it_encrypted_and_never_prints_it():
    """ASVS 5.0 V13.3.1: the token is read from standard input (never argv), stored encrypted, shown as stored:ID."""
    token = "ghp_" + "StdinCanary" * 3
    key = Fernet.generate_key().decode()
    env = {"PIPEACCESS_SECRETS_KEYS": key}
    assert manage("connector", "add", "gh", "--kind", "github", "--option", "org=acme", env=env).returncode == 0
    result = secret_set("gh", "token", stdin=token + "\n", env=env)
    assert result.returncode == 0, result.stderr
    assert "stored token of connector gh, encrypted" in result.stdout
    (listed,) = json.loads(manage("connector", "list", "--format", "json", env=env).stdout)
    stored = StoredSecret.objects.get()
    assert listed["secrets"] == {"token": f"stored:{stored.pk}"}
    assert Fernet(key.encode()).decrypt(stored.ciphertext.encode()).decode() == token
    assert token not in result.stdout + result.stderr + json.dumps(listed)


def test_secret_set_refuses_an_empty_token_and_an_unknown_key():
    env = {"PIPEACCESS_SECRETS_KEYS": Fernet.generate_key().decode()}
    assert manage("connector", "add", "gh", "--kind", "github", "--option", "org=acme", env=env).returncode == 0
    empty = secret_set("gh", "token", stdin="\n", env=env)
    assert empty.returncode == 1 and "the token is empty" in empty.stderr
    unknown = secret_set("gh", "password", stdin="ghp_" + "x" * 36, env=env)
    assert unknown.returncode == 1
    assert not StoredSecret.objects.exists() and Connector.objects.get().secrets == {}
