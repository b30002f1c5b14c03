"""API views: thin; every change goes through reviews.campaigns / reviews.decisions like the pages' do."""

from __future__ import annotations

from datetime import UTC

from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from connectors.models import Account, Connector, Grant, Identity, Resource, SyncRun
from pipeaccess.roles import is_auditor, is_security
from reviews import campaigns, decisions
from reviews.models import AuditEvent, Campaign, ReviewItem, Revocation

from . import serializers as s
from .permissions import InventoryReader, SecurityForChanges, SecurityRoleHasMFA, TokenScope

# A view that names its own permission classes replaces the defaults: each starts from these.
SIGNED_IN = [IsAuthenticated, TokenScope, SecurityRoleHasMFA]


class Cursor(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        """A page_size that is not a whole number from 1 to 1000 is a mistake to report, not to ignore."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({"page_size": f"a whole number from 1 to {self.max_page_size}"})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] |= {"minimum": 1, "maximum": self.max_page_size}
        return parameters


class SeqCursor(Cursor):
    ordering = "-seq"


def _when(request, name: str):
    if name not in request.query_params:
        return None
    raw = request.query_params[name]
    try:
        value = parse_datetime(raw)
        # In UTC: the database refuses some offsets Python accepts (-18:56), and the result is the same instant.
        value = value.astimezone(UTC) if value is not None and value.tzinfo is not None else None
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise ValidationError({name: "an ISO 8601 date-time with a time zone, e.g. 2026-11-25T12:00:00Z"})
    return value


def _int(raw: str, name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: "a whole number"}) from None
    if abs(value) >= 2**63:
        raise ValidationError({name: "out of range"})
    return value


def _param(name: str, description: str, type_=str) -> OpenApiParameter:
    if type_ is int:
        # The bounds _int() enforces: a 64-bit database integer.
        type_ = {"type": "integer", "minimum": -(2**63) + 1, "maximum": 2**63 - 1}
    return OpenApiParameter(name, type_, description=description)


def _filter(qs, request, **fields):
    """Exact-match filters from query parameters: name -> lookup."""
    for name, lookup in fields.items():
        value = request.query_params.get(name)
        if value:
            qs = qs.filter(**{lookup: value})
    return qs


def _sees_everything(user) -> bool:
    return is_security(user) or is_auditor(user)


class ConnectorViewSet(viewsets.ReadOnlyModelViewSet):
    """Connectors, without their secrets (only the secrets' names)."""

    lookup_value_regex = r"\d{1,18}"

    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.ConnectorSerializer
    pagination_class = Cursor
    queryset = Connector.objects.all()


@extend_schema(parameters=[_param("connector", "connector name"), _param("status", "running, succeeded, …")])
class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = r"\d{1,18}"
    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.SyncRunSerializer
    pagination_class = Cursor

    def get_queryset(self):
        qs = SyncRun.objects.select_related("connector")
        return _filter(qs, self.request, connector="connector__name", status="status")


@extend_schema(parameters=[_param("connector", "connector name"), _param("login", "exact login")])
class AccountViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = r"\d{1,18}"
    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.AccountSerializer
    pagination_class = Cursor

    def get_queryset(self):
        qs = Account.objects.select_related("connector", "identity", "owner")
        return _filter(qs, self.request, connector="connector__name", login="login", type="type")


@extend_schema(parameters=[_param("email", "exact email"), _param("status", "active or leaver")])
class IdentityViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = r"\d{1,18}"
    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.IdentitySerializer
    pagination_class = Cursor

    def get_queryset(self):
        return _filter(Identity.objects.select_related("manager"), self.request, email="email", status="status")


@extend_schema(parameters=[_param("connector", "connector name"), _param("path", "exact path")])
class ResourceViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = r"\d{1,18}"
    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.ResourceSerializer
    pagination_class = Cursor

    def get_queryset(self):
        qs = Resource.objects.select_related("connector", "owner")
        return _filter(qs, self.request, connector="connector__name", path="path", type="type")


@extend_schema(
    parameters=[
        _param("connector", "connector name"),
        _param("at", "grants in effect at this time (ISO 8601 with zone); default: now", OpenApiTypes.DATETIME),
        _param("changed_since", "grants added or removed since this time (ISO 8601 with zone)", OpenApiTypes.DATETIME),
        _param("risk", "only grants with this risk signal code"),
    ]
)
class GrantViewSet(viewsets.ReadOnlyModelViewSet):
    """Recorded grants (as granted). ``at`` gives a past state; ``changed_since`` what was added or removed."""

    lookup_value_regex = r"\d{1,18}"

    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.GrantSerializer
    pagination_class = Cursor

    def get_queryset(self):
        qs = Grant.objects.select_related("connector", "account", "group", "resource", "entitlement", "risk")
        at, since = _when(self.request, "at"), _when(self.request, "changed_since")
        if since is not None:
            qs = qs.filter(Q(valid_from__gt=since) | Q(valid_to__gt=since))
        else:
            qs = qs.at(at) if at is not None else qs.current()
        if self.request.query_params.get("risk"):
            qs = qs.filter(risk__codes__contains=f",{self.request.query_params['risk']},")
        return _filter(qs, self.request, connector="connector__name")


class CampaignViewSet(viewsets.ReadOnlyModelViewSet):
    """Campaigns: all of them for the security team and auditors, those with your items for reviewers."""

    lookup_value_regex = r"\d{1,18}"

    permission_classes = [*SIGNED_IN, SecurityForChanges]
    serializer_class = s.CampaignSerializer
    pagination_class = Cursor

    def get_queryset(self):
        user = self.request.user
        if _sees_everything(user):
            return Campaign.objects.all()
        mine = decisions.reviewer_items(user).values("campaign_id")
        return Campaign.objects.filter(pk__in=mine)

    def retrieve(self, request, *args, **kwargs):
        campaign = self.get_object()
        return Response(self.get_serializer(campaign).data | {"status": campaigns.status(campaign)})

    @extend_schema(request=None, responses={200: s.CampaignSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        campaign = self.get_object()
        try:
            campaign = campaigns.close(campaign, actor=request.user)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(campaign).data)

    @extend_schema(
        parameters=[
            _param("reviewer", "'me' for your own items (the only choice unless you are security or auditor)"),
            _param("state", "pending, decided or gone"),
        ],
        responses=s.ReviewItemSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def items(self, request, pk=None):
        campaign = self.get_object()
        qs = ReviewItem.objects.filter(campaign=campaign).select_related("reviewer", "subject").order_by("-id")
        if request.query_params.get("reviewer") == "me" or not _sees_everything(request.user):
            qs = qs.filter(pk__in=decisions.reviewer_items(request.user, campaign).values("pk"))
        qs = _filter(qs, request, state="state")
        paginator = Cursor()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.ReviewItemSerializer(page, many=True).data)


class ReviewItemViewSet(viewsets.GenericViewSet):
    """One item and the decision on it (POST items/{id}/decision/)."""

    lookup_value_regex = r"\d{1,18}"

    serializer_class = s.ReviewItemSerializer
    queryset = ReviewItem.objects.select_related("campaign", "reviewer", "subject")

    def _item(self, pk) -> ReviewItem:
        item = get_object_or_404(self.queryset, pk=pk)
        if not decisions.can_view_item(self.request.user, item):
            raise PermissionDenied("this item is not assigned to you")
        return item

    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self._item(pk)).data)

    @extend_schema(
        request=s.DecisionRequestSerializer,
        responses={200: s.ReviewItemSerializer, 400: None, 403: None, 409: None},
    )
    @action(detail=True, methods=["post"])
    def decision(self, request, pk=None):
        item = get_object_or_404(self.queryset, pk=pk)
        body = s.DecisionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            item = decisions.decide(
                item,
                actor=request.user,
                decision=data["decision"],
                level=data.get("level"),
                to=data.get("to"),
                justification=data.get("justification", ""),
                version=data.get("version"),
            )
        except decisions.DecisionError as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        return Response(self.get_serializer(item).data)

    @extend_schema(responses=s.DecisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        item = self._item(pk)
        return Response(s.DecisionSerializer(item.decisions.select_related("to"), many=True).data)


@extend_schema(parameters=[_param("campaign", "campaign id", int), _param("state", "queued, done, verified, …")])
class RevocationViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = r"\d{1,18}"
    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.RevocationSerializer
    pagination_class = Cursor

    def get_queryset(self):
        qs = Revocation.objects.select_related("connector", "item")
        campaign = self.request.query_params.get("campaign")
        if campaign is not None:
            qs = qs.filter(item__campaign_id=_int(campaign, "campaign"))
        return _filter(qs, self.request, state="state")


@extend_schema(parameters=[_param("action", "action prefix, e.g. decision."), _param("campaign", "campaign id", int)])
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = r"\d{1,18}"
    permission_classes = [*SIGNED_IN, InventoryReader]
    serializer_class = s.AuditEventSerializer
    pagination_class = SeqCursor
    lookup_field = "seq"

    def get_queryset(self):
        qs = AuditEvent.objects.all()
        if self.request.query_params.get("action"):
            qs = qs.filter(action__startswith=self.request.query_params["action"])
        campaign = self.request.query_params.get("campaign")
        if campaign is not None:
            qs = qs.filter(campaign_id=_int(campaign, "campaign"))
        return qs
