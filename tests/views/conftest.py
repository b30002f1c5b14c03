"""Fixtures of the security-team page tests: a synced GitHub simulator, logged-in clients per role."""

import pytest

from connectors.sync import run_sync
from tests.connectors.helpers import add_simulated_connector, sync_factory
from tests.fakes import FakeTime
from tests.mfa import sign_in
from tests.views.pipeline import github_simulator, small_org


@pytest.fixture
def github_org():
    return small_org()


@pytest.fixture
def github_sim(github_org):
    with github_simulator(github_org) as sim:
        yield sim


@pytest.fixture
def github_connector(github_sim, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch,
        name="gh",
        kind="github",
        base_url=github_sim.url,
        token_env="UI_GH_TOKEN",
        token=github_sim.token,
        org="acme",
    )


@pytest.fixture
def sync_github(github_connector):
    """sync_github() -> the run: a real sync of the simulator through the engine (fake clock for waits)."""
    factory = sync_factory(FakeTime(1_800_000_000.0))

    def sync():
        return run_sync(github_connector, connector_factory=factory)

    return sync


@pytest.fixture
def synced(sync_github, github_connector):
    run = sync_github()
    assert run.status == "succeeded", run.error
    return github_connector


@pytest.fixture
def security_client(client, security_user, user_password):
    """Alice, signed in through the login form moments ago (password and authenticator code)."""
    sign_in(client, security_user, user_password)
    return client


@pytest.fixture
def auditor_client(client, auditor_user):
    client.force_login(auditor_user)
    return client


@pytest.fixture
def reviewer_client(client, reviewer_user):
    client.force_login(reviewer_user)
    return client
