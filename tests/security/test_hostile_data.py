"""Hostile upstream data through the whole product: pages in Chromium, mails over SMTP, CSV exports, the API.

The world (tests/security/hostile.py) is a GitHub simulator whose logins, team and repository names, deploy key
titles and SAML identities are script payloads, ``javascript:`` URLs, template syntax, spreadsheet formulas,
bidirectional overrides and 10 kB strings, synced for real, correlated to a roster of people with hostile names,
reviewed in a campaign, revoked and mailed. ASVS 5.0 V1.2.1 (output encoding for the HTML context), V1.2.2
(URLs built from data only with safe schemes), V1.2.10 (CSV and formula injection), V1.3.7 (template
injection), V3.2.2 (content rendered as text, not executed).
"""
# ruff: noqa: S101

import csv
import io
import json
import re
import zipfile
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from connectors.models import Account
from connectors.simulators.github import GitHubSimulator
from pipeaccess.celery import app
from reviews.models import NotificationSettings, OutboundMail, Revocation
from tests.mail.smtp import SmtpServer

from . import hostile
from .authz.matrix import ACCESS, METHOD_NOT_ALLOWED, matrix_routes, url_for

pytestmark = pytest.mark.django_db(transaction=True)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")


@pytest.fixture
def smtp(settings):
    """Mails go through Django's SMTP backend to a real SMTP server on loopback."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        yield server


@pytest.fixture
def eager_celery(settings):
    """Mail and revocation tasks run in this process when their transaction commits, as a worker would run them."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def world(transactional_db, smtp, eager_celery, monkeypatch, settings):
    # The crawl is about output encoding: the security persona signs in with a password alone (the two-factor
    # requirement has its own tests in tests/security/test_accounts.py).
    settings.SECURITY_REQUIRES_MFA = False
    config = NotificationSettings.load()
    config.digest_enabled = False
    config.revocation_notices = True
    config.security_team_emails = ["security-team@acme.test"]
    config.save()
    with GitHubSimulator(hostile.hostile_org()) as sim:
        yield hostile.build_world(sim, monkeypatch, settings)


def test_the_hostile_world_is_synced_correlated_reviewed_and_mailed(world, smtp):
    """The set-up itself: the payloads made it into the inventory verbatim, each hostile account is linked to its
    person, one revocation was carried out upstream, and every mail went out over SMTP."""
    logins = set(Account.objects.filter(connector=world.connector).values_list("login", flat=True))
    assert set(hostile.LOGINS) <= logins
    linked = Account.objects.filter(connector=world.connector, login__in=hostile.LOGINS, identity__isnull=False)
    assert linked.count() == len(hostile.LOGINS)
    assert OutboundMail.objects.filter(state="sent").count() == len(smtp.messages) > 0
    rev = Revocation.objects.filter(item__campaign=world.campaign).order_by("pk").first()
    assert rev.state in {"done", "verified"}, (rev.state, rev.error)
    assert {m["X-PipeAccess-Kind"] for m in smtp.messages} >= {"launch", "close_summary", "revocation_notice"}


# ---------------------------------------------------------------------------
# Mails
# ---------------------------------------------------------------------------


class _Markup(HTMLParser):
    """Every element and attribute of an HTML document, as a mail client would build them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


MAIL_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "div",
    "p",
    "a",
    "table",
    "tr",
    "td",
    "th",
    "span",
    "ul",
    "li",
    "strong",
    "br",
    "h1",
    "h2",
    "h3",
    "thead",
    "tbody",
    "em",
    "small",
    "code",
}


def test_every_mail_shows_hostile_names_as_text_and_links_only_to_pipeaccess(world, smtp):
    """ASVS 5.0 V1.2.1, V1.2.2: in the HTML part of every mail sent over SMTP, synced names are escaped text
    (no element or event handler comes from them) and every link goes to PipeAccess's own https address."""
    messages = smtp.messages
    texts, htmls = [], []
    for message in messages:
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        texts.append(text)
        htmls.append(html)
        parser = _Markup()
        parser.feed(html)
        tags = {tag for tag, _ in parser.tags}
        assert tags <= MAIL_TAGS, (message["X-PipeAccess-Kind"], tags - MAIL_TAGS)
        for tag, attrs in parser.tags:
            assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
            if tag == "a":
                assert attrs["href"].startswith(hostile.SITE_URL + "/"), attrs["href"]
        for part in (message["Subject"], text, html):
            assert "\u202e" not in part
    everything_text, everything_html = "\n".join(texts), "\n".join(htmls)
    # The names are there as text: verbatim in the plain part (templates not evaluated), escaped in HTML.
    for payload in (hostile.SCRIPT, hostile.TEMPLATE, hostile.IMG):
        assert payload in everything_text, payload
        assert escape(payload) in everything_html, payload
    assert hostile.SCRIPT not in everything_html and hostile.IMG not in everything_html


# ---------------------------------------------------------------------------
# Every page, in Chromium
# ---------------------------------------------------------------------------

# Files, not pages: read by the CSV and API tests below.
DOWNLOADS = {
    "api:schema",
    "reports:campaign_download",
    "reports:campaign_evidence",
    "reports:inventory_download",
    "ops:audit_export",
}
MATRIX_ROLE = {"security": "security", "auditor": "auditor", "reviewer": "reviewer_b"}

# Run in every page after load: what an injected payload would have left behind.
INSPECT = """() => {
  const found = [];
  const link = /^(href|src|action|formaction|xlink:href|data)$/i;
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const shown = `${el.tagName} ${attr.name}=${attr.value}`;
      if (/^on/i.test(attr.name)) found.push(shown);
      if (link.test(attr.name) && /^[\\s\\u0000-\\u001f]*javascript:/i.test(attr.value)) found.push(shown);
    }
  }
  for (const s of document.querySelectorAll('script')) {
    if (!s.src || new URL(s.src).origin !== location.origin) found.push(`script ${s.src || s.textContent}`);
  }
  const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
  return {pwned: window.__pwned === undefined ? null : String(window.__pwned), found, wide};
}"""


def crawl_urls(world, role: str) -> list[str]:
    """Every page of the URL resolver this role may open, built with the hostile objects; plus every report
    kind and the searches that list the hostile accounts."""
    objects = world.url_world()
    urls = []
    for name, pattern in matrix_routes():
        readers = ACCESS[name][0]
        if name in DOWNLOADS or readers == METHOD_NOT_ALLOWED or MATRIX_ROLE[role] not in readers:
            continue
        url = url_for(name, pattern, objects)
        if name == "api:report_access_at":
            url = url.split("?")[0] + "?" + urlencode({"resource": f"hostile-gh:acme/{hostile.REPOS[0]}"})
        urls.append(url)
    if role != "reviewer":
        kinds = ("admins", "outside", "orphaned", "leavers", "nonhuman", "public", "changes")
        urls += [reverse("reports:inventory", kwargs={"kind": kind}) for kind in kinds]
        access_at = reverse("reports:inventory", kwargs={"kind": "access-at"})
        urls.append(access_at + "?" + urlencode({"resource": f"hostile-gh:acme/{hostile.REPOS[0]}"}))
        urls += [f"{reverse('inventory:accounts')}?q=%3C", f"{reverse('inventory:accounts')}?q=%7B%7B"]
        urls += [reverse("inventory:account", kwargs={"pk": pk}) for pk in world.account_ids]
        urls += [reverse("inventory:resource", kwargs={"pk": pk}) for pk in world.resource_ids]
    return urls


@pytest.fixture
def hostile_browser():
    from playwright.sync_api import sync_playwright

    from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_the_page_inspection_catches_an_injected_payload(hostile_browser):
    """The control for the crawl below: the same inspection, on a page where the payloads were not escaped."""
    context = hostile_browser.new_context(bypass_csp=True)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_content(f'<p>{hostile.IMG}</p><a href="{hostile.JS_URL}">x</a><div>{hostile.SCRIPT}</div>')
    page.wait_for_function("window.__pwned !== undefined")
    seen = page.evaluate(INSPECT)
    assert seen["pwned"] in {"img", "script"}
    assert any("onerror" in f for f in seen["found"]) and any("javascript:" in f for f in seen["found"])
    page.set_content(f"<a href='{hostile.JS_URL_OBFUSCATED}'>x</a><p>{hostile.SVG}</p>")
    seen = page.evaluate(INSPECT)
    assert any("onload" in f for f in seen["found"]) and any("JaVaScRiPt:" in f for f in seen["found"])
    context.close()


@pytest.mark.slow
def test_no_page_runs_a_script_or_links_to_javascript_from_synced_data(world, live_server, hostile_browser):
    """ASVS 5.0 V1.2.1, V1.2.2, V1.3.7, V3.2.2: every page the security team, an auditor and a reviewer may open,
    with the real ids of hostile objects, opened in Chromium with the Content-Security-Policy switched off
    (bypass_csp), so escaping alone must hold: no payload runs (window.__pwned stays unset, no dialog), no element,
    event handler or script comes from data, no javascript: link; template syntax shows as typed. The reviewer's
    pages are opened a second time with the policy on: no console error, so no CSP violation either."""
    problems, dialogs, errors, wide, literal = [], [], [], [], 0
    passes = [("security", True), ("auditor", True), ("reviewer", True), ("reviewer", False)]
    for role, bypass_csp in passes:
        context = hostile_browser.new_context(bypass_csp=bypass_csp, base_url=live_server.url)
        # Nothing leaves the machine: a payload's http://evil.example is refused, not fetched.
        context.route(re.compile(r"^(?!" + re.escape(live_server.url) + r"|data:)"), lambda route: route.abort())
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: msg.type == "error" and errors.append(f"{msg.location['url']}: {msg.text}"))
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(world.users[role].email)
        page.get_by_label("Password").fill(hostile.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        for url in crawl_urls(world, role):
            response = page.goto(url, wait_until="domcontentloaded")
            if response.status != 200 or not page.url.startswith(live_server.url + url.split("?")[0]):
                problems.append(f"{role} {url}: HTTP {response.status} at {page.url}")
                continue
            seen = page.evaluate(INSPECT)
            if seen["pwned"] or seen["found"]:
                problems.append(f"{role} {url}: {seen}")
            if seen["wide"]:
                wide.append(f"{role} {url}")
            literal += hostile.TEMPLATE in page.inner_text("body")
        context.close()
    assert not problems, "\n".join(problems)
    assert not dialogs and not errors, (dialogs, errors)
    # 300-character names and 10 kB justifications wrap or scroll inside their cell: no page grows sideways.
    assert not wide, "wider than the window:\n" + "\n".join(wide)
    assert literal >= 3, "the template syntax shows as typed on the pages that list it"


# ---------------------------------------------------------------------------
# CSV exports
# ---------------------------------------------------------------------------


def _csv_files(world, tmp_path) -> dict[str, str]:
    """Every CSV a person can take away: report downloads, the evidence package, the audit export, the CLI."""
    client = Client()
    client.force_login(world.users["security"])
    files = {}

    def get(url: str) -> bytes:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return b"".join(response.streaming_content) if response.streaming else response.content

    pk = world.campaign.pk
    files["campaign report"] = get(reverse("reports:campaign_download", kwargs={"pk": pk, "fmt": "csv"})).decode()
    for kind in ("admins", "outside", "orphaned", "leavers", "nonhuman", "public", "changes", "access-at"):
        url = reverse("reports:inventory_download", kwargs={"kind": kind, "fmt": "csv"})
        query = {"resource": f"hostile-gh:acme/{hostile.REPOS[0]}"} if kind == "access-at" else {}
        if kind == "changes":
            query = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
        files[f"inventory {kind}"] = get(url + "?" + urlencode(query)).decode()
    files["audit export"] = get(reverse("ops:audit_export", kwargs={"fmt": "csv"})).decode()
    with zipfile.ZipFile(io.BytesIO(get(reverse("reports:campaign_evidence", kwargs={"pk": pk})))) as package:
        for name in package.namelist():
            if name.endswith(".csv"):
                files[f"evidence {name}"] = package.read(name).decode()
    for args, name in (
        (["access", "export", "--format", "csv"], "access export (effective)"),
        (["access", "export", "--format", "csv", "--as-granted"], "access export (as granted)"),
        (["audit", "export", "--format", "csv"], "audit export (CLI)"),
    ):
        output = tmp_path / "export.csv"
        call_command(*args, "--output", str(output))
        files[name] = output.read_text(encoding="utf-8")
    return files


def test_no_csv_cell_starts_a_formula(world, tmp_path):
    """ASVS 5.0 V1.2.10: in every CSV export (campaign report, every inventory report, audit log, evidence
    package, `access export` and `audit export`), a cell that would start a spreadsheet formula (=, +, -, @,
    tab, carriage return) is prefixed with an apostrophe; the hostile names are there, neutralised."""
    files = _csv_files(world, tmp_path)
    cells = []
    for name, text in files.items():
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) >= 2 or name.startswith("inventory"), f"{name} is empty"
        for row in rows:
            for cell in row:
                assert not cell.startswith(FORMULA_START), f"{name}: {cell[:80]!r}"
                cells.append(cell)
    every = "\n".join(cells)
    for formula in hostile.FORMULA_LOGINS:
        assert "'" + formula in cells, f"{formula!r} is exported, neutralised"
    assert "'" + hostile.FORMULAS[0] in every  # the team name
    # The formula is not mangled beyond the prefix: other payloads come out as they are.
    assert hostile.SCRIPT in every and hostile.RTL in every


@pytest.mark.parametrize("prefix", FORMULA_START)
def test_every_formula_prefix_is_neutralised_in_every_csv_writer(prefix, tmp_path):
    """ASVS 5.0 V1.2.10 lists =, +, -, @, tab and NUL (carriage return too, for Excel): the one cell function every
    CSV writer uses (connectors.export.csv_safe; reports.write_csv) prefixes each with an apostrophe. NUL cannot be
    stored by PostgreSQL, so it is checked here rather than through a sync."""
    from connectors.export import csv_safe
    from reviews.reports import csv_text

    cell = f"{prefix}cmd|' /C calc'!A0"
    assert csv_safe(cell) == "'" + cell
    (row,) = list(csv.reader(io.StringIO(csv_text(["name"], [{"name": cell}]), newline="")))[1:]
    assert row == ["'" + cell]


def test_json_exports_keep_the_upstream_names_verbatim(world, tmp_path):
    """CONTRACT (access export --format jsonl): the JSON export is data for programs, not for spreadsheets;
    names stay exactly as the upstream serves them (no apostrophe), escaped only by JSON itself."""
    output = tmp_path / "export.jsonl"
    call_command("access", "export", "--format", "jsonl", "--as-granted", "--output", str(output))
    logins = {json.loads(line)["account"]["login"] for line in output.read_text(encoding="utf-8").splitlines()}
    assert set(hostile.LOGINS) <= logins


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_the_api_returns_hostile_names_as_json_data(world):
    """ASVS 5.0 V1.2.1, V4.1.1: every API answer over the hostile inventory (token auth) is application/json with
    nosniff, and carries the upstream's strings verbatim: escaping is the reader's job, for its own context."""
    out = io.StringIO()
    call_command(
        "api",
        "token",
        "create",
        "--user",
        world.users["auditor"].email,
        "--read-only",
        stdout=out,
        stderr=io.StringIO(),
    )
    client = Client(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    resource = urlencode({"resource": f"hostile-gh:acme/{hostile.REPOS[0]}"})
    urls = [
        reverse("api:account-list"),
        reverse("api:account-detail", kwargs={"pk": world.account.pk}),
        reverse("api:identity-list"),
        reverse("api:resource-list"),
        reverse("api:grant-list"),
        reverse("api:campaign-items", kwargs={"pk": world.campaign.pk}),
        reverse("api:revocation-list"),
        reverse("api:auditevent-list"),
        reverse("api:report_campaign", kwargs={"pk": world.campaign.pk}),
        reverse("api:report_access_at") + "?" + resource,
    ]
    found = set()
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert response["Content-Type"].startswith("application/json"), url
        assert response["X-Content-Type-Options"] == "nosniff"
        found.update(_strings(response.json()))
    for payload in hostile.LOGINS:
        assert payload in found, payload
    assert any(hostile.TEN_KB in value for value in found), "the 10 kB justification is returned whole"
