"""Writing prepared record rows: one COPY and at most one upsert statement per batch on PostgreSQL.

Rows come prepared (healthdata.prepare) and, on PostgreSQL, encoded as a binary COPY stream
(healthdata.copy_encoding), possibly by another process. Both paths insert new keys, update rows
whose content changed and leave identical rows alone, and report what they did per (metric, local
day).
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import IntegrityError, connection, transaction

from healthdata.copy_encoding import COLUMN_TYPES, COLUMNS, ROW, UNIX_EPOCH, Batch, Encoded, microseconds
from healthdata.models import Record
from healthdata.prepare import metadata_text

# What makes a stored row different from an incoming one (origin and timestamps do not).
CONTENT = tuple(name for name in ROW if name != "source_key")
_SOURCE_KEY = ROW.index("source_key")
_METRIC, _LOCAL_DATE = ROW.index("metric"), ROW.index("local_date")
_CONTENT_POSITIONS = [ROW.index(name) for name in CONTENT]

__all__ = ["Batch", "Written", "days_of", "takes_encoded", "write", "write_encoded"]


@dataclass
class Written:
    created: Counter = field(default_factory=Counter)  # (metric, local day) -> rows
    updated: Counter = field(default_factory=Counter)


def takes_encoded() -> bool:
    """PostgreSQL takes a batch encoded for COPY (`write_encoded`); other databases its rows (`write`)."""
    return connection.vendor == "postgresql"


def write(batch: Batch, rows: list[tuple]) -> Written:
    """Upsert rows (unique by user, source and source key) where `takes_encoded()` is false.

    The caller holds the transaction.
    """
    return _write_portable(batch, rows) if rows else Written()


def days_of(written: Written) -> set[tuple[str, date]]:
    return set(written.created) | set(written.updated)


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def write_encoded(encoded: Encoded) -> Written:
    """Write an encoded batch on PostgreSQL: new keys straight into the table by COPY, else the upsert.

    A first import is all new keys, and a row-by-row INSERT ... SELECT ... ON CONFLICT costs the
    database half as much again as COPY's multi-row insert (docs/scaling.md). When the COPY meets a
    stored key (a re-import, a batch partly stored, a key stored meanwhile by another transaction),
    it fails on the unique key, is rolled back to its savepoint, and the batch takes the upsert. A
    re-import's COPY fails on its first row, so trying costs little; no key is looked up first,
    which keeps the path free of plans that table statistics could spoil. The caller holds the
    transaction.
    """
    written = Written()
    if not encoded.rows:
        return written
    with connection.cursor() as cursor:
        if _copy_new(cursor, encoded):
            written.created.update(encoded.counts)
        else:
            _upsert_postgresql(cursor, encoded, written)
    return written


def _columns() -> str:
    return ", ".join(_quoted(name) for name in COLUMNS)


def _copy_new(cursor, encoded: Encoded) -> bool:
    """COPY rows whose keys are not stored into the table; False when one turned out to be stored."""
    try:
        with transaction.atomic(), connection.wrap_database_errors:
            _copy(cursor, f"COPY {Record._meta.db_table} ({_columns()}) FROM STDIN (FORMAT BINARY)", encoded)
    except IntegrityError:
        return False
    return True


def _copy(cursor, statement: str, encoded: Encoded) -> None:
    # Statements go through Django's cursor (logged like any query); COPY needs psycopg's own.
    with cursor.cursor.copy(statement) as copy:
        copy.write(encoded.payload)


def _upsert_postgresql(cursor, encoded: Encoded, written: Written) -> None:
    table = Record._meta.db_table
    columns = _columns()
    updates = ", ".join(f"{_quoted(name)} = EXCLUDED.{_quoted(name)}" for name in (*CONTENT, "updated"))
    current = ", ".join(f"{table}.{_quoted(name)}" for name in CONTENT)
    incoming = ", ".join(f"EXCLUDED.{_quoted(name)}" for name in CONTENT)
    staged = ", ".join(f"{_quoted(name)} {kind}" for name, kind in zip(COLUMNS, COLUMN_TYPES, strict=True))
    cursor.execute(f"CREATE TEMPORARY TABLE ingest_batch ({staged}) ON COMMIT DROP")
    _copy(cursor, f"COPY ingest_batch ({columns}) FROM STDIN (FORMAT BINARY)", encoded)
    cursor.execute(
        "WITH written AS ("  # noqa: S608 # nosec B608 # model identifiers; values by COPY
        f"""
            INSERT INTO {table} ({columns})
            SELECT {columns} FROM ingest_batch
            ON CONFLICT (user_id, source, source_key) DO UPDATE SET {updates}
            WHERE ({current}) IS DISTINCT FROM ({incoming})
            RETURNING (xmax = 0) AS inserted, metric, local_date
        )
        SELECT metric, local_date, count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM written GROUP BY metric, local_date
        """
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
    return tuple(row[position] for position in _CONTENT_POSITIONS)


def _as_stored(value):
    # Times as a prepared row holds them: an aware time in a repeated hour (clocks going back)
    # never equals one in another zone, and microseconds compare exactly.
    return microseconds(value) if isinstance(value, datetime) else value


def _stored_content(batch: Batch, keys: list[str]) -> dict[str, tuple]:
    stored = {}
    for offset in range(0, len(keys), 500):
        found = Record.objects.filter(
            user_id=batch.user_id, source=batch.source, source_key__in=keys[offset : offset + 500]
        ).values_list("source_key", *CONTENT)
        for source_key, *content in found:
            content[CONTENT.index("metadata")] = metadata_text(content[CONTENT.index("metadata")])
            stored[source_key] = tuple(_as_stored(value) for value in content)
    return stored


def _executemany_upsert(batch: Batch, rows: list[tuple]) -> None:
    if not rows:
        return
    table = Record._meta.db_table
    columns = _columns()
    placeholders = ", ".join(["%s"] * len(COLUMNS))
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
        moment = UNIX_EPOCH + timedelta(microseconds=row[position])
        adapted[position] = operations.adapt_datetimefield_value(moment)
    adapted[_LOCAL_DATE] = operations.adapt_datefield_value(row[_LOCAL_DATE])
    return tuple(adapted)
