"""make demo: a running PipeAccess against a simulated GitHub org, on the embedded default.

Starts the GitHub simulator, registers a connector for it, syncs, creates one
user per role (printing fresh passwords), then runs the web server, a Celery
worker and beat until interrupted.
"""

import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from connectors.actions import do_add_connector
from connectors.models import Connector
from connectors.sync import run_sync
from pipeaccess.roles import AUDITOR, REVIEWER, SECURITY, create_user, set_roles

DEMO_USERS = [("security@demo.test", SECURITY), ("reviewer@demo.test", REVIEWER), ("auditor@demo.test", AUDITOR)]


class Command(BaseCommand):
    help = "Set up demo data against the simulators and run web, worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web port")
        parser.add_argument("--simulator-port", type=int, default=8111)
        parser.add_argument("--no-serve", action="store_true", help="set up and sync, then exit")

    def handle(self, *args, port, simulator_port, no_serve, **options):
        call_command("migrate", verbosity=0)
        demo_dir = Path(settings.VAR_DIR) / "demo"
        demo_dir.mkdir(parents=True, exist_ok=True)
        token_file = demo_dir / "github-token"
        processes: list[subprocess.Popen] = []
        python = sys.executable
        try:
            processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    [
                        python,
                        "-m",
                        "connectors.simulators",
                        "github",
                        "--port",
                        str(simulator_port),
                        "--seed",
                        "7",
                        "--members",
                        "60",
                        "--repos",
                        "40",
                        "--teams",
                        "12",
                        "--token-file",
                        str(token_file),
                    ],
                )
            )
            _wait_for_port(simulator_port, processes[-1])
            connector = self._connector(simulator_port, token_file)
            run = run_sync(connector, trigger="demo")
            self.stdout.write(f"demo sync: run {run.pk} {run.status} {run.counts} {run.error}")
            self._users()
            if no_serve:
                return
            processes += [
                subprocess.Popen([python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]),  # noqa: S603
                subprocess.Popen([python, "-m", "celery", "-A", "pipeaccess", "worker", "-l", "INFO", "-c", "2"]),  # noqa: S603
                subprocess.Popen([python, "-m", "celery", "-A", "pipeaccess", "beat", "-l", "INFO"]),  # noqa: S603
            ]
            self.stdout.write(self.style.SUCCESS(f"PipeAccess demo on http://127.0.0.1:{port}/ — Ctrl-C stops it"))
            _wait(processes)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _connector(self, simulator_port: int, token_file: Path) -> Connector:
        connector = Connector.objects.filter(name="demo-github").first()
        if connector is None:
            connector = do_add_connector(
                name="demo-github",
                kind="github",
                base_url=f"http://127.0.0.1:{simulator_port}",
                options={"org": "acme", "allow_private_network": "true"},
                secrets={"token": f"file:{token_file}"},
            )
        Connector.objects.filter(pk=connector.pk).update(sync_interval=timedelta(minutes=15))
        return connector

    def _users(self) -> None:
        self.stdout.write("Demo users (passwords are new on every start):")
        User = get_user_model()
        for email, role in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            user = User.objects.filter(username=email).first()
            if user is None:
                create_user(email, roles=[role], password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
                set_roles(user, [role])
            self.stdout.write(f"  {role:9} {email}  {password}")


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError("the GitHub simulator exited; is the port in use?")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise CommandError(f"the GitHub simulator did not listen on port {port}")


def _wait(processes: list[subprocess.Popen]) -> None:
    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop["now"] and all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
