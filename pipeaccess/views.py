"""Home: the security team's dashboard; reviewers go to their reviews."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from connectors.choices import SyncStatus
from connectors.models import GrantRisk, SyncRun
from connectors.risk import SIGNALS
from reviews.choices import CampaignState, ItemState, RevocationState
from reviews.models import Campaign, Decision, ReviewItem, Revocation

from .roles import AUDITOR, DESCRIPTIONS, REVIEWER, SECURITY
from .ui import request_roles

CAMPAIGNS_SHOWN = 8
OVERDUE_SHOWN = 15
RUNS_SHOWN = 10
# The chart of decisions over time covers this many days back from today.
CHART_DAYS = 30


@login_required
@require_safe
def home(request):
    roles = request_roles(request)
    described = [(role, DESCRIPTIONS[role]) for role in sorted(roles)]
    if roles & {SECURITY, AUDITOR}:
        return render(request, "home.html", {**dashboard(now=timezone.now()), "roles": described})
    if REVIEWER in roles:
        return redirect(reverse("reviews:my_reviews"))
    return render(request, "welcome.html", {"roles": described})


def dashboard(*, now) -> dict:
    """Everything the dashboard shows, in a fixed number of queries (see tests/views/test_dashboard.py)."""
    campaigns = list(
        Campaign.objects.filter(state__in=[CampaignState.OPEN, CampaignState.LAUNCHING])
        .annotate(
            total=Count("items", filter=~Q(items__state=ItemState.GONE)),
            decided=Count("items", filter=Q(items__state=ItemState.DECIDED)),
        )
        .order_by("due_at", "id")[:CAMPAIGNS_SHOWN]
    )
    overdue = list(
        ReviewItem.objects.filter(campaign__state=CampaignState.OPEN, campaign__due_at__lt=now, state=ItemState.PENDING)
        .values("reviewer__email", "reviewer__name", "campaign__name", "campaign__due_at")
        .annotate(pending=Count("id"))
        .order_by("campaign__due_at", "-pending", "reviewer__email")[:OVERDUE_SHOWN]
    )
    revocations = dict(Revocation.objects.values_list("state").annotate(n=Count("id")).order_by())
    revocation_bars = _bars(
        [(label, revocations.get(value, 0), RevocationState.colour(value)) for value, label in RevocationState.choices]
    )
    risk_rows = list(
        GrantRisk.objects.values("connector__name")
        .annotate(**{code: Count("pk", filter=Q(codes__contains=f",{code},")) for code in SIGNALS})
        .order_by("connector__name")
    )
    risk_totals = [(code, signal.label, sum(row[code] for row in risk_rows)) for code, signal in SIGNALS.items()]
    runs = list(SyncRun.objects.select_related("connector").order_by("-started_at", "-id")[:RUNS_SHOWN])
    held = list(SyncRun.objects.filter(status=SyncStatus.HELD).select_related("connector").order_by("-started_at"))
    return {
        "campaigns": campaigns,
        "progress_chart": _progress_chart([c.pk for c in campaigns], campaigns, now=now),
        "overdue": overdue,
        "revocation_bars": revocation_bars,
        "revocation_total": sum(revocations.values()),
        "risk_signals": [(code, signal.label) for code, signal in SIGNALS.items()],
        "risk_rows": [(row["connector__name"], [(code, row[code]) for code in SIGNALS]) for row in risk_rows],
        "risk_bars": _bars([(label, n, "orange") for _code, label, n in risk_totals if n]),
        "runs": runs,
        "held": held,
    }


BAR_HEIGHT = 22
# Sized for a dashboard panel (about 22rem): the SVG's 12px text stays about 12px on screen.
LABEL_WIDTH = 170
CHART_WIDTH = 360


def _bars(rows: list[tuple[str, int, str]]) -> dict:
    """Geometry of a horizontal bar chart (label, value, colour) for an inline SVG drawn by the template."""
    biggest = max((n for _label, n, _colour in rows), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 40
    bars = [
        {
            "label": label,
            "value": n,
            "colour": colour,
            "y": i * BAR_HEIGHT,
            "text_y": i * BAR_HEIGHT + 15,
            "width": round(span * n / biggest, 1),
            "value_x": LABEL_WIDTH + round(span * n / biggest, 1) + 6,
        }
        for i, (label, n, colour) in enumerate(rows)
    ]
    return {"bars": bars, "height": len(rows) * BAR_HEIGHT, "width": CHART_WIDTH, "label_width": LABEL_WIDTH}


PLOT_W, PLOT_H = 300, 120


def _progress_chart(ids: list[int], campaigns: list, *, now) -> dict | None:
    """Share of each open campaign's items decided, day by day since launch: polylines for an inline SVG.

    One query: decisions per campaign per day (the first decision of an item counts; undo is ignored, so the
    line is what reviewers did rather than what stands).
    """
    if not campaigns:
        return None
    start = min(c.launched_at for c in campaigns)
    start = max(start, now - timedelta(days=CHART_DAYS))
    days = max(1, (now.date() - start.date()).days)
    decided_kinds = ["approve", "revoke", "downgrade"]
    per_day = {}
    rows = (
        Decision.objects.filter(item__campaign_id__in=ids, kind__in=decided_kinds)
        .values_list("item__campaign_id", "item_id", "created")
        .order_by("created")
    )
    first_seen = {}
    for campaign_id, item_id, created in rows:
        first_seen.setdefault((campaign_id, item_id), created)
    for (campaign_id, _item_id), created in first_seen.items():
        offset = max(0, (created.date() - start.date()).days)
        per_day.setdefault(campaign_id, [0] * (days + 1))
        per_day[campaign_id][min(offset, days)] += 1
    lines = []
    palette = ["blue", "green", "orange", "red", "grey"]
    for n, c in enumerate(campaigns):
        counts = per_day.get(c.pk, [0] * (days + 1))
        total = c.total or 1
        running, points = 0, []
        for day, count in enumerate(counts):
            running += count
            x = round(PLOT_W * day / days, 1)
            y = round(PLOT_H - PLOT_H * min(running, total) / total, 1)
            points.append(f"{x},{y}")
        lines.append({"name": c.name, "points": " ".join(points), "colour": palette[n % len(palette)]})
    return {"lines": lines, "width": PLOT_W, "height": PLOT_H, "start": start, "end": now}
