"""Health data for page tests, written through the real ingestion."""

from datetime import date, datetime, time, timedelta

from healthdata.ingest import ingest
from healthdata.normalized import Origin, RecordIn

SYNC = Origin(kind="sync", id=1)


def local_today(user) -> date:
    return datetime.now(user.zone).date()


def hourly_steps(user, source: str, day: date, hours: int = 12, per_hour: float = 500) -> list[RecordIn]:
    start = datetime.combine(day, time(7), tzinfo=user.zone)
    return [
        RecordIn(
            metric="steps",
            start=start + timedelta(hours=hour),
            end=start + timedelta(hours=hour, minutes=50),
            value=per_hour,
            unit="count",
            source_key=f"{source}-steps-{day}-{hour}",
        )
        for hour in range(hours)
    ]


def daily_reading(user, source: str, metric: str, unit: str, day: date, value: float) -> RecordIn:
    moment = datetime.combine(day, time(8), tzinfo=user.zone)
    return RecordIn(
        metric=metric, start=moment, end=moment, value=value, unit=unit, source_key=f"{source}-{metric}-{day}"
    )


def seed(user, *, days: int, sources: tuple[str, ...] = ("fitbit", "apple_health"), hours: int = 12) -> None:
    """`days` days ending today of steps, resting heart rate and weight from each source."""
    today = local_today(user)
    for source in sources:
        records = []
        for offset in range(days):
            day = today - timedelta(days=offset)
            per_hour = 500 if source == "fitbit" else 700
            records += hourly_steps(user, source, day, hours, per_hour)
            records.append(daily_reading(user, source, "resting_heart_rate", "/min", day, 55 + offset % 5))
            records.append(daily_reading(user, source, "weight", "kg", day, 75 + (offset % 3) / 10))
        ingest(user=user, source=source, records=records, origin=SYNC)
