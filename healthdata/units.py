"""Conversion of every unit a source writes to a metric's canonical unit.

Each unit belongs to a dimension and has a factor to that dimension's base, so a conversion is
`canonical = value * factor + offset`. Temperatures carry an offset, except for metrics that are
differences of temperatures (skin temperature deviation), which scale only. Glucose converts
between mg/dL and mmol/L by its molar mass.
"""

from dataclasses import dataclass
from functools import cache

from healthdata.metrics import METRICS

GLUCOSE_MG_DL_PER_MMOL_L = 18.016
DIFFERENCE_METRICS = frozenset({"skin_temperature_deviation"})


class UnitError(ValueError):
    """A value's unit is unknown, or cannot express the metric it was given for."""

    def __init__(self, metric: str, unit: str) -> None:
        super().__init__(f"Unit {unit!r} cannot be converted to the unit of {metric!r}.")
        self.metric = metric
        self.unit = unit


@dataclass(frozen=True, slots=True)
class Conversion:
    factor: float
    offset: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.factor == 1.0 and self.offset == 0.0

    def __call__(self, value: float) -> float:
        return value * self.factor + self.offset


# unit spelling -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    # counts and scores
    "count": ("count", 1.0),
    "1": ("count", 1.0),
    "score": ("score", 1.0),
    "{score}": ("score", 1.0),
    # rates per minute
    "/min": ("rate", 1.0),
    "count/min": ("rate", 1.0),
    "bpm": ("rate", 1.0),
    "beats/min": ("rate", 1.0),
    "breaths/min": ("rate", 1.0),
    "1/min": ("rate", 1.0),
    "/s": ("rate", 60.0),
    "count/s": ("rate", 60.0),
    "Hz": ("rate", 60.0),
    # time, base minute
    "ms": ("time", 1 / 60_000),
    "s": ("time", 1 / 60),
    "sec": ("time", 1 / 60),
    "min": ("time", 1.0),
    "h": ("time", 60.0),
    "hr": ("time", 60.0),
    "d": ("time", 1_440.0),
    # mass, base kilogram
    "kg": ("mass", 1.0),
    "g": ("mass", 1e-3),
    "mg": ("mass", 1e-6),
    "mcg": ("mass", 1e-9),
    "µg": ("mass", 1e-9),
    "μg": ("mass", 1e-9),
    "lb": ("mass", 0.45359237),
    "lbs": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
    "st": ("mass", 6.35029318),
    # length, base metre
    "m": ("length", 1.0),
    "mm": ("length", 1e-3),
    "cm": ("length", 1e-2),
    "km": ("length", 1e3),
    "in": ("length", 0.0254),
    "ft": ("length", 0.3048),
    "yd": ("length", 0.9144),
    "mi": ("length", 1_609.344),
    # energy, base kilocalorie (Apple's "Cal" is the food calorie, a kilocalorie)
    "kcal": ("energy", 1.0),
    "Cal": ("energy", 1.0),
    "cal": ("energy", 1e-3),
    "kJ": ("energy", 1 / 4.184),
    "J": ("energy", 1 / 4_184),
    # volume, base millilitre
    "mL": ("volume", 1.0),
    "ml": ("volume", 1.0),
    "cL": ("volume", 10.0),
    "dL": ("volume", 100.0),
    "L": ("volume", 1_000.0),
    "l": ("volume", 1_000.0),
    "fl_oz_us": ("volume", 29.5735295625),
    "fl oz": ("volume", 29.5735295625),
    "cup_us": ("volume", 236.5882365),
    # ratios, base percent
    "%": ("ratio", 1.0),
    "fraction": ("ratio", 100.0),
    # pressure, base millimetre of mercury
    "mm[Hg]": ("pressure", 1.0),
    "mmHg": ("pressure", 1.0),
    "kPa": ("pressure", 7.500615758),
    # body mass index
    "kg/m2": ("bmi", 1.0),
    "kg/m^2": ("bmi", 1.0),
    # glucose concentration, base mmol/L; HealthKit writes the molar mass into the unit
    "mmol/L": ("glucose", 1.0),
    "mmol<180.1558800000541>/L": ("glucose", 1.0),
    "mg/dL": ("glucose", 1 / GLUCOSE_MG_DL_PER_MMOL_L),
    # temperature: handled apart because of the offset
    "Cel": ("temperature", 1.0),
    "degC": ("temperature", 1.0),
    "°C": ("temperature", 1.0),
    "C": ("temperature", 1.0),
    "degF": ("temperature", 5 / 9),
    "°F": ("temperature", 5 / 9),
    "F": ("temperature", 5 / 9),
    "K": ("temperature", 1.0),
}

_TEMPERATURE_OFFSETS = {"degF": -32 * 5 / 9, "°F": -32 * 5 / 9, "F": -32 * 5 / 9, "K": -273.15}

# Units a metric also accepts although their dimension differs: Apple writes BMI as "count";
# a recovery percentage is a 0-100 score.
_EQUIVALENT = {
    ("bmi", "count"): "kg/m2",
    ("recovery_score", "score"): "%",
    ("recovery_score", "{score}"): "%",
    ("sleep_score", "%"): "{score}",
    ("readiness_score", "%"): "{score}",
    ("stress", "%"): "{score}",
    ("stand_hours", "count"): "h",
}


@cache
def conversion(metric: str, unit: str) -> Conversion:
    """The conversion of `unit` to the canonical unit of `metric`; UnitError if there is none."""
    definition = METRICS.get(metric)
    if definition is None:
        raise UnitError(metric, unit)
    unit = _EQUIVALENT.get((metric, unit.strip()), unit.strip())
    source, target = _UNITS.get(unit), _UNITS.get(definition.unit)
    if source is None or target is None or source[0] != target[0]:
        raise UnitError(metric, unit)
    factor = source[1] / target[1]
    if source[0] != "temperature" or metric in DIFFERENCE_METRICS:
        return Conversion(factor)
    return Conversion(
        factor, _TEMPERATURE_OFFSETS.get(unit, 0.0) - _TEMPERATURE_OFFSETS.get(definition.unit, 0.0)
    )


def convert(metric: str, value: float, unit: str) -> float:
    """`value` in `unit`, expressed in the canonical unit of `metric`."""
    return conversion(metric, unit)(value)


def accepted_units(metric: str) -> list[str]:
    """Every unit spelling that converts to `metric`'s canonical unit."""
    accepted = []
    for unit in [*_UNITS, *(alias for (code, alias) in _EQUIVALENT if code == metric)]:
        try:
            conversion(metric, unit)
        except UnitError:
            continue
        if unit not in accepted:
            accepted.append(unit)
    return accepted
