"""Bulk-load a sync's records into the staging tables.

PostgreSQL gets COPY (the fastest way in); other databases get batched
executemany. Records are buffered per table and flushed every BATCH rows, so
memory stays flat however large the upstream is.
"""

import json
from collections.abc import Callable

from django.db import connection

from .base import AccountRecord, GrantRecord, ResourceRecord, digest
from .models import StagedAccount, StagedGrant, StagedResource

BATCH = 5000


def _columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column != "id"]


def account_row(run_id: int, r: AccountRecord) -> tuple:
    last_active = connection.ops.adapt_datetimefield_value(r.last_active_at)
    fields = (r.login, r.type, r.name, r.email, r.state, r.two_factor, r.is_admin, r.is_outside, last_active)
    return (
        run_id,
        r.external_id,
        *fields,
        json.dumps(r.attributes, sort_keys=True, default=str),
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
        json.dumps(r.attributes, sort_keys=True, default=str),
        digest(r.type, r.path, r.name, r.parent_external_id, r.attributes),
    )


def grant_row(run_id: int, g: GrantRecord) -> tuple:
    cascade_to = ",".join(g.cascade_to)
    cascade_level = int(g.cascade_level) if g.cascade_level is not None else None
    return (
        run_id,
        g.key,
        digest(g.permission, int(g.level), cascade_to, cascade_level, g.attributes),
        g.account_external_id,
        g.group_external_id,
        g.resource_external_id,
        g.kind,
        g.permission,
        int(g.level),
        cascade_to,
        cascade_level,
        g.applies_to_self,
        g.via,
        json.dumps(g.attributes, sort_keys=True, default=str),
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
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)


def clear(run_id: int) -> None:
    for model in (StagedAccount, StagedResource, StagedGrant):
        model.objects.filter(run_id=run_id).delete()
