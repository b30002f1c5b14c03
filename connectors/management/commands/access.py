"""access export (CONTRACT.md): effective access, or recorded grants with --as-granted; rows stream.

access who --person EMAIL | --resource CONNECTOR:PATH [--format text|json]: the pipeline-wide view of one
person (every account and grant across connectors) or one resource (everyone who reaches it, and how).
"""

import csv
import json
import unicodedata
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware

from connectors import access, export
from connectors.models import Connector, Identity, Resource


class Command(BaseCommand):
    help = "Export who can access what, or show everything one person or resource is part of."

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
        who = sub.add_parser("who", help="every account and grant of one person, or everyone who reaches a resource")
        target = who.add_mutually_exclusive_group(required=True)
        target.add_argument("--person", metavar="EMAIL")
        target.add_argument("--resource", metavar="CONNECTOR:PATH")
        who.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, action, **options):
        if action == "who":
            return self.who(**options)
        return self.export(**options)

    # --- export ---------------------------------------------------------------------------------------

    def export(self, *, connector, person, resource, at, as_granted, format, output, **options):
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
            name, resource_path = _split_resource(resource)
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

    # --- who ------------------------------------------------------------------------------------------

    def who(self, *, person, resource, format, **options):
        if person is not None:
            email = person.strip().lower()
            if not email:
                raise CommandError("--person takes an email address", returncode=2)
            identity = (
                Identity.objects.select_related("manager")
                .filter(Q(email=email) | Q(other_emails__icontains=email))
                .order_by("pk")
                .first()
            )
            if identity is None or email not in [e.lower() for e in identity.all_emails()]:
                raise CommandError(
                    f"no person with the email {_clean(person)} (people come from `people import` or by hand)"
                )
            view = access.person_access(identity)
            text = _person_text
        else:
            name, path = _split_resource(resource)
            found = Resource.objects.select_related("connector", "owner").filter(connector__name=name, path=path)
            target = found.filter(present=True).first() or found.first()
            if target is None:
                if not Connector.objects.filter(name=name).exists():
                    raise CommandError(f"no connector named {_clean(name)}")
                raise CommandError(f"no resource {_clean(path)} in connector {_clean(name)}")
            view = access.resource_access(target)
            text = _resource_text
        if format == "json":
            self.stdout.write(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.stdout.write("\n".join(text(view)))


def _split_resource(value: str) -> tuple[str, str]:
    name, sep, path = value.partition(":")
    if not sep or not name or not path:
        raise CommandError("--resource takes CONNECTOR:PATH", returncode=2)
    return name, path


def _clean(value) -> str:
    """Synced names are untrusted: control characters (terminal escapes, newlines) are shown escaped."""
    text = "" if value is None else str(value)
    return "".join(
        ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "-"


def _grant_lines(grant: access.GrantEntry, indent: str) -> list[str]:
    resource = f"{grant.resource['type']} {_clean(grant.resource['path'])}"
    line = f"{indent}{grant.level:<6} {resource}  {_clean(grant.permission)} via {_clean(grant.via)}"
    if grant.through:
        line += f" (member of {_clean(grant.through)})"
    if grant.cascades_to:
        line += f"; also {grant.cascade_level} on every {', '.join(grant.cascades_to)} below"
    line += f"; since {_day(grant.first_seen)}"
    if grant.risk:
        line += f"  risk {grant.score}: {', '.join(grant.risk)}"
    return [line, *(f"{indent}    - {_clean(sentence)}" for sentence in grant.explanations)]


def _person_text(view: access.PersonAccess) -> list[str]:
    p = view.person
    head = f"{_clean(p['name']) or _clean(p['email'])} <{_clean(p['email'])}>, {p['status']}"
    if p["end_date"]:
        head += f" (end date {p['end_date']})"
    if p["department"]:
        head += f", {_clean(p['department'])}"
    if p["manager"]:
        head += f", manager {_clean(p['manager'])}"
    accounts = sum(len(s.accounts) for s in view.systems)
    lines = [head, f"{accounts} account(s) in {len(view.systems)} system(s), {view.grant_count} grant(s)"]
    for system in view.systems:
        lines += ["", f"{_clean(system.connector)} ({system.system})"]
        for account in system.accounts:
            line = (
                f"  {_clean(account.login)} ({account.type}, {account.state}), linked by {account.link_rule or '-'}"
                f"{f' {account.link_confidence}' if account.link_confidence is not None else ''}"
                f", first seen {_day(account.first_seen)}, last active {_day(account.last_active_at)}"
            )
            if account.risk:
                line += f"  account risk: {', '.join(account.risk)}"
            lines.append(line)
            for grant in account.grants:
                lines += _grant_lines(grant, "    ")
    if not view.systems:
        lines.append("no account is linked to this person")
    return lines


def _resource_text(view: access.ResourceAccess) -> list[str]:
    r, owner = view.resource, _clean(view.owner) or "-"
    lines = [
        f"{r['type']} {_clean(r['path'])} in {_clean(view.connector)} ({view.system}), owner {owner}",
        f"{len(view.reach)} path(s) of access",
    ]
    for reach in view.reach:
        who = f"{_clean(reach.account['login'])} ({reach.account['type']}, {reach.account['state']})"
        person = _clean(reach.identity) if reach.identity else "no person"
        line = (
            f"  {reach.level:<6} {who}  {person}  {_clean(reach.permission)} via {_clean(reach.via)}"
            f"; since {_day(reach.first_seen)}"
        )
        if reach.risk:
            line += f"  risk {reach.score}: {', '.join(reach.risk)}"
        lines.append(line)
        lines += [f"      - {_clean(sentence)}" for sentence in reach.explanations]
    return lines
