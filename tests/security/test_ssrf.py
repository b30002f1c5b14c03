"""SSRF on connector URLs, at every door: saved through the web form, the CLI and the API, and at connect time
(sync, test connection), with the production policy. ASVS 5.0 V1.3.6 (SSRF: an allowlist of protocols, hosts and
ports for calls to other services).

tests/connectors/test_netguard.py proves the guard itself (every spelling, embedded IPv4 forms, redirects and DNS
rebinding inside one HTTP client). This suite proves that nothing reaches a connection around it: each entry point
refuses the attack before any request, says why, saves nothing, and leaves no connection attempt in the test
network guard's record (tests/conftest.py). The simulators are reached only because their connectors carry
``allow_private_network=true``: there is no global switch, so a connector without the option meets the policy
production runs with.
"""

import io
import socket

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from connectors.actions import do_add_connector
from connectors.models import Connector
from connectors.sync import run_sync
from pipeaccess.roles import SECURITY, create_user
from reviews.models import AuditEvent
from tests.cli import manage
from tests.connectors.helpers import sync_factory
from tests.connectors.httpserver import Reply, ScriptedServer
from tests.connectors.test_netguard import METADATA_SPELLINGS
from tests.fakes import FakeTime

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def _host(spelling: str) -> str:
    return f"[{spelling}]" if ":" in spelling else spelling


# Refused whatever the connector's policy: metadata and link-local in every notation, the unspecified address,
# metadata host names, schemes other than http(s), and user information that hides the real host.
ALWAYS_REFUSED = [
    *(f"http://{_host(s)}/latest/meta-data/" for s in METADATA_SPELLINGS),
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IMDS over IPv6
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64, hex
    "http://[::ffff:a9fe:a9fe]:80/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://169.254.0.1/",
    "http://0.0.0.0:8080/",  # noqa: S104 - an address under test
    "http://0/",
    "http://[::]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
    "http://instance-data/latest/",
    "http://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/",  # fullwidth digits
    "http://169\u3002254\u3002169\u3002254/",  # ideographic full stops
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://ftp.example.com/",
    "dict://127.0.0.1:11211/stats",
    "https://github.com@169.254.169.254/",
    "https://169.254.169.254#@github.com/",
    "https://github.com:443@169.254.169.254/",
    "https://user:pass@github.com/",
    "https://github.com\\@169.254.169.254/",
]
# Refused unless the connector opts in with allow_private_network=true (self-hosted systems).
PRIVATE = [
    "http://127.0.0.1:8080/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://[fd12:3456::1]/",
    "http://[64:ff9b::10.0.0.1]/",
]


def _refused(message: str) -> bool:
    return "refusing to connect" in message or "must start with https://" in message


@pytest.fixture
def security(settings):
    """A security-team member who signed in with a password just now (adding a connector needs a recent sign-in).

    The two-factor requirement has its own tests (tests/security/test_accounts.py); here it is off so the
    sign-in is one form.
    """
    settings.SECURITY_REQUIRES_MFA = False
    user = create_user("sec@example.com", roles=[SECURITY], password=PASSWORD)
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and client.session.get("_auth_user_id") == str(user.pk)
    return client


def _form(base_url: str, options: str = "org=acme", name: str = "ssrf") -> dict:
    return {
        "name": name,
        "kind": "github",
        "base_url": base_url,
        "options": options,
        "secrets": "token=env:SSRF_TOKEN",
        "dry_run": "on",
    }


# ---------------------------------------------------------------------------
# Refused at save
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("allow_private", [False, True], ids=["default", "allow_private_network"])
def test_the_cli_refuses_internal_base_urls_before_any_request(allow_private, blocked_connections):
    """`connector add --base-url` fails (CommandError, exit 1) for every attack URL; nothing saved, nothing sent."""
    urls = ALWAYS_REFUSED + ([] if allow_private else PRIVATE)
    options = ["--option", "org=acme"] + (["--option", "allow_private_network=true"] if allow_private else [])
    accepted = []
    for index, url in enumerate(urls):
        try:
            call_command("connector", "add", f"c{index}", "--kind", "github", "--base-url", url, *options)
        except CommandError as error:
            if not _refused(str(error)) or error.returncode != 1:
                accepted.append((url, str(error)))
        else:
            accepted.append((url, "saved"))
    assert not accepted, accepted
    assert not Connector.objects.exists()
    assert not AuditEvent.objects.filter(action="connector.added").exists()
    assert blocked_connections == []


def test_the_cli_exit_code_and_message_for_a_metadata_url_follow_the_contract(transactional_db):
    """CONTRACT: a refused --base-url fails `connector add` with exit 1 and the reason on stderr."""
    result = manage(
        "connector", "add", "meta", "--kind", "github", "--base-url", "http://0xa9fea9fe/", "--option", "org=acme"
    )
    assert result.returncode == 1
    assert "refusing to connect to 0xa9fea9fe: 169.254.169.254 is a cloud metadata service address" in result.stderr
    assert not Connector.objects.exists()


def test_the_web_form_refuses_every_attack_url_and_saves_nothing(security, blocked_connections):
    """The connector form (add, and edit of an existing connector) shows the refusal on the field; nothing saved."""
    accepted = []
    for index, url in enumerate(ALWAYS_REFUSED + PRIVATE):
        response = security.post(reverse("connectors:add"), _form(url, name=f"ssrf{index}"))
        if response.status_code != 200 or not _refused(response.content.decode()):
            accepted.append((url, response.status_code))
    assert not accepted, accepted
    assert not Connector.objects.exists()

    connector = do_add_connector(
        name="ghe", kind="github", base_url="https://ghe.example.test", options={"org": "acme"}, secrets={}
    )
    for url in ALWAYS_REFUSED:
        response = security.post(
            reverse("connectors:edit", kwargs={"name": "ghe"}),
            _form(url, options="org=acme\nallow_private_network=true"),
        )
        if not _refused(response.content.decode()):
            accepted.append((url, response.status_code))
    assert not accepted, accepted
    connector.refresh_from_db()
    assert connector.base_url == "https://ghe.example.test" and not connector.allow_private_network
    assert blocked_connections == []


def test_test_connection_refuses_before_sending_the_token(security, blocked_connections, monkeypatch):
    """Test connection sends the token to the URL in the form: refused before any request, the reason shown."""
    monkeypatch.setenv("SSRF_TOKEN", "ghp_ssrfcanary0000000000000000000000000000")
    for url in ("http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/", "https://github.com@169.254.169.254/"):
        response = security.post(reverse("connectors:test"), _form(url, options="org=acme\nallow_private_network=true"))
        text = response.content.decode()
        assert "refusing to connect" in text, text
        assert "ghp_ssrfcanary" not in text
    assert not Connector.objects.exists()
    assert blocked_connections == []


def test_the_api_cannot_create_or_repoint_a_connector(security):
    """The REST API reads connectors only: POST, PUT, PATCH and DELETE are refused and nothing changes."""
    connector = do_add_connector(
        name="ghe", kind="github", base_url="https://ghe.example.test", options={"org": "acme"}, secrets={}
    )
    body = {"name": "meta", "kind": "github", "base_url": "http://169.254.169.254/"}
    assert security.post(reverse("api:connector-list"), body, content_type="application/json").status_code in {403, 405}
    detail = reverse("api:connector-detail", kwargs={"pk": connector.pk})
    for method in (security.put, security.patch, security.delete):
        assert method(detail, body, content_type="application/json").status_code in {403, 405}
    connector.refresh_from_db()
    assert connector.base_url == "https://ghe.example.test"
    assert list(Connector.objects.values_list("name", flat=True)) == ["ghe"]


# ---------------------------------------------------------------------------
# Refused at connect
# ---------------------------------------------------------------------------


@pytest.fixture
def stored(monkeypatch):
    """A connector whose row points at an internal address: written before the guard, or by hand in the database."""
    monkeypatch.setenv("SSRF_TOKEN", "ghp_ssrfcanary0000000000000000000000000000")

    def make(url: str, *, allow_private: bool = False) -> Connector:
        options = {"org": "acme", **({"allow_private_network": "true"} if allow_private else {})}
        return Connector.objects.create(
            name="stored", kind="github", base_url=url, options=options, secrets={"token": "env:SSRF_TOKEN"}
        )

    return make


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://2852039166/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://metadata.google.internal/",
        "http://127.0.0.1:9/",
        "gopher://127.0.0.1:6379/",
    ],
)
def test_a_sync_of_a_connector_stored_with_an_internal_url_fails_without_connecting(stored, url, blocked_connections):
    run = run_sync(stored(url), connector_factory=sync_factory(FakeTime()))
    assert run.status == "failed"
    assert "refusing to connect" in run.error or "is not http or https" in run.error, run.error
    assert blocked_connections == []


def test_the_sync_command_exits_1_for_an_internal_url(stored, blocked_connections):
    """CONTRACT: `sync` fails with exit 1 before any request is sent."""
    stored("http://[::ffff:169.254.169.254]/")
    stderr = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync", "stored", stderr=stderr)
    assert failed.value.returncode == 1
    assert "(embedding 169.254.169.254) is a cloud metadata service address" in stderr.getvalue()
    assert blocked_connections == []


@pytest.fixture
def redirecting_upstream():
    """An allowed upstream (loopback, allow_private_network) whose API redirects to the metadata service."""
    with ScriptedServer() as server:
        for path in ("/user", "/orgs/acme", "/api/v3/user", "/api/v3/orgs/acme"):
            server.route(path, Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/iam/"}))
        yield server


def test_a_redirect_to_the_metadata_service_fails_the_sync_and_the_connection_test(
    redirecting_upstream, stored, security, blocked_connections
):
    """Redirects are followed by hand, each hop through the guard: even with private networks allowed, the
    metadata address is never contacted, by a sync or by Test connection."""
    connector = stored(redirecting_upstream.url, allow_private=True)
    run = run_sync(connector, connector_factory=sync_factory(FakeTime()))
    assert run.status == "failed"
    assert "169.254.169.254 is a cloud metadata service address" in run.error
    response = security.post(
        reverse("connectors:test_existing", kwargs={"name": "stored"}),
        _form(connector.base_url, options="org=acme\nallow_private_network=true"),
    )
    assert "169.254.169.254 is a cloud metadata service address" in response.content.decode()
    assert redirecting_upstream.paths and all("meta-data" not in path for path in redirecting_upstream.paths)
    assert blocked_connections == []


@pytest.fixture
def rebinding_dns(monkeypatch):
    """DNS that answers one address for the check at save and another afterwards (a rebinding attacker's server).

    Only the system resolver is replaced (socket.getaddrinfo); the guard and the HTTP client are the real ones.
    """
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            lookups.append(host)
            address = answers[host][0] if len(answers[host]) == 1 else answers[host].pop(0)
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_dns_rebinding_between_save_and_sync_is_refused_at_connect(rebinding_dns, monkeypatch, blocked_connections):
    """Saved while the name resolved to a public address; by sync time it answers the metadata address: the
    connection checks the fresh answer and connects to nothing."""
    answers, lookups = rebinding_dns
    answers["ghe.rebind.test"] = ["140.82.112.6", "169.254.169.254"]
    monkeypatch.setenv("SSRF_TOKEN", "ghp_ssrfcanary0000000000000000000000000000")
    connector = do_add_connector(
        name="rebind",
        kind="github",
        base_url="https://ghe.rebind.test",
        options={"org": "acme"},
        secrets={"token": "env:SSRF_TOKEN"},
    )
    run = run_sync(connector, connector_factory=sync_factory(FakeTime()))
    assert run.status == "failed"
    assert "refusing to connect to ghe.rebind.test: 169.254.169.254 is a cloud metadata service address" in run.error
    assert lookups == ["ghe.rebind.test", "ghe.rebind.test"]
    assert blocked_connections == []


def test_dns_rebinding_to_a_private_address_is_refused_under_the_production_policy(
    rebinding_dns, monkeypatch, blocked_connections
):
    """Without allow_private_network, a name that turns private (here: loopback, where a simulator would answer)
    is refused at connect: the loopback simulators of the test suite are reachable only by opting in."""
    answers, _ = rebinding_dns
    answers["ghe.rebind.test"] = ["140.82.112.6", "127.0.0.1"]
    monkeypatch.setenv("SSRF_TOKEN", "ghp_ssrfcanary0000000000000000000000000000")
    connector = do_add_connector(
        name="rebind",
        kind="github",
        base_url="http://ghe.rebind.test:9",
        options={"org": "acme"},
        secrets={"token": "env:SSRF_TOKEN"},
    )
    run = run_sync(connector, connector_factory=sync_factory(FakeTime()))
    assert run.status == "failed"
    assert "127.0.0.1 is loopback; set allow_private_network to reach it" in run.error
    assert blocked_connections == []
