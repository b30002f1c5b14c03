"""/api/v1/reports/: the campaign report and the access inventory reports as JSON (security and auditors).

The same functions as the pages and the `report` command (reviews.reports); each call is an audit event
(report.exported, format "api"), like a download. Reports that need parameters have their own paths, so the
OpenAPI schema says which parameters each one requires.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from pipeaccess.api.permissions import InventoryReader
from pipeaccess.api.views import SIGNED_IN

from . import reports
from .models import Campaign

# The reports that take no parameters.
SIMPLE = [kind for kind in reports.INVENTORY if kind not in ("changes", "access-at")]


class CampaignReportView(APIView):
    permission_classes = [*SIGNED_IN, InventoryReader]

    @extend_schema(
        summary="The campaign report: scope, reviewers, completion, decisions, revocations, exceptions",
        responses={200: OpenApiTypes.OBJECT, 404: None},
    )
    def get(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        report = reports.campaign_report(campaign)
        reports.record_export("campaign", "api", actor=request.user, campaign=campaign)
        return Response(report)


def _text(request, name: str) -> str:
    return str(request.query_params.get(name, "")).strip()[:300]


def _answer(request, kind: str, raw: dict) -> Response:
    try:
        params = reports.InventoryParams(
            at=reports.parse_moment(raw.get("at"), "at"),
            since=reports.parse_moment(raw.get("since"), "since"),
            until=reports.parse_moment(raw.get("until"), "until"),
            resource=raw.get("resource", ""),
        )
        if kind == "changes" and params.since and params.until and params.since >= params.until:
            spec, rows = reports.INVENTORY[kind], []  # a window that ends before it starts holds no change
        else:
            spec, found = reports.inventory(kind, params)
            rows = list(found)
    except reports.UnknownConnector as exc:
        raise NotFound(str(exc)) from None
    except reports.ReportError as exc:
        raise ValidationError({"detail": str(exc)}) from None
    filters = {k: v for k, v in raw.items() if v}
    reports.record_export(f"inventory:{kind}", "api", actor=request.user, rows=len(rows), **filters)
    return Response({"report": kind, "title": spec.title, "filters": filters, "rows": rows})


class InventoryReportView(APIView):
    permission_classes = [*SIGNED_IN, InventoryReader]

    @extend_schema(
        summary="An access inventory report: " + ", ".join(SIMPLE),
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=SIMPLE)],
        responses={200: OpenApiTypes.OBJECT, 404: None},
    )
    def get(self, request, kind: str):
        if kind not in SIMPLE:
            raise NotFound(f"no inventory report {kind!r}; known: {', '.join(reports.INVENTORY)}")
        return _answer(request, kind, {})


class ChangesReportView(APIView):
    permission_classes = [*SIGNED_IN, InventoryReader]

    @extend_schema(
        summary="Grants added or removed after `since` and up to `until`",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, required=True, description="ISO 8601, exclusive"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, required=True, description="ISO 8601, inclusive"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: None},
    )
    def get(self, request):
        return _answer(request, "changes", {"since": _text(request, "since"), "until": _text(request, "until")})


class AccessAtReportView(APIView):
    permission_classes = [*SIGNED_IN, InventoryReader]

    @extend_schema(
        summary="Who had effective access to a resource at a moment",
        parameters=[
            OpenApiParameter(
                "resource",
                str,
                required=True,
                pattern=r"^[^:]+:.+$",
                description="CONNECTOR:PATH, e.g. github:acme/api",
            ),
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="ISO 8601 (default now)"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: None, 404: None},
    )
    def get(self, request):
        return _answer(request, "access-at", {"resource": _text(request, "resource"), "at": _text(request, "at")})


urlpatterns = [
    path("campaigns/<int:pk>/", CampaignReportView.as_view(), name="report_campaign"),
    path("inventory/changes/", ChangesReportView.as_view(), name="report_changes"),
    path("inventory/access-at/", AccessAtReportView.as_view(), name="report_access_at"),
    path("inventory/<str:kind>/", InventoryReportView.as_view(), name="report_inventory"),
]
