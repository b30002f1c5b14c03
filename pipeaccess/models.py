"""API tokens for integrations: shown once, stored as a hash, read-only or read-write."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX = "pa_"


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A token acts as its user, with that user's roles; read_only tokens can only read.

    The raw token (pa_<lookup>_<secret>) exists only in the creator's hands; the database keeps its
    SHA-256, and the lookup part finds the row without comparing every hash.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    lookup = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    read_only = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.user} {self.name or self.lookup}"

    @classmethod
    def issue(cls, user, *, name: str = "", read_only: bool = False) -> tuple[ApiToken, str]:
        lookup = secrets.token_hex(6)
        raw = f"{PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(user=user, name=name, lookup=lookup, digest=_digest(raw), read_only=read_only)
        return token, raw

    @classmethod
    def find(cls, raw: str) -> ApiToken | None:
        """The live token for a raw value, or None (unknown, malformed, revoked or of an inactive user)."""
        if not raw.startswith(PREFIX):
            return None
        lookup, sep, _ = raw.removeprefix(PREFIX).partition("_")
        if not sep:
            return None
        token = cls.objects.select_related("user").filter(lookup=lookup, revoked_at__isnull=True).first()
        if token is None or not token.user.is_active or not hmac.compare_digest(token.digest, _digest(raw)):
            return None
        return token
