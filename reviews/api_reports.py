"""/api/v1/reports/: the campaign report and the access inventory reports as JSON (security and auditors).

The same functions as the pages and the `report` command (reviews.reports); each call is an audit event
(report.exported, format "api"), like a download.
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


class InventoryReportView(APIView):
    permission_classes = [*SIGNED_IN, InventoryReader]

    @extend_schema(
        summary="An access inventory report: " + ", ".join(reports.INVENTORY),
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(reports.INVENTORY)),
            OpenApiParameter("at", str, description="access-at: ISO 8601 moment (default now)"),
            OpenApiParameter("since", str, description="changes: after this ISO 8601 moment"),
            OpenApiParameter("until", str, description="changes: up to and including this ISO 8601 moment"),
            OpenApiParameter("resource", str, description="access-at: CONNECTOR:PATH"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: None, 404: None},
    )
    def get(self, request, kind: str):
        if kind not in reports.INVENTORY:
            raise NotFound(f"no inventory report {kind!r}; known: {', '.join(reports.INVENTORY)}")
        raw = {name: _text(request, name) for name in ("at", "since", "until", "resource")}
        try:
            params = reports.InventoryParams(
                at=reports.parse_moment(raw["at"], "at"),
                since=reports.parse_moment(raw["since"], "since"),
                until=reports.parse_moment(raw["until"], "until"),
                resource=raw["resource"],
            )
            spec, found = reports.inventory(kind, params)
            rows = list(found)
        except reports.ReportError as exc:
            raise ValidationError({"detail": str(exc)}) from None
        filters = {k: v for k, v in raw.items() if v}
        reports.record_export(f"inventory:{kind}", "api", actor=request.user, rows=len(rows), **filters)
        return Response({"report": kind, "title": spec.title, "filters": filters, "rows": rows})


urlpatterns = [
    path("campaigns/<int:pk>/", CampaignReportView.as_view(), name="report_campaign"),
    path("inventory/<str:kind>/", InventoryReportView.as_view(), name="report_inventory"),
]
