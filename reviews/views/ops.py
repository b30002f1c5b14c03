"""The security team's operations pages: the audit log (with export), the revocation queue and the mail outbox.

Auditors see them read-only; only the security role approves, narrows, retries or closes revocations and
sends a failed mail again.
"""

from __future__ import annotations

import csv
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from connectors.choices import Level
from connectors.export import csv_safe
from pipeaccess.ui import can_change, paginate, security_only, security_or_auditor
from reviews import audit, mailer
from reviews import revocations as revs
from reviews.choices import RevocationState
from reviews.forms import NotificationSettingsForm
from reviews.models import AuditEvent, NotificationSettings, OutboundMail, Revocation

AUDIT_FILTERS = ("action", "actor", "object", "since", "until")


def _audit_filters(request) -> dict:
    return {key: request.GET.get(key, "").strip()[:200] for key in AUDIT_FILTERS}


@security_or_auditor
def audit_log(request):
    filters = _audit_filters(request)
    error = ""
    try:
        qs = audit.events(filters)
    except ValueError as exc:
        error = str(exc)
        qs = AuditEvent.objects.none()
    page = paginate(request, qs.order_by("-seq"))
    # The template cannot call data.items(): an event whose data has an "items" key would be looked up instead.
    page.object_list = list(page.object_list)
    for event in page.object_list:
        event.pairs = list(event.data.items())
    actions = AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "ops/audit.html",
        {"page": page, "f": filters, "error": error, "actions": actions, "export_query": _export_query(filters)},
    )


def _export_query(filters: dict) -> str:
    return urlencode({k: v for k, v in filters.items() if v})


class _Echo:
    def write(self, value):
        return value


@security_or_auditor
def audit_export(request, fmt):
    """The filtered audit log as CSV (formula-neutralized) or JSON, streamed oldest first."""
    if fmt not in {"csv", "json"}:
        raise Http404("export formats: csv, json")
    try:
        qs = audit.events(_audit_filters(request))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("ops:audit")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        writer = csv.DictWriter(_Echo(), fieldnames=audit.CSV_FIELDS)

        def lines():
            yield writer.writeheader()
            for row in audit.rows(qs):
                row["data"] = json.dumps(row["data"], ensure_ascii=False, sort_keys=True)
                yield writer.writerow({k: csv_safe(v) for k, v in row.items()})

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response

    def items():
        yield "["
        for n, row in enumerate(audit.rows(qs)):
            yield ("," if n else "") + "\n" + json.dumps(row, ensure_ascii=False)
        yield "\n]\n"

    response = StreamingHttpResponse(items(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.json"'
    return response


# --- revocation queue ------------------------------------------------------------------------------


def _get_revocation(pk: int) -> Revocation:
    return get_object_or_404(Revocation.objects.select_related("connector", "item__campaign", "closed_by"), pk=pk)


@security_or_auditor
def revocation_list(request):
    state = request.GET.get("state", "")
    if state not in RevocationState.values:
        state = ""
    qs = Revocation.objects.select_related("connector", "item__campaign").order_by("-created", "-id")
    if state:
        qs = qs.filter(state=state)
    totals = dict(Revocation.objects.values_list("state").annotate(n=Count("id")).order_by())
    page = paginate(request, qs)
    return render(
        request,
        "ops/revocations.html",
        {
            "page": page,
            "state": state,
            "states": [(value, label, totals.get(value, 0)) for value, label in RevocationState.choices],
            "total": sum(totals.values()),
            "can_change": can_change(request),
            "levels": [(lvl.value, lvl.label) for lvl in Level],
            "narrowable": [str(s) for s in revs.NARROWABLE],
        },
    )


@security_or_auditor
def revocation_detail(request, pk):
    rev = _get_revocation(pk)
    events = paginate(
        request, audit.events({"object": f"{Revocation._meta.label_lower}:{rev.pk}"}).order_by("-seq"), per_page=25
    )
    return render(
        request,
        "ops/revocation.html",
        {
            "rev": rev,
            "events": events,
            "can_change": can_change(request),
            "levels": [(lvl.value, lvl.label) for lvl in Level],
            "narrowable": [str(s) for s in revs.NARROWABLE],
        },
    )


def _after(request, rev: Revocation):
    """Back where the button was pressed: the queue (keeping its filter) or the revocation's page."""
    target = request.POST.get("next", "")
    if target.startswith("/revocations/") and "//" not in target and "\\" not in target:
        return redirect(target)
    return redirect("ops:revocation", pk=rev.pk)


def _act(request, pk, operation, done: str):
    rev = _get_revocation(pk)
    try:
        operation(rev)
    except (revs.RevocationError, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(pk=rev.pk))
    return _after(request, rev)


@require_POST
@security_only
def revocation_approve(request, pk):
    return _act(request, pk, lambda rev: revs.approve(rev, actor=request.user), "Revocation {pk} approved.")


@require_POST
@security_only
def revocation_retry(request, pk):
    return _act(request, pk, lambda rev: revs.retry(rev, actor=request.user), "Revocation {pk} queued again.")


@require_POST
@security_only
def revocation_narrow(request, pk):
    try:
        level = Level(int(request.POST.get("level", "")))
    except ValueError:
        messages.error(request, "Choose the level to keep.")
        return _after(request, _get_revocation(pk))
    return _act(
        request,
        pk,
        lambda rev: revs.narrow(rev, level=level, actor=request.user),
        f"Revocation {{pk}} narrowed to a downgrade to {level.label}.",
    )


@require_POST
@security_only
def revocation_close(request, pk):
    note = request.POST.get("note", "")
    return _act(
        request,
        pk,
        lambda rev: revs.close_manual(rev, actor=request.user, note=note),
        "Manual task {pk} closed; the next sync verifies it.",
    )


@require_POST
@security_only
def revocation_cancel(request, pk):
    reason = request.POST.get("reason", "")
    return _act(
        request, pk, lambda rev: revs.cancel(rev, actor=request.user, reason=reason), "Revocation {pk} cancelled."
    )


@security_or_auditor
def mail_outbox(request):
    """Mails by state, failed ones first: a permanent SMTP refusal or an unknown outcome needs a person."""
    state = request.GET.get("state", OutboundMail.State.FAILED)
    if state not in OutboundMail.State.values:
        state = OutboundMail.State.FAILED
    qs = mailer.failed_mails() if state == OutboundMail.State.FAILED else OutboundMail.objects.filter(state=state)
    totals = dict(OutboundMail.objects.values_list("state").annotate(n=Count("id")).order_by())
    return render(
        request,
        "ops/mails.html",
        {
            "page": paginate(request, qs.select_related("campaign").order_by("-created", "-id")),
            "state": state,
            "states": [(value, label, totals.get(value, 0)) for value, label in OutboundMail.State.choices],
            "can_change": can_change(request),
        },
    )


@require_POST
@security_only
def mail_resend(request, pk):
    row = get_object_or_404(OutboundMail, pk=pk)
    if mailer.requeue(row, actor=request.user):
        messages.success(request, f"The {row.kind} mail to {row.recipient} is queued again.")
    else:
        messages.error(request, "Only a failed mail can be sent again.")
    return redirect("ops:mails")


@security_or_auditor
def mail_settings(request):
    """When digests and summaries go out, and to whom (auditors read it; the security role changes it)."""
    form = NotificationSettingsForm(instance=NotificationSettings.load())
    return render(request, "ops/mail_settings.html", {"form": form, "can_change": can_change(request)})


@require_POST
@security_only
def mail_settings_save(request):
    form = NotificationSettingsForm(request.POST, instance=NotificationSettings.load())
    if not form.is_valid():
        return render(request, "ops/mail_settings.html", {"form": form, "can_change": True}, status=400)
    with transaction.atomic():
        saved = form.save()
        audit.record(
            "mail.settings_changed",
            actor=request.user,
            obj=saved,
            changed=sorted(form.changed_data),
            digest_enabled=saved.digest_enabled,
            digest_hour=saved.digest_hour,
            weekly_summary_weekday=saved.weekly_summary_weekday,
            weekly_summary_hour=saved.weekly_summary_hour,
            revocation_notices=saved.revocation_notices,
            security_team_emails=saved.security_team_emails,
        )
    messages.success(request, "Mail schedule saved.")
    return redirect("ops:mail_settings")
