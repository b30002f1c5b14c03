"""A reviewer's whole review in headless Chromium: login, My reviews, inline and bulk decisions, undo,
keyboard-only decisions, sign-off; and the security team's template → preview → launch.

Data: a simulated GitHub organization served over loopback, synced for real, and a campaign launched
with reviews.campaigns.launch in which bob (the reviewer persona) reviews every item.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from connectors.models import Identity
from connectors.simulators.github import GitHubSimulator, Token
from connectors.simulators.github_org import GitHubOrg
from connectors.sync import run_sync
from reviews import campaigns
from reviews.choices import ItemState, Verdict
from reviews.models import ReviewerProgress, ReviewItem
from tests.connectors.helpers import add_simulated_connector, sync_factory
from tests.fakes import FakeTime

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "ghp_" + "uiReviewOwnerToken0123456789abcdefghij"
# PIPEACCESS_SCREENSHOTS=1 (make screenshots) writes the README's picture; other runs leave the tree untouched.
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "pipeaccess" / "static" / "docs"


@pytest.fixture
def synced_github(ui_db, monkeypatch):
    """The simulated org acme, synced once through the real connector."""
    fake_time = FakeTime(1_800_000_000.0)
    org = GitHubOrg.generate(
        "acme", seed=11, members=14, outside_collaborators=3, teams=4, repos=6, default_repository_permission="read"
    )
    with GitHubSimulator(org, tokens={TOKEN: Token(org.owner_login)}, clock=fake_time.clock) as sim:
        connector = add_simulated_connector(
            monkeypatch,
            name="acme-github",
            kind="github",
            base_url=sim.url,
            token_env="GH_UI_TOKEN",
            token=TOKEN,
            org="acme",
        )
        run = run_sync(connector, connector_factory=sync_factory(fake_time))
    assert run.status == "succeeded", run.error
    return connector


@pytest.fixture
def campaign(synced_github, reviewer_user):
    Identity.objects.create(email=reviewer_user.email, name="Bob Reviewer")
    (template,) = campaigns.apply_templates(
        [
            {
                "name": "Pipeline access Q4",
                "scope": {"connectors": ["acme-github"]},
                "reviewers": [{"users": [reviewer_user.email]}],
                "duration": "14d",
            }
        ]
    )
    launched = campaigns.launch(template)
    assert launched.items.filter(reviewer__email=reviewer_user.email).count() > 20
    return launched


def expected_errors(problems, *statuses: int) -> None:
    """Drop the console lines Chromium writes for the refusals a test provokes on purpose (400, 409)."""
    marks = tuple(f"status of {s}" for s in statuses)
    problems.console_errors[:] = [c for c in problems.console_errors if not any(m in c for m in marks)]


def row(page, item):
    return page.locator(f"#item-{item.pk}")


def moved_on(page, item) -> None:
    """Wait until the cursor left the item just decided (the page moves on by itself)."""
    expect(page.locator("#review-items tr.item.current")).not_to_have_id(f"item-{item.pk}")


def test_a_reviewer_finishes_a_review_with_inline_bulk_undo_and_sign_off(
    page, campaign, login_as, reviewer_user, problems, tmp_path
):
    mine = ReviewItem.objects.filter(campaign=campaign, reviewer__email=reviewer_user.email)
    total = mine.count()

    login_as(reviewer_user)
    page.goto("/reviews/")
    expect(page.get_by_role("heading", name="My reviews")).to_be_visible()
    card = page.locator(".campaign-card", has_text="Pipeline access Q4")
    expect(card).to_contain_text(f"0 of {total} decided")
    card.get_by_role("link", name=re.compile(rf"Review {total} items")).click()
    expect(page.get_by_role("heading", name=campaign.name)).to_be_visible()
    # A marker on the window proves the decisions below never reload the page.
    page.evaluate("window.__noReload = true")

    # Inline approve of a low-risk item.
    low = mine.filter(risk_score__lt=50, state=ItemState.PENDING).order_by("-risk_score", "id").first()
    page.goto(f"/reviews/campaigns/{campaign.pk}/?q={low.holder_label}&state=pending&per_page=200")
    page.evaluate("window.__noReload = true")
    row(page, low).get_by_role("button", name="Approve").click()
    expect(row(page, low).locator(".badge.verdict-approve")).to_have_text("Approve")
    expect(page.locator("#review-progress .progress-done")).to_have_text("1")
    assert page.evaluate("window.__noReload") is True
    low.refresh_from_db()
    assert low.verdict == Verdict.APPROVE

    # Revoke: the justification is asked for inline, then the revoke goes through.
    target = mine.filter(state=ItemState.PENDING).exclude(holder_label=low.holder_label).order_by("id").first()
    page.goto(f"/reviews/campaigns/{campaign.pk}/?q={target.resource_path}&per_page=200")
    page.evaluate("window.__noReload = true")
    row(page, target).get_by_role("button", name="Revoke").click()
    expect(row(page, target).get_by_role("alert")).to_contain_text("say why this access should be revoked")
    expected_errors(problems, 400)
    justification = row(page, target).get_by_label(re.compile("Justification"))
    expect(justification).to_be_focused()
    justification.fill("left the platform team in October")
    row(page, target).get_by_role("button", name="Revoke").click()
    expect(row(page, target).locator(".badge.verdict-revoke")).to_have_text("Revoke")
    target.refresh_from_db()
    assert (target.verdict, target.justification) == (Verdict.REVOKE, "left the platform team in October")

    # Undo while the campaign is open.
    row(page, target).get_by_role("button", name="Undo").click()
    expect(row(page, target).get_by_role("button", name="Revoke")).to_be_visible()
    target.refresh_from_db()
    assert target.state == ItemState.PENDING
    assert page.evaluate("window.__noReload") is True

    # Bulk approve of a filtered selection: the server applies the filter.
    page.goto(f"/reviews/campaigns/{campaign.pk}/")
    page.get_by_label("Level", exact=True).select_option("read")
    expect(page).to_have_url(re.compile(r"level=read"))
    reads = mine.filter(level=10, state=ItemState.PENDING)
    n_reads = reads.count()
    assert n_reads > 1
    page.get_by_label(re.compile(r"Select all \d+ items? matching this filter")).check()
    page.locator("#bulk-justification").fill("read access is fine for the whole team")
    page.get_by_role("button", name="Apply to selection").click()
    expect(page.locator("#bulk-result")).to_have_text(f"Approved {n_reads} items.")
    assert not reads.filter(state=ItemState.PENDING).exists()
    assert mine.filter(level__gt=10, verdict=Verdict.APPROVE).count() <= 1  # only the inline approve above

    page.goto(f"/reviews/campaigns/{campaign.pk}/")
    page.set_viewport_size({"width": 1400, "height": 1000})
    shot = (SCREENSHOT_DIR if os.environ.get("PIPEACCESS_SCREENSHOTS") else tmp_path) / "review.png"
    page.screenshot(path=str(shot), full_page=False, caret="initial")
    assert shot.read_bytes().startswith(b"\x89PNG")

    # Everything else in one go, then sign off.
    expect(page.get_by_role("button", name="Sign off")).to_be_disabled()
    page.locator("#bulk-select-all").check()
    page.locator("#bulk-justification").fill("reviewed with the team leads")
    page.get_by_role("button", name="Apply to selection").click()
    expect(page.locator("#review-progress .progress-pending")).to_have_text("0")
    expect(page.get_by_role("button", name="Sign off")).to_be_enabled()
    page.get_by_role("button", name="Sign off").click()
    expect(page.get_by_role("heading", name="My reviews")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Signed off")
    assert ReviewerProgress.objects.get(campaign=campaign, reviewer__email=reviewer_user.email).signed_off_at


def test_a_reviewer_decides_using_only_the_keyboard(page, campaign, login_as, reviewer_user):
    mine = ReviewItem.objects.filter(campaign=campaign, reviewer__email=reviewer_user.email)
    login_as(reviewer_user)
    page.goto(f"/reviews/campaigns/{campaign.pk}/?per_page=25")
    rows = page.locator("#review-items tr.item")
    first = rows.nth(0)
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))

    def current_item() -> ReviewItem:
        item_id = page.locator("#review-items tr.item.current").get_attribute("data-item")
        return mine.get(pk=int(item_id))

    # a: approve (a high-risk item asks for a justification first; Enter approves).
    item = current_item()
    page.keyboard.press("a")
    if item.risk_score >= 50:
        page.keyboard.type("still runs the release pipeline")
        page.keyboard.press("Enter")
    expect(row(page, item).locator(".badge.verdict-approve")).to_be_visible()
    # The cursor moved on to the next undecided item by itself.
    moved_on(page, item)

    # r: revoke, type the reason, Enter.
    item = current_item()
    page.keyboard.press("r")
    page.keyboard.type("no longer on the team")
    page.keyboard.press("Enter")
    expect(row(page, item).locator(".badge.verdict-revoke")).to_be_visible()
    moved_on(page, item)
    revoked = item

    # k goes back, u undoes.
    page.keyboard.press("k")
    expect(page.locator("#review-items tr.item.current")).to_have_id(f"item-{revoked.pk}")
    page.keyboard.press("u")
    expect(row(page, revoked).get_by_role("button", name="Revoke")).to_be_visible()
    expect(row(page, revoked)).to_have_class(re.compile(r"\bcurrent\b"))
    revoked.refresh_from_db()
    assert revoked.state == ItemState.PENDING

    # j moves, d downgrades to the level picked with the arrow keys.
    page.keyboard.press("j")
    item = current_item()
    while item.level <= 10:
        page.keyboard.press("j")
        item = current_item()
    page.keyboard.press("d")
    page.keyboard.press("Enter")  # the level just below the current one is preselected
    expect(row(page, item).locator(".badge.verdict-downgrade")).to_be_visible()
    moved_on(page, item)
    item.refresh_from_db()
    assert item.verdict == Verdict.DOWNGRADE and item.downgrade_to < item.level

    # x selects for a bulk decision; ? opens the help.
    page.keyboard.press("x")
    expect(page.locator("#bulk-count")).to_have_text("1 selected")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    decided = mine.exclude(state=ItemState.PENDING).count()
    assert decided == 2
    assert int(page.locator("#review-progress .progress-done").inner_text()) == 2


def test_the_security_team_previews_and_launches_a_template(
    page, synced_github, login_as, security_user, reviewer_user
):
    Identity.objects.create(email=reviewer_user.email, name="Bob Reviewer")
    login_as(security_user)
    page.goto("/reviews/templates/")
    page.get_by_role("link", name="New template").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Admins monthly")
    page.get_by_label("acme-github").check()
    page.get_by_role("combobox", name="Minimum level").select_option("admin")
    page.get_by_label("First", exact=True).select_option("users")
    page.get_by_label("Named reviewers").fill(reviewer_user.email)
    page.get_by_label("Fallback reviewer").fill(reviewer_user.email)
    # The live preview follows the form.
    preview = page.locator("#preview-count")
    expect(preview).to_contain_text("A launch now would create")
    expect(page.locator("#preview")).to_contain_text(reviewer_user.email)
    admin_count = int(preview.locator("strong").first.inner_text())
    page.get_by_role("combobox", name="Minimum level").select_option("owner")
    expect(preview.locator("strong").first).not_to_have_text(str(admin_count))
    page.get_by_role("combobox", name="Minimum level").select_option("admin")
    expect(preview.locator("strong").first).to_have_text(str(admin_count))
    page.get_by_role("button", name="Save template").click()
    expect(page.locator(".messages")).to_contain_text("Saved template Admins monthly.")

    page.get_by_role("button", name="Launch now").click()
    expect(page.get_by_role("heading", name=re.compile("Admins monthly"))).to_be_visible()
    expect(page.locator("#reviewer-progress")).to_contain_text(reviewer_user.email)
    expect(page.locator("#reviewer-progress")).to_contain_text(f"0 of {admin_count}")


def test_on_a_phone_each_item_is_a_card_with_its_buttons_in_reach(page, campaign, login_as, reviewer_user, problems):
    login_as(reviewer_user)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/reviews/campaigns/{campaign.pk}/?per_page=25")
    first = page.locator("#review-items tr.item").first
    approve = first.get_by_role("button", name="Approve")
    approve.scroll_into_view_if_needed()
    box = approve.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    # Cells say what they are once the header row is hidden.
    assert page.locator("#review-items thead").is_hidden()
    label = first.locator("td[data-label='Risk']").evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Risk"'
    # The riskiest item comes first: approving it asks for a justification, in the card.
    approve.click()
    expect(first.get_by_role("alert")).to_contain_text("high-risk grant: say why it should stay")
    expected_errors(problems, 400)
