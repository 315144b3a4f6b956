"""Writing prepared record rows: one COPY and one upsert statement per batch on PostgreSQL.

A row is a tuple in `ROW` order; what is the same for the whole batch (user, source, origin, time
of writing) travels once in a `Batch`. Both paths insert new keys, update rows whose content
changed and leave identical rows alone, and report what they did per (metric, local day).
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db import IntegrityError, connection, transaction

from healthdata.models import Record

ROW = (
    "metric",
    "source_key",
    "device",
    "device_kind",
    "start",
    "end",
    "utc_offset_minutes",
    "local_date",
    "value",
    "secondary_value",
    "quality",
    "flags",
    "metadata",
)
# What makes a stored row different from an incoming one (origin and timestamps do not).
CONTENT = tuple(name for name in ROW if name != "source_key")
_COPY_TYPES = (
    "text", "text", "text", "text", "timestamptz", "timestamptz", "int2", "date", "float8", "float8", "int2",
    "int2", "text",
)  # fmt: skip
# The same for every row of a batch: the upsert passes them once, a COPY into the table in each row.
_CONSTANTS = ("user_id", "source", "origin_kind", "origin_id", "created", "updated")
# A binary COPY gets no cast: metadata goes in jsonb's binary form, a version byte (1) and the JSON
# text, sent through psycopg's text dumper (written in C) as a string starting with that byte.
_DIRECT_TYPES = ("int8", "text", "text", "int8", "timestamptz", "timestamptz", *_COPY_TYPES)
_EMPTY_JSONB = "\x01{}"
SAMPLE_KEYS = 16  # keys looked up before a batch is sent by COPY
_SOURCE_KEY = ROW.index("source_key")
_METRIC, _LOCAL_DATE = ROW.index("metric"), ROW.index("local_date")
_CONTENT_POSITIONS = [ROW.index(name) for name in CONTENT]


@dataclass(frozen=True, slots=True)
class Batch:
    user_id: int
    source: str
    origin_kind: str
    origin_id: int | None
    now: datetime


@dataclass
class Written:
    created: Counter = field(default_factory=Counter)  # (metric, local day) -> rows
    updated: Counter = field(default_factory=Counter)


def write(batch: Batch, rows: list[tuple]) -> Written:
    """Upsert rows (unique by user, source and source key); the caller holds the transaction."""
    if not rows:
        return Written()
    if connection.vendor == "postgresql":
        return _write_postgresql(batch, rows)
    return _write_portable(batch, rows)


def metadata_text(metadata: dict) -> str:
    """Metadata as stored in a prepared row: compact JSON text with sorted keys."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str) if metadata else "{}"


def days_of(written: Written) -> set[tuple[str, date]]:
    return set(written.created) | set(written.updated)


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _write_postgresql(batch: Batch, rows: list[tuple]) -> Written:
    """A batch of new keys goes straight into the table by COPY; any other batch takes the upsert.

    A first import is all new keys, and a row-by-row INSERT ... SELECT ... ON CONFLICT costs the
    database half as much again as COPY's multi-row insert (docs/scaling.md). A few keys spread over
    the batch are looked up first, so that a re-import goes to the upsert at once. When the COPY
    meets a stored key after all (a batch partly stored, or a key stored meanwhile by another
    transaction), it fails on the unique key, is rolled back to its savepoint, and the batch takes
    the upsert.
    """
    written = Written()
    with connection.cursor() as cursor:
        if not _any_stored(cursor, batch, rows) and _copy_new(cursor, batch, rows):
            written.created.update(Counter((row[_METRIC], row[_LOCAL_DATE]) for row in rows))
        else:
            _upsert_postgresql(cursor, batch, rows, written)
    return written


def _any_stored(cursor, batch: Batch, rows: list[tuple]) -> bool:
    """Whether one of up to SAMPLE_KEYS keys spread over the batch (first and last included) is stored."""
    step = max(1, len(rows) // (SAMPLE_KEYS - 1))
    keys = [row[_SOURCE_KEY] for row in (*rows[::step][: SAMPLE_KEYS - 1], rows[-1])]
    # OFFSET 0 keeps the look-up per key on the unique index, whatever the planner thinks of the user.
    cursor.execute(
        "SELECT EXISTS (SELECT FROM unnest(%s::text[]) AS key WHERE EXISTS ("  # noqa: S608 # nosec B608
        f"SELECT FROM {Record._meta.db_table} "
        "WHERE user_id = %s AND source = %s AND source_key = key OFFSET 0))",
        [keys, batch.user_id, batch.source],
    )
    return cursor.fetchone()[0]


def _copy_new(cursor, batch: Batch, rows: list[tuple]) -> bool:
    """COPY rows whose keys are not stored into the table; False when one turned out to be stored."""
    columns = ", ".join(_quoted(name) for name in (*_CONSTANTS, *ROW))
    constants = (batch.user_id, batch.source, batch.origin_kind, batch.origin_id, batch.now, batch.now)
    try:
        with transaction.atomic(), connection.wrap_database_errors:
            copy_sql = f"COPY {Record._meta.db_table} ({columns}) FROM STDIN (FORMAT BINARY)"
            with cursor.cursor.copy(copy_sql) as copy:
                copy.set_types(_DIRECT_TYPES)
                for row in rows:
                    metadata = row[-1]
                    copy.write_row(
                        (*constants, *row[:-1], _EMPTY_JSONB if metadata == "{}" else "\x01" + metadata)
                    )
    except IntegrityError:
        return False
    return True


def _upsert_postgresql(cursor, batch: Batch, rows: list[tuple], written: Written) -> None:
    table = Record._meta.db_table
    staged = ", ".join(_quoted(name) for name in ROW)
    selected = ", ".join(f"{_quoted(name)}::jsonb" if name == "metadata" else _quoted(name) for name in ROW)
    updates = ", ".join(f"{_quoted(name)} = EXCLUDED.{_quoted(name)}" for name in (*CONTENT, "updated"))
    current = ", ".join(f"{table}.{_quoted(name)}" for name in CONTENT)
    incoming = ", ".join(f"EXCLUDED.{_quoted(name)}" for name in CONTENT)
    temporary = ", ".join(f"{_quoted(name)} {kind}" for name, kind in zip(ROW, _COPY_TYPES, strict=True))
    # Statements go through Django's cursor (logged like any query); COPY needs psycopg's own.
    cursor.execute(f"CREATE TEMPORARY TABLE ingest_batch ({temporary}) ON COMMIT DROP")
    with cursor.cursor.copy(f"COPY ingest_batch ({staged}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        "WITH written AS ("  # noqa: S608 # nosec B608 # model identifiers; values as parameters and COPY
        f"""
            INSERT INTO {table} ({", ".join(_CONSTANTS)}, {staged})
            SELECT %s, %s, %s, %s, %s, %s, {selected} FROM ingest_batch
            ON CONFLICT (user_id, source, source_key) DO UPDATE SET {updates}
            WHERE ({current}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS inserted, metric, local_date
        )
        SELECT metric, local_date, count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM written GROUP BY metric, local_date
        """,
        [batch.user_id, batch.source, batch.origin_kind, batch.origin_id, batch.now, batch.now],
    )
    summary = cursor.fetchall()
    cursor.execute("DROP TABLE ingest_batch")
    for metric, day, created, updated in summary:
        if created:
            written.created[(metric, day)] += created
        if updated:
            written.updated[(metric, day)] += updated


def _write_portable(batch: Batch, rows: list[tuple]) -> Written:
    """SQLite and others: compare with the stored rows, then upsert only what is new or changed."""
    stored = _stored_content(batch, [row[_SOURCE_KEY] for row in rows])
    written = Written()
    changed = []
    for row in rows:
        key = (row[_METRIC], row[_LOCAL_DATE])
        previous = stored.get(row[_SOURCE_KEY])
        if previous is None:
            written.created[key] += 1
        elif previous != _content(row):
            written.updated[key] += 1
        else:
            continue
        changed.append(row)
    _executemany_upsert(batch, changed)
    return written


def _content(row: tuple) -> tuple:
    # In UTC: an aware time in a repeated hour (clocks going back) never equals one in another zone.
    return tuple(_in_utc(row[position]) for position in _CONTENT_POSITIONS)


def _in_utc(value):
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _stored_content(batch: Batch, keys: list[str]) -> dict[str, tuple]:
    stored = {}
    for offset in range(0, len(keys), 500):
        found = Record.objects.filter(
            user_id=batch.user_id, source=batch.source, source_key__in=keys[offset : offset + 500]
        ).values_list("source_key", *CONTENT)
        for source_key, *content in found:
            content[CONTENT.index("metadata")] = metadata_text(content[CONTENT.index("metadata")])
            stored[source_key] = tuple(_in_utc(value) for value in content)
    return stored


def _executemany_upsert(batch: Batch, rows: list[tuple]) -> None:
    if not rows:
        return
    table = Record._meta.db_table
    names = ("user_id", "source", "origin_kind", "origin_id", "created", "updated", *ROW)
    columns = ", ".join(_quoted(name) for name in names)
    placeholders = ", ".join(["%s"] * len(names))
    updates = ", ".join(f"{_quoted(name)} = excluded.{_quoted(name)}" for name in (*CONTENT, "updated"))
    now = connection.ops.adapt_datetimefield_value(batch.now)
    constants = (batch.user_id, batch.source, batch.origin_kind, batch.origin_id, now, now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 # nosec B608 # model identifiers only
            f"ON CONFLICT (user_id, source, source_key) DO UPDATE SET {updates}",
            [(*constants, *_adapted(row)) for row in rows],
        )


def _adapted(row: tuple) -> tuple:
    """Values as the database driver takes them through Django's own adapters."""
    operations = connection.ops
    adapted = list(row)
    for position in (ROW.index("start"), ROW.index("end")):
        adapted[position] = operations.adapt_datetimefield_value(row[position])
    adapted[_LOCAL_DATE] = operations.adapt_datefield_value(row[_LOCAL_DATE])
    return tuple(adapted)
