"""Every change to connectors goes through these functions (views, tasks, commands and tests call them)."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

from django.db import DEFAULT_DB_ALIAS, connection, transaction

from .base import ConfigurationError
from .models import (
    Account,
    Connector,
    Entitlement,
    Grant,
    Resource,
    StagedAccount,
    StagedGrant,
    StagedResource,
    SyncRun,
)
from .netguard import NetGuard
from .registry import connector_class
from .secrets import validate_reference

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
    host, port = guard.check_url_syntax(cls.api_url(base_url))
    try:
        guard.addresses(host, port)
    except (socket.gaierror, UnicodeError):
        # Names may resolve only where syncs run; every connection is checked again at connect time.
        log.warning("connector %s: host %s does not resolve here; it is checked again at each connection", name, host)
    return Connector.objects.create(name=name, kind=kind, base_url=base_url, options=options, secrets=secrets)


@transaction.atomic
def do_remove_connector(connector: Connector, *, actor=None) -> None:
    """Delete a connector and its whole inventory history.

    Set-based deletes, children first: the ORM's collector would load every grant of a large
    organization into memory before deleting it.
    """
    pk = connector.pk
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
    Grant.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    Entitlement.objects.filter(resource__connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    Account.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    Resource.objects.filter(connector_id=pk).update(parent=None)
    Resource.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    SyncRun.objects.filter(connector_id=pk)._raw_delete(DEFAULT_DB_ALIAS)
    connector.delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {REMOVAL_INDEX}")
