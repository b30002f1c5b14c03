"""Artifactory end to end: the simulator over real HTTP, the connector, the sync engine, the database and exports.

The simulator and the client share an injected clock and sleep, so rate-limit waits and token expiry are
real decisions without real waiting.
"""

import logging

import pytest

from connectors.base import Outcome
from connectors.choices import AccountType, Level, SyncStatus
from connectors.export import Filters, rows
from connectors.models import Account, Grant, Resource
from connectors.revocation import revoke_grant
from connectors.simulators.artifactory import ArtifactoryInstance, ArtifactorySimulator, Credential
from connectors.simulators.artifactory_org import EPOCH
from connectors.simulators.server import DELAY, DISCONNECT, ERROR, SECONDARY_RATE_LIMIT, TRUNCATE
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, fail_with_fault_and_check_nothing_moved, sync_factory
from tests.fakes import FakeTime

TOKEN = "cmVmdGtuOjAxOjE3e2eAdminToken0123456789abcdefghijklmnopqrstuvwx"
READER_TOKEN = "cmVmdGtuOjAxOjE3e2eReaderToken0123456789abcdefghijklmnopqrstuvw"


@pytest.fixture
def fake_time():
    return FakeTime(EPOCH)


@pytest.fixture
def instance():
    inst = ArtifactoryInstance.generate(seed=5, users=40, groups=6, repositories=12, permission_targets=8, tokens=6)
    inst.add_user("rita", last_logged_in=EPOCH - 600)
    inst.add_user("sam")
    inst.add_group("team", members=["rita", "sam"])
    inst.add_repository("team-local", "local", "maven")
    inst.add_repository("team-virtual", "virtual", "maven")
    inst.add_permission("team deploy", ["ANY LOCAL"], users={"rita": ["read", "write"]}, groups={"team": ["read"]})
    inst.add_token("rita", token_id="rita-ci", expiry=EPOCH + 86_400, description="ci")
    return inst


@pytest.fixture
def sim(instance, fake_time):
    tokens = {TOKEN: Credential("admin"), READER_TOKEN: Credential("rita", admin=False)}
    # Pages of 10 names: the user and group lists cross several pages.
    with ArtifactorySimulator(instance, tokens=tokens, clock=fake_time.clock, max_page_size=10) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch,
        name="art",
        kind="artifactory",
        base_url=f"{sim.url}/artifactory",
        token_env="ART_E2E_TOKEN",
        token=TOKEN,
    )


@pytest.fixture
def factory(fake_time):
    return sync_factory(fake_time)


@pytest.fixture
def sync(connector, factory):
    def run():
        return run_sync(connector, connector_factory=factory)

    return run


def current():
    return set(Grant.objects.current().values_list("id", flat=True))


def export(connector, **filters):
    as_granted = filters.pop("as_granted", False)
    return list(rows([connector], Filters(**filters), as_granted=as_granted))


@pytest.mark.django_db
def test_a_full_sync_records_every_entity_of_the_instance(sync, instance, sim):
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    facts = instance.facts()
    people = Account.objects.exclude(type=AccountType.ACCESS_TOKEN)
    assert set(people.values_list("login", flat=True)) == set(facts.users)
    assert Account.objects.get(login="anonymous").type == AccountType.PSEUDO
    tokens = Account.objects.filter(type=AccountType.ACCESS_TOKEN)
    assert {a.attributes["token_id"] for a in tokens} == set(facts.tokens)
    assert {r.path for r in Resource.objects.filter(type="repository")} == set(facts.repositories)
    assert {r.path for r in Resource.objects.filter(type="group")} == {f"group/{name}" for name in facts.groups}
    targets = Resource.objects.filter(type="permission_target")
    assert {t.attributes["name"] for t in targets} == set(facts.targets)
    for target in targets:
        assert {e.removeprefix("repo:") for e in target.attributes["reach"]} == facts.targets[target.attributes["name"]]
    memberships = {
        (g.resource.path.removeprefix("group/"), g.account.login)
        for g in Grant.objects.current().filter(entitlement__kind="membership", account__type="human")
    }
    assert memberships == {(group, user) for group, (_, members) in facts.groups.items() for user in members}
    assert run.requests_made == sim.rest_lower_bound()


@pytest.mark.django_db
def test_effective_rows_expand_a_target_grant_onto_each_repository_it_reaches(sync, connector):
    sync()
    on_repo = [r for r in export(connector, resource_path="team-local") if r["account"]["login"] in ("rita", "sam")]
    assert {(r["account"]["login"], r["via"], r["level"], r["permission"]) for r in on_repo} == {
        ("rita", "direct", "write", "read,write"),
        ("rita", "group:team", "read", "read"),
        ("sam", "group:team", "read", "read"),
    }
    expected = {"type": "repository", "external_id": "repo:team-local", "path": "team-local"}
    assert all(r["resource"] == expected for r in on_repo)
    # ANY LOCAL leaves virtual repositories out.
    virtual = export(connector, resource_path="team-virtual")
    assert not [r for r in virtual if r["account"]["login"] in ("rita", "sam")]
    # As granted, each grant is one row on the target itself (and the membership on the group).
    granted = export(connector, person="rita@example.com", as_granted=True)
    assert {(r["resource"]["path"], r["via"], r["grant_kind"]) for r in granted} == {
        ("permission/team deploy", "direct", "permission"),
        ("permission/team deploy", "group:team", "permission"),
        ("group/team", "direct", "membership"),
    }


@pytest.mark.django_db
def test_admins_own_the_instance_and_administer_every_repository(sync, connector, instance):
    sync()
    admin_rows = [r for r in export(connector, person="admin@example.com") if r["via"] == "admin"]
    levels = {r["resource"]["path"]: r["level"] for r in admin_rows}
    assert levels.pop("/") == "owner"
    assert set(levels) == set(instance.repositories) and set(levels.values()) == {"admin"}


@pytest.mark.django_db
def test_token_rows_carry_the_access_token_type_and_reach_what_their_user_reaches(sync, connector):
    sync()
    token_rows = [
        r for r in export(connector, resource_path="team-local") if r["account"]["login"] == "access_token:rita-ci"
    ]
    assert {(r["via"], r["level"]) for r in token_rows} == {("direct", "write"), ("group:team", "read")}
    assert {r["account"]["type"] for r in token_rows} == {"access_token"}


@pytest.mark.django_db
def test_a_change_upstream_shows_in_the_next_sync(sync, instance):
    first = sync()
    instance.set_actions("team deploy", user="rita", actions=[])
    second = sync()
    assert second.status == SyncStatus.SUCCEEDED, second.error
    # Rita's grant and its copy held by her token.
    assert second.counts["removed"] == 2 and second.counts["added"] == 0
    removed = Grant.objects.filter(removed_run=second).select_related("account")
    assert {(g.account.login, g.via, g.last_seen_at) for g in removed} == {
        ("rita", "direct", first.applied_at),
        ("access_token:rita-ci", "direct", first.applied_at),
    }


@pytest.mark.django_db
def test_a_new_repository_is_reached_without_rewriting_any_grant(sync, connector, instance):
    sync()
    instance.add_repository("team-two-local", "local")
    second = sync()
    assert second.counts["added"] == second.counts["removed"] == second.counts["changed"] == 0
    reached = {r["account"]["login"] for r in export(connector, resource_path="team-two-local")}
    assert {"rita", "sam"} <= reached


@pytest.mark.django_db
def test_revoking_through_the_inventory_takes_effect_and_the_next_sync_closes_the_grant(sync, factory, sim):
    sync()
    grant = Grant.objects.current().get(account__login="rita", resource__path="permission/team deploy")
    result = revoke_grant(grant, connector_factory=factory)
    assert result.outcome == Outcome.REVOKED, result.message
    assert "rita" not in sim.instance.permissions["team deploy"].sections["repo"].users
    again = revoke_grant(grant, connector_factory=factory)
    assert again.outcome == Outcome.ALREADY_ABSENT
    membership = Grant.objects.current().get(account__login="sam", resource__path="group/team")
    assert revoke_grant(membership, connector_factory=factory).outcome == Outcome.REVOKED
    token = Grant.objects.current().filter(account__login="access_token:rita-ci").first()
    assert revoke_grant(token, connector_factory=factory).outcome == Outcome.REVOKED
    run = sync()
    gone = Grant.objects.filter(removed_run=run)
    assert {(g.account.login, g.resource.path) for g in gone if g.account.type != "access_token"} == {
        ("rita", "permission/team deploy"),
        ("sam", "group/team"),
    }
    assert not Grant.objects.current().filter(account__login="access_token:rita-ci").exists()
    assert Grant.objects.filter(removed_run=run, account__login="access_token:rita-ci", via="direct").exists()


@pytest.mark.django_db
def test_a_transient_fault_is_retried_and_the_sync_completes(sync, sim):
    sim.add_fault(ERROR, "/access/api/v2/groups/*", status=502, on=2, times=1)
    run = sync()
    assert run.status == SyncStatus.SUCCEEDED, run.error


FAULTS = [
    pytest.param({"kind": ERROR, "path": "/access/api/v2/groups/*", "status": 500, "times": None}, "500", id="5xx"),
    pytest.param({"kind": TRUNCATE, "path": "/access/api/v2/users", "times": None}, "", id="truncated-body"),
    pytest.param(
        {"kind": DISCONNECT, "path": "/artifactory/api/v2/security/permissions", "times": None}, "", id="disconnect"
    ),
    pytest.param({"kind": DELAY, "path": "/access/api/v1/tokens", "seconds": 2, "times": None}, "", id="timeout"),
    pytest.param(
        {"kind": SECONDARY_RATE_LIMIT, "path": "/artifactory/api/repositories", "seconds": 120000, "times": None},
        "rate limit",
        id="429-too-long",
    ),
    pytest.param(
        {"kind": ERROR, "path": "/artifactory/api/security/users/*", "status": 403, "times": None},
        "403",
        id="permission",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_each_fault_mode_fails_the_run_and_keeps_the_previous_state(sync, sim, connector, fault, message):
    failed = fail_with_fault_and_check_nothing_moved(
        sync, sim, connector, fault, change=lambda: sim.instance.remove_member("team", "sam"), state=current
    )
    assert message in failed.error.lower()


@pytest.mark.django_db
def test_a_non_admin_token_is_a_permission_problem_not_an_empty_instance(sync, connector, monkeypatch):
    good = sync()
    monkeypatch.setenv("ART_E2E_TOKEN", READER_TOKEN)
    failed = sync()
    assert failed.status == SyncStatus.FAILED
    assert "administrator" in failed.error
    assert Grant.objects.current().count() > 0
    assert connector.last_applied_run() == good


@pytest.mark.django_db
def test_the_token_never_reaches_logs_errors_or_stored_rows(sync, sim, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sync()
    sim.add_fault(ERROR, "/access/api/v1/tokens", status=500, times=None)
    failed = sync()
    monkeypatch.setenv("ART_E2E_TOKEN", TOKEN[:-4] + "ZZZZ")
    unauthorized = sync()
    assert "401" in unauthorized.error
    stored = repr(list(Account.objects.values("attributes"))) + repr(list(Resource.objects.values("attributes")))
    for text in (caplog.text, failed.error, unauthorized.error, stored):
        assert TOKEN not in text and TOKEN[16:] not in text


@pytest.mark.django_db
def test_levels_follow_the_contract_table(sync):
    sync()
    grants = Grant.objects.current().select_related("entitlement").filter(resource__type="permission_target")
    repository_only = {(g.entitlement.name, g.entitlement.level) for g in grants if ":" not in g.entitlement.name}
    for name, level in repository_only:
        actions = set(name.split(","))
        expected = Level.ADMIN if actions & {"delete", "manage"} else Level.WRITE if "write" in actions else Level.READ
        assert level == expected, name
    assert {level for _, level in repository_only} == {Level.READ, Level.WRITE, Level.ADMIN}
