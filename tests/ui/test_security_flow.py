"""The security team in Chromium: add a connector (testing the connection first), sync it, explore the inventory.

The upstream is a GitHub simulator on loopback whose members and teams carry hostile names; every page that
shows them must show them as text and run no script (the `page` fixture fails the test on any dialog, page
error or console error, CSP violations included).
"""
# ruff: noqa: F811 - campaign fixtures come from tests/reviews/conftest.py and are used by name

import os
from pathlib import Path

import pytest

from connectors.choices import SyncStatus
from connectors.models import Account, Connector, Resource
from pipeaccess.celery import app
from tests.reviews.conftest import inventory, launched, make_template, people, users  # noqa: F401
from tests.views.pipeline import HOSTILE_LOGINS, HOSTILE_TEAM_NAME, TEN_KB_LOGIN, github_simulator, small_org

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "pipeaccess" / "static" / "docs"


@pytest.fixture
def eager_celery(settings):
    """Sync now runs the sync task in the request (the live server thread), as a worker would."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def hostile_sim():
    with github_simulator(small_org()) as sim:
        yield sim


def add_connector_through_the_form(page, sim, name="github-e2e"):
    page.goto("/connectors/")
    page.get_by_role("link", name="Add a connector").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option("github")
    page.get_by_label("Base URL").fill(sim.url)
    page.get_by_label("Options").fill("org=acme\nallow_private_network=true")
    page.get_by_label("Secret references").fill("token=env:UI_E2E_TOKEN")


def test_security_team_adds_tests_and_syncs_a_connector_then_explores_hostile_names(
    page, login_as, security_user, hostile_sim, monkeypatch, eager_celery
):
    monkeypatch.setenv("UI_E2E_TOKEN", hostile_sim.token)
    login_as(security_user)
    add_connector_through_the_form(page, hostile_sim)

    # Test connection: an htmx request; the answer appears under the form and nothing is saved.
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    result.get_by_text("Connection works").wait_for()
    assert "organization acme" in result.inner_text()
    assert page.url.endswith("/connectors/add/")
    assert not Connector.objects.exists()

    page.get_by_role("button", name="Add connector").click()
    page.wait_for_url("**/connectors/github-e2e/")
    assert page.get_by_role("heading", name="github-e2e").is_visible()

    # Sync now, from the keyboard.
    page.get_by_role("button", name="Sync now").focus()
    page.keyboard.press("Enter")
    page.get_by_text("Sync of github-e2e queued").wait_for()
    connector = Connector.objects.get(name="github-e2e")
    run = connector.runs.get()
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert page.locator("table .badge.green", has_text="succeeded").count() == 1

    # The inventory has the accounts, hostile ones shown literally.
    page.get_by_role("link", name="accounts").click()
    assert page.locator("tbody tr").count() == min(50, Account.objects.filter(connector=connector).count())
    page.get_by_label("Login, name or email").fill("<")
    page.get_by_role("button", name="Search").click()
    for login in HOSTILE_LOGINS[:2]:
        assert page.get_by_role("link", name=login, exact=True).is_visible()
    page.get_by_label("Login, name or email").fill("alert(3)")
    page.get_by_role("button", name="Search").click()
    link = page.get_by_role("link", name="javascript:alert(3)", exact=True)
    assert link.get_attribute("href").startswith("/inventory/accounts/")
    link.click()
    assert page.get_by_role("heading", name="javascript:alert(3)").is_visible()

    page.goto("/inventory/?q=" + "{{")
    assert page.get_by_role("link", name=HOSTILE_LOGINS[3], exact=True).is_visible()
    page.goto("/inventory/?q=rtl")
    assert page.get_by_role("link", name=HOSTILE_LOGINS[5], exact=True).is_visible()

    team = Resource.objects.get(connector=connector, path="acme/team/evil-team")
    page.goto(f"/inventory/resources/{team.pk}/")
    assert page.get_by_text(HOSTILE_TEAM_NAME, exact=True).is_visible()

    # Nothing ran: no dialog, no injected element, no CSP report (the page fixture checks the first and last).
    assert page.evaluate("document.querySelectorAll('svg[onload], img[onerror]').length") == 0


def test_a_name_longer_than_the_inventory_fails_the_sync_and_the_error_is_shown_as_text(
    page, login_as, security_user, monkeypatch, eager_celery
):
    org = small_org(hostile=False)
    org.add_member(TEN_KB_LOGIN)
    with github_simulator(org) as sim:
        monkeypatch.setenv("UI_E2E_TOKEN", sim.token)
        login_as(security_user)
        add_connector_through_the_form(page, sim, name="github-long")
        page.get_by_role("button", name="Add connector").click()
        page.wait_for_url("**/connectors/github-long/")
        page.get_by_role("button", name="Sync now").click()
        page.get_by_text("Sync of github-long queued").wait_for()
    run = Connector.objects.get(name="github-long").runs.get()
    assert run.status == SyncStatus.FAILED
    page.locator("table .badge.red", has_text="failed").wait_for()
    page.goto(f"/connectors/github-long/runs/{run.pk}/")
    error = page.locator("dd.result.error")
    assert error.inner_text().strip() == run.error.strip()
    # The page stays readable: nothing wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_auditors_browse_the_same_pages_without_forms(page, login_as, auditor_user, hostile_sim, monkeypatch):
    from tests.connectors.helpers import add_simulated_connector

    add_simulated_connector(
        monkeypatch,
        name="gh",
        kind="github",
        base_url=hostile_sim.url,
        token_env="UI_E2E_TOKEN",
        token=hostile_sim.token,
        org="acme",
    )
    login_as(auditor_user)
    for path in ["/", "/connectors/", "/connectors/gh/", "/inventory/", "/revocations/", "/audit/"]:
        page.goto(path)
        assert page.locator("main form[method=post]").count() == 0, path
        assert page.get_by_role("button", name="Sync now").count() == 0


def test_the_dashboard_reads_on_a_phone_and_is_photographed(
    page, login_as, hostile_sim, monkeypatch, tmp_path, inventory, launched, users
):
    """Set PIPEACCESS_SCREENSHOTS=1 (make screenshots) to write pipeaccess/static/docs/dashboard.png for the README."""
    from connectors.sync import run_sync
    from reviews.decisions import decide
    from tests.connectors.helpers import add_simulated_connector

    connector = add_simulated_connector(
        monkeypatch,
        name="demo-github",
        kind="github",
        base_url=hostile_sim.url,
        token_env="UI_E2E_TOKEN",
        token=hostile_sim.token,
        org="acme",
    )
    assert run_sync(connector).status == SyncStatus.SUCCEEDED
    campaign = launched(name="Quarterly pipeline review")
    launched(name="Registry robots")
    for item in campaign.items.filter(reviewer__email="mia@acme.test")[:3]:
        decide(item, actor=users["mia"], decision="approve", justification="needed for releases")
    from reviews.choices import RevocationState as S
    from tests.views.test_dashboard import add_revocations

    add_revocations(connector, [S.AWAITING_APPROVAL, S.QUEUED, S.DONE, S.VERIFIED, S.VERIFIED, S.FAILED, S.DRY_RUN])
    login_as(users["sam"])
    page.goto("/")
    assert page.get_by_role("heading", name="Risk across connectors").is_visible()
    assert page.locator("svg.bars rect.fill").count() >= 1
    assert page.get_by_role("link", name="Quarterly pipeline review").is_visible()
    target = SCREENSHOT_DIR if os.environ.get("PIPEACCESS_SCREENSHOTS") else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / "dashboard.png"), full_page=True)
    assert (target / "dashboard.png").read_bytes().startswith(b"\x89PNG")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.get_by_role("button", name="Sign out").is_visible()
