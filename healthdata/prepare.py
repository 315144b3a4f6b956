"""Validating, converting and scoring normalized records into rows ready to write. No database.

`healthdata.ingest.ingest` prepares in the process that writes. A large import prepares in its
parser process and hands the writer the rows already encoded for COPY (imports/pipeline.py); the
rules are these either way.

Rejection rule: a record is rejected, and its reason counted, when its metric is unknown, its unit
cannot be converted, a datetime has no UTC offset, it ends before it starts, its value is not a
finite number or lies outside the metric's plausible range. Values that are plausible but unusual
(the outer 5 % of the range, spikes between close neighbours) are kept and flagged with a lower
quality. See docs/data-model.md.
"""

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, KeysView, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from math import isfinite
from zoneinfo import ZoneInfo

from healthdata.copy_encoding import UNIX_EPOCH, microseconds
from healthdata.days import local_day
from healthdata.metrics import METRICS, Metric
from healthdata.normalized import RecordIn, TimedRecord
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

try:  # Preparer.prepare's loop in C, built by `make install` (setup.py); Python runs it otherwise
    from healthdata import _rows as _in_c
except ImportError:  # pragma: no cover - depends on the build
    _in_c = None

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
EDGE_OF_RANGE, NO_OFFSET, CONVERTED = FLAGS["edge_of_range"], FLAGS["no_offset"], FLAGS["converted"]
LOW_QUALITY_FLAG, SPIKE = FLAGS["low_quality"], FLAGS["spike"]
# Instant metrics sampled often enough for a lone outlier between close neighbours to be a spike.
SPIKE_CHECKED = frozenset(
    code for code, metric in METRICS.items() if metric.shape == "instant" and not metric.is_sparse
)
_METADATA_TEXTS: dict[tuple, str] = {}
_MINUTE = timedelta(minutes=1)
# Positions in a prepared row, whose order is healthdata.copy_encoding.ROW.
METRIC, DEVICE, DEVICE_KIND, SOURCE_KEY, START, VALUE, QUALITY, FLAGS_AT = 0, 1, 2, 3, 4, 8, 10, 11


class InvalidRecord(ValueError):
    """A record ingest rejects; `reason` is a key of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or REJECT_REASONS[reason])
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rule:
    """What validating, converting and scoring a record of one metric, unit and device kind needs."""

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
    kind: str  # the device kind stored with the row
    points: int  # its source-kind quality points
    edge_quality: int  # the quality of a value at the edge of the range
    original_text: str  # metadata_text({"original": {"unit": unit, "value": ...}}) up to the value


@dataclass
class Prepared:
    """A batch's rows, one per source key (the last wins), and what was accepted and rejected."""

    rows: list[tuple]
    accepted: int  # valid records, duplicates within the batch included
    rejected: Counter
    keys: KeysView[str]  # the rows' source keys


class Preparer:
    """Prepares the records of one source for a user in one time zone, remembering rules as it goes.

    With `accelerate` (and the C module built) the loop of `prepare` runs in C
    (healthdata/_rows.c): it prepares a usual quantity sample itself, exactly as `timed_row` would,
    and hands every other record to `timed_row` or `row`. tests/healthdata/test_prepare_in_c.py holds
    the two to the same rows and rejections.
    """

    def __init__(self, source: str, zone: ZoneInfo, accelerate: bool = True) -> None:
        self.source = source
        self.zone = zone
        self.rules: dict[tuple[str, str, str], Rule] = {}
        self.accelerated = accelerate and _in_c is not None

    def prepare(self, records: Iterable[RecordIn | TimedRecord]) -> Prepared:
        """Rows ready to write, duplicates folded, spikes flagged, rejections counted by reason."""
        rejected: Counter = Counter()
        rows: dict[str, tuple] = {}
        if self.accelerated:
            valid = _in_c.prepare(list(records), rows, rejected, self.rule, self._one)
        else:
            valid = 0
            row, timed_row = self.row, self.timed_row
            for record in records:
                try:
                    prepared = timed_row(record) if type(record) is TimedRecord else row(record)
                except InvalidRecord as invalid:
                    rejected[invalid.reason] += 1
                    continue
                valid += 1
                rows[prepared[SOURCE_KEY]] = prepared
        return Prepared(_flag_spikes(list(rows.values())), valid, rejected, rows.keys())

    def _one(self, record: RecordIn | TimedRecord) -> tuple:
        return self.timed_row(record) if type(record) is TimedRecord else self.row(record)

    def rule(self, code: str, unit: str, device_kind: str) -> Rule:
        found = self.rules.get((code, unit, device_kind))
        if found is None:
            kind = device_kind_of(self.source, device_kind)
            found = self.rules[(code, unit, device_kind)] = _rule(code, unit, kind)
        return found

    def row(self, record: RecordIn) -> tuple:
        """One record as a row in healthdata.copy_encoding.ROW order; raises InvalidRecord."""
        rule = self.rules.get((record.metric, record.unit, record.device_kind)) or self.rule(
            record.metric, record.unit, record.device_kind
        )
        start, end = record.start, record.end
        offset = start.utcoffset()
        if offset is None:
            raise InvalidRecord("naive_datetime")
        if end is None:
            end = start
        elif end.utcoffset() is None:
            raise InvalidRecord("naive_datetime")
        elif end < start:
            raise InvalidRecord("end_before_start")
        moment = end if rule.on_end_day else start
        if moment is not start:
            offset = moment.utcoffset()
        if offset:  # the moment's own non-zero offset places it (healthdata.days.local_day, inlined)
            day, minutes = moment.date(), offset // _MINUTE
        else:
            day, minutes = local_day(moment, self.zone)
        return self._row(
            rule, record.value, record.secondary_value, record.unit, microseconds(start), microseconds(end),
            minutes, day, record.source_key or _derived_key(record), record.device, record.metadata,
        )  # fmt: skip

    def timed_row(self, record: TimedRecord) -> tuple:
        """`row` for a record whose times a parser has read already: the hot path of a large import."""
        rule = self.rules.get((record.metric, record.unit, record.device_kind)) or self.rule(
            record.metric, record.unit, record.device_kind
        )
        start, end = record.start, record.end
        if end < start:
            raise InvalidRecord("end_before_start")
        if rule.on_end_day:
            moment, minutes, day = end, record.end_offset, record.end_day
        else:
            moment, minutes, day = start, record.start_offset, record.start_day
        if not minutes:  # a plain UTC time: the user's zone places it, as healthdata.days.local_day does
            day, minutes = (UNIX_EPOCH + timedelta(microseconds=moment)).astimezone(self.zone).date(), None
        return self._row(
            rule, record.value, None, record.unit, start, end, minutes, day, record.source_key, record.device,
            record.metadata,
        )  # fmt: skip

    def _row(
        self, rule: Rule, value, secondary, unit: str, start: int, end: int, minutes: int | None, day: date,
        key: str, device: str, metadata: Mapping,
    ) -> tuple:  # fmt: skip
        """The checks, conversion and quality that `row` and `timed_row` share; runs once per record."""
        original = value
        if type(value) is not float or not isfinite(value):
            value = _number(value)
        value = value * rule.factor + rule.offset
        if secondary is not None:
            secondary = rule.convert(_number(secondary))
        if not rule.low <= value <= rule.high or (
            secondary is not None and not rule.low <= secondary <= rule.high
        ):
            raise InvalidRecord("implausible_value", f"{value:g} is outside {rule.low:g}-{rule.high:g}.")
        if rule.usual_low <= value <= rule.usual_high:
            flags, quality = 0, rule.points
        else:
            flags, quality = EDGE_OF_RANGE, rule.edge_quality
        if minutes is None:
            flags |= NO_OFFSET
        if rule.identity:
            text = metadata_text(metadata) if metadata else "{}"
        else:
            flags |= CONVERTED
            if not metadata and type(original) is float:  # the value as written, without json.dumps
                text = f"{rule.original_text}{original!r}}}}}"
            else:
                text = metadata_text({**metadata, "original": {"value": original, "unit": unit}})
        if quality < LOW_QUALITY:
            flags |= LOW_QUALITY_FLAG
        return (  # in the order of healthdata.copy_encoding.ROW
            rule.metric.code, device[:128], rule.kind, key, start, end, minutes, day, value, secondary,
            quality, flags, text,
        )  # fmt: skip


def check_record(record: RecordIn, zone: ZoneInfo) -> None:
    """Raise InvalidRecord when ingest would reject this record."""
    Preparer("manual", zone).row(record)


def metadata_text(metadata: Mapping) -> str:
    """Metadata as stored in a prepared row: compact JSON text with sorted keys.

    Flat metadata of strings repeats a lot (a heart rate's motion context is one of three), so its
    text is remembered; other metadata is written each time.
    """
    if not metadata:
        return "{}"
    try:
        key = tuple(metadata.items())
        text = _METADATA_TEXTS.get(key)
    except TypeError:  # a nested value: not hashable
        key, text = None, None
    if text is None:
        text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str)
        # Only all-string keys are stored: no string equals a number, so 1, 1.0 and True never
        # find one another's text.
        if key is not None and len(_METADATA_TEXTS) < 4096 and all(type(value) is str for _, value in key):
            _METADATA_TEXTS[key] = text
    return text


def _rule(code: str, unit: str, kind: str) -> Rule:
    """The rule of one metric, unit and device kind; raises InvalidRecord for an unknown one."""
    metric = METRICS.get(code)
    if metric is None:
        raise InvalidRecord("unknown_metric", f"Unknown metric {code!r}.")
    try:
        convert = conversion(code, unit)
    except UnitError as error:
        raise InvalidRecord("unit", str(error)) from error
    low, high = metric.plausible
    usual_low, usual_high = usual_range(metric)
    points = source_score(kind)
    return Rule(
        metric, convert, low, high, usual_low, usual_high,
        on_end_day=metric.category == "sleep" and metric.shape == "session",
        factor=convert.factor, offset=convert.offset, identity=convert.is_identity,
        kind=kind, points=points, edge_quality=record_quality(points, EDGE_OF_RANGE),
        original_text=f'{{"original":{{"unit":{json.dumps(unit)},"value":',
    )  # fmt: skip


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
    for position, row in enumerate(rows):
        if row[METRIC] in SPIKE_CHECKED:
            series[(row[METRIC], row[DEVICE])].append(position)
    for positions in series.values():
        positions.sort(key=lambda position: rows[position][START])
        samples = [(rows[position][START], rows[position][VALUE]) for position in positions]
        for spike in spike_positions(samples):
            rows[positions[spike]] = _with_spike(rows[positions[spike]])
    return rows


def _with_spike(row: tuple) -> tuple:
    flags = row[FLAGS_AT] | SPIKE
    quality = record_quality(source_score(row[DEVICE_KIND]), flags)
    if quality < 50:
        flags |= LOW_QUALITY_FLAG
    return (*row[:QUALITY], quality, flags, *row[FLAGS_AT + 1 :])


if _in_c is not None:
    _in_c.configure(
        TimedRecord, InvalidRecord, metadata_text, EDGE_OF_RANGE, CONVERTED, LOW_QUALITY, LOW_QUALITY_FLAG
    )
