"""The report pages in headless Chromium: hostile names stay text, no script runs, no CSP violation."""
# ruff: noqa: F811 - browser fixtures come from tests/ui/conftest.py and are used by name

import pytest

from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, login_as, page, problems  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    """This module's own Chromium, closed when the module ends: one Playwright at a time per process, so the
    session-wide browser of tests/ui can start after it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_an_auditor_reads_the_campaign_report_and_the_inventory(
    page, login_as, closed, auditor_user, live_server, tmp_path
):
    login_as(auditor_user)
    page.goto(f"{live_server.url}/reports/")
    page.get_by_role("link", name=closed.name).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name=f"Campaign report: {closed.name}").is_visible()
    hostile = page.get_by_role("cell", name='=HYPERLINK("http://evil")<script>alert(1)</script>', exact=True)
    assert hostile.first.is_visible()
    assert page.get_by_role("link", name="Evidence package (zip)").is_visible()
    page.screenshot(path=str(tmp_path / "reports-campaign.png"), full_page=True)
    assert (tmp_path / "reports-campaign.png").stat().st_size > 0
    page.goto(f"{live_server.url}/reports/inventory/admins/")
    assert page.get_by_role("cell", name='=HYPERLINK("http://evil")<script>alert(1)</script>', exact=True).is_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.startswith("inventory-admins-")
