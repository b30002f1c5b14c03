"""The app's URLs plus one bench-only page; used only by the web bench's gunicorn (reviews/bench_wsgi.py).

The template-only page renders the review page's own templates (review.html on base.html) through the same
middleware, session, user and navigation, from a context built once per process and then kept: the same rows,
none of the page's queries. The review page's throughput is judged against it (reviews/bench_scale_web.py),
so the ratio is what reading the page from the database costs. Never part of the production URLs.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from pipeaccess.urls import handler500
from pipeaccess.urls import urlpatterns as app_patterns

from .views import reviewer

TEMPLATE_ONLY = "/bench/template-only/{}/"

# Campaign id -> the review page's context, built by the first request of this process.
_contexts: dict[int, dict] = {}


@login_required
@require_safe
def template_only(request, pk: int):
    context = _contexts.get(pk)
    if context is None:
        campaign, mine = reviewer._campaign_with_stats(request, pk)
        context = _contexts[pk] = reviewer._page_context(request, campaign, mine, request.GET)
    return render(request, "reviews/review.html", context)


urlpatterns = [path("bench/template-only/<int:pk>/", template_only, name="bench_template_only"), *app_patterns]

__all__ = ["handler500", "urlpatterns"]
