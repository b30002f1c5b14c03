"""The SSRF guard: which URLs and addresses a connector may reach, checked before and at connect time."""

import ipaddress
import socket

import pytest

from connectors.base import ConnectorError
from connectors.http import HttpClient
from connectors.netguard import AddressRefused, check_address, check_url
from tests.connectors.httpserver import Reply, ScriptedServer

METADATA_SPELLINGS = [
    "169.254.169.254",
    "2852039166",  # decimal
    "0251.0376.0251.0376",  # octal
    "0xa9fea9fe",  # hex
    "0xa9.0xfe.0xa9.0xfe",  # hex per part
    "169.254.43518",  # short form: the last part fills the low 16 bits
    "169.16689662",  # short form: the last part fills the low 24 bits
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:a9fe:a9fe",  # IPv4-mapped, hex
    "::a9fe:a9fe",  # IPv4-compatible (deprecated, still parsed)
    "2002:a9fe:a9fe::1",  # 6to4
    "64:ff9b::169.254.169.254",  # NAT64 well-known prefix
    "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use prefix, /96 layout
    "64:ff9b:1:a9fe:a9:fe00::",  # NAT64 local-use prefix, /48 layout
    "2001:0:808:808::5601:5601",  # Teredo, client 169.254.169.254 (obfuscated)
]


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.fixture
def server():
    with ScriptedServer() as scripted:
        yield scripted


@pytest.mark.parametrize("spelling", METADATA_SPELLINGS)
def test_every_spelling_of_the_metadata_address_is_refused(spelling):
    with pytest.raises(AddressRefused, match="169.254.169.254"):
        check_address(spelling, allow_private=True)


@pytest.mark.parametrize("spelling", [s for s in METADATA_SPELLINGS if ":" not in s])
def test_every_ipv4_spelling_in_a_url_is_normalised_before_the_check(spelling):
    with pytest.raises(AddressRefused, match="169.254.169.254"):
        check_url(f"http://{spelling}/latest/meta-data/", allow_private=True)


@pytest.mark.parametrize("spelling", [s for s in METADATA_SPELLINGS if ":" in s])
def test_ipv6_forms_in_a_url_are_unwrapped_to_the_embedded_ipv4(spelling):
    with pytest.raises(AddressRefused, match=r"embedding 169\.254\.169\.254"):
        check_url(f"http://[{spelling}]:8080/", allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.192", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address under test, not a bind)
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:0.0.0.0", "unspecified"),
    ],
)
def test_some_addresses_are_refused_even_when_private_networks_are_allowed(address, reason):
    with pytest.raises(AddressRefused, match=reason):
        check_address(address, allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("0x7f.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::10.0.0.1", "private"),
        ("2002:c0a8:101::1", "private"),
        ("198.18.0.1", "not publicly routable"),
    ],
)
def test_private_and_loopback_addresses_need_allow_private(address, reason):
    with pytest.raises(AddressRefused, match=reason):
        check_address(address, allow_private=False)
    check_address(address, allow_private=True)


@pytest.mark.parametrize(
    "address", ["140.82.112.6", "2606:50c0:8000::154", "::ffff:140.82.112.6", "64:ff9b:1::808:808"]
)
def test_public_addresses_pass(address):
    check_address(address, allow_private=False)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://example.com/", "dict://127.0.0.1:11211/"],
)
def test_only_http_and_https_are_allowed(url):
    with pytest.raises(AddressRefused, match="is not http or https"):
        check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://user@140.82.112.6/",
        "http://user:password@140.82.112.6/",
        "http://169.254.169.254@140.82.112.6/",
        "http://140.82.112.6@169.254.169.254/",
    ],
)
def test_urls_with_user_information_are_refused(url):
    with pytest.raises(AddressRefused, match="user information") as refused:
        check_url(url, allow_private=True)
    assert "password" not in str(refused.value)


def test_a_url_needs_a_host():
    with pytest.raises(AddressRefused, match="no host"):
        check_url("http:///orgs/acme", allow_private=True)


def test_every_resolved_address_is_checked_and_the_error_names_the_host():
    resolve = resolver({"ghe.example.test": ["140.82.112.6", "10.0.0.7"]})
    with pytest.raises(AddressRefused) as refused:
        check_url("https://ghe.example.test/api/v3", allow_private=False, resolve=resolve)
    assert str(refused.value) == (
        "refusing to connect to ghe.example.test: 10.0.0.7 is private (RFC 1918); set allow_private_network to reach it"
    )
    assert refused.value.permanent
    check_url("https://ghe.example.test/api/v3", allow_private=True, resolve=resolve)


def test_a_host_that_does_not_resolve_is_a_transient_error():
    def resolve(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ConnectorError, match="cannot resolve host nowhere.example.test") as failed:
        check_url("https://nowhere.example.test/", allow_private=False, resolve=resolve)
    assert not failed.value.permanent


def test_the_client_refuses_a_loopback_base_url_unless_private_networks_are_allowed(server):
    server.route("/user", Reply(json={"login": "octocat"}))
    with pytest.raises(AddressRefused, match="loopback"):
        HttpClient(server.url, max_retries=0)
    with HttpClient(server.url, allow_private_network=True, max_retries=0) as client:
        assert client.get("/user").data == {"login": "octocat"}
    assert server.paths == ["/user"]


def test_a_redirect_to_the_metadata_address_is_refused_before_connecting(server, blocked_connections):
    server.route("/orgs/acme", Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    client = HttpClient(server.url, allow_private_network=True, max_retries=2, sleep=lambda s: None)
    with pytest.raises(AddressRefused) as refused:
        client.get("/orgs/acme")
    assert str(refused.value) == (
        "refusing to connect to 169.254.169.254: 169.254.169.254 is a cloud metadata service address"
    )
    # Not retried, and no socket was ever pointed at the metadata address.
    assert server.paths == ["/orgs/acme"]
    assert blocked_connections == []
    assert client.stats.retries == 0


def test_a_redirect_to_a_decimal_spelling_of_the_metadata_address_is_refused(server, blocked_connections):
    server.route("/orgs/acme", Reply(301, headers={"Location": "http://2852039166/latest/meta-data/"}))
    client = HttpClient(server.url, allow_private_network=True, max_retries=0)
    with pytest.raises(AddressRefused, match="refusing to connect to 2852039166: 169.254.169.254 is a cloud metadata"):
        client.get("/orgs/acme")
    assert blocked_connections == []


def test_a_next_link_to_a_refused_address_fails_at_connect_time(server, blocked_connections):
    # Pagination links are not pre-checked: the connection itself refuses them.
    server.route("/orgs/acme/repos", Reply(json=[1], headers={"Link": '<http://0xa9fea9fe/page2>; rel="next"'}))
    client = HttpClient(server.url, allow_private_network=True, max_retries=0)
    with pytest.raises(AddressRefused, match="169.254.169.254"):
        list(client.paginate("/orgs/acme/repos"))
    assert blocked_connections == []


def test_dns_rebinding_between_check_and_connect_is_refused(server, blocked_connections):
    answers = iter([["140.82.112.6"], ["169.254.169.254"]])
    lookups = []

    def rebinding_resolver(host, port):
        lookups.append(host)
        return next(answers)

    client = HttpClient("http://api.rebind.test:8080", resolve=rebinding_resolver, max_retries=0)
    with pytest.raises(AddressRefused, match="refusing to connect to api.rebind.test: 169.254.169.254 is a cloud"):
        client.get("/user")
    # Checked once when the client was built (public), then again by the connection (metadata).
    assert lookups == ["api.rebind.test", "api.rebind.test"]
    assert blocked_connections == []


def test_the_connection_goes_to_the_checked_address_and_keeps_the_host_name(server):
    server.route("/user", Reply(json={"login": "octocat"}))
    resolve = resolver({"ghe.example.test": ["127.0.0.1"]})
    client = HttpClient(f"http://ghe.example.test:{server.port}", allow_private_network=True, resolve=resolve)
    assert client.get("/user").data == {"login": "octocat"}
    assert server.received[0].headers["host"] == f"ghe.example.test:{server.port}"


def test_proxies_from_the_environment_are_ignored(server, monkeypatch):
    # A proxy would connect on our behalf, to an address the guard never saw.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://10.255.0.1:3128")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    server.route("/user", Reply(json={"login": "octocat"}))
    client = HttpClient(server.url, allow_private_network=True, max_retries=0)
    assert client.get("/user").data == {"login": "octocat"}


def test_the_refusal_names_the_embedded_address_of_an_ipv6_form():
    with pytest.raises(AddressRefused) as refused:
        check_address(ipaddress.ip_address("::ffff:10.0.0.1"), allow_private=False, host="internal.example.test")
    assert str(refused.value) == (
        "refusing to connect to internal.example.test: ::ffff:a00:1 (embedding 10.0.0.1) is private (RFC 1918); "
        "set allow_private_network to reach it"
    )
