"""The blast radius shown before a revocation runs, computed from the inventory of a synced GitLab group:
what the holder loses besides the grant's own place, and what they keep through another path."""

import pytest

from connectors.actions import do_add_connector
from connectors.choices import Level
from connectors.models import Grant
from connectors.simulators.gitlab import GitLabOrg, GitLabSimulator
from connectors.sync import run_sync
from reviews.revocations import blast_radius, describe

pytestmark = pytest.mark.django_db

TOKEN = "test-gitlab-token-for-blast-radius"


@pytest.fixture
def gitlab(monkeypatch):
    org = GitLabOrg()
    org.add_user("root", is_admin=True)
    org.add_token("root", TOKEN)
    for name in ("alice", "bob", "carol"):
        org.add_user(name)
    org.add_group("acme")
    org.add_group("platform", parent="acme")
    org.add_group("data", parent="acme")
    for project in ("api", "web", "worker"):
        org.add_project(project, group="acme/platform")
    org.add_project("lake", group="acme/data")
    org.add_member("acme/platform", "alice", 30)
    org.add_member("acme/platform", "bob", 40)
    org.add_member("acme/platform/api", "alice", 40)  # alice keeps api through her own membership
    org.share("acme/data", "acme/platform", 20)  # platform's members read the data group
    with GitLabSimulator(org) as sim:
        monkeypatch.setenv("REVOCATIONS_GITLAB_TOKEN", TOKEN)
        connector = do_add_connector(
            name="gitlab",
            kind="gitlab",
            base_url=sim.url,
            options={"group": ["acme"], "allow_private_network": "true"},
            secrets={"token": "env:REVOCATIONS_GITLAB_TOKEN"},
        )
        assert run_sync(connector).applied_at is not None
        yield connector


def membership(login: str, path: str) -> Grant:
    return Grant.objects.current().get(account__login=login, resource__path=path, via="direct")


def test_removing_a_group_membership_lists_what_else_goes_and_leaves_out_what_stays(gitlab):
    grant = membership("alice", "acme/platform")

    radius = blast_radius(grant)

    assert describe(grant) == "remove alice from group acme/platform"
    assert radius["removed"]["paths"] == [
        "acme/data",
        "acme/data/lake",
        "acme/platform",
        "acme/platform/web",
        "acme/platform/worker",
    ]
    assert radius["removed"]["by_type"] == {"group": 2, "project": 3}
    assert radius["lowered"]["count"] == 0  # api: alice is maintainer there in her own right
    assert radius["summary"] == "alice loses access to 2 groups, 3 projects"


def test_a_downgrade_lists_where_the_level_drops(gitlab):
    grant = membership("bob", "acme/platform")

    radius = blast_radius(grant, downgrade_to=Level.READ)

    assert describe(grant, Level.READ) == "downgrade bob on group acme/platform from admin to read"
    assert radius["removed"]["count"] == 0
    assert radius["lowered"]["paths"] == [
        "acme/platform",
        "acme/platform/api",
        "acme/platform/web",
        "acme/platform/worker",
    ]
    assert radius["summary"] == "bob drops to read on 1 group, 3 projects"


def test_removing_a_group_share_names_the_members_who_lose_it(gitlab):
    share = Grant.objects.current().get(group__path="acme/platform", resource__path="acme/data")

    radius = blast_radius(share)

    assert describe(share) == "remove the share of group acme/data with group acme/platform"
    assert radius["holders"] == 2 and radius["holder_sample"] == ["alice", "bob"]
    assert radius["removed"]["paths"] == ["acme/data", "acme/data/lake"]
    assert radius["summary"].startswith("2 members of group acme/platform lose access to 1 group, 1 project")
