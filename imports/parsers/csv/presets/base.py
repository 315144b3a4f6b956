"""What every preset shares: the converter interface, header reading and a few name tables."""

import re
from collections.abc import Iterable

from healthdata import metrics
from imports.parsers.base import Item
from imports.parsers.csv.mapping import Context, unit_problems
from imports.parsers.csv.values import CellError

HEADER_UNIT = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")
NUTRIENTS = {
    "energy": "energy_intake",
    "calories": "energy_intake",
    "protein": "protein",
    "carbs": "carbohydrates",
    "carbohydrates": "carbohydrates",
    "fat": "fat",
    "fiber": "fiber",
    "sugars": "sugar",
    "sugar": "sugar",
    "sodium": "sodium",
    "caffeine": "caffeine",
    "water": "water",
}
# Water logged by weight: a gram of water is a millilitre.
UNIT_FIXES = {("water", "g"): "mL"}
WORKOUT_WORDS = (
    ("run", "running"),
    ("jog", "running"),
    ("walk", "walking"),
    ("cycl", "cycling"),
    ("bik", "cycling"),
    ("swim", "swimming"),
    ("hik", "hiking"),
    ("row", "rowing"),
    ("elliptical", "elliptical"),
    ("strength", "strength_training"),
    ("weight", "strength_training"),
    ("yoga", "yoga"),
    ("pilates", "pilates"),
    ("hiit", "hiit"),
)
BIOMETRICS = {
    "weight": "weight",
    "body fat": "body_fat",
    "heart rate": "heart_rate",
    "resting heart rate": "resting_heart_rate",
    "blood pressure": "blood_pressure",
    "blood glucose": "blood_glucose",
    "body temperature": "body_temperature",
    "oxygen saturation": "spo2",
    "height": "height",
}


class Converter:
    """Rows of one table to items; `finish` yields what was held back until the end of the file."""

    def convert(self, row: dict[str, str], line: int) -> Iterable[Item]:
        raise NotImplementedError

    def finish(self) -> Iterable[Item]:
        return ()


def nutrient_columns(header: list[str]) -> dict[str, tuple[str, str]]:
    """`Energy (kcal)` → (energy_intake, kcal); `Calories` (MyFitnessPal) → kcal; unknown ones dropped."""
    found = {}
    for column in header:
        match = HEADER_UNIT.match(column)
        name, unit = (match.group(1), match.group(2)) if match else (column, "")
        metric = NUTRIENTS.get(name.strip().lower())
        if metric is None:
            continue
        unit = unit or metrics.get(metric).unit
        unit = UNIT_FIXES.get((metric, unit), unit)
        if not unit_problems(metric, unit):
            found[column] = (metric, unit)
    return found


def guess_activity(name: str) -> str:
    lowered = name.lower()
    return next((code for word, code in WORKOUT_WORDS if word in lowered), "other")


def pair(text: str, context: Context) -> tuple[float, float]:
    """A blood pressure written as `120/80`."""
    systolic, _, diastolic = text.partition("/")
    values = context.number(systolic), context.number(diastolic)
    if None in values:
        raise CellError(f"{text!r} is not a blood pressure such as 120/80")
    return values  # type: ignore[return-value]
