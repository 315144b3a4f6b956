"""Apple Health `export.zip` / `export.xml`: a streaming, hardened parse into normalized records.

The XML is read with expat in fixed-size chunks, so memory stays flat whatever the file size. The
inline DTD that every export carries is checked (no entity declarations, no external subset) and then
cut out before parsing, which also gets past the malformed DTD of iOS 16 exports; a DTD that cannot
be read that way, or a second one, refuses the file. Entity and external entity handlers stay armed
as a second line of defence.

A Record's children are its MetadataEntry elements and, for HRV, its heartbeat list; anything else
nested in a Record is ignored with all it holds.

For the import pipeline (`timed`), quantity samples are read in C when the module is built
(imports/parsers/_apple_health.c, `make install`): it hands this parser every element it does not
read itself, so that the two give the same items in the same order (tests/imports/
test_apple_health_reader.py), and it is about twice as fast. Without it, this parser reads them.

Identity: a record's `source_key` is a 16-hex-digit hash of its type, sourceName and device model,
then its startDate and endDate as written in the file (the value is left out, so a corrected value
updates the same row).
Blood pressure comes from `Correlation` elements only; the member records that the export repeats at
top level are skipped so that no reading is counted twice. Stand hours come from the stand-hour
samples; an `ActivitySummary` (which the export writes after all records) adds the day's stand hours
only for days without such samples, with the day's goals kept in its metadata.
"""

import hashlib
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache, partial
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

from healthdata import metrics
from healthdata.copy_encoding import microseconds
from healthdata.normalized import RecordIn, SessionIn, TimedRecord
from imports.parsers.archives import ZipLimits, open_zip, sniff
from imports.parsers.base import ImportRejected, Item, ParseReport
from imports.parsers.sleep import SleepGrouper

try:  # the C reader of quantity samples, built by `make install` (setup.py); Python reads them otherwise
    from imports.parsers import _apple_health as accelerated
except ImportError:  # pragma: no cover - depends on the build
    accelerated = None

CHUNK_BYTES = 256 * 1024
MAX_PROLOGUE_BYTES = 4 * 1024 * 1024
CONTROL_CHARACTERS = bytes(c for c in range(32) if c not in (9, 10, 13))

# Every registry metric Apple writes as a quantity sample, keyed by its HealthKit type.
QUANTITY_METRICS = {
    metric.healthkit: metric.code
    for metric in metrics.METRICS.values()
    if metric.healthkit.startswith("HKQuantityTypeIdentifier")
}
# Apple writes the unit "count" for BMI; the value is kg/m².
UNIT_FIXES = {("bmi", "count"): "kg/m2", ("bmi", ""): "kg/m2"}
SLEEP_TYPE = "HKCategoryTypeIdentifierSleepAnalysis"
HRV_TYPE = "HKQuantityTypeIdentifierHeartRateVariabilitySDNN"  # its records carry heartbeat lists
# The children of a Record that mean something; anything else nested in a Record is ignored.
RECORD_CHILDREN = frozenset(
    {"MetadataEntry", "HeartRateVariabilityMetadataList", "InstantaneousBeatsPerMinute"}
)
SLEEP_STAGES = {
    "HKCategoryValueSleepAnalysisInBed": "in_bed",
    "HKCategoryValueSleepAnalysisAsleep": "asleep",
    "HKCategoryValueSleepAnalysisAsleepUnspecified": "asleep",
    "HKCategoryValueSleepAnalysisAsleepCore": "light",
    "HKCategoryValueSleepAnalysisAsleepDeep": "deep",
    "HKCategoryValueSleepAnalysisAsleepREM": "rem",
    "HKCategoryValueSleepAnalysisAwake": "awake",
}
# Counted as skipped, with the reason: the data arrives through another element.
SKIPPED_TYPES = {
    "HKQuantityTypeIdentifierBloodPressureSystolic": "blood pressure is read from its correlation",
    "HKQuantityTypeIdentifierBloodPressureDiastolic": "blood pressure is read from its correlation",
}
STAND_HOUR_TYPE = "HKCategoryTypeIdentifierAppleStandHour"
STOOD = "HKCategoryValueAppleStandHourStood"
BLOOD_PRESSURE = "HKCorrelationTypeIdentifierBloodPressure"
WORKOUT_TYPES = {
    "Running": "running",
    "Walking": "walking",
    "Cycling": "cycling",
    "HandCycling": "cycling",
    "Swimming": "swimming",
    "Hiking": "hiking",
    "Rowing": "rowing",
    "Elliptical": "elliptical",
    "StairClimbing": "stair_climbing",
    "Stairs": "stair_climbing",
    "TraditionalStrengthTraining": "strength_training",
    "FunctionalStrengthTraining": "functional_training",
    "CrossTraining": "functional_training",
    "HighIntensityIntervalTraining": "hiit",
    "Yoga": "yoga",
    "Pilates": "pilates",
    "Dance": "dance",
    "SocialDance": "dance",
    "CardioDance": "dance",
    "MartialArts": "martial_arts",
    "Boxing": "boxing",
    "Kickboxing": "boxing",
    "Climbing": "climbing",
    "DownhillSkiing": "skiing",
    "CrossCountrySkiing": "skiing",
    "Snowboarding": "snowboarding",
    "SkatingSports": "skating",
    "Soccer": "team_sport",
    "Basketball": "team_sport",
    "Volleyball": "team_sport",
    "Hockey": "team_sport",
    "Rugby": "team_sport",
    "AmericanFootball": "team_sport",
    "Tennis": "racket_sport",
    "Badminton": "racket_sport",
    "Squash": "racket_sport",
    "TableTennis": "racket_sport",
    "Pickleball": "racket_sport",
    "Golf": "golf",
    "MindAndBody": "mind_and_body",
    "TaiChi": "mind_and_body",
}
WORKOUT_STATISTICS = {
    "HKQuantityTypeIdentifierActiveEnergyBurned": ("active_energy", "sum"),
    "HKQuantityTypeIdentifierDistanceWalkingRunning": ("distance", "sum"),
    "HKQuantityTypeIdentifierDistanceCycling": ("distance", "sum"),
    "HKQuantityTypeIdentifierDistanceSwimming": ("distance", "sum"),
    "HKQuantityTypeIdentifierStepCount": ("steps", "sum"),
    "HKQuantityTypeIdentifierBasalEnergyBurned": ("basal_energy", "sum"),
}
# RecordIn's fields in order, without its keyword handling: the hot path makes a million of these.
_new_record = partial(tuple.__new__, RecordIn)
_new_timed = partial(tuple.__new__, TimedRecord)
_NO_METADATA = RecordIn._field_defaults["metadata"]
DEVICE_FIELD = re.compile(r"(\w+):([^,>]*)")
APPLE_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")
DATE_READER_HOURS = 2_048  # hours remembered (half a megabyte): a type's samples come in time order
# ":MM:SS" -> microseconds into the hour, for every valid minute and second.
MINUTES_AND_SECONDS = {f":{m:02}:{s:02}": (m * 60 + s) * 1_000_000 for m in range(60) for s in range(60)}
DOCTYPE = re.compile(rb"<!DOCTYPE\s+([\w:.-]+)\s*([^\[>]*)(\[.*?\]\s*)?>", re.DOTALL)


def open_export(path: Path, limits: ZipLimits | None = None) -> tuple[BinaryIO, int]:
    """Open the export XML of an export.zip (as a stream) or a bare export.xml; return it with its size."""
    kind = sniff(path)
    if kind == "xml":
        return open(path, "rb"), path.stat().st_size
    if kind != "zip":
        raise ImportRejected(
            "This is not an Apple Health export. Upload the export.zip from the Health app.", "wrong_kind"
        )
    archive = open_zip(path, limits or ZipLimits())
    member = _find_export_member(archive)
    return archive.open(member), member.file_size


def _find_export_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [m for m in archive.infolist() if m.filename.lower().endswith(".xml")]
    named = [m for m in members if m.filename.rsplit("/", 1)[-1] == "export.xml"]
    for member in named or members:
        if member.filename.endswith("export_cda.xml"):
            continue
        with archive.open(member) as stream:
            if b"<HealthData" in stream.read(MAX_PROLOGUE_BYTES):
                return member
    raise ImportRejected(
        "The archive holds no Apple Health export.xml. Upload the export.zip as the Health app made it.",
        "wrong_kind",
    )


class AppleHealthParser:
    """Iterate an export's normalized records and sessions; `report` and `fraction_done` follow along."""

    def __init__(
        self, stream: BinaryIO, total_bytes: int, timed: bool = False, accelerate: bool = True
    ) -> None:
        self.stream = stream
        # Timed: quantity samples come as TimedRecord, their dates read by a DateReader (the
        # import pipeline's hot path); otherwise as RecordIn. Timed, with the C reader built, most
        # of them are read in C instead (imports/parsers/_apple_health.c): the same records, sooner.
        self.dates = DateReader() if timed else None
        self.accelerated = timed and accelerate and accelerated is not None
        self.total_bytes = max(total_bytes, 1)
        self.bytes_read = 0
        self.report = ParseReport()
        self.pending: list[Item] = []
        self.sleep = SleepGrouper("apple_health")
        self.devices: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.series: dict[tuple[str, str, str, str], tuple] = {}
        self.export_offset: timedelta | None = None
        self.record: dict | None = None
        self.ignored = 0  # elements open inside the current Record that are not its children of interest
        self.metadata: dict | None = None
        self.beats: list | None = None
        self.correlation: dict | None = None
        self.workout: dict | None = None
        self.root_seen = False
        self.stand_days: set[str] = set()  # local dates with stand-hour samples; summaries fill the rest
        # Heartbeats and sleep stages read so far: each weighs like an item of its own where batches
        # are cut (imports.pipeline.batches), though they travel inside an HRV record or a session.
        self.detail = 0

    @property
    def fraction_done(self) -> float:
        return min(self.bytes_read / self.total_bytes, 1.0)

    def __iter__(self) -> Iterator[Item]:
        parser = self._make_expat()
        first = self._read_prologue()
        try:
            for chunk in self._chunks(first):
                parser.Parse(chunk, False)
                if self.pending:
                    yield from self.pending
                    self.pending.clear()
        except expat.ExpatError as error:
            raise _readable_xml_error(error) from None
        try:
            parser.Parse(b"", True)
        except expat.ExpatError as error:
            raise ImportRejected(
                f"export.xml ends early (line {error.lineno}): the file is truncated. Export the data again "
                "from the Health app and upload the new file.",
                "truncated",
            ) from None
        yield from self.pending
        self.pending.clear()
        yield from self.sleep.flush()

    def _make_expat(self) -> expat.XMLParserType:
        if self.accelerated:
            return accelerated.Reader(
                self._start,
                self._end,
                self._fast_series,
                _forbid_doctype,
                self.pending,
                TimedRecord,
                _NO_METADATA,
                heartbeats=self,  # appends an HRV record's beats to self.beats, as _record_child does
            )
        parser = expat.ParserCreate()
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.EntityDeclHandler = _forbid_entity
        parser.UnparsedEntityDeclHandler = _forbid_entity
        parser.ExternalEntityRefHandler = _forbid_entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.buffer_text = True
        return parser

    def _read_prologue(self) -> bytes:
        """Read up to the root element, refuse entity declarations, and cut the DTD out."""
        head = b""
        while b"<HealthData" not in head and len(head) < MAX_PROLOGUE_BYTES:
            chunk = self.stream.read(CHUNK_BYTES)
            if not chunk:
                break
            head += chunk
        self.bytes_read = len(head)
        match = DOCTYPE.search(head)
        if match is not None:
            if b"<!ENTITY" in match.group(0):
                raise ImportRejected(
                    "The XML declares entities, which an Apple Health export never does (XML bombs and "
                    "external-entity attacks rely on them). The file was not imported.",
                    "xml_entities",
                )
            if match.group(2).strip():
                raise ImportRejected(
                    "The XML refers to an external DTD, which an Apple Health export never does. "
                    "The file was not imported.",
                    "xml_external_dtd",
                )
            head = head[: match.start()] + head[match.end() :]
        if b"<!DOCTYPE" in head:  # one the pattern could not read, or a second one
            _forbid_doctype()
        return head

    def _chunks(self, first: bytes) -> Iterator[bytes]:
        is_utf16 = first[:2] in (b"\xff\xfe", b"\xfe\xff")
        chunk = first
        while chunk:
            yield chunk if is_utf16 else chunk.translate(None, CONTROL_CHARACTERS)
            chunk = self.stream.read(CHUNK_BYTES)
            self.bytes_read += len(chunk)

    def _start(self, name: str, attrs: dict) -> None:
        if self.record is not None:
            self._record_child(name, attrs)
        elif not self.root_seen:
            self._check_root(name)
        elif name == "Record":
            if self.correlation is not None:
                self.correlation["members"][attrs.get("type", "")] = attrs
            else:
                self.record = attrs
        elif name == "MetadataEntry":
            self._add_metadata(attrs)
        elif name == "WorkoutStatistics":
            if self.workout is not None:
                self.workout["statistics"][attrs.get("type", "")] = attrs
        elif name == "WorkoutEvent":
            if self.workout is not None:
                self.workout["events"] += 1
        elif name == "Workout":
            self.workout = {"attrs": attrs, "metadata": {}, "statistics": {}, "events": 0}
        elif name == "Correlation":
            self.correlation = {"attrs": attrs, "members": {}}
        elif name == "ActivitySummary":
            self._activity_summary(attrs)
        elif name == "ExportDate":
            self.export_offset = self._date(attrs.get("value", "")).utcoffset()

    def _record_child(self, name: str, attrs: dict) -> None:
        """An element inside a Record: its metadata, an HRV record's heartbeats, or ignored."""
        if self.ignored or name not in RECORD_CHILDREN:
            self.ignored += 1
        elif name == "MetadataEntry":
            self._add_metadata(attrs)
        elif name == "HeartRateVariabilityMetadataList":
            if self.record.get("type") == HRV_TYPE:
                self.beats = []
        elif self.beats is not None:  # InstantaneousBeatsPerMinute
            self.beats.append([_number(attrs.get("bpm")), attrs.get("time", "")])

    def _end(self, name: str) -> None:
        if self.ignored:
            self.ignored -= 1
        elif name == "Record" and self.record is not None:
            record, self.record = self.record, None
            self._record(record, self.metadata, self.beats)
            self.metadata = self.beats = None
        elif name == "Workout" and self.workout is not None:
            self._emit_workout(self.workout)
            self.workout = None
        elif name == "Correlation" and self.correlation is not None:
            self._emit_correlation(self.correlation)
            self.correlation = None

    def _check_root(self, name: str) -> None:
        if name != "HealthData":
            raise ImportRejected(
                f"The XML root element is <{name}>, not <HealthData>: this is not an Apple Health export.",
                "wrong_kind",
            )
        self.root_seen = True

    def _add_metadata(self, attrs: dict) -> None:
        key, value = attrs.get("key", ""), attrs.get("value", "")
        if self.workout is not None and self.record is None:
            self.workout["metadata"][key] = value
        elif self.record is not None:
            if self.metadata is None:
                self.metadata = {}
            self.metadata[key] = value

    def _record(self, attrs: dict, metadata: dict | None, beats: list | None) -> None:
        """The hot path: one top-level Record, most of them quantity samples."""
        series_key = (
            attrs.get("type", ""),
            attrs.get("sourceName", ""),
            attrs.get("device", ""),
            attrs.get("unit", ""),
        )
        series = self.series.get(series_key) or self._describe_series(series_key)
        metric, unit, device, device_kind, key_prefix = series
        if metric is None:
            self._other_record(series_key[0], attrs)
            return
        try:
            value = float(attrs["value"])
        except (KeyError, ValueError):
            self.report.skipped["value is not a number"] += 1
            return
        start_text, end_text = attrs["startDate"], attrs["endDate"]
        if beats:
            metadata = {**(metadata or {}), "beats": beats}
            self.detail += len(beats)
        key = f"{key_prefix}{start_text}|{end_text}"
        if self.dates is not None:
            start = self.dates.read(start_text)
            end = start if end_text == start_text else self.dates.read(end_text)
            if start is not None and end is not None:
                self.pending.append(
                    _new_timed(
                        (
                            metric, value, unit, start[0], end[0], start[1], start[2], end[1], end[2], key,
                            device, device_kind, metadata or _NO_METADATA,
                        )
                    )
                )  # fmt: skip
                return
        start = _parse_date(start_text)
        self.pending.append(
            _new_record(
                (
                    metric,
                    start,
                    value,
                    unit,
                    _parse_date(end_text) if end_text != start_text else None,
                    key,
                    device,
                    device_kind,
                    None,
                    metadata or _NO_METADATA,
                )
            )
        )

    def _describe_series(self, series_key: tuple[str, str, str, str]) -> tuple:
        """(metric or None, unit, device label, device kind, key prefix) of a type, source, device, unit."""
        kind, source_name, device_text, unit = series_key
        metric = QUANTITY_METRICS.get(kind)
        device, device_kind, device_id = _describe_device(source_name, device_text)
        unit = "fraction" if unit == "%" else UNIT_FIXES.get((metric, unit), unit)
        series = (metric, unit, device, device_kind, f"{_series_id(kind, source_name, device_id)}|")
        self.series[series_key] = series
        return series

    def _fast_series(self, kind: str, source_name: str, device_text: str, unit: str) -> tuple | None:
        """The series of a type, source, device and unit if the C reader may read its records itself.

        Those of a quantity metric, but HRV's, whose heartbeat lists only this parser reads.
        """
        series_key = (kind, source_name, device_text, unit)
        series = self.series.get(series_key) or self._describe_series(series_key)
        return series if series[0] is not None and kind != HRV_TYPE else None

    def _other_record(self, kind: str, attrs: dict) -> None:
        if kind == SLEEP_TYPE:
            self._add_sleep_stage(attrs)
        elif kind == STAND_HOUR_TYPE:
            self._add_stand_hour(attrs)
        elif kind in SKIPPED_TYPES:
            self.report.skipped[kind] += 1
        else:
            self.report.unknown_types[kind] += 1

    def _add_stand_hour(self, attrs: dict) -> None:
        if attrs.get("value") != STOOD:
            self.report.skipped["stand hour not stood"] += 1
            return
        start_text = attrs["startDate"]
        self.stand_days.add(start_text[:10])
        device, device_kind, device_id = self._device(attrs)
        self.pending.append(
            RecordIn(
                metric="stand_hours",
                start=_parse_date(start_text),
                end=_parse_date(attrs["endDate"]),
                value=1.0,
                unit="h",
                source_key=_key(STAND_HOUR_TYPE, attrs.get("sourceName", ""), device_id, start_text, ""),
                device=device,
                device_kind=device_kind,
            )
        )

    def _add_sleep_stage(self, attrs: dict) -> None:
        stage = SLEEP_STAGES.get(attrs.get("value", ""))
        if stage is None:
            self.report.unknown_types[f"{SLEEP_TYPE}:{attrs.get('value', '')}"] += 1
            return
        device, device_kind, _ = self._device(attrs)
        self.detail += 1
        self.pending.extend(
            self.sleep.add(
                source=attrs.get("sourceName", ""),
                device=device,
                device_kind=device_kind,
                stage=stage,
                start=self._date(attrs["startDate"]),
                end=self._date(attrs["endDate"]),
            )
        )

    def _emit_correlation(self, correlation: dict) -> None:
        attrs = correlation["attrs"]
        if attrs.get("type") != BLOOD_PRESSURE:
            self.report.skipped[attrs.get("type", "Correlation")] += 1
            return
        members = correlation["members"]
        systolic = members.get("HKQuantityTypeIdentifierBloodPressureSystolic", {})
        diastolic = members.get("HKQuantityTypeIdentifierBloodPressureDiastolic", {})
        value, secondary = _number(systolic.get("value")), _number(diastolic.get("value"))
        if value is None or secondary is None:
            self.report.skipped["blood pressure without both values"] += 1
            return
        device, device_kind, device_id = self._device(attrs)
        self.pending.append(
            RecordIn(
                metric="blood_pressure",
                start=self._date(attrs["startDate"]),
                value=value,
                secondary_value=secondary,
                unit=systolic.get("unit", "mmHg"),
                source_key=_key(
                    BLOOD_PRESSURE, attrs.get("sourceName", ""), device_id, attrs["startDate"], ""
                ),
                device=device,
                device_kind=device_kind or "cuff",
            )
        )

    def _emit_workout(self, workout: dict) -> None:
        attrs = workout["attrs"]
        source_type = attrs.get("workoutActivityType", "").removeprefix("HKWorkoutActivityType")
        device, device_kind, device_id = self._device(attrs)
        self.pending.append(
            SessionIn(
                kind="workout",
                start=self._date(attrs["startDate"]),
                end=self._date(attrs["endDate"]),
                source_key=_key("Workout", attrs.get("sourceName", ""), device_id, attrs["startDate"], ""),
                activity_type=WORKOUT_TYPES.get(source_type, "other"),
                device=device,
                device_kind=device_kind,
                values=_workout_values(attrs, workout["statistics"]),
                metadata={**workout["metadata"], "source_type": source_type, "events": workout["events"]},
            )
        )

    def _activity_summary(self, attrs: dict) -> None:
        hours = _number(attrs.get("appleStandHours"))
        day = attrs.get("dateComponents", "")
        if day in self.stand_days:
            self.report.skipped["ActivitySummary of a day with stand-hour samples"] += 1
            return
        if hours is None or not day:
            self.report.skipped["ActivitySummary without stand hours"] += 1
            return
        try:
            start = datetime.fromisoformat(day).replace(tzinfo=_offset_zone(self.export_offset))
        except ValueError:
            self.report.skipped["ActivitySummary with an unreadable date"] += 1
            return
        goals = {
            key: value for key, value in attrs.items() if key not in ("dateComponents", "appleStandHours")
        }
        self.pending.append(
            RecordIn(
                metric="stand_hours",
                start=start,
                end=start + timedelta(days=1),
                value=hours,
                unit="h",
                source_key=_key("ActivitySummary", "", "", day, ""),
                device="Apple Watch",
                device_kind="watch",
                metadata={"activity_summary": goals},
            )
        )

    def _device(self, attrs: dict) -> tuple[str, str, str]:
        """(device label, device kind, stable device id) from sourceName and the HKDevice string."""
        cache_key = (attrs.get("sourceName", ""), attrs.get("device", ""))
        found = self.devices.get(cache_key)
        if found is None:
            found = _describe_device(*cache_key)
            self.devices[cache_key] = found
        return found

    def _date(self, text: str) -> datetime:
        return _parse_date(text)


class DateReader:
    """Apple's dates (`2025-01-14 07:42:10 -0500`) read as (Unix microseconds, offset minutes, local date).

    A date's day, hour and offset are read by `datetime`, which checks them, once per hour of the
    file; within the hour, `:MM:SS` is looked up among the hour's 3,600 valid ones. Nothing else in
    an import is done as often. `read` returns None for a date without an offset (which ingest
    rejects in its own words) and raises ImportRejected for an unreadable one, as `_parse_date` does.
    """

    def __init__(self) -> None:
        # "2025-01-14 07" -> (the hour's start in microseconds, offset minutes, local date, offset text)
        self.hours: dict[str, tuple[int, int, date, str]] = {}

    def read(self, text: str) -> tuple[int, int, date] | None:
        hour = self.hours.get(text[:13])
        if hour is not None and text[19:] == hour[3]:
            within = MINUTES_AND_SECONDS.get(text[13:19])
            if within is not None:
                return hour[0] + within, hour[1], hour[2]
        return self._read_hour(text)

    def _read_hour(self, text: str) -> tuple[int, int, date] | None:
        moment = _parse_date(text)
        offset = moment.utcoffset()
        if offset is None:
            return None
        read = microseconds(moment), offset // timedelta(minutes=1), moment.date()
        if APPLE_DATE.fullmatch(text):
            if len(self.hours) >= DATE_READER_HOURS:
                self.hours.clear()
            hour_start = read[0] - MINUTES_AND_SECONDS[text[13:19]]
            self.hours[text[:13]] = (hour_start, read[1], read[2], text[19:])
        return read


def _describe_device(source_name: str, device: str) -> tuple[str, str, str]:
    fields = dict(DEVICE_FIELD.findall(device)) if device else {}
    name = fields.get("name", "").strip() or source_name
    model = (fields.get("hardware") or fields.get("model") or "").strip()
    text = f"{name} {model} {source_name}".lower()
    if "watch" in text:
        kind = "watch"
    elif "iphone" in text:
        kind = "phone"
    else:
        kind = "other"
    return name, kind, model or name


def _workout_values(attrs: dict, statistics: dict) -> dict[str, tuple[float, str]]:
    values: dict[str, tuple[float, str]] = {}
    duration = _number(attrs.get("duration"))
    if duration is not None:
        values["workout_duration"] = (duration, attrs.get("durationUnit", "min"))
    for metric, value_attribute, unit_attribute in (
        ("distance", "totalDistance", "totalDistanceUnit"),
        ("active_energy", "totalEnergyBurned", "totalEnergyBurnedUnit"),
    ):
        value = _number(attrs.get(value_attribute))
        if value is not None:
            values[metric] = (value, attrs.get(unit_attribute, ""))
    for kind, stat in statistics.items():
        _add_statistic(values, kind, stat)
    return values


def _add_statistic(values: dict, kind: str, stat: dict) -> None:
    unit = stat.get("unit", "")
    if kind == "HKQuantityTypeIdentifierHeartRate":
        for metric, attribute in (("heart_rate", "average"), ("heart_rate_max", "maximum")):
            value = _number(stat.get(attribute))
            if value is not None:
                values[metric] = (value, unit)
        return
    metric, attribute = WORKOUT_STATISTICS.get(kind, (None, None))
    value = _number(stat.get(attribute)) if metric else None
    if metric and value is not None and metric not in values:
        values[metric] = (value, unit)


def _key(kind: str, source_name: str, device_id: str, start: str, end: str) -> str:
    return f"{_series_id(kind, source_name, device_id)}|{start}|{end}"


@lru_cache(maxsize=4096)
def _series_id(kind: str, source_name: str, device_id: str) -> str:
    """16 hex digits naming one type from one source and device; with the dates it makes a source_key."""
    return hashlib.blake2b(f"{kind}\x1f{source_name}\x1f{device_id}".encode(), digest_size=8).hexdigest()


def _parse_date(text: str) -> datetime:
    """`2025-01-14 07:42:10 -0500` → an aware datetime (fromisoformat: 20 times faster than strptime)."""
    try:
        return datetime.fromisoformat(text[:19] + text[20:] if len(text) == 25 and text[19] == " " else text)
    except ValueError:
        raise ImportRejected(f"The export contains an unreadable date {text[:40]!r}.", "bad_date") from None


def _offset_zone(offset: timedelta | None) -> timezone:
    return timezone(offset or timedelta(0))


def _number(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _forbid_entity(*args) -> None:
    raise ImportRejected(
        "The XML declares or references entities, which an Apple Health export never does (XML bombs and "
        "external-entity attacks rely on them). The file was not imported.",
        "xml_entities",
    )


def _forbid_doctype() -> None:
    raise ImportRejected(
        "The XML has a document type declaration that cannot be read as an Apple Health export's. "
        "The file was not imported.",
        "xml_entities",
    )


def _readable_xml_error(error: expat.ExpatError) -> ImportRejected:
    if error.code == expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
        return ImportRejected(
            f"export.xml uses an undefined entity at line {error.lineno}; entities are not allowed.",
            "xml_entities",
        )
    message = expat.errors.messages[error.code]
    return ImportRejected(
        f"export.xml is not well-formed at line {error.lineno}, column {error.offset}: {message}.", "bad_xml"
    )
