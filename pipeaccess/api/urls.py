"""/api/v1/: the routes, the OpenAPI schema and its browsable docs."""

from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import views


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI sets style attributes as it draws; this page (the schema, no synced data) may use inline
    styles. Scripts stay 'self' only: the split view serves its start-up script from a URL, not inline."""

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY.replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'"
        )
        return response


router = DefaultRouter()
router.register("connectors", views.ConnectorViewSet, basename="connector")
router.register("syncruns", views.SyncRunViewSet, basename="syncrun")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("identities", views.IdentityViewSet, basename="identity")
router.register("resources", views.ResourceViewSet, basename="resource")
router.register("grants", views.GrantViewSet, basename="grant")
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("items", views.ReviewItemViewSet, basename="item")
router.register("revocations", views.RevocationViewSet, basename="revocation")
router.register("audit/events", views.AuditEventViewSet, basename="auditevent")

app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    path("reports/", include("reviews.api_reports")),
    path("", include(router.urls)),
]
