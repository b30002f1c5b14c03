"""revocation list|show|approve|retry|close|narrow|cancel: the security role's work on revocations."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from connectors.choices import Level
from pipeaccess.roles import SECURITY, roles_of
from reviews import revocations
from reviews.choices import RevocationState
from reviews.models import Revocation

LIST_LIMIT = 500


def as_dict(rev: Revocation, *, full: bool = False) -> dict:
    row = {
        "id": rev.pk,
        "state": rev.state,
        "connector": rev.connector.name,
        "action": rev.action,
        "downgrade_to": Level(rev.downgrade_to).label if rev.downgrade_to else None,
        "campaign": rev.item.campaign_id if rev.item_id else None,
        "item": rev.item_id,
        "attempts": rev.attempts,
        "outcome": rev.outcome,
        "last_error": rev.last_error,
        "created": rev.created.isoformat(),
        "executed_at": rev.executed_at.isoformat() if rev.executed_at else None,
        "verified_at": rev.verified_at.isoformat() if rev.verified_at else None,
    }
    if full:
        row["blast_radius"] = rev.blast_radius
        row["instructions"] = rev.instructions
        row["verified_run"] = rev.verified_run_id
        row["closed_by"] = rev.closed_by.email if rev.closed_by_id else None
    return row


class Command(BaseCommand):
    help = "List and show revocations; approve, retry, narrow, cancel or close them (security role)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list")
        listing.add_argument("--state", choices=RevocationState.values)
        listing.add_argument("--campaign", type=int)
        listing.add_argument("--connector")
        listing.add_argument("--format", choices=["text", "json"], default="text")
        show = sub.add_parser("show")
        show.add_argument("id", type=int)
        show.add_argument("--format", choices=["text", "json"], default="text")
        for name in ("approve", "retry", "close", "narrow", "cancel"):
            p = sub.add_parser(name)
            p.add_argument("id", type=int)
            p.add_argument("--user", required=True, metavar="EMAIL", help="the security-role user acting")
            p.add_argument("--format", choices=["text", "json"], default="text")
            if name in ("close", "cancel"):
                p.add_argument("--note", required=name == "close", default="", help="what was done, or why")
            if name == "narrow":
                p.add_argument("--level", required=True, choices=[level.label for level in Level])

    def handle(self, *args, action, **options):
        if action == "list":
            return self.list(**options)
        rev = self._get(options["id"])
        if action == "show":
            return self.emit(rev, options["format"], full=True)
        actor = self._security_user(options["user"])
        try:
            if action == "approve":
                rev = revocations.approve(rev, actor=actor)
            elif action == "retry":
                rev = revocations.retry(rev, actor=actor)
            elif action == "close":
                rev = revocations.close_manual(rev, actor=actor, note=options["note"])
            elif action == "cancel":
                rev = revocations.cancel(rev, actor=actor, reason=options["note"])
            else:
                rev = revocations.narrow(rev, level=options["level"], actor=actor)
        except revocations.RevocationError as exc:
            raise CommandError(str(exc)) from None
        self.emit(self._get(rev.pk), options["format"], full=True)

    def list(self, *, state, campaign, connector, format, **_):
        revs = Revocation.objects.select_related("connector", "item").order_by("-created", "-id")
        if state:
            revs = revs.filter(state=state)
        if campaign:
            revs = revs.filter(item__campaign_id=campaign)
        if connector:
            revs = revs.filter(connector__name=connector)
        rows = [as_dict(rev) for rev in revs[:LIST_LIMIT]]
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']}\t{row['state']}\t{row['connector']}\t{row['action']}\t{row['last_error'][:80]}"
            )

    def emit(self, rev: Revocation, format: str, *, full: bool) -> None:
        row = as_dict(rev, full=full)
        if format == "json":
            self.stdout.write(json.dumps(row, indent=2))
            return
        self.stdout.write(f"revocation {row['id']}: {row['action']}")
        self.stdout.write(f"state: {row['state']}  connector: {row['connector']}  attempts: {row['attempts']}")
        if row["outcome"]:
            self.stdout.write(f"outcome: {row['outcome']}")
        if row["last_error"]:
            self.stdout.write(f"last error: {row['last_error']}")
        radius = rev.blast_radius or {}
        if radius.get("summary"):
            self.stdout.write(f"blast radius: {radius['summary']}")
            for path in (radius.get("removed") or {}).get("paths", []):
                self.stdout.write(f"  loses {path}")
            for path in (radius.get("lowered") or {}).get("paths", []):
                self.stdout.write(f"  lowered on {path}")
        if row.get("instructions"):
            self.stdout.write(f"instructions:\n{row['instructions']}")

    def _get(self, pk: int) -> Revocation:
        rev = Revocation.objects.select_related("connector", "item", "closed_by").filter(pk=pk).first()
        if rev is None:
            raise CommandError(f"no revocation {pk}")
        return rev

    def _security_user(self, email: str):
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None or SECURITY not in roles_of(user):
            raise CommandError(f"{email} is not a user with the security role")
        return user
