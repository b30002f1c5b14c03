"""Small template helpers shared by every page. None of them marks anything safe: output is autoescaped."""

from django import template

from connectors.choices import Level, SyncStatus
from reviews.choices import CampaignState, RevocationState

register = template.Library()

_COLOURS = {
    "sync": SyncStatus.colour,
    "revocation": RevocationState.colour,
    "campaign": CampaignState.colour,
}


@register.filter
def colour(value: str, vocabulary: str) -> str:
    """Badge colour of a status: {{ run.status|colour:"sync" }} (sync, revocation, campaign)."""
    try:
        return _COLOURS[vocabulary](value)
    except KeyError:
        return "grey"


@register.filter
def level_label(value) -> str:
    """10 -> read, 20 -> write, 30 -> admin, 40 -> owner; anything else as given."""
    try:
        return Level(int(value)).label
    except (TypeError, ValueError):
        return "" if value is None else str(value)


@register.filter
def codes(value: str) -> list[str]:
    """ ",privileged,orphan," -> ["privileged", "orphan"]."""
    return [c for c in (value or "").split(",") if c]


@register.simple_tag
def percent(part, whole) -> str:
    """part/whole as a number 0-100 with one decimal, for SVG widths (never more than 100)."""
    try:
        part, whole = float(part or 0), float(whole or 0)
    except (TypeError, ValueError):
        return "0"
    if whole <= 0:
        return "0"
    return f"{min(100.0, max(0.0, 100.0 * part / whole)):.1f}"


@register.simple_tag(takes_context=True)
def page_query(context, number, param="page") -> str:
    """'?…' for page `number` of a list, keeping every other query parameter (filters, other lists' pages)."""
    query = context["request"].GET.copy()
    query[param or "page"] = number
    return "?" + query.urlencode()
