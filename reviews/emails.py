"""One small function per mail: build subject, text and HTML from templates/emails/ and queue an OutboundMail row.

Every ``queue_*`` function is idempotent and safe inside the caller's transaction: the row's key is
``kind:recipient:campaign:day`` (revocation mails add the revocation id), unique in the table, so calling it
again, from a retried task or a second beat, finds the existing row instead of adding one. A new row is handed
to the ``send_mail`` task when the surrounding transaction commits (reviews/mailer.py sends it).

Names that come from synced systems are untrusted: the HTML part is autoescaped by the template engine, the
text part and subject are plain text; both go through :func:`clean`, which drops control and bidirectional
formatting characters (a name cannot add lines, headers or reverse the text around it) and shortens very long
values. Links are built from settings.SITE_URL. No mail carries a secret: the contexts below hold names,
counts, dates and links only, and error texts pass through the log redactor.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q
from django.template import Context
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from connectors.models import Grant, Identity
from pipeaccess.redact import redact
from pipeaccess.roles import SECURITY

from .choices import Change, DecisionKind, ItemState, RevocationState
from .models import Campaign, NotificationSettings, OutboundMail, ReviewerProgress, ReviewItem, Revocation

# A risk score from which an item counts as "risky" in mails (connectors.risk scores run 0-100).
RISKY_SCORE = 50
# Longest name, path or label shown in a mail; longer values end in "…".
NAME_LIMIT = 200
SUBJECT_LIMIT = 250
# Rows listed in a summary table before "and N more".
LIST_LIMIT = 20

# C0/C1 controls (newlines included: a name is one line), zero-width and bidirectional formatting characters.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


class Kind:
    LAUNCH = "launch"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    DIGEST = "digest"
    CLOSE_SUMMARY = "close_summary"
    WEEKLY_SUMMARY = "weekly_summary"
    REVOCATION_NOTICE = "revocation_notice"
    REVOCATION_FAILED = "revocation_failed"
    ACCESS_REAPPEARED = "access_reappeared"


# --- helpers -------------------------------------------------------------------


def clean(value, limit: int = NAME_LIMIT) -> str:
    """A synced value made safe to show as one line of plain text (HTML escaping is the template's job)."""
    text = " ".join(_INVISIBLE.sub(" ", str(value if value is not None else "")).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _url(name: str, pk: int, fallback: str) -> str:
    try:
        return link(reverse(name, args=[pk]))
    except NoReverseMatch:
        return link(fallback)


def campaign_url(campaign: Campaign) -> str:
    """The recipient's own items in the campaign; the login page sends an anonymous visitor back here afterwards."""
    return _url("reviews:review", campaign.pk, f"/reviews/campaigns/{campaign.pk}/")


def campaign_admin_url(campaign: Campaign) -> str:
    """The security team's view of the whole campaign."""
    return _url("reviews:campaign_detail", campaign.pk, f"/reviews/all/{campaign.pk}/")


def person_label(identity: Identity | None) -> str:
    if identity is None:
        return "nobody"
    name = clean(identity.name)
    return f"{name} <{identity.email}>" if name else identity.email


def local_day(moment: datetime | None = None) -> date:
    return timezone.localdate(moment or timezone.now())


def message_id_for(key: str) -> str:
    """The same key always gives the same Message-ID, so a resend is recognisable as the same message."""
    domain = urlsplit(settings.SITE_URL).hostname or "pipeaccess.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def mail_key(kind: str, recipient: str, campaign: Campaign | None, day: date, extra: str = "") -> str:
    key = f"{kind}:{recipient}:{campaign.pk if campaign else '-'}:{day.isoformat()}"
    if extra:
        key += f":{extra}"
    if len(key) > 200:
        # Only a very long address gets here; the hash keeps the key unique and within the column.
        key = f"{kind}:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def _render_plain(name: str, context: dict) -> str:
    # The engine's own Template with autoescape off: the text part and subject are not HTML.
    return get_template(name).template.render(Context(context, autoescape=False))


def render(template: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) of templates/emails/<template>-subject.txt, -body.txt and -body.html."""
    context = {"site_url": settings.SITE_URL.rstrip("/"), "risky_score": RISKY_SCORE, **context}
    subject = clean(_render_plain(f"emails/{template}-subject.txt", context), SUBJECT_LIMIT)
    text = _render_plain(f"emails/{template}-body.txt", context).strip() + "\n"
    html = get_template(f"emails/{template}-body.html").render(context)
    return subject, text, html


def queue(
    kind: str,
    recipient: str,
    *,
    context: dict,
    day: date,
    campaign: Campaign | None = None,
    extra_key: str = "",
    template: str | None = None,
    now: datetime | None = None,
) -> OutboundMail | None:
    """Queue one mail unless its key exists; send it after the surrounding transaction commits.

    Returns the row (``row.fresh`` tells whether this call created it), or None without a recipient.
    """
    recipient = (recipient or "").strip().lower()
    if not recipient:
        return None
    key = mail_key(kind, recipient, campaign, day, extra_key)
    existing = OutboundMail.objects.filter(key=key).first()
    if existing is not None:
        existing.fresh = False
        return existing
    subject, text, html = render(template or kind.replace("_", "-"), context)
    row, created = OutboundMail.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "recipient": recipient,
            "campaign": campaign,
            "day": day,
            "message_id": message_id_for(key),
            "subject": subject,
            "text": text,
            "html": html,
            # When the row was written (the real clock, whatever clock the caller schedules by).
            "created": timezone.now(),
        },
    )
    row.fresh = created
    if created:
        from .tasks.mail import send_mail

        # robust: a broker that is down must not fail the caller's committed change; mail_tick re-enqueues the row.
        transaction.on_commit(lambda: send_mail.delay(row.pk), robust=True)
    return row


def security_team() -> list[str]:
    """NotificationSettings.security_team_emails, or every active user with the security role."""
    configured = [e.strip().lower() for e in NotificationSettings.load().security_team_emails if e and e.strip()]
    if configured:
        return sorted(set(configured))
    users = get_user_model().objects.filter(groups__name=SECURITY, is_active=True).exclude(email="")
    return sorted({email.lower() for email in users.values_list("email", flat=True)})


def campaign_context(campaign: Campaign, *, admin: bool = False) -> dict:
    return {
        "name": clean(campaign.name),
        "url": campaign_admin_url(campaign) if admin else campaign_url(campaign),
        "due_at": timezone.localtime(campaign.due_at),
        "id": campaign.pk,
    }


def _pending_by_reviewer(campaign: Campaign) -> dict[int, dict]:
    rows = (
        ReviewItem.objects.filter(campaign=campaign, state=ItemState.PENDING, reviewer__isnull=False)
        .values("reviewer")
        .annotate(
            pending=Count("id"),
            risky=Count("id", filter=Q(risk_score__gte=RISKY_SCORE)),
            new=Count("id", filter=Q(change=Change.NEW)),
        )
    )
    return {row["reviewer"]: row for row in rows}


def _fallback_identity(campaign: Campaign) -> Identity | None:
    fallback = ((campaign.config or {}).get("reviewers") or {}).get("fallback")
    if isinstance(fallback, str) and fallback:
        return Identity.objects.filter(email=fallback.strip().lower()).first()
    return None


# --- reviewers -------------------------------------------------------------------


def queue_launch(campaign: Campaign, *, now: datetime | None = None) -> list[OutboundMail]:
    """One mail per reviewer with undecided items: how many, how many risky and new, the deadline, a link."""
    counts = _pending_by_reviewer(campaign)
    day = local_day(campaign.launched_at)
    rows = []
    for reviewer in Identity.objects.filter(pk__in=counts).order_by("email"):
        count = counts[reviewer.pk]
        context = {
            "reviewer": clean(reviewer.name) or reviewer.email,
            "campaign": campaign_context(campaign),
            "items": count["pending"],
            "risky": count["risky"],
            "new": count["new"],
        }
        row = queue(Kind.LAUNCH, reviewer.email, context=context, day=day, campaign=campaign, now=now)
        if row:
            rows.append(row)
    return rows


def queue_reminder(
    campaign: Campaign, reviewer: Identity, *, pending: int, day: date, now: datetime | None = None
) -> OutboundMail | None:
    """A reminder at one of the template's offsets; ``day`` is the day the offset falls on (one per offset)."""
    now = now or timezone.now()
    context = {
        "reviewer": clean(reviewer.name) or reviewer.email,
        "campaign": campaign_context(campaign),
        "pending": pending,
        "days_left": max(0, (campaign.due_at - now).days),
        "hours_left": max(0, int((campaign.due_at - now).total_seconds() // 3600)),
    }
    return queue(Kind.REMINDER, reviewer.email, context=context, day=day, campaign=campaign, now=now)


def _escalation_entry(progress: ReviewerProgress, pending, outstanding: int | None = None) -> dict:
    reviewer = progress.reviewer
    reassigned = 0
    if progress.escalated_to_id:
        # Items the escalation moved to the recipient (template setting escalate_reassign) still count.
        reassigned = (
            pending.filter(
                reviewer=progress.escalated_to_id,
                decisions__kind=DecisionKind.REASSIGN,
                decisions__before__reviewer_id=reviewer.pk,
            )
            .distinct()
            .count()
        )
    if outstanding is None:
        outstanding = pending.filter(reviewer=reviewer).count() + reassigned
    return {
        "reviewer": person_label(reviewer),
        "name": clean(reviewer.name),
        "email": reviewer.email,
        "outstanding": outstanding,
        "reassigned": reassigned,
    }


def queue_escalation(
    progress: ReviewerProgress, *, outstanding: int | None = None, now: datetime | None = None
) -> OutboundMail | None:
    """Tell the reviewer's manager (or the fallback reviewer, else the security team) who is overdue and by how much.

    One mail per (recipient, campaign, day of ``escalated_at``) names every reviewer of the campaign escalated to
    that recipient that day. A reviewer escalated after that mail was queued gets a mail of their own (key plus
    the reviewer's id), so nobody is left out and nothing is sent twice however often this is called.
    ``outstanding`` overrides the count for ``progress``'s reviewer (default: their undecided items, including
    those reassigned to the recipient).
    """
    campaign = progress.campaign
    target = progress.escalated_to or _fallback_identity(campaign)
    recipients = [target.email] if target else security_team()
    moment = progress.escalated_at or now or timezone.now()
    day = local_day(moment)
    day_start = timezone.make_aware(datetime.combine(day, time.min))
    group = ReviewerProgress.objects.filter(
        campaign=campaign,
        escalated_at__gte=day_start,
        escalated_at__lt=day_start + timedelta(days=1),
        escalated_to=progress.escalated_to_id,
        signed_off_at__isnull=True,
    ).select_related("reviewer")
    members = {p.pk: p for p in group} | {progress.pk: progress}
    pending = ReviewItem.objects.filter(campaign=campaign, state=ItemState.PENDING)
    entries = sorted(
        (_escalation_entry(p, pending, outstanding if p.pk == progress.pk else None) for p in members.values()),
        key=lambda e: e["email"],
    )
    entries = [e for e in entries if e["outstanding"] or e["email"] == progress.reviewer.email]
    rows = []
    for email in recipients:
        extra = ""
        existing = OutboundMail.objects.filter(key=mail_key(Kind.ESCALATION, email, campaign, day)).first()
        named = entries
        if existing is not None:
            named = [e for e in entries if f"<{e['email']}>" not in existing.text]
            if not any(e["email"] == progress.reviewer.email for e in named):
                existing.fresh = False
                rows.append(existing)
                continue
            extra = str(progress.reviewer_id)
        context = {
            "recipient": clean(target.name) if target else "",
            "entries": named,
            "total": sum(e["outstanding"] for e in named),
            "reassigned": sum(e["reassigned"] for e in named),
            "campaign": campaign_context(campaign),
            "overdue_days": max(0, (moment - campaign.due_at).days),
        }
        rows.append(
            queue(Kind.ESCALATION, email, context=context, day=day, campaign=campaign, extra_key=extra, now=now)
        )
    return rows[0] if rows else None


@dataclass
class DigestEntry:
    campaign: dict
    pending: int
    risky: int
    days_left: int
    reminder: bool


def queue_digest(
    person: Identity, entries: list[DigestEntry], *, day: date, now: datetime | None = None
) -> OutboundMail | None:
    """One mail listing every open campaign in which the person has undecided items."""
    if not entries:
        return None
    context = {
        "reviewer": clean(person.name) or person.email,
        "entries": entries,
        "total": sum(e.pending for e in entries),
    }
    return queue(Kind.DIGEST, person.email, context=context, day=day, now=now)


# --- security team ----------------------------------------------------------------


def _grant_label(grant: Grant) -> dict:
    holder = grant.account.login if grant.account_id else (grant.group.path if grant.group_id else "?")
    return {
        "holder": clean(holder),
        "resource": clean(grant.resource.path),
        "connector": clean(grant.connector.name),
        "permission": clean(grant.entitlement.name),
        "score": grant.risk.score,
    }


def _revocation_label(rev: Revocation) -> dict:
    return {
        "id": rev.pk,
        "action": clean(rev.action),
        "connector": clean(rev.connector.name),
        "state": rev.get_state_display(),
        "error": clean(redact(rev.last_error), 500),
    }


def summary(*, now: datetime, campaign: Campaign | None = None) -> dict:
    """What the security team reads weekly and at a campaign's close (queried directly, nothing cached).

    With a campaign: its completion, its overdue reviewers and its revocations. Without: every open campaign's
    completion, reviewers overdue in them, and revocations executed, verified or failing in the last week.
    Both: access that reappeared and risky grants added in the last seven days.
    """
    since = now - timedelta(days=7)
    campaigns = [campaign] if campaign else list(Campaign.objects.filter(state="open").order_by("due_at"))
    completion = []
    overdue = []
    for c in campaigns:
        counts = ReviewItem.objects.filter(campaign=c).aggregate(
            total=Count("id"),
            decided=Count("id", filter=Q(state=ItemState.DECIDED, timed_out=False)),
            gone=Count("id", filter=Q(state=ItemState.GONE)),
            timed_out=Count("id", filter=Q(timed_out=True)),
            pending=Count("id", filter=Q(state=ItemState.PENDING)),
        )
        done = counts["decided"] + counts["gone"]
        percent = round(100 * done / counts["total"]) if counts["total"] else 100
        completion.append(
            {**campaign_context(c, admin=True), **counts, "percent": percent, "state": c.get_state_display()}
        )
        late = Q(state=ItemState.PENDING) if c.due_at <= now or c.state == "closed" else Q(pk__in=[])
        if c.state == "closed":
            late |= Q(timed_out=True)
        escalated = set(
            ReviewerProgress.objects.filter(campaign=c, escalated_at__isnull=False).values_list("reviewer", flat=True)
        )
        rows = (
            ReviewItem.objects.filter(Q(campaign=c, reviewer__isnull=False) & (late | Q(reviewer__in=escalated)))
            .exclude(state=ItemState.DECIDED, timed_out=False)
            .exclude(state=ItemState.GONE)
            .values("reviewer__email", "reviewer__name")
            .annotate(n=Count("id"))
            .order_by("-n", "reviewer__email")
        )
        overdue.extend(
            {
                "campaign": clean(c.name),
                "reviewer": clean(r["reviewer__name"]) or r["reviewer__email"],
                "email": r["reviewer__email"],
                "outstanding": r["n"],
            }
            for r in rows
        )
    revocations = Revocation.objects.select_related("connector")
    if campaign:
        revocations = revocations.filter(item__campaign=campaign)
        by_state = dict(revocations.values_list("state").annotate(n=Count("id")).order_by())
        executed = sum(
            by_state.get(s, 0) for s in (RevocationState.DONE, RevocationState.VERIFIED, RevocationState.REAPPEARED)
        )
        verified = by_state.get(RevocationState.VERIFIED, 0)
    else:
        executed = revocations.filter(executed_at__gte=since, executed_at__lt=now).count()
        verified = revocations.filter(verified_at__gte=since, verified_at__lt=now).count()
    failed = revocations.filter(state=RevocationState.FAILED).order_by("-created")
    reappeared = Revocation.objects.select_related("connector").filter(state=RevocationState.REAPPEARED)
    if campaign:
        reappeared = reappeared.filter(item__campaign=campaign)
    new_risky = (
        Grant.objects.filter(removed_run__isnull=True, valid_from__gte=since, risk__score__gte=RISKY_SCORE)
        .select_related("account", "group", "resource", "connector", "entitlement", "risk")
        .order_by("-risk__score", "-valid_from", "id")
    )
    return {
        "since": timezone.localtime(since),
        "now": timezone.localtime(now),
        "completion": completion,
        "overdue": overdue[:LIST_LIMIT],
        "overdue_more": max(0, len(overdue) - LIST_LIMIT),
        "executed": executed,
        "verified": verified,
        "failed_count": failed.count(),
        "failed": [_revocation_label(r) for r in failed[:LIST_LIMIT]],
        "reappeared_count": reappeared.count(),
        "reappeared": [_revocation_label(r) for r in reappeared.order_by("-created")[:LIST_LIMIT]],
        "new_risky_count": new_risky.count(),
        "new_risky": [_grant_label(g) for g in new_risky[:LIST_LIMIT]],
        "risky_score": RISKY_SCORE,
        "mail_failures": OutboundMail.objects.filter(state=OutboundMail.State.FAILED, created__gte=since).count(),
    }


def queue_close_summary(campaign: Campaign, *, now: datetime | None = None) -> list[OutboundMail]:
    """The security team's summary of a closed campaign, one mail per member."""
    now = now or timezone.now()
    context = {"campaign": campaign_context(campaign, admin=True), "summary": summary(now=now, campaign=campaign)}
    day = local_day(campaign.closed_at or now)
    rows = [
        queue(Kind.CLOSE_SUMMARY, email, context=context, day=day, campaign=campaign, now=now)
        for email in security_team()
    ]
    return [r for r in rows if r]


def queue_weekly_summary(*, now: datetime | None = None) -> list[OutboundMail]:
    now = now or timezone.now()
    context = {"summary": summary(now=now)}
    rows = [
        queue(Kind.WEEKLY_SUMMARY, email, context=context, day=local_day(now), now=now) for email in security_team()
    ]
    return [r for r in rows if r]


# --- revocations -------------------------------------------------------------------


def _revocation_context(rev: Revocation) -> dict:
    item = rev.item
    campaign = item.campaign if item else None
    return {
        "revocation": _revocation_label(rev),
        "resource": clean(item.resource_path) if item else "",
        "permission": clean(item.permission) if item else "",
        "holder": clean(item.holder_label) if item else "",
        "subject": person_label(item.subject) if item and item.subject_id else "",
        "campaign": campaign_context(campaign) if campaign else None,
        "downgrade": rev.get_downgrade_to_display() if rev.downgrade_to else "",
    }


def _revocation_campaign(rev: Revocation) -> Campaign | None:
    return rev.item.campaign if rev.item_id else None


def queue_revocation_notice(rev: Revocation, *, now: datetime | None = None) -> OutboundMail | None:
    """Tell the person whose access was removed (NotificationSettings.revocation_notices; not to leavers)."""
    if not NotificationSettings.load().revocation_notices:
        return None
    person = rev.item.subject if rev.item_id else None
    if person is None or person.status != "active":
        return None
    context = {**_revocation_context(rev), "person": clean(person.name) or person.email}
    day = local_day(rev.executed_at or now)
    return queue(
        Kind.REVOCATION_NOTICE,
        person.email,
        context=context,
        day=day,
        campaign=_revocation_campaign(rev),
        extra_key=str(rev.pk),
        now=now,
    )


def _to_security_team(kind: str, rev: Revocation, now: datetime | None) -> list[OutboundMail]:
    context = _revocation_context(rev)
    rows = [
        queue(
            kind,
            email,
            context=context,
            day=local_day(now),
            campaign=_revocation_campaign(rev),
            extra_key=str(rev.pk),
            now=now,
        )
        for email in security_team()
    ]
    return [r for r in rows if r]


def queue_revocation_failed(rev: Revocation, *, now: datetime | None = None) -> list[OutboundMail]:
    """Tell the security team a revocation failed (with the connector's error, secrets masked)."""
    return _to_security_team(Kind.REVOCATION_FAILED, rev, now)


def queue_access_reappeared(rev: Revocation, *, now: datetime | None = None) -> list[OutboundMail]:
    """Tell the security team that access revoked earlier is back after a sync."""
    return _to_security_team(Kind.ACCESS_REAPPEARED, rev, now)
