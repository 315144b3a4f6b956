"""The column mapping: which column is the time, which columns (wide) or rows (long) hold which metric.

A mapping is plain data (stored as JSON on the job and in saved templates) and is turned into a
converter that reads one row at a time.
"""

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthdata import metrics, units
from healthdata.normalized import RecordIn
from imports.parsers.base import Item
from imports.parsers.csv.values import (
    CellError,
    day_bounds,
    is_date_only,
    is_empty,
    localize,
    parse_datetime,
    parse_number,
    parse_time_of_day,
)

LAYOUTS = ("wide", "long")


class MappingError(ValueError):
    """A mapping that cannot work with this file; the message says which part and why."""


@dataclass
class Context:
    """What a converter needs besides the row: the zone for naive times and the file's conventions."""

    zone: tzinfo
    decimal: str = "."
    date_formats: dict[str, str] = field(default_factory=dict)
    weight_unit: str = "kg"

    def number(self, text: str) -> float | None:
        return parse_number(text, self.decimal)

    def moment(self, text: str, column: str, time_text: str = "") -> datetime:
        """An aware datetime from a date (and optional time-of-day) cell."""
        moment = parse_datetime(text, self.date_formats.get(column, "iso"))
        clock = parse_time_of_day(time_text) if time_text else None
        if clock is not None:
            moment = datetime.combine(moment.date(), clock)
        return localize(moment, self.zone)

    def span(self, text: str, column: str, time_text: str = "") -> tuple[datetime, datetime | None]:
        """A whole local day for a bare date, else the instant."""
        if is_date_only(text) and not time_text.strip():
            start, end = day_bounds(self.moment(text, column).date(), self.zone)
            return start, end
        return self.moment(text, column, time_text), None


@dataclass
class ColumnMap:
    column: str
    metric: str
    unit: str


@dataclass
class CsvMapping:
    layout: str = "wide"
    timestamp_column: str = ""
    time_column: str = ""
    end_column: str = ""
    timezone: str = ""
    date_format: str = ""
    columns: list[ColumnMap] = field(default_factory=list)
    metric_column: str = ""
    value_column: str = ""
    unit_column: str = ""
    key_column: str = ""
    metric_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "CsvMapping":
        known = {name: value for name, value in data.items() if name in cls.__dataclass_fields__}
        try:
            known["columns"] = [ColumnMap(**column) for column in known.get("columns", [])]
            return cls(**known)
        except TypeError as error:
            raise MappingError(f"The mapping is malformed: {error}.") from None

    def as_dict(self) -> dict:
        return asdict(self)

    def zone(self, default: tzinfo) -> tzinfo:
        if not self.timezone:
            return default
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(f"{self.timezone!r} is not a time zone name such as Europe/Paris.") from None

    def problems(self, header: list[str]) -> list[str]:
        """Everything wrong with this mapping for a file with this header; empty when it can run."""
        found = []
        if self.layout not in LAYOUTS:
            found.append(f"layout must be one of {', '.join(LAYOUTS)}")
        for column in (self.timestamp_column, self.time_column, self.end_column, self.metric_column,
                       self.value_column, self.unit_column, self.key_column):  # fmt: skip
            if column and column not in header:
                found.append(f"the file has no column {column!r}")
        if not self.timestamp_column:
            found.append("choose the column that holds the date or time")
        if self.layout == "wide":
            found.extend(_column_problems(self.columns, header))
        elif not (self.metric_column and self.value_column):
            found.append("a long layout needs the metric column and the value column")
        return found


def _column_problems(columns: list[ColumnMap], header: list[str]) -> list[str]:
    if not columns:
        return ["map at least one column to a metric"]
    found = []
    for column in columns:
        if column.column not in header:
            found.append(f"the file has no column {column.column!r}")
        found.extend(unit_problems(column.metric, column.unit))
    return found


def unit_problems(metric: str, unit: str) -> list[str]:
    if metrics.get(metric) is None:
        return [f"{metric!r} is not a metric code (see docs/data-model.md)"]
    if unit and unit not in units.accepted_units(metric):
        return [f"{unit!r} is not a unit for {metric} ({', '.join(units.accepted_units(metric))})"]
    return []


def record(
    metric: str,
    value: float,
    unit: str,
    span: tuple[datetime, datetime | None],
    key: str,
    *,
    explicit_end: bool = False,
    **extra,
) -> RecordIn:
    """A RecordIn for a metric; a whole-day span stays a day only for amounts (sums), else an instant.

    An end the file states itself (`explicit_end`) is kept whatever the metric.
    """
    start, end = span
    definition = metrics.get(metric)
    if end is not None and not explicit_end and definition is not None and definition.shape == "instant":
        end = None
    return RecordIn(
        metric=metric, start=start, end=end, value=value, unit=unit, source_key=key[:128], **extra
    )


class MappingConverter:
    """Rows to records by a user's mapping (wide or long)."""

    def __init__(self, mapping: CsvMapping, context: Context, source: str = "csv") -> None:
        self.mapping = mapping
        self.context = context
        self.source = source
        if mapping.date_format:
            context.date_formats = {**context.date_formats, mapping.timestamp_column: mapping.date_format}
            context.date_formats.setdefault(mapping.end_column, mapping.date_format)

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        mapping = self.mapping
        stamp = row.get(mapping.timestamp_column, "")
        span = self.context.span(stamp, mapping.timestamp_column, row.get(mapping.time_column, ""))
        explicit_end = bool(mapping.end_column) and not is_empty(row.get(mapping.end_column, ""))
        if explicit_end:
            span = (span[0], self.context.moment(row[mapping.end_column], mapping.end_column))
        if mapping.layout == "long":
            yield from self._long(row, span, stamp, explicit_end)
        else:
            yield from self._wide(row, span, stamp, explicit_end)

    def finish(self) -> Iterable[Item]:
        return ()

    def _wide(self, row: dict[str, str], span: tuple, stamp: str, explicit_end: bool) -> Iterator[Item]:
        found = False
        for column in self.mapping.columns:
            value = self.context.number(row.get(column.column, ""))
            if value is None:
                continue
            found = True
            key = f"csv:{column.metric}:{column.column}:{stamp}:{row.get(self.mapping.time_column, '')}"
            yield record(column.metric, value, column.unit, span, key, explicit_end=explicit_end)
        if not found:
            raise CellError("no mapped column has a value")

    def _long(self, row: dict[str, str], span: tuple, stamp: str, explicit_end: bool) -> Iterator[Item]:
        mapping = self.mapping
        name = row.get(mapping.metric_column, "").strip()
        metric = mapping.metric_names.get(name, name)
        unit = row.get(mapping.unit_column, "").strip() if mapping.unit_column else ""
        problems = unit_problems(metric, unit)
        if problems:
            raise CellError(problems[0])
        value = self.context.number(row.get(mapping.value_column, ""))
        if value is None:
            raise CellError("the value is empty")
        own_key = row.get(mapping.key_column, "").strip() if mapping.key_column else ""
        key = f"csv:{metric}:{own_key or stamp}"
        yield record(metric, value, unit or metrics.get(metric).unit, span, key, explicit_end=explicit_end)
