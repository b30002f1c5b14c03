"""Run manage.py as scripts do: a real process against the test database, with its exit code."""

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_env() -> dict[str, str]:
    """Point a child process at the database this test uses (the test database, not the dev one)."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        url = (
            f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
        )
        return {"DATABASE_URL": f"{url}/{settings['NAME']}"}
    return {"SQLITE_PATH": str(settings["NAME"]), "DATABASE_URL": ""}


def manage(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    child_env = {**os.environ, **database_env(), **(env or {})}
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
