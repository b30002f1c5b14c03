"""Accounts: login throttling across processes, no user enumeration, session rotation, cookie flags, open redirects.

Each test's docstring names the OWASP ASVS 5.0 requirement it covers.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.cli import ROOT, database_env

LOGIN = "/accounts/login/"
# Passwords stored for child processes must use a hasher their (real) settings know.
CHILD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
THROTTLED = "Too many failed login attempts"

# Logs in from a separate Python process with Django's test client: its own interpreter, its own
# connections, the cache the settings configure (Redis with REDIS_URL, else the file cache under var/).
CHILD = r"""
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeaccess.settings")
import django
django.setup()
from django.conf import settings
from django.test import Client
email, ip, *passwords = sys.argv[1:]
client = Client(REMOTE_ADDR=ip)
results = []
for password in passwords:
    response = client.post("/accounts/login/", {"login": email, "password": password})
    body = response.content.decode()
    if "Too many failed login attempts" in body:
        results.append("throttled")
    elif response.status_code == 302 and client.session.get("_auth_user_id"):
        results.append("logged-in")
    else:
        results.append(f"refused-{response.status_code}")
print(json.dumps({"results": results, "cache": settings.CACHES["default"]["BACKEND"]}))
"""


def _login_in_another_process(var_dir, email, ip, *passwords):
    env = {**os.environ, **database_env(), "PIPEACCESS_VAR_DIR": str(var_dir)}
    if env.get("SQLITE_PATH") is None:
        env.pop("SQLITE_PATH", None)
    result = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", CHILD, email, ip, *passwords],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_failed_logins_are_throttled_in_total_across_worker_processes(make_user, user_password, tmp_path, settings):
    """ASVS 5.0 V6.3.1 (anti-automation against credential stuffing and brute force).

    ACCOUNT_RATE_LIMITS login_failed allows 5 failures per 5 minutes per account; the counter lives in
    the shared cache, so failures spread over two worker processes add up, and then even the right
    password is refused.
    """
    settings.PASSWORD_HASHERS = CHILD_HASHERS  # the child processes check passwords with the real settings
    email = f"throttle-{uuid.uuid4().hex[:8]}@example.com"
    make_user(email)
    # A per-run address: concurrent runs sharing one Redis never share a per-IP counter.
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    first = _login_in_another_process(tmp_path, email, ip, "wrong-1", "wrong-2", "wrong-3")
    second = _login_in_another_process(tmp_path, email, ip, "wrong-4", "wrong-5", "wrong-6")
    third = _login_in_another_process(tmp_path, email, ip, user_password)
    expected_cache = "RedisCache" if os.environ.get("REDIS_URL") else "FileBasedCache"
    assert expected_cache in first["cache"]
    assert first["results"] == ["refused-200"] * 3
    assert second["results"] == ["refused-200", "refused-200", "throttled"]
    assert third["results"] == ["throttled"]


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_the_right_password_works_in_another_process_when_not_throttled(make_user, user_password, tmp_path, settings):
    """ASVS 5.0 V6.3.1: the throttle is per account: a few failures do not lock the owner out."""
    settings.PASSWORD_HASHERS = CHILD_HASHERS  # the child processes check passwords with the real settings
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    make_user(email)
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.8"
    assert _login_in_another_process(tmp_path, email, ip, "wrong-1", "wrong-2", user_password)["results"] == [
        "refused-200",
        "refused-200",
        "logged-in",
    ]


def _without_tokens(html: str) -> str:
    import re

    html = re.sub(r"[A-Za-z0-9]{64}", "", html)  # CSRF tokens (masked per response)
    return re.sub(r'value="[^"]*@example\.com"', "", html)


@pytest.mark.django_db
def test_unknown_and_wrong_password_logins_look_the_same(client, security_user):
    """ASVS 5.0 V6.3.8 (no user enumeration through login): same status and same page for both failures."""
    unknown = client.post(LOGIN, {"login": "nobody-here@example.com", "password": "Wrong-password-123"})
    wrong = client.post(LOGIN, {"login": security_user.email, "password": "Wrong-password-123"})
    assert unknown.status_code == wrong.status_code == 200
    assert _without_tokens(unknown.content.decode()) == _without_tokens(wrong.content.decode())
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_unknown_and_wrong_password_logins_take_similar_time(client, security_user, settings):
    """ASVS 5.0 V6.3.8: with the real (slow) password hasher, an unknown address is hashed too: no timing oracle."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = get_user_model().objects.get(pk=security_user.pk)
    user.set_password("The-real-password-1")
    user.save()

    def timed(email):
        started = time.perf_counter()
        response = client.post(LOGIN, {"login": email, "password": "Wrong-password-123"})
        assert response.status_code == 200
        return time.perf_counter() - started

    unknown, wrong = [], []
    for index in range(3):
        unknown.append(timed(f"nobody-{index}@example.com"))
        wrong.append(timed(security_user.email))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    # Both are dominated by one PBKDF2 run; an enumeration oracle (no hash for unknown users) is ~100x faster.
    assert 0.4 < ratio < 2.5, (unknown, wrong)


@pytest.mark.django_db
def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client, security_user):
    """ASVS 5.0 V6.3.8 (which also covers forgot-password): the reset form does not tell whether an address
    has an account."""
    url = reverse("account_reset_password")
    known = client.post(url, {"email": security_user.email})
    unknown = client.post(url, {"email": "nobody-here@example.com"})
    assert known.status_code == unknown.status_code
    assert known.get("Location") == unknown.get("Location")


@pytest.mark.django_db
def test_session_key_is_rotated_at_login(client, reviewer_user, user_password):
    """ASVS 5.0 V7.2.4 (new session token on authentication): the pre-login session id is not kept."""
    session = client.session
    session["before_login"] = True
    session.save()
    before = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.post(LOGIN, {"login": reviewer_user.email, "password": user_password})
    assert response.status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    from django.contrib.sessions.backends.db import SessionStore

    assert not SessionStore().exists(before)


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_httponly_and_samesite_lax(client, reviewer_user, user_password):
    """ASVS 5.0 V3.3.2 (SameSite) and V3.3.4 (HttpOnly for the session): the session cookie is HttpOnly and
    SameSite=Lax (Secure and the __Host- prefix, V3.3.1, are production's: the next test)."""
    client.get(LOGIN)
    response = client.post(LOGIN, {"login": reviewer_user.email, "password": user_password})
    session_cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session_cookie["httponly"] is True
    assert session_cookie["samesite"] == "Lax"
    assert client.cookies[settings.CSRF_COOKIE_NAME]["samesite"] == "Lax"


PRODUCTION_CHILD = r"""
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeaccess.settings")
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.contrib.auth import get_user_model
email, password = os.environ["PA_EMAIL"], os.environ["PA_PASSWORD"]
client = Client()
client.get("/accounts/login/", secure=True)
response = client.post("/accounts/login/", {"login": email, "password": password}, secure=True)
cookie = response.cookies[settings.SESSION_COOKIE_NAME]
csrf = client.cookies[settings.CSRF_COOKIE_NAME]
print(json.dumps({
    "status": response.status_code,
    "session": {"secure": bool(cookie["secure"]), "httponly": bool(cookie["httponly"]), "samesite": cookie["samesite"]},
    "csrf": {"secure": bool(csrf["secure"]), "samesite": csrf["samesite"]},
    "names": [settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME],
    "scope": [(c["path"], c["domain"]) for c in (cookie, csrf)],
    "insecure_redirect": Client().get("/accounts/login/").status_code,
}))
"""


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_production_cookies_are_secure_httponly_and_samesite_lax(make_user, user_password, tmp_path, settings):
    """ASVS 5.0 V3.3.1 (Secure attribute and __Host- prefix), V3.3.4 (HttpOnly) and V12.2.1 (TLS only):
    production settings, in a child process."""
    settings.PASSWORD_HASHERS = CHILD_HASHERS  # the child processes check passwords with the real settings
    email = f"prod-{uuid.uuid4().hex[:8]}@example.com"
    make_user(email)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PIPEACCESS_VAR_DIR": str(tmp_path),
        "PIPEACCESS_ENV": "production",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "AUDIT_KEY": uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "testserver",
        "PA_EMAIL": email,
        "PA_PASSWORD": user_password,
        **{key: value for key, value in database_env().items() if value},
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    result = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", PRODUCTION_CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 302
    assert report["session"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    assert report["csrf"] == {"secure": True, "samesite": "Lax"}
    # __Host-: only set over HTTPS, for this host (no Domain) and the whole site (Path=/); no subdomain can plant one.
    assert all(name.startswith("__Host-") for name in report["names"]), report["names"]
    assert report["scope"] == [["/", ""], ["/", ""]]
    assert report["insecure_redirect"] == 301


# `next=` values that try to leave the site: scheme-relative, backslashes (browsers read \ as /),
# encoded slashes, schemes without slashes, userinfo, control characters browsers strip, whitespace.
OPEN_REDIRECTS = [
    "//evil.com",
    "///evil.com",
    "////evil.com/",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "https:evil.com",
    "https://evil.com",
    "http://evil.com/accounts/login/",
    "HTTPS://EVIL.COM",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.com",
    "%2f%2fevil.com",
    "/%2F%2Fevil.com",
    "%5C%5Cevil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "\t//evil.com",
    "\r\n//evil.com",
    " //evil.com",
    "//testserver@evil.com",
    "https://testserver@evil.com",
    "https://testserver.evil.com",
    "https://evil.com\\@testserver",
    "//evil.com%2F@testserver",
    "/ /evil.com",
    "//%09/evil.com",
    "\x00//evil.com",
    "/..//evil.com",
    "http:/evil.com",
    "http:\\\\evil.com",
    "//evil%E3%80%82com",
    "//evil。com",
]


def _stays_on_site(location: str) -> bool:
    # What a browser does with the Location: strip tabs/newlines and leading C0/space, read \ as /,
    # then resolve it against the page that answered.
    cleaned = "".join(ch for ch in location if ch not in "\t\n\r").lstrip("\x00 ").replace("\\", "/")
    parts = urlsplit(urljoin("http://testserver" + LOGIN, cleaned))
    return parts.scheme in {"http", "https"} and parts.netloc == "testserver"


@pytest.mark.django_db
@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_next_after_login_never_leaves_the_site(client, reviewer_user, user_password, target):
    """ASVS 5.0 V3.7.2 (redirects only to allow-listed destinations): `next=` cannot send a user off-site."""
    response = client.post(
        LOGIN, {"login": reviewer_user.email, "password": user_password, "next": target}, HTTP_HOST="testserver"
    )
    assert response.status_code == 302
    location = response["Location"]
    assert _stays_on_site(location), location


@pytest.mark.django_db
def test_a_same_site_next_is_followed(client, reviewer_user, user_password):
    """ASVS 5.0 V3.7.2: the allow-list is the site itself: a local `next` still works (the corpus is not vacuous)."""
    response = client.post(LOGIN, {"login": reviewer_user.email, "password": user_password, "next": "/reviews/"})
    assert response["Location"] == "/reviews/"
