"""Temporal queries over grants: what was in effect at a time, what is current."""

from datetime import datetime

from django.db import models
from django.db.models import Q


class GrantQuerySet(models.QuerySet):
    def current(self):
        return self.filter(removed_run__isnull=True)

    def at(self, when: datetime):
        """Grants in effect at ``when``: applied at or before it and not yet removed then."""
        return self.filter(valid_from__lte=when).filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when))
