"""The project's own long CSV: timestamp,end_timestamp,metric,value,unit,source,external_id,notes."""

import re
from collections.abc import Iterator

from healthdata import metrics
from healthdata.normalized import RecordIn, SessionIn
from imports.parsers.base import Item
from imports.parsers.csv.mapping import Context, record, unit_problems
from imports.parsers.csv.presets.base import Converter, pair
from imports.parsers.csv.values import CellError, is_empty
from imports.parsers.sleep import SleepGrouper

# The project's own long CSV (docs/imports.md): these names are read as metric codes too.
CANONICAL_ALIASES = {
    "body_mass": "weight",
    "body_fat_percentage": "body_fat",
    "dietary_energy": "energy_intake",
    "heart_rate_variability_sdnn": "hrv_sdnn",
    "oxygen_saturation": "spo2",
}

# The data export writes a reading as its systolic value with "diastolic 80" in the notes.
DIASTOLIC_NOTE = re.compile(r"\bdiastolic\s+(\d+(?:[.,]\d+)?)", re.IGNORECASE)


class CanonicalConverter(Converter):
    """timestamp,end_timestamp,metric,value,unit,source,external_id,notes: one measurement per row."""

    def __init__(self, context: Context, header: list[str], filename: str) -> None:
        self.context = context
        self.sleep = SleepGrouper("csv")
        self.pressure: dict[tuple[str, str], dict] = {}

    def convert(self, row: dict[str, str], line: int) -> Iterator[Item]:
        name = row.get("metric", "").strip()
        metric = CANONICAL_ALIASES.get(name, name)
        span = self.context.span(row.get("timestamp", ""), "timestamp")
        explicit_end = not is_empty(row.get("end_timestamp", ""))
        if explicit_end:
            span = (span[0], self.context.moment(row["end_timestamp"], "end_timestamp"))
        device = row.get("source", "").strip()
        key = row.get("external_id", "").strip() or f"{metric}:{row.get('timestamp', '').strip()}:{device}"
        if metric == "sleep_stage":
            yield from self._sleep_stage(row, span, device)
        elif metric == "workout":
            yield self._workout(row, span, device, key)
        elif metric.startswith("blood_pressure"):
            yield from self._pressure(metric, row, span, device, key, explicit_end)
        else:
            yield self._record(metric, row, span, device, key, explicit_end)

    def finish(self) -> Iterator[Item]:
        yield from self.sleep.flush()

    def _record(
        self, metric: str, row: dict, span: tuple, device: str, key: str, explicit_end: bool
    ) -> RecordIn:
        unit = row.get("unit", "").strip()
        problems = unit_problems(metric, unit)
        if problems:
            raise CellError(problems[0])
        value = self.context.number(row.get("value", ""))
        if value is None:
            raise CellError("the value is empty")
        unit = unit or metrics.get(metric).unit
        return record(metric, value, unit, span, key, explicit_end=explicit_end, device=device)

    def _sleep_stage(self, row: dict, span: tuple, device: str) -> Iterator[Item]:
        stage = row.get("value", "").strip().lower()
        if stage not in metrics.SLEEP_STAGES or span[1] is None:
            raise CellError(
                f"a sleep stage needs an end_timestamp and one of {', '.join(metrics.SLEEP_STAGES)}"
            )
        yield from self.sleep.add(
            source=device, device=device, device_kind="", stage=stage, start=span[0], end=span[1]
        )

    def _workout(self, row: dict, span: tuple, device: str, key: str) -> SessionIn:
        if span[1] is None:
            raise CellError("a workout needs an end_timestamp")
        kind = row.get("value", "").strip().lower()
        activity = kind if kind in metrics.WORKOUT_TYPES else "other"
        return SessionIn(
            kind="workout",
            start=span[0],
            end=span[1],
            source_key=key[:128],
            activity_type=activity,
            device=device,
            metadata={"source_type": kind},
        )

    def _pressure(
        self, metric: str, row: dict, span: tuple, device: str, key: str, explicit_end: bool
    ) -> Iterator[Item]:
        text = row.get("value", "")
        unit = row.get("unit", "").strip() or "mmHg"
        if metric == "blood_pressure":
            value, secondary = self._reading(text, row.get("notes", ""))
            yield record(
                metric,
                value,
                unit,
                span,
                key,
                explicit_end=explicit_end,
                device=device,
                secondary_value=secondary,
            )
            return
        slot = self.pressure.setdefault((row.get("timestamp", "").strip(), device), {})
        slot[metric] = self.context.number(text)
        if len(slot) == 2:
            del self.pressure[(row.get("timestamp", "").strip(), device)]
            yield record(
                "blood_pressure",
                slot["blood_pressure_systolic"],
                unit,
                span,
                key.removesuffix("-sys").removesuffix("-dia"),
                explicit_end=explicit_end,
                device=device,
                secondary_value=slot["blood_pressure_diastolic"],
            )

    def _reading(self, text: str, notes: str) -> tuple[float, float]:
        """`120/80`, or the systolic alone with `diastolic 80` in the notes."""
        note = DIASTOLIC_NOTE.search(notes or "")
        if "/" not in text and note is not None:
            systolic = self.context.number(text)
            if systolic is not None:
                return systolic, float(note.group(1).replace(",", "."))
        return pair(text, self.context)
