"""Review campaigns, their items and decisions, the revocations they cause, and the audit trail.

A campaign freezes what it reviews at launch (ReviewItem copies what the grant
conferred then), so later syncs never change an open review; the item keeps a
link to the grant to learn whether it is gone and to revoke it.
"""

from django.conf import settings
from django.db import models

from connectors.choices import Level
from connectors.models import Account, Connector, Grant, Identity, Resource, SyncRun

from .choices import CampaignState, Change, DecisionKind, ItemState, OnTimeout, RevocationState, Verdict


class CampaignTemplate(models.Model):
    """What to review, who reviews it, and how often (``campaign template apply`` writes these from YAML).

    scope: {connectors: [names], resources: [path globs], min_level: "read", account_types: [...],
            risk: [codes], changed_since_last_review: bool}
    reviewers: {strategies: ["manager", "resource_owner", {"users": [emails]}], fallback: email,
                stages: [{"strategies": [...], "when": {"min_level": "admin"}}]}
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    scope = models.JSONField(default=dict, blank=True)
    reviewers = models.JSONField(default=dict, blank=True)
    schedule = models.CharField(
        max_length=100, blank=True, help_text='Cron ("0 9 1 */3 *") or "every: 90d"; empty: by hand.'
    )
    next_launch_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField()
    reminders = models.JSONField(default=list, blank=True, help_text="Days before the deadline.")
    escalate_after = models.DurationField(null=True, blank=True)
    escalate_reassign = models.BooleanField(default=False)
    on_timeout = models.CharField(max_length=10, choices=OnTimeout.choices, default=OnTimeout.KEEP)
    carry_forward = models.BooleanField(default=False)
    # Revocations wait for the security role's approval instead of running at close.
    approve_revocations = models.BooleanField(default=False)
    max_sync_age = models.DurationField(help_text="Older inventories are synced before launch.")
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # reviews.tasks launches due templates.
        indexes = [models.Index(fields=["enabled", "next_launch_at"])]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """One run of a template. The template's settings are copied at launch so editing it changes no open review."""

    template = models.ForeignKey(CampaignTemplate, null=True, on_delete=models.SET_NULL, related_name="campaigns")
    name = models.CharField(max_length=300)
    config = models.JSONField(default=dict, help_text="The template as it was at launch.")
    state = models.CharField(max_length=20, choices=CampaignState.choices, default=CampaignState.LAUNCHING)
    launched_at = models.DateTimeField()
    due_at = models.DateTimeField()
    extended = models.BooleanField(default=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The inventory run of each connector the items were frozen from: {connector_id: run_id}.
    runs = models.JSONField(default=dict)

    class Meta:
        ordering = ["-launched_at", "-id"]
        # reviews.tasks closes campaigns past their deadline.
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return self.name


class ReviewItem(models.Model):
    """One recorded grant under review, frozen at launch."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    # Links into the inventory, without database constraints: the item carries frozen copies of what they say,
    # a launch writes 100,000 items (five deferred foreign-key checks each would double its time), and
    # connectors.actions.do_remove_connector clears them before the inventory goes.
    grant = models.ForeignKey(
        Grant, null=True, on_delete=models.SET_NULL, related_name="review_items", db_constraint=False
    )
    grant_key = models.CharField(max_length=40)
    connector = models.ForeignKey(
        Connector, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    account = models.ForeignKey(Account, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    group = models.ForeignKey(Resource, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    resource = models.ForeignKey(Resource, null=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    # Frozen copies, so the item reads the same whatever later syncs do.
    holder_label = models.CharField(max_length=300)
    holder_type = models.CharField(max_length=30)
    resource_path = models.CharField(max_length=1000)
    resource_type = models.CharField(max_length=30)
    kind = models.CharField(max_length=20)
    permission = models.CharField(max_length=300)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    via = models.CharField(max_length=500)
    effect = models.CharField(
        max_length=500, blank=True, help_text='e.g. "membership in team platform -> write on 12 repositories"'
    )
    last_active_at = models.DateTimeField(null=True, blank=True)
    subject = models.ForeignKey(
        Identity, null=True, on_delete=models.SET_NULL, related_name="+", help_text="The person whose access it is."
    )
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_codes = models.CharField(max_length=500, default=",")
    change = models.CharField(max_length=20, choices=Change.choices, default=Change.NEW)
    previous_level = models.PositiveSmallIntegerField(null=True, blank=True)
    previous_verdict = models.CharField(max_length=20, blank=True)
    previous_reviewer = models.CharField(max_length=254, blank=True)
    # Routing
    reviewer = models.ForeignKey(Identity, null=True, on_delete=models.SET_NULL, related_name="review_items")
    stage = models.PositiveSmallIntegerField(default=1)
    routed_by = models.CharField(
        max_length=30, blank=True, help_text="manager, resource_owner, users, fallback, delegated…"
    )
    # Outcome
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.PENDING)
    verdict = models.CharField(max_length=20, choices=Verdict.choices, blank=True)
    downgrade_to = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    justification = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    carried_forward = models.BooleanField(default=False)
    timed_out = models.BooleanField(default=False)
    # Optimistic concurrency: a decision names the version it saw.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-risk_score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "grant_key", "connector"], name="one_item_per_grant")
        ]
        indexes = [
            # A reviewer's pending items, riskiest first.
            models.Index(fields=["campaign", "reviewer", "state", "-risk_score"]),
            # Campaign progress counts.
            models.Index(fields=["campaign", "state", "verdict"]),
        ]

    def __str__(self) -> str:
        return f"{self.holder_label} {self.permission} on {self.resource_path}"


class Decision(models.Model):
    """Append-only history of an item: every decision, delegation, comment and undo."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=20, choices=DecisionKind.choices)
    level = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    to = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    justification = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, help_text="Email or 'system' at the time.")
    # The item's state, verdict and reviewer before this entry.
    before = models.JSONField(default=dict)
    created = models.DateTimeField()

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on item {self.item_id}"


class ReviewerProgress(models.Model):
    """One reviewer in one campaign: sign-off and escalation."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reviewers")
    reviewer = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    signed_off_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "reviewer"], name="one_progress_per_reviewer")]

    def __str__(self) -> str:
        return f"{self.reviewer} in {self.campaign}"


class Revocation(models.Model):
    """One action that takes access away, at the node that grants it; an outbox row for its Celery task.

    key is unique: a decision produces its revocation once, however often close or a retry runs.
    """

    key = models.CharField(max_length=80, unique=True)
    item = models.ForeignKey(ReviewItem, null=True, on_delete=models.SET_NULL, related_name="revocations")
    grant = models.ForeignKey(Grant, null=True, on_delete=models.SET_NULL, related_name="revocations")
    grant_key = models.CharField(max_length=40)
    connector = models.ForeignKey(Connector, null=True, on_delete=models.SET_NULL, related_name="revocations")
    downgrade_to = models.PositiveSmallIntegerField(choices=Level.choices, null=True, blank=True)
    action = models.CharField(max_length=500, help_text='e.g. "remove alice from team acme/platform"')
    blast_radius = models.JSONField(default=dict, blank=True, help_text="What else the action takes away.")
    state = models.CharField(max_length=20, choices=RevocationState.choices, default=RevocationState.QUEUED)
    instructions = models.TextField(blank=True, help_text="For manual tasks.")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    outcome = models.CharField(max_length=20, blank=True, help_text="revoked or already_absent")
    created = models.DateTimeField()
    executed_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]
        # Verification after each sync: a connector's executed revocations.
        indexes = [models.Index(fields=["connector", "state"])]

    def __str__(self) -> str:
        return self.action


class AuditEvent(models.Model):
    """One change of state, hash-chained to the one before (reviews.audit): edits, deletions and reorderings show."""

    seq = models.PositiveBigIntegerField(unique=True)
    created = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["action", "seq"]), models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"


class OutboundMail(models.Model):
    """The mail outbox: one row per (kind, recipient, campaign, day), so retries and double beats send once.

    message_id is derived from the key, so a resend after a crash carries the same Message-ID.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed permanently"

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40)
    recipient = models.EmailField()
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    day = models.DateField()
    message_id = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    html = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # When a transient failure's retry is due: a row still queued well after it lost its retry message.
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["state", "created"])]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient}"


class NotificationSettings(models.Model):
    """Site-wide mail schedule, one row (pk=1), editable in the UI."""

    digest_enabled = models.BooleanField(default=True)
    # Local hour (settings.TIME_ZONE) at which the daily digest goes out.
    digest_hour = models.PositiveSmallIntegerField(default=8)
    # 0 = Monday.
    weekly_summary_weekday = models.PositiveSmallIntegerField(default=0)
    weekly_summary_hour = models.PositiveSmallIntegerField(default=8)
    revocation_notices = models.BooleanField(default=True)
    security_team_emails = models.JSONField(
        default=list, blank=True, help_text="Empty: every user with the security role."
    )

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return "notification settings"

    @classmethod
    def load(cls) -> "NotificationSettings":
        return cls.objects.get_or_create(pk=1)[0]
