"""Connector pages (security team; auditors read-only) and the inventory explorer.

Every view states who may use it with a decorator from pipeaccess.ui; every change goes through
connectors.actions / connectors.sync; every list is paginated with a fixed number of queries.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as KombuOperationalError

from pipeaccess.redact import redact
from pipeaccess.ui import (
    can_change,
    is_htmx,
    paginate,
    reauthenticate,
    recently_authenticated,
    security_only,
    security_or_auditor,
)

from . import access
from . import diff as diffs
from .actions import _check_settings, do_add_connector, do_update_connector
from .base import ConnectorError
from .choices import AccountType, ResourceType, SyncStatus
from .client import build_connector
from .forms import ConnectorAddForm, ConnectorSettingsForm, edit_initial
from .models import Account, Connector, Grant, GrantRisk, Identity, Resource, SyncRun
from .registry import KINDS, connector_class
from .secrets import do_set_secret, stored_keys

# --- connectors ----------------------------------------------------------------------------------

# Adding a connector, or changing where it connects or its secret, needs a recent sign-in (pipeaccess.ui).
REAUTH_REASON = "Changing where a connector sends its secret, or the secret itself, needs a recent sign-in."

log = logging.getLogger(__name__)


def _connectors_with_last_run():
    last = SyncRun.objects.filter(connector=OuterRef("pk")).order_by("-started_at", "-id")
    return Connector.objects.annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_started=Subquery(last.values("started_at")[:1]),
        last_run_id=Subquery(last.values("id")[:1]),
        held_runs=Count("runs", filter=Q(runs__status=SyncStatus.HELD)),
    ).order_by("name")


@security_or_auditor
def connector_list(request):
    page = paginate(request, _connectors_with_last_run())
    return render(request, "connectors/list.html", {"page": page, "can_change": can_change(request), "kinds": KINDS})


def _get_connector(name: str) -> Connector:
    return get_object_or_404(Connector, name=name)


@security_or_auditor
def connector_detail(request, name):
    connector = _get_connector(name)
    runs = paginate(request, SyncRun.objects.filter(connector=connector).select_related("confirmed_by"), per_page=25)
    held = SyncRun.objects.filter(connector=connector, status=SyncStatus.HELD).order_by("-started_at")[:20]
    counts = {
        "accounts": Account.objects.filter(connector=connector, present=True).count(),
        "resources": Resource.objects.filter(connector=connector, present=True).count(),
        "grants": Grant.objects.filter(connector=connector, removed_run__isnull=True).count(),
    }
    return render(
        request,
        "connectors/detail.html",
        {
            "connector": connector,
            "kind_label": KINDS.get(connector.kind, (connector.kind,))[0],
            "runs": runs,
            "held": held,
            "counts": counts,
            "can_change": can_change(request),
        },
    )


def _form_errors_from(form, exc: Exception) -> None:
    # Messages from the actions never contain secret values (references only); redact anyway.
    form.add_error(None, redact(str(exc)))


def _kinds_help(only: str | None = None) -> list[dict]:
    """What each kind of connector needs, shown beside the form."""
    kinds = []
    for kind, (label, _path) in KINDS.items():
        if only and kind != only:
            continue
        cls = connector_class(kind)
        kinds.append(
            {
                "kind": kind,
                "label": label,
                "default_base_url": cls.default_base_url,
                "options": [(name, spec) for name, spec in cls.option_specs.items()],
                "secrets": cls.secret_names,
            }
        )
    return kinds


@sensitive_post_parameters("token")
@security_only
def connector_add(request):
    if request.method == "POST":
        form = ConnectorAddForm(request.POST)
        if form.is_valid():
            if not recently_authenticated(request):
                return reauthenticate(request, next_url=request.path, reason=REAUTH_REASON)
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    connector = do_add_connector(
                        name=data["name"],
                        kind=data["kind"],
                        base_url=data["base_url"] or None,
                        options=data["options"],
                        secrets=data["secrets"],
                        actor=request.user,
                    )
                    for key, value in form.pasted().items():
                        connector = do_set_secret(connector, key, value, actor=request.user)
                    changes = {}
                    if data["sync_interval_minutes"]:
                        changes["sync_interval"] = data["sync_interval_minutes"]
                    if not data["dry_run"]:
                        changes["dry_run"] = False
                    if changes:
                        connector = do_update_connector(connector, actor=request.user, **changes)
            except (ConnectorError, LookupError) as exc:
                _form_errors_from(form, exc)
            else:
                messages.success(request, f"Connector {connector.name} added. Sync it to fill the inventory.")
                return redirect("connectors:detail", name=connector.name)
        form.scrub_secrets()
    else:
        form = ConnectorAddForm()
    return render(request, "connectors/form.html", {"form": form, "connector": None, "kinds": _kinds_help()})


@sensitive_post_parameters("token")
@security_only
def connector_edit(request, name):
    connector = _get_connector(name)
    if request.method == "POST":
        form = ConnectorSettingsForm(request.POST, stored_keys=stored_keys(connector))
        form.kind_for_validation = connector.kind
        if form.is_valid():
            if form.redirects_secrets(connector) and not recently_authenticated(request):
                return reauthenticate(request, next_url=request.path, reason=REAUTH_REASON)
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    for key, value in form.pasted().items():
                        connector = do_set_secret(connector, key, value, actor=request.user)
                    connector = do_update_connector(
                        connector,
                        actor=request.user,
                        secrets=form.secrets_to_save(connector),
                        base_url=data["base_url"] or connector_class(connector.kind).default_base_url or "",
                        options=data["options"],
                        sync_interval=data["sync_interval_minutes"],
                        dry_run=data["dry_run"],
                    )
            except ConnectorError as exc:
                _form_errors_from(form, exc)
            else:
                messages.success(request, f"Connector {connector.name} saved.")
                return redirect("connectors:detail", name=connector.name)
        form.scrub_secrets()
    else:
        form = ConnectorSettingsForm(initial=edit_initial(connector), stored_keys=stored_keys(connector))
    return render(
        request,
        "connectors/form.html",
        {"form": form, "connector": connector, "kinds": _kinds_help(connector.kind)},
    )


@sensitive_post_parameters("token")
@require_POST
@security_only
def connector_test(request, name=None):
    """Try the settings in the form (saved or not) with one cheap authenticated call; nothing is saved."""
    existing = _get_connector(name) if name else None
    form = (
        ConnectorSettingsForm(request.POST, stored_keys=stored_keys(existing))
        if existing
        else ConnectorAddForm(request.POST)
    )
    if existing:
        form.kind_for_validation = existing.kind
    ok, text = False, ""
    # Only the fields a test needs: a new connector's name may still be empty or taken.
    if not form.is_valid() and set(form.errors) - {"name", "sync_interval_minutes", "dry_run", "__all__"}:
        text = "Fix the highlighted fields first: " + "; ".join(
            f"{form.fields[f].label if f in form.fields else f}: {' '.join(e)}"
            for f, e in form.errors.items()
            if f not in {"name", "sync_interval_minutes", "dry_run"}
        )
    else:
        if form.redirects_secrets(existing) and not recently_authenticated(request):
            # A test sends the secret to the URL in the form: as sensitive as saving it.
            back = reverse("connectors:edit", kwargs={"name": existing.name}) if existing else reverse("connectors:add")
            return reauthenticate(request, next_url=back, reason=REAUTH_REASON)
        data = form.cleaned_data
        kind = existing.kind if existing else data.get("kind", "")
        ok, text = _try_connection(
            kind=kind,
            name=existing.name if existing else (data.get("name") or "new-connector"),
            base_url=data.get("base_url") or "",
            options=data.get("options") or {},
            secrets=form.secrets_to_save(existing) if "secrets" in data else {},
            pasted=form.pasted(),
            existing=existing,
        )
    response = render(request, "connectors/_test_result.html", {"ok": ok, "text": text})
    if not is_htmx(request):
        # Without JavaScript the result is still a page, with a way back.
        response = render(request, "connectors/test_result_page.html", {"ok": ok, "text": text, "connector": existing})
    return response


def _try_connection(
    *, kind: str, name: str, base_url: str, options: dict, secrets: dict, pasted: dict, existing: Connector | None
) -> tuple[bool, str]:
    try:
        cls = connector_class(kind)
    except LookupError:
        return False, "Choose the kind of system first."
    base_url = (base_url or cls.default_base_url or "").strip()
    if not base_url:
        return False, f"A base URL is required for {cls.label}."
    # An unsaved row: build_connector needs only its fields. The guard runs again at connect time.
    candidate = Connector(name=name, kind=kind, base_url=base_url, options=options, secrets=secrets)
    # A saved connector's stored token is read only for that connector.
    candidate.pk = existing.pk if existing else None
    provider = None
    try:
        _check_settings(cls, kind=kind, name=name, base_url=base_url, options=options, secrets=secrets)
        provider = build_connector(candidate, pasted=pasted, max_retries=0, timeout=15)
        result = provider.test()
    except (ConnectorError, ValueError) as exc:
        return False, redact(str(exc))
    finally:
        if provider is not None and provider.http is not None:
            provider.http.close()
    return True, redact(str(result))


@require_POST
@security_only
def connector_sync(request, name):
    connector = _get_connector(name)
    from .tasks import sync_connector

    if not connector.enabled:
        messages.error(request, f"Connector {connector.name} is disabled: enable it before syncing.")
    elif SyncRun.objects.filter(connector=connector, status=SyncStatus.RUNNING).exists():
        messages.warning(request, f"A sync of {connector.name} is already running.")
    else:
        from reviews.audit import record

        try:
            # Queued before it is recorded: with the broker down there is no outbox to catch up from, so the
            # person must be told now, and the trail must not claim a sync that was never asked for.
            sync_connector.delay(connector.pk, trigger="manual")
        except KombuOperationalError:
            log.warning("sync of %s not queued: the task broker cannot be reached", connector.name)
            messages.error(
                request, f"The task queue cannot be reached: the sync of {connector.name} was not queued. Try again."
            )
        else:
            with transaction.atomic():
                record("sync.requested", actor=request.user, obj=connector, connector=connector.name)
            messages.success(request, f"Sync of {connector.name} queued; refresh to see the run.")
    return redirect("connectors:detail", name=connector.name)


def _get_run(name: str, run_id: int) -> SyncRun:
    return get_object_or_404(
        SyncRun.objects.select_related("connector", "confirmed_by"), pk=run_id, connector__name=name
    )


@security_or_auditor
def run_detail(request, name, run_id):
    run = _get_run(name, run_id)
    previous = None
    if run.applied_at:
        previous = (
            diffs.applied_runs(run.connector)
            .filter(applied_at__lt=run.applied_at)
            .order_by("-applied_at", "-id")
            .first()
        )
    return render(
        request,
        "connectors/run.html",
        {
            "connector": run.connector,
            "run": run,
            "previous": previous,
            "counts": sorted(run.counts.items()),
            "can_change": can_change(request),
        },
    )


@require_POST
@security_only
def run_confirm(request, name, run_id):
    from .sync import confirm_held

    run = _get_run(name, run_id)
    try:
        confirm_held(run, actor=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run.pk} applied: the removals it found are now in the inventory.")
    return redirect("connectors:run", name=name, run_id=run.pk)


@require_POST
@security_only
def run_discard(request, name, run_id):
    from .sync import discard_held

    run = _get_run(name, run_id)
    try:
        discard_held(run, actor=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Run {run.pk} discarded: the inventory is unchanged.")
    return redirect("connectors:run", name=name, run_id=run.pk)


# --- inventory explorer ------------------------------------------------------------------------------


def _risk_signals() -> list[tuple[str, str]]:
    """(code, label) of every risk signal, for the filters."""
    from . import risk

    # In SIGNALS order: the heaviest signals first.
    return [(code, signal.label) for code, signal in risk.SIGNALS.items()]


def _filters(request) -> dict:
    connector = request.GET.get("connector", "").strip()
    risk = request.GET.get("risk", "").strip()
    return {
        "q": request.GET.get("q", "").strip()[:200],
        "connector": connector,
        "risk": risk if risk.replace("_", "").isalnum() else "",
        "type": request.GET.get("type", "").strip()[:30],
    }


def _risky_grants(code: str):
    return GrantRisk.objects.filter(codes__contains=f",{code},", grant__removed_run__isnull=True)


def _inventory_context(request, f: dict, **extra) -> dict:
    return {
        "f": f,
        "connectors": Connector.objects.order_by("name").values_list("name", flat=True),
        "signals": _risk_signals(),
        **extra,
    }


@security_or_auditor
def accounts(request):
    f = _filters(request)
    qs = Account.objects.filter(present=True).select_related("connector", "identity", "owner")
    if f["q"]:
        qs = qs.filter(Q(login__icontains=f["q"]) | Q(name__icontains=f["q"]) | Q(email__icontains=f["q"]))
    if f["connector"]:
        qs = qs.filter(connector__name=f["connector"])
    if f["type"] in AccountType.values:
        qs = qs.filter(type=f["type"])
    if f["risk"]:
        qs = qs.filter(Exists(_risky_grants(f["risk"]).filter(grant__account=OuterRef("pk"))))
    page = paginate(request, qs.order_by("connector__name", "login", "id"))
    return render(
        request,
        "inventory/accounts.html",
        _inventory_context(request, f, page=page, types=AccountType.choices, tab="accounts"),
    )


@security_or_auditor
def account_detail(request, pk):
    account = get_object_or_404(Account.objects.select_related("connector", "identity", "owner"), pk=pk)
    grants = paginate(
        request,
        Grant.objects.current()
        .filter(account=account)
        .select_related("resource", "entitlement", "risk")
        .order_by("resource__path", "id"),
    )
    return render(request, "inventory/account.html", {"account": account, "grants": grants})


@security_or_auditor
def people(request):
    f = _filters(request)
    qs = Identity.objects.annotate(account_count=Count("accounts", filter=Q(accounts__present=True)))
    if f["q"]:
        qs = qs.filter(Q(email__icontains=f["q"]) | Q(name__icontains=f["q"]) | Q(department__icontains=f["q"]))
    if f["connector"]:
        qs = qs.filter(accounts__connector__name=f["connector"], accounts__present=True).distinct()
    if f["risk"]:
        qs = qs.filter(Exists(_risky_grants(f["risk"]).filter(grant__account__identity=OuterRef("pk"))))
    page = paginate(request, qs.select_related("manager").order_by("email"))
    return render(request, "inventory/people.html", _inventory_context(request, f, page=page, tab="people"))


@security_or_auditor
def resources(request):
    f = _filters(request)
    qs = Resource.objects.filter(present=True).select_related("connector", "owner")
    if f["q"]:
        qs = qs.filter(Q(path__icontains=f["q"]) | Q(name__icontains=f["q"]))
    if f["connector"]:
        qs = qs.filter(connector__name=f["connector"])
    if f["type"] in ResourceType.values:
        qs = qs.filter(type=f["type"])
    if f["risk"]:
        qs = qs.filter(Exists(_risky_grants(f["risk"]).filter(grant__resource=OuterRef("pk"))))
    page = paginate(request, qs.order_by("connector__name", "path", "id"))
    return render(
        request,
        "inventory/resources.html",
        _inventory_context(request, f, page=page, types=ResourceType.choices, tab="resources"),
    )


@security_or_auditor
def person_detail(request, pk):
    identity = get_object_or_404(Identity.objects.select_related("manager"), pk=pk)
    view = access.person_access(identity)
    accounts_page = paginate(
        request,
        Account.objects.filter(identity=identity).select_related("connector").order_by("connector__name", "login"),
    )
    return render(request, "inventory/person.html", {"identity": identity, "access": view, "accounts": accounts_page})


@security_or_auditor
def resource_detail(request, pk):
    resource = get_object_or_404(Resource.objects.select_related("connector", "parent", "owner"), pk=pk)
    view = access.resource_access(resource)
    reach = Paginator(view.reach, 50).get_page(request.GET.get("reach_page"))
    grants = paginate(
        request,
        Grant.objects.current()
        .filter(resource=resource)
        .select_related("account", "group", "entitlement", "risk")
        .order_by("-entitlement__level", "id"),
    )
    return render(
        request, "inventory/resource.html", {"resource": resource, "access": view, "reach": reach, "grants": grants}
    )


DIFF_SECTIONS = ("added", "removed", "changed")


@security_or_auditor
def changes(request):
    """The grants added, removed and changed between two applied syncs of one connector."""
    names = list(Connector.objects.order_by("name").values_list("name", flat=True))
    name = request.GET.get("connector") or (names[0] if names else "")
    context = {"connectors": names, "connector": None, "result": None, "error": ""}
    if not name:
        return render(request, "inventory/changes.html", context)
    connector = get_object_or_404(Connector, name=name)
    runs = list(diffs.applied_runs(connector).reverse()[:200])
    context.update(connector=connector, runs=runs)
    try:
        default_from, default_to = diffs.default_runs(connector)
    except LookupError as exc:
        context["error"] = str(exc)
        return render(request, "inventory/changes.html", context)
    to_run = _applied_run(connector, request.GET.get("to")) or default_to
    from_id = request.GET.get("from")
    if from_id == "none":
        from_run = None
    elif from_id:
        from_run = _applied_run(connector, from_id)
    else:
        from_run = default_from if to_run == default_to else _previous_applied(connector, to_run)
    if from_run is not None and from_run.applied_at >= to_run.applied_at:
        context["error"] = "Choose an earlier run on the left than on the right."
        return render(request, "inventory/changes.html", context)
    result = diffs.diff(connector, from_run, to_run)
    section = request.GET.get("show") if request.GET.get("show") in DIFF_SECTIONS else "added"
    context.update(
        from_run=from_run,
        to_run=to_run,
        section=section,
        totals={s: len(result[s]) for s in DIFF_SECTIONS},
        rows=Paginator(result[section], 50).get_page(request.GET.get("page")),
        result=result,
    )
    return render(request, "inventory/changes.html", context)


def _applied_run(connector: Connector, run_id) -> SyncRun | None:
    if not run_id:
        return None
    try:
        return diffs.applied_runs(connector).get(pk=int(run_id))
    except (ValueError, SyncRun.DoesNotExist):
        raise Http404("no such applied run of this connector") from None


def _previous_applied(connector: Connector, run: SyncRun) -> SyncRun | None:
    return diffs.applied_runs(connector).filter(applied_at__lt=run.applied_at).order_by("-applied_at", "-id").first()
