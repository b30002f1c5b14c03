"""Statuses and vocabularies of review campaigns, with badge colours for the UI."""

from django.db import models


class CampaignState(models.TextChoices):
    LAUNCHING = "launching", "Launching"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    # The launch could not freeze its items (a sync failed, a connector is gone); config["launch_error"] says why.
    FAILED = "failed", "Launch failed"

    @classmethod
    def colour(cls, value: str) -> str:
        return {"launching": "blue", "open": "green", "closed": "grey", "failed": "red"}[value]


class OnTimeout(models.TextChoices):
    KEEP = "keep", "Keep access"
    REVOKE = "revoke", "Revoke access"
    EXTEND = "extend", "Extend once, then keep"


class Change(models.TextChoices):
    """What happened to a grant since the last completed review of the same template."""

    NEW = "new", "New"
    LEVEL_UP = "level_up", "Level raised"
    LEVEL_DOWN = "level_down", "Level lowered"
    CHANGED = "changed", "Permission changed"
    UNCHANGED = "unchanged", "Unchanged"


class ItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    DECIDED = "decided", "Decided"
    # The grant disappeared upstream before anyone decided: nothing to revoke.
    GONE = "gone", "Already gone"


class Verdict(models.TextChoices):
    """The outcome recorded on an item."""

    APPROVE = "approve", "Approve"
    REVOKE = "revoke", "Revoke"
    DOWNGRADE = "downgrade", "Downgrade"


class DecisionKind(models.TextChoices):
    """Every entry in an item's history (reviews.models.Decision)."""

    APPROVE = "approve", "Approved"
    REVOKE = "revoke", "Revoked"
    DOWNGRADE = "downgrade", "Downgraded"
    DELEGATE = "delegate", "Delegated"
    REASSIGN = "reassign", "Reassigned"
    ESCALATE = "escalate", "Escalated"
    COMMENT = "comment", "Commented"
    UNDO = "undo", "Undone"
    CARRY_FORWARD = "carry_forward", "Carried forward"
    TIMEOUT = "timeout", "Timed out"
    STAGE = "stage", "Sent to next stage"


class RevocationState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    MANUAL = "manual", "Manual task"
    DRY_RUN = "dry_run", "Dry run (not sent)"
    VERIFIED = "verified", "Verified"
    REAPPEARED = "reappeared", "Access reappeared"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def colour(cls, value: str) -> str:
        return {
            "awaiting_approval": "orange",
            "queued": "blue",
            "running": "blue",
            "done": "green",
            "failed": "red",
            "manual": "orange",
            "dry_run": "grey",
            "verified": "green",
            "reappeared": "red",
            "cancelled": "grey",
        }[value]
