"""Grouping sleep-stage intervals, streamed one by one, into sleep sessions per source."""

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta

from healthdata.normalized import SessionIn, StageIn

SESSION_GAP = timedelta(hours=2)


class SleepGrouper:
    """Stages of one source belong to one session until a gap of more than two hours."""

    def __init__(self, source_key_prefix: str) -> None:
        self.prefix = source_key_prefix
        self.open: dict[tuple[str, str], dict] = {}

    def add(
        self, *, source: str, device: str, device_kind: str, stage: str, start: datetime, end: datetime
    ) -> Iterator[SessionIn]:
        """Add one stage; yield the previous session of this source if the stage starts a new one."""
        key = (source, device)
        current = self.open.get(key)
        if current is not None and start - current["end"] > SESSION_GAP:
            yield self._close(key)
            current = None
        if current is None:
            current = {"start": start, "end": end, "stages": [], "device_kind": device_kind}
            self.open[key] = current
        current["stages"].append(StageIn(stage=stage, start=start, end=end))
        current["start"] = min(current["start"], start)
        current["end"] = max(current["end"], end)

    def flush(self) -> Iterator[SessionIn]:
        """Yield every session still open, at the end of the file."""
        for key in sorted(self.open):
            yield self._close(key)

    def _close(self, key: tuple[str, str]) -> SessionIn:
        group = self.open.pop(key)
        source, device = key
        stages = tuple(sorted(group["stages"], key=lambda stage: stage.start))
        return SessionIn(
            kind="sleep",
            start=group["start"],
            end=group["end"],
            source_key=f"{self.prefix}:sleep:{_source_id(source, device)}:{group['start'].isoformat()}",
            device=device,
            device_kind=group["device_kind"],
            stages=stages,
            values=_stage_minutes(stages),
        )


def _source_id(source: str, device: str) -> str:
    return hashlib.blake2b(f"{source}\x1f{device}".encode(), digest_size=8).hexdigest()


def _stage_minutes(stages: tuple[StageIn, ...]) -> dict[str, tuple[float, str]]:
    minutes: dict[str, float] = {}
    for stage in stages:
        minutes[stage.stage] = minutes.get(stage.stage, 0.0) + (stage.end - stage.start).total_seconds() / 60
    values = {
        f"sleep_{name}": (round(total, 2), "min") for name, total in minutes.items() if name in STAGE_METRICS
    }
    asleep = sum(total for name, total in minutes.items() if name in ASLEEP_STAGES)
    if asleep:
        values["time_asleep"] = (round(asleep, 2), "min")
    if "in_bed" in minutes:
        values["time_in_bed"] = (round(minutes["in_bed"], 2), "min")
    return values


STAGE_METRICS = {"awake", "light", "deep", "rem"}
ASLEEP_STAGES = {"light", "deep", "rem", "asleep"}
