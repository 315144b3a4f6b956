"""Device account exports: Fitbit / Google Takeout time series and the Withings account export."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from imports.parsers.base import Item
from imports.parsers.csv.mapping import Context, record
from imports.parsers.csv.presets.base import HEADER_UNIT, Converter
from imports.parsers.csv.values import CellError


@dataclass(frozen=True)
class Series:
    """One Fitbit / Google Takeout time-series file: which column holds which metric."""

    prefix: str
    column: str
    metric: str
    unit: str
    is_daily: bool = False
    interval: timedelta | None = None


FITBIT_SERIES = (
    Series("steps", "steps", "steps", "count", interval=timedelta(minutes=1)),
    Series("distance", "distance", "distance", "m", interval=timedelta(minutes=1)),
    Series("daily_resting_heart_rate", "beats per minute", "resting_heart_rate", "bpm", is_daily=True),
    Series("heart_rate", "beats per minute", "heart_rate", "bpm"),
    Series(
        "daily_heart_rate_variability",
        "average heart rate variability milliseconds",
        "hrv_rmssd",
        "ms",
        is_daily=True,
    ),
    Series("daily_oxygen_saturation", "average percentage", "spo2", "%", is_daily=True),
    Series("daily_respiratory_rate", "breaths per minute", "respiratory_rate", "/min", is_daily=True),
    Series("weight", "weight grams", "weight", "g"),
    Series("body_fat", "body fat percentage", "body_fat", "%"),
    Series("sleep_score", "overall_score", "sleep_score", "score", is_daily=True),
    Series("daily_readiness", "score", "readiness_score", "score", is_daily=True),
)


def fitbit_series(columns: set[str], filename: str) -> Series | None:
    base = filename.rsplit("/", 1)[-1].lower()
    if "timestamp" not in columns:
        return None
    named = [
        series for series in FITBIT_SERIES if base.startswith(series.prefix) and series.column in columns
    ]
    if named:
        return named[0]
    unnamed = [series for series in FITBIT_SERIES if series.column in columns and "data source" in columns]
    return unnamed[0] if len(unnamed) == 1 or (unnamed and not base) else None


class FitbitSeriesConverter(Converter):
    """Google Takeout `Physical Activity_GoogleData` CSVs: timestamp (UTC), value, data source."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context
        self.series = fitbit_series(set(header), filename)

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        series = self.series
        stamp = row.get("timestamp", "").strip()
        value = self.context.number(row.get(series.column, ""))
        if value is None:
            raise CellError(f"{series.column!r} is empty")
        if series.is_daily:
            # Daily rows are stamped midnight UTC and stand for that calendar day: keep the date as written.
            span = self.context.span(stamp[:10], "timestamp")
        else:
            start = self.context.moment(stamp, "timestamp")
            span = (start, start + series.interval if series.interval else None)
        device = row.get("data source", "").strip()
        yield record(
            series.metric, value, series.unit, span, f"fitbit:{series.metric}:{stamp}:{device}", device=device
        )


class WithingsConverter(Converter):
    """Withings account export: weight.csv (body composition) and bp.csv (blood pressure, pulse)."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context
        self.columns = {}
        for column in header:
            match = HEADER_UNIT.match(column)
            name, unit = (match.group(1).lower(), match.group(2)) if match else (column.lower(), "")
            self.columns[name] = (column, unit)

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        stamp = row.get("Date", "").strip()
        span = (self.context.moment(stamp, "Date"), None)
        if "systolic" in self.columns:
            yield from self._pressure(row, span, stamp)
            return
        values = {
            name: self.context.number(row.get(column, "")) for name, (column, _) in self.columns.items()
        }
        weight, weight_unit = values.get("weight"), self.columns.get("weight", ("", "kg"))[1] or "kg"
        for name, metric in (
            ("weight", "weight"),
            ("bone mass", "bone_mass"),
            ("muscle mass", "muscle_mass"),
        ):
            if values.get(name) is not None:
                yield record(
                    metric, values[name], self.columns[name][1] or "kg", span, f"withings:{metric}:{stamp}"
                )
        if values.get("fat mass") is not None and weight:
            body_fat = round(values["fat mass"] / weight * 100, 2)
            yield record(
                "body_fat",
                body_fat,
                "%",
                span,
                f"withings:body_fat:{stamp}",
                metadata={"fat_mass": values["fat mass"], "unit": weight_unit},
            )

    def _pressure(self, row: dict[str, str], span: tuple, stamp: str) -> Iterator[Item]:
        values = {
            name: self.context.number(row.get(column, "")) for name, (column, _) in self.columns.items()
        }
        if values.get("systolic") is None or values.get("diastolic") is None:
            raise CellError("the reading lacks the systolic or diastolic value")
        yield record(
            "blood_pressure",
            values["systolic"],
            "mmHg",
            span,
            f"withings:blood_pressure:{stamp}",
            secondary_value=values["diastolic"],
            device_kind="cuff",
        )
        if values.get("heart rate") is not None:
            yield record("heart_rate", values["heart rate"], "bpm", span, f"withings:heart_rate:{stamp}")
