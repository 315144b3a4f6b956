"""Prepared record rows as one PostgreSQL binary COPY stream, encoded where they are prepared.

No database is needed to encode, so a parser process can hand the writer a batch as bytes that go
to PostgreSQL unchanged: the writer does no work per row. Rows are encoded by psycopg's own binary
row formatter (in C with psycopg-binary), framed by the header and trailer of the binary COPY format.

A row is a tuple in `ROW` order; what is the same for the whole batch (user, source, origin, time
of writing) travels once in a `Batch` and is written into each row as `CONSTANTS`.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from psycopg import adapters, pq
from psycopg._copy_base import format_row_binary
from psycopg.adapt import Transformer

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
ROW_TYPES = (
    "text", "text", "text", "text", "timestamptz", "timestamptz", "int2", "date", "float8", "float8", "int2",
    "int2", "jsonb",
)  # fmt: skip
CONSTANTS = ("user_id", "source", "origin_kind", "origin_id", "created", "updated")
CONSTANT_TYPES = ("int8", "text", "text", "int8", "timestamptz", "timestamptz")
COLUMNS = (*CONSTANTS, *ROW)
COLUMN_TYPES = (*CONSTANT_TYPES, *ROW_TYPES)

# The binary COPY format: signature, flags field and header extension length; a field count of -1
# ends the data.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
# jsonb's binary form is a version byte (1) and the JSON text: sent through the text dumper as a
# string starting with that byte.
_DUMPED_TYPES = tuple("text" if kind == "jsonb" else kind for kind in COLUMN_TYPES)
_METRIC, _LOCAL_DATE = ROW.index("metric"), ROW.index("local_date")
_EMPTY_JSONB = "\x01{}"


@dataclass(frozen=True, slots=True)
class Batch:
    user_id: int
    source: str
    origin_kind: str
    origin_id: int | None
    now: datetime

    @property
    def constants(self) -> tuple:
        return (self.user_id, self.source, self.origin_kind, self.origin_id, self.now, self.now)


@dataclass
class Encoded:
    """A batch of rows as a complete binary COPY stream in `COLUMNS` order."""

    batch: Batch
    payload: bytes
    rows: int
    counts: Counter = field(default_factory=Counter)  # (metric, local day) -> rows


def encode(batch: Batch, rows: list[tuple]) -> Encoded:
    """Encode prepared rows (healthdata.prepare) for `COPY ... (FORMAT BINARY)` into `COLUMNS`."""
    transformer = Transformer(None)
    transformer.set_dumper_types([adapters.types[name].oid for name in _DUMPED_TYPES], pq.Format.BINARY)
    buffer = bytearray(SIGNATURE)
    constants = batch.constants
    for row in rows:
        metadata = row[-1]
        format_row_binary(
            (*constants, *row[:-1], _EMPTY_JSONB if metadata == "{}" else "\x01" + metadata),
            transformer,
            buffer,
        )
    buffer += TRAILER
    return Encoded(
        batch=batch,
        payload=bytes(buffer),
        rows=len(rows),
        counts=Counter((row[_METRIC], row[_LOCAL_DATE]) for row in rows),
    )
