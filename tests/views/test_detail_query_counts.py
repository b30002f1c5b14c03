"""Detail pages read a fixed number of queries whatever the size of the organization behind them."""

import pytest

from connectors.models import Account, Identity, Resource
from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector
from tests.views.pipeline import github_simulator, small_org

pytestmark = pytest.mark.django_db

# page -> queries: user, roles and MFA (pipeaccess.mfa; the menu and buttons reuse them), role check (3; the
# session comes from the cache, cached_db), then the page's own.
PINNED = {
    "person": 11,  # identity, connectors.access.person_access (at most 5), the accounts list (2), ...
    "organization": 21,  # resource, connectors.access.resource_access (the connector's snapshot), grants (2)
    "repository": 21,
    "connector": 10,  # connector, runs (2), held runs, three inventory counts, buttons' roles
    "run": 5,
    "changes": 9,  # connector names, connector, applied runs, default runs, the diff (3)
}


@pytest.mark.parametrize("members", [8, 40])
def test_detail_pages_take_the_same_queries_for_a_small_and_a_larger_org(
    security_client, monkeypatch, members, django_assert_num_queries
):
    with github_simulator(small_org(members=members)) as sim:
        connector = add_simulated_connector(
            monkeypatch, name="gh", kind="github", base_url=sim.url, token_env="T", token=sim.token, org="acme"
        )
        run = run_sync(connector)
    person = Identity.objects.create(email="p@example.com")
    Account.objects.filter(connector=connector, type="human").update(identity=person)
    urls = {
        "person": f"/inventory/people/{person.pk}/",
        "organization": f"/inventory/resources/{Resource.objects.get(type='organization').pk}/",
        "repository": f"/inventory/resources/{Resource.objects.filter(type='repository').first().pk}/",
        "connector": "/connectors/gh/",
        "run": f"/connectors/gh/runs/{run.pk}/",
        "changes": "/inventory/changes/",
    }
    for page, url in urls.items():
        with django_assert_num_queries(PINNED[page]):
            assert security_client.get(url).status_code == 200, page
