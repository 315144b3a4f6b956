"""The one place stored values become what a person reads: their units (metric or imperial).

Storage stays in each metric's canonical unit (docs/data-model.md). `to_display` and
`from_display` convert a number both ways for charts and goal forms; the `display` filter formats
a value with its unit label for templates.
"""

from dataclasses import dataclass

from django import template

from healthdata.metrics import METRICS

register = template.Library()


@dataclass(frozen=True, slots=True)
class DisplayUnit:
    label: str
    factor: float = 1.0  # display = canonical * factor + offset
    offset: float = 0.0
    decimals: int = 0


_MINUTES = DisplayUnit("min")
# canonical unit -> display unit, per system; units missing here are shown as stored
_DISPLAY = {
    "metric": {
        "m": DisplayUnit("km", 1e-3, decimals=2),
        "kg": DisplayUnit("kg", decimals=1),
        "Cel": DisplayUnit("°C", decimals=1),
        "mL": DisplayUnit("mL"),
        "mmol/L": DisplayUnit("mmol/L", decimals=1),
    },
    "imperial": {
        "m": DisplayUnit("mi", 1 / 1_609.344, decimals=2),
        "kg": DisplayUnit("lb", 1 / 0.45359237, decimals=1),
        "Cel": DisplayUnit("°F", 9 / 5, 32, decimals=1),
        "mL": DisplayUnit("fl oz", 1 / 29.5735295625, decimals=1),
        "mmol/L": DisplayUnit("mg/dL", 18.016),
    },
}
_SPECIAL = {
    # height reads better in centimetres or inches than in metres or miles
    ("height", "metric"): DisplayUnit("cm", 100),
    ("height", "imperial"): DisplayUnit("in", 100 / 2.54),
    # a difference of temperatures scales without the offset
    ("skin_temperature_deviation", "imperial"): DisplayUnit("°F", 9 / 5, decimals=2),
    ("skin_temperature_deviation", "metric"): DisplayUnit("°C", decimals=2),
}
_AS_STORED = {
    "count": DisplayUnit(""),
    "/min": DisplayUnit("bpm"),
    "{score}": DisplayUnit(""),
    "kcal": DisplayUnit("kcal"),
    "%": DisplayUnit("%"),
    "mm[Hg]": DisplayUnit("mmHg"),
    "h": DisplayUnit("h"),
    "g": DisplayUnit("g"),
    "mg": DisplayUnit("mg"),
}


SOURCE_NAMES = {
    "withings": "Withings",
    "oura": "Oura",
    "fitbit": "Fitbit",
    "whoop": "WHOOP",
    "strava": "Strava",
    "apple_health": "Apple Health",
    "myfitnesspal": "MyFitnessPal",
    "cronometer": "Cronometer",
    "csv": "CSV file",
    "manual": "Manual entry",
}


@register.filter
def source_name(slug: str) -> str:
    """A source slug as people know it: "apple_health" reads "Apple Health"."""
    return SOURCE_NAMES.get(slug, slug)


@register.filter
def source_names(slugs: list[str]) -> str:
    return ", ".join(source_name(slug) for slug in slugs)


@register.filter
def metric_label(code: str) -> str:
    """A metric code as people read it: "spo2" reads "Blood oxygen (SpO2)"."""
    metric = METRICS.get(code)
    return metric.label if metric else code


def display_unit(metric: str, units: str) -> DisplayUnit:
    """How values of `metric` are shown in the `units` system ("metric" or "imperial")."""
    system = units if units in _DISPLAY else "metric"
    special = _SPECIAL.get((metric, system))
    if special is not None:
        return special
    canonical = METRICS[metric].unit
    if canonical == "min":
        return _MINUTES
    shown = _DISPLAY[system].get(canonical) or _AS_STORED.get(canonical)
    return shown or DisplayUnit(canonical, decimals=1)


def to_display(metric: str, value: float, units: str) -> float:
    unit = display_unit(metric, units)
    return round(value * unit.factor + unit.offset, unit.decimals)


def from_display(metric: str, value: float, units: str) -> float:
    """A number typed in the user's units, in the metric's canonical unit."""
    unit = display_unit(metric, units)
    return (value - unit.offset) / unit.factor


def format_value(metric: str, value: float | None, units: str) -> str:
    """`value` (canonical) as a person reads it: "8,432", "7 h 12 min", "165.3 lb"."""
    if value is None:
        return "\u2013"  # an en dash: no value
    unit = display_unit(metric, units)
    if unit is _MINUTES and value >= 60:
        hours, minutes = divmod(round(value), 60)
        return f"{hours} h {minutes} min"
    shown = to_display(metric, value, units)
    return f"{shown:,.{unit.decimals}f} {unit.label}".strip()


@register.simple_tag(takes_context=True)
def display(context, metric: str, value: float | None) -> str:
    """`{% display "weight" value %}`: the value in the signed-in user's units, with its unit."""
    user = context.get("user")
    return format_value(metric, value, getattr(user, "units", "metric"))


@register.simple_tag(takes_context=True)
def unit_label(context, metric: str) -> str:
    user = context.get("user")
    return display_unit(metric, getattr(user, "units", "metric")).label
