"""sync [NAME ...] [--all]: exit 0 all applied, 1 any failed, 3 any held (CONTRACT.md)."""

from django.core.management.base import BaseCommand, CommandError

from connectors.choices import SyncStatus
from connectors.models import Connector
from connectors.sync import AlreadyRunning, run_sync, summary


class Command(BaseCommand):
    help = "Sync connectors now, in this process."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", metavar="NAME")
        parser.add_argument("--all", action="store_true", help="every enabled connector")

    def handle(self, *args, names, all, **options):
        if bool(names) == bool(all):
            raise CommandError("name connectors to sync, or pass --all", returncode=2)
        if all:
            connectors = list(Connector.objects.filter(enabled=True))
        else:
            found = {c.name: c for c in Connector.objects.filter(name__in=names)}
            missing = [n for n in names if n not in found]
            if missing:
                raise CommandError(f"no connector named {', '.join(missing)}")
            connectors = [found[n] for n in names]
        failed = held = False
        for connector in connectors:
            try:
                run = run_sync(connector, trigger="cli")
            except AlreadyRunning as exc:
                self.stderr.write(str(exc))
                failed = True
                continue
            self.stdout.write(summary(run))
            if run.status == SyncStatus.FAILED:
                self.stderr.write(f"{connector.name}: sync failed: {run.error}")
                failed = True
            elif run.status == SyncStatus.HELD:
                self.stderr.write(
                    f"{connector.name}: run {run.pk} would remove {run.counts['removed']} of "
                    f"{run.counts['current_before']} grants and is held; the previous state stays current until "
                    f"the security role confirms it (manage.py syncrun confirm {run.pk})"
                )
                held = True
        if failed:
            raise CommandError("some syncs failed")
        if held:
            raise SystemExit(3)
