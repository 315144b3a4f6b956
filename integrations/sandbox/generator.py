"""Deterministic, plausible health data for any sandbox account and any day.

Everything is seeded by (provider, account, local day), so the same day always yields the same values
whichever window a request asks for, and tests can compute exact counts. Only finished local days
(before today in the account's time zone, on the sandbox clock) have data.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from integrations.sandbox import state

UTC = ZoneInfo("UTC")
SPORTS = ("running", "cycling", "walking", "strength", "yoga", "swimming", "hiking")


@dataclass(frozen=True)
class Stage:
    kind: str  # awake | light | deep | rem
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Sleep:
    start: datetime  # local, aware
    end: datetime
    stages: tuple[Stage, ...]
    latency_seconds: int
    average_heart_rate: float
    lowest_heart_rate: int
    average_hrv: int  # RMSSD, ms
    respiratory_rate: float
    score: int

    def seconds_in(self, kind: str) -> int:
        return sum(int((s.end - s.start).total_seconds()) for s in self.stages if s.kind == kind)

    @property
    def in_bed_seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def asleep_seconds(self) -> int:
        return self.in_bed_seconds - self.seconds_in("awake")


@dataclass(frozen=True)
class Workout:
    index: int  # 0 or 1 within the day
    sport: str
    start: datetime  # local, aware
    end: datetime
    distance_m: float
    kcal: float
    average_heart_rate: int
    max_heart_rate: int
    elevation_gain_m: float

    @property
    def duration_seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True)
class WeighIn:
    at: datetime  # local, aware
    weight_kg: float
    fat_percent: float


@dataclass(frozen=True)
class BloodPressure:
    at: datetime
    systolic: int
    diastolic: int
    pulse: int


@dataclass(frozen=True)
class Day:
    """One local day of one account: daily totals, the night that ended this morning, workouts."""

    provider: str
    account: str
    day: date
    zone: ZoneInfo
    steps: int
    distance_m: float
    floors: int
    active_kcal: float
    total_kcal: float
    resting_heart_rate: int
    heart_rate_min: int
    heart_rate_max: int
    heart_rate_average: int
    hrv_rmssd: int
    spo2_percent: float
    respiratory_rate: float
    temperature_deviation: float
    readiness_score: int
    activity_score: int
    strain: float
    sleep: Sleep
    workouts: tuple[Workout, ...]
    weigh_in: WeighIn | None
    blood_pressure: BloodPressure | None

    @property
    def start(self) -> datetime:
        return local_midnight(self.day, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.day + timedelta(days=1), self.zone)

    def at(self, hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
        return datetime.combine(self.day, time(hours, minutes, seconds), self.zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def seeded(*parts: object) -> random.Random:
    """A random generator whose sequence depends only on `parts`."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - plausible data, not secrets


def stable_int(*parts: object, digits: int = 9) -> int:
    """A stable positive integer id with exactly `digits` digits."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    low = 10 ** (digits - 1)
    return low + int.from_bytes(digest[:8], "big") % (9 * low)


def stable_uuid(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def today(zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(state.now(), zone).date()


def has_data(day: date, zone: ZoneInfo) -> bool:
    return day < today(zone)


def days(provider: str, account: str, first: date, last: date) -> Iterator[Day]:
    """Every finished day from `first` to `last` inclusive."""
    zone = state.account_zone(provider, account)
    current = first
    while current <= last:
        if has_data(current, zone):
            yield day(provider, account, current, zone.key)
        current += timedelta(days=1)


@lru_cache(maxsize=8192)
def day(provider: str, account: str, on: date, zone_name: str) -> Day:
    zone = ZoneInfo(zone_name)
    rng = seeded(provider, account, on.isoformat())
    steps = rng.randint(3500, 16000)
    active_kcal = round(steps * rng.uniform(0.035, 0.05), 1)
    resting = rng.randint(48, 62)
    hrv = rng.randint(28, 82)
    return Day(
        provider=provider,
        account=account,
        day=on,
        zone=zone,
        steps=steps,
        distance_m=round(steps * rng.uniform(0.68, 0.8), 1),
        floors=rng.randint(0, 25),
        active_kcal=active_kcal,
        total_kcal=round(active_kcal + rng.uniform(1550, 1850), 1),
        resting_heart_rate=resting,
        heart_rate_min=resting - rng.randint(2, 6),
        heart_rate_max=rng.randint(130, 182),
        heart_rate_average=resting + rng.randint(12, 24),
        hrv_rmssd=hrv,
        spo2_percent=round(rng.uniform(94.5, 98.9), 1),
        respiratory_rate=round(rng.uniform(12.5, 17.5), 1),
        temperature_deviation=round(rng.uniform(-0.6, 0.6), 2),
        readiness_score=rng.randint(55, 96),
        activity_score=rng.randint(50, 98),
        strain=round(rng.uniform(4.0, 18.5), 1),
        sleep=_sleep(rng, on, zone, resting, hrv),
        workouts=_workouts(rng, on, zone),
        weigh_in=_weigh_in(rng, on, zone),
        blood_pressure=_blood_pressure(rng, on, zone),
    )


def _sleep(rng: random.Random, on: date, zone: ZoneInfo, resting: int, hrv: int) -> Sleep:
    """The night ending on the morning of `on`: in bed 22:15-00:15, stages in 30-minute blocks."""
    bedtime = datetime.combine(on - timedelta(days=1), time(22, 15), zone) + timedelta(
        minutes=rng.randint(0, 120)
    )
    start_utc = bedtime.astimezone(UTC)
    latency = rng.randint(4, 25) * 60
    stages = [Stage("awake", start_utc, start_utc + timedelta(seconds=latency))]
    cursor = stages[-1].end
    cycle = ("light", "deep", "light", "rem")
    for block in range(rng.randint(13, 17)):
        kind = "awake" if rng.random() < 0.06 else cycle[block % 4]
        length = timedelta(minutes=rng.randint(18, 34))
        stages.append(Stage(kind, cursor, cursor + length))
        cursor += length
    stages = [Stage(s.kind, s.start.astimezone(zone), s.end.astimezone(zone)) for s in stages]
    return Sleep(
        start=bedtime,
        end=cursor.astimezone(zone),
        stages=tuple(stages),
        latency_seconds=latency,
        average_heart_rate=round(resting + rng.uniform(1, 5), 1),
        lowest_heart_rate=resting - rng.randint(1, 4),
        average_hrv=hrv,
        respiratory_rate=round(rng.uniform(12.5, 16.5), 1),
        score=rng.randint(55, 95),
    )


def _workouts(rng: random.Random, on: date, zone: ZoneInfo) -> tuple[Workout, ...]:
    count = rng.choices((0, 1, 2), weights=(40, 50, 10))[0]
    workouts = []
    for index in range(count):
        sport = rng.choice(SPORTS)
        start = datetime.combine(on, time(7 + index * 10, rng.randint(0, 59), rng.randint(0, 59)), zone)
        minutes = rng.randint(25, 95)
        moves = sport in {"running", "cycling", "walking", "hiking", "swimming"}
        speed = {"running": 2.9, "cycling": 7.0, "walking": 1.4, "hiking": 1.2, "swimming": 0.6}.get(sport, 0)
        workouts.append(
            Workout(
                index=index,
                sport=sport,
                start=start,
                end=start + timedelta(minutes=minutes),
                distance_m=round(minutes * 60 * speed * rng.uniform(0.85, 1.15), 1) if moves else 0.0,
                kcal=round(minutes * rng.uniform(6.0, 11.5), 1),
                average_heart_rate=rng.randint(105, 158),
                max_heart_rate=rng.randint(160, 188),
                elevation_gain_m=round(rng.uniform(0, 180), 1) if moves else 0.0,
            )
        )
    return tuple(workouts)


def _weigh_in(rng: random.Random, on: date, zone: ZoneInfo) -> WeighIn | None:
    if rng.random() >= 0.6:
        return None
    at = datetime.combine(on, time(6, rng.randint(30, 59), rng.randint(0, 59)), zone)
    return WeighIn(
        at=at, weight_kg=round(rng.uniform(72.0, 76.0), 2), fat_percent=round(rng.uniform(17, 21), 1)
    )


def _blood_pressure(rng: random.Random, on: date, zone: ZoneInfo) -> BloodPressure | None:
    if rng.random() >= 0.3:
        return None
    at = datetime.combine(on, time(20, rng.randint(0, 59), rng.randint(0, 59)), zone)
    return BloodPressure(
        at=at, systolic=rng.randint(108, 135), diastolic=rng.randint(68, 88), pulse=rng.randint(55, 80)
    )


def heart_samples(d: Day, step_seconds: int = 300) -> list[tuple[datetime, int]]:
    """Heart rate every `step_seconds` over the local day (UTC instants)."""
    start, end = d.start.astimezone(UTC), d.end.astimezone(UTC)
    rng = seeded(d.provider, d.account, d.day.isoformat(), "heart")
    samples, cursor = [], start
    while cursor < end:
        samples.append((cursor, d.resting_heart_rate + rng.randint(0, 30)))
        cursor += timedelta(seconds=step_seconds)
    return samples


def step_intervals(d: Day) -> list[tuple[datetime, datetime, int]]:
    """The day's steps in 60 quarter-hours from 07:00 local (UTC instants); they add up to `steps`."""
    rng = seeded(d.provider, d.account, d.day.isoformat(), "steps")
    weights = [rng.randint(1, 20) for _ in range(60)]
    shares = [d.steps * w // sum(weights) for w in weights]
    shares[-1] += d.steps - sum(shares)
    first = d.at(7).astimezone(UTC)
    quarter = timedelta(minutes=15)
    return [(first + quarter * i, first + quarter * (i + 1), shares[i]) for i in range(60)]
