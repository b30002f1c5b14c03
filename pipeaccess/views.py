from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .roles import DESCRIPTIONS, roles_of


@login_required
def home(request):
    roles = [(role, DESCRIPTIONS[role]) for role in sorted(roles_of(request.user))]
    return render(request, "home.html", {"roles": roles})
