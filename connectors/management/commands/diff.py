"""diff NAME [--from RUN_ID] [--to RUN_ID] [--format text|json] (CONTRACT.md)."""

import json

from django.core.management.base import BaseCommand, CommandError

from connectors import diff as inventory_diff
from connectors.models import Connector


class Command(BaseCommand):
    help = "Grants added, removed and changed between two successful syncs (default: the last two)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--from", dest="from_run", type=int)
        parser.add_argument("--to", dest="to_run", type=int)
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, name, from_run, to_run, format, **options):
        try:
            connector = Connector.objects.get(name=name)
        except Connector.DoesNotExist:
            raise CommandError(f"no connector named {name}") from None
        applied = inventory_diff.applied_runs(connector)
        try:
            default_from, default_to = inventory_diff.default_runs(connector)
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        start = _run(applied, from_run, "--from") if from_run else default_from
        end = _run(applied, to_run, "--to") if to_run else default_to
        if from_run and not to_run and start.applied_at >= end.applied_at:
            raise CommandError(f"run {from_run} is the latest successful run; nothing after it")
        if start and start.applied_at > end.applied_at:
            raise CommandError("--from must be a run before --to")
        result = inventory_diff.diff(connector, start, end)
        if format == "json":
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(
            f"{connector.name}: run {result['from_run']} -> run {result['to_run']}: "
            f"{len(result['added'])} added, {len(result['removed'])} removed, {len(result['changed'])} changed"
        )
        for sign, rows in (("+", result["added"]), ("-", result["removed"]), ("~", result["changed"])):
            for row in rows:
                before = f" (was {row['permission_before']}/{row['level_before']})" if sign == "~" else ""
                self.stdout.write(
                    f"{sign} {row['account']['login']} {row['permission']}/{row['level']} on "
                    f"{row['resource']['path']} via {row['via']}{before}"
                )


def _run(applied, run_id: int, flag: str):
    run = applied.filter(pk=run_id).first()
    if run is None:
        raise CommandError(f"{flag} {run_id}: not a successful run of this connector")
    return run
