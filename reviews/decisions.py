"""Reviewers' decisions: every change to an item goes through here, with its Decision row and audit event
in one transaction.

Rules: a reviewer decides only the items assigned to them, only while the campaign is open, never their
own access; revoking, and approving a high-risk item, need a justification; a decision names the item
version it saw, so two tabs cannot silently overwrite each other.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from connectors.choices import Level
from connectors.models import Identity
from pipeaccess.roles import is_auditor, is_security

from . import audit
from .choices import CampaignState, DecisionKind, ItemState, Verdict
from .config import parse_reviewers
from .models import Campaign, Decision, ReviewerProgress, ReviewItem
from .routing import Directory, route

DECISIONS = ("approve", "revoke", "downgrade", "delegate")
# What a decision, an undo or a stage change writes on an item.
ITEM_DECISION_FIELDS = [
    "state",
    "verdict",
    "downgrade_to",
    "justification",
    "decided_by",
    "decided_at",
    "reviewer",
    "routed_by",
    "stage",
    "carried_forward",
    "version",
]


class DecisionError(Exception):
    status = 400


class NotAllowed(DecisionError):
    """Not your item, your own access, or not your role (HTTP 403)."""

    status = 403


class Conflict(DecisionError):
    """The campaign is closed, the item is gone or final, or someone changed it since you loaded it (HTTP 409)."""

    status = 409


class Invalid(DecisionError):
    """The decision itself is incomplete: a justification or level is missing (HTTP 400)."""

    status = 400


# --- Who sees what --------------------------------------------------------------


def identity_of_user(user) -> Identity | None:
    """The person a login user is: the roster entry with the same email."""
    email = getattr(user, "email", "") if getattr(user, "is_authenticated", False) else ""
    return Identity.objects.filter(email=email.strip().lower()).first() if email else None


def reviewer_items(user, campaign: Campaign | None = None) -> QuerySet[ReviewItem]:
    """The items assigned to this user's person (none when the user is no person of the roster)."""
    identity = identity_of_user(user)
    if identity is None:
        return ReviewItem.objects.none()
    qs = ReviewItem.objects.filter(reviewer=identity)
    return qs.filter(campaign=campaign) if campaign is not None else qs


def can_view_item(user, item: ReviewItem) -> bool:
    if is_security(user) or is_auditor(user):
        return True
    identity = identity_of_user(user)
    return identity is not None and item.reviewer_id == identity.pk


# --- Decisions ------------------------------------------------------------------


def _snapshot(item: ReviewItem) -> dict:
    return {
        "state": item.state,
        "verdict": item.verdict,
        "downgrade_to": item.downgrade_to,
        "reviewer_id": item.reviewer_id,
        "stage": item.stage,
        "version": item.version,
    }


def _lock(item: ReviewItem) -> ReviewItem:
    return (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("campaign", "grant", "resource")
        .get(pk=item.pk)
    )


def _check_reviewer(item: ReviewItem, actor, identity: Identity | None) -> None:
    """Yours, not about you, and the campaign open: checked in that order so others' items never say more."""
    if identity is None or item.reviewer_id != identity.pk:
        raise NotAllowed("this item is not assigned to you")
    if item.subject_id is not None and item.subject_id == identity.pk:
        raise NotAllowed("nobody reviews their own access; ask the security team to reassign it")
    if item.campaign.state != CampaignState.OPEN:
        raise Conflict(f"the campaign is {item.campaign.get_state_display().lower()}")


def _gone(item: ReviewItem) -> bool:
    return item.grant_id is None or item.grant.removed_run_id is not None


def _log(item: ReviewItem, kind: str, actor, before: dict, *, level=None, to=None, justification="") -> Decision:
    now = timezone.now()
    decision = Decision.objects.create(
        item=item,
        kind=kind,
        level=level,
        to=to,
        justification=justification,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "email", None) or "system",
        before=before,
        created=now,
    )
    audit.record(
        f"decision.{kind}",
        actor=actor,
        obj=item,
        campaign=item.campaign,
        item=item.pk,
        grant_key=item.grant_key,
        holder=item.holder_label,
        resource=item.resource_path,
        permission=item.permission,
        level=Level(level).label if level else None,
        to=to.email if to else None,
        justification=justification,
        before=before,
    )
    return decision


def _apply(item: ReviewItem, *, actor, identity, decision, level, to, justification, version) -> ReviewItem:
    """The decision on one locked item (shared by decide and bulk_decide)."""
    _check_reviewer(item, actor, identity)
    if version is not None and version != item.version:
        raise Conflict("this item changed since you loaded it; reload and decide again")
    if item.state == ItemState.GONE or _gone(item):
        if item.state != ItemState.GONE:
            item.state = ItemState.GONE
            item.save(update_fields=["state"])
        raise Conflict("this access is already gone upstream: nothing to decide")
    justification = (justification or "").strip()
    before = _snapshot(item)
    now = timezone.now()
    if decision == "delegate":
        if to is None:
            raise Invalid("delegate to whom? give the person's email")
        if not justification:
            raise Invalid("say why you delegate this item")
        if to.pk in (item.subject_id, item.reviewer_id) or to.status != "active":
            raise Invalid(f"{to.email} cannot review this item")
        item.reviewer, item.routed_by = to, "delegated"
        item.state, item.verdict, item.downgrade_to = ItemState.PENDING, "", None
        ReviewerProgress.objects.get_or_create(campaign=item.campaign, reviewer=to)
        kind = DecisionKind.DELEGATE
    elif decision == "approve":
        if item.risk_score >= settings.REVIEW_HIGH_RISK_SCORE and not justification:
            raise Invalid("this is a high-risk grant: say why it should stay")
        next_stage = _next_stage(item)
        if next_stage is not None:
            reviewer_id, routed_by = next_stage
            _log(item, DecisionKind.APPROVE, actor, before, justification=justification)
            item.stage += 1
            item.reviewer_id, item.routed_by = reviewer_id, routed_by
            item.state, item.verdict = ItemState.PENDING, ""
            if reviewer_id:
                ReviewerProgress.objects.get_or_create(campaign=item.campaign, reviewer_id=reviewer_id)
            kind = DecisionKind.STAGE
        else:
            item.state, item.verdict, item.downgrade_to = ItemState.DECIDED, Verdict.APPROVE, None
            kind = DecisionKind.APPROVE
    elif decision == "revoke":
        if not justification:
            raise Invalid("say why this access should be revoked")
        item.state, item.verdict, item.downgrade_to = ItemState.DECIDED, Verdict.REVOKE, None
        kind = DecisionKind.REVOKE
    elif decision == "downgrade":
        try:
            level = Level.from_name(level) if isinstance(level, str) else Level(level)
        except ValueError:
            raise Invalid("downgrade to which level? read, write or admin") from None
        if level >= item.level:
            raise Invalid(f"{level.label} is not below the current level {Level(item.level).label}")
        item.state, item.verdict, item.downgrade_to = ItemState.DECIDED, Verdict.DOWNGRADE, level
        kind = DecisionKind.DOWNGRADE
    else:
        raise Invalid(f"unknown decision {decision!r}; use {', '.join(DECISIONS)}")
    if item.state == ItemState.DECIDED:
        item.decided_by, item.decided_at, item.justification = actor, now, justification
    item.version += 1
    item.save(update_fields=ITEM_DECISION_FIELDS)
    _log(
        item,
        kind,
        actor,
        before,
        level=item.downgrade_to,
        to=to if decision == "delegate" else None,
        justification=justification,
    )
    return item


def _next_stage(item: ReviewItem) -> tuple[int | None, str] | None:
    """(reviewer, strategy) of the next stage when the template sends this approval on; None when final."""
    stages = item.campaign.config.get("reviewers", {}).get("stages") or []
    if item.stage > len(stages):
        return None
    stage = stages[item.stage - 1]
    when = stage.get("when") or {}
    if "min_level" in when and item.level < Level.from_name(when["min_level"]):
        return None
    if "risk" in when and not any(f",{code}," in item.risk_codes for code in when["risk"]):
        return None
    reviewers = parse_reviewers({"strategies": stage["strategies"]}, "stage")
    owner_id = item.resource.owner_id if item.resource_id else None
    return route(
        reviewers["strategies"],
        item.campaign.config["reviewers"].get("fallback"),
        Directory(),
        subject_id=item.subject_id,
        resource_owner_id=owner_id,
        exclude={item.reviewer_id},
    )


def decide(item: ReviewItem, *, actor, decision: str, level=None, to=None, justification: str = "", version=None):
    """Record one reviewer's decision on one item; returns the updated item or raises a DecisionError."""
    identity = identity_of_user(actor)
    if isinstance(to, str):
        to = Identity.objects.filter(email=to.strip().lower()).first() or _unknown(to)
    with transaction.atomic():
        item = _lock(item)
        return _apply(
            item,
            actor=actor,
            identity=identity,
            decision=decision,
            level=level,
            to=to,
            justification=justification,
            version=version,
        )


def _unknown(email: str):
    raise Invalid(f"no person with email {email!r}")


def bulk_decide(items, *, actor, decision: str, level=None, justification: str = "") -> dict:
    """One decision on many items (a filtered selection): all or nothing; returns {"decided": n}."""
    if decision == "delegate":
        raise Invalid("delegate items one at a time")
    identity = identity_of_user(actor)
    ids = list(items.values_list("pk", flat=True))
    with transaction.atomic():
        locked = list(
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("campaign", "grant", "resource")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        for item in locked:
            _apply(
                item,
                actor=actor,
                identity=identity,
                decision=decision,
                level=level,
                to=None,
                justification=justification,
                version=None,
            )
    return {"decided": len(locked)}


def undo(item: ReviewItem, *, actor) -> ReviewItem:
    """Take back a decision while the campaign is open: the item is pending again, for the same reviewer."""
    identity = identity_of_user(actor)
    with transaction.atomic():
        item = _lock(item)
        _check_reviewer(item, actor, identity)
        if item.state != ItemState.DECIDED:
            raise Conflict("there is no decision to undo")
        before = _snapshot(item)
        item.state, item.verdict, item.downgrade_to = ItemState.PENDING, "", None
        item.decided_by, item.decided_at, item.justification, item.carried_forward = None, None, "", False
        item.version += 1
        item.save(update_fields=ITEM_DECISION_FIELDS)
        ReviewerProgress.objects.filter(campaign=item.campaign, reviewer_id=item.reviewer_id).update(signed_off_at=None)
        _log(item, DecisionKind.UNDO, actor, before)
    return item


def comment(item: ReviewItem, *, actor, text: str) -> Decision:
    text = (text or "").strip()
    if not text:
        raise Invalid("the comment is empty")
    identity = identity_of_user(actor)
    with transaction.atomic():
        item = _lock(item)
        if not is_security(actor):
            _check_reviewer(item, actor, identity)
        elif item.campaign.state != CampaignState.OPEN:
            raise Conflict("the campaign is not open")
        return _log(item, DecisionKind.COMMENT, actor, _snapshot(item), justification=text[:5000])


def reassign(items, *, to: Identity, actor, reason: str) -> int:
    """Move pending items to another reviewer (security role, or the escalation clock when actor is None)."""
    if actor is not None and not is_security(actor):
        raise NotAllowed("only the security team reassigns items")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why the items are reassigned")
    if to.status != "active":
        raise Invalid(f"{to.email} is not an active person")
    moved = 0
    with transaction.atomic():
        for item in (
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .filter(pk__in=list(items.values_list("pk", flat=True)), state=ItemState.PENDING)
        ):
            if item.campaign.state != CampaignState.OPEN:
                raise Conflict(f"the campaign {item.campaign.name} is not open")
            if item.subject_id == to.pk:
                raise Invalid(f"{to.email} would review their own access ({item})")
            before = _snapshot(item)
            item.reviewer, item.routed_by = to, "reassigned"
            item.version += 1
            item.save(update_fields=["reviewer", "routed_by", "version"])
            ReviewerProgress.objects.get_or_create(campaign=item.campaign, reviewer=to)
            _log(item, DecisionKind.REASSIGN, actor, before, to=to, justification=reason)
            moved += 1
    return moved


def sign_off(campaign: Campaign, *, actor) -> ReviewerProgress:
    """A reviewer confirms they are done: allowed once none of their items is pending."""
    identity = identity_of_user(actor)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.state != CampaignState.OPEN:
            raise Conflict("the campaign is not open")
        progress = ReviewerProgress.objects.filter(campaign=campaign, reviewer=identity).first() if identity else None
        if progress is None:
            raise NotAllowed("you have no items in this campaign")
        left = campaign.items.filter(reviewer=identity, state=ItemState.PENDING).count()
        if left:
            raise Invalid(f"{left} item{'s' if left != 1 else ''} still to decide")
        progress.signed_off_at = timezone.now()
        progress.save(update_fields=["signed_off_at"])
        audit.record("campaign.signed_off", actor=actor, obj=progress, campaign=campaign, reviewer=identity.email)
    return progress
