"""report: the campaign report, access inventory reports and the evidence package.

    manage.py report campaign ID --format csv|json|pdf [--output FILE]
    manage.py report inventory KIND [--at ISO] [--since ISO --until ISO] [--resource CONNECTOR:PATH]
                               --format csv|json [--output FILE]
    manage.py report evidence ID --output FILE.zip
    manage.py report verify-evidence FILE.zip

KIND: admins, outside, orphaned, leavers, nonhuman, public, changes, access-at.
Exit codes: 0 success; 1 failure (message on stderr; verify-evidence: the package does not check); 2 bad usage
(including a missing or unreadable date or resource).
Every export is an audit event (report.exported / report.evidence_exported).
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviews import evidence, reports
from reviews.models import Campaign


def _actor_label() -> str:
    try:
        return f"command line ({getpass.getuser()})"
    except (KeyError, OSError):
        return "command line"


class Command(BaseCommand):
    help = "Campaign reports, access inventory reports and evidence packages."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="subcommand", required=True, metavar="{campaign,inventory,evidence,verify-evidence}"
        )
        campaign = sub.add_parser("campaign", help="the report of one campaign")
        campaign.add_argument("id", type=int)
        campaign.add_argument("--format", choices=["csv", "json", "pdf"], required=True)
        campaign.add_argument("--output", metavar="FILE", help="default: standard output (pdf needs a file)")
        inventory = sub.add_parser("inventory", help="an access inventory report")
        inventory.add_argument("kind", choices=list(reports.INVENTORY))
        inventory.add_argument("--at", metavar="ISO", help="access-at: the moment (default now)")
        inventory.add_argument("--since", metavar="ISO", help="changes: after this moment")
        inventory.add_argument("--until", metavar="ISO", help="changes: up to and including this moment")
        inventory.add_argument("--resource", metavar="CONNECTOR:PATH", default="", help="access-at: the resource")
        inventory.add_argument("--format", choices=["csv", "json"], required=True)
        inventory.add_argument("--output", metavar="FILE")
        ev = sub.add_parser("evidence", help="the evidence package (zip) of a closed campaign")
        ev.add_argument("id", type=int)
        ev.add_argument("--output", metavar="FILE.zip", required=True)
        check = sub.add_parser("verify-evidence", help="check an evidence package offline")
        check.add_argument("file", metavar="FILE.zip")

    def handle(self, *args, subcommand, **options):
        handler = {
            "campaign": self.handle_campaign,
            "inventory": self.handle_inventory,
            "evidence": self.handle_evidence,
            "verify-evidence": self.handle_verify,
        }[subcommand]
        try:
            handler(**options)
        except (reports.UnknownConnector, evidence.EvidenceError) as exc:
            raise CommandError(str(exc)) from None
        except reports.ReportError as exc:
            # Missing or unreadable parameters: bad usage.
            raise CommandError(str(exc), returncode=2) from None

    def _campaign(self, pk: int) -> Campaign:
        campaign = Campaign.objects.filter(pk=pk).first()
        if campaign is None:
            raise CommandError(f"no campaign {pk} (campaign status lists none such)")
        return campaign

    def _write(self, output: str | None, data: bytes) -> None:
        if output and output != "-":
            try:
                Path(output).write_bytes(data)
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc.strerror}") from None
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()

    def handle_campaign(self, *, id, format, output, **_):
        if format == "pdf" and (not output or output == "-"):
            raise CommandError("--format pdf needs --output FILE.pdf", returncode=2)
        campaign = self._campaign(id)
        report = reports.campaign_report(campaign)
        if format == "json":
            data = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode()
        elif format == "csv":
            data = reports.csv_text(reports.REPORT_FIELDS, reports.report_rows(report)).encode()
        else:
            from reviews import report_pdf

            data = report_pdf.campaign_pdf(report)
        reports.record_export("campaign", format, actor_label=_actor_label(), campaign=campaign)
        self._write(output, data)

    def handle_inventory(self, *, kind, at, since, until, resource, format, output, **_):
        params = reports.InventoryParams(
            at=reports.parse_moment(at, "--at"),
            since=reports.parse_moment(since, "--since"),
            until=reports.parse_moment(until, "--until"),
            resource=resource or "",
        )
        spec, rows = reports.inventory(kind, params)
        rows = list(rows)
        if format == "json":
            data = (
                json.dumps({"report": kind, "title": spec.title, "rows": rows}, ensure_ascii=False, indent=2) + "\n"
            ).encode()
        else:
            data = reports.csv_text(spec.fields, rows).encode()
        filters = {k: v for k, v in (("at", at), ("since", since), ("until", until), ("resource", resource)) if v}
        reports.record_export(f"inventory:{kind}", format, actor_label=_actor_label(), rows=len(rows), **filters)
        self._write(output, data)

    def handle_evidence(self, *, id, output, **_):
        campaign = self._campaign(id)
        data = evidence.export(campaign, actor_label=_actor_label(), zipname=Path(output).name)
        self._write(output, data)
        self.stderr.write(
            f"wrote {output} ({len(data)} bytes); check it with: manage.py report verify-evidence {output}"
        )

    def handle_verify(self, *, file, **_):
        if not Path(file).is_file():
            raise CommandError(f"no such file: {file}")
        result = evidence.verify(file)
        if not result.ok:
            self.stderr.write(result.describe())
            raise SystemExit(1)
        self.stdout.write(result.describe())
