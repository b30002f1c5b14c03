"""Report pages (namespace "reports"): campaign reports and access inventory reports, with downloads.

The security role and auditors only (reviewers get 403). Every download is an audit event
(report.exported / report.evidence_exported); looking at a page is not.
"""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from pipeaccess.ui import paginate, security_or_auditor
from reviews import evidence, reports
from reviews.choices import CampaignState
from reviews.models import Campaign

# Inventory rows shown on a page; the downloads carry all of them.
PAGE_ROWS = 500
INVENTORY_FILTERS = ("at", "since", "until", "resource")


def _stamp() -> str:
    return timezone.now().strftime("%Y%m%dT%H%M%SZ")


def _download(data: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@security_or_auditor
def index(request):
    campaigns = Campaign.objects.select_related("template").order_by("-launched_at", "-id")
    page = paginate(request, campaigns)
    kinds = [(key, spec.title, spec.description) for key, spec in reports.INVENTORY.items()]
    return render(request, "reports/index.html", {"page": page, "kinds": kinds})


@security_or_auditor
def campaign(request, pk: int):
    obj = get_object_or_404(Campaign, pk=pk)
    summary = reports.campaign_summary(obj)
    items = obj.items.select_related("reviewer", "decided_by").order_by("id")
    page = paginate(request, items)
    return render(
        request,
        "reports/campaign.html",
        {
            "campaign": obj,
            "r": summary,
            "scope_json": json.dumps(summary["scope"], ensure_ascii=False, sort_keys=True, indent=2),
            "reviewers_json": json.dumps(summary["config"].get("reviewers", {}), ensure_ascii=False, indent=2),
            "page": page,
            "closed": obj.state == CampaignState.CLOSED,
        },
    )


@security_or_auditor
def campaign_download(request, pk: int, fmt: str):
    obj = get_object_or_404(Campaign, pk=pk)
    if fmt not in {"csv", "json", "pdf"}:
        raise Http404("formats: csv, json, pdf")
    report = reports.campaign_report(obj)
    name = f"campaign-{obj.pk}-report-{_stamp()}.{fmt}"
    if fmt == "csv":
        response = _download(
            reports.csv_text(reports.REPORT_FIELDS, reports.report_rows(report)), "text/csv; charset=utf-8", name
        )
    elif fmt == "json":
        response = _download(json.dumps(report, ensure_ascii=False, indent=2), "application/json", name)
    else:
        from reviews import report_pdf

        response = _download(report_pdf.campaign_pdf(report), "application/pdf", name)
    reports.record_export("campaign", fmt, actor=request.user, campaign=obj)
    return response


@security_or_auditor
def campaign_evidence(request, pk: int):
    obj = get_object_or_404(Campaign, pk=pk)
    name = f"campaign-{obj.pk}-evidence-{_stamp()}.zip"
    try:
        data = evidence.export(obj, actor=request.user, zipname=name)
    except evidence.EvidenceError as exc:
        messages.error(request, str(exc))
        return redirect("reports:campaign", pk=obj.pk)
    return _download(data, "application/zip", name)


def _display(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _params(request) -> tuple[dict, reports.InventoryParams]:
    raw = {key: request.GET.get(key, "").strip()[:300] for key in INVENTORY_FILTERS}
    params = reports.InventoryParams(
        at=reports.parse_moment(raw["at"], "at"),
        since=reports.parse_moment(raw["since"], "since"),
        until=reports.parse_moment(raw["until"], "until"),
        resource=raw["resource"],
    )
    return raw, params


def _spec(kind: str) -> reports.InventoryKind:
    spec = reports.INVENTORY.get(kind)
    if spec is None:
        raise Http404("no such report")
    return spec


@security_or_auditor
def inventory(request, kind: str):
    spec = _spec(kind)
    raw, rows, error = {key: request.GET.get(key, "").strip()[:300] for key in INVENTORY_FILTERS}, [], ""
    needs_input = (kind == "changes" and not (raw["since"] and raw["until"])) or (
        kind == "access-at" and not raw["resource"]
    )
    if not needs_input:
        try:
            raw, params = _params(request)
            _, found = reports.inventory(kind, params)
            rows = list(itertools.islice(found, PAGE_ROWS + 1))
        except reports.ReportError as exc:
            error, rows = str(exc), []
    query = urlencode({k: v for k, v in raw.items() if v})
    return render(
        request,
        "reports/inventory.html",
        {
            "kind": kind,
            "spec": spec,
            "f": raw,
            "fields": spec.fields,
            "rows": [[_display(row.get(f)) for f in spec.fields] for row in rows[:PAGE_ROWS]],
            "more": len(rows) > PAGE_ROWS,
            "limit": PAGE_ROWS,
            "error": error,
            "needs_input": needs_input,
            "query": query,
        },
    )


@security_or_auditor
def inventory_download(request, kind: str, fmt: str):
    spec = _spec(kind)
    if fmt not in {"csv", "json"}:
        raise Http404("formats: csv, json")
    try:
        raw, params = _params(request)
        _, found = reports.inventory(kind, params)
        rows = list(found)
    except reports.ReportError as exc:
        messages.error(request, str(exc))
        return redirect("reports:inventory", kind=kind)
    name = f"inventory-{kind}-{_stamp()}.{fmt}"
    if fmt == "csv":
        response = _download(reports.csv_text(spec.fields, rows), "text/csv; charset=utf-8", name)
    else:
        body = {"report": kind, "title": spec.title, "filters": {k: v for k, v in raw.items() if v}, "rows": rows}
        response = _download(json.dumps(body, ensure_ascii=False, indent=2), "application/json", name)
    filters = {k: v for k, v in raw.items() if v}
    reports.record_export(f"inventory:{kind}", fmt, actor=request.user, rows=len(rows), **filters)
    return response
