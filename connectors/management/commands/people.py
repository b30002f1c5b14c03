"""people: the HR roster, account ↔ person links, correlation rules and owners.

    manage.py people import FILE.csv [--partial] [--format text|json]
    manage.py people list [--format text|json]
    manage.py people show EMAIL [--format text|json]
    manage.py people correlate [CONNECTOR]
    manage.py people link CONNECTOR:LOGIN EMAIL --reason TEXT
    manage.py people unlink CONNECTOR:LOGIN --reason TEXT
    manage.py people release CONNECTOR:LOGIN --reason TEXT
    manage.py people conflicts [--format text|json]
    manage.py people rule add|remove CONNECTOR (--same-login-as OTHER | --email-local-part)
    manage.py people rule list
    manage.py people owners load FILE | list | assign [CONNECTOR]
    manage.py people owner set CONNECTOR:PATH EMAIL --reason TEXT
    manage.py people owner set-account CONNECTOR:LOGIN EMAIL --reason TEXT
    manage.py people owner release CONNECTOR:PATH|CONNECTOR:LOGIN --account? --reason TEXT
    manage.py people fallback CONNECTOR (EMAIL | --clear)

Changes made here are audit events; ``--user EMAIL`` names the security-role user acting (default: the
operating-system user, recorded as ``cli:NAME``). Exit codes: 0 success, 1 failure, 2 bad usage.
"""

import getpass
import json
import unicodedata

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Q

from connectors import correlation, owners, people
from connectors.models import (
    Account,
    Connector,
    CorrelationConflict,
    CorrelationRule,
    Identity,
    OwnershipRule,
    Resource,
)
from pipeaccess.roles import SECURITY, roles_of
from reviews.audit import record


class Command(BaseCommand):
    help = "Import the HR roster; link accounts to people; manage correlation rules and owners."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser

        p = add("import", help="import an HR roster CSV (email,name,manager_email,department,status,end_date)")
        p.add_argument("file", metavar="FILE")
        p.add_argument("--partial", action="store_true", help="only add and update; nobody becomes a leaver")
        _format(p)
        _user(p)
        _format(add("list", help="list people"))
        p = add("show", help="one person, with linked accounts and what they own")
        p.add_argument("email", metavar="EMAIL")
        _format(p)
        p = add("correlate", help="run correlation now (all connectors by default)")
        p.add_argument("connector", nargs="?", metavar="CONNECTOR")
        _format(p)

        p = add("link", help="link an account to a person by hand")
        p.add_argument("account", metavar="CONNECTOR:LOGIN")
        p.add_argument("email", metavar="EMAIL")
        _reason(p)
        for name, text in (
            ("unlink", "declare by hand that an account is nobody's"),
            ("release", "hand back to rules"),
        ):
            p = add(name, help=text)
            p.add_argument("account", metavar="CONNECTOR:LOGIN")
            _reason(p)
        _format(add("conflicts", help="accounts two or more people could own"))

        rule = add("rule", help="correlation rules").add_subparsers(dest="rule_action", required=True)
        for name in ("add", "remove"):
            p = rule.add_parser(name)
            p.add_argument("connector", metavar="CONNECTOR")
            kind = p.add_mutually_exclusive_group(required=True)
            kind.add_argument("--same-login-as", metavar="OTHER", help="logins equal those of OTHER's linked accounts")
            kind.add_argument("--email-local-part", action="store_true", help="logins equal the part before @")
            _user(p)
        rule.add_parser("list")

        own = add("owners", help="the ownership mapping file").add_subparsers(dest="owners_action", required=True)
        p = own.add_parser("load", help="replace the mapping with FILE (lines 'CONNECTOR:PATH_GLOB email')")
        p.add_argument("file", metavar="FILE")
        _user(p)
        _format(own.add_parser("list", help="the mapping's lines"))
        p = own.add_parser("assign", help="re-assign owners now")
        p.add_argument("connector", nargs="?", metavar="CONNECTOR")

        owner = add("owner", help="set an owner by hand").add_subparsers(dest="owner_action", required=True)
        p = owner.add_parser("set", help="owner of a resource")
        p.add_argument("target", metavar="CONNECTOR:PATH")
        p.add_argument("email", metavar="EMAIL")
        _reason(p)
        p = owner.add_parser("set-account", help="owner of a non-human account")
        p.add_argument("target", metavar="CONNECTOR:LOGIN")
        p.add_argument("email", metavar="EMAIL")
        _reason(p)
        p = owner.add_parser("release", help="hand a resource (or, with --account, an account) back to the rules")
        p.add_argument("target", metavar="CONNECTOR:PATH")
        p.add_argument("--account", action="store_true", help="the target is CONNECTOR:LOGIN of an account")
        _reason(p)

        p = add("fallback", help="the owner used when no rule gives one")
        p.add_argument("connector", metavar="CONNECTOR")
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("email", nargs="?", metavar="EMAIL")
        who.add_argument("--clear", action="store_true")
        _user(p)

    def handle(self, *args, action, **options):
        self.actor, self.actor_label = _actor(options.get("user"))
        method = getattr(self, "do_" + action.replace("-", "_"))
        try:
            method(options)
        except (people.RosterError, owners.OwnershipError, correlation.CorrelationError) as exc:
            raise CommandError(str(exc)) from None

    def _say(self, line: str) -> None:
        """One line of text output; synced names are untrusted, so control characters (escapes) are shown escaped."""
        self.stdout.write("".join(_printable(ch) for ch in line))

    # --- roster -------------------------------------------------------------

    def do_import(self, options):
        try:
            with open(options["file"], encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from None
        report = people.import_roster(text, partial=options["partial"], actor=self.actor, actor_label=self.actor_label)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report.as_json(), indent=2))
            return
        for line in report.lines():
            self._say(line)
        c = report.correlation
        self._say(
            f"correlation: {c.get('accounts', 0)} accounts, {c.get('orphans', 0)} without a person, "
            f"{c.get('conflicts', 0)} conflicts"
        )

    def do_list(self, options):
        rows = Identity.objects.select_related("manager").annotate(
            account_count=Count("accounts", filter=Q(accounts__present=True))
        )
        data = [
            {
                "email": i.email,
                "name": i.name,
                "manager": i.manager.email if i.manager else None,
                "department": i.department,
                "status": i.status,
                "end_date": i.end_date.isoformat() if i.end_date else None,
                "source": i.source,
                "accounts": i.account_count,
            }
            for i in rows
        ]
        if options["format"] == "json":
            self.stdout.write(json.dumps(data, indent=2))
            return
        for d in data:
            self._say(
                f"{d['email']}\t{d['name']}\t{d['status']}{' ' + d['end_date'] if d['end_date'] else ''}\t"
                f"manager {d['manager'] or '-'}\t{d['department'] or '-'}\t{d['accounts']} accounts"
            )

    def do_show(self, options):
        identity = _person(options["email"])
        accounts = identity.accounts.select_related("connector").order_by("connector__name", "login")
        owned = Resource.objects.filter(owner=identity, present=True).select_related("connector")
        owned_accounts = Account.objects.filter(owner=identity, present=True).select_related("connector")
        data = {
            "email": identity.email,
            "other_emails": identity.other_emails,
            "name": identity.name,
            "manager": identity.manager.email if identity.manager else None,
            "reports": list(identity.reports.values_list("email", flat=True)),
            "department": identity.department,
            "status": identity.status,
            "end_date": identity.end_date.isoformat() if identity.end_date else None,
            "source": identity.source,
            "accounts": [
                {
                    "connector": a.connector.name,
                    "login": a.login,
                    "type": a.type,
                    "present": a.present,
                    "rule": a.identity_rule,
                    "confidence": a.identity_confidence,
                }
                for a in accounts
            ],
            "owns": [{"connector": r.connector.name, "path": r.path, "rule": r.owner_rule} for r in owned[:1000]]
            + [
                {"connector": a.connector.name, "account": a.login, "rule": a.owner_rule} for a in owned_accounts[:1000]
            ],
        }
        if options["format"] == "json":
            self.stdout.write(json.dumps(data, indent=2))
            return
        self._say(
            f"{data['email']}  {data['name']}  ({data['status']}{', ' + data['end_date'] if data['end_date'] else ''})"
        )
        self._say(f"  manager: {data['manager'] or '-'}   department: {data['department'] or '-'}")
        if data["other_emails"]:
            self._say(f"  other emails: {', '.join(data['other_emails'])}")
        self._say(f"  accounts ({len(data['accounts'])}):")
        for a in data["accounts"]:
            gone = "" if a["present"] else "  (removed upstream)"
            self._say(f"    {a['connector']}:{a['login']}  {a['type']}  {a['rule']} {a['confidence'] or ''}{gone}")
        if data["owns"]:
            self._say(f"  owns ({len(data['owns'])}):")
            for o in data["owns"]:
                self._say(f"    {o['connector']}:{o.get('path') or o.get('account')}  ({o['rule']})")

    def do_correlate(self, options):
        connector = _connector(options["connector"]) if options["connector"] else None
        counts = correlation.correlate(connector)
        if options["format"] == "json":
            self.stdout.write(json.dumps(counts))
        else:
            self._say(", ".join(f"{v} {k}" for k, v in counts.items()))

    # --- links --------------------------------------------------------------

    def do_link(self, options):
        account = _account(options["account"])
        if account.type not in correlation.CORRELATED_TYPES:
            raise CommandError(
                f"{options['account']} is a {account.type} account; set its owner instead (people owner set-account)"
            )
        identity = _person(options["email"])
        correlation.link(account, identity, actor=self.actor, reason=options["reason"], actor_label=self.actor_label)
        self._say(f"linked {options['account']} to {identity.email} (manual)")

    def do_unlink(self, options):
        account = _account(options["account"])
        correlation.unlink(account, actor=self.actor, reason=options["reason"], actor_label=self.actor_label)
        self._say(f"unlinked {options['account']} (manual: correlation leaves it unlinked)")

    def do_release(self, options):
        account = _account(options["account"])
        account = correlation.release(account, actor=self.actor, reason=options["reason"], actor_label=self.actor_label)
        now = f"{account.identity.email} ({account.identity_rule})" if account.identity else "nobody"
        self._say(f"{options['account']} is back to the rules: now {now}")

    def do_conflicts(self, options):
        rows = CorrelationConflict.objects.select_related("account__connector", "identity").order_by(
            "account__connector__name", "account__login", "identity__email"
        )
        grouped: dict[tuple, dict] = {}
        for c in rows:
            key = (c.account.connector.name, c.account.login, c.account_id)
            entry = grouped.setdefault(
                key, {"connector": key[0], "login": key[1], "email": c.account.email, "rule": c.rule, "candidates": []}
            )
            entry["candidates"].append(c.identity.email)
        data = list(grouped.values())
        if options["format"] == "json":
            self.stdout.write(json.dumps(data, indent=2))
            return
        if not data:
            self._say("no conflicts")
        for d in data:
            self._say(f"{d['connector']}:{d['login']}\t{d['rule']}\t{', '.join(d['candidates'])}")

    # --- rules --------------------------------------------------------------

    def do_rule(self, options):
        if options["rule_action"] == "list":
            for rule in CorrelationRule.objects.select_related("connector", "other").order_by("connector__name", "pk"):
                target = f" {rule.other.name}" if rule.other else ""
                self._say(f"{rule.connector.name}\t{rule.kind}{target}")
            return
        connector = _connector(options["connector"])
        other = _connector(options["same_login_as"]) if options["same_login_as"] else None
        if other is not None and other.pk == connector.pk:
            raise CommandError("--same-login-as must name another connector")
        kind = CorrelationRule.Kind.SAME_LOGIN_AS if other else CorrelationRule.Kind.EMAIL_LOCAL_PART
        label = f"{connector.name} {kind}{' ' + other.name if other else ''}"
        with transaction.atomic():
            existing = CorrelationRule.objects.filter(connector=connector, kind=kind, other=other)
            if options["rule_action"] == "add":
                if existing.exists():
                    raise CommandError(f"rule already exists: {label}")
                rule = CorrelationRule.objects.create(connector=connector, kind=kind, other=other)
                record("correlation_rule.add", actor=self.actor, actor_label=self.actor_label, obj=rule, rule=label)
            else:
                if not existing.exists():
                    raise CommandError(f"no such rule: {label}")
                record("correlation_rule.remove", actor=self.actor, actor_label=self.actor_label, rule=label)
                existing.delete()
        counts = correlation.correlate(connector)
        self._say(f"{'added' if options['rule_action'] == 'add' else 'removed'} rule {label}")
        self._say(", ".join(f"{v} {k}" for k, v in counts.items()))

    # --- owners -------------------------------------------------------------

    def do_owners(self, options):
        sub = options["owners_action"]
        if sub == "load":
            try:
                with open(options["file"], encoding="utf-8") as fh:
                    text = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {options['file']}: {exc}") from None
            count = owners.load_mapping(text, actor=self.actor, actor_label=self.actor_label)
            self._say(f"loaded {count} ownership rules; owners re-assigned")
        elif sub == "list":
            rules = OwnershipRule.objects.select_related("connector", "identity").order_by("position", "pk")
            data = [
                {"connector": r.connector.name, "pattern": r.pattern, "owner": r.identity.email, "line": r.position}
                for r in rules
            ]
            if options["format"] == "json":
                self.stdout.write(json.dumps(data, indent=2))
            else:
                for d in data:
                    self._say(f"{d['connector']}:{d['pattern']} {d['owner']}")
        else:
            targets = [_connector(options["connector"])] if options["connector"] else Connector.objects.all()
            for connector in targets:
                counts = owners.assign(connector)
                self._say(f"{connector.name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    def do_owner(self, options):
        sub = options["owner_action"]
        if sub == "set":
            target, identity = _resource(options["target"]), _person(options["email"])
        elif sub == "set-account":
            target, identity = _account(options["target"]), _person(options["email"])
        else:
            target = _account(options["target"]) if options["account"] else _resource(options["target"])
            identity = None
        owners.set_owner(target, identity, actor=self.actor, reason=options["reason"], actor_label=self.actor_label)
        target.refresh_from_db()
        now = f"{target.owner.email} ({target.owner_rule})" if target.owner else "nobody"
        self._say(f"owner of {options['target']}: {now}")

    def do_fallback(self, options):
        connector = _connector(options["connector"])
        identity = None if options["clear"] else _person(options["email"])
        counts = owners.set_fallback(connector, identity, actor=self.actor, actor_label=self.actor_label)
        who = identity.email if identity else "none"
        self._say(f"fallback owner of {connector.name}: {who}; {counts['changed']} owners changed")


def _printable(ch: str) -> str:
    if ch == "\t" or unicodedata.category(ch)[0] != "C":
        return ch
    return ch.encode("unicode_escape").decode("ascii")


def _format(parser):
    parser.add_argument("--format", choices=("text", "json"), default="text")


def _user(parser):
    parser.add_argument("--user", metavar="EMAIL", help="the security-role user acting (recorded in the audit trail)")


def _reason(parser):
    parser.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded in the audit trail)")
    _user(parser)


def _actor(email):
    if not email:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        return None, f"cli:{name}"
    user = get_user_model().objects.filter(email__iexact=email).first()
    if user is None or SECURITY not in roles_of(user):
        raise CommandError(f"{email} is not a user with the security role")
    return user, None


def _connector(name: str) -> Connector:
    connector = Connector.objects.filter(name=name).first()
    if connector is None:
        raise CommandError(f"no connector {name!r}")
    return connector


def _split(target: str, what: str) -> tuple[Connector, str]:
    name, sep, rest = target.partition(":")
    if not sep or not rest:
        raise CommandError(f"expected {what}, got {target!r}")
    return _connector(name), rest


def _account(target: str) -> Account:
    connector, login = _split(target, "CONNECTOR:LOGIN")
    matches = list(Account.objects.filter(connector=connector, login=login).order_by("-present", "pk"))
    present = [a for a in matches if a.present]
    if len(present) > 1:
        ids = ", ".join(a.external_id for a in present)
        raise CommandError(f"{target} is ambiguous ({ids}); the upstream has several accounts with this login")
    if not matches:
        raise CommandError(f"no account {login!r} in {connector.name}")
    account = present[0] if present else matches[0]
    account.connector = connector
    return account


def _resource(target: str) -> Resource:
    connector, path = _split(target, "CONNECTOR:PATH")
    resource = Resource.objects.filter(connector=connector, path=path).order_by("-present", "pk").first()
    if resource is None:
        raise CommandError(f"no resource {path!r} in {connector.name}")
    return resource


def _person(email: str) -> Identity:
    identity = Identity.objects.filter(email__iexact=email.strip()).select_related("manager").first()
    if identity is None:
        raise CommandError(f"no person {email!r} (import the roster, or check the address)")
    return identity
