"""Plausible demo data: about two months from an Apple Health export, an Oura ring and a Withings scale.

Every value derives from its day alone (a random generator seeded by the date), so seeding again
re-ingests identical records and changes nothing.
"""

import math
import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from healthdata.ingest import IngestResult, ingest
from healthdata.normalized import Origin, RecordIn, SessionIn, StageIn

DEMO_ORIGIN = Origin(kind="import")


def seed(user, *, days: int = 60, today: date | None = None) -> IngestResult:
    """Ingest `days` days of demo data up to yesterday for `user`."""
    zone = user.zone
    today = today or datetime.now(zone).date()
    result = IngestResult()
    for source, generate in (("apple_health", _apple_day), ("oura", _oura_day), ("withings", _withings_day)):
        records = [
            item for offset in range(days, 0, -1) for item in generate(today - timedelta(days=offset), zone)
        ]
        result.add(ingest(user=user, source=source, records=records, origin=DEMO_ORIGIN))
    return result


def _rng(day: date, source: str) -> random.Random:
    return random.Random(f"{source}:{day.isoformat()}")  # noqa: S311 - demo values, not secrets


def _at(day: date, zone: ZoneInfo, hour: float) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone) + timedelta(hours=hour)


def _apple_day(day: date, zone: ZoneInfo) -> Iterator[RecordIn]:
    """Steps from an iPhone and an Apple Watch that overlap, and heart rate from the watch."""
    rng = _rng(day, "apple_health")
    active = 1.3 if day.weekday() >= 5 else 1.0
    for hour in range(7, 23):
        start = _at(day, zone, hour + rng.random() * 0.3)
        watch_steps = max(0, rng.gauss(520 * active, 220))
        yield _steps(start, 40, watch_steps, "Apple Watch", "watch")
        if rng.random() < 0.6:  # the phone is carried most of the time and sees a little less
            yield _steps(
                start + timedelta(minutes=5), 30, watch_steps * rng.uniform(0.6, 0.9), "iPhone", "phone"
            )
    for minute in range(0, 24 * 60, 10):
        asleep = minute < 7 * 60 or minute >= 23 * 60
        rate = rng.gauss(56 if asleep else 74, 5)
        yield RecordIn(
            metric="heart_rate", start=_at(day, zone, minute / 60), value=round(rate), unit="count/min",
            device="Apple Watch", device_kind="watch",
        )  # fmt: skip


def _steps(start: datetime, minutes: int, value: float, device: str, kind: str) -> RecordIn:
    return RecordIn(
        metric="steps", start=start, end=start + timedelta(minutes=minutes), value=round(value), unit="count",
        device=device, device_kind=kind,
    )  # fmt: skip


def _oura_day(day: date, zone: ZoneInfo) -> Iterator[RecordIn | SessionIn]:
    """Last night's sleep with stages, the readiness score and resting heart rate."""
    rng = _rng(day, "oura")
    bedtime = _at(day - timedelta(days=1), zone, 22.5 + rng.random() * 1.5)
    stages, moment = [], bedtime
    for _cycle in range(5):
        for stage, minutes in (("light", 35), ("deep", 20), ("light", 15), ("rem", 18), ("awake", 4)):
            length = timedelta(minutes=max(2, rng.gauss(minutes, minutes / 4)))
            stages.append(StageIn(stage, moment, moment + length))
            moment += length
    yield SessionIn(
        kind="sleep", start=bedtime, end=moment, source_key=f"sleep-{day.isoformat()}", stages=tuple(stages),
        device="Oura Ring", device_kind="ring", values={"sleep_score": (rng.randint(65, 92), "score")},
    )  # fmt: skip
    morning = _at(day, zone, 8)
    yield RecordIn(
        metric="readiness_score", start=morning, value=rng.randint(60, 95), unit="score", device_kind="ring"
    )
    yield RecordIn(
        metric="resting_heart_rate", start=morning, value=rng.randint(50, 60), unit="bpm", device_kind="ring"
    )
    yield RecordIn(
        metric="hrv_rmssd", start=morning, value=round(rng.gauss(48, 8), 1), unit="ms", device_kind="ring"
    )


def _withings_day(day: date, zone: ZoneInfo) -> Iterator[RecordIn]:
    """A morning weigh-in most days and a blood-pressure reading twice a week."""
    rng = _rng(day, "withings")
    morning = _at(day, zone, 7 + rng.random() * 0.5)
    if rng.random() < 0.8:
        weight = 74.0 + 0.8 * math.sin(day.toordinal() / 15) + rng.gauss(0, 0.3)
        yield RecordIn(metric="weight", start=morning, value=round(weight, 2), unit="kg", device="Body+",
                       device_kind="scale")  # fmt: skip
        yield RecordIn(metric="body_fat", start=morning, value=round(rng.gauss(21, 0.4), 1), unit="%",
                       device="Body+", device_kind="scale")  # fmt: skip
    if day.weekday() in (0, 3):
        yield RecordIn(
            metric="blood_pressure", start=morning + timedelta(minutes=10), value=rng.randint(112, 128),
            secondary_value=rng.randint(70, 82), unit="mmHg", device="BPM Connect", device_kind="cuff",
        )  # fmt: skip
