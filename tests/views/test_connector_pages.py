"""Connector pages: add (with a connection test that saves nothing), edit, sync now, runs, held runs."""

import socket

import pytest
from django.urls import reverse

from connectors.choices import SyncStatus
from connectors.models import Connector, SyncRun
from reviews.models import AuditEvent

pytestmark = pytest.mark.django_db

PASTED_TOKEN = "ghp_" + "PastedValue0123456789abcdefghijklmnopq"


def add_form(sim, **overrides):
    data = {
        "name": "github-main",
        "kind": "github",
        "base_url": sim.url,
        "options": "org=acme\nallow_private_network=true",
        "secrets": "token=env:UI_ADD_TOKEN",
        "sync_interval_minutes": "",
        "dry_run": "on",
    }
    data.update(overrides)
    return data


def test_the_list_shows_each_connector_with_its_last_sync(security_client, synced):
    html = security_client.get(reverse("connectors:list")).content.decode()
    assert reverse("connectors:detail", kwargs={"name": "gh"}) in html
    assert '<span class="badge green">succeeded</span>' in html
    assert 'href="/connectors/add/"' in html


def test_the_list_takes_the_same_queries_for_one_or_many_connectors(
    security_client, synced, github_sim, monkeypatch, django_assert_num_queries
):
    with django_assert_num_queries(5):
        security_client.get(reverse("connectors:list"))
    from tests.connectors.helpers import add_simulated_connector

    for n in range(5):
        add_simulated_connector(
            monkeypatch, name=f"gh{n}", kind="github", base_url=github_sim.url, token_env="X", token="t", org="acme"
        )
    with django_assert_num_queries(5):
        response = security_client.get(reverse("connectors:list"))
    assert "1–6 of 6" in response.content.decode()


def test_adding_a_connector_saves_references_and_audits_it(security_client, security_user, github_sim, monkeypatch):
    monkeypatch.setenv("UI_ADD_TOKEN", github_sim.token)
    response = security_client.post(reverse("connectors:add"), add_form(github_sim, sync_interval_minutes="60"))
    assert response.status_code == 302
    connector = Connector.objects.get(name="github-main")
    assert response["Location"] == reverse("connectors:detail", kwargs={"name": "github-main"})
    assert connector.secrets == {"token": "env:UI_ADD_TOKEN"}
    assert connector.options == {"org": "acme", "allow_private_network": "true"}
    assert connector.sync_interval.total_seconds() == 3600 and connector.dry_run is True
    event = AuditEvent.objects.get(action="connector.added")
    assert event.actor == security_user and event.object_id == str(connector.pk)


def test_a_pasted_secret_value_is_refused_and_never_sent_back(security_client, github_sim):
    response = security_client.post(reverse("connectors:add"), add_form(github_sim, secrets=f"token={PASTED_TOKEN}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "a secret must be a reference" in html
    assert PASTED_TOKEN not in html
    assert not Connector.objects.exists()


def test_an_unknown_option_and_a_metadata_address_are_explained(security_client, github_sim):
    html = security_client.post(
        reverse("connectors:add"), add_form(github_sim, options="org=acme\ncolour=blue")
    ).content.decode()
    assert "unknown option(s) for github: colour" in html
    html = security_client.post(
        reverse("connectors:add"), add_form(github_sim, base_url="http://169.254.169.254/", options="org=acme")
    ).content.decode()
    assert "169.254.169.254" in html and not Connector.objects.exists()


def test_test_connection_calls_the_system_and_saves_nothing(security_client, github_sim, monkeypatch):
    monkeypatch.setenv("UI_ADD_TOKEN", github_sim.token)
    response = security_client.post(reverse("connectors:test"), add_form(github_sim), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Connection works: organization acme" in html
    assert "Nothing was saved" in html and "<html" not in html
    assert not Connector.objects.exists() and not AuditEvent.objects.filter(action__startswith="connector.").exists()


def test_test_connection_shows_the_failure_without_the_token(security_client, github_sim, monkeypatch):
    monkeypatch.setenv("UI_ADD_TOKEN", PASTED_TOKEN)  # a token the simulator does not know
    html = security_client.post(
        reverse("connectors:test"), add_form(github_sim), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Connection failed" in html
    assert PASTED_TOKEN not in html


def test_test_connection_without_javascript_is_a_page(security_client, github_sim, monkeypatch):
    monkeypatch.setenv("UI_ADD_TOKEN", github_sim.token)
    html = security_client.post(reverse("connectors:test"), add_form(github_sim)).content.decode()
    assert "<html" in html and "Connection works" in html


def test_editing_changes_schedule_and_dry_run_and_keeps_the_name(security_client, synced, github_sim):
    url = reverse("connectors:edit", kwargs={"name": "gh"})
    form = security_client.get(url).content.decode()
    assert "env:UI_GH_TOKEN" in form and 'name="name"' not in form
    response = security_client.post(
        url,
        {
            "base_url": github_sim.url,
            "options": "org=acme\nallow_private_network=true",
            "secrets": "token=env:UI_GH_TOKEN",
            "sync_interval_minutes": "30",
        },
    )
    assert response.status_code == 302
    synced.refresh_from_db()
    assert synced.dry_run is False and synced.sync_interval.total_seconds() == 1800 and synced.name == "gh"
    event = AuditEvent.objects.get(action="connector.updated")
    assert set(event.data["changed"]) == {"dry_run", "sync_interval"}


def test_sync_now_queues_the_task_and_the_run_shows_in_the_history(security_client, synced, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from pipeaccess.celery import app

    app.conf.task_always_eager = True
    try:
        response = security_client.post(reverse("connectors:sync", kwargs={"name": "gh"}))
    finally:
        app.conf.task_always_eager = False
    assert response.status_code == 302
    assert SyncRun.objects.filter(connector=synced).count() == 2
    assert AuditEvent.objects.filter(action="sync.requested").count() == 1
    html = security_client.get(reverse("connectors:detail", kwargs={"name": "gh"})).content.decode()
    assert html.count("/connectors/gh/runs/") >= 2


def test_sync_now_with_the_broker_down_says_so_and_records_no_request(security_client, synced):
    """The manual sync has no outbox: a broker that cannot be reached must be reported, not a 500 after the fact,
    and the audit trail must not claim a sync that was never queued."""
    import kombu.pools

    from pipeaccess.celery import app

    def use_broker(url):
        app.conf.broker_url = url
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    previous = app.conf.broker_url
    use_broker(f"redis://127.0.0.1:{closed_port}/0")
    try:
        response = security_client.post(reverse("connectors:sync", kwargs={"name": "gh"}), follow=True)
    finally:
        use_broker(previous)
    assert response.status_code == 200
    assert "The task queue cannot be reached: the sync of gh was not queued" in response.content.decode()
    assert not AuditEvent.objects.filter(action="sync.requested").exists()
    assert SyncRun.objects.filter(connector=synced).count() == 1


def test_sync_now_is_post_only(security_client, synced):
    assert security_client.get(reverse("connectors:sync", kwargs={"name": "gh"})).status_code == 405
    assert SyncRun.objects.count() == 1


def test_a_held_run_is_confirmed_or_discarded_from_its_page(security_client, synced, sync_github, github_org):
    for login in [login for login, role in github_org.members.items() if role == "member"][:10]:
        github_org.remove_member(login)
    held = sync_github()
    assert held.status == SyncStatus.HELD
    run_url = reverse("connectors:run", kwargs={"name": "gh", "run_id": held.pk})
    html = security_client.get(run_url).content.decode()
    assert "Held for confirmation" in html and "Apply the removals" in html
    assert "Held syncs" in security_client.get("/").content.decode()
    response = security_client.post(reverse("connectors:run_confirm", kwargs={"name": "gh", "run_id": held.pk}))
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == SyncStatus.SUCCEEDED and held.applied_at is not None


def test_discarding_a_held_run_leaves_the_inventory(security_client, synced, sync_github, github_org):
    for login in [login for login, role in github_org.members.items() if role == "member"][:10]:
        github_org.remove_member(login)
    held = sync_github()
    security_client.post(reverse("connectors:run_discard", kwargs={"name": "gh", "run_id": held.pk}))
    held.refresh_from_db()
    assert held.status == SyncStatus.DISCARDED
    again = security_client.post(reverse("connectors:run_discard", kwargs={"name": "gh", "run_id": held.pk}))
    assert "is discarded, not held" in security_client.get(again["Location"]).content.decode()


def test_a_run_page_links_to_the_grants_it_changed(security_client, synced):
    run = synced.runs.get()
    html = security_client.get(reverse("connectors:run", kwargs={"name": "gh", "run_id": run.pk})).content.decode()
    assert f"to={run.pk}&amp;from=none" in html
    changes = security_client.get(
        reverse("inventory:changes"), {"connector": "gh", "to": run.pk, "from": "none"}
    ).content.decode()
    assert f"Added ({run.counts['added']})" in changes


@pytest.mark.parametrize("name", ["connectors:add", "connectors:test"])
def test_auditors_cannot_add_or_test(auditor_client, github_sim, name):
    assert auditor_client.post(reverse(name), add_form(github_sim)).status_code == 403
    assert not Connector.objects.exists()


def test_auditors_cannot_sync_edit_or_confirm(auditor_client, synced):
    run = synced.runs.get()
    for url in [
        reverse("connectors:sync", kwargs={"name": "gh"}),
        reverse("connectors:edit", kwargs={"name": "gh"}),
        reverse("connectors:run_confirm", kwargs={"name": "gh", "run_id": run.pk}),
        reverse("connectors:run_discard", kwargs={"name": "gh", "run_id": run.pk}),
    ]:
        assert auditor_client.post(url, {"dry_run": ""}).status_code == 403, url
    synced.refresh_from_db()
    assert synced.dry_run is True and SyncRun.objects.count() == 1


def test_reviewers_and_people_without_a_role_get_403_and_anonymous_the_login(client, reviewer_user, synced):
    url = reverse("connectors:list")
    assert client.get(url).status_code == 302
    client.force_login(reviewer_user)
    assert client.get(url).status_code == 403
    assert client.get(reverse("connectors:detail", kwargs={"name": "gh"})).status_code == 403


def test_a_connector_cannot_lose_its_token_reference(security_client, synced, github_sim):
    response = security_client.post(
        reverse("connectors:edit", kwargs={"name": "gh"}),
        {"base_url": github_sim.url, "options": "org=acme\nallow_private_network=true", "secrets": ""},
    )
    assert "github needs token=env:NAME" in response.content.decode()
    synced.refresh_from_db()
    assert synced.secrets == {"token": "env:UI_GH_TOKEN"}


def test_an_existing_connector_tests_the_settings_in_its_form(security_client, synced, github_sim):
    url = reverse("connectors:test_existing", kwargs={"name": "gh"})
    form = {"base_url": github_sim.url, "options": "org=acme\nallow_private_network=true"}
    html = security_client.post(url, {**form, "secrets": "token=env:UI_GH_TOKEN"}, HTTP_HX_REQUEST="true")
    assert "Connection works" in html.content.decode()
    html = security_client.post(url, {**form, "secrets": "token=env:UI_NOT_SET"}, HTTP_HX_REQUEST="true")
    assert "environment variable UI_NOT_SET is not set" in html.content.decode()
    synced.refresh_from_db()
    assert synced.secrets == {"token": "env:UI_GH_TOKEN"}
