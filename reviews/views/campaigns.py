"""The security team's campaign pages: templates (with a live preview), launch, campaigns, reassign, close.

Auditors see every page read-only (no forms that change anything; POSTs answer 403). Every change goes
through reviews.campaigns (apply_templates, launch, close) or reviews.decisions (reassign): the views
validate input and translate errors into messages, nothing more.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from connectors.models import Connector, Identity
from pipeaccess.roles import AUDITOR, SECURITY, role_required
from pipeaccess.ui import can_change, paginate, security_only, security_or_auditor

from .. import campaigns as lifecycle
from .. import decisions
from ..choices import CampaignState, ItemState
from ..config import ConfigError, parse_template
from ..forms import ReassignForm, TemplateForm
from ..models import Campaign, CampaignTemplate, ReviewerProgress


def _read_or_change(view):
    """GET for the security role and auditors; anything else for the security role only."""

    @role_required(SECURITY, AUDITOR)
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in {"GET", "HEAD"} and not can_change(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _connector_names() -> list[str]:
    return list(Connector.objects.order_by("name").values_list("name", flat=True))


# --- Campaigns ----------------------------------------------------------------------------------------------


@security_or_auditor
def campaign_list(request):
    campaigns = Campaign.objects.annotate(
        total=Count("items"),
        pending=Count("items", filter=Q(items__state=ItemState.PENDING)),
    ).order_by("-launched_at", "-id")
    page = paginate(request, campaigns)
    for campaign in page.object_list:
        campaign.done = campaign.total - campaign.pending
    return render(request, "reviews/campaign_list.html", {"page": page, "can_change": can_change(request)})


@security_or_auditor
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    status = lifecycle.status(campaign)
    progress = {
        p.reviewer.email: p
        for p in ReviewerProgress.objects.filter(campaign=campaign).select_related("reviewer", "escalated_to")
    }
    reviewers = []
    for row in status["reviewers"]:
        p = progress.get(row["email"])
        reviewers.append(
            {
                **row,
                "done": row["total"] - row["pending"],
                "name": p.reviewer.name if p else "",
                "signed_off_at": p.signed_off_at if p else None,
                "escalated_at": p.escalated_at if p else None,
                "escalated_to": p.escalated_to.email if p and p.escalated_to else "",
            }
        )
    context = {
        "campaign": campaign,
        "status": status,
        "reviewers": reviewers,
        "open": campaign.state == CampaignState.OPEN,
        "can_change": can_change(request),
        "reassign_form": ReassignForm(),
    }
    return render(request, "reviews/campaign_detail.html", context)


@security_only
@require_POST
def reassign(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    form = ReassignForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"Reassign: {error}")
        return redirect("reviews:campaign_detail", pk=campaign.pk)
    data = form.cleaned_data
    to = Identity.objects.filter(email=data["to"].lower()).first()
    if to is None:
        messages.error(request, f"Reassign: no person with the email {data['to']} is known.")
        return redirect("reviews:campaign_detail", pk=campaign.pk)
    items = campaign.items.filter(state=ItemState.PENDING)
    if data["from_reviewer"]:
        items = items.filter(reviewer__email=data["from_reviewer"].lower())
    if data["items"]:
        items = items.filter(pk__in=data["items"])
    try:
        moved = decisions.reassign(items, to=to, actor=request.user, reason=data["reason"])
    except decisions.DecisionError as exc:
        messages.error(request, f"Reassign: {exc}")
    else:
        if moved:
            messages.success(request, f"Moved {moved} pending item{'s' if moved != 1 else ''} to {to.email}.")
        else:
            messages.warning(request, "No pending item matched: nothing was moved.")
    return redirect("reviews:campaign_detail", pk=campaign.pk)


@security_only
@require_POST
def close(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        lifecycle.close(campaign, actor=request.user)
    except ValueError as exc:
        messages.error(request, f"Could not close: {exc}")
    else:
        messages.success(request, f"Closed {campaign.name}; undecided items followed the on-timeout rule.")
    return redirect("reviews:campaign_detail", pk=campaign.pk)


# --- Templates ----------------------------------------------------------------------------------------------


@security_or_auditor
def template_list(request):
    templates = CampaignTemplate.objects.annotate(
        campaigns_count=Count("campaigns"), last_launch=Max("campaigns__launched_at")
    ).order_by("name")
    page = paginate(request, templates)
    return render(request, "reviews/template_list.html", {"page": page, "can_change": can_change(request)})


def _save(request, form: TemplateForm):
    """apply_templates with the form's document; errors land on the form. The saved template, or None."""
    try:
        (template,) = lifecycle.apply_templates([form.to_doc()], actor=request.user)
    except ConfigError as exc:
        form.add_error(None, str(exc))
        return None
    return template


@_read_or_change
def template_create(request):
    if not can_change(request):
        raise PermissionDenied
    form = TemplateForm(request.POST or None, connector_names=_connector_names())
    if request.method == "POST" and form.is_valid():
        if CampaignTemplate.objects.filter(name=form.cleaned_data["name"]).exists():
            form.add_error("name", "A template with this name exists; edit it instead.")
        else:
            template = _save(request, form)
            if template is not None:
                messages.success(request, f"Saved template {template.name}.")
                return redirect("reviews:template_edit", pk=template.pk)
    return render(request, "reviews/template_form.html", {"form": form, "template": None, "can_change": True})


@_read_or_change
def template_edit(request, pk: int):
    template = get_object_or_404(CampaignTemplate, pk=pk)
    editable = can_change(request)
    data = request.POST.copy() if request.method == "POST" else None
    if data is not None:
        data["name"] = template.name
    form = TemplateForm(
        data, initial=TemplateForm.initial_from(template), connector_names=_connector_names(), editing=True
    )
    if not editable:
        for field in form.fields.values():
            field.disabled = True
    if data is not None and form.is_valid():
        saved = _save(request, form)
        if saved is not None:
            messages.success(request, f"Saved template {saved.name}.")
            return redirect("reviews:template_edit", pk=saved.pk)
    recent = template.campaigns.order_by("-launched_at")[:5]
    return render(
        request,
        "reviews/template_form.html",
        {"form": form, "template": template, "can_change": editable, "recent": recent},
    )


@role_required(SECURITY, AUDITOR)
@require_POST
def template_preview(request):
    """How many items and which reviewers the form's settings would produce now (writes nothing)."""
    editing = request.POST.get("template_id", "")
    template_id = int(editing) if editing.isdigit() else None
    stored = CampaignTemplate.objects.filter(pk=template_id).first() if template_id is not None else None
    if stored is not None and "duration" not in request.POST:
        # A read-only (auditor's) form posts no fields: preview the template as saved.
        return _preview_response(request, {"result": lifecycle.preview(stored)})
    data = request.POST.copy()
    if template_id is not None:
        existing = CampaignTemplate.objects.filter(pk=template_id).values_list("name", flat=True).first()
        if existing:
            data["name"] = existing
    if not data.get("name"):
        data["name"] = "preview"
    form = TemplateForm(data, connector_names=_connector_names())
    context: dict = {"form": form}
    if form.is_valid():
        try:
            fields = parse_template(form.to_doc())
        except ConfigError as exc:
            context["error"] = str(exc)
        else:
            # An unsaved instance: preview() compares with the template's last review when it has an id.
            candidate = CampaignTemplate(pk=template_id, **fields)
            context["result"] = lifecycle.preview(candidate)
    else:
        context["error"] = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return _preview_response(request, context)


def _preview_response(request, context: dict) -> HttpResponse:
    result = context.get("result")
    if result:
        context["reviewers"] = sorted(result["reviewers"].items(), key=lambda kv: (-kv[1], kv[0]))
    return HttpResponse(render_to_string("reviews/_preview.html", context, request=request))


@security_only
@require_POST
def launch(request, pk: int):
    template = get_object_or_404(CampaignTemplate, pk=pk)
    try:
        campaign = lifecycle.launch(template, actor=request.user)
    except lifecycle.LaunchError as exc:
        messages.error(request, f"Could not launch {template.name}: {exc}")
        return redirect("reviews:template_edit", pk=template.pk)
    messages.success(request, f"Launched {campaign.name}: reviewers are being notified.")
    return redirect("reviews:campaign_detail", pk=campaign.pk)
