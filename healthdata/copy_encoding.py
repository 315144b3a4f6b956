"""Prepared record rows as one PostgreSQL binary COPY stream, encoded where they are prepared.

No database is needed to encode, so a parser process can hand the writer a batch as bytes that go
to PostgreSQL unchanged: the writer does no work per row. The binary COPY format is simple enough to
write with `struct`: a header, then per row a field count and each field as a 4-byte length (-1 for
NULL) and its value in the type's binary form, then a trailer. PostgreSQL checks every field as it
reads it, so a wrong length or type is refused by the COPY, never stored.

A row is a tuple in `ROW` order whose times are integers (healthdata.prepare): microseconds since
the Unix epoch for `start` and `end`. What is the same for the whole batch (user, source, origin,
time of writing) travels once in a `Batch` and is written into each row as `CONSTANTS`; so are a
row's metric, device and device kind, which repeat from row to row, encoded once per batch.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from struct import Struct

try:  # the same rows encoded in C, built by `make install` (setup.py); Python encodes them otherwise
    from healthdata._rows import encode_rows as _encode_rows_in_c
except ImportError:  # pragma: no cover - depends on the build
    _encode_rows_in_c = None

ROW = (
    "metric",
    "device",
    "device_kind",
    "source_key",
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
# ends the data. PostgreSQL counts time from 2000-01-01 (UTC for timestamptz).
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
POSTGRES_EPOCH_MICROSECONDS = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
POSTGRES_EPOCH_ORDINAL = date(2000, 1, 1).toordinal()
_LENGTH = Struct(">i")
_NULL = _LENGTH.pack(-1)
_INT2, _INT8, _FLOAT8 = Struct(">ih"), Struct(">iq"), Struct(">id")
_METRIC_AND_DAY = itemgetter(ROW.index("metric"), ROW.index("local_date"))
# From `start` to the version byte of `metadata`, as the fields of nearly every row come: an offset
# and no secondary value. Others are written field by field.
_USUAL_FIELDS = "iqiqihiiidiihihiB"
_EMPTY_METADATA = b"{}"


@dataclass(frozen=True, slots=True)
class Batch:
    user_id: int
    source: str
    origin_kind: str
    origin_id: int | None
    now: datetime


@dataclass
class Encoded:
    """A batch of rows as a complete binary COPY stream in `COLUMNS` order."""

    batch: Batch
    payload: bytes
    rows: int
    counts: Counter = field(default_factory=Counter)  # (metric, local day) -> rows


def microseconds(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch, exactly."""
    delta = moment - UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode(batch: Batch, rows: list[tuple]) -> Encoded:
    """Encode prepared rows (healthdata.prepare) for `COPY ... (FORMAT BINARY)` into `COLUMNS`."""
    payload = (_encode_rows_in_c or _encode_rows)(_constants_head(batch), rows)
    counts = Counter(map(_METRIC_AND_DAY, rows))
    return Encoded(batch=batch, payload=payload, rows=len(rows), counts=counts)


def _encode_rows(head: bytes, rows: list[tuple]) -> bytes:
    """The COPY stream of `rows`, each after `head`: the reference for healthdata/_rows.c.

    A usual row (an offset, no secondary value) is packed by one Struct made for its series'
    constant fields and its key's length: the start of the row, the key and the usual fields, and
    `{}` when it has no metadata. Other rows are written field by field.
    """
    series: dict[tuple[str, str, str], tuple[bytes, dict]] = {}
    days: dict[date, int] = {}
    parts = [SIGNATURE]
    append = parts.append
    for row in rows:
        metric, device, kind, key, start, end, minutes, day, value, secondary, quality, flags, metadata = row
        found = series.get((metric, device, kind))
        if found is None:
            found = series[(metric, device, kind)] = (head + _texts(metric, device, kind), {})
        named, packs = found
        number = days.get(day)
        if number is None:
            number = days[day] = day.toordinal() - POSTGRES_EPOCH_ORDINAL
        key_bytes = key.encode()
        start -= POSTGRES_EPOCH_MICROSECONDS
        end -= POSTGRES_EPOCH_MICROSECONDS
        if minutes is not None and secondary is None:
            empty = metadata == "{}"
            pack = packs.get((len(key_bytes), empty))
            if pack is None:
                pack = packs[(len(key_bytes), empty)] = _usual_row(len(named), len(key_bytes), empty)
            if empty:
                append(
                    pack(
                        named, len(key_bytes), key_bytes, 8, start, 8, end, 2, minutes, 4, number, 8, value,
                        -1, 2, quality, 2, flags, 3, 1, _EMPTY_METADATA,
                    )
                )  # fmt: skip
                continue
            metadata_bytes = metadata.encode()
            append(
                pack(
                    named, len(key_bytes), key_bytes, 8, start, 8, end, 2, minutes, 4, number, 8, value, -1,
                    2, quality, 2, flags, len(metadata_bytes) + 1, 1,
                )
            )  # fmt: skip
            append(metadata_bytes)
            continue
        metadata_bytes = metadata.encode()
        append(named)
        append(_LENGTH.pack(len(key_bytes)))
        append(key_bytes)
        append(_INT8.pack(8, start) + _INT8.pack(8, end))
        append(_NULL if minutes is None else _INT2.pack(2, minutes))
        append(_LENGTH.pack(4) + _LENGTH.pack(number) + _FLOAT8.pack(8, value))
        append(_NULL if secondary is None else _FLOAT8.pack(8, secondary))
        append(_INT2.pack(2, quality) + _INT2.pack(2, flags))
        append(_LENGTH.pack(len(metadata_bytes) + 1) + b"\x01")
        append(metadata_bytes)
    append(TRAILER)
    return b"".join(parts)


def _usual_row(named: int, key: int, empty_metadata: bool):
    """The pack function of a usual row whose constant fields and key take these many bytes."""
    return Struct(f">{named}si{key}s{_USUAL_FIELDS}{'2s' if empty_metadata else ''}").pack


def _constants_head(batch: Batch) -> bytes:
    """The field count and the batch's constant fields: the start of every row."""
    now = microseconds(batch.now) - POSTGRES_EPOCH_MICROSECONDS
    origin = _NULL if batch.origin_id is None else _INT8.pack(8, batch.origin_id)
    return b"".join(
        (
            Struct(">h").pack(len(COLUMNS)),
            _INT8.pack(8, batch.user_id),
            _texts(batch.source, batch.origin_kind),
            origin,
            _INT8.pack(8, now),
            _INT8.pack(8, now),
        )
    )


def _texts(*values: str) -> bytes:
    encoded = [value.encode() for value in values]
    return b"".join(_LENGTH.pack(len(text)) + text for text in encoded)
