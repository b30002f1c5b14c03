"""The reviewer's pages through the Django test client: who sees what, inline decisions, bulk, undo, sign-off.

Data: the small synced inventory of tests/reviews/conftest.py, launched with reviews.campaigns.launch.
Routing there: alice, bob and carol's access goes to their manager mia; dave (no person) and team eng's
grant on r1 go to ola, the owner of r1 and r2; what nobody qualifies for goes to sam (security).
"""

import json

import pytest
from django.urls import reverse

from connectors.base import AccountRecord, GrantRecord
from connectors.choices import GrantKind, Level
from pipeaccess.roles import AUDITOR, REVIEWER
from reviews import campaigns
from reviews.choices import ItemState, Verdict
from reviews.models import Decision, ReviewerProgress
from tests.reviews.conftest import inventory as small_inventory  # noqa: F401

# The lead's campaign fixtures: a synced inventory, people with managers and owners, and launched campaigns.
from tests.reviews.conftest import launched, make_template, people, users  # noqa: F401

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def inventory(small_inventory):  # noqa: F811
    return small_inventory


def url(name, *args):
    return reverse(f"reviews:{name}", args=args)


def item_of(campaign, holder, path):
    return campaign.items.get(holder_label=holder, resource_path=path)


def logged_in(client, user):
    client.force_login(user)
    return client


# --- My reviews and the deep link --------------------------------------------------------------------------


def test_my_reviews_lists_the_open_campaign_with_progress_deadline_and_what_is_left(client, launched, users):  # noqa: F811
    campaign = launched()
    mine = campaign.items.filter(reviewer__email="mia@acme.test").count()
    response = logged_in(client, users["mia"]).get(url("my_reviews"))
    html = response.content.decode()
    assert response.status_code == 200
    assert campaign.name in html
    assert f"0 of {mine} decided" in html
    assert f"Review {mine} item" in html
    assert url("review", campaign.pk) in html


def test_a_closed_campaign_leaves_my_reviews(client, launched, users):  # noqa: F811
    campaign = launched()
    campaigns.close(campaign)
    response = logged_in(client, users["mia"]).get(url("my_reviews"))
    assert campaign.name not in response.content.decode()
    assert "Nothing to review right now" in response.content.decode()


def test_the_launch_mail_link_brings_an_anonymous_reviewer_to_their_items_after_login(client, launched, users):  # noqa: F811
    campaign = launched()
    link = url("review", campaign.pk)
    response = client.get(link)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"] and "next=" in response["Location"]
    response = client.post(
        response["Location"], {"login": "mia@acme.test", "password": "correct-horse-battery-staple"}, follow=True
    )
    assert response.redirect_chain[-1][0] == link
    assert "acme/team/eng-ci" in response.content.decode()


# --- Reviewer isolation ----------------------------------------------------------------------------------------


def test_the_review_page_shows_only_the_reviewers_own_items(client, launched, users):  # noqa: F811
    campaign = launched()
    html = logged_in(client, users["mia"]).get(url("review", campaign.pk)).content.decode()
    for holder in ("alice", "bob", "carol"):
        assert f'<span class="holder">{holder}</span>' in html
    # dave's access and team eng's grant are ola's to review.
    assert '<span class="holder">dave</span>' not in html
    assert '<span class="holder">acme/team/eng</span>' not in html


def test_a_reviewer_cannot_see_or_decide_another_reviewers_item(client, launched, users):  # noqa: F811
    campaign = launched()
    olas = item_of(campaign, "dave", "acme/r1")
    client = logged_in(client, users["mia"])
    assert client.get(url("item", campaign.pk, olas.pk)).status_code == 404
    response = client.post(url("decide", campaign.pk, olas.pk), {"decision": "approve"}, **HTMX)
    assert response.status_code == 404
    assert client.post(url("undo", campaign.pk, olas.pk), **HTMX).status_code == 404
    assert client.post(url("comment", campaign.pk, olas.pk), {"text": "hi"}, **HTMX).status_code == 404
    olas.refresh_from_db()
    assert olas.state == ItemState.PENDING
    assert not Decision.objects.filter(item=olas).exists()


def test_bulk_decisions_never_reach_another_reviewers_items(client, launched, users):  # noqa: F811
    campaign = launched()
    olas = item_of(campaign, "dave", "acme/r1")
    mias = item_of(campaign, "carol", "acme/team/eng-ci")
    response = logged_in(client, users["mia"]).post(
        url("bulk", campaign.pk), {"decision": "approve", "items": [olas.pk, mias.pk]}, **HTMX
    )
    assert response.status_code == 200
    assert "Approved 1 item." in response.content.decode()
    olas.refresh_from_db()
    mias.refresh_from_db()
    assert (olas.state, mias.state) == (ItemState.PENDING, ItemState.DECIDED)


def test_someone_without_items_in_the_campaign_gets_404_and_the_security_team_its_overview(
    client,
    launched,  # noqa: F811
    users,  # noqa: F811
    make_user,
    security_user,
):
    campaign = launched()
    outsider = make_user("zed@acme.test", REVIEWER)
    assert logged_in(client, outsider).get(url("review", campaign.pk)).status_code == 404
    response = logged_in(client, security_user).get(url("review", campaign.pk))
    assert response.status_code == 302
    assert response["Location"] == url("campaign_detail", campaign.pk)


def test_nobody_is_shown_their_own_access(client, launched, users, people):  # noqa: F811
    # bob owns r2, where he is a direct admin: resource-owner routing must pass his own grant on.
    from connectors.models import Resource

    Resource.objects.filter(path="acme/r2").update(owner=people["bob"])
    campaign = launched(reviewers=["resource_owner", {"fallback": "sam@acme.test"}])
    own = item_of(campaign, "bob", "acme/r2")
    assert own.reviewer.email == "sam@acme.test"
    html = logged_in(client, users["bob"]).get(url("my_reviews")).content.decode()
    assert campaign.name not in html
    client = logged_in(client, users["bob"])
    assert client.get(url("review", campaign.pk)).status_code == 404
    assert client.post(url("decide", campaign.pk, own.pk), {"decision": "approve"}, **HTMX).status_code == 404


# --- Inline decisions ------------------------------------------------------------------------------------------


def test_an_inline_approve_answers_with_the_updated_row_and_the_new_progress(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    response = logged_in(client, users["mia"]).post(
        url("decide", campaign.pk, target.pk), {"decision": "approve", "version": target.version}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="item-{target.pk}"')
    assert "Approve</span>" in html and "Undo" in html
    progress = json.loads(response["HX-Trigger"])["review-progress"]
    assert progress["done"] == 1 and progress["pending"] == progress["total"] - 1
    target.refresh_from_db()
    assert (target.state, target.verdict, target.decided_by) == (ItemState.DECIDED, Verdict.APPROVE, users["mia"])


def test_revoking_without_a_justification_is_refused_inline_with_the_reason(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "bob", "acme/r2")
    client = logged_in(client, users["mia"])
    response = client.post(url("decide", campaign.pk, target.pk), {"decision": "revoke"}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="row-error" role="alert"' in html and "say why this access should be revoked" in html
    assert 'data-intent="revoke"' in html and "data-focus" in html
    target.refresh_from_db()
    assert target.state == ItemState.PENDING
    response = client.post(
        url("decide", campaign.pk, target.pk), {"decision": "revoke", "justification": "moved teams"}, **HTMX
    )
    assert response.status_code == 200
    target.refresh_from_db()
    assert (target.verdict, target.justification) == (Verdict.REVOKE, "moved teams")


def test_a_stale_version_is_a_conflict_and_the_row_shows_the_current_state(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    client = logged_in(client, users["mia"])
    stale = target.version
    assert client.post(url("decide", campaign.pk, target.pk), {"decision": "approve", "version": stale}, **HTMX)
    response = client.post(
        url("decide", campaign.pk, target.pk),
        {"decision": "revoke", "justification": "x", "version": stale},
        **HTMX,
    )
    assert response.status_code == 409
    assert "changed since you loaded it" in response.content.decode()
    target.refresh_from_db()
    assert target.verdict == Verdict.APPROVE


def test_decisions_in_a_closed_campaign_are_a_conflict(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    campaigns.close(campaign)
    target.refresh_from_db()
    client = logged_in(client, users["mia"])
    response = client.post(url("decide", campaign.pk, target.pk), {"decision": "revoke", "justification": "x"}, **HTMX)
    assert response.status_code == 409
    assert "the campaign is closed" in response.content.decode()
    assert client.post(url("undo", campaign.pk, target.pk), **HTMX).status_code == 409
    response = client.post(url("bulk", campaign.pk), {"decision": "approve", "select_all": "1"}, **HTMX)
    assert response.status_code == 200  # nothing pending is left to match: nothing decided
    assert "Approved 0 items." in response.content.decode()
    # The page itself stays readable, without decision forms.
    page = client.get(url("review", campaign.pk)).content.decode()
    assert 'class="decide"' not in page and "bulk-form" not in page


def test_undo_puts_the_item_back_to_pending_while_the_campaign_is_open(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    client = logged_in(client, users["mia"])
    client.post(url("decide", campaign.pk, target.pk), {"decision": "approve"}, **HTMX)
    response = client.post(url("undo", campaign.pk, target.pk), **HTMX)
    assert response.status_code == 200
    assert 'class="decide"' in response.content.decode()
    target.refresh_from_db()
    assert (target.state, target.verdict) == (ItemState.PENDING, "")


def test_downgrade_offers_only_lower_levels_and_records_the_level(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "bob", "acme/r2")  # admin
    client = logged_in(client, users["mia"])
    row = client.get(url("item", campaign.pk, target.pk)).content.decode()
    assert '<option value="read"' in row and '<option value="write" selected' in row
    assert '<option value="owner"' not in row
    response = client.post(url("decide", campaign.pk, target.pk), {"decision": "downgrade", "level": "read"}, **HTMX)
    assert response.status_code == 200
    assert "Downgrade to read" in response.content.decode()
    target.refresh_from_db()
    assert (target.verdict, target.downgrade_to) == (Verdict.DOWNGRADE, Level.READ)


def test_delegating_hands_the_item_over_and_it_leaves_the_page(client, launched, users, people):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    client = logged_in(client, users["mia"])
    response = client.post(
        url("decide", campaign.pk, target.pk),
        {"decision": "delegate", "to": "OLA@acme.test", "justification": "ola runs CI"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Delegated to ola@acme.test." in response.content.decode()
    target.refresh_from_db()
    assert target.reviewer == people["ola"]
    response = client.post(
        url("decide", campaign.pk, item_of(campaign, "bob", "acme/r2").pk),
        {"decision": "delegate", "to": "nobody@acme.test", "justification": "x"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "no person with email" in response.content.decode()


def test_a_comment_is_recorded_and_shown_in_the_rows_history(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    client = logged_in(client, users["mia"])
    response = client.post(url("comment", campaign.pk, target.pk), {"text": "Does <b>carol</b> still run CI?"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 comment" in html and "Does &lt;b&gt;carol&lt;/b&gt; still run CI?" in html
    assert client.post(url("comment", campaign.pk, target.pk), {"text": "  "}, **HTMX).status_code == 400


def test_the_page_shows_each_rows_history_with_who_when_and_to_whom(client, launched, users):  # noqa: F811
    """The page reads the rows' history in the rows' own query: delegation, comment, time, all shown."""
    campaign = launched()
    target = item_of(campaign, "carol", "acme/team/eng-ci")
    mia = logged_in(client, users["mia"])
    mia.post(url("comment", campaign.pk, target.pk), {"text": "Does carol still run CI?"}, **HTMX)
    mia.post(
        url("decide", campaign.pk, target.pk),
        {"decision": "delegate", "to": "ola@acme.test", "justification": "ola runs CI"},
        **HTMX,
    )
    entries = list(Decision.objects.filter(item=target).order_by("created", "id"))
    assert [e.kind for e in entries] == ["comment", "delegate"]
    html = logged_in(client, users["ola"]).get(url("review", campaign.pk), {"q": "eng-ci"}).content.decode()
    assert "1 comment" in html and "Does carol still run CI?" in html
    assert "→ ola@acme.test" in html and "ola runs CI" in html
    for entry in entries:
        assert f'<time datetime="{entry.created.isoformat()}">' in html, entry.created


def test_without_javascript_a_decision_redirects_back_with_a_message(client, launched, users):  # noqa: F811
    campaign = launched()
    target = item_of(campaign, "bob", "acme/r2")
    response = logged_in(client, users["mia"]).post(
        url("decide", campaign.pk, target.pk), {"decision": "revoke"}, follow=True
    )
    assert response.redirect_chain[0][0] == url("review", campaign.pk)
    assert "say why this access should be revoked" in response.content.decode()


def test_pressing_enter_alone_decides_nothing(client, launched, users):  # noqa: F811
    # The row form's first submit button carries an empty decision: implicit submission must not approve.
    campaign = launched()
    target = item_of(campaign, "bob", "acme/r2")
    response = logged_in(client, users["mia"]).post(
        url("decide", campaign.pk, target.pk), {"decision": "", "justification": "typed"}, **HTMX
    )
    assert response.status_code == 400
    assert "Choose approve, revoke, downgrade or delegate." in response.content.decode()
    target.refresh_from_db()
    assert target.state == ItemState.PENDING


# --- Filters, bulk and sign-off --------------------------------------------------------------------------------


def test_filters_and_search_narrow_the_list(client, launched, users):  # noqa: F811
    campaign = launched()
    client = logged_in(client, users["mia"])
    html = client.get(url("review", campaign.pk), {"q": "carol"}).content.decode()
    assert '<span class="holder">carol</span>' in html and '<span class="holder">bob</span>' not in html
    html = client.get(url("review", campaign.pk), {"level": "owner"}).content.decode()
    assert '<span class="holder">alice</span>' in html and '<span class="holder">carol</span>' not in html
    fragment = client.get(url("review", campaign.pk), {"q": "bob"}, HTTP_HX_TARGET="review-list", **HTMX)
    assert "<html" not in fragment.content.decode() and '<span class="holder">bob</span>' in fragment.content.decode()


def test_select_all_matching_decides_exactly_what_the_filter_selects_on_the_server(client, launched, users):  # noqa: F811
    campaign = launched()
    mine = campaign.items.filter(reviewer__email="mia@acme.test")
    carols = set(mine.filter(holder_label="carol").values_list("pk", flat=True))
    response = logged_in(client, users["mia"]).post(
        url("bulk", campaign.pk),
        {"decision": "approve", "select_all": "1", "return_query": "q=carol&state=pending"},
        **HTMX,
    )
    assert response.status_code == 200
    assert f"Approved {len(carols)} item" in response.content.decode()
    decided = set(mine.filter(state=ItemState.DECIDED).values_list("pk", flat=True))
    assert decided == carols


def test_a_bulk_revoke_needs_a_justification_and_decides_nothing_without_one(client, launched, users):  # noqa: F811
    campaign = launched()
    mine = campaign.items.filter(reviewer__email="mia@acme.test")
    response = logged_in(client, users["mia"]).post(
        url("bulk", campaign.pk), {"decision": "revoke", "select_all": "1"}, **HTMX
    )
    assert response.status_code == 400
    assert "say why this access should be revoked" in response.content.decode()
    assert not mine.filter(state=ItemState.DECIDED).exists()


def test_sign_off_waits_until_every_item_is_decided(client, launched, users):  # noqa: F811
    campaign = launched()
    client = logged_in(client, users["mia"])
    response = client.post(url("sign_off", campaign.pk), follow=True)
    assert "still to decide" in response.content.decode()
    client.post(
        url("bulk", campaign.pk), {"decision": "approve", "select_all": "1", "justification": "all fine"}, **HTMX
    )
    response = client.post(url("sign_off", campaign.pk), follow=True)
    assert response.redirect_chain[-1][0] == url("my_reviews")
    assert "Signed off" in response.content.decode()
    assert ReviewerProgress.objects.get(campaign=campaign, reviewer__email="mia@acme.test").signed_off_at


def test_synced_names_are_escaped_on_the_review_page(client, people, users, make_template, inventory):  # noqa: F811
    hostile = '<img src=x onerror="alert(1)">'
    inventory.sync(
        extra=[
            AccountRecord("user:evil", hostile, email=""),
            GrantRecord(
                "repo:1", GrantKind.PERMISSION, "<b>push</b>", Level.WRITE, "direct", account_external_id="user:evil"
            ),
        ]
    )
    campaign = campaigns.launch(make_template())
    html = logged_in(client, users["ola"]).get(url("review", campaign.pk)).content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert hostile not in html and "<b>push</b>" not in html


# --- Query counts ----------------------------------------------------------------------------------------------


@pytest.fixture
def crowded(people, users, make_template, inventory):  # noqa: F811
    """ola reviews 120 orphan accounts' direct grants on r1 (besides dave and team eng)."""
    extra = []
    for n in range(120):
        extra.append(AccountRecord(f"user:x{n}", f"contractor-{n}", email=""))
        extra.append(
            GrantRecord("repo:1", GrantKind.PERMISSION, "push", Level.WRITE, "direct", account_external_id=f"user:x{n}")
        )
    inventory.sync(extra=extra)
    return campaigns.launch(make_template())


def _queries(client, django_assert_num_queries, path, params, expected=None):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_review_page_costs_the_same_queries_for_25_or_200_rows(client, crowded, users, django_assert_num_queries):  # noqa: F811
    client = logged_in(client, users["ola"])
    # Comments and decisions on some rows must not add queries either.
    some = crowded.items.filter(reviewer__email="ola@acme.test")[:3]
    for it in some:
        client.post(url("comment", crowded.pk, it.pk), {"text": "why?"}, **HTMX)
    path = url("review", crowded.pk)
    small = _queries(client, django_assert_num_queries, path, {"per_page": 25})
    large = _queries(client, django_assert_num_queries, path, {"per_page": 200})
    grouped = _queries(
        client, django_assert_num_queries, path, {"per_page": 200, "group": "resource", "q": "contractor"}
    )
    assert small == large == grouped
    # Pinned (issue "Scale": <= 5): user, roles (pipeaccess.mfa, shared with the navigation), the campaign with
    # the reviewer's counts, systems and sign-off, the page's rows with the matching count, their history. The
    # session comes from the cache (cached_db).
    assert large == 5, large


def test_the_review_page_pages_like_django_past_the_end_and_on_a_bad_number(client, crowded, users):  # noqa: F811
    """The matching count rides on the page's rows: a page past the end still finds the last page and the count."""
    client = logged_in(client, users["ola"])
    total = crowded.items.filter(reviewer__email="ola@acme.test").count()
    pages = -(-total // 25)
    assert pages > 2, total
    path = url("review", crowded.pk)
    second = client.get(path, {"per_page": 25, "page": 2}).content.decode()
    assert f"26–50 of {total}" in second and f"Page 2 of {pages}" in second
    for wrong, shown in (("999", pages), ("0", pages), ("x", 1)):
        body = client.get(path, {"per_page": 25, "page": wrong}).content.decode()
        assert f"Page {shown} of {pages}" in body and f"of {total}</span>" in body, wrong


def test_my_reviews_costs_a_fixed_number_of_queries(client, crowded, users, launched, django_assert_num_queries):  # noqa: F811
    client = logged_in(client, users["ola"])
    one = _queries(client, django_assert_num_queries, url("my_reviews"), {})
    launched(name="second")
    two = _queries(client, django_assert_num_queries, url("my_reviews"), {})
    # User, roles (pipeaccess.mfa; the view and the navigation reuse them), identity, counts per campaign,
    # campaigns, sign-offs; the session comes from the cache (cached_db).
    assert one == two == 6, (one, two)


def test_a_decision_round_trip_costs_a_fixed_number_of_queries(client, crowded, users):  # noqa: F811
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = logged_in(client, users["ola"])
    counts = []
    for it in crowded.items.filter(reviewer__email="ola@acme.test", state=ItemState.PENDING)[:3]:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                url("decide", crowded.pk, it.pk),
                {"decision": "approve", "version": it.version, "justification": "ok"},
                **HTMX,
            )
        assert response.status_code == 200, response.content
        counts.append(len(captured.captured_queries))
    # User, roles (pipeaccess.mfa), the item (joined to the reviewer's person); the decision (identity, savepoint,
    # lock, update, history row, audit chain head, audit event, release; PostgreSQL also takes the audit chain's
    # advisory lock); the row's history, progress. The session comes from the cache (cached_db).
    expected = 14 if connection.vendor == "postgresql" else 13
    assert counts == [expected] * 3, counts


def test_an_auditor_without_items_is_sent_to_the_read_only_overview(client, launched, users, make_user):  # noqa: F811
    campaign = launched()
    auditor = make_user("aud@acme.test", AUDITOR)
    response = logged_in(client, auditor).get(url("review", campaign.pk))
    assert response.status_code == 302 and response["Location"] == url("campaign_detail", campaign.pk)
