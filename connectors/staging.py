"""Bulk-load a sync's records into the staging tables.

PostgreSQL gets COPY (the fastest way in); other databases get batched
executemany. Records are buffered per table and flushed every BATCH rows, so
memory stays flat however large the upstream is.
"""

import functools
import json
from collections.abc import Callable

from django.db import connection

from .base import AccountRecord, ConnectorError, GrantRecord, ResourceRecord, digest
from .models import StagedAccount, StagedGrant, StagedResource

BATCH = 5000


def _columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column != "id"]


def _json(attributes: dict) -> str:
    # Most records carry no attributes; skipping the encoder for them is measurable at 100,000s of rows.
    return json.dumps(attributes, sort_keys=True, default=str) if attributes else "{}"


@functools.lru_cache(maxsize=4096)
def _plain_grant_digest(permission: str, level: int, cascade_to: str, cascade_level: int | None) -> str:
    """digest() of a grant without attributes: a large org has 100,000s of grants but a few dozen distinct ones."""
    return digest(permission, level, cascade_to, cascade_level, {})


def account_row(run_id: int, r: AccountRecord) -> tuple:
    last_active = connection.ops.adapt_datetimefield_value(r.last_active_at)
    fields = (r.login, r.type, r.name, r.email, r.state, r.two_factor, r.is_admin, r.is_outside, last_active)
    return (
        run_id,
        r.external_id,
        *fields,
        _json(r.attributes),
        digest(*fields, r.attributes),
    )


def resource_row(run_id: int, r: ResourceRecord) -> tuple:
    return (
        run_id,
        r.external_id,
        r.type,
        r.path,
        r.name,
        r.parent_external_id,
        _json(r.attributes),
        digest(r.type, r.path, r.name, r.parent_external_id, r.attributes),
    )


def grant_row(run_id: int, g: GrantRecord) -> tuple:
    cascade_to = ",".join(g.cascade_to)
    cascade_level = int(g.cascade_level) if g.cascade_level is not None else None
    level = int(g.level)
    if g.cascade_via or g.capped or not g.rolls_up:
        # Only grants that use these add them to the digest, so every other grant's digest stays as it was.
        content = digest(
            g.permission, level, cascade_to, cascade_level, g.attributes, g.cascade_via, g.rolls_up, g.capped
        )
    elif g.attributes:
        content = digest(g.permission, level, cascade_to, cascade_level, g.attributes)
    else:
        content = _plain_grant_digest(g.permission, level, cascade_to, cascade_level)
    return (
        run_id,
        g.key,
        content,
        g.account_external_id,
        g.group_external_id,
        g.resource_external_id,
        g.kind,
        g.permission,
        level,
        cascade_to,
        cascade_level,
        g.applies_to_self,
        g.via,
        _json(g.attributes),
        g.cascade_via,
        g.rolls_up,
        g.capped,
    )


class StagingWriter:
    """Accepts records one by one and writes them to staging in batches."""

    def __init__(self, run_id: int, on_flush: Callable[[], None] | None = None):
        self.run_id = run_id
        self.on_flush = on_flush
        self.buffers: dict[type, list[tuple]] = {StagedAccount: [], StagedResource: [], StagedGrant: []}
        self.counts = {"accounts": 0, "resources": 0, "grants": 0}

    def add(self, record) -> None:
        if isinstance(record, GrantRecord):
            model, row, count = StagedGrant, grant_row(self.run_id, record), "grants"
        elif isinstance(record, AccountRecord):
            model, row, count = StagedAccount, account_row(self.run_id, record), "accounts"
        elif isinstance(record, ResourceRecord):
            model, row, count = StagedResource, resource_row(self.run_id, record), "resources"
        else:
            raise TypeError(f"a connector yielded {type(record).__name__}, not a record")
        _check_lengths(model, row, record)
        buffer = self.buffers[model]
        buffer.append(row)
        self.counts[count] += 1
        if len(buffer) >= BATCH:
            self._flush(model)

    def close(self) -> None:
        for model in self.buffers:
            self._flush(model)

    def _flush(self, model) -> None:
        rows = self.buffers[model]
        if not rows:
            return
        write_rows(model, rows)
        rows.clear()
        if self.on_flush:
            self.on_flush()


def _limits(model) -> list[tuple[int, str, int]]:
    """(position in the staged row, field name, max length) of every bounded text column."""
    fields = [f for f in model._meta.concrete_fields if f.column != "id"]
    return [(i, f.name, f.max_length) for i, f in enumerate(fields) if getattr(f, "max_length", None)]


LIMITS = {model: _limits(model) for model in (StagedAccount, StagedResource, StagedGrant)}


def _check_lengths(model, row: tuple, record) -> None:
    """Synced names are untrusted: one too long for the inventory fails the run with a clear error.

    Stored values are never truncated (a truncated name could collide with another one), and the
    database would otherwise abort the whole write with a less helpful message.
    """
    for position, name, limit in LIMITS[model]:
        value = row[position]
        if isinstance(value, str) and len(value) > limit:
            what = getattr(record, "external_id", None) or getattr(record, "resource_external_id", "?")
            raise ConnectorError(
                f"{type(record).__name__} {what[:80]!r}: {name} is {len(value)} characters, more than the "
                f"{limit} the inventory stores",
                permanent=True,
            )


def write_rows(model, rows: list[tuple]) -> None:
    table = model._meta.db_table
    columns = _columns(model)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)  # nosec B608 # table/column names are ours, values are parameters


def clear(run_id: int) -> None:
    for model in (StagedAccount, StagedResource, StagedGrant):
        model.objects.filter(run_id=run_id).delete()
