"""Connector and sync state changes leave audit events (never a secret), against the GitHub simulator."""

import json
from datetime import timedelta

import pytest

from connectors.actions import do_remove_connector, do_update_connector
from connectors.base import ConfigurationError
from connectors.choices import SyncStatus
from connectors.models import Connector
from connectors.simulators.server import ERROR
from connectors.sync import confirm_held, discard_held
from reviews import audit
from reviews.models import AuditEvent
from tests.audit.helpers import TOKEN, members
from tests.cli import manage


def events(prefix: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("seq"))


def everything_recorded() -> str:
    return json.dumps([r for r in audit.rows()])


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_connector_add_records_the_secret_key_and_reference_kind_only(audit_env):
    result = manage(
        "connector",
        "add",
        "gh",
        "--kind",
        "github",
        "--base-url",
        "http://127.0.0.1:9",
        "--option",
        "org=acme",
        "--option",
        "allow_private_network=true",
        "--secret",
        "token=env:GH_AUDIT_CANARY_VARIABLE",
        env={**audit_env, "GH_AUDIT_CANARY_VARIABLE": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    (added,) = events("connector.added")
    assert added.object_id == str(Connector.objects.get(name="gh").pk)
    assert added.data["secrets"] == {"token": "env"}
    assert added.data["options"] == {"org": "acme", "allow_private_network": "true"}
    assert added.actor_label == "system"
    recorded = everything_recorded()
    assert TOKEN not in recorded and "GH_AUDIT_CANARY_VARIABLE" not in recorded
    assert audit.verify().ok


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_a_refused_connector_add_records_nothing():
    result = manage(
        "connector", "add", "gh", "--kind", "github", "--base-url", "http://169.254.169.254", "--option", "org=acme"
    )
    assert result.returncode == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_an_update_records_each_change_and_which_secrets_were_repointed(connector, security_user, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    do_update_connector(
        connector,
        actor=security_user,
        dry_run=False,
        options={**connector.options, "org": "acme2"},
        secrets={"token": f"file:{token_file}"},
        sync_interval=timedelta(hours=1),
    )
    (updated,) = events("connector.updated")
    assert updated.data["changed"]["sync_interval"] == {"from": None, "to": 3600}
    assert updated.actor_label == "alice@example.com"
    assert updated.data["changed"]["dry_run"] == {"from": True, "to": False}
    assert updated.data["changed"]["options"]["to"]["org"] == "acme2"
    assert updated.data["secrets"] == [{"key": "token", "change": "changed", "was": "env", "to": "file"}]
    recorded = everything_recorded()
    assert str(token_file) not in recorded and "GH_AUDIT_TOKEN" not in recorded and TOKEN not in recorded


@pytest.mark.django_db
def test_an_update_that_changes_nothing_records_nothing(connector):
    do_update_connector(connector, dry_run=True, secrets=dict(connector.secrets))
    assert not events("connector.updated")


@pytest.mark.django_db
def test_a_refused_update_changes_nothing_and_records_nothing(connector):
    with pytest.raises(ConfigurationError, match="a secret must be a reference"):
        do_update_connector(connector, dry_run=False, secrets={"token": "ghp_literal"})
    with pytest.raises(ConfigurationError, match="cannot change kind"):
        do_update_connector(connector, kind="gitlab")
    connector.refresh_from_db()
    assert connector.dry_run is True and connector.secrets == {"token": "env:GH_AUDIT_TOKEN"}
    assert not events("connector.updated")


@pytest.mark.django_db
def test_removal_is_recorded_with_what_went(connector, sync, security_user):
    sync()
    pk = connector.pk
    do_remove_connector(connector, actor=security_user)
    (removed,) = events("connector.removed")
    assert removed.object_id == str(pk) and removed.data["name"] == "gh"
    assert removed.data["secrets"] == {"token": "env"}
    assert removed.data["runs"] == 1 and removed.data["current_grants"] > 0
    assert audit.verify().ok


@pytest.mark.django_db
def test_an_applied_sync_is_recorded_with_its_run_and_counts(sync, org):
    first = sync()
    org.remove_member(members(org)[0])
    second = sync()
    applied = events("sync.applied")
    assert [e.data["run"] for e in applied] == [first.pk, second.pk]
    assert applied[0].data["added"] == first.counts["added"] > 0
    assert applied[1].data["removed"] == second.counts["removed"] > 0
    assert applied[1].object_type == "connectors.syncrun" and applied[1].object_id == str(second.pk)
    assert applied[0].data["connector"] == "gh"


@pytest.mark.django_db
def test_a_failed_sync_is_recorded_with_its_error(sync, sim):
    sim.add_fault(ERROR, "/orgs/*/teams", status=500, times=None)
    run = sync()
    assert run.status == SyncStatus.FAILED
    (failed,) = events("sync.failed")
    assert failed.data["run"] == run.pk and failed.data["error"] == run.error
    assert TOKEN not in everything_recorded()
    assert not events("sync.applied")


@pytest.fixture
def held(sync, org):
    sync()
    for login in members(org)[:8]:
        org.remove_member(login)
    run = sync()
    assert run.status == SyncStatus.HELD
    return run


@pytest.mark.django_db
def test_a_held_run_then_its_confirmation_are_recorded(held, security_user):
    (event,) = events("sync.held")
    assert event.data["run"] == held.pk and event.data["removed"] == held.counts["removed"]
    confirm_held(held, actor=security_user)
    applied, confirmed = events("sync.applied")[-1], events("sync.confirmed")[0]
    assert applied.data["run"] == confirmed.data["run"] == held.pk
    assert confirmed.actor_label == applied.actor_label == "alice@example.com"
    assert confirmed.seq == applied.seq + 1  # one transaction
    assert audit.verify().ok


@pytest.mark.django_db
def test_a_discarded_run_is_recorded_with_who_discarded_it(held, security_user):
    discard_held(held, actor=security_user)
    (discarded,) = events("sync.discarded")
    assert discarded.data["run"] == held.pk and discarded.actor_label == "alice@example.com"
