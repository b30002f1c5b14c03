"""make demo: a running PipeAccess against simulated upstreams, on the embedded defaults.

Starts the simulators (a GitHub organization, a Harbor registry, a Docker Hub
organization, a GitLab group, a Jenkins controller), registers a connector for each, syncs them, creates one user
per role (printing fresh passwords), then runs the web server, a Celery worker
and beat (as `serve` does) until Ctrl-C or SIGTERM, and stops them all.
"""

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connectors.actions import do_add_connector
from connectors.choices import SyncStatus
from connectors.models import Connector, CorrelationRule, Identity
from connectors.owners import set_fallback
from connectors.people import import_roster
from connectors.sync import run_sync, summary
from pipeaccess.demo import roster as demo_roster
from pipeaccess.roles import AUDITOR, REVIEWER, SECURITY, create_user, set_roles
from reviews import campaigns
from reviews.choices import CampaignState
from reviews.models import Campaign, CampaignTemplate

from .serve import ChildExited, Processes, interrupted_by_signals, listening, signals_deferred, start_services


@dataclass(frozen=True)
class DemoSystem:
    """One simulated upstream: how to start its simulator and how to connect to it."""

    connector: str
    kind: str
    simulator_args: tuple[str, ...]
    secret_flag: str  # the simulator flag that writes the credential to a file
    options: dict = field(default_factory=dict)


DEMO_SYSTEMS = [
    DemoSystem(
        "demo-github",
        "github",
        ("--seed", "7", "--members", "60", "--repos", "40", "--teams", "12", "--saml"),
        "--token-file",
        {"org": "acme", "saml": "true"},
    ),
    DemoSystem("demo-harbor", "harbor", ("--seed", "7"), "--password-file", {"username": "admin"}),
    DemoSystem(
        "demo-dockerhub", "dockerhub", ("--seed", "7"), "--token-file", {"org": "acme", "username": "acmeowner"}
    ),
    DemoSystem("demo-gitlab", "gitlab", ("--seed", "7"), "--token-file", {"group": ["acme"]}),
    DemoSystem("demo-jenkins", "jenkins", ("--seed", "7"), "--token-file", {"username": "admin"}),
]
# The demo reviewer is the Platform department head of the demo roster (the open campaign routes items to them).
DEMO_USERS = [("security@demo.test", SECURITY), ("auditor@demo.test", AUDITOR)]
DEMO_TEMPLATES = Path(__file__).resolve().parents[2] / "demo" / "templates.yaml"
SIMULATOR_START_SECONDS = 30


class Command(BaseCommand):
    help = "Set up demo data against the simulators, then run web, worker and beat until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web server port (on 127.0.0.1)")
        parser.add_argument(
            "--simulator-port", type=int, default=8111, help="first simulator port; the others take the next ports"
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="set up and sync, then stop the simulators and exit"
        )

    def handle(self, *args, port, simulator_port, no_serve, **options):
        with interrupted_by_signals(), Processes(self.stderr) as processes:
            try:
                self._run(processes, port=port, simulator_port=simulator_port, serve=not no_serve)
            except ChildExited as exc:
                raise CommandError(str(exc)) from None
            except KeyboardInterrupt:
                self.stdout.write("Stopping the demo…")

    def _run(self, processes: Processes, *, port: int, simulator_port: int, serve: bool) -> None:
        for taken, option in ((port, "--port"), (simulator_port, "--simulator-port")):
            if listening(taken):
                raise CommandError(f"port {taken} is in use (another demo?); choose another with {option}")
        call_command("migrate", interactive=False, verbosity=0)
        for offset, system in enumerate(DEMO_SYSTEMS):
            sim_port = simulator_port + offset
            if offset and listening(sim_port):
                raise CommandError(f"port {sim_port} is in use (another demo?); choose another --simulator-port")
            secret_file = Path(settings.VAR_DIR) / "demo" / f"{system.kind}-secret"
            simulator = processes.start(
                f"{system.kind} simulator",
                "-m",
                "connectors.simulators",
                system.kind,
                "--port",
                str(sim_port),
                *system.simulator_args,
                system.secret_flag,
                str(secret_file),
            )
            _wait_for_port(sim_port, simulator, system.kind)
            connector = self._connector(system, sim_port, secret_file)
            # Not interruptible: a sync stopped half-way keeps its claim until it goes stale,
            # and the next `make demo` would find the connector "already running".
            with signals_deferred():
                run = run_sync(connector, trigger="demo")
            self.stdout.write(f"Demo sync: {summary(run)}")
            if run.status != SyncStatus.SUCCEEDED:
                raise CommandError(f"the demo sync of {system.connector} did not succeed: {run.error or run.status}")
        self._people()
        self._users()
        self._campaigns()
        if not serve:
            return
        start_services(processes, port=port)
        self.stdout.write(self.style.SUCCESS(f"PipeAccess demo on http://127.0.0.1:{port}/ — Ctrl-C stops it"))
        processes.wait()

    def _connector(self, system: DemoSystem, simulator_port: int, secret_file: Path) -> Connector:
        base_url = f"http://127.0.0.1:{simulator_port}"
        connector = Connector.objects.filter(name=system.connector).first()
        if connector is None:
            connector = do_add_connector(
                name=system.connector,
                kind=system.kind,
                base_url=base_url,
                options={**system.options, "allow_private_network": "true"},
                secrets={"token": f"file:{secret_file}"},
            )
        # Beat's dispatcher syncs it every 15 minutes; the port may differ from the last demo.
        Connector.objects.filter(pk=connector.pk).update(
            base_url=base_url,
            sync_interval=timedelta(minutes=15),
            options={**connector.options, **system.options, "allow_private_network": "true"},
        )
        connector.refresh_from_db()
        return connector

    def _people(self) -> None:
        """The demo HR roster (people with managers for the demo systems' accounts), correlation rules, fallbacks."""
        with transaction.atomic():
            jenkins = Connector.objects.get(name="demo-jenkins")
            # Jenkins logs in with LDAP uids; the roster lists each person's LDAP mail alias.
            CorrelationRule.objects.get_or_create(connector=jenkins, kind=CorrelationRule.Kind.EMAIL_LOCAL_PART)
        persons = demo_roster.people(demo_roster.generated_orgs(DEMO_SYSTEMS))
        path = Path(settings.VAR_DIR) / "demo" / "roster.csv"
        path.write_text(demo_roster.roster_csv(persons), encoding="utf-8")
        report = import_roster(path.read_text(encoding="utf-8"), actor_label="demo")
        platform = Identity.objects.get(email=persons[1].email)
        self.reviewer = platform.email
        for name in ("demo-github", "demo-harbor"):
            set_fallback(Connector.objects.get(name=name), platform, actor=None, actor_label="demo")
        c = report.correlation
        self.stdout.write(
            f"Demo roster {path}: {len(persons)} people; {c.get('accounts', 0)} human accounts, "
            f"{c.get('orphans', 0)} without a person, {c.get('conflicts', 0)} conflict(s) (manage.py people conflicts)"
        )

    def _campaigns(self) -> None:
        """The demo templates, GitHub revocations switched on (the others stay dry runs), one open campaign."""
        Identity.objects.get_or_create(
            email="security@demo.test", defaults={"name": "Demo Security", "source": "manual"}
        )
        with open(DEMO_TEMPLATES, encoding="utf-8") as fh:
            campaigns.apply_templates(list(yaml.safe_load_all(fh)))
        Connector.objects.filter(name="demo-github").update(dry_run=False)
        if not Campaign.objects.filter(state=CampaignState.OPEN).exists():
            campaign = campaigns.launch(CampaignTemplate.objects.get(name="quarterly-pipeline"))
            reviewer = self.reviewer
            mine = campaign.items.filter(reviewer__email=reviewer).count()
            self.stdout.write(f"Demo campaign {campaign.pk}: {campaign.items.count()} items, {mine} for {reviewer}")

    def _users(self) -> None:
        self.stdout.write("Demo users (passwords are new on every start):")
        User = get_user_model()
        for email, role in [*DEMO_USERS, (self.reviewer, REVIEWER)]:
            password = secrets.token_urlsafe(12)
            user = User.objects.filter(username=email).first()
            if user is None:
                create_user(email, roles=[role], password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
                set_roles(user, [role])
            self.stdout.write(f"  {role:9} {email}  {password}")
        if settings.SECURITY_REQUIRES_MFA:
            # No TOTP secret printed here: in the same scrollback as the password it would not be a second factor.
            self.stdout.write(
                "  The security user sets up an authenticator app at first sign-in (the role requires it); "
                "it is kept across restarts."
            )


def _wait_for_port(port: int, process, kind: str, timeout: float = SIMULATOR_START_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the {kind} simulator exited; is port {port} in use?")
        if listening(port):
            return
        time.sleep(0.2)
    raise CommandError(f"the {kind} simulator did not listen on port {port} within {timeout:.0f} s")
