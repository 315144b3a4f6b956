"""On PostgreSQL, compare the record's key columns byte by byte (the "C" collation).

Metric codes, source names and source keys are identifiers, never shown sorted to a person, so a
linguistic collation buys nothing; byte comparison makes each insert into the unique key and the
(user, metric, start) index cheaper (docs/scaling.md). The model keeps the database default, so the
same models run on SQLite, whose default already compares bytes.
"""

from django.db import migrations

COLUMNS = (("metric", 64), ("source", 32), ("source_key", 128))


def _alter(collation: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        changes = ", ".join(
            f'ALTER COLUMN "{name}" TYPE varchar({length}) COLLATE {collation}' for name, length in COLUMNS
        )
        schema_editor.execute(f"ALTER TABLE healthdata_record {changes}")
        # Changing a column's type drops its statistics; gather them again at once rather than
        # leave the planner without them until autovacuum's next analyze of a large table.
        schema_editor.execute("ANALYZE healthdata_record")

    return alter


class Migration(migrations.Migration):
    dependencies = [("healthdata", "0004_record_user_without_database_constraint")]

    operations = [migrations.RunPython(_alter('"C"'), _alter("pg_catalog.default"))]
