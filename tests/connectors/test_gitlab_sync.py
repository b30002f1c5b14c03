"""GitLab end to end: the simulator over real HTTP, the connector, the sync engine, the database and the export.

The simulator runs with an injected clock shared with the client's injected sleep, so rate-limit waits are
decided without real waiting.
"""

import functools
import logging

import pytest

from connectors.actions import do_add_connector
from connectors.base import Outcome
from connectors.choices import Level, SyncStatus
from connectors.client import build_connector
from connectors.export import Filters, rows
from connectors.models import Account, Grant, Resource
from connectors.providers.gitlab_roles import level_for
from connectors.revocation import revoke_grant
from connectors.simulators.gitlab import GitLabOrg, GitLabSimulator
from connectors.simulators.server import DISCONNECT, ERROR, SECONDARY_RATE_LIMIT, TRUNCATE
from connectors.sync import run_sync
from tests.connectors.helpers import fail_with_fault_and_check_nothing_moved

TOKEN = "glpat-e2e-admin-0123456789"
HOSTILE = '=cmd|"/c calc"!A1, <img src=x> ünïcode'  # a formula, markup and unicode
LEVELS = {"read": Level.READ, "write": Level.WRITE, "admin": Level.ADMIN, "owner": Level.OWNER}


class FakeTime:
    def __init__(self):
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def org():
    # 130 members directly in one subgroup: its member list crosses a page of 100.
    org = GitLabOrg.generate(seed=7, members=300, subgroups=12, projects=40)
    org.add_token("root", TOKEN)
    for i in range(130):
        org.add_user(f"crowd{i}")
        org.add_member("acme/team-0", f"crowd{i}", 10)
    org.add_user("ann")
    org.add_user("cid")
    org.add_user("eve")
    org.add_group("ops", name=HOSTILE)
    org.add_group("oncall", parent="ops")
    org.user("cid").name = HOSTILE
    org.add_member("acme", "ann", 50)
    org.add_member("ops", "cid", 40)
    org.add_member("ops/oncall", "eve", 30)
    org.share("acme/team-0", "ops", 20)
    project = next(p for p in org.projects.values() if org.full_path(p).startswith("acme/"))
    org.share(org.full_path(project), "ops/oncall", 30)
    # partners is invited into ops, vendors into partners: pia comes along with ops, vic does not (one level).
    org.add_user("pia")
    org.add_user("vic")
    org.add_group("partners")
    org.add_group("vendors")
    org.add_member("partners", "pia", 30)
    org.add_member("vendors", "vic", 30)
    org.share("ops", "partners", 30)
    org.share("partners", "vendors", 30)
    return org


@pytest.fixture
def sim(org, fake_time):
    with GitLabSimulator(org, clock=fake_time.clock) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db):
    monkeypatch.setenv("GITLAB_E2E_TOKEN", TOKEN)
    return do_add_connector(
        name="gitlab",
        kind="gitlab",
        base_url=sim.url,
        options={"group": ["acme"], "allow_private_network": "true"},
        secrets={"token": "env:GITLAB_E2E_TOKEN"},
    )


@pytest.fixture
def factory(fake_time):
    return functools.partial(
        build_connector, sleep=fake_time.sleep, clock=fake_time.clock, timeout=1, max_retries=2, max_concurrency=4
    )


@pytest.fixture
def sync(connector, factory):
    return lambda: run_sync(connector, connector_factory=factory)


def export(connector, *, as_granted=False, **filters):
    return list(rows([connector], Filters(**filters), as_granted=as_granted))


def current():
    return set(Grant.objects.current().values_list("key", "entitlement__name", "entitlement__level"))


@pytest.mark.django_db
def test_a_sync_records_each_grant_once_where_it_is_made_with_the_fewest_requests(sync, org):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    direct = Grant.objects.current().filter(via="direct", account__type="human")
    scope = [n for n in [*org.groups.values(), *org.projects.values()] if org.full_path(n).startswith("acme")]
    expected = sum(1 for n in scope for uid in n.members if not org.users[uid].bot)
    assert direct.filter(resource__path__startswith="acme").count() == expected
    assert run.requests_made == org.rest_lower_bound(["acme"])


@pytest.mark.django_db
def test_effective_access_matches_gitlabs_rules_for_every_person_and_place(sync, org, connector):
    sync()
    best: dict[tuple[str, str], Level] = {}
    for row in export(connector):
        if row["via"] in ("instance_admin", "invitation") or row["account"]["type"] != "human":
            continue
        key = (row["account"]["login"], row["resource"]["path"])
        best[key] = max(best.get(key, Level.READ), LEVELS[row["level"]])

    expected = {}
    for node in [*org.groups.values(), *org.projects.values()]:
        for uid, level in org.effective_members(node).items():
            if not org.users[uid].bot:
                expected[(org.users[uid].username, org.full_path(node))] = level_for(level)
    assert best == expected


@pytest.mark.django_db
def test_export_rows_name_the_source_of_inherited_and_shared_access(sync, org, connector):
    sync()
    effective = {(r["account"]["login"], r["resource"]["path"], r["via"], r["level"]) for r in export(connector)}
    deep_project = next(org.full_path(p) for p in org.projects.values() if org.full_path(p).count("/") >= 3)
    assert ("ann", deep_project, "group:acme", "owner") in effective
    assert ("ann", "acme", "direct", "owner") in effective
    # cid is Maintainer in ops, shared into team-0 at Reporter: capped to read, on team-0 and below.
    assert ("cid", "acme/team-0", "shared_group:ops", "read") in effective
    # eve is only in a subgroup of the invited group: GitLab gives her nothing through the share.
    assert not any(r[0] == "eve" and r[2] == "shared_group:ops" for r in effective)
    # cid inherits into ops/oncall, shared into a project at Developer: he reaches it, capped at write.
    shared_project = next(
        org.full_path(p) for p in org.projects.values() if p.shares and org.group("ops/oncall").id in p.shares
    )
    assert ("cid", shared_project, "shared_group:ops/oncall", "write") in effective
    assert ("eve", shared_project, "shared_group:ops/oncall", "write") in effective
    # Members of a group invited into the shared group come along (GitLab docs), capped by both shares.
    assert ("pia", "acme/team-0", "shared_group:ops", "read") in effective
    assert ("pia", "ops", "shared_group:partners", "write") in effective
    assert not any(r[0] == "vic" and r[1].startswith("acme") for r in effective)
    root = {r[1] for r in effective if r[0] == "root" and r[2] == "instance_admin"}
    assert "/" in root and deep_project in root
    # Recorded once where granted: ann has one grant row in the inventory, not one per descendant.
    assert Grant.objects.current().filter(account__login="ann").count() == 1


@pytest.mark.django_db
def test_hostile_names_are_stored_verbatim(sync):
    sync()
    assert Resource.objects.get(path="ops").name == HOSTILE
    assert Account.objects.get(login="cid").name == HOSTILE


@pytest.mark.django_db
def test_an_unchanged_resync_changes_nothing(sync):
    sync()
    before = current()
    second = sync()
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    assert current() == before


@pytest.mark.django_db
def test_rate_limits_with_and_without_retry_after_are_waited_out(sync, sim, fake_time):
    sim.add_fault(SECONDARY_RATE_LIMIT, "/groups/*/members", seconds=30, times=1)
    sim.add_fault(ERROR, "/projects/*/deploy_keys", status=429, times=1)  # no Retry-After
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert 30 in fake_time.sleeps and len(fake_time.sleeps) >= 2


FAULTS = [
    pytest.param({"kind": ERROR, "path": "/projects/*/members", "status": 500, "times": None}, "500", id="5xx"),
    pytest.param({"kind": TRUNCATE, "path": "/groups/*/descendant_groups", "times": None}, "", id="truncated-body"),
    pytest.param({"kind": DISCONNECT, "path": "/users", "times": None}, "", id="disconnect"),
    pytest.param({"kind": ERROR, "path": "/groups/*/access_tokens", "status": 403, "times": None}, "403", id="403"),
    pytest.param(
        {"kind": SECONDARY_RATE_LIMIT, "path": "/groups/*/invitations", "seconds": 120000, "times": None},
        "rate limit",
        id="rate-limited",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(sync, sim, connector, fault, message):
    failed = fail_with_fault_and_check_nothing_moved(
        sync,
        sim,
        connector,
        fault,
        change=lambda: sim.org.group("acme").members.pop(sim.org.user("ann").id),
        state=current,
    )
    assert message in failed.error.lower()


@pytest.mark.django_db
def test_the_token_never_reaches_logs_or_errors(sync, sim, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sync()
    sim.add_fault(ERROR, "/groups/*/members", status=500, times=None)
    failed = sync()
    monkeypatch.setenv("GITLAB_E2E_TOKEN", TOKEN[:-1] + "X")
    unauthorized = sync()
    assert "401" in unauthorized.error
    for text in (caplog.text, failed.error, unauthorized.error):
        assert TOKEN not in text


@pytest.mark.django_db
def test_revoking_through_the_inventory_and_the_next_sync_sees_it(sync, org, factory):
    sync()
    ann = Grant.objects.current().get(account__login="ann", resource__path="acme")
    share = Grant.objects.current().get(via="shared_group:ops")
    key = Grant.objects.current().filter(account__type="deploy_key").first()
    for grant in (ann, share, key):
        result = revoke_grant(grant, connector_factory=factory)
        assert result.outcome == Outcome.REVOKED, result.message
    assert revoke_grant(ann, connector_factory=factory).outcome == Outcome.ALREADY_ABSENT
    after = sync()
    assert after.counts["removed"] == 3
    assert not Grant.objects.current().filter(pk__in=[ann.pk, share.pk, key.pk]).exists()


@pytest.mark.django_db
def test_a_downgrade_through_the_inventory_changes_the_role_upstream(sync, org, factory):
    sync()
    grant = Grant.objects.current().get(account__login="cid", resource__path="ops")
    result = revoke_grant(grant, downgrade_to=Level.WRITE, connector_factory=factory)
    assert result.outcome == Outcome.REVOKED, result.message
    after = sync()
    assert after.counts["changed"] == 1
    now = Grant.objects.current().select_related("entitlement").get(key=grant.key)
    assert (now.entitlement.name, now.entitlement.level) == ("developer", Level.WRITE)
