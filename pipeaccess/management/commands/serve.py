"""make run: migrate, then run the web server, a Celery worker and beat until Ctrl-C or SIGTERM.

For one machine and local use: the web process is Django's development server. A
deployment runs the three as separate services (a WSGI server, `celery worker`,
`celery beat`) under its own supervisor. `demo` starts the same three after its set-up.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# How long each child gets to finish after SIGTERM (a worker completes its running task) before it is killed.
STOP_TIMEOUT_SECONDS = 15
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ChildExited(Exception):
    def __init__(self, name: str, status: int):
        super().__init__(f"{name} exited with status {status}, so everything was stopped")


@contextmanager
def interrupted_by_signals():
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so every way of stopping runs the same cleanup.

    Without this a SIGTERM (from `kill`, or from make passing it on) ends the process at
    once and leaves its children running.
    """

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_deferred():
    """Hold Ctrl-C and SIGTERM until the block is done (for short steps that must not stop half-way).

    A signal that arrives meanwhile is raised as KeyboardInterrupt when the block ends.
    """
    received = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise KeyboardInterrupt


class Processes:
    """Child processes started together and stopped together, the last started first.

    Each child runs in a session of its own: Ctrl-C reaches only this process, which
    stops the children in order (the web server and beat before the worker, the worker
    before the simulator it may be syncing from), and a child that will not stop is
    killed with everything it started (the worker's pool processes).
    """

    def __init__(self, stderr):
        self.stderr = stderr
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        with signals_deferred():  # a child started but not yet recorded would never be stopped
            process = subprocess.Popen(  # noqa: S603 - our own interpreter, with arguments we build
                [sys.executable, *args], cwd=settings.BASE_DIR, start_new_session=True
            )
            self.children.append((name, process))
        return process

    def wait(self) -> None:
        """Block until a child exits, then raise ChildExited; Ctrl-C or SIGTERM raise KeyboardInterrupt."""
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise ChildExited(name, process.returncode)
            time.sleep(0.5)

    def stop(self) -> None:
        # A second Ctrl-C must not abandon the children half-way; a stuck one is killed after the timeout.
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
        try:
            for name, process in reversed(self.children):
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=STOP_TIMEOUT_SECONDS)
                    except subprocess.TimeoutExpired:
                        self.stderr.write(f"{name} did not stop within {STOP_TIMEOUT_SECONDS} s; killing it")
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
            self.children.clear()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def listening(port: int) -> bool:
    """Whether something already accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_services(processes: Processes, *, port: int) -> None:
    """The web server (on 127.0.0.1), one Celery worker and beat: everything PipeAccess runs."""
    address = f"127.0.0.1:{port}"
    processes.start("web server", str(settings.BASE_DIR / "manage.py"), "runserver", address, "--noreload")
    processes.start("worker", "-m", "celery", "-A", "pipeaccess", "worker", "--loglevel", "INFO", "--concurrency", "2")
    processes.start("beat", "-m", "celery", "-A", "pipeaccess", "beat", "--loglevel", "INFO")


class Command(BaseCommand):
    help = "Migrate, then run the web server, a Celery worker and beat until Ctrl-C (local use)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web server port (on 127.0.0.1)")

    def handle(self, *args, port, **options):
        with interrupted_by_signals(), Processes(self.stderr) as processes:
            if listening(port):
                raise CommandError(f"port {port} is in use; choose another with --port")
            try:
                call_command("migrate", interactive=False, verbosity=0)
                start_services(processes, port=port)
                self.stdout.write(self.style.SUCCESS(f"PipeAccess on http://127.0.0.1:{port}/ — Ctrl-C stops it"))
                processes.wait()
            except ChildExited as exc:
                raise CommandError(str(exc)) from None
            except KeyboardInterrupt:
                self.stdout.write("Stopping web server, worker and beat…")
