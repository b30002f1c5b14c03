"""The reviewer's pages: "My reviews", the review page, and inline decisions answered with row fragments.

Every item a view touches comes from _my_items (the items of reviews.decisions.reviewer_items(user,
campaign)): a reviewer sees and decides only their own items. All changes go through reviews.decisions (decide,
bulk_decide, undo, comment, sign_off), which raise NotAllowed (403), Conflict (409: campaign closed, item final,
stale version) and Invalid (400: e.g. a justification is required); the views only translate those into responses.

htmx posts get the updated row (or the list) as a fragment; a plain form post (no JavaScript) is
redirected back to the page with a message, so the page works without scripts too.
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.postgres.aggregates import JSONBAgg
from django.contrib.postgres.expressions import ArraySubquery
from django.core.paginator import Page, Paginator
from django.db.models import Case, CharField, Count, Exists, F, Max, OuterRef, Q, Subquery, Value, When, Window
from django.db.models.functions import Coalesce, JSONArray, JSONObject, NullIf
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from connectors.choices import Level
from connectors.models import Identity
from pipeaccess.ui import request_roles

from .. import decisions
from ..choices import CampaignState, ItemState
from ..forms import BulkDecisionForm, CommentForm, DecisionForm, ItemFilterForm, risk_signals
from ..models import Campaign, Decision, ReviewerProgress, ReviewItem

STATUS = {decisions.NotAllowed: 403, decisions.Conflict: 409, decisions.Invalid: 400}


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _status_of(exc: Exception) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 400


def _histories(item_ids) -> dict[int, list[Decision]]:
    """Each item's history (decisions, comments, delegations), oldest first: one query for a whole page."""
    history: dict[int, list[Decision]] = {pk: [] for pk in item_ids}
    for entry in Decision.objects.filter(item_id__in=list(item_ids)).select_related("to").order_by("created", "id"):
        history[entry.item_id].append(entry)
    return history


def _row_queryset(items):
    """Items with what a row shows (history comes from _histories)."""
    return items.select_related("connector", "subject", "campaign")


def _urls(campaign_pk: int) -> dict[str, str]:
    """Reversed once per response: the row template needs four URLs per item."""
    marker = "987654321"
    return {
        name: reverse(f"reviews:{name}", args=[campaign_pk, int(marker)]).replace(marker, "{}")
        for name in ("decide", "undo", "comment", "item")
    }


def _email(request) -> str:
    """The signed-in user's email as the roster keeps it (reviews.decisions.identity_of_user)."""
    return (getattr(request.user, "email", "") or "").strip().lower()


def _my_items(request, pk: int):
    """The user's items in campaign pk, resolved once per request.

    The same items as reviews.decisions.reviewer_items(user, pk) — those of the roster person whose email is
    the user's — but joined to the person in the items' own query instead of looking the person up first.
    """
    cache = request.__dict__.setdefault("_review_items", {})
    if pk not in cache:
        email = _email(request) if request.user.is_authenticated else ""
        mine = ReviewItem.objects.filter(campaign_id=pk, reviewer__email=email)
        cache[pk] = mine if email else ReviewItem.objects.none()
    return cache[pk]


def _campaign_for_reviewer(request, pk: int):
    """(campaign, the user's items in it)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    return campaign, _my_items(request, pk)


def _item_for_reviewer(request, pk: int, item_pk: int) -> ReviewItem:
    """The user's item, or 404: other reviewers' items do not exist as far as this user can tell."""
    item = _row_queryset(_my_items(request, pk)).filter(pk=item_pk).first()
    if item is None:
        raise Http404("No such item among your reviews.")
    return item


# --- risk in words ------------------------------------------------------------------------------------------


def _risk_words(item: ReviewItem, signals: dict[str, str]) -> list[str]:
    """The item's risk signals as sentences (connectors.risk.explain), worded from the frozen item."""
    codes = [code for code in item.risk_codes.split(",") if code]
    if not codes:
        return []
    from connectors import risk

    explain = getattr(risk, "explain", None)
    if explain is None:
        return [signals.get(code, code.replace("_", " ")) for code in codes]
    context = {
        "level": item.level,
        "permission": item.permission,
        "via": item.via,
        "resource_type": item.resource_type,
        "resource_path": item.resource_path,
        "account_type": item.holder_type,
        "account_login": item.holder_label,
        "identity_email": item.subject.email if item.subject_id else None,
        "last_active_at": item.last_active_at,
    }
    return list(explain(codes, context=context))


def _decorate(items, signals: dict[str, str], *, group: str, history=None) -> list[ReviewItem]:
    """Attach what the template shows but cannot compute (risk sentences, history, URLs, group headers)."""
    rows = list(items)
    if history is None:
        history = _histories([item.pk for item in rows])
    urls = _urls(rows[0].campaign_id) if rows else {}
    previous_key = None
    for item in rows:
        item.urls = {name: url.format(item.pk) for name, url in urls.items()}
        item.risk_words = _risk_words(item, signals)
        item.level_label = Level(item.level).label
        item.previous_level_label = Level(item.previous_level).label if item.previous_level else ""
        item.downgrade_choices = [lvl.label for lvl in Level if lvl < item.level]
        item.history = history.get(item.pk, [])
        item.comments = [d for d in item.history if d.kind == "comment"]
        if group == "resource":
            key = (item.connector_id, item.resource_path)
            label = f"{item.connector.name}: {item.resource_path}"
        elif item.subject_id:
            key = ("s", item.subject_id)
            label = item.subject.name or item.subject.email
            if item.subject.name:
                label = f"{item.subject.name} <{item.subject.email}>"
        else:
            key = ("h", item.holder_label)
            label = f"{item.holder_label} ({item.holder_type}, no linked person)"
        item.group_label = label if key != previous_key else ""
        previous_key = key
    return rows


def _ordered(items, group: str):
    """Riskiest group first (a group's risk is its riskiest item), riskiest item first within a group."""
    if group == "resource":
        partition = [F("connector_id"), F("resource_path")]
        label = F("resource_path")
        tie = ["connector_id"]
    else:
        partition = [F("subject_id"), Case(When(subject__isnull=True, then=F("holder_label")), default=Value(""))]
        label = Coalesce(
            NullIf(F("subject__name"), Value("")), F("subject__email"), F("holder_label"), output_field=CharField()
        )
        tie = ["subject_id", "holder_label"]
    return items.annotate(
        group_risk=Window(Max("risk_score"), partition_by=partition), group_label_sort=label
    ).order_by("-group_risk", "group_label_sort", *tie, "-risk_score", "id")


def _progress(items) -> dict:
    return _counted(
        items.aggregate(
            total=Count("pk"),
            pending=Count("pk", filter=Q(state=ItemState.PENDING)),
            gone=Count("pk", filter=Q(state=ItemState.GONE)),
        )
    )


# --- My reviews ---------------------------------------------------------------------------------------------


@login_required
@require_safe
def my_reviews(request):
    """Open campaigns in which the user has items: progress, deadline, what is left."""
    mine = decisions.reviewer_items(request.user).filter(campaign__state=CampaignState.OPEN)
    counts = {
        row["campaign_id"]: row
        for row in mine.order_by()
        .values("campaign_id")
        .annotate(total=Count("pk"), pending=Count("pk", filter=Q(state=ItemState.PENDING)))
    }
    campaigns = list(Campaign.objects.filter(pk__in=counts).order_by("due_at", "pk"))
    signed = set(
        ReviewerProgress.objects.filter(
            campaign_id__in=counts, reviewer__email=request.user.email.lower(), signed_off_at__isnull=False
        ).values_list("campaign_id", flat=True)
    )
    now = timezone.now()
    for campaign in campaigns:
        row = counts[campaign.pk]
        campaign.total, campaign.pending = row["total"], row["pending"]
        campaign.done = row["total"] - row["pending"]
        campaign.percent = round(100 * campaign.done / campaign.total) if campaign.total else 100
        campaign.signed_off = campaign.pk in signed
        campaign.overdue = campaign.due_at < now
    return render(request, "reviews/my_reviews.html", {"campaigns": campaigns, "roles": request_roles(request)})


# --- The review page ----------------------------------------------------------------------------------------


def _campaign_with_stats(request, pk: int):
    """(campaign, the user's items in it), the campaign read with everything the page says about those items.

    One query: the campaign, the user's count / pending / gone, the systems their items come from (the
    filter's choices) and whether they signed off. total == 0 means the user has no items in it.
    """
    mine = _my_items(request, pk)
    stats = (
        mine.order_by()
        .values("campaign_id")
        .annotate(
            stats=JSONObject(
                total=Count("pk"),
                pending=Count("pk", filter=Q(state=ItemState.PENDING)),
                gone=Count("pk", filter=Q(state=ItemState.GONE)),
                connectors=JSONBAgg(JSONArray("connector_id", "connector__name"), distinct=True),
            )
        )
        .values("stats")
    )
    signed = ReviewerProgress.objects.filter(
        campaign=OuterRef("pk"), reviewer__email=_email(request), signed_off_at__isnull=False
    )
    campaign = get_object_or_404(
        Campaign.objects.annotate(my_stats=Subquery(stats), my_signed_off=Exists(signed)), pk=pk
    )
    counts = campaign.my_stats or {"total": 0, "pending": 0, "gone": 0, "connectors": []}
    campaign.my_connectors = sorted({(c[0], c[1]) for c in counts.pop("connectors") or []}, key=lambda c: c[1])
    campaign.my_progress = _counted(counts)
    return campaign, mine


def _counted(counts: dict) -> dict:
    counts["done"] = counts["total"] - counts["pending"]
    counts["percent"] = round(100 * counts["done"] / counts["total"]) if counts["total"] else 100
    return counts


def _page_of(ids, number, per_page: int) -> Page:
    """The page of (id, matching) pairs in order; the matching count rides on them (COUNT(*) OVER ()), so no
    COUNT query. The page's object_list is the ids.

    Like Paginator.get_page: a page number that is not a number gives the first page, one out of range the last.
    """
    try:
        number = int(number)
    except (TypeError, ValueError):
        number = 1
    paginator = Paginator(ids, per_page)
    found = list(ids[(number - 1) * per_page : number * per_page]) if number >= 1 else []
    if not found and number != 1:
        # Out of range (a filter narrowed the list, items went elsewhere): count, then show the last page.
        paginator.count = ids.count()
        number = paginator.num_pages
        found = list(ids[(number - 1) * per_page : number * per_page])
    paginator.count = found[0][1] if found else 0
    return Page([pk for pk, _ in found], number, paginator)


def _rows_with_history(ids) -> tuple[list[ReviewItem], dict[int, list[Decision]]]:
    """The rows of these ids in that order, and their history read in the same query (a JSON array per row)."""
    entries = (
        Decision.objects.filter(item_id=OuterRef("pk"))
        .order_by("created", "id")
        .values(
            entry=JSONObject(
                id="id",
                kind="kind",
                level="level",
                to_id="to_id",
                to_email="to__email",
                justification="justification",
                actor_label="actor_label",
                created="created",
            )
        )
    )
    rows = _row_queryset(ReviewItem.objects.filter(pk__in=ids)).annotate(history_entries=ArraySubquery(entries))
    by_id = {item.pk: item for item in rows}
    history = {}
    for pk, item in by_id.items():
        history[pk] = []
        for data in item.history_entries:
            to_email = data.pop("to_email")
            entry = Decision(item_id=pk, **{**data, "created": datetime.fromisoformat(data["created"])})
            if entry.to_id:
                entry.to = Identity(pk=entry.to_id, email=to_email)
            history[pk].append(entry)
    return [by_id[pk] for pk in ids if pk in by_id], history


def _page_context(request, campaign, mine, params) -> dict:
    signals = risk_signals()
    form = ItemFilterForm(params, connectors=campaign.my_connectors, signals=signals)
    values = form.values()
    group = values["group"] or "person"
    selected = form.apply(mine)
    # The window ordering runs over ids only (a narrow sort), the page's rows are then read by id.
    ids = _ordered(selected, group).annotate(matching=Window(Count("pk"))).values_list("pk", "matching")
    page = _page_of(ids, params.get("page"), values["per_page"] or 50)
    rows, history = _rows_with_history(page.object_list)
    items = _decorate(rows, signals, group=group, history=history)
    keep = {k: v for k, v in params.items() if k != "page" and v}
    return {
        "campaign": campaign,
        "open": campaign.state == CampaignState.OPEN,
        "form": form,
        "group": group,
        "page": page,
        "items": items,
        "matching": page.paginator.count,
        "filtered": form.active(),
        "query": urlencode(keep),
        "selecting": urlencode({k: v for k, v in keep.items() if k in ItemFilterForm.SELECTING}),
        "progress": campaign.my_progress,
        "signed_off": campaign.my_signed_off,
        "levels": [lvl.label for lvl in Level],
        "high_risk": settings.REVIEW_HIGH_RISK_SCORE,
    }


@login_required
@require_safe
def review(request, pk: int):
    """The deep link of the launch mail: the user's items in this campaign, filtered and paginated."""
    campaign, mine = _campaign_with_stats(request, pk)
    if not campaign.my_progress["total"]:
        if request_roles(request) & {"security", "auditor"}:
            return redirect("reviews:campaign_detail", pk=campaign.pk)
        raise Http404("You have no items in this campaign.")
    context = _page_context(request, campaign, mine, request.GET)
    if _is_htmx(request) and request.headers.get("HX-Target") == "review-list":
        return render(request, "reviews/_item_list.html", context)
    return render(request, "reviews/review.html", context)


def _row_response(
    request, item: ReviewItem, *, error="", status=200, intent="", note="", current: ReviewItem | None = None
):
    """The item's row as the page shows it now, with the outcome of the request.

    `current` is the item as reviews.decisions returned it, when the caller has it (no need to read it again).
    """
    mine = _my_items(request, item.campaign_id)
    if current is not None:
        fresh = current if current.reviewer_id == item.reviewer_id else None
        if fresh is not None:
            fresh.connector, fresh.subject = item.connector, item.subject
    else:
        fresh = _row_queryset(mine).filter(pk=item.pk).first()
    if fresh is not None:
        (fresh,) = _decorate([fresh], risk_signals(), group="none")
        fresh.group_label = ""
    context = {
        "item": fresh or item,
        # Delegated, or approved on to a second stage: no longer this reviewer's.
        "gone_from_me": fresh is None,
        "campaign": item.campaign,
        "open": item.campaign.state == CampaignState.OPEN,
        "error": error,
        "intent": intent,
        "note": note,
        "levels": [lvl.label for lvl in Level],
        "high_risk": settings.REVIEW_HIGH_RISK_SCORE,
        # Rendered without the request: the row needs no context processor, only the CSRF token.
        "csrf_token": get_token(request),
    }
    response = HttpResponse(render_to_string("reviews/_item_row.html", context), status=status)
    # The page's progress bar listens for this event (static/reviews/review.js); no second request needed.
    response["HX-Trigger"] = json.dumps({"review-progress": _progress(mine)})
    return response


def _back(request, campaign_pk: int):
    url = reverse("reviews:review", args=[campaign_pk])
    query = request.POST.get("return_query", "")
    return redirect(f"{url}?{query}" if query else url)


@login_required
@require_POST
def decide(request, pk: int, item_pk: int):
    item = _item_for_reviewer(request, pk, item_pk)
    form = DecisionForm(request.POST)
    intent = request.POST.get("decision", "")
    if not form.is_valid():
        return _answer(request, item, error=form.first_error(), status=400, intent=intent)
    data = form.cleaned_data
    to = data["to"].lower() if data["decision"] == "delegate" else None
    try:
        decided = decisions.decide(
            item,
            actor=request.user,
            decision=data["decision"],
            level=Level.from_name(data["level"]) if data["level"] else None,
            to=to,
            justification=data["justification"],
            version=data["version"],
        )
    except decisions.DecisionError as exc:
        return _answer(request, item, error=str(exc), status=_status_of(exc), intent=intent)
    note = ""
    if to:
        note = f"Delegated to {to}."
    elif decided.reviewer_id != item.reviewer_id:
        note = "Approved at this stage; it goes on to the next reviewer."
    return _answer(request, item, note=note, current=decided)


def _answer(request, item, *, error: str = "", status: int = 200, intent: str = "", note: str = "", current=None):
    if _is_htmx(request):
        return _row_response(request, item, error=error, status=status, intent=intent, note=note, current=current)
    if error:
        messages.error(request, f"{item.holder_label} on {item.resource_path}: {error}")
    elif note:
        messages.success(request, note)
    return _back(request, item.campaign_id)


@login_required
@require_POST
def undo(request, pk: int, item_pk: int):
    item = _item_for_reviewer(request, pk, item_pk)
    try:
        undone = decisions.undo(item, actor=request.user)
    except decisions.DecisionError as exc:
        return _answer(request, item, error=str(exc), status=_status_of(exc))
    return _answer(request, item, current=undone)


@login_required
@require_POST
def comment(request, pk: int, item_pk: int):
    item = _item_for_reviewer(request, pk, item_pk)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _answer(request, item, error=form.errors["text"][0], status=400, intent="comment")
    try:
        decisions.comment(item, actor=request.user, text=form.cleaned_data["text"])
    except decisions.DecisionError as exc:
        return _answer(request, item, error=str(exc), status=_status_of(exc), intent="comment")
    return _answer(request, item, note="Comment added.")


@login_required
@require_safe
def item_row(request, pk: int, item_pk: int):
    """One row again (the keyboard help's "cancel", or a refresh after a conflict)."""
    item = _item_for_reviewer(request, pk, item_pk)
    return _row_response(request, item)


@login_required
@require_POST
def bulk(request, pk: int):
    """One decision for the ticked items, or for every item matching the filter the page shows."""
    campaign, mine = _campaign_for_reviewer(request, pk)
    if not mine.exists():
        raise Http404("You have no items in this campaign.")
    form = BulkDecisionForm(request.POST)
    query = request.POST.get("return_query", "")
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _bulk_answer(request, campaign, mine, query, error=error, status=400)
    data = form.cleaned_data
    if data["select_all"]:
        # The server re-applies the filter: "all N matching" means what matches now, never a client-side list.
        filters = ItemFilterForm(_parse_query(query), connectors=list(_connector_choices(mine)))
        targets = filters.apply(mine).filter(state=ItemState.PENDING)
    else:
        targets = mine.filter(pk__in=data["items"], state=ItemState.PENDING)
    try:
        result = decisions.bulk_decide(
            targets,
            actor=request.user,
            decision=data["decision"],
            level=Level.from_name(data["level"]) if data["level"] else None,
            justification=data["justification"],
        )
    except decisions.DecisionError as exc:
        return _bulk_answer(request, campaign, mine, query, error=str(exc), status=_status_of(exc))
    n = result["decided"] if isinstance(result, dict) else int(result)
    verb = {"approve": "Approved", "revoke": "Revoked", "downgrade": "Downgraded"}[data["decision"]]
    return _bulk_answer(request, campaign, mine, query, note=f"{verb} {n} item{'s' if n != 1 else ''}.")


def _connector_choices(mine):
    return mine.order_by().values_list("connector_id", "connector__name").distinct()


def _parse_query(query: str):
    from django.http import QueryDict

    return QueryDict(query)


def _bulk_answer(request, campaign, mine, query, *, error: str = "", note: str = "", status: int = 200):
    if not _is_htmx(request):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, note)
        return _back(request, campaign.pk)
    campaign, mine = _campaign_with_stats(request, campaign.pk)  # progress and counts after the decision
    context = _page_context(request, campaign, mine, _parse_query(query))
    context.update(bulk_error=error, bulk_note=note)
    response = render(request, "reviews/_item_list.html", context, status=status)
    response["HX-Trigger"] = json.dumps({"review-progress": context["progress"]})
    return response


@login_required
@require_POST
def sign_off(request, pk: int):
    campaign, mine = _campaign_for_reviewer(request, pk)
    if not mine.exists():
        raise Http404("You have no items in this campaign.")
    try:
        decisions.sign_off(campaign, actor=request.user)
    except decisions.DecisionError as exc:
        messages.error(request, str(exc))
        return redirect("reviews:review", pk=campaign.pk)
    messages.success(request, f"Signed off {campaign.name}. Thank you!")
    return redirect("reviews:my_reviews")
