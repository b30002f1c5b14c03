"""The security team's campaign pages: templates with a live preview, launch, campaigns, reassign, close.

Auditors read every page and change nothing; reviewers see none of it.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews.choices import CampaignState, ItemState
from reviews.models import CampaignTemplate, ReviewItem
from tests.reviews.conftest import inventory as small_inventory  # noqa: F401
from tests.reviews.conftest import launched, make_template, people, users  # noqa: F401

FORM = {
    "name": "platform quarterly",
    "description": "CI/CD access, every quarter",
    "connectors": ["acme-gh"],
    "resources": "acme/*",
    "min_level": "read",
    "strategy_1": "manager",
    "strategy_2": "resource_owner",
    "fallback": "sam@acme.test",
    "schedule": "every: 90d",
    "duration": "14d",
    "reminders": "7, 3, 1",
    "escalate_after": "10d",
    "on_timeout": "keep",
    "max_sync_age": "24h",
    "enabled": "on",
}


@pytest.fixture
def inventory(small_inventory):  # noqa: F811
    return small_inventory


def url(name, *args):
    return reverse(f"reviews:{name}", args=args)


def as_user(client, user):
    client.force_login(user)
    return client


def queries(client, path):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


# --- Templates ---------------------------------------------------------------------------------------------


def test_the_security_team_creates_a_template_from_the_form(client, inventory, users):  # noqa: F811
    response = as_user(client, users["sam"]).post(url("template_create"), FORM, follow=True)
    assert response.status_code == 200
    assert "Saved template platform quarterly." in response.content.decode()
    template = CampaignTemplate.objects.get(name="platform quarterly")
    assert template.scope["connectors"] == ["acme-gh"] and template.scope["resources"] == ["acme/*"]
    assert template.reviewers["strategies"] == ["manager", "resource_owner"]
    assert template.reviewers["fallback"] == "sam@acme.test"
    assert template.schedule == "every: 90d" and template.next_launch_at is not None
    assert template.duration.days == 14 and template.escalate_after.days == 10
    assert template.reminders == [7, 3, 1]


def test_bad_template_input_is_explained_and_nothing_is_saved(client, inventory, users):  # noqa: F811
    client = as_user(client, users["sam"])
    response = client.post(url("template_create"), {**FORM, "schedule": "every full moon"})
    assert response.status_code == 200
    assert "neither a cron expression" in response.content.decode()
    response = client.post(url("template_create"), {**FORM, "strategy_1": "", "strategy_2": "", "fallback": ""})
    assert "Choose at least one reviewer strategy" in response.content.decode()
    response = client.post(url("template_create"), {**FORM, "strategy_1": "users", "strategy_2": ""})
    assert "List the named reviewers" in response.content.decode()
    assert not CampaignTemplate.objects.exists()


def test_editing_a_template_keeps_its_name_and_changes_its_scope(client, make_template, users):  # noqa: F811
    template = make_template()
    client = as_user(client, users["sam"])
    page = client.get(url("template_edit", template.pk)).content.decode()
    assert 'value="quarterly"' in page and "disabled" in page
    data = {**FORM, "name": "renamed", "min_level": "admin", "strategy_1": "users", "users": "ola@acme.test"}
    response = client.post(url("template_edit", template.pk), data, follow=True)
    assert "Saved template quarterly." in response.content.decode()
    template.refresh_from_db()
    assert template.name == "quarterly" and template.scope["min_level"] == "admin"
    assert template.reviewers["strategies"][0] == {"users": ["ola@acme.test"]}
    assert CampaignTemplate.objects.count() == 1
    # The stored template reads back into the same form.
    page = client.get(url("template_edit", template.pk)).content.decode()
    assert "ola@acme.test" in page and '<option value="admin" selected>' in page


def test_the_live_preview_counts_items_and_reviewers_without_writing_anything(client, inventory, users):  # noqa: F811
    client = as_user(client, users["sam"])
    response = client.post(url("template_preview"), FORM, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "A launch now would create <strong>" in html
    assert "mia@acme.test" in html and "ola@acme.test" in html
    narrow = client.post(
        url("template_preview"), {**FORM, "resources": "", "min_level": "owner"}, HTTP_HX_REQUEST="true"
    )
    assert "create <strong>1</strong> item for <strong>1</strong> reviewer" in narrow.content.decode()
    bad = client.post(url("template_preview"), {**FORM, "duration": "soon"}, HTTP_HX_REQUEST="true")
    assert "Preview not available" in bad.content.decode()
    assert not CampaignTemplate.objects.exists() and not ReviewItem.objects.exists()


def test_launching_a_template_opens_a_campaign_and_shows_its_progress(client, make_template, users):  # noqa: F811
    template = make_template()
    response = as_user(client, users["sam"]).post(url("launch", template.pk), follow=True)
    campaign = template.campaigns.get()
    assert campaign.state == CampaignState.OPEN
    assert response.redirect_chain[-1][0] == url("campaign_detail", campaign.pk)
    html = response.content.decode()
    assert "Launched " in html and "mia@acme.test" in html and "Progress by reviewer" in html


# --- Campaigns ---------------------------------------------------------------------------------------------


def test_reassigning_moves_a_reviewers_pending_items_with_a_reason(client, launched, users, people):  # noqa: F811
    campaign = launched()
    mias = set(campaign.items.filter(reviewer=people["mia"]).values_list("pk", flat=True))
    response = as_user(client, users["sam"]).post(
        url("reassign", campaign.pk),
        {"from_reviewer": "mia@acme.test", "to": "ola@acme.test", "reason": "mia is on leave"},
        follow=True,
    )
    assert f"Moved {len(mias)} pending items to ola@acme.test." in response.content.decode()
    assert set(campaign.items.filter(reviewer=people["ola"], pk__in=mias).values_list("pk", flat=True)) == mias
    response = as_user(client, users["sam"]).post(
        url("reassign", campaign.pk),
        {"from_reviewer": "ola@acme.test", "to": "ghost@acme.test", "reason": "x"},
        follow=True,
    )
    assert "no person with the email ghost@acme.test" in response.content.decode()


def test_closing_a_campaign_by_hand(client, launched, users):  # noqa: F811
    campaign = launched()
    client = as_user(client, users["sam"])
    response = client.post(url("close", campaign.pk), follow=True)
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CLOSED
    assert "Closed " in response.content.decode()
    assert not campaign.items.filter(state=ItemState.PENDING).exists()
    again = client.post(url("close", campaign.pk), follow=True)
    assert "Could not close" in again.content.decode()
    assert 'id="close-campaign"' not in again.content.decode()


def test_an_auditor_reads_every_campaign_page_and_changes_nothing(client, launched, users, make_user):  # noqa: F811
    campaign = launched()
    auditor = make_user("aud@acme.test", "auditor")
    client = as_user(client, auditor)
    for path in (url("campaigns"), url("campaign_detail", campaign.pk), url("templates")):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert 'id="close-campaign"' not in html and 'id="reassign-form"' not in html and "New template" not in html
    edit = client.get(url("template_edit", campaign.template_id)).content.decode()
    assert "Read-only" in edit and 'id="save-template"' not in edit and 'id="launch-template"' not in edit
    # The read-only form posts nothing; the preview shows the template as saved.
    preview = client.post(url("template_preview"), {"template_id": campaign.template_id}, HTTP_HX_REQUEST="true")
    assert f"create <strong>{campaign.items.count()}</strong> items" in preview.content.decode()
    assert client.post(url("close", campaign.pk)).status_code == 403
    assert client.post(url("launch", campaign.template_id)).status_code == 403
    assert client.post(url("reassign", campaign.pk), {"to": "ola@acme.test", "reason": "x"}).status_code == 403
    assert client.post(url("template_edit", campaign.template_id), FORM).status_code == 403
    assert client.get(url("template_create")).status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.OPEN


def test_reviewers_do_not_see_the_security_pages(client, launched, users):  # noqa: F811
    campaign = launched()
    client = as_user(client, users["mia"])
    for path in (url("campaigns"), url("campaign_detail", campaign.pk), url("templates"), url("template_create")):
        assert client.get(path).status_code == 403, path
    assert client.post(url("close", campaign.pk)).status_code == 403
    assert client.post(url("template_preview"), FORM).status_code == 403


def test_campaign_and_template_lists_cost_a_fixed_number_of_queries(client, make_template, users):  # noqa: F811
    from reviews import campaigns

    client = as_user(client, users["sam"])
    first = campaigns.launch(make_template())
    one = (queries(client, url("campaigns")), queries(client, url("templates")))
    for n in range(3):
        last = campaigns.launch(make_template(name=f"t{n}"))
    three = (queries(client, url("campaigns")), queries(client, url("templates")))
    assert one == three, (one, three)
    assert queries(client, url("campaign_detail", first.pk)) == queries(client, url("campaign_detail", last.pk))
