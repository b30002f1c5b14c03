"""access export (CONTRACT.md): effective access, or recorded grants with --as-granted; rows stream."""

import csv
import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware

from connectors import export
from connectors.models import Connector


class Command(BaseCommand):
    help = "Export who can access what."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ex = sub.add_parser("export", help="write access rows as JSON lines or CSV")
        ex.add_argument("--connector")
        ex.add_argument("--person", metavar="EMAIL")
        ex.add_argument("--resource", metavar="CONNECTOR:PATH")
        ex.add_argument("--at", metavar="ISO8601")
        ex.add_argument("--as-granted", action="store_true")
        ex.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        ex.add_argument("--output", metavar="FILE")

    def handle(self, *args, action, connector, person, resource, at, as_granted, format, output, **options):
        when = None
        if at:
            when = parse_datetime(at)
            if when is None:
                raise CommandError(f"--at {at!r} is not an ISO 8601 date-time", returncode=2)
            if is_naive(when):
                when = make_aware(when, UTC)
        connectors = Connector.objects.all()
        resource_path = None
        if resource:
            name, sep, resource_path = resource.partition(":")
            if not sep or not resource_path:
                raise CommandError("--resource takes CONNECTOR:PATH", returncode=2)
            if connector and connector != name:
                raise CommandError("--resource names another connector than --connector", returncode=2)
            connector = name
        if connector:
            connectors = connectors.filter(name=connector)
            if not connectors.exists():
                raise CommandError(f"no connector named {connector}")
        filters = export.Filters(at=when, person=person, resource_path=resource_path)
        rows = export.rows(list(connectors), filters, as_granted=as_granted)
        stream = open(output, "w", newline="", encoding="utf-8") if output else self.stdout  # noqa: SIM115
        try:
            if format == "jsonl":
                for row in rows:
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                writer = csv.DictWriter(stream, fieldnames=export.CSV_FIELDS, extrasaction="ignore")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: export.csv_safe(v) for k, v in export.flat(row).items()})
        finally:
            if output:
                stream.close()
