"""Every page, by URL prefix. Names are namespaced: connectors:*, inventory:*, ops:*, reviews:*."""

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
