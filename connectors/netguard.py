"""Keep connector traffic away from addresses an upstream URL must never reach (SSRF guard).

A connector's base URL is typed by an administrator, but redirects and pagination
links come from the upstream: any of them could point at the cloud metadata service
or at a database on the private network. Two checks close that:

* ``check_url`` runs before a request (base URL, each redirect hop) and gives a clear
  error early: scheme, userinfo, host, and every address the host resolves to;
* ``GuardedAdapter`` (a requests adapter) repeats the resolution and the check when a
  connection is opened and connects to the address it checked, so a DNS answer that
  changes between check and connect (DNS rebinding) cannot slip through. TLS still
  sends SNI and verifies the certificate against the host name.

Legacy IPv4 spellings (decimal ``2852039166``, octal ``0251.0376.0251.0376``, hex
``0xa9fea9fe``, short ``169.254.43518``) are normalised the way ``inet_aton`` reads
them before checking, and IPv6 forms that carry an IPv4 address (mapped, compatible,
6to4, NAT64, Teredo) are checked for the embedded address as well. Non-ASCII host names are
mapped the way IDNA maps them before anything else (fullwidth digits ``１６９.２５４.１６９.２５４``,
ideographic full stops), so a numeric host hidden in Unicode is checked as the address it is,
and the metadata services' own host names are refused without asking DNS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from .base import ConfigurationError, ConnectorError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class AddressRefused(ConnectorError):
    """A URL or the address it resolves to is not one a connector may contact."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"refusing to connect to {host}: {reason}", permanent=True)
        self.host = host
        self.reason = reason


# Metadata services hand out cloud credentials; no connector has a reason to reach them,
# so they are refused even when private networks are allowed.
_METADATA = frozenset(
    ipaddress.ip_address(value)
    for value in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure WireServer
    )
)


# The metadata services' host names: refused by name, whatever DNS answers here (they resolve inside the cloud).
_METADATA_NAMES = frozenset(
    {
        "metadata",  # GCP short name
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",  # AWS
        "instance-data.ec2.internal",
    }
)


def _table(*rows: tuple[str, str]) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(network), reason) for network, reason in rows)


# Never a legitimate upstream, whatever allow_private says.
_ALWAYS_REFUSED = _table(
    ("0.0.0.0/8", "the unspecified 'this network' range"),
    ("::/128", "the unspecified address"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/10", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)

# Where self-hosted upstreams (GitHub Enterprise Server, GitLab, Jenkins) usually live:
# allowed only for a connector whose administrator opted in.
_PRIVATE = _table(
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("fc00::/7", "unique local (private)"),
    ("fec0::/10", "site-local (private)"),
)

_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# Translation prefixes say nothing about the destination themselves: the embedded IPv4 does.
_TRANSLATION = (_MAPPED, _COMPATIBLE, _SIX_TO_FOUR, _TEREDO, _NAT64_WELL_KNOWN, _NAT64_LOCAL)

# What inet_aton accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
_LEGACY_IPV4 = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+)){0,3}")


def ascii_host(host: str) -> str:
    """The host name as a resolver sees it: IDNA's mapping (NFKC, full stops) for non-ASCII names, lower case."""
    host = host.rstrip(".").lower()
    if host.isascii():
        return host
    mapped = unicodedata.normalize("NFKC", host)
    for stop in "\u3002\uff0e\uff61":  # ideographic, fullwidth and halfwidth ideographic full stops
        mapped = mapped.replace(stop, ".")
    return mapped.rstrip(".")


def parse_address(value: str | IPAddress) -> IPAddress:
    """An IP address in any notation a resolver would accept, normalised; ValueError otherwise."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    text = value.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            pass
    raise ValueError(f"{value!r} is not an IP address")


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 destinations an IPv6 address stands for (empty for plain IPv6 and IPv4)."""
    if address.version == 4:
        return []
    packed = address.packed
    if address in _MAPPED:
        return [address.ipv4_mapped]
    if address in _COMPATIBLE:
        # :: and ::1 are the IPv6 unspecified and loopback addresses, not embeddings.
        return [ipaddress.IPv4Address(packed[12:])] if int(address) > 1 else []
    if address in _SIX_TO_FOUR:
        return [address.sixtofour]
    if address in _TEREDO:
        return list(address.teredo)
    if address in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(packed[12:])]
    if address in _NAT64_LOCAL:
        return _nat64_local_readings(packed)
    return []


def _nat64_local_readings(packed: bytes) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a local-use NAT64 address may stand for.

    RFC 6052 places the IPv4 address by the operator's prefix length (48, 56, 64 or 96
    within this /48), skipping bits 64-71, which must be zero, as must the suffix after the
    IPv4 address. Every layout those rules allow is a possible destination. A reading in
    0.0.0.0/8 is an artefact of the wrong layout (no translator forwards there), not a target.
    """
    layouts = (  # (IPv4 bytes, suffix bytes that must be zero)
        (packed[6:8] + packed[9:11], packed[11:]),
        (packed[7:8] + packed[9:12], packed[12:]),
        (packed[9:13], packed[13:]),
    )
    readings = [ipaddress.IPv4Address(v4) for v4, suffix in layouts if packed[8] == 0 and not any(suffix)]
    readings.append(ipaddress.IPv4Address(packed[12:16]))
    return [reading for reading in readings if reading not in _THIS_NETWORK]


def _refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why this one address is refused, or None."""
    if address in _METADATA:
        return "a cloud metadata service address"
    for network, reason in _ALWAYS_REFUSED:
        if address in network:
            return reason
    for network, reason in _PRIVATE:
        if address in network:
            return None if allow_private else f"{reason}; set allow_private_network to reach it"
    if any(address in network for network in _TRANSLATION):
        return None
    if address.is_reserved:
        return "reserved"
    if not address.is_global and not allow_private:
        return "not publicly routable; set allow_private_network to reach it"
    return None


def check_address(ip: str | IPAddress, *, allow_private: bool, host: str | None = None) -> None:
    """Raise AddressRefused unless a connector may connect to ``ip``."""
    try:
        address = parse_address(ip)
    except ValueError:
        raise AddressRefused(host or str(ip), "not an IP address") from None
    # Zone ids (fe80::1%eth0) do not change what the address is.
    if address.version == 6 and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    for candidate in (address, *_embedded_ipv4(address)):
        reason = _refusal(candidate, allow_private=allow_private)
        if reason is not None:
            shown = str(address) if candidate == address else f"{address} (embedding {candidate})"
            raise AddressRefused(host or str(address), f"{shown} is {reason}")


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for host, in its preferred order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class NetGuard:
    """The policy for one connector: whether private networks are allowed, and how names resolve.

    ``resolve`` is a seam for tests (DNS rebinding); production uses getaddrinfo.
    """

    allow_private: bool = False
    resolve: Resolver = field(default=system_resolve)

    def check_url_syntax(self, url: str) -> tuple[str, int]:
        """Scheme, userinfo and host rules that need no DNS; returns (host, port)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https"):
            raise AddressRefused(host or "a URL", f"scheme {parts.scheme or '(none)'!r} is not http or https")
        # user@host is how http://169.254.169.254@evil.example tricks a reader; APIs take tokens in headers.
        if "@" in parts.netloc or "\\" in parts.netloc:
            raise AddressRefused(host or "a URL", "the URL carries user information (user@host); use a secret instead")
        if not host:
            raise AddressRefused("a URL", "the URL has no host")
        if ascii_host(host) in _METADATA_NAMES:
            raise AddressRefused(host, "a cloud metadata service name")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise AddressRefused(host, "the URL has an invalid port") from None
        return host, port

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve host and check every address; all of them must pass."""
        name = ascii_host(host)
        if (name == "localhost" or name.endswith(".localhost")) and not self.allow_private:
            # RFC 6761: loopback by definition, whatever this machine's resolver (or its absence) says.
            raise AddressRefused(host, "loopback (localhost); set allow_private_network to reach it")
        try:
            # A numeric host is never sent to DNS: normalising it here is what makes
            # 2852039166, 0xa9fea9fe and fullwidth digits the address they really are.
            found = [parse_address(name)]
        except ValueError:
            found = [parse_address(value) for value in self.resolve(host, port)]
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} resolved to no address")
        for address in found:
            check_address(address, allow_private=self.allow_private, host=host)
        return found

    def check_url(self, url: str) -> None:
        host, port = self.check_url_syntax(url)
        try:
            self.addresses(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise ConnectorError(f"cannot resolve host {host}: {exc}") from None


def check_url(url: str, *, allow_private: bool, resolve: Resolver = system_resolve) -> None:
    """Raise AddressRefused unless a connector may request ``url`` (resolves the host)."""
    NetGuard(allow_private=allow_private, resolve=resolve).check_url(url)


class _GuardedConnectionMixin:
    """Open the socket to an address the guard has just checked, never to a fresh DNS answer."""

    guard: NetGuard

    def _new_conn(self) -> socket.socket:
        try:
            addresses = self.guard.addresses(self._dns_host, self.port)
        except (socket.gaierror, UnicodeError) as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: Exception = NewConnectionError(self, "no address to connect to")
        for address in addresses:
            try:
                # An IP literal: create_connection does no DNS lookup of its own.
                sock = create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out ({exc})")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise error


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every new connection (first request, redirects) passes the guard."""

    def __init__(self, guard: NetGuard, **kwargs):
        self.guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        guard = self.guard

        class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
            pass

        class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
            pass

        GuardedHTTPConnection.guard = guard
        GuardedHTTPSConnection.guard = guard

        class GuardedHTTPConnectionPool(HTTPConnectionPool):
            ConnectionCls = GuardedHTTPConnection

        class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
            ConnectionCls = GuardedHTTPSConnection

        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        # Through a proxy the proxy picks the address, and the guard would check the wrong host.
        raise ConfigurationError("HTTP proxies are not supported: they would bypass the address guard")
