"""Shared test configuration: a loopback-only network guard, fast and isolated settings, user personas."""

import ipaddress
import socket

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from pipeaccess.roles import AUDITOR, REVIEWER, SECURITY, create_user
from tests.mfa import enrol_totp

# ---------------------------------------------------------------------------
# Network guard
# ---------------------------------------------------------------------------


class BlockedConnectionError(RuntimeError):
    """A test tried to reach a host outside loopback.

    Deliberately not an OSError: code under test that retries or swallows network
    errors must not turn a forbidden connection into a quiet retry loop.
    """


# Every blocked attempt, including those swallowed by code under test; checked after each test.
_blocked_attempts: list[str] = []
_guard = pytest.MonkeyPatch()


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        # A name: socket.connect would resolve it itself, so allow only what we know is local.
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _check_destination(sock, address) -> None:
    # Unix sockets (PostgreSQL's default, any local daemon) never leave the machine.
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if not _is_loopback(address[0]):
        _blocked_attempts.append(repr(address))
        raise BlockedConnectionError(f"tests may only connect to 127.0.0.0/8 or ::1, not {address!r}")


def _install_network_guard() -> None:
    """Fail any socket connection to an address outside 127.0.0.0/8 and ::1, for the whole session.

    Tests meet upstream systems through our own simulators on loopback. A test that
    reaches the real GitHub would pass or fail with the weather, could leak a token
    from a developer's environment, and hangs for the full timeout on a closed CI
    network. Patching socket.socket (not requests) catches every client: requests,
    urllib3, redis-py, kombu, raw sockets. PostgreSQL via libpq does not use Python
    sockets and is unaffected; Redis and simulators on 127.0.0.1 pass the check.

    Name lookups other than localhost and this machine's own name fail at once as
    "unknown host", as they would offline, instead of waiting for a DNS timeout.
    """
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    local_names = {"localhost", socket.gethostname()}

    def connect(self, address):
        _check_destination(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check_destination(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in local_names:
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, f"{name}: lookups are disabled in tests") from None
        return real_getaddrinfo(host, *args, **kwargs)

    _guard.setattr(socket.socket, "connect", connect)
    _guard.setattr(socket.socket, "connect_ex", connect_ex)
    _guard.setattr(socket, "getaddrinfo", getaddrinfo)


def pytest_sessionstart(session):
    _install_network_guard()


def pytest_sessionfinish(session, exitstatus):
    _guard.undo()


@pytest.fixture
def blocked_connections():
    """The attempts blocked during this test. A test that provokes one on purpose clears the list."""
    return _blocked_attempts


@pytest.fixture(autouse=True)
def _fail_on_blocked_connections():
    _blocked_attempts.clear()
    yield
    if _blocked_attempts:
        attempts = ", ".join(_blocked_attempts)
        _blocked_attempts.clear()
        pytest.fail(f"the test tried to connect outside loopback: {attempts}")


# ---------------------------------------------------------------------------
# Settings for the whole run
# ---------------------------------------------------------------------------


def _per_process_caches() -> dict:
    # Every alias the settings define, each its own locmem store; size limits and prefixes carry over.
    return {
        alias: {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"tests-{alias}",
            **{key: value for key, value in config.items() if key in {"OPTIONS", "KEY_PREFIX", "TIMEOUT", "VERSION"}},
        }
        for alias, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True, scope="session")
def _test_settings():
    """Fast password hashing, and per-process caches.

    The configured caches are files under var/ (or Redis): allauth keeps login rate
    limits and used TOTP codes there, so runs would see each other's state.
    A test that needs a real cache can switch with the `settings` fixture.
    """
    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        CACHES=_per_process_caches(),
    ):
        yield


@pytest.fixture(autouse=True)
def _empty_caches():
    # Before the test, while the session's locmem caches are the ones in use.
    for cache in caches.all():
        cache.clear()


# ---------------------------------------------------------------------------
# Personas
# ---------------------------------------------------------------------------

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def user_password():
    """The password every persona logs in with."""
    return PASSWORD


@pytest.fixture
def make_user(db):
    """make_user(email, *roles, name="", password=PASSWORD, mfa=None): a user who logs in with `email`.

    Security-role users get a TOTP authenticator (tests/mfa.py), as the role requires; mfa=False leaves it
    out (the persona "security without MFA"), mfa=True adds one whatever the roles.
    """

    def make(email: str, *roles: str, name: str = "", password: str | None = PASSWORD, mfa: bool | None = None):
        user = create_user(email, roles=roles, name=name, password=password)
        if mfa if mfa is not None else SECURITY in roles:
            enrol_totp(user)
        return user

    return make


@pytest.fixture
def security_user(make_user):
    return make_user("alice@example.com", SECURITY, name="Alice Security")


@pytest.fixture
def reviewer_user(make_user):
    return make_user("bob@example.com", REVIEWER, name="Bob Reviewer")


@pytest.fixture
def auditor_user(make_user):
    return make_user("carol@example.com", AUDITOR, name="Carol Auditor")


@pytest.fixture
def user_without_role(make_user):
    return make_user("dave@example.com", name="Dave Outsider")
