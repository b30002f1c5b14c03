"""Private PostgreSQL clusters and Redis servers for tests that kill, stop or restart them.

The machine's shared PostgreSQL (5432) and Redis (6379) serve every other test run: a test that takes a server
down starts its own, on a free loopback port in a temporary directory, and removes it afterwards.

    with PrivatePostgres() as cluster:                 # initdb + start, trust auth for "postgres"
        url = cluster.create_database("pipeaccess")    # postgres://postgres@127.0.0.1:<port>/pipeaccess
        migrate(url)                                   # manage.py migrate in a child process
        cluster.stop("immediate")                      # a crash: no checkpoint, connections cut
        cluster.start()                                # crash recovery, same port and data

    with PrivateRedis(tmp_path, persistence="aof") as server:
        server.kill()                                  # SIGKILL
        server.start()                                 # with its data (aof) or empty (none)

The pytest fixtures ``private_postgres`` and ``private_redis`` wrap the same classes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

from tests.cli import ROOT

START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<version>/bin)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.fail("no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql")
    return Path(initdb).parent


class PrivatePostgres:
    """A PostgreSQL cluster of its own: trust authentication for ``postgres``, on 127.0.0.1 and a free port.

    initdb refuses to run as root, so as root the cluster runs as the ``postgres`` system user (in a directory
    it owns). Durability settings are the defaults except fsync: an immediate stop is a crash of the server
    process, not of the machine, so committed data still survives it.
    """

    def __init__(self, *, max_connections: int = 200):
        self.bin = _postgres_bin()
        self.directory = Path(tempfile.mkdtemp(prefix="pipeaccess-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.max_connections = max_connections
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            shutil.chown(self.directory, user=self._user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(  # noqa: S603 - PostgreSQL's own tools with fixed arguments
            [str(self.bin / tool), *args],
            user=self._user,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT * 2,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"{tool} {' '.join(args)} failed:\n{result.stdout}{result.stderr}\n{self.log_text()}")
        return result

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.directory}",
                f"-c max_connections={self.max_connections}",
                "-c fsync=off",
            ]
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", str(START_TIMEOUT), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast``: roll back and disconnect, then a clean shutdown. ``immediate``: quit at once, as in a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        result = subprocess.run(  # noqa: S603 - PostgreSQL's own tool
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            user=self._user,
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)

    def query(self, sql: str, params=(), *, database: str = "postgres") -> list[tuple]:
        with self.connect(database) as conn:
            return conn.execute(sql, params).fetchall()

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # nosec B608 # a name chosen by the test
        return self.url(name)

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def migrate(database_url: str, env: dict[str, str] | None = None) -> None:
    """``manage.py migrate`` against ``database_url`` in a child process (this process keeps its test database)."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"migrate failed:\n{result.stdout}{result.stderr}")


REDIS_PERSISTENCE = {
    # Nothing written to disk: a restart starts empty (the machine's Redis in CI runs like this).
    "none": ["--save", "", "--appendonly", "no"],
    # Every write appended and fsynced before the reply: a SIGKILL loses nothing acknowledged.
    "aof": ["--save", "", "--appendonly", "yes", "--appendfsync", "always"],
    # Snapshots only (every second with a change): a SIGKILL loses what came after the last one.
    "rdb": ["--save", "1 1", "--appendonly", "no"],
}


class PrivateRedis:
    """A redis-server of its own on a free loopback port, with its data (if any) under ``directory``."""

    def __init__(self, directory: Path, *, persistence: str = "none"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.arguments = REDIS_PERSISTENCE[persistence]
        self.persistence = persistence
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = self.directory / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the redis-server binary with fixed arguments
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.directory),
                    *self.arguments,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if self.client().ping():
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"redis-server did not start:\n{self.log.read_text(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL: no shutdown save, whatever the persistence."""
        self.process.kill()
        self.process.wait(timeout=10)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.running():
            self.kill()


@pytest.fixture
def private_postgres():
    """A started private PostgreSQL cluster, removed after the test."""
    with PrivatePostgres() as cluster:
        yield cluster


@pytest.fixture
def private_redis(tmp_path):
    """A started private redis-server without persistence, killed after the test."""
    with PrivateRedis(tmp_path / "redis") as server:
        yield server
