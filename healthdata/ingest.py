"""The one way data enters the unified model: validate, convert, score and upsert normalized records.

Rejection rule: a record is rejected, and its reason counted, when its metric is unknown, its unit
cannot be converted, a datetime has no UTC offset, it ends before it starts, its value is not a
finite number or lies outside the metric's plausible range. Values that are plausible but unusual
(the outer 5 % of the range, spikes between close neighbours) are kept and flagged with a lower
quality. See docs/data-model.md.
"""

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from math import isfinite
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from healthdata import caching, resolution, rollups, sessions, upsert
from healthdata.days import local_day
from healthdata.metrics import METRICS, SOURCES, Metric
from healthdata.normalized import Origin, RecordIn, SessionIn
from healthdata.quality import (
    FLAGS,
    LOW_QUALITY,
    device_kind_of,
    record_quality,
    source_score,
    spike_positions,
    usual_range,
)
from healthdata.units import Conversion, UnitError, conversion
from healthdata.upsert import metadata_text

REJECT_REASONS = {  # reason -> what it means; IngestResult.rejected counts by reason
    "unknown_metric": "The metric is not in the registry.",
    "unit": "The unit cannot be converted to the metric's unit.",
    "naive_datetime": "A timestamp has no UTC offset.",
    "end_before_start": "The end is before the start.",
    "invalid_value": "The value is not a finite number.",
    "implausible_value": "The value is outside the metric's plausible range.",
    "unknown_source": "The source is not a known source.",
    "invalid_session": "The session kind, stages or summary values are not valid.",
}
CHUNK_SIZE = 10_000
EDGE_OF_RANGE, NO_OFFSET, CONVERTED = FLAGS["edge_of_range"], FLAGS["no_offset"], FLAGS["converted"]
LOW_QUALITY_FLAG = FLAGS["low_quality"]


class InvalidRecord(ValueError):
    """A record ingest rejects; `reason` is a key of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or REJECT_REASONS[reason])
        self.reason = reason


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    by_metric: dict[str, int] = field(default_factory=dict)  # rows created or updated, per metric
    days: set[tuple[str, date]] = field(default_factory=set)  # (metric, local day) touched

    def add(self, other: "IngestResult") -> None:
        """Fold another batch's result into this one."""
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected = dict(Counter(self.rejected) + Counter(other.rejected))
        self.by_metric = dict(Counter(self.by_metric) + Counter(other.by_metric))
        self.days |= other.days


def ingest(
    *,
    user,
    source: str,
    records: Iterable[RecordIn | SessionIn],
    origin: Origin,
    refresh_rollups: bool = True,
) -> IngestResult:
    """Validate, convert and upsert records and sessions, then refresh the daily rollups they touch."""
    rejected: Counter = Counter()
    if source not in SOURCES:
        rejected["unknown_source"] = sum(1 for _ in records)
        return IngestResult(rejected=dict(rejected))
    plain, session_items = _split(records)
    zone = user.zone
    with transaction.atomic():
        session_result = sessions.write(
            user=user, source=source, sessions=session_items, origin=origin, zone=zone, rejected=rejected
        )
        resolution.link_duplicate_sessions(user, session_result.session_ids)
        batch = upsert.Batch(user.pk, source, origin.kind, origin.id, timezone.now())
        written, accepted = _write_records(batch, [*plain, *session_result.records], zone, rejected)
        result = _result(written, accepted, rejected)
        _count_sessions(result, session_result)
        if refresh_rollups and result.days:
            rollups.refresh(user=user, days=result.days)
    if result.created or result.updated:
        # Bumped now for reads inside this transaction, and again once committed, so that an answer
        # computed by another process from the old data meanwhile is not served afterwards.
        caching.bump_version(user.pk)
        transaction.on_commit(lambda: caching.bump_version(user.pk))
    return result


def check_record(record: RecordIn, zone: ZoneInfo) -> None:
    """Raise InvalidRecord when ingest would reject this record."""
    _row(record, _Context(source="manual", zone=zone))


def _split(items: Iterable[RecordIn | SessionIn]) -> tuple[list[RecordIn], list[SessionIn]]:
    plain, session_items = [], []
    for item in items:
        (session_items if isinstance(item, SessionIn) else plain).append(item)
    return plain, session_items


@dataclass(frozen=True, slots=True)
class _Plan:
    """What validating and converting one (metric, unit) pair needs, worked out once per batch."""

    metric: Metric
    convert: Conversion
    low: float
    high: float
    usual_low: float  # inside the range but outside [usual_low, usual_high]: flagged edge_of_range
    usual_high: float
    on_end_day: bool  # sleep totals belong to the day the sleep ends
    factor: float  # convert's, read directly: value * factor + offset
    offset: float
    identity: bool


@dataclass
class _Context:
    source: str
    zone: ZoneInfo
    plans: dict[tuple[str, str], _Plan] = field(default_factory=dict)
    kinds: dict[str, tuple[str, int]] = field(default_factory=dict)
    qualities: dict[tuple[int, int], int] = field(default_factory=dict)  # (kind points, flags) -> quality

    def plan(self, code: str, unit: str) -> _Plan:
        found = self.plans.get((code, unit))
        if found is None:
            found = self.plans[(code, unit)] = _plan(code, unit)
        return found

    def kind(self, device_kind: str) -> tuple[str, int]:
        found = self.kinds.get(device_kind)
        if found is None:
            kind = device_kind_of(self.source, device_kind)
            found = self.kinds[device_kind] = (kind, source_score(kind))
        return found


def _plan(code: str, unit: str) -> _Plan:
    metric = METRICS.get(code)
    if metric is None:
        raise InvalidRecord("unknown_metric", f"Unknown metric {code!r}.")
    try:
        convert = conversion(code, unit)
    except UnitError as error:
        raise InvalidRecord("unit", str(error)) from error
    low, high = metric.plausible
    usual_low, usual_high = usual_range(metric)
    on_end_day = metric.category == "sleep" and metric.shape == "session"
    return _Plan(
        metric, convert, low, high, usual_low, usual_high, on_end_day,
        convert.factor, convert.offset, convert.is_identity,
    )  # fmt: skip


def _prepare(source: str, records: list[RecordIn], zone: ZoneInfo) -> tuple[list[tuple], int, Counter]:
    """Rows ready to write, one per source key (the last wins), duplicates folded, rejections by reason."""
    context = _Context(source=source, zone=zone)
    rejected: Counter = Counter()
    rows: dict[str, tuple] = {}
    valid = 0
    for record in records:
        try:
            row = _row(record, context)
        except InvalidRecord as invalid:
            rejected[invalid.reason] += 1
            continue
        valid += 1
        rows[row[1]] = row
    return _flag_spikes(list(rows.values())), valid - len(rows), rejected


def _write_records(
    batch: upsert.Batch, records: list[RecordIn], zone: ZoneInfo, rejected: Counter
) -> tuple[upsert.Written, int]:
    """Prepare and write in chunks; a thread prepares the next chunk while the database writes this one.

    Preparing is Python work and writing mostly waiting on PostgreSQL, so with a core to spare the
    two overlap. Only the calling thread touches the database connection.
    """
    if len(records) <= CHUNK_SIZE:  # nothing to overlap: no thread (an import's batches are smaller)
        rows, duplicates, chunk_rejected = _prepare(batch.source, records, zone)
        rejected.update(chunk_rejected)
        return upsert.write(batch, rows), len(rows) + duplicates
    chunks = [records[first : first + CHUNK_SIZE] for first in range(0, len(records), CHUNK_SIZE)]
    written, accepted = upsert.Written(), 0
    with ThreadPoolExecutor(max_workers=1) as preparer:
        pending = preparer.submit(_prepare, batch.source, chunks[0], zone)
        for following in [*chunks[1:], None]:
            rows, duplicates, chunk_rejected = pending.result()
            if following is not None:
                pending = preparer.submit(_prepare, batch.source, following, zone)
            chunk_written = upsert.write(batch, rows)
            written.created.update(chunk_written.created)
            written.updated.update(chunk_written.updated)
            accepted += len(rows) + duplicates
            rejected.update(chunk_rejected)
    return written, accepted


def _row(record: RecordIn, context: _Context) -> tuple:
    # Runs once per record: the plan, kind and quality look-ups are inlined dictionary gets.
    plan = context.plans.get((record.metric, record.unit)) or context.plan(record.metric, record.unit)
    start, end = _span(record.start, record.end)
    value = record.value
    if type(value) is not float or not isfinite(value):
        value = _number(value)
    value = value * plan.factor + plan.offset
    secondary = None if record.secondary_value is None else plan.convert(_number(record.secondary_value))
    if not plan.low <= value <= plan.high or (
        secondary is not None and not plan.low <= secondary <= plan.high
    ):
        raise InvalidRecord("implausible_value", f"{value:g} is outside {plan.low:g}-{plan.high:g}.")
    flags = 0 if plan.usual_low <= value <= plan.usual_high else EDGE_OF_RANGE
    day, offset = local_day(end if plan.on_end_day else start, context.zone)
    if offset is None:
        flags |= NO_OFFSET
    metadata = record.metadata
    if not plan.identity:
        flags |= CONVERTED
        metadata = {**metadata, "original": {"value": record.value, "unit": record.unit}}
    kind, points = context.kinds.get(record.device_kind) or context.kind(record.device_kind)
    if flags & EDGE_OF_RANGE:
        quality = context.qualities.get((points, flags))
        if quality is None:
            quality = context.qualities[(points, flags)] = record_quality(points, flags)
    else:
        quality = points
    if quality < LOW_QUALITY:
        flags |= LOW_QUALITY_FLAG
    return (  # in the order of healthdata.upsert.ROW
        plan.metric.code, record.source_key or _derived_key(record), record.device[:128], kind, start, end,
        offset, day, value, secondary, quality, flags, metadata_text(metadata) if metadata else "{}",
    )  # fmt: skip


def _span(start: datetime, end: datetime | None) -> tuple[datetime, datetime]:
    if start.utcoffset() is None:
        raise InvalidRecord("naive_datetime")
    if end is None:
        return start, start
    if end.utcoffset() is None:
        raise InvalidRecord("naive_datetime")
    if end < start:
        raise InvalidRecord("end_before_start")
    return start, end


def _number(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InvalidRecord("invalid_value") from error
    if not math.isfinite(number):
        raise InvalidRecord("invalid_value")
    return number


def _derived_key(record: RecordIn) -> str:
    """A stable identity for a value whose source gave none: the same value twice is the same row."""
    end = record.end.isoformat() if record.end else ""
    identity = (
        f"{record.metric}|{record.start.isoformat()}|{end}|{record.value!r}|{record.unit}|{record.device}"
    )
    return hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()


def _flag_spikes(rows: list[tuple]) -> list[tuple]:
    """Lower the quality of instant samples far from both close neighbours of the same device."""
    series: dict[tuple[str, str], list[int]] = defaultdict(list)
    checked = {code for code, metric in METRICS.items() if metric.shape == "instant" and not metric.is_sparse}
    for position, row in enumerate(rows):
        if row[0] in checked:
            series[(row[0], row[2])].append(position)
    for positions in series.values():
        positions.sort(key=lambda position: rows[position][4])
        samples = [(rows[position][4], rows[position][8]) for position in positions]
        for spike in spike_positions(samples):
            rows[positions[spike]] = _with_spike(rows[positions[spike]])
    return rows


def _with_spike(row: tuple) -> tuple:
    flags = row[11] | FLAGS["spike"]
    quality = record_quality(source_score(row[3]), flags)
    if quality < 50:
        flags |= FLAGS["low_quality"]
    return (*row[:10], quality, flags, *row[12:])


def _result(written: upsert.Written, accepted: int, rejected: Counter) -> IngestResult:
    by_metric: Counter = Counter()
    for (metric, _day), count in (written.created + written.updated).items():
        by_metric[metric] += count
    created, updated = sum(written.created.values()), sum(written.updated.values())
    return IngestResult(
        created=created,
        updated=updated,
        unchanged=accepted - created - updated,
        rejected=dict(rejected),
        by_metric=dict(by_metric),
        days=upsert.days_of(written),
    )


def _count_sessions(result: IngestResult, session_result: "sessions.SessionsWritten") -> None:
    """Sessions count like records; the records derived from them count under their own metrics."""
    result.created += session_result.created
    result.updated += session_result.updated
    result.unchanged += session_result.unchanged
