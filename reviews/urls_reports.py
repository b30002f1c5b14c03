"""Report pages (namespace "reports"): campaign reports, evidence packages and access inventory reports."""

from django.urls import path

from .views import reports

app_name = "reports"

urlpatterns = [
    path("", reports.index, name="index"),
    path("campaigns/<int:pk>/", reports.campaign, name="campaign"),
    path("campaigns/<int:pk>/report.<str:fmt>", reports.campaign_download, name="campaign_download"),
    path("campaigns/<int:pk>/evidence.zip", reports.campaign_evidence, name="campaign_evidence"),
    path("inventory/<str:kind>/", reports.inventory, name="inventory"),
    path("inventory/<str:kind>/report.<str:fmt>", reports.inventory_download, name="inventory_download"),
]
