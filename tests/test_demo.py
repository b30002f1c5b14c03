"""`make demo`'s setup, as a newcomer runs it: five simulators synced, people correlated, one open campaign."""

import re
import socket

import pytest

from connectors.models import Account, Connector
from reviews.models import Campaign
from tests.cli import manage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess]


def free_ports(count: int) -> int:
    """The first of COUNT consecutive free ports (the demo's simulators take consecutive ports)."""
    for start in range(18100, 19000, 10):
        try:
            for port in range(start, start + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start
    pytest.fail("no free port range for the demo simulators")


def test_the_demo_sets_up_everything_a_newcomer_needs(tmp_path):
    start = free_ports(6)
    result = manage(
        "demo",
        "--no-serve",
        "--port",
        str(start + 5),
        "--simulator-port",
        str(start),
        env={"PIPEACCESS_VAR_DIR": str(tmp_path)},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(Connector.objects.values_list("name", flat=True)) == {
        "demo-github",
        "demo-harbor",
        "demo-dockerhub",
        "demo-gitlab",
        "demo-jenkins",
    }
    assert Account.objects.filter(identity__isnull=False).count() > 300
    campaign = Campaign.objects.get(state="open")
    reviewer = re.search(r"reviewer\s+(\S+)\s+\S+", result.stdout)[1]
    assert campaign.items.filter(reviewer__email=reviewer).exists()
    assert re.search(r"security\s+security@demo.test\s+\S+", result.stdout)
    assert "The security user sets up an authenticator app at first sign-in" in result.stdout
