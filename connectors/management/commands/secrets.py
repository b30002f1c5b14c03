"""secrets rotate|status|generate-key: the keys that encrypt the tokens PipeAccess stores (connectors.secrets)."""

import json

from django.core.management.base import BaseCommand, CommandError

from connectors import secrets
from connectors.base import ConnectorError
from connectors.models import StoredSecret


class Command(BaseCommand):
    help = "Rotate and inspect the encryption of the tokens stored by PipeAccess."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rotate", help="re-encrypt every stored token under the newest key")
        status = sub.add_parser("status", help="which key each stored token is encrypted under")
        status.add_argument("--format", choices=["text", "json"], default="text")
        sub.add_parser("generate-key", help="print a new key to put first in PIPEACCESS_SECRETS_KEYS")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"handle_{action.replace('-', '_')}")(**options)
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None

    def handle_rotate(self, **_):
        done, problems = secrets.rotate()
        self.stdout.write(f"re-encrypted {done} stored token(s) under key {secrets.newest_key_id()}")
        if problems:
            raise CommandError("; ".join(problems))

    def handle_status(self, *, format, **_):
        newest = secrets.newest_key_id()
        rows = [
            {"connector": name, "key": key, "key_id": key_id, "newest_key": key_id == newest, "updated": updated}
            for name, key, key_id, updated in StoredSecret.objects.order_by("connector__name", "key").values_list(
                "connector__name", "key", "key_id", "updated"
            )
        ]
        if format == "json":
            for row in rows:
                row["updated"] = row["updated"].isoformat()
            self.stdout.write(json.dumps({"newest_key_id": newest, "stored": rows}, indent=2))
            return
        self.stdout.write(f"newest key {newest}")
        for row in rows:
            state = "newest key" if row["newest_key"] else "older key: run `secrets rotate`"
            self.stdout.write(f"{row['connector']}\t{row['key']}\tkey {row['key_id']}\t{state}")

    def handle_generate_key(self, **_):
        self.stdout.write(secrets.generate_key())
