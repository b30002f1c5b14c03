"""The REST API: tokens, the same per-object rules as the pages, decisions, cursors, the schema."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from connectors.models import Connector
from pipeaccess.models import ApiToken
from pipeaccess.roles import AUDITOR
from reviews.choices import ItemState
from reviews.models import AuditEvent


def page(response) -> list:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_a_token_is_printed_once_and_only_its_hash_is_kept(users, capsys):
    call_command("api", "token", "create", "--user", "SAM@acme.test", "--name", "ci")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get()
    assert raw.startswith("pa_") and raw not in (token.digest, token.lookup)
    assert Client(HTTP_AUTHORIZATION=f"Token {raw}").get("/api/v1/connectors/").status_code == 200
    assert AuditEvent.objects.filter(action="api.token_created").exists()
    call_command("api", "token", "list", "--format", "json")
    assert raw not in capsys.readouterr().out
    call_command("api", "token", "revoke", str(token.pk))
    assert Client(HTTP_AUTHORIZATION=f"Token {raw}").get("/api/v1/connectors/").status_code == 401
    with pytest.raises(CommandError, match="no active user"):
        call_command("api", "token", "create", "--user", "nobody@acme.test")


def test_without_a_valid_token_the_api_answers_401(db):
    anonymous = Client().get("/api/v1/campaigns/")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert Client(HTTP_AUTHORIZATION="Token pa_0000_forged").get("/api/v1/campaigns/").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Token a b").get("/api/v1/campaigns/").status_code == 401


def test_a_read_only_token_reads_but_cannot_decide(launched, users, api):
    campaign = launched()
    item = campaign.items.get(holder_label="carol", resource_path="acme/team/eng-ci")
    client = api(users["mia"], read_only=True)
    assert client.get(f"/api/v1/campaigns/{campaign.pk}/items/").status_code == 200
    refused = client.post(
        f"/api/v1/items/{item.pk}/decision/", {"decision": "approve"}, content_type="application/json"
    )
    assert refused.status_code == 403
    item.refresh_from_db()
    assert item.state == ItemState.PENDING


def test_the_inventory_is_for_the_security_team_and_auditors_only(inventory, users, api, make_user):
    auditor = make_user("audrey@acme.test", AUDITOR)
    for path in (
        "connectors",
        "syncruns",
        "accounts",
        "identities",
        "resources",
        "grants",
        "revocations",
        "audit/events",
    ):
        assert api(users["sam"]).get(f"/api/v1/{path}/").status_code == 200, path
        assert api(auditor).get(f"/api/v1/{path}/").status_code == 200, path
        assert api(users["mia"]).get(f"/api/v1/{path}/").status_code == 403, path


def test_connectors_never_show_secret_references(inventory, users, api):
    Connector.objects.filter(pk=inventory.connector.pk).update(secrets={"token": "env:CANARY_VARIABLE_NAME"})
    body = api(users["sam"]).get("/api/v1/connectors/").content.decode()
    assert "CANARY_VARIABLE_NAME" not in body
    assert json.loads(body)["results"][0]["secrets"] == ["token"]


def test_reviewers_see_only_their_campaigns_and_items(launched, users, api):
    campaign = launched()
    mia = api(users["mia"])
    assert [c["id"] for c in page(mia.get("/api/v1/campaigns/"))] == [campaign.pk]
    assert page(api(users["carol"]).get("/api/v1/campaigns/")) == []
    items = page(mia.get(f"/api/v1/campaigns/{campaign.pk}/items/?reviewer=me&state=pending"))
    assert {i["reviewer"] for i in items} == {"mia@acme.test"}
    assert len(items) == 6
    # Even without reviewer=me a reviewer gets only their own items.
    assert len(page(mia.get(f"/api/v1/campaigns/{campaign.pk}/items/"))) == 6
    # The security team sees every item, and can narrow to its own.
    assert len(page(api(users["sam"]).get(f"/api/v1/campaigns/{campaign.pk}/items/"))) == 9
    assert len(page(api(users["sam"]).get(f"/api/v1/campaigns/{campaign.pk}/items/?reviewer=me"))) == 1
    others = campaign.items.exclude(reviewer__email="mia@acme.test").first()
    assert mia.get(f"/api/v1/items/{others.pk}/").status_code == 403
    assert mia.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 200
    assert api(users["carol"]).get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 404


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_deciding_through_the_api_follows_the_contract(launched, users, api):
    campaign = launched()
    mia = api(users["mia"])
    item = campaign.items.get(holder_label="carol", resource_path="acme/team/eng-ci")
    url = f"/api/v1/items/{item.pk}/decision/"
    assert post(mia, url, {"decision": "revoke"}).status_code == 400  # a justification is required
    assert post(mia, url, {"decision": "sell"}).status_code == 400
    done = post(mia, url, {"decision": "revoke", "justification": "moved teams", "version": item.version})
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["verdict"]) == ("decided", "revoke")
    stale = post(mia, url, {"decision": "approve", "version": item.version})
    assert stale.status_code == 409
    others = campaign.items.get(holder_label="dave")
    assert post(mia, f"/api/v1/items/{others.pk}/decision/", {"decision": "approve"}).status_code == 403
    downgrade = campaign.items.get(holder_label="bob", resource_path="acme/r2")
    answer = post(mia, f"/api/v1/items/{downgrade.pk}/decision/", {"decision": "downgrade", "level": "write"})
    assert (answer.status_code, answer.json()["downgrade_to"]) == (200, "write")
    history = mia.get(f"/api/v1/items/{item.pk}/history/").json()
    assert [h["kind"] for h in history] == ["revoke"]


def test_closing_is_for_the_security_team_and_a_closed_campaign_answers_409(launched, users, api):
    campaign = launched()
    assert post(api(users["mia"]), f"/api/v1/campaigns/{campaign.pk}/close/", {}).status_code == 403
    assert post(api(users["sam"]), f"/api/v1/campaigns/{campaign.pk}/close/", {}).status_code == 200
    assert post(api(users["sam"]), f"/api/v1/campaigns/{campaign.pk}/close/", {}).status_code == 409
    item = campaign.items.filter(reviewer__email="mia@acme.test").first()
    late = post(api(users["mia"]), f"/api/v1/items/{item.pk}/decision/", {"decision": "approve", "justification": "x"})
    assert late.status_code == 409
    detail = api(users["sam"]).get(f"/api/v1/campaigns/{campaign.pk}/").json()
    assert detail["status"]["state"] == "closed"


def test_grants_at_a_time_and_changed_since(inventory, users, api):
    first = inventory.connector.last_applied_run().applied_at
    inventory.sync(drop=("user:carol",))
    sam = api(users["sam"])
    now = {g["holder"]["login"] for g in page(sam.get("/api/v1/grants/?page_size=1000"))}
    before = {
        g["holder"]["login"] for g in page(sam.get(f"/api/v1/grants/?at={first.isoformat().replace('+', '%2B')}"))
    }
    assert "carol" in before and "carol" not in now
    changed = page(sam.get(f"/api/v1/grants/?changed_since={first.isoformat().replace('+', '%2B')}"))
    assert {g["holder"]["login"] for g in changed} == {"carol"}
    assert all(g["valid_to"] for g in changed)
    assert sam.get("/api/v1/grants/?at=yesterday").status_code == 400


def test_lists_are_cursor_paginated(inventory, users, api):
    sam = api(users["sam"])
    first = sam.get("/api/v1/grants/?page_size=4").json()
    assert len(first["results"]) == 4 and first["next"]
    second = sam.get(first["next"]).json()
    assert not {g["id"] for g in first["results"]} & {g["id"] for g in second["results"]}


def test_the_schema_and_its_docs_are_served_from_the_app(users, api):
    sam = api(users["sam"])
    schema = sam.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/items/{id}/decision/" in paths
    assert "/api/v1/campaigns/{id}/items/" in paths
    client = Client()
    client.force_login(users["sam"])
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
