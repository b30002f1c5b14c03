"""A small URLconf for the authentication audit tests: allauth, a role-protected view, and a refusing view."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import include, path

from pipeaccess.roles import SECURITY, role_required


def home(request):
    return HttpResponse("home")


@role_required(SECURITY)
def security_only(request):
    return HttpResponse("connector settings")


def not_yours(request, item):
    # A per-object refusal decided in the view (not by role_required).
    raise PermissionDenied


urlpatterns = [
    path("", home, name="home"),
    path("security-only/", security_only, name="security_only"),
    path("items/<int:item>/", not_yours, name="not_yours"),
    path("accounts/", include("allauth.urls")),
]
