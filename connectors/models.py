"""The access inventory: who can do what in each upstream system, over time.

Grants are recorded where they are granted (to an account, to a group
principal, as a membership, or once on an organization or instance) and are
temporal: each row says in which sync run it appeared and disappeared, so any
past state is one query and re-syncing an unchanged system writes nothing.
Effective access (who reaches which resource through which path) is derived
from these rows by connectors.effective.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import (
    AccountState,
    AccountType,
    GrantKind,
    IdentityStatus,
    Level,
    LinkRule,
    OwnerRule,
    ResourceType,
    SyncStatus,
)
from .querysets import GrantQuerySet


class Connector(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=30)
    # The address users know; the connector class adds the documented API path.
    base_url = models.URLField(max_length=500)
    options = models.JSONField(default=dict, blank=True)
    # KEY -> reference ("env:NAME", "file:PATH" or "stored:ID", a StoredSecret row); never a secret value.
    secrets = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    sync_interval = models.DurationField(null=True, blank=True, help_text="Empty: manual syncs only.")
    next_sync_at = models.DateTimeField(null=True, blank=True)
    removal_threshold = models.FloatField(
        null=True, blank=True, help_text="Share of grants a sync may remove before it is held; empty: site default."
    )
    # Revocations are listed, not sent, until the security role switches this off.
    dry_run = models.BooleanField(default=True)
    fallback_owner = models.ForeignKey(
        "Identity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Owner of resources and non-human accounts no rule gives an owner.",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # sync_due_connectors selects by next_sync_at.
        indexes = [models.Index(fields=["enabled", "next_sync_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def allow_private_network(self) -> bool:
        return str(self.options.get("allow_private_network", "")).lower() == "true"

    def effective_removal_threshold(self) -> float:
        if self.removal_threshold is not None:
            return self.removal_threshold
        return settings.SYNC_REMOVAL_THRESHOLD

    def last_applied_run(self) -> "SyncRun | None":
        return self.runs.filter(applied_at__isnull=False).order_by("-applied_at", "-id").first()


class StoredSecret(models.Model):
    """A token pasted into PipeAccess, encrypted with Fernet under a key kept outside the database.

    connectors.secrets writes and reads it; Connector.secrets points at it as "stored:ID". key_id is the
    fingerprint of the key that encrypted it, so `secrets status` shows what a rotation still has to do.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="stored_secrets")
    key = models.CharField(max_length=50)
    ciphertext = models.TextField()
    key_id = models.CharField(max_length=12)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "key"], name="stored_secret_connector_key")]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.key}"


class SyncRun(models.Model):
    """One attempt to read a connector's upstream.

    running -> succeeded (applied), failed (nothing applied), or held (complete
    but would remove too much; applied only when the security role confirms,
    else discarded). Only applied runs change the inventory.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    trigger = models.CharField(max_length=20, default="manual")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    requests_made = models.PositiveIntegerField(default=0)
    requests_not_modified = models.PositiveIntegerField(default=0)
    rate_limit_used = models.PositiveIntegerField(default=0)
    rate_limit_remaining = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # The sync lock: at most one running sync per connector, across every worker.
            models.UniqueConstraint(
                fields=["connector"], condition=Q(status="running"), name="one_running_sync_per_connector"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector.name} run {self.pk} ({self.status})"


class Identity(models.Model):
    """A person, from the HR roster (or created by hand); their accounts in every system link here.

    A person missing from a full roster import becomes a leaver and is never deleted: past reviews and
    audit events keep pointing at them.
    """

    email = models.EmailField(unique=True, help_text="Primary work email, lower-cased.")
    other_emails = models.JSONField(default=list, blank=True)
    name = models.CharField(max_length=200, blank=True)
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    department = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=IdentityStatus.choices, default=IdentityStatus.ACTIVE)
    end_date = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=20, default="hr", help_text="hr (roster import) or manual.")
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return self.email

    def all_emails(self) -> list[str]:
        return [self.email, *self.other_emails]


class CorrelationRule(models.Model):
    """A configured way to link accounts of one connector to people beyond email and SSO.

    same_login_as: an account whose login equals the login of an account of ``other`` (already linked)
    belongs to that account's person (Jenkins authenticating through GitLab). email_local_part: the login
    equals the part before @ of a person's email.
    """

    class Kind(models.TextChoices):
        SAME_LOGIN_AS = "same_login_as"
        EMAIL_LOCAL_PART = "email_local_part"

    connector = models.ForeignKey("Connector", on_delete=models.CASCADE, related_name="correlation_rules")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    other = models.ForeignKey("Connector", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "kind", "other"], name="one_rule_per_pair")]

    def __str__(self) -> str:
        return f"{self.connector}: {self.kind} {self.other or ''}".strip()


class Account(models.Model):
    """An identity inside one upstream system (human or not)."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="accounts")
    external_id = models.CharField(max_length=300)
    login = models.CharField(max_length=300)
    type = models.CharField(max_length=30, choices=AccountType.choices, default=AccountType.HUMAN)
    name = models.CharField(max_length=300, blank=True)
    email = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=20, choices=AccountState.choices, default=AccountState.ACTIVE)
    two_factor = models.BooleanField(null=True)
    is_admin = models.BooleanField(default=False)
    is_outside = models.BooleanField(default=False)
    last_active_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Hash of every field above: a sync rewrites the row only when it changed.
    digest = models.CharField(max_length=40)
    present = models.BooleanField(default=True)
    first_seen_run = models.ForeignKey(SyncRun, on_delete=models.RESTRICT, related_name="+")
    removed_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    # Correlation (connectors.correlation). The sync inserts accounts in SQL, hence database defaults.
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="accounts")
    identity_rule = models.CharField(max_length=30, choices=LinkRule.choices, blank=True, db_default="")
    identity_confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    # Non-human accounts have an owner instead of an identity.
    owner = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_accounts")
    owner_rule = models.CharField(max_length=30, choices=OwnerRule.choices, blank=True, db_default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "external_id"], name="account_external_id")]
        indexes = [models.Index(fields=["connector", "login"]), models.Index(fields=["email"])]

    def __str__(self) -> str:
        return self.login


class Resource(models.Model):
    """Anything access is granted on, in a parent tree per connector."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="resources")
    external_id = models.CharField(max_length=300)
    type = models.CharField(max_length=30, choices=ResourceType.choices)
    path = models.CharField(max_length=1000)
    name = models.CharField(max_length=300, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    attributes = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=40)
    present = models.BooleanField(default=True)
    first_seen_run = models.ForeignKey(SyncRun, on_delete=models.RESTRICT, related_name="+")
    removed_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    # Who judges access to this resource (connectors.owners); inserted by the sync in SQL, hence database defaults.
    owner = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_resources"
    )
    owner_rule = models.CharField(max_length=30, choices=OwnerRule.choices, blank=True, db_default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "external_id"], name="resource_external_id")]
        # access export --resource CONNECTOR:PATH
        indexes = [models.Index(fields=["connector", "path"])]

    def __str__(self) -> str:
        return self.path


class Entitlement(models.Model):
    """A permission on a resource: the system's own name and its normalized level.

    cascade_to lists the descendant resource types the permission also applies
    to (an org base permission reaches every repository; a GitLab group role
    every subgroup and project), at cascade_level. applies_to_self is false
    when the permission only exists for its descendants (a base permission).
    """

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="entitlements")
    kind = models.CharField(max_length=20, choices=GrantKind.choices)
    name = models.CharField(max_length=300)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    cascade_to = models.CharField(max_length=200, blank=True)
    cascade_level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    applies_to_self = models.BooleanField(default=True)
    # The path reported on the descendants it cascades to (GitLab: inherited from group:PATH); empty: the grant's.
    cascade_via = models.CharField(max_length=500, blank=True, default="")
    # A membership that also makes its holder a member of the parent group of the same type (GitHub child teams).
    rolls_up = models.BooleanField(default=True)
    # A group-held grant that confers at most the member's own level in the group (GitLab group shares).
    capped = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "resource",
                    "kind",
                    "name",
                    "cascade_to",
                    "applies_to_self",
                    "cascade_via",
                    "rolls_up",
                    "capped",
                ],
                name="entitlement_identity",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.resource}"


class Grant(models.Model):
    """One entitlement held by an account or by a group principal, for a span of sync runs.

    The holder is either an account or a group resource (a team, group or
    organization whose members receive it). key identifies "the same grant"
    across runs (holder, resource, kind, via); a change of permission closes
    the old row and opens a new one with the same key.
    """

    # Single-column indexes on connector, entitlement and the runs are left out: every query filters by
    # connector first (composite indexes below), and each index slows the bulk insert of a sync.
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="grants", db_index=False)
    key = models.CharField(max_length=40)
    # Hash of what the grant confers (entitlement and attributes): a different digest under the same key is a change.
    digest = models.CharField(max_length=40)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="grants")
    group = models.ForeignKey(Resource, null=True, blank=True, on_delete=models.CASCADE, related_name="held_grants")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.RESTRICT, related_name="grants", db_index=False)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="grants")
    via = models.CharField(max_length=500)
    attributes = models.JSONField(default=dict, blank=True)
    added_run = models.ForeignKey(SyncRun, on_delete=models.RESTRICT, related_name="+", db_index=False)
    removed_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.RESTRICT, related_name="+", db_index=False
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    # Time of the last applied run that still saw it; set when the grant is closed.
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "key"], condition=Q(removed_run__isnull=True), name="one_current_grant_per_key"
            ),
            models.CheckConstraint(
                condition=Q(account__isnull=False, group__isnull=True) | Q(account__isnull=True, group__isnull=False),
                name="grant_has_one_holder",
            ),
        ]
        indexes = [
            # access export --at / diff: rows valid at a time
            models.Index(fields=["connector", "valid_from", "valid_to"]),
            models.Index(fields=["connector", "added_run"]),
            models.Index(fields=["connector", "removed_run"]),
        ]

    def __str__(self) -> str:
        holder = self.account or self.group
        return f"{holder} {self.entitlement.name} on {self.resource} via {self.via}"


class CorrelationConflict(models.Model):
    """An account two or more people could own: left unlinked and listed for the security role."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="conflicts")
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    rule = models.CharField(max_length=30, choices=LinkRule.choices)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "identity"], name="one_conflict_row_per_candidate")]

    def __str__(self) -> str:
        return f"{self.account} could be {self.identity}"


class OwnershipRule(models.Model):
    """One line of the ownership mapping file (``people owners load``): resources of ``connector`` whose path
    matches ``pattern`` (a CODEOWNERS-style glob) are owned by ``identity``; the highest position that matches wins.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="ownership_rules")
    pattern = models.CharField(max_length=1000)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    # Line order in the file: a later line overrides an earlier one.
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.connector}:{self.pattern} {self.identity}"


class GrantRisk(models.Model):
    """Risk signals of one current grant (connectors.risk), stored so lists filter and sort by them.

    codes is a comma-wrapped list (",privileged,orphan,") so ``codes__contains=",orphan,"`` works on every
    database; recomputed for a connector after each applied sync and each roster import.
    """

    grant = models.OneToOneField(Grant, primary_key=True, on_delete=models.CASCADE, related_name="risk")
    # risk.refresh() replaces a connector's rows in one statement.
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(default=0)
    codes = models.CharField(max_length=500, default=",")

    class Meta:
        # Riskiest first, per connector.
        indexes = [models.Index(fields=["connector", "-score"])]

    def __str__(self) -> str:
        return f"{self.grant_id}: {self.score} {self.codes}"

    @property
    def code_list(self) -> list[str]:
        return [c for c in self.codes.split(",") if c]


# --- Staging ----------------------------------------------------------------
# A sync streams what the upstream says into these tables, then one
# transaction compares them with the inventory in SQL. Rows are deleted when
# the run is applied, failed or discarded; a held run keeps them until then.


class StagedAccount(models.Model):  # noqa: DJ008 - rows live for one sync
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=300)
    login = models.CharField(max_length=300)
    type = models.CharField(max_length=30)
    name = models.CharField(max_length=300)
    email = models.CharField(max_length=300)
    state = models.CharField(max_length=20)
    two_factor = models.BooleanField(null=True)
    is_admin = models.BooleanField()
    is_outside = models.BooleanField()
    last_active_at = models.DateTimeField(null=True)
    attributes = models.JSONField()
    digest = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["run", "external_id"])]


class StagedResource(models.Model):  # noqa: DJ008 - rows live for one sync
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=300)
    type = models.CharField(max_length=30)
    path = models.CharField(max_length=1000)
    name = models.CharField(max_length=300)
    parent_external_id = models.CharField(max_length=300, null=True)  # noqa: DJ001 - NULL means no holder/parent
    attributes = models.JSONField()
    digest = models.CharField(max_length=40)

    class Meta:
        indexes = [models.Index(fields=["run", "external_id"])]


class StagedGrant(models.Model):  # noqa: DJ008 - rows live for one sync
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=40)
    digest = models.CharField(max_length=40)
    account_external_id = models.CharField(max_length=300, null=True)  # noqa: DJ001 - NULL means no holder/parent
    group_external_id = models.CharField(max_length=300, null=True)  # noqa: DJ001 - NULL means no holder/parent
    resource_external_id = models.CharField(max_length=300)
    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=300)
    level = models.PositiveSmallIntegerField()
    cascade_to = models.CharField(max_length=200)
    cascade_level = models.PositiveSmallIntegerField(null=True)
    applies_to_self = models.BooleanField()
    via = models.CharField(max_length=500)
    attributes = models.JSONField()
    cascade_via = models.CharField(max_length=500, default="")
    rolls_up = models.BooleanField(default=True)
    capped = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["run", "key"])]
