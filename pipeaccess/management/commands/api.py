"""api token create|list|revoke: tokens for integrations, printed once at creation, stored hashed."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from pipeaccess.models import ApiToken
from reviews.audit import record


class Command(BaseCommand):
    help = "REST API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        token = sub.add_parser("token").add_subparsers(dest="token_action", required=True)
        create = token.add_parser("create", help="print a new token once")
        create.add_argument("--user", required=True, metavar="EMAIL")
        create.add_argument("--read-only", action="store_true", help="the token can only read")
        create.add_argument("--name", default="", help="what the token is for")
        listing = token.add_parser("list")
        listing.add_argument("--user", metavar="EMAIL")
        listing.add_argument("--format", choices=["text", "json"], default="text")
        revoke = token.add_parser("revoke")
        revoke.add_argument("id", type=int)

    def handle(self, *args, action, token_action, **options):
        getattr(self, f"do_{token_action}")(**options)

    def do_create(self, *, user, read_only, name, **_):
        account = get_user_model().objects.filter(email__iexact=user.strip(), is_active=True).first()
        if account is None:
            raise CommandError(f"no active user {user}")
        with transaction.atomic():
            token, raw = ApiToken.issue(account, name=name, read_only=read_only)
            record("api.token_created", obj=token, user=account.email, read_only=read_only, name=name)
        self.stderr.write(f"token {token.pk} for {account.email} ({'read-only' if read_only else 'read-write'}):")
        self.stdout.write(raw)

    def do_list(self, *, user, format, **_):
        tokens = ApiToken.objects.select_related("user")
        if user:
            tokens = tokens.filter(user__email__iexact=user)
        rows = [
            {
                "id": t.pk,
                "user": t.user.email,
                "name": t.name,
                "read_only": t.read_only,
                "created": t.created.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in tokens
        ]
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for r in rows:
            state = "revoked" if r["revoked"] else ("read-only" if r["read_only"] else "read-write")
            self.stdout.write(f"{r['id']}\t{r['user']}\t{state}\t{r['name']}\tlast used {r['last_used_at'] or '-'}")

    def do_revoke(self, *, id, **_):
        with transaction.atomic():
            if not ApiToken.objects.filter(pk=id, revoked_at__isnull=True).update(revoked_at=timezone.now()):
                raise CommandError(f"no live token {id}")
            record("api.token_revoked", obj=ApiToken.objects.get(pk=id))
        self.stdout.write(f"token {id} revoked")
