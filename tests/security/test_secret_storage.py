"""Tokens pasted into PipeAccess: encrypted at rest under keys kept outside the database, rotatable, write-only.

A real sync against the GitHub simulator reads the stored token, so "it decrypts" means "the upstream accepted it".
"""

import io
import json
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from connectors import secrets
from connectors.actions import do_add_connector
from connectors.base import ConfigurationError
from connectors.choices import SyncStatus
from connectors.models import Connector, StoredSecret
from connectors.simulators.github import GitHubOrg, GitHubSimulator, Token
from connectors.sync import run_sync
from reviews.models import AuditEvent
from tests.connectors.helpers import sync_factory
from tests.fakes import FakeTime
from tests.mfa import sign_in

TOKEN = "ghp_" + "storedCanary0123456789abcdefghijklmn"
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def sim():
    org = GitHubOrg.generate("acme", seed=3, members=4, outside_collaborators=0, teams=1, repos=2, installations=0)
    with GitHubSimulator(org, tokens={TOKEN: Token(org.owner_login)}) as simulator:
        yield simulator


@pytest.fixture
def keys(settings):
    settings.SECRETS_KEYS = [OLD_KEY]
    return settings


@pytest.fixture
def connector(sim, keys, db):
    connector = do_add_connector(
        name="gh", kind="github", base_url=sim.url, options={"org": "acme", "allow_private_network": "true"}, secrets={}
    )
    return secrets.do_set_secret(connector, "token", TOKEN)


def sync(connector):
    return run_sync(connector, connector_factory=sync_factory(FakeTime(1_800_000_000.0)))


def raw_database_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ciphertext FROM connectors_storedsecret")
        ciphertexts = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT secrets::text FROM connectors_connector")
        references = [row[0] for row in cursor.fetchall()]
    return "\n".join(ciphertexts + references)


@pytest.mark.django_db
def test_a_stored_token_is_only_ciphertext_in_the_database_and_the_sync_uses_it(connector):
    """ASVS 5.0 V13.3.1 (backend secrets stored encrypted, the key outside the database)."""
    row = StoredSecret.objects.get(connector=connector)
    assert connector.secrets == {"token": f"stored:{row.pk}"}
    assert TOKEN not in raw_database_text()
    assert Fernet(OLD_KEY.encode()).decrypt(row.ciphertext.encode()).decode() == TOKEN
    assert row.key_id == secrets.key_id(OLD_KEY.encode())
    run = sync(connector)
    assert run.status == SyncStatus.SUCCEEDED, run.error


@pytest.mark.django_db
def test_setting_a_token_is_audited_without_the_token(connector):
    """ASVS 5.0 V16.2.5 (no secrets in logs): the event says which key was set, never what."""
    event = AuditEvent.objects.get(action="connector.secret_set")
    assert event.data == {"name": "gh", "key": "token", "was": None, "key_id": secrets.key_id(OLD_KEY.encode())}
    assert TOKEN not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))


@pytest.mark.django_db
def test_rotation_re_encrypts_under_the_newest_key_and_the_old_key_can_then_go(connector, keys):
    """ASVS 5.0 V13.3.4 (secrets rotated): after rotation the old key is no longer needed."""
    before = StoredSecret.objects.get().ciphertext
    keys.SECRETS_KEYS = [NEW_KEY, OLD_KEY]
    out = io.StringIO()
    call_command("secrets", "rotate", stdout=out)
    assert "re-encrypted 1 stored token(s)" in out.getvalue()
    row = StoredSecret.objects.get()
    assert row.ciphertext != before and row.key_id == secrets.key_id(NEW_KEY.encode())
    event = AuditEvent.objects.get(action="connector.secret_rotated")
    assert event.data["was_key_id"] == secrets.key_id(OLD_KEY.encode())
    keys.SECRETS_KEYS = [NEW_KEY]
    status = io.StringIO()
    call_command("secrets", "status", "--format", "json", stdout=status)
    assert [r["newest_key"] for r in json.loads(status.getvalue())["stored"]] == [True]
    run = sync(connector)
    assert run.status == SyncStatus.SUCCEEDED, run.error


@pytest.mark.django_db
def test_a_token_under_an_unknown_key_fails_naming_the_connector_never_the_value(connector, keys):
    """ASVS 5.0 V13.3.4 and V16.2.5 (a failed decryption is explained without the secret)."""
    keys.SECRETS_KEYS = [NEW_KEY]
    run = sync(connector)
    assert run.status == SyncStatus.FAILED
    assert "connector gh: the stored token for token is encrypted under a key that is not configured" in run.error
    assert TOKEN not in run.error
    with pytest.raises(CommandError) as refused:
        call_command("secrets", "rotate", stdout=io.StringIO())
    assert "connector gh" in str(refused.value) and TOKEN not in str(refused.value)
    out = io.StringIO()
    call_command("secrets", "status", stdout=out)
    assert "older key: run `secrets rotate`" in out.getvalue()


@pytest.mark.django_db
def test_a_stored_reference_copied_to_another_connector_is_refused(connector, sim):
    """ASVS 5.0 V8.2.2 (object-level access): a stored token is read only for the connector it was set for."""
    other = do_add_connector(
        name="copy",
        kind="github",
        base_url=sim.url,
        options={"org": "acme", "allow_private_network": "true"},
        secrets={"token": connector.secrets["token"]},
    )
    run = sync(other)
    assert run.status == SyncStatus.FAILED
    assert "connector copy: the stored token for token is missing" in run.error


@pytest.mark.django_db
def test_development_creates_a_key_file_readable_by_the_owner_only(sim, settings, tmp_path):
    """ASVS 5.0 V13.3.2 (least privilege on secret assets): the development key file is created 0600."""
    settings.SECRETS_KEYS = []
    settings.SECRETS_KEY_PATH = tmp_path / "secrets.keys"
    connector = do_add_connector(
        name="gh", kind="github", base_url=sim.url, options={"org": "acme", "allow_private_network": "true"}, secrets={}
    )
    connector = secrets.do_set_secret(connector, "token", TOKEN)
    assert stat.S_IMODE(settings.SECRETS_KEY_PATH.stat().st_mode) == 0o600
    assert TOKEN not in settings.SECRETS_KEY_PATH.read_text()
    assert sync(connector).status == SyncStatus.SUCCEEDED


@pytest.mark.django_db
def test_production_without_a_key_refuses_to_store_a_token(sim, settings, tmp_path):
    """ASVS 5.0 V13.3.1 (no default key in production): fail loudly rather than use a key file beside the app."""
    settings.SECRETS_KEYS = []
    settings.PRODUCTION = True
    settings.SECRETS_KEY_PATH = tmp_path / "secrets.keys"
    connector = do_add_connector(
        name="gh", kind="github", base_url=sim.url, options={"org": "acme", "allow_private_network": "true"}, secrets={}
    )
    with pytest.raises(ConfigurationError, match="PIPEACCESS_SECRETS_KEYS .* is required in production"):
        secrets.do_set_secret(connector, "token", TOKEN)
    assert not StoredSecret.objects.exists() and not settings.SECRETS_KEY_PATH.exists()
    assert Connector.objects.get().secrets == {}


@pytest.fixture
def security_client(client, security_user, user_password):
    # Through the login form: changing a connector's secret needs a recent sign-in.
    sign_in(client, security_user, user_password)
    return client


def form(sim, **fields):
    return {"base_url": sim.url, "options": "org=acme\nallow_private_network=true", "secrets": "", **fields}


@pytest.mark.django_db
def test_the_form_stores_a_pasted_token_and_never_renders_it_back(security_client, sim, keys):
    """ASVS 5.0 V14.2.6 (minimum sensitive data returned): the token field is write-only."""
    response = security_client.post(
        reverse("connectors:add"), {"name": "gh", "kind": "github", **form(sim, token=TOKEN)}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connector = Connector.objects.get()
    assert secrets.kind(connector.secrets["token"]) == "stored" and TOKEN not in raw_database_text()
    for url in (reverse("connectors:edit", kwargs={"name": "gh"}), reverse("connectors:detail", kwargs={"name": "gh"})):
        html = security_client.get(url).content.decode()
        assert TOKEN not in html and "stored:" not in html
        assert "tored, encrypted" in html
    # Saved with the token field empty: the stored token stays, and still works.
    edit = reverse("connectors:edit", kwargs={"name": "gh"})
    assert security_client.post(edit, form(sim, sync_interval_minutes="60")).status_code == 302
    connector.refresh_from_db()
    assert secrets.kind(connector.secrets["token"]) == "stored" and StoredSecret.objects.count() == 1
    assert sync(connector).status == SyncStatus.SUCCEEDED


@pytest.mark.django_db
def test_an_invalid_submission_does_not_send_the_pasted_token_back(security_client, sim, keys):
    """ASVS 5.0 V14.2.6: a form redisplayed with errors leaves the token field empty."""
    response = security_client.post(
        reverse("connectors:add"),
        {"name": "gh", "kind": "github", **form(sim, options="org=acme\ncolour=blue", token=TOKEN)},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "unknown option(s) for github: colour" in html
    assert TOKEN not in html and not Connector.objects.exists() and not StoredSecret.objects.exists()


@pytest.mark.django_db
def test_a_reference_replacing_a_stored_token_deletes_its_ciphertext(security_client, connector, sim, monkeypatch):
    """ASVS 5.0 V13.3.1 (secrets destroyed when no longer used)."""
    monkeypatch.setenv("GH_REPLACEMENT_TOKEN", TOKEN)
    edit = reverse("connectors:edit", kwargs={"name": "gh"})
    assert security_client.post(edit, form(sim, secrets="token=env:GH_REPLACEMENT_TOKEN")).status_code == 302
    connector.refresh_from_db()
    assert connector.secrets == {"token": "env:GH_REPLACEMENT_TOKEN"} and not StoredSecret.objects.exists()
