"""Known CSV exports, recognised by their header (and file name where headers are shared).

Each preset turns rows into records without a user mapping: the project's own long CSV, Cronometer
(daily nutrition, servings, exercises, biometrics), MyFitnessPal (nutrition, exercise, measurements),
the Fitbit / Google Takeout time series and the Withings account export.
"""

from collections.abc import Callable
from dataclasses import dataclass

from imports.parsers.csv.mapping import Context
from imports.parsers.csv.presets.base import Converter
from imports.parsers.csv.presets.canonical import CanonicalConverter
from imports.parsers.csv.presets.devices import FitbitSeriesConverter, WithingsConverter, fitbit_series
from imports.parsers.csv.presets.nutrition import (
    BiometricsConverter,
    DailyNutritionConverter,
    ExerciseConverter,
    MealConverter,
    MeasurementConverter,
    ServingsConverter,
)


@dataclass(frozen=True)
class Preset:
    name: str
    source: str
    matches: Callable[[set[str], str], bool]
    converter: Callable[[Context, list[str], str], "Converter"]


def _has(*names: str) -> Callable[[set[str], str], bool]:
    return lambda columns, filename: all(name in columns for name in names)


PRESETS = (
    Preset(
        "canonical",
        "csv",
        _has("timestamp", "metric", "value", "unit"),
        lambda c, h, f: CanonicalConverter(c, h, f),
    ),
    Preset(
        "cronometer_servings",
        "cronometer",
        _has("Day", "Food Name", "Amount"),
        lambda c, h, f: ServingsConverter(c, h, f),
    ),
    Preset(
        "cronometer_daily",
        "cronometer",
        lambda columns, f: (
            "Date" in columns
            and ("Completed" in columns or "Energy (kcal)" in columns)
            and "Food Name" not in columns
            and "Meal" not in columns
        ),
        lambda c, h, f: DailyNutritionConverter(c, h, f),
    ),
    Preset(
        "cronometer_exercises",
        "cronometer",
        _has("Day", "Exercise", "Minutes", "Calories Burned"),
        lambda c, h, f: ExerciseConverter(c, h, f, "cronometer"),
    ),
    Preset(
        "cronometer_biometrics",
        "cronometer",
        _has("Day", "Metric", "Unit", "Amount"),
        lambda c, h, f: BiometricsConverter(c, h, f),
    ),
    Preset(
        "myfitnesspal_nutrition",
        "myfitnesspal",
        _has("Date", "Meal", "Calories"),
        lambda c, h, f: MealConverter(c, h, f),
    ),
    Preset(
        "myfitnesspal_exercise",
        "myfitnesspal",
        _has("Date", "Exercise", "Type", "Exercise Calories"),
        lambda c, h, f: ExerciseConverter(c, h, f, "myfitnesspal"),
    ),
    Preset(
        "myfitnesspal_measurement",
        "myfitnesspal",
        lambda columns, f: (
            "Date" in columns
            and "Weight" in columns
            and (len(columns) <= 6 or "measurement-summary" in f.lower())
        ),
        lambda c, h, f: MeasurementConverter(c, h, f),
    ),
    Preset(
        "withings_weight",
        "withings",
        _has("Date", "Weight (kg)", "Fat mass (kg)"),
        lambda c, h, f: WithingsConverter(c, h, f),
    ),
    Preset(
        "withings_weight_lb",
        "withings",
        _has("Date", "Weight (lb)", "Fat mass (lb)"),
        lambda c, h, f: WithingsConverter(c, h, f),
    ),
    Preset(
        "withings_blood_pressure",
        "withings",
        _has("Date", "Heart rate", "Systolic", "Diastolic"),
        lambda c, h, f: WithingsConverter(c, h, f),
    ),
    Preset(
        "fitbit_series",
        "fitbit",
        lambda columns, f: fitbit_series(columns, f) is not None,
        lambda c, h, f: FitbitSeriesConverter(c, h, f),
    ),
)


def detect(header: list[str], filename: str = "") -> Preset | None:
    """The preset whose header signature this file carries, if any."""
    columns = set(header)
    return next((preset for preset in PRESETS if preset.matches(columns, filename)), None)


def by_name(name: str) -> Preset | None:
    return next((preset for preset in PRESETS if preset.name == name), None)
