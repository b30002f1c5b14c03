"""The layout every page shares works in a real browser under the strict Content-Security-Policy."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_signed_in_page_loads_its_css_and_htmx_without_csp_violations(page, login_as, security_user, live_server):
    login_as(security_user)
    response = page.goto("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # htmx loaded from /static/ and read the CSP-friendly configuration.
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("htmx.config.allowEval") is False
    # The stylesheet applied (the header is white on the grey page).
    header_colour = page.evaluate("getComputedStyle(document.querySelector('header.site')).backgroundColor")
    assert header_colour == "rgb(255, 255, 255)"
    assert page.get_by_role("button", name="Sign out").is_visible()


def test_an_injected_inline_script_is_blocked_by_the_policy(page, login_as, security_user, problems):
    login_as(security_user)
    page.goto("/")
    page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.ran = 1';
        document.body.append(s);
    }""")
    assert page.evaluate("window.ran") is None
    # The browser reports the violation; that report is what this test expects, so it is cleared.
    assert any("Content Security Policy" in c for c in problems.console_errors)
    problems.console_errors.clear()


def test_the_skip_link_is_the_first_stop_for_keyboard_users(page, login_as, reviewer_user):
    login_as(reviewer_user)
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
