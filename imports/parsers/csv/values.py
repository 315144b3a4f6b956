"""Reading one cell: numbers with either decimal mark, and dates in the formats people's files use."""

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

PLACEHOLDERS = {"", "-", "--", "n/a", "na", "null", "none", "nan", "#n/a", "#div/0!", "#value!"}
NUMBER = re.compile(r"[-+]?[\d.,]*\d")
COMMA_DECIMAL = re.compile(r"^-?\d+,\d{1,2}$|^-?\d+,\d{4,}$|^-?\d{1,3}(\.\d{3})+,\d+$")
DOT_DECIMAL = re.compile(r"^-?\d+\.\d{1,2}$|^-?\d+\.\d{4,}$|^-?\d{1,3}(,\d{3})+\.\d+$")
NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\b")
SPACES = str.maketrans("", "", " \u00a0\u202f'")

# Date formats, tried in this order; the time of day, when present, follows after a space.
DATE_FORMATS = (
    "iso",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%d-%m-%Y",
    "%b %d, %Y",
    "%d-%b-%y",
    "%d %b %Y",
    "epoch_s",
    "epoch_ms",
)
TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %H:%M:%S.%f")
DAY_FIRST = {"%m/%d/%Y": "%d/%m/%Y", "%m/%d/%y": "%d/%m/%y"}
EPOCH_MS_FLOOR = 10**11


class CellError(ValueError):
    """A cell that cannot be read; the message names the value and what was expected."""


def is_empty(text: str) -> bool:
    return text.strip().lower() in PLACEHOLDERS


def parse_number(text: str, decimal: str = ".") -> float | None:
    """A number as people write it (`1,050.0`, `72,5`, `72.5 kg`, `98%`); None for an empty cell."""
    compact = text.translate(SPACES)
    if compact.lower() in PLACEHOLDERS:
        return None
    match = NUMBER.match(compact)
    if match is None:
        raise CellError(f"{text.strip()[:40]!r} is not a number")
    digits = match.group(0)
    digits = digits.replace(".", "").replace(",", ".") if decimal == "," else digits.replace(",", "")
    try:
        return float(digits)
    except ValueError:
        raise CellError(f"{text.strip()[:40]!r} is not a number") from None


def detect_decimal(cells: Iterable[str]) -> str:
    """ "," when the numbers of a file are written with a decimal comma, else "."."""
    comma = dot = 0
    for cell in cells:
        cell = cell.strip()
        if COMMA_DECIMAL.match(cell):
            comma += 1
        elif DOT_DECIMAL.match(cell):
            dot += 1
    return "," if comma > dot else "."


def infer_date_format(values: Iterable[str], allow_epoch: bool = True) -> tuple[str, bool]:
    """The format every value of a column parses with, and whether day/month order stayed ambiguous."""
    sample = [value.strip() for value in values if not is_empty(value)]
    if not sample:
        return "", False
    for candidate in DATE_FORMATS:
        if candidate.startswith("epoch") and not allow_epoch:
            continue
        if all(_parses(value, candidate) for value in sample[:200]):
            return _resolve_order(candidate, sample)
    return "", False


def _parses(text: str, date_format: str) -> bool:
    try:
        parse_datetime(text, date_format)
    except CellError:
        return False
    return True


def _resolve_order(candidate: str, sample: list[str]) -> tuple[str, bool]:
    """Scan the whole column for a day over 12 (day first) or a second field over 12 (month first)."""
    day_first = DAY_FIRST.get(candidate)
    if day_first is None:
        return candidate, False
    for value in sample:
        match = NUMERIC_DATE.match(value)
        if match and int(match.group(1)) > 12:
            return day_first, False
        if match and int(match.group(2)) > 12:
            return candidate, False
    return candidate, True


def parse_datetime(text: str, date_format: str) -> datetime:
    """Read a date or date-time; naive unless the text carries an offset (or is an epoch)."""
    text = text.strip().replace("\u202f", " ").replace("\u00a0", " ")
    if not text:
        raise CellError("the date is empty")
    try:
        if date_format in ("iso", ""):
            return _parse_iso(text)
        if date_format in ("epoch_s", "epoch_ms"):
            return _parse_epoch(text, date_format)
        return _parse_with_format(text, date_format)
    except (ValueError, OverflowError):
        label = "ISO 8601 (2025-01-14T07:42:00)" if date_format in ("iso", "") else date_format
        raise CellError(f"{text[:40]!r} is not a date in the format {label}") from None


def _parse_iso(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _parse_epoch(text: str, date_format: str) -> datetime:
    number = float(text)
    if date_format == "epoch_ms" or number >= EPOCH_MS_FLOOR:
        number /= 1000
    if date_format == "epoch_s" and not text.replace(".", "").isdigit():
        raise ValueError(text)
    return datetime.fromtimestamp(number, UTC)


@lru_cache(maxsize=4096)
def _parse_with_format(text: str, date_format: str) -> datetime:
    for time_format in TIME_FORMATS:
        try:
            return datetime.strptime(text, date_format + time_format)
        except ValueError:
            continue
    raise ValueError(text)


def parse_time_of_day(text: str) -> time | None:
    """`7:42 AM`, `08:15 `, `19:05:30`; None when the cell is empty."""
    text = text.strip().replace("\u202f", " ").upper()
    if not text:
        return None
    for time_format in ("%I:%M %p", "%I:%M:%S %p", "%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(text, time_format).time()
        except ValueError:
            continue
    raise CellError(f"{text[:20]!r} is not a time of day")


def localize(moment: datetime, zone: tzinfo) -> datetime:
    """Aware datetimes stay as they are; naive ones are read in the given zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """A local calendar day as [midnight, next midnight)."""
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def is_date_only(text: str) -> bool:
    text = text.strip()
    return len(text) <= 10 and ":" not in text and not text.isdigit()
