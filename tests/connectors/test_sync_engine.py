"""The sync engine: snapshots, temporal grants, fail-closed, threshold, diff and export."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors import diff as inventory_diff
from connectors import export
from connectors.base import AccountRecord, GrantRecord, ResourceRecord
from connectors.choices import GrantKind, Level, SyncStatus
from connectors.models import Account, Connector, Grant, StagedGrant
from connectors.sync import AlreadyRunning, claim, confirm_held, discard_held, run_sync
from tests.connectors.records import RecordSource, small_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector():
    return Connector.objects.create(
        name="gh", kind="github", base_url="https://api.github.com", options={"org": "acme"}
    )


def sync(connector, records, **kw):
    return run_sync(connector, connector_factory=RecordSource(records, **kw))


def effective(connector, **filters):
    return list(export.rows([connector], export.Filters(**filters), as_granted=False))


def test_a_first_sync_records_every_grant_where_it_is_made(connector):
    run = sync(connector, small_org())
    assert run.status == SyncStatus.SUCCEEDED
    assert run.counts["added"] == Grant.objects.count() == 8
    team_grant = Grant.objects.get(via="team:acme/eng")
    assert team_grant.group.path == "acme/team/eng" and team_grant.account is None


def test_resyncing_an_unchanged_system_writes_no_grant(connector):
    sync(connector, small_org())
    before = list(Grant.objects.values_list("id", "added_run", "removed_run"))
    run = sync(connector, small_org())
    assert run.counts["added"] == run.counts["removed"] == run.counts["changed"] == 0
    assert list(Grant.objects.values_list("id", "added_run", "removed_run")) == before
    assert not StagedGrant.objects.exists()


def test_a_changed_permission_closes_the_old_grant_and_opens_a_new_one(connector):
    first = sync(connector, small_org())
    second = sync(connector, small_org(push_level="maintain"))
    assert second.counts["changed"] == 1
    old, new = Grant.objects.filter(via="team:acme/eng").order_by("id")
    assert old.removed_run == second and old.entitlement.name == "push" and old.last_seen_at == first.applied_at
    assert new.added_run == second and new.removed_run is None and new.entitlement.name == "maintain"
    result = inventory_diff.diff(connector, first, second)
    assert [r["permission_before"] for r in result["changed"]] == ["push"]
    assert [r["permission"] for r in result["changed"]] == ["maintain"]
    assert result["added"] == result["removed"] == []


def test_diff_lists_added_and_removed_grants_between_runs(connector):
    first = sync(connector, small_org(extra_members=("dave",)))
    second = sync(connector, small_org(extra_members=("erin",)))
    result = inventory_diff.diff(connector, first, second)
    assert [(r["account"]["login"], r["via"]) for r in result["added"]] == [("erin", "membership")]
    assert [(r["account"]["login"], r["via"]) for r in result["removed"]] == [("dave", "membership")]
    assert Account.objects.get(login="dave").present is False


def test_who_had_what_at_a_past_time_is_answered_from_history(connector):
    first = sync(connector, small_org(extra_members=("dave",)))
    sync(connector, small_org())
    now_logins = {r["account"]["login"] for r in effective(connector)}
    then_logins = {r["account"]["login"] for r in effective(connector, at=first.applied_at)}
    assert "dave" in then_logins and "dave" not in now_logins


def test_a_failed_sync_changes_nothing_and_records_no_removal(connector):
    good = sync(connector, small_org())
    failed = sync(connector, small_org(), fail_after=4)
    assert failed.status == SyncStatus.FAILED
    assert "502" in failed.error
    assert Grant.objects.current().count() == 8
    assert not Grant.objects.filter(removed_run__isnull=False).exists()
    assert connector.last_applied_run() == good
    assert not StagedGrant.objects.filter(run=failed).exists()


def test_a_sync_removing_more_than_the_threshold_is_held_until_confirmed(connector, security_user):
    sync(connector, small_org(extra_members=("dave", "erin", "frank")))
    held = sync(connector, small_org(drop=("user:bob", "user:carol", "user:dave", "user:erin", "user:frank")))
    assert held.status == SyncStatus.HELD
    assert Grant.objects.current().filter(account__login="dave").exists()
    applied = confirm_held(held, actor=security_user)
    assert applied.status == SyncStatus.SUCCEEDED
    assert not Grant.objects.current().filter(account__login="dave").exists()


def test_a_discarded_held_run_leaves_the_previous_state(connector, security_user):
    sync(connector, small_org(extra_members=("dave", "erin", "frank")))
    held = sync(connector, small_org(drop=("user:bob", "user:carol", "user:dave", "user:erin", "user:frank")))
    assert discard_held(held, actor=security_user).status == SyncStatus.DISCARDED
    assert Grant.objects.current().filter(account__login="dave").exists()
    assert not StagedGrant.objects.filter(run=held).exists()


def test_a_second_sync_of_the_same_connector_is_refused_while_one_runs(connector):
    claim(connector, trigger="test")
    with pytest.raises(AlreadyRunning):
        claim(connector, trigger="test")


def test_a_grant_naming_an_unlisted_account_fails_the_run(connector):
    records = [r for r in small_org() if getattr(r, "external_id", None) != "user:carol"]
    run = sync(connector, records)
    assert run.status == SyncStatus.FAILED
    assert "did not list" in run.error


def test_effective_access_expands_teams_children_base_permission_and_ownership(connector):
    sync(connector, small_org())
    rows = {(r["account"]["login"], r["resource"]["path"], r["level"], r["via"]) for r in effective(connector)}
    # carol is only in the child team: she reaches the parent team's repository through it.
    assert ("carol", "acme/r1", "write", "team:acme/eng") in rows
    assert ("bob", "acme/r1", "write", "team:acme/eng") in rows
    # The base permission reaches every repository for every member, never the org itself.
    assert ("carol", "acme/r2", "read", "org_base_permission") in rows
    assert not any(r[1] == "acme" and r[3] == "org_base_permission" for r in rows)
    # An owner is owner on the org and admin on each repository.
    assert ("alice", "acme", "owner", "org_owner") in rows
    assert ("alice", "acme/r2", "admin", "org_owner") in rows


def test_effective_export_for_one_resource_and_one_person(connector):
    sync(connector, small_org())
    on_r1 = {(r["account"]["login"], r["via"]) for r in effective(connector, resource_path="acme/r1")}
    assert on_r1 == {
        ("alice", "org_owner"),
        ("bob", "team:acme/eng"),
        ("carol", "team:acme/eng"),
        ("bob", "org_base_permission"),
        ("carol", "org_base_permission"),
        # Owners are members too: the base permission reaches them (below their admin).
        ("alice", "org_base_permission"),
    }
    carol = {(r["resource"]["path"], r["via"]) for r in effective(connector, person="carol@acme.test")}
    assert carol == {
        ("acme", "membership"),
        ("acme/team/eng-ci", "membership"),
        ("acme/r1", "team:acme/eng"),
        ("acme/r1", "org_base_permission"),
        ("acme/r2", "org_base_permission"),
    }


def test_export_query_count_does_not_grow_with_the_number_of_grants(connector):
    sync(connector, small_org())
    with CaptureQueriesContext(connection) as small:
        effective(connector)
    sync(connector, small_org(extra_members=tuple(f"user{i}" for i in range(40))))
    with CaptureQueriesContext(connection) as large:
        effective(connector)
    assert len(large) == len(small)


def test_csv_cells_that_look_like_formulas_are_neutralized():
    assert export.csv_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert export.csv_safe("@evil") == "'@evil"
    assert export.csv_safe("alice") == "alice"


def test_a_held_run_is_superseded_when_a_later_sync_applies(connector):
    sync(connector, small_org(extra_members=("dave", "erin", "frank")))
    held = sync(connector, small_org(drop=("user:bob", "user:carol", "user:dave", "user:erin", "user:frank")))
    assert held.status == SyncStatus.HELD
    later = sync(connector, small_org(extra_members=("dave", "erin", "frank")))
    held.refresh_from_db()
    assert later.status == SyncStatus.SUCCEEDED
    assert (held.status, held.error) == (SyncStatus.DISCARDED, f"superseded by run {later.pk}")
    assert not StagedGrant.objects.filter(run=held).exists()


def gitlab_like_org(*, sealed=False):
    """A group tree with inherited membership, a share capped at Reporter, and a non-inheriting subtree."""
    top = ResourceRecord("group:1", "group", "top")
    sub = ResourceRecord(
        "group:2", "group", "top/sub", parent_external_id="group:1", attributes={"inherits": False} if sealed else {}
    )
    app = ResourceRecord("project:1", "project", "top/sub/app", parent_external_id="group:2")
    ops = ResourceRecord("group:3", "group", "ops")
    people = [AccountRecord(f"user:{p}", p) for p in ("ann", "ben", "cid")]

    def member(person, group, level, name):
        return GrantRecord(
            group,
            GrantKind.MEMBERSHIP,
            name,
            level,
            "direct",
            account_external_id=f"user:{person}",
            cascade_to=("group", "project"),
            cascade_level=level,
            cascade_via=f"group:{group}",
            rolls_up=False,
        )

    grants = [
        member("ann", "group:1", Level.OWNER, "Owner"),
        member("ben", "group:2", Level.WRITE, "Developer"),
        member("cid", "group:3", Level.ADMIN, "Maintainer"),
        # ops is shared into the project at Reporter: its members get at most Reporter there.
        GrantRecord(
            "project:1",
            GrantKind.PERMISSION,
            "Reporter",
            Level.READ,
            "shared_group:ops",
            group_external_id="group:3",
            capped=True,
        ),
    ]
    return [top, sub, app, ops, *people, *grants]


def test_inherited_membership_reports_the_group_it_comes_from_and_shares_are_capped(connector):
    sync(connector, gitlab_like_org())
    rows = {(r["account"]["login"], r["resource"]["path"], r["level"], r["via"]) for r in effective(connector)}
    assert ("ann", "top", "owner", "direct") in rows
    assert ("ann", "top/sub/app", "owner", "group:group:1") in rows
    assert ("ben", "top/sub/app", "write", "group:group:2") in rows
    assert ("cid", "top/sub/app", "read", "shared_group:ops") in rows
    # A subgroup member is not a member of the parent group (no roll-up): ben never reaches "top".
    assert not any(r[0] == "ben" and r[1] == "top" for r in rows)


def test_a_resource_that_does_not_inherit_is_not_reached_from_above(connector):
    sync(connector, gitlab_like_org(sealed=True))
    rows = {(r["account"]["login"], r["resource"]["path"]) for r in effective(connector)}
    assert ("ann", "top") in rows
    assert ("ann", "top/sub") not in rows and ("ann", "top/sub/app") not in rows
    assert ("ben", "top/sub/app") in rows


def test_new_entitlement_options_leave_existing_digests_unchanged(connector):
    sync(connector, small_org())
    again = sync(connector, small_org())
    assert again.counts["changed"] == 0


def test_a_held_run_whose_staged_rows_were_lost_is_not_applied(connector, security_user):
    sync(connector, small_org(extra_members=("dave", "erin", "frank")))
    held = sync(connector, small_org(drop=("user:bob", "user:carol", "user:dave", "user:erin", "user:frank")))
    StagedGrant.objects.filter(run=held).delete()  # what a PostgreSQL crash does to unlogged staging
    with pytest.raises(ValueError, match="lost its staged rows"):
        confirm_held(held, actor=security_user)
    assert Grant.objects.current().filter(account__login="dave").exists()


def test_a_name_too_long_for_the_inventory_fails_the_run_cleanly(connector):
    good = sync(connector, small_org())
    hostile = "\u202e<script>alert(1)</script>" + "x" * 10_000
    run = sync(connector, small_org(extra_members=(hostile,)))
    assert run.status == SyncStatus.FAILED
    assert "is 10031 characters, more than the 300 the inventory stores" in run.error
    assert connector.last_applied_run() == good
    assert not Grant.objects.filter(removed_run__isnull=False).exists()
