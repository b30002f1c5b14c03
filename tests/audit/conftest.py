"""The audit tests' key and checkpoint directory (the same for child processes through `audit_env`), and a small
simulated GitHub organization with a connector and a sync function."""

import pytest

from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.sync import run_sync
from tests.audit.helpers import TEST_KEY, TOKEN
from tests.connectors.helpers import add_simulated_connector, sync_factory
from tests.fakes import FakeTime


@pytest.fixture(autouse=True)
def audit_settings(settings, tmp_path):
    settings.AUDIT_KEY = TEST_KEY
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return settings


@pytest.fixture
def audit_env(audit_settings):
    return {"AUDIT_KEY": TEST_KEY, "AUDIT_CHECKPOINT_DIR": str(audit_settings.AUDIT_CHECKPOINT_DIR)}


@pytest.fixture
def checkpoint_dir(audit_settings):
    return audit_settings.AUDIT_CHECKPOINT_DIR


@pytest.fixture
def fake_time():
    return FakeTime(1_800_000_000.0)


@pytest.fixture
def org():
    return GitHubOrg.generate("acme", seed=5, members=12, outside_collaborators=1, teams=2, repos=3, installations=0)


@pytest.fixture
def sim(org, fake_time):
    with GitHubSimulator(org, tokens={TOKEN: Token(org.owner_login)}, clock=fake_time.clock) as simulator:
        yield simulator


@pytest.fixture
def connector(sim, monkeypatch, db):
    return add_simulated_connector(
        monkeypatch, name="gh", kind="github", base_url=sim.url, token_env="GH_AUDIT_TOKEN", token=TOKEN, org="acme"
    )


@pytest.fixture
def sync(connector, fake_time):
    factory = sync_factory(fake_time)
    return lambda: run_sync(connector, connector_factory=factory)
