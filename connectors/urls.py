"""Connector pages under /connectors/ (namespace "connectors") and the inventory explorer under /inventory/
(namespace "inventory", included by pipeaccess/urls.py from `inventory_patterns`)."""

from django.urls import path

from . import views

app_name = "connectors"

urlpatterns = [
    path("", views.connector_list, name="list"),
    path("add/", views.connector_add, name="add"),
    path("test/", views.connector_test, name="test"),
    path("<slug:name>/", views.connector_detail, name="detail"),
    path("<slug:name>/edit/", views.connector_edit, name="edit"),
    path("<slug:name>/test/", views.connector_test, name="test_existing"),
    path("<slug:name>/sync/", views.connector_sync, name="sync"),
    path("<slug:name>/runs/<int:run_id>/", views.run_detail, name="run"),
    path("<slug:name>/runs/<int:run_id>/confirm/", views.run_confirm, name="run_confirm"),
    path("<slug:name>/runs/<int:run_id>/discard/", views.run_discard, name="run_discard"),
]

inventory_patterns = [
    path("", views.accounts, name="accounts"),
    path("accounts/<int:pk>/", views.account_detail, name="account"),
    path("people/", views.people, name="people"),
    path("people/<int:pk>/", views.person_detail, name="person"),
    path("resources/", views.resources, name="resources"),
    path("resources/<int:pk>/", views.resource_detail, name="resource"),
    path("changes/", views.changes, name="changes"),
]
