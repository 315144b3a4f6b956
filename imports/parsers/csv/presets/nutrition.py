"""Cronometer and MyFitnessPal exports: nutrition, exercises, biometrics and measurements."""

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import timedelta

from healthdata.normalized import SessionIn
from imports.parsers.base import Item
from imports.parsers.csv.mapping import Context, record
from imports.parsers.csv.presets.base import BIOMETRICS, Converter, guess_activity, nutrient_columns, pair
from imports.parsers.csv.values import CellError

NAME_AND_SOURCE = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")


class DailyNutritionConverter(Converter):
    """Cronometer dailysummary.csv: one row of totals per day."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context
        self.columns = nutrient_columns(header)

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        day = row.get("Date", "")
        span = self.context.span(day, "Date")
        completed = row.get("Completed", "").strip().lower()
        extra = {"metadata": {"completed": completed == "true"}} if completed else {}
        found = False
        for column, (metric, unit) in self.columns.items():
            value = self.context.number(row.get(column, ""))
            if value is not None:
                found = True
                yield record(metric, value, unit, span, f"cronometer:day:{day.strip()}:{metric}", **extra)
        if not found:
            raise CellError("the day has no nutrient values")


class ServingsConverter(Converter):
    """Cronometer servings.csv: summed per day into the same records the daily summary writes."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context
        self.columns = nutrient_columns(header)
        self.days: dict[str, dict[str, list]] = defaultdict(dict)

    def convert(self, row: dict[str, str], line: int) -> Iterable[Item]:
        day = row.get("Day", "").strip()
        self.context.span(day, "Day")
        for column, (metric, unit) in self.columns.items():
            value = self.context.number(row.get(column, ""))
            if value is not None:
                total = self.days[day].setdefault(metric, [0.0, unit])
                total[0] += value
        return ()

    def finish(self) -> Iterator[Item]:
        for day, totals in sorted(self.days.items()):
            span = self.context.span(day, "Day")
            for metric, (value, unit) in totals.items():
                yield record(metric, round(value, 4), unit, span, f"cronometer:day:{day}:{metric}")


class ExerciseConverter(Converter):
    """Cronometer exercises.csv and MyFitnessPal Exercise-Summary: one workout per logged exercise."""

    def __init__(self, context: Context, header: list[str], filename: str, source: str) -> None:
        self.context = context
        self.source = source
        self.seen: dict[str, int] = defaultdict(int)

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        name = (row.get("Exercise") or "").strip()
        day = (row.get("Day") or row.get("Date") or "").strip()
        minutes = self.context.number(row.get("Minutes") or row.get("Exercise Minutes") or "")
        calories = self.context.number(row.get("Calories Burned") or row.get("Exercise Calories") or "")
        if "energy balance" in name.lower() or "calorie adjustment" in name.lower():
            raise CellError("energy-balance and calorie-adjustment rows are not workouts")
        if not minutes:
            raise CellError("the exercise has no duration")
        start = self.context.moment(day, "Day" if "Day" in row else "Date", row.get("Time", ""))
        identity = f"{self.source}:exercise:{day}:{row.get('Time', '').strip()}:{name}"
        self.seen[identity] += 1
        values = {"workout_duration": (minutes, "min")}
        if calories:
            values["active_energy"] = (abs(calories), "kcal")
        yield SessionIn(
            kind="workout",
            start=start,
            end=start + timedelta(minutes=minutes),
            source_key=f"{identity}:{self.seen[identity]}"[:128],
            activity_type=guess_activity(name),
            values=values,
            metadata={"source_type": name},
        )


class BiometricsConverter(Converter):
    """Cronometer biometrics.csv: Day,Time,Group,Metric,Unit,Amount (long)."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        label = row.get("Metric", "").strip()
        match = NAME_AND_SOURCE.match(label)
        name, origin = (match.group(1), match.group(2)) if match else (label, "")
        metric = BIOMETRICS.get(name.lower())
        if metric is None:
            raise CellError(f"the biometric {label!r} has no matching metric")
        unit = row.get("Unit", "").strip()
        day, clock = row.get("Day", "").strip(), row.get("Time", "")
        span = (self.context.moment(day, "Day", clock), None)
        key = f"cronometer:bio:{day}:{clock.strip()}:{label}:{unit}"
        extra = {"metadata": {"synced_from": origin}} if origin else {}
        if metric == "blood_pressure":
            value, secondary = pair(row.get("Amount", ""), self.context)
            yield record(metric, value, unit or "mmHg", span, key, secondary_value=secondary, **extra)
            return
        value = self.context.number(row.get("Amount", ""))
        if value is None:
            raise CellError("the amount is empty")
        yield record(metric, value, unit, span, key, **extra)


class MealConverter(Converter):
    """MyFitnessPal Nutrition-Summary: per-meal totals of each day."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context
        self.columns = nutrient_columns(header)

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        day, meal = row.get("Date", "").strip(), row.get("Meal", "").strip()
        span = self.context.span(day, "Date")
        for column, (metric, unit) in self.columns.items():
            value = self.context.number(row.get(column, ""))
            if value is not None:
                yield record(
                    metric,
                    value,
                    unit,
                    span,
                    f"myfitnesspal:meal:{day}:{meal}:{metric}",
                    metadata={"meal": meal},
                )


class MeasurementConverter(Converter):
    """MyFitnessPal Measurement-Summary: weight in the account's display unit, body fat in %."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        day = row.get("Date", "").strip()
        span = (self.context.moment(day, "Date"), None)
        for column, metric, unit in (
            ("Weight", "weight", self.context.weight_unit),
            ("Body Fat %", "body_fat", "%"),
        ):
            value = self.context.number(row.get(column, ""))
            if value is not None:
                yield record(metric, value, unit, span, f"myfitnesspal:measure:{day}:{metric}")
