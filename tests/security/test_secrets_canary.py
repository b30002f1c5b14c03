"""Secrets canary: connector tokens never leave the place they are kept.

Connectors are configured with unique canary tokens (one by env: reference, one by file: reference, one stored
encrypted by PipeAccess, one the upstream refuses), synced against the GitHub and GitLab simulators, a campaign
is open and its mails are sent over SMTP; then every page and API endpoint is crawled as the security team, an
auditor and a reviewer, error paths included (404s, invalid forms, upstream 401 and 500, an exception forced in a
view and in a task), and the exports are run. Every response, log record, mail, Redis key and value, export and a
pg_dump of the database is searched: no canary, and the stored one only as ciphertext.

ASVS 5.0 V13.3.1 (backend secrets managed, never in clear in the database), V14.2.2 (not cached in server
components: Redis), V14.2.4 and V14.2.6 (sensitive data kept out of logs, exports and responses), V16.2.5 (credentials
never logged).
"""

import io
import json
import logging
import shutil
import subprocess
import uuid
import zipfile

import pytest
import redis
from cryptography.fernet import Fernet
from django.core import mail as django_mail
from django.core.cache import caches
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from connectors import secrets
from connectors.actions import do_add_connector
from connectors.choices import SyncStatus
from connectors.models import Account, StoredSecret
from connectors.providers.github import GitHubConnector
from connectors.simulators.github import GitHubSimulator, Token
from connectors.simulators.gitlab import GitLabOrg, GitLabSimulator
from connectors.simulators.server import ERROR
from connectors.sync import run_sync
from connectors.tasks import sync_connector
from pipeaccess.celery import app as celery_app
from reviews import campaigns, emails
from tests.cli import manage
from tests.connectors.helpers import sync_factory
from tests.fakes import FakeTime
from tests.mail.conftest import eager_celery, smtp, smtp_settings  # noqa: F401
from tests.mfa import sign_in
from tests.reviews.conftest import inventory, launched, make_template, people, users  # noqa: F401
from tests.security.authz.conftest import world  # noqa: F401
from tests.security.authz.matrix import matrix_routes, url_for
from tests.views.conftest import github_connector, github_org, sync_github, synced  # noqa: F401
from tests.workers import celery_workers

RUN = uuid.uuid4().hex[:12]
CANARY_ENV = f"ghp_CanaryEnv{RUN}0123456789abcdef"
CANARY_FILE = f"glpat-CanaryFile{RUN}0123456789"
CANARY_STORED = f"ghp_CanaryStored{RUN}0123456789ab"
CANARY_REFUSED = f"ghp_CanaryRefused{RUN}012345678a"
CANARIES = (CANARY_ENV, CANARY_FILE, CANARY_STORED, CANARY_REFUSED)
# Put deliberately where each search looks, to prove the search finds what is there.
PLANTED = f"canary-planted-{RUN}"
ROLES = ("security", "auditor", "reviewer_b")

# About a minute and a half: three roles crawl every URL, with real syncs, SMTP, exports and a pg_dump.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.subprocess, pytest.mark.slow]


@pytest.fixture
def github_sim(github_org):  # noqa: F811
    """The simulator behind the `world` connector "gh" (token by env: reference) and "gh-stored"."""
    owner = Token(github_org.owner_login)
    with GitHubSimulator(github_org, tokens={CANARY_ENV: owner, CANARY_STORED: owner}) as sim:
        yield sim


@pytest.fixture
def gitlab_sim():
    org = GitLabOrg.generate(seed=3, members=8, subgroups=2, projects=3)
    org.add_token("root", CANARY_FILE)
    with GitLabSimulator(org) as sim:
        yield sim


class Haystacks:
    """Everything searched, by channel: (channel, where, text)."""

    def __init__(self):
        self.items: list[tuple[str, str, str]] = []

    def add(self, channel: str, where: str, data) -> None:
        if isinstance(data, bytes):
            if data[:4] == b"PK\x03\x04":
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member in archive.namelist():
                        self.add(channel, f"{where}!{member}", archive.read(member))
                return
            data = data.decode("utf-8", "replace")
        self.items.append((channel, where, data))

    def hits(self, needle: str) -> list[tuple[str, str]]:
        return [(channel, where) for channel, where, text in self.items if needle in text]

    def channels(self) -> set[str]:
        return {channel for channel, _, _ in self.items}


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def fetch(haystack: Haystacks, client: Client, role: str, method: str, url: str, data=None, **extra) -> int:
    response = getattr(client, method)(url, data or {}, **extra)
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    haystack.add("responses", f"{role} {method.upper()} {url}", headers.encode() + b"\n" + body(response))
    return response.status_code


def github_stored(sim) -> "object":
    connector = do_add_connector(
        name="gh-stored",
        kind="github",
        base_url=sim.url,
        options={"org": "acme", "allow_private_network": "true"},
        secrets={},
    )
    return secrets.do_set_secret(connector, "token", CANARY_STORED)


def add(name: str, kind: str, url: str, options: dict, ref: str):
    return do_add_connector(
        name=name, kind=kind, base_url=url, options={**options, "allow_private_network": "true"}, secrets={"token": ref}
    )


def sync(connector):
    return run_sync(connector, connector_factory=sync_factory(FakeTime(1_800_000_000.0)))


def redis_contents(url: str) -> list[tuple[str, bytes]]:
    """Every key of the Redis database and its value, whatever the type."""
    client = redis.Redis.from_url(url)
    out = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key) or b""
        elif kind == "list":
            value = b"\n".join(client.lrange(key, 0, -1))
        elif kind == "hash":
            value = b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
        elif kind == "set":
            value = b"\n".join(client.smembers(key))
        elif kind == "zset":
            value = b"\n".join(client.zrange(key, 0, -1))
        else:
            value = b""
        out.append((key.decode("utf-8", "replace"), value))
    return out


def pg_dump() -> str:
    settings = connection.settings_dict
    result = subprocess.run(  # noqa: S603 - the PostgreSQL client tool on the test database
        [
            shutil.which("pg_dump") or "pg_dump",
            "--no-owner",
            "-h",
            settings["HOST"] or "127.0.0.1",
            "-p",
            str(settings["PORT"] or 5432),
            "-U",
            settings["USER"] or "postgres",
            settings["NAME"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={"PGPASSWORD": settings["PASSWORD"] or ""},
    )
    return result.stdout


@pytest.fixture
def redis_url(settings):
    """This test's caches on Redis (the http cache keeps upstream pages there), so the search covers them."""
    url = settings.REDIS_URL
    if not url:
        pytest.fail("the secrets canary searches Redis: run with REDIS_URL set")
    prefix = f"canary-{RUN}"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix},
        "http": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"{prefix}-http",
        },
    }
    return url


def test_no_canary_token_appears_anywhere_and_the_stored_one_only_as_ciphertext(  # noqa: PLR0915
    # Mail first: the world's campaign launch hands its mails to the task on commit, and they must reach this
    # SMTP server in this process, whatever task mode an earlier test left (else they'd be sent elsewhere first).
    smtp,  # noqa: F811
    smtp_settings,  # noqa: F811
    eager_celery,  # noqa: F811
    world,  # noqa: F811
    github_sim,
    gitlab_sim,
    redis_url,
    settings,
    monkeypatch,
    tmp_path,
    caplog,
    capfd,
    user_password,
):
    """ASVS 5.0 V13.3.1, V14.2.2, V14.2.4, V14.2.6, V16.2.5: zero hits for every canary, in every channel."""
    haystack = Haystacks()
    for name in [None, *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    settings.SECRETS_KEYS = [Fernet.generate_key().decode()]

    # --- connectors: env (world's "gh"), stored, file, refused by the upstream (401), upstream failing (500)
    assert world["connector"].secrets == {"token": "env:UI_GH_TOKEN"} and github_sim.token == CANARY_ENV
    stored = github_stored(github_sim)
    token_file = tmp_path / "gitlab-token"
    token_file.write_text(CANARY_FILE + "\n")
    gitlab = add("gl-file", "gitlab", gitlab_sim.url, {"group": ["acme"]}, f"file:{token_file}")
    monkeypatch.setenv("GH_REFUSED_TOKEN", CANARY_REFUSED)
    refused = add("gh-refused", "github", github_sim.url, {"org": "acme"}, "env:GH_REFUSED_TOKEN")
    failing = add("gl-500", "gitlab", gitlab_sim.url, {"group": ["acme"]}, f"file:{token_file}")
    assert sync(world["connector"]).status == SyncStatus.SUCCEEDED
    assert sync(stored).status == SyncStatus.SUCCEEDED
    assert sync(gitlab).status == SyncStatus.SUCCEEDED
    assert "401" in (sync(refused).error or "")
    gitlab_sim.add_fault(ERROR, "*", status=500, times=None)
    assert sync(failing).status == SyncStatus.FAILED
    gitlab_sim.clear_faults()
    # A task whose connector raises an unexpected exception mid-sync (a forced failure in the worker's code path).
    with monkeypatch.context() as patch:
        patch.setattr(GitHubConnector, "fetch", _raise)
        sync_connector.apply(args=(stored.pk,))

    # A real worker process syncs the stored-token connector and the env one: its log (at DEBUG) is searched too.
    worker_env = {
        "PIPEACCESS_SECRETS_KEYS": settings.SECRETS_KEYS[0],
        "UI_GH_TOKEN": CANARY_ENV,
        "LOG_LEVEL": "DEBUG",
        "AUDIT_KEY": settings.AUDIT_KEY or "",
        "AUDIT_KEY_PATH": str(settings.AUDIT_KEY_PATH),
    }
    with celery_workers(1, tmp_path, worker_env, prefix="test-canary") as workers:
        previous, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False
        try:
            for connector in (stored, world["connector"]):
                summary = sync_connector.delay(connector.pk, trigger="manual").get(timeout=120)
                assert "succeeded" in summary, (summary, workers.logs())
        finally:
            celery_app.conf.task_always_eager = previous
    with workers.members[0].log.open("a") as worker_log:
        worker_log.write(f"planted {PLANTED}\n")  # the sanity check's plant, after the worker stopped
    haystack.add("worker logs", "celery worker", workers.logs())

    # --- planted where every search looks (sanity: the searches find what is there)
    Account.objects.filter(pk=world["account"].pk).update(login=PLANTED, name=PLANTED)
    logging.getLogger("connectors").debug("planted %s", PLANTED)
    caches["default"].set("planted", PLANTED)

    # --- mails, over SMTP through the mail task, run in this process as the commit hands it over
    celery_app.conf.task_always_eager = True
    with transaction.atomic():
        queued = emails.queue_launch(world["campaign"])
    django_mail.send_mail("planted", PLANTED, "pipeaccess@example.com", ["sec1@example.com"])
    messages = smtp.wait_for(len(queued) + 1, timeout=30, settle=0.2)
    assert queued and len(messages) == len(queued) + 1, "the campaign's mails did not arrive"
    for message in messages:
        haystack.add("mails", message["Subject"] or "", message.as_bytes())

    # --- crawl: every page and endpoint, as each role; error paths
    clients = {}
    for role in ROLES:
        clients[role] = Client(raise_request_exception=False)
        if role == "security":
            sign_in(clients[role], world["users"][role], user_password)
        else:
            clients[role].force_login(world["users"][role])
    routes = matrix_routes()
    for role, client in clients.items():
        for name, pattern in routes:
            fetch(haystack, client, role, "get", url_for(name, pattern, world))
        for connector in (stored, gitlab, refused, failing):
            for view in ("connectors:detail", "connectors:edit"):
                fetch(haystack, client, role, "get", reverse(view, kwargs={"name": connector.name}))
            for run in connector.runs.all():
                url = reverse("connectors:run", kwargs={"name": connector.name, "run_id": run.pk})
                fetch(haystack, client, role, "get", url)
            fetch(haystack, client, role, "get", reverse("api:connector-detail", kwargs={"pk": connector.pk}))
        missing_api = reverse("api:connector-detail", kwargs={"pk": 999_999})
        for missing in ("/connectors/no-such-connector/", missing_api, "/no-such-page/"):
            expected = 404 if role != "reviewer_b" or missing == "/no-such-page/" else 403
            assert fetch(haystack, client, role, "get", missing) == expected, (role, missing)
    security = clients["security"]
    form = {"base_url": github_sim.url, "options": "org=acme\nallow_private_network=true", "secrets": ""}
    # An invalid form with a pasted token, a connection test with a pasted token, and the refused connector's test.
    invalid = {"name": "bad name", "kind": "github", **form, "token": CANARY_STORED}
    assert fetch(haystack, security, "security", "post", reverse("connectors:add"), invalid) == 200
    fetch(haystack, security, "security", "post", reverse("connectors:test"), {**invalid, "name": "t"})
    refused_form = {**form, "secrets": "token=env:GH_REFUSED_TOKEN"}
    url = reverse("connectors:test_existing", kwargs={"name": "gh-refused"})
    fetch(haystack, security, "security", "post", url, refused_form, HTTP_HX_REQUEST="true")
    assert "401" in haystack.items[-1][2]
    gitlab_sim.add_fault(ERROR, "*", status=500, times=None)
    gitlab_form = {"base_url": gitlab_sim.url, "options": "group=acme\nallow_private_network=true"}
    gitlab_form["secrets"] = f"token=file:{token_file}"
    url = reverse("connectors:test_existing", kwargs={"name": "gl-500"})
    fetch(haystack, security, "security", "post", url, gitlab_form, HTTP_HX_REQUEST="true")
    assert "500" in haystack.items[-1][2]
    # An exception forced inside a view, while the connector's token is in memory: a 500 page.
    with monkeypatch.context() as patch:
        patch.setattr(GitHubConnector, "test", _raise)
        url = reverse("connectors:test_existing", kwargs={"name": "gh-stored"})
        assert fetch(haystack, security, "security", "post", url, form) == 500

    # --- exports, and the evidence package of the campaign once closed
    campaigns.close(world["campaign"])
    evidence_url = reverse("reports:campaign_evidence", kwargs={"pk": world["campaign"].pk})
    assert fetch(haystack, security, "security", "get", evidence_url) == 200
    evidence_file = tmp_path / "evidence.zip"
    result = manage("report", "evidence", str(world["campaign"].pk), "--output", str(evidence_file))
    assert result.returncode == 0, result.stderr
    haystack.add("exports", "report evidence", evidence_file.read_bytes())
    assert any(where.startswith("report evidence!") for _, where, _ in haystack.items), "the zip was not unpacked"
    for args in (
        ("access", "export", "--format", "jsonl"),
        ("access", "export", "--format", "csv", "--as-granted"),
        ("audit", "export", "--format", "jsonl"),
        ("connector", "list", "--format", "json"),
        ("report", "campaign", str(world["campaign"].pk), "--format", "json"),
    ):
        result = manage(*args)
        assert result.returncode == 0, (args, result.stderr)
        haystack.add("exports", " ".join(args), result.stdout + result.stderr)

    # --- logs, Redis, the database
    for record in caplog.records:
        haystack.add("logs", record.name, caplog.handler.format(record))
    captured = capfd.readouterr()
    haystack.add("logs", "stdout/stderr", captured.out + captured.err)
    stored_in_redis = redis_contents(redis_url)
    # The upstream pages the syncs cached are among what is searched.
    assert any(key.startswith(f"canary-{RUN}-http") for key, _ in stored_in_redis)
    for key, value in stored_in_redis:
        haystack.add("redis", key, key.encode() + b"\n" + value)
    dump = pg_dump()
    haystack.add("database", "pg_dump", dump)

    assert haystack.channels() == {"responses", "mails", "exports", "logs", "worker logs", "redis", "database"}
    found = {channel for channel, _ in haystack.hits(PLANTED)}
    assert found == haystack.channels(), f"the planted canary was not found in {haystack.channels() - found}"
    leaks = {canary: haystack.hits(canary) for canary in CANARIES}
    assert not any(leaks.values()), json.dumps(leaks, indent=1)
    # The stored canary is in the dump as ciphertext, which the configured key turns back into the token.
    ciphertext = StoredSecret.objects.get(connector=stored).ciphertext
    assert ciphertext in dump
    assert Fernet(settings.SECRETS_KEYS[0].encode()).decrypt(ciphertext.encode()).decode() == CANARY_STORED


def _raise(self, *args, **kwargs):
    raise RuntimeError("forced failure inside the connector")
