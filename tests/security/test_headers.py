"""Security headers over real HTTP from a running server process, and `check --deploy` in production settings.

Each test's docstring names the OWASP ASVS 5.0 requirement it covers.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.core.management.utils import get_random_secret_key

from tests.cli import ROOT, database_env

# One of each kind of response: a page, a redirect to login, a 404, a static file, the API (unauthenticated),
# the API schema, the admin login.
PATHS = {
    "/accounts/login/": 200,
    "/": 302,
    "/no-such-page-here/": 404,
    "/static/css/app.css": 200,
    "/api/v1/": None,  # 401/403 or a listing: any answer must carry the headers
    "/admin/login/": 200,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, headers: dict | None = None):
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http on loopback)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


@pytest.fixture
def server(tmp_path):
    """`manage.py runserver --noreload` as its own process on a free loopback port; yields a function to start it."""
    processes = []

    def start(**extra_env):
        port = _free_port()
        env = {**os.environ, **database_env(), "PIPEACCESS_VAR_DIR": str(tmp_path), "DEBUG": "false", **extra_env}
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.2)
        raise AssertionError("runserver did not start")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _assert_security_headers(path, headers):
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, (path, csp)
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
    assert "frame-ancestors 'none'" in csp, (path, csp)
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp, (path, csp)  # V3.4.3 names both
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "same-origin", path
    if path != "/static/css/app.css":
        # Static files skip the stack after WhiteNoise; CSP frame-ancestors covers framing for them.
        assert headers.get("X-Frame-Options") == "DENY", path


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_every_kind_of_response_carries_the_security_headers(server):
    """ASVS 5.0 V3.4.3 (CSP on every response, with object-src and base-uri 'none'), V3.4.4 (nosniff),
    V3.4.5 (Referrer-Policy), V3.4.6 (frame-ancestors): checked over real HTTP on a running server, for pages,
    404s, static files and the API."""
    base = server(ALLOWED_HOSTS="127.0.0.1")
    for path, expected in PATHS.items():
        status, headers = _get(base + path)
        if expected is not None:
            assert status == expected, (path, status)
        _assert_security_headers(path, headers)


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_production_server_sends_hsts_and_redirects_plain_http(server):
    """ASVS 5.0 V3.4.1 (HSTS) and V12.2.1 (TLS for all connections): production settings on a running server."""
    base = server(
        PIPEACCESS_ENV="production",
        SECRET_KEY=get_random_secret_key(),
        AUDIT_KEY=uuid.uuid4().hex * 2,
        ALLOWED_HOSTS="127.0.0.1",
    )
    status, headers = _get(base + "/accounts/login/")
    assert status == 301
    assert headers["Location"].startswith("https://127.0.0.1")
    for path in ("/accounts/login/", "/no-such-page-here/", "/static/css/app.css"):
        status, headers = _get(base + path, {"X-Forwarded-Proto": "https"})
        assert status in (200, 404), (path, status)
        assert headers.get("Strict-Transport-Security", "").startswith("max-age=31536000"), path
        _assert_security_headers(path, headers)


@pytest.mark.subprocess
def test_check_deploy_is_clean_in_production_settings(tmp_path):
    """ASVS 5.0 V13.4.2 (debug off in production) and Django's deployment checklist: `manage.py check --deploy`
    reports nothing."""
    result = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PIPEACCESS_VAR_DIR": str(tmp_path),
            "PIPEACCESS_ENV": "production",
            "SECRET_KEY": get_random_secret_key(),
            "AUDIT_KEY": uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "pipeaccess.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)" in result.stdout
