"""Every change to connectors goes through these functions (views, tasks, commands and tests call them)."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

from django.db import DEFAULT_DB_ALIAS, connection, transaction

from reviews.audit import record
from reviews.models import ReviewItem, Revocation

from .base import ConfigurationError
from .models import (
    Account,
    Connector,
    CorrelationConflict,
    Entitlement,
    Grant,
    GrantRisk,
    Resource,
    StagedAccount,
    StagedGrant,
    StagedResource,
    SyncRun,
)
from .netguard import NetGuard
from .registry import connector_class
from .secrets import drop_unreferenced, validate_reference

log = logging.getLogger(__name__)
REMOVAL_INDEX = "connector_removal_grant_entitlement"


def normalize_options(raw: list[tuple[str, str]], cls) -> dict:
    """KEY=VALUE pairs -> options dict; repeatable options become lists."""
    options: dict = {}
    for key, value in raw:
        spec = cls.option_specs.get(key)
        if spec is not None and spec.repeatable:
            options.setdefault(key, []).append(value)
        elif key in options:
            raise ConfigurationError(f"option {key}= given twice (it is not repeatable)")
        else:
            options[key] = value
    return options


def secret_kinds(secrets: dict) -> dict:
    """What the audit trail shows of secret references: the key and the kind ("env"/"file"), never the target."""
    return {key: str(ref).partition(":")[0] for key, ref in sorted(secrets.items())}


def _check_settings(cls, *, kind: str, name: str, base_url: str, options: dict, secrets: dict) -> None:
    if urlsplit(base_url).scheme not in {"http", "https"}:
        raise ConfigurationError(f"base URL {base_url!r} must start with https:// (or http://)")
    cls.validate_options(options)
    unknown = set(secrets) - set(cls.secret_names)
    if unknown:
        raise ConfigurationError(f"unknown secret(s) for {kind}: {', '.join(sorted(unknown))}")
    for ref in secrets.values():
        validate_reference(ref)
    allow_private = str(options.get("allow_private_network", "")).lower() == "true"
    guard = NetGuard(allow_private=allow_private)
    # The address as typed too: user information must not hide in a URL the API path rewrites (github.com).
    guard.check_url_syntax(base_url)
    host, port = guard.check_url_syntax(cls.api_url(base_url))
    try:
        guard.addresses(host, port)
    except (socket.gaierror, UnicodeError):
        # Names may resolve only where syncs run; every connection is checked again at connect time.
        log.warning("connector %s: host %s does not resolve here; it is checked again at each connection", name, host)


@transaction.atomic
def do_add_connector(
    *, name: str, kind: str, base_url: str | None, options: dict, secrets: dict, actor=None
) -> Connector:
    cls = connector_class(kind)
    if Connector.objects.filter(name=name).exists():
        raise ConfigurationError(f"a connector named {name} already exists")
    base_url = (base_url or cls.default_base_url or "").strip()
    if not base_url:
        raise ConfigurationError(f"--base-url is required for {kind}")
    _check_settings(cls, kind=kind, name=name, base_url=base_url, options=options, secrets=secrets)
    connector = Connector.objects.create(name=name, kind=kind, base_url=base_url, options=options, secrets=secrets)
    record(
        "connector.added",
        actor=actor,
        obj=connector,
        name=name,
        kind=kind,
        base_url=base_url,
        options=options,
        secrets=secret_kinds(secrets),
        dry_run=connector.dry_run,
    )
    return connector


# What do_update_connector may change, besides secrets; each change is audited old -> new.
UPDATABLE = ("base_url", "options", "enabled", "sync_interval", "removal_threshold", "dry_run", "fallback_owner")


@transaction.atomic
def do_update_connector(connector: Connector, *, actor=None, secrets: dict | None = None, **changes) -> Connector:
    """Change a connector's settings (any of UPDATABLE, and `secrets`: the complete new KEY -> reference map).

    Checked like do_add_connector. The audit event lists each changed field with its old and new value;
    for secrets only which keys were added, removed or re-pointed, with the reference kinds (env/file).
    """
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ConfigurationError(f"cannot change {', '.join(sorted(unknown))} of a connector")
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    cls = connector_class(connector.kind)
    if "base_url" in changes:
        changes["base_url"] = (changes["base_url"] or "").strip()
        if not changes["base_url"]:
            raise ConfigurationError("the base URL cannot be empty")
    new_secrets = dict(connector.secrets) if secrets is None else dict(secrets)
    base_url = changes.get("base_url", connector.base_url)
    options = changes.get("options", connector.options)
    threshold = changes.get("removal_threshold")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ConfigurationError("the removal threshold is a share between 0 and 1")
    _check_settings(
        cls, kind=connector.kind, name=connector.name, base_url=base_url, options=options, secrets=new_secrets
    )
    changed = {}
    for field, new in changes.items():
        old = getattr(connector, field)
        if old != new:
            changed[field] = {"from": _audit_value(old), "to": _audit_value(new)}
            setattr(connector, field, new)
    secret_changes = _secret_changes(connector.secrets, new_secrets)
    if not changed and not secret_changes:
        return connector
    connector.secrets = new_secrets
    connector.save()
    drop_unreferenced(connector)  # a stored token replaced by a reference is deleted, not left behind
    data = {"name": connector.name, "changed": changed}
    if secret_changes:
        data["secrets"] = secret_changes
    record("connector.updated", actor=actor, obj=connector, **data)
    return connector


def _audit_value(value):
    if hasattr(value, "total_seconds"):
        return int(value.total_seconds())
    if hasattr(value, "pk"):
        return {"id": value.pk, "label": str(value)}
    return value


def _secret_changes(old: dict, new: dict) -> list[dict]:
    """Which secret keys changed: added/removed/changed, with reference kinds only (references are not shown)."""
    out = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        entry = {"key": key}
        if before is None:
            entry.update(change="added", to=str(after).partition(":")[0])
        elif after is None:
            entry.update(change="removed", was=str(before).partition(":")[0])
        else:
            entry.update(change="changed", was=str(before).partition(":")[0], to=str(after).partition(":")[0])
        out.append(entry)
    return out


@transaction.atomic
def do_remove_connector(connector: Connector, *, actor=None) -> None:
    """Delete a connector and its whole inventory history.

    Set-based deletes, children first: the ORM's collector would load every grant of a large
    organization into memory before deleting it.
    """
    pk = connector.pk
    counts = {
        "accounts": Account.objects.filter(connector_id=pk).count(),
        "resources": Resource.objects.filter(connector_id=pk).count(),
        "current_grants": Grant.objects.filter(connector_id=pk, removed_run__isnull=True).count(),
        "runs": SyncRun.objects.filter(connector_id=pk).count(),
    }
    if connection.vendor == "postgresql":
        # The grant table has no index on entitlement_id (it would slow every sync's insert), so the
        # foreign-key check of each deleted entitlement would scan every grant: minutes for a large
        # inventory. A temporary index, with the checks made while it exists, makes that milliseconds.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"CREATE INDEX {REMOVAL_INDEX} ON {Grant._meta.db_table} (entitlement_id)")
    runs = SyncRun.objects.filter(connector_id=pk).values("pk")
    for model in (StagedGrant, StagedAccount, StagedResource):
        model.objects.filter(run_id__in=runs)._raw_delete(DEFAULT_DB_ALIAS)
    # What points into this inventory from elsewhere: risk rows and correlation conflicts go with it; review
    # items and revocations keep their frozen copies (the audit evidence) and lose only the links.
    GrantRisk.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    CorrelationConflict.objects.filter(account__connector_id=pk).delete()
    ReviewItem.objects.filter(connector_id=pk).update(grant=None, account=None, group=None, resource=None)
    Revocation.objects.filter(connector_id=pk).update(grant=None, verified_run=None)
    Grant.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    Entitlement.objects.filter(resource__connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    Account.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    Resource.objects.filter(connector_id=pk).update(parent=None)
    Resource.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    SyncRun.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    # Recorded before the row goes, while it still has its id; rolled back with the removal if it fails.
    record(
        "connector.removed",
        actor=actor,
        obj=connector,
        name=connector.name,
        kind=connector.kind,
        base_url=connector.base_url,
        secrets=secret_kinds(connector.secrets),
        **counts,
    )
    connector.delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {REMOVAL_INDEX}")
