"""Every page, by URL prefix. Names are namespaced: connectors:*, inventory:*, ops:*, reviews:*."""

from django.contrib import admin
from django.urls import include, path

from connectors.urls import inventory_patterns

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("reviews/", include("reviews.urls")),
    path("connectors/", include("connectors.urls")),
    path("inventory/", include((inventory_patterns, "inventory"))),
    # The audit log and the revocation queue (namespace "ops").
    path("", include("reviews.urls_ops")),
    path("reports/", include("reviews.urls_reports")),
    path("api/v1/", include("pipeaccess.api.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]

# A lost database connection answers 503 with a clear message instead of a bare 500 (pipeaccess/db_outage.py).
handler500 = "pipeaccess.db_outage.server_error_or_outage"
