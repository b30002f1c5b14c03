"""audit verify|checkpoint|export: check the tamper-evident audit trail, anchor it outside the database, export it.

    manage.py audit verify [--format text|json] [--checkpoint-dir DIR]
    manage.py audit checkpoint [--checkpoint-dir DIR]
    manage.py audit export [--since WHEN] [--until WHEN] [--action PREFIX] [--actor EMAIL] [--campaign ID]
                           [--format jsonl|csv] [--output FILE]

Exit codes: 0 success (verify: the chain and every checkpoint check), 1 failure (verify: something is
broken; the first broken event is named), 2 bad usage.
"""

import csv
import json

from django.core.management.base import BaseCommand, CommandError

from connectors.export import csv_safe
from reviews import audit


class Command(BaseCommand):
    help = "Verify the audit chain, write a signed checkpoint, or export audit events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify,checkpoint,export}")
        verify = sub.add_parser("verify", help="walk the chain and compare it with the signed checkpoints")
        verify.add_argument("--format", choices=["text", "json"], default="text")
        verify.add_argument("--checkpoint-dir", metavar="DIR", help="default: settings.AUDIT_CHECKPOINT_DIR")
        checkpoint = sub.add_parser("checkpoint", help="append a signed checkpoint of the chain's head")
        checkpoint.add_argument("--checkpoint-dir", metavar="DIR", help="default: settings.AUDIT_CHECKPOINT_DIR")
        export = sub.add_parser("export", help="export audit events, oldest first")
        export.add_argument("--since", metavar="WHEN", help="ISO 8601 date or date-time (UTC when no offset)")
        export.add_argument("--until", metavar="WHEN", help="ISO 8601; a bare date includes that whole day")
        export.add_argument("--action", metavar="PREFIX", help="e.g. connector. or sync.applied")
        export.add_argument("--actor", metavar="EMAIL")
        export.add_argument("--campaign", metavar="ID")
        export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        export.add_argument("--output", metavar="FILE")

    def handle(self, *args, subcommand, **options):
        getattr(self, f"handle_{subcommand}")(**options)

    def handle_verify(self, *, format, checkpoint_dir, **_):
        report = audit.verify(checkpoint_dir=checkpoint_dir)
        if format == "json":
            self.stdout.write(json.dumps(report.as_json(), indent=2))
        else:
            self._verify_text(report)
        if not report.ok:
            raise SystemExit(1)

    def _verify_text(self, report: audit.Report) -> None:
        first = report.first_broken
        if report.ok:
            self.stdout.write(
                f"audit chain OK: {report.count} events, head #{report.head_seq} {report.head_hash}; "
                f"{report.checkpoints_checked} checkpoint(s) in {report.checkpoint_files} file(s) match "
                f"({report.seconds:.2f} s)"
            )
        else:
            self.stdout.write(f"audit chain BROKEN at {first.describe()}")
            for problem in report.problems[1:]:
                self.stdout.write(f"  also {problem.describe()}")
            hidden = report.problem_count - len(report.problems)
            if hidden:
                self.stdout.write(f"  … and {hidden} more problem(s)")
            self.stdout.write(
                f"{report.count} events read, head #{report.head_seq}; {report.checkpoints_checked} checkpoint(s) "
                f"compared ({report.seconds:.2f} s)"
            )
        if not report.checkpoint_files:
            self.stderr.write(
                f"warning: no checkpoints in {report.checkpoint_dir}: a truncated or fully rewritten chain "
                "cannot be detected without them (manage.py audit checkpoint; see the README)"
            )

    def handle_checkpoint(self, *, checkpoint_dir, **_):
        try:
            checkpoint, path = audit.write_checkpoint(directory=checkpoint_dir)
        except audit.CheckpointError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"checkpoint #{checkpoint.seq} {checkpoint.hash} at {checkpoint.time} appended to {path}")

    def handle_export(self, *, since, until, action, actor, campaign, format, output, **_):
        try:
            qs = audit.events({"since": since, "until": until, "action": action, "actor": actor, "campaign": campaign})
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        stream = open(output, "w", newline="", encoding="utf-8") if output else self.stdout  # noqa: SIM115
        try:
            if format == "jsonl":
                for row in audit.rows(qs):
                    stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                writer = csv.DictWriter(stream, fieldnames=audit.CSV_FIELDS)
                writer.writeheader()
                for row in audit.rows(qs):
                    row["data"] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
                    writer.writerow({k: csv_safe(v) for k, v in row.items()})
        finally:
            if output:
                stream.close()
