"""Browser tests: the app on a live server, driven in Debian's headless Chromium through Playwright.

Playwright's Python package talks to /usr/bin/chromium (executable_path); it never downloads a
browser (.ci/run installs Debian's `chromium` package). Every page a test opens records what a
reviewer would never want to see: JavaScript dialogs (a hostile name that ran alert()), uncaught page
errors, console errors (including Content-Security-Policy violations) and failed requests to
anything but the live server. `page` fails the test if any of them happened.

Data a test creates must be committed for the server thread to see it: use `ui_db`
(transactional), not `db`.
"""

import os
import shutil
from dataclasses import dataclass, field

import pytest

from tests.mfa import totp_code

CHROMIUM = os.environ.get("PIPEACCESS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from test code here are
# still ordinary synchronous calls, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@dataclass
class PageProblems:
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return [
            *(f"dialog: {d}" for d in self.dialogs),
            *(f"page error: {e}" for e in self.page_errors),
            *(f"console error: {c}" for c in self.console_errors),
            *(f"request outside the app: {r}" for r in self.foreign_requests),
        ]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def ui_db(transactional_db):
    """Committed data, visible to the live server's thread."""
    return transactional_db


@pytest.fixture
def problems():
    return PageProblems()


@pytest.fixture
def page(browser, live_server, problems, request):
    """A fresh browser context (no cookies) and page; fails the test on dialogs, script errors and CSP reports."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)

    def on_dialog(dialog):
        problems.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message):
        if message.type == "error":
            problems.console_errors.append(message.text)

    def on_request(req):
        if not req.url.startswith(live_server.url) and not req.url.startswith("data:"):
            problems.foreign_requests.append(req.url)

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: problems.page_errors.append(str(error)))
    page.on("console", on_console)
    page.on("request", on_request)
    yield page
    context.close()
    if not request.node.get_closest_marker("allow_page_problems"):
        found = problems.all()
        assert not found, "the browser reported problems:\n" + "\n".join(found)


def login(page, email: str, password: str) -> None:
    """Sign in through the real login form, as a person would; the authenticator app's code when asked for it
    (security-role personas have TOTP: tests/mfa.py)."""
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    if "/accounts/2fa/authenticate/" in page.url:
        page.locator('input[name="code"]').fill(totp_code())
        page.get_by_role("button", name="Sign In", exact=True).click()
        page.wait_for_url(lambda url: "/accounts/2fa/authenticate/" not in url)


@pytest.fixture
def login_as(page, user_password):
    """login_as(user): sign `user` in on `page` (every persona shares `user_password`)."""

    def do_login(user, password: str | None = None):
        login(page, user.email, password or user_password)
        return page

    return do_login


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allow_page_problems: the test expects browser errors and checks them itself (tests/ui)"
    )
