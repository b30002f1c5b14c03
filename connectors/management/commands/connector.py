"""connector add|list|test|remove|secret set (CONTRACT.md)."""

import getpass
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from connectors.actions import do_add_connector, do_remove_connector, normalize_options
from connectors.base import ConnectorError
from connectors.client import build_connector
from connectors.models import Connector
from connectors.registry import connector_class
from connectors.secrets import do_set_secret


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    return key, value


class Command(BaseCommand):
    help = "Add, list, test and remove connectors."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="register a connector")
        add.add_argument("name")
        add.add_argument("--kind", required=True)
        add.add_argument("--base-url")
        add.add_argument("--option", action="append", default=[], type=key_value, metavar="KEY=VALUE")
        add.add_argument("--secret", action="append", default=[], type=key_value, metavar="KEY=REF")
        listing = sub.add_parser("list", help="list connectors")
        listing.add_argument("--format", choices=["text", "json"], default="text")
        test = sub.add_parser("test", help="check that a connector can reach its upstream")
        test.add_argument("name")
        remove = sub.add_parser("remove", help="remove a connector and its inventory")
        remove.add_argument("name")
        secret = sub.add_parser("secret", help="store a connector's token in PipeAccess, encrypted")
        secret_sub = secret.add_subparsers(dest="secret_action", required=True)
        secret_set = secret_sub.add_parser(
            "set", help="read the token from standard input (never from the command line)"
        )
        secret_set.add_argument("name")
        secret_set.add_argument("key")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_add(self, *, name, kind, base_url, option, secret, **_):
        try:
            cls = connector_class(kind)
        except LookupError as exc:
            raise CommandError(str(exc), returncode=2) from None
        try:
            connector = do_add_connector(
                name=name,
                kind=kind,
                base_url=base_url,
                options=normalize_options(option, cls),
                secrets=dict(secret),
            )
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"added connector {connector.name} ({connector.kind}) at {connector.base_url}")

    def handle_list(self, *, format, **_):
        connectors = Connector.objects.all()
        if format == "json":
            data = [_describe(c) for c in connectors]
            self.stdout.write(json.dumps(data, indent=2))
            return
        for c in connectors:
            d = _describe(c)
            last = d["last_sync"]
            state = f"{last['status']} at {last['finished_at']}" if last else "never synced"
            enabled = "" if c.enabled else " (disabled)"
            self.stdout.write(f"{c.name}\t{c.kind}\t{c.base_url}\t{state}{enabled}")

    def handle_test(self, *, name, **_):
        connector = _get(name)
        try:
            provider = build_connector(connector)
            try:
                result = provider.test()
            finally:
                provider.http.close()
        except ConnectorError as exc:
            raise CommandError(f"{connector.name}: {exc}") from None
        self.stdout.write(f"{connector.name}: ok — {result}")

    def handle_remove(self, *, name, **_):
        connector = _get(name)
        do_remove_connector(connector)
        self.stdout.write(f"removed connector {name}")

    def handle_secret(self, *, name, key, **_):
        connector = _get(name)
        if sys.stdin.isatty():
            value = getpass.getpass(f"{key} for {name} (not echoed): ")
        else:
            value = sys.stdin.read()
        try:
            do_set_secret(connector, key, value)
        except ConnectorError as exc:
            raise CommandError(f"{connector.name}: {exc}") from None
        self.stdout.write(f"stored {key} of connector {name}, encrypted")


def _get(name: str) -> Connector:
    try:
        return Connector.objects.get(name=name)
    except Connector.DoesNotExist:
        raise CommandError(f"no connector named {name}") from None


def _describe(c: Connector) -> dict:
    last = c.runs.order_by("-started_at", "-id").first()
    return {
        "name": c.name,
        "kind": c.kind,
        "base_url": c.base_url,
        "options": c.options,
        # References only (env:NAME / file:PATH / stored:ID); a value is never shown.
        "secrets": c.secrets,
        "enabled": c.enabled,
        # What the connector can take away (grant kind:via patterns); empty: it cannot revoke yet.
        "revocable": sorted(connector_class(c.kind).revocable),
        "sync_interval_seconds": int(c.sync_interval.total_seconds()) if c.sync_interval else None,
        "last_sync": None
        if last is None
        else {
            "run": last.pk,
            "status": last.status,
            "started_at": last.started_at.isoformat(),
            "finished_at": last.finished_at.isoformat() if last.finished_at else None,
        },
    }
