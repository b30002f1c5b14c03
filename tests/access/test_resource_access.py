"""resource_access: everyone who reaches one resource and how, from the export's effective-access expansion."""

import pytest

from connectors import access
from connectors.models import Resource
from tests.access.scenario import build

pytestmark = pytest.mark.django_db


def _view(path):
    return access.resource_access(Resource.objects.select_related("connector", "owner").get(path=path))


def test_it_lists_every_path_to_the_resource_with_person_level_and_risk():
    build()
    view = _view("acme/api")
    paths = {(r.account["login"], r.via, r.level) for r in view.reach}
    assert paths == {
        ("bob", "direct", "admin"),
        ("ed", "org_owner", "admin"),
        ("bob", "team:acme/eng", "write"),
        ("alice", "team:acme/eng", "write"),  # through the child team eng-ci
        ("alice", "org_base_permission", "read"),
        ("bob", "org_base_permission", "read"),
        ("ed", "org_base_permission", "read"),  # an owner's membership is a membership too
        ("ci", "direct", "read"),
    }
    assert [r.level for r in view.reach][:2] == ["admin", "admin"]  # highest level first
    bob = next(r for r in view.reach if r.via == "direct" and r.account["login"] == "bob")
    assert bob.person == {"email": "bob@acme.test", "name": "Bob", "status": "leaver", "end_date": "2026-10-01"}
    assert bob.explanations == [
        "leaver since 2026-10-01 still holds access",
        "admin on repository acme/api",
        "direct grant on repository acme/api, bypassing teams and groups",
    ]
    robot = next(r for r in view.reach if r.account["login"] == "ci")
    assert robot.identity is None and "nonhuman_no_expiry" in robot.risk
    assert "robot that never expires" in robot.explanations


def test_a_public_resource_says_so():
    build()
    view = _view("acme/site")
    assert all("public" in r.risk for r in view.reach)
    assert "repository acme/site is public" in view.reach[0].explanations


@pytest.mark.parametrize("extra_repos", [5, 200])
def test_its_query_count_does_not_grow_with_the_inventory(extra_repos, django_assert_max_num_queries):
    build(extra_repos=extra_repos)
    resource = Resource.objects.select_related("connector", "owner").get(path="acme/api")
    with django_assert_max_num_queries(16):
        view = access.resource_access(resource)
    assert len(view.reach) == 8
