"""Manage PipeAccess users from the command line.

    manage.py user create EMAIL --role ROLE [--role ROLE] [--name NAME] (--password-file FILE | --generate-password)
    manage.py user list [--format text|json]
    manage.py user set-role EMAIL --role ROLE [--role ROLE]

Users log in with their email, which is also their username. A password is
never taken on the command line (it would land in shell history and `ps`):
it is read from a file ("-" for standard input) or generated and printed once.
Exit codes follow the CLI contract: 0 success, 1 failure, 2 bad usage.
"""

import json
import secrets
import sys

from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db.models import Exists, OuterRef, Q

from pipeaccess.roles import ROLES, create_user, normalize_email, roles_of, set_roles


class Command(BaseCommand):
    help = "Create and list users and set their roles (security, reviewer, auditor)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,set-role}")

        # No abbreviations: `--password SECRET` would otherwise be read as `--password-file SECRET`.
        create = actions.add_parser("create", help="create a user who logs in with EMAIL", allow_abbrev=False)
        create.add_argument("email", metavar="EMAIL")
        _add_role_argument(create)
        create.add_argument("--name", default="", help="display name")
        password = create.add_mutually_exclusive_group(required=True)
        password.add_argument(
            "--password-file", metavar="FILE", help="read the password from the first line of FILE ('-' for stdin)"
        )
        password.add_argument("--generate-password", action="store_true", help="generate a password and print it once")

        listing = actions.add_parser("list", help="list users with their roles", allow_abbrev=False)
        listing.add_argument("--format", choices=("text", "json"), default="text")

        set_role = actions.add_parser("set-role", help="replace a user's roles", allow_abbrev=False)
        set_role.add_argument("email", metavar="EMAIL")
        _add_role_argument(set_role)

    def handle(self, *args, action, **options):
        {"create": self.create_user, "list": self.list_users, "set-role": self.set_role}[action](options)

    def create_user(self, options):
        email = _valid_email(options["email"])
        User = get_user_model()
        name_limit = User._meta.get_field("first_name").max_length
        if len(options["name"]) > name_limit:
            raise CommandError(f"--name is longer than {name_limit} characters", returncode=2)
        # Also by email: a user made another way (createsuperuser, admin) may have a different username.
        if User.objects.filter(Q(username=email) | Q(email__iexact=email)).exists():
            raise CommandError(f"user {email} already exists")
        if options["generate_password"]:
            password = secrets.token_urlsafe(18)
        else:
            password = _read_password(options["password_file"])
            try:
                # Checked against a draft user so the similarity validator sees the email and name.
                validate_password(password, User(username=email, email=email, first_name=options["name"]))
            except ValidationError as exc:
                raise CommandError("password rejected: " + " ".join(exc.messages)) from None
        roles = _unique(options["role"])
        create_user(email, roles=roles, name=options["name"], password=password)
        self.stdout.write(f"created {email} with role {', '.join(roles)}")
        if options["generate_password"]:
            self.stdout.write(f"password (shown once): {password}")

    def list_users(self, options):
        has_totp = Authenticator.objects.filter(user=OuterRef("pk"), type=Authenticator.Type.TOTP)
        users = get_user_model().objects.annotate(totp=Exists(has_totp)).order_by("username").prefetch_related("groups")
        rows = [
            {
                "email": user.email,
                "name": user.get_full_name(),
                # From the prefetched groups: roles_of() would cost a query per user.
                "roles": sorted(group.name for group in user.groups.all() if group.name in ROLES),
                "active": user.is_active,
                "mfa": user.totp,
                "last_login": user.last_login.isoformat() if user.last_login else None,
            }
            for user in users
        ]
        if options["format"] == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        table = [("EMAIL", "ROLES", "NAME", "ACTIVE", "MFA", "LAST LOGIN")]
        table += [
            (
                row["email"],
                ",".join(row["roles"]) or "-",
                row["name"] or "-",
                "yes" if row["active"] else "no",
                "totp" if row["mfa"] else "-",
                row["last_login"] or "never",
            )
            for row in rows
        ]
        widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
        for line in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())

    def set_role(self, options):
        email = normalize_email(options["email"])
        user = get_user_model().objects.filter(username=email).first()
        if user is None:
            raise CommandError(f"no user {email}")
        roles = _unique(options["role"])
        set_roles(user, roles)
        self.stdout.write(f"{email} now has role {', '.join(sorted(roles_of(user)))}")


def _add_role_argument(parser):
    parser.add_argument("--role", action="append", required=True, choices=ROLES, help="repeat to give several roles")


def _unique(roles: list[str]) -> list[str]:
    return sorted(set(roles))


def _valid_email(raw: str) -> str:
    email = normalize_email(raw)
    try:
        validate_email(email)
    except ValidationError:
        raise CommandError(f"{raw!r} is not an email address", returncode=2) from None
    return email


def _read_password(path: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read password file {path}: {exc}") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise CommandError(f"password file {path} is empty")
    if any(lines[1:]):
        # A multi-line file is more likely a key or the wrong file than a password.
        raise CommandError(f"password file {path} has more than one line")
    return lines[0]
