"""syncrun list|confirm|discard: decide on runs held by the removal threshold (security role)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from connectors.models import SyncRun
from connectors.sync import confirm_held, discard_held
from pipeaccess.roles import SECURITY, roles_of


class Command(BaseCommand):
    help = "List sync runs; confirm or discard a held run."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list")
        listing.add_argument("--connector")
        listing.add_argument("--status")
        for name in ("confirm", "discard"):
            p = sub.add_parser(name)
            p.add_argument("run", type=int)
            p.add_argument("--user", required=True, metavar="EMAIL", help="the security-role user deciding")

    def handle(self, *args, action, **options):
        if action == "list":
            runs = SyncRun.objects.select_related("connector")
            if options["connector"]:
                runs = runs.filter(connector__name=options["connector"])
            if options["status"]:
                runs = runs.filter(status=options["status"])
            for run in runs[:100]:
                c = run.counts
                self.stdout.write(
                    f"{run.pk}\t{run.connector.name}\t{run.status}\t{run.started_at:%Y-%m-%d %H:%M:%S}\t"
                    f"+{c.get('added', 0)} -{c.get('removed', 0)} ~{c.get('changed', 0)}\t{run.error[:80]}"
                )
            return
        user = get_user_model().objects.filter(email__iexact=options["user"]).first()
        if user is None or SECURITY not in roles_of(user):
            raise CommandError(f"{options['user']} is not a user with the security role")
        try:
            run = SyncRun.objects.get(pk=options["run"])
            done = confirm_held(run, actor=user) if action == "confirm" else discard_held(run, actor=user)
        except SyncRun.DoesNotExist:
            raise CommandError(f"no sync run {options['run']}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"run {done.pk} {done.status}")
