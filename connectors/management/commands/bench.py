"""bench: the GitHub foundation benchmark (connectors/bench.py); `make bench` runs it on PostgreSQL."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from connectors import bench


class Command(BaseCommand):
    help = "Sync a simulated GitHub org and print requests, re-sync 304s, ingest rate and peak memory."

    def add_arguments(self, parser):
        default = bench.FOUNDATION
        parser.add_argument("--small", action="store_true", help="a tenth of the size: a quick check")
        parser.add_argument("--members", type=int, default=None, help=f"default {default.members:,}")
        parser.add_argument("--repos", type=int, default=None, help=f"default {default.repos:,}")
        parser.add_argument("--teams", type=int, default=None, help=f"default {default.teams:,}")
        parser.add_argument("--outside-collaborators", type=int, default=None)
        parser.add_argument(
            "--seed", type=int, default=None, help="the org's seed (its base permission must not be none)"
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=Path(settings.VAR_DIR) / "bench" / "github-foundation.json",
            help="where the JSON report goes",
        )

    def handle(self, *args, small, output, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "the bench needs PostgreSQL (it compares with COPY): set DATABASE_URL=postgres://…, "
                "or run `make bench`, which defaults to postgres://postgres@127.0.0.1:5432/pipeaccess_bench"
            )
        preset = bench.SMALL if small else bench.FOUNDATION
        size = bench.Size(
            **{
                field: options[field] if options[field] is not None else getattr(preset, field)
                for field in ("members", "repos", "teams", "outside_collaborators", "seed")
            }
        )
        try:
            if bench.ensure_postgres_database(connection.settings_dict):
                self.stderr.write(f"created database {connection.settings_dict['NAME']}")
            call_command("migrate", interactive=False, verbosity=0)
            report = bench.run(size, workdir=output.parent, say=self.stderr.write)
        except bench.BenchError as exc:
            raise CommandError(str(exc)) from None
        bench.write_json(report, output)
        self.stdout.write(bench.render(report))
        self.stdout.write(f"JSON report: {output}")
