"""Staging tables skip the write-ahead log on PostgreSQL: their rows live for one sync.

A server crash empties unlogged tables; a held run whose staged rows are gone is refused at
confirmation (connectors.sync.confirm_held compares the staged count with the run's).
"""

from django.db import migrations

TABLES = ("connectors_stagedaccount", "connectors_stagedresource", "connectors_stagedgrant")


def set_logging(state: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET {state}")

    return run


class Migration(migrations.Migration):
    dependencies = [("connectors", "0003_entitlement_inheritance")]

    operations = [migrations.RunPython(set_logging("UNLOGGED"), set_logging("LOGGED"))]
