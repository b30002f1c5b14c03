"""Owners of resources and non-human accounts: upstream rules, the mapping file, by hand, the fallback."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors import correlation, owners
from connectors.choices import AccountType, GrantKind, Level, ResourceType
from connectors.models import Account, Identity, OwnershipRule, Resource
from reviews.models import AuditEvent

from .inventory import Inventory

ROSTER = [
    "ana@acme.example,Ana,,,active,",
    "ben@acme.example,Ben,ana@acme.example,,active,",
    "cara@acme.example,Cara,ana@acme.example,,active,",
    "dan@acme.example,Dan,ana@acme.example,,leaver,2026-01-31",
    "fallback@acme.example,Platform Team,ana@acme.example,,active,",
]


def owner_of(obj) -> tuple[str | None, str]:
    obj.refresh_from_db()
    return (obj.owner.email if obj.owner else None, obj.owner_rule)


@pytest.fixture
def people(roster):
    roster(*ROSTER)
    return {i.email.split("@")[0]: i for i in Identity.objects.all()}


@pytest.fixture
def github(people):
    gh = Inventory("gh", "github")
    org = gh.resource("acme", ResourceType.ORGANIZATION)
    team = gh.resource("acme/platform", ResourceType.TEAM, parent=org)
    readers = gh.resource("acme/readers", ResourceType.TEAM, parent=org)
    repos = {name: gh.resource(f"acme/{name}", parent=org) for name in ("api", "web", "docs", "lonely")}
    accounts = {name: gh.account(name, email=f"{name}@acme.example") for name in ("ana", "ben", "cara", "dan")}
    # platform: admin on api; maintained by Dan (a leaver) and Cara; Ben is a plain member.
    gh.grant(team, "maintainer", Level.ADMIN, account=accounts["dan"], kind=GrantKind.MEMBERSHIP, via="membership")
    gh.grant(team, "maintainer", Level.ADMIN, account=accounts["cara"], kind=GrantKind.MEMBERSHIP, via="membership")
    gh.grant(team, "member", Level.READ, account=accounts["ben"], kind=GrantKind.MEMBERSHIP, via="membership")
    gh.grant(repos["api"], "admin", Level.ADMIN, group=team, via="team:acme/platform")
    # readers: maintained by Ben, only read on web; Ana is a direct admin of web.
    gh.grant(readers, "maintainer", Level.ADMIN, account=accounts["ben"], kind=GrantKind.MEMBERSHIP, via="membership")
    gh.grant(repos["web"], "read", Level.READ, group=readers, via="team:acme/readers")
    gh.grant(repos["web"], "admin", Level.ADMIN, account=accounts["ana"])
    gh.grant(repos["docs"], "write", Level.WRITE, account=accounts["ben"])
    correlation.correlate(gh.connector)
    return gh, repos


def test_github_repository_owner_is_a_maintainer_of_an_admin_team(github):
    gh, repos = github

    owners.assign(gh.connector)

    # Cara over Dan: an active person wins over a leaver.
    assert owner_of(repos["api"]) == ("cara@acme.example", "admin_team")
    # A read-only team does not make its maintainer the owner; the direct admin does.
    assert owner_of(repos["web"]) == ("ana@acme.example", "admin_team")
    # Write is not enough, and nobody administers lonely: no owner without a fallback.
    assert owner_of(repos["docs"]) == (None, "")
    assert owner_of(repos["lonely"]) == (None, "")


def test_fallback_owner_is_used_last(github, people):
    gh, repos = github

    counts = owners.set_fallback(gh.connector, people["fallback"], actor=None)

    assert owner_of(repos["docs"]) == ("fallback@acme.example", "fallback")
    assert owner_of(repos["api"]) == ("cara@acme.example", "admin_team")
    assert counts["changed"] > 0
    assert AuditEvent.objects.filter(action="connector.fallback_owner").exists()


def test_mapping_file_beats_rules_and_the_last_matching_line_wins(github, people):
    gh, repos = github
    mapping = "\n".join(
        [
            "# who owns what",
            "gh:acme/* ben@acme.example",
            "gh:acme/a?i   dan@acme.example   # the API belongs to Dan, even after he left",
            "gh:acme/nothing/** ana@acme.example",
        ]
    )

    owners.load_mapping(mapping, actor=None)

    assert owner_of(repos["api"]) == ("dan@acme.example", "mapping")
    assert owner_of(repos["web"]) == ("ben@acme.example", "mapping")
    # * stays within one segment: the teams below acme/ match, the org itself does not.
    assert owner_of(Resource.objects.get(path="acme/platform")) == ("ben@acme.example", "mapping")
    assert owner_of(Resource.objects.get(path="acme")) == (None, "")
    assert OwnershipRule.objects.count() == 3


def test_double_star_crosses_segments(people):
    gl = Inventory("gl", "gitlab")
    group = gl.resource("acme", ResourceType.GROUP)
    project = gl.resource("acme/team-1/app", ResourceType.PROJECT, parent=group)

    owners.load_mapping("gl:acme/** ben@acme.example", actor=None)

    assert owner_of(project) == ("ben@acme.example", "mapping")
    assert owner_of(group) == (None, "")


def test_a_bad_mapping_file_names_its_lines_and_changes_nothing(github, people):
    gh, repos = github
    owners.load_mapping("gh:acme/api ben@acme.example", actor=None)

    with pytest.raises(owners.OwnershipError) as raised:
        owners.load_mapping(
            "gh:acme/web ana@acme.example\nnope:acme/* ana@acme.example\ngh:acme/* who@acme.example\njust-a-line\n",
            actor=None,
        )

    assert raised.value.errors == [
        "line 2: no connector 'nope'",
        "line 3: no person 'who@acme.example' (import the roster first)",
        "line 4: expected 'CONNECTOR:PATH_GLOB email', got 'just-a-line'",
    ]
    assert list(OwnershipRule.objects.values_list("pattern", flat=True)) == ["acme/api"]
    assert owner_of(repos["api"]) == ("ben@acme.example", "mapping")


def test_manual_owner_beats_everything_and_is_never_overwritten(github, people, security_user):
    gh, repos = github
    owners.load_mapping("gh:acme/** ben@acme.example", actor=None)

    owners.set_owner(repos["api"], people["ana"], actor=security_user, reason="Ana runs the API now")
    owners.load_mapping("gh:acme/** cara@acme.example", actor=None)
    owners.assign(gh.connector)

    assert owner_of(repos["api"]) == ("ana@acme.example", "manual")
    event = AuditEvent.objects.get(action="owner.set")
    assert event.data == {
        "target": "gh:acme/api",
        "owner": "ana@acme.example",
        "previous": "ben@acme.example",
        "reason": "Ana runs the API now",
    }

    owners.set_owner(repos["api"], None, actor=security_user, reason="back to the file")
    assert owner_of(repos["api"]) == ("cara@acme.example", "mapping")


def test_gitlab_owner_is_an_owner_member_of_the_nearest_ancestor(people):
    gl = Inventory("gl", "gitlab")
    top = gl.resource("acme", ResourceType.GROUP)
    team = gl.resource("acme/team", ResourceType.GROUP, parent=top)
    app = gl.resource("acme/team/app", ResourceType.PROJECT, parent=team)
    other = gl.resource("acme/other", ResourceType.PROJECT, parent=top)
    ana, ben = gl.account("ana", email="ana@acme.example"), gl.account("ben", email="ben@acme.example")
    cara = gl.account("cara", email="cara@acme.example")
    gl.grant(top, "owner", Level.OWNER, account=ana, kind=GrantKind.MEMBERSHIP)
    gl.grant(team, "owner", Level.OWNER, account=ben, kind=GrantKind.MEMBERSHIP)
    gl.grant(other, "maintainer", Level.ADMIN, account=cara)
    gl.grant(team, "owner", Level.OWNER, account=cara, kind=GrantKind.INVITATION, via="invitation")
    correlation.correlate(gl.connector)

    owners.assign(gl.connector)

    assert owner_of(top) == ("ana@acme.example", "group_owner")
    assert owner_of(team) == ("ben@acme.example", "group_owner")
    assert owner_of(app) == ("ben@acme.example", "group_owner")
    assert owner_of(other) == ("ana@acme.example", "group_owner")  # a maintainer is not an owner


def test_harbor_project_owner_is_a_project_admin(people):
    hb = Inventory("hb", "harbor")
    instance = hb.resource("/", ResourceType.INSTANCE)
    project = hb.resource("payments", ResourceType.PROJECT, parent=instance)
    plain = hb.resource("library", ResourceType.PROJECT, parent=instance)
    ben = hb.account("ben.h", email="ben@acme.example")
    cara = hb.account("cara.h", email="cara@acme.example")
    hb.grant(project, "projectAdmin", Level.OWNER, account=ben)
    hb.grant(plain, "developer", Level.WRITE, account=cara)
    correlation.correlate(hb.connector)

    owners.assign(hb.connector)

    assert owner_of(project) == ("ben@acme.example", "project_admin")
    assert owner_of(plain) == (None, "")


def test_non_human_account_owner_is_its_creator_else_the_fallback(people):
    hb = Inventory("hb", "harbor")
    hb.account("Ben.H", email="ben@acme.example")
    robot = hb.account("robot$payments+ci", type=AccountType.ROBOT, attributes={"creator": "ben.h"})
    orphan_robot = hb.account("robot$old", type=AccountType.ROBOT, attributes={"creator": "someone-gone"})
    token = hb.account("token:1", type=AccountType.ACCESS_TOKEN, attributes={"created_by": "cara@acme.example"})
    human = hb.account("stranger")
    correlation.correlate(hb.connector)

    counts = owners.assign(hb.connector)

    assert owner_of(robot) == ("ben@acme.example", "creator")
    assert owner_of(token) == ("cara@acme.example", "creator")
    assert owner_of(orphan_robot) == (None, "")  # unowned: a risk signal
    assert owner_of(human) == (None, "")  # people are linked, not owned
    assert counts["unowned_accounts"] == 1

    owners.set_fallback(hb.connector, people["fallback"], actor=None)
    assert owner_of(orphan_robot) == ("fallback@acme.example", "fallback")
    assert owner_of(robot) == ("ben@acme.example", "creator")


def test_owner_of_an_account_by_hand(people, security_user):
    gh = Inventory("gh", "github")
    key = gh.account("deploy_key:acme/api:1", type=AccountType.DEPLOY_KEY)
    person = gh.account("ana")

    owners.set_owner(key, people["cara"], actor=security_user, reason="Cara set up the deploy")
    owners.assign(gh.connector)

    assert owner_of(key) == ("cara@acme.example", "manual")
    with pytest.raises(owners.OwnershipError, match="people are linked, not owned"):
        owners.set_owner(person, people["cara"], actor=security_user, reason="x")
    with pytest.raises(owners.OwnershipError, match="reason is required"):
        owners.set_owner(key, people["ben"], actor=security_user, reason="")


def test_owners_follow_the_sync_hooks(people):
    """after_sync: correlation first, then owners, so a newly linked admin becomes owner in the same run."""
    hb = Inventory("hb", "harbor")
    project = hb.resource("payments", ResourceType.PROJECT)
    ben = hb.account("ben.h", email="ben@acme.example")
    hb.grant(project, "projectAdmin", Level.OWNER, account=ben)

    from connectors.sync import run_applied_hooks

    run_applied_hooks(hb.run)

    assert owner_of(project) == ("ben@acme.example", "project_admin")
    assert Account.objects.get(pk=ben.pk).identity.email == "ben@acme.example"


def test_cli_owner_commands(github, people, tmp_path):
    gh, repos = github
    mapping = tmp_path / "OWNERS"
    mapping.write_text("gh:acme/web cara@acme.example\n")

    assert "loaded 1 ownership rules" in _call("owners", "load", str(mapping))
    assert _call("owners", "list").strip() == "gh:acme/web cara@acme.example"
    assert owner_of(repos["web"]) == ("cara@acme.example", "mapping")

    out = _call("owner", "set", "gh:acme/docs", "ben@acme.example", "--reason", "Ben writes the docs")
    assert "owner of gh:acme/docs: ben@acme.example (manual)" in out
    key = gh.account("deploy_key:acme/api:7", type=AccountType.DEPLOY_KEY)
    out = _call("owner", "set-account", "gh:deploy_key:acme/api:7", "ana@acme.example", "--reason", "Ana's key")
    assert "owner of gh:deploy_key:acme/api:7: ana@acme.example (manual)" in out
    assert owner_of(key) == ("ana@acme.example", "manual")

    out = _call("owner", "release", "gh:acme/docs", "--reason", "Ben moved on")
    assert "owner of gh:acme/docs: nobody" in out
    _call("owner", "release", "gh:deploy_key:acme/api:7", "--account", "--reason", "rotated")
    assert owner_of(key) == (None, "")
    assert AuditEvent.objects.filter(action="owner.release").count() == 2
    assert "gh: 7 resources, 1 accounts, 0 changed, 1 unowned_accounts" in _call("owners", "assign", "gh")

    out = _call("fallback", "gh", "fallback@acme.example")
    assert "fallback owner of gh: fallback@acme.example" in out
    assert owner_of(repos["lonely"]) == ("fallback@acme.example", "fallback")
    _call("fallback", "gh", "--clear")
    assert owner_of(repos["lonely"]) == (None, "")

    bad = tmp_path / "BAD"
    bad.write_text("gh:acme/web\n")
    with pytest.raises(CommandError, match="line 1: expected 'CONNECTOR:PATH_GLOB email'"):
        _call("owners", "load", str(bad))
    with pytest.raises(CommandError, match="no resource 'acme/nothing' in gh"):
        _call("owner", "set", "gh:acme/nothing", "ben@acme.example", "--reason", "x")


def test_owner_assignment_makes_a_fixed_number_of_queries(people, django_assert_max_num_queries):
    for size in (5, 60):
        gh = Inventory(f"gh{size}", "github")
        org = gh.resource(f"org{size}", ResourceType.ORGANIZATION)
        team = gh.resource(f"org{size}/team", ResourceType.TEAM, parent=org)
        ben = gh.account("ben", email="ben@acme.example")
        gh.grant(team, "maintainer", Level.ADMIN, account=ben, kind=GrantKind.MEMBERSHIP, via="membership")
        for i in range(size):
            repo = gh.resource(f"org{size}/repo{i}", parent=org)
            gh.grant(repo, "admin", Level.ADMIN, group=team, via="team")
            gh.account(f"key{i}", type=AccountType.DEPLOY_KEY)
        correlation.correlate(gh.connector)
        with django_assert_max_num_queries(16):
            owners.assign(gh.connector)
        assert Resource.objects.filter(connector=gh.connector, owner__email="ben@acme.example").count() == size


def _call(*args) -> str:
    out = io.StringIO()
    call_command("people", *args, stdout=out)
    return out.getvalue()
