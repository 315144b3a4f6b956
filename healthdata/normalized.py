"""What every source hands to the ingestion service: normalized, not yet validated or converted.

Importers and provider mappers build these from their own payloads and pass them to
`healthdata.ingest.ingest`. Values stay in the unit the source wrote (`unit`); conversion to the
metric's canonical unit, validation and quality scoring happen at ingest, in one place.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import NamedTuple

_NO_METADATA: Mapping = MappingProxyType({})


class RecordIn(NamedTuple):
    """One value of one metric over [start, end] (an instant when `end` is None).

    A named tuple rather than a dataclass: an import makes millions of these, and a tuple is made
    three times faster than a frozen dataclass. Immutable all the same; metadata defaults to a
    read-only empty mapping.
    """

    metric: str  # a code from healthdata.metrics, e.g. "steps", "heart_rate", "blood_pressure"
    start: datetime  # timezone-aware; its UTC offset is kept to place the value on a local day
    value: float
    unit: str  # as the source wrote it: "count", "km", "lb", "count/min", "fraction", "mg/dL" ...
    end: datetime | None = None
    source_key: str = ""  # the source's own identity for this value; "" derives one from the fields
    device: str = ""  # "Apple Watch", "iPhone", "Oura Ring", "Body+" ...
    device_kind: str = ""  # watch | band | ring | phone | scale | cuff | manual | file | other
    secondary_value: float | None = None  # the diastolic of a blood-pressure reading
    metadata: Mapping = _NO_METADATA


class TimedRecord(NamedTuple):
    """A quantity sample whose times a parser has already read, for the hot path of a large import.

    The same as a RecordIn with a `source_key`, an `end` and no secondary value, but with each time
    given as integer microseconds since the Unix epoch, the UTC offset it was written with (in
    minutes) and its local date in that offset: a parser that reads millions of dates of one fixed
    format reads them faster than `datetime` can be built (imports.parsers.apple_health.DateReader).
    An offset of 0 says nothing about where the person was, as with RecordIn (healthdata.days).
    """

    metric: str
    value: float
    unit: str
    start: int
    end: int
    start_offset: int
    start_day: date
    end_offset: int
    end_day: date
    source_key: str
    device: str
    device_kind: str
    metadata: Mapping


@dataclass(frozen=True, slots=True)
class StageIn:
    """One stretch of a sleep session in one stage."""

    stage: str  # awake | light | deep | rem | asleep (unspecified) | in_bed
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class SessionIn:
    """A sleep or a workout: a time span with a kind, stages (sleep) and summary values."""

    kind: str  # "sleep" | "workout"
    start: datetime
    end: datetime
    source_key: str = ""
    activity_type: str = ""  # workouts: a code from healthdata.metrics.WORKOUT_TYPES, else "other"
    device: str = ""
    device_kind: str = ""
    stages: tuple[StageIn, ...] = ()
    # Summary values in the source's units, keyed by metric code:
    # {"distance": (5.2, "km"), "active_energy": (320, "kcal"), "heart_rate": (141, "count/min"),
    #  "heart_rate_max": (171, "count/min"), "sleep_score": (82, "score")}
    values: dict[str, tuple[float, str]] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a batch came from, so that a job's or a run's data can be found and deleted."""

    kind: str  # "import" | "sync" | "manual"
    id: int | None = None
