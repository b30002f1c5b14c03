"""Settings read from the environment fail loudly, and production settings pass `check --deploy`."""

import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from pipeaccess.env import database_from_url, env_bool, env_float, env_int, env_list, env_secret

# --- typed environment helpers ------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("YES", True), ("1", True), ("off", False)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("PA_FLAG", raw)
    assert env_bool("PA_FLAG", not expected) is expected


def test_env_bool_rejects_anything_else(monkeypatch):
    monkeypatch.setenv("PA_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="PA_FLAG='maybe' is not a boolean"):
        env_bool("PA_FLAG", False)


def test_env_bool_uses_the_default_when_empty(monkeypatch):
    monkeypatch.setenv("PA_FLAG", "")
    assert env_bool("PA_FLAG", True) is True


def test_env_int_rejects_a_word(monkeypatch):
    monkeypatch.setenv("PA_COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="PA_COUNT='ten' is not an integer"):
        env_int("PA_COUNT", 1)


def test_env_int_rejects_a_fraction(monkeypatch):
    monkeypatch.setenv("PA_COUNT", "1.5")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("PA_COUNT", 1)


def test_env_int_reads_a_number(monkeypatch):
    monkeypatch.setenv("PA_COUNT", "42")
    assert env_int("PA_COUNT", 1) == 42


def test_env_float_rejects_a_word(monkeypatch):
    monkeypatch.setenv("PA_RATIO", "fast")
    with pytest.raises(ImproperlyConfigured, match="PA_RATIO='fast' is not a number"):
        env_float("PA_RATIO", 0.5)


def test_env_float_reads_a_number(monkeypatch):
    monkeypatch.setenv("PA_RATIO", "0.25")
    assert env_float("PA_RATIO", 0.5) == 0.25


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("PA_HOSTS", " a.example , ,b.example")
    assert env_list("PA_HOSTS", []) == ["a.example", "b.example"]


def test_env_secret_reads_the_file_named_by_the_file_variable(monkeypatch, tmp_path):
    secret_file = tmp_path / "token"
    secret_file.write_text("from-the-file\n")
    monkeypatch.setenv("PA_TOKEN", "from-the-variable")
    monkeypatch.setenv("PA_TOKEN_FILE", str(secret_file))
    assert env_secret("PA_TOKEN") == "from-the-file"


def test_env_secret_fails_when_the_file_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PA_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="PA_TOKEN_FILE=.* cannot be read"):
        env_secret("PA_TOKEN")


def test_env_secret_falls_back_to_the_variable(monkeypatch):
    monkeypatch.delenv("PA_TOKEN_FILE", raising=False)
    monkeypatch.setenv("PA_TOKEN", "from-the-variable")
    assert env_secret("PA_TOKEN") == "from-the-variable"


def test_database_url_with_another_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured, match="scheme 'mysql' is not supported"):
        database_from_url("mysql://root@127.0.0.1/pipeaccess")


def test_database_url_without_a_database_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="no database name"):
        database_from_url("postgres://postgres@127.0.0.1:5432/")


def test_database_url_is_split_into_django_settings():
    database = database_from_url("postgresql://pa%40ops:p%2Fss@db.internal:6543/pipe%20access")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"]) == ("pa@ops", "p/ss")
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("db.internal", "6543", "pipe access")


# --- production settings, in a child process with a clean environment ------------------------------


def run_manage(tmp_path, *args, **env):
    """Run manage.py with only `env` set, so the developer's or CI's variables cannot help it pass."""
    return subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={"PIPEACCESS_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "PIPEACCESS_ENV": "production",
    "ALLOWED_HOSTS": "pipeaccess.example.com",
    "AUDIT_KEY": "audit-key-kept-outside-the-database-0123456789",
}


@pytest.mark.subprocess
def test_production_settings_pass_the_deployment_checks_without_warnings(tmp_path):
    result = run_manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=get_random_secret_key(), **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.subprocess
def test_production_reads_the_secret_key_from_a_file(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text(get_random_secret_key() + "\n")
    result = run_manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY_FILE=str(key_file), **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.subprocess
def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    result = run_manage(tmp_path, "check", **PRODUCTION)
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required in production" in result.stderr


@pytest.mark.subprocess
def test_production_without_allowed_hosts_refuses_to_start(tmp_path):
    without = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = run_manage(tmp_path, "check", SECRET_KEY=get_random_secret_key(), **without)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is required in production" in result.stderr


@pytest.mark.subprocess
def test_production_without_an_audit_key_refuses_to_start(tmp_path):
    without = {k: v for k, v in PRODUCTION.items() if k != "AUDIT_KEY"}
    result = run_manage(tmp_path, "check", SECRET_KEY=get_random_secret_key(), **without)
    assert result.returncode != 0
    assert "AUDIT_KEY (or AUDIT_KEY_FILE) is required in production" in result.stderr


@pytest.mark.subprocess
def test_an_unknown_environment_name_refuses_to_start(tmp_path):
    result = run_manage(tmp_path, "check", PIPEACCESS_ENV="prod")
    assert result.returncode != 0
    assert "PIPEACCESS_ENV='prod'" in result.stderr


# --- the test suite's own network guard (tests/conftest.py) -----------------------------------------


def test_the_guard_blocks_connections_outside_loopback(blocked_connections):
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(RuntimeError, match="tests may only connect to"),
    ):
        sock.settimeout(1)  # without the guard, fail fast rather than hang
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, and never reached
    assert blocked_connections == ["('192.0.2.1', 443)"]
    blocked_connections.clear()


def test_the_guard_blocks_connect_ex_too(blocked_connections):
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock,
        pytest.raises(RuntimeError, match="tests may only connect to"),
    ):
        sock.settimeout(1)
        sock.connect_ex(("2001:db8::1", 443))
    blocked_connections.clear()


def test_the_guard_lets_loopback_connections_through():
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            peer, _ = server.accept()
            with peer:
                client.sendall(b"ping")
                assert peer.recv(4) == b"ping"


def test_the_guard_lets_unix_socket_connections_through(tmp_path):
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            assert client.connect_ex(path) == 0


def test_the_guard_fails_name_lookups_at_once():
    with pytest.raises(socket.gaierror, match="lookups are disabled in tests"):
        socket.getaddrinfo("api.github.com", 443)
