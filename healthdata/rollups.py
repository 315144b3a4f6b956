"""Daily rollups: one value per user, metric, local day and source, computed from the records.

Within one source, additive metrics recorded by several devices at once (iPhone and Apple Watch
steps in one Apple Health export) are merged by time segment: every record's amount is spread evenly
over its interval, the day is cut at every record boundary, and each segment takes the amount of the
device that recorded most in it. Overlaps count once, and time only one device covered keeps that
device's amount. docs/merging.md has worked examples.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import fmean

from django.db import connection, transaction
from django.db.models import Avg, Count, F, FloatField, Func, Max, Min, Q, Sum
from django.db.models.functions import TruncHour

from healthdata.metrics import METRICS, Metric
from healthdata.models import DailyRollup, Record
from healthdata.quality import daily_quality

_DAYS_PER_QUERY = 120


@dataclass(slots=True)  # not frozen: built once per record read, and frozen ones cost 4x to build
class Sample:
    start: float  # epoch seconds
    end: float
    device: str
    value: float
    secondary_value: float | None
    quality: int


def refresh(*, user, days: Iterable[tuple[str, date]]) -> int:
    """Recompute the rollups of these (metric, local day) pairs from the records; returns rows written."""
    by_metric: dict[str, set[date]] = defaultdict(set)
    for metric, day in days:
        by_metric[metric].add(day)
    written = 0
    with transaction.atomic():
        for code, metric_days in by_metric.items():
            ordered = sorted(metric_days)
            for first in range(0, len(ordered), _DAYS_PER_QUERY):
                written += _refresh_days(user, METRICS[code], ordered[first : first + _DAYS_PER_QUERY])
    return written


def _refresh_days(user, metric: Metric, days: list[date]) -> int:
    records = _records(user, metric, days)
    groups = list(
        records.values("local_date", "source")
        .annotate(
            total=Sum("value"),
            mean=Avg("value"),
            low=Min("value"),
            high=Max("value"),
            count=Count("id"),
            devices=Count("device", distinct=True),
            secondary=Avg("secondary_value"),
            quality=Avg("quality"),
            hours=Count(TruncHour("start", tzinfo=UTC), distinct=True),
        )
        .order_by()
    )
    values = _group_values(metric, records, groups)
    rollups = [_rollup(user, metric, group, values) for group in groups]
    DailyRollup.objects.for_user(user).filter(metric=metric.code, local_date__in=days).delete()
    DailyRollup.objects.bulk_create(rollups)
    return len(rollups)


def _records(user, metric: Metric, days: list[date]):
    # The time bounds let the (user, metric, start) index narrow the scan; a day's records start at
    # most a day before it (sleep is placed on the day it ends) and at most a day after (offsets).
    return (
        Record.objects.for_user(user)
        .filter(metric=metric.code, local_date__in=days)
        .filter(
            start__gte=_midnight(days[0] - timedelta(days=2)),
            start__lt=_midnight(days[-1] + timedelta(days=2)),
        )
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _group_values(metric: Metric, records, groups: list[dict]) -> dict[tuple[date, str], float]:
    """Each (day, source)'s value; only groups the database cannot finish are read sample by sample."""
    simple = {"sum": "total", "mean": "mean", "min": "low", "max": "high"}
    values = {}
    sampled = []
    for group in groups:
        key = (group["local_date"], group["source"])
        needs_samples = metric.aggregation == "last" or (metric.is_additive and group["devices"] > 1)
        if needs_samples:
            sampled.append(key)
        else:
            values[key] = group[simple[metric.aggregation]]
    for key, samples in _samples(records, sampled).items():
        values[key] = aggregate(metric, samples)
    return values


def _samples(records, keys: list[tuple[date, str]]) -> dict[tuple[date, str], list[Sample]]:
    if not keys:
        return {}
    condition = Q(pk__in=[])
    for day, source in keys:
        condition |= Q(local_date=day, source=source)
    fields = ("device", "value", "secondary_value", "quality")
    groups: dict[tuple[date, str], list[Sample]] = defaultdict(list)
    if connection.vendor == "postgresql":
        # Epoch seconds from the database: loading two timestamps per row costs more than the rest.
        rows = (
            records.filter(condition)
            .annotate(start_s=_epoch("start"), end_s=_epoch("end"))
            .values_list("local_date", "source", "start_s", "end_s", *fields)
        )
        for day, source, *sample in rows.iterator(chunk_size=10_000):
            groups[(day, source)].append(Sample(*sample))
        return groups
    rows = records.filter(condition).values_list("local_date", "source", "start", "end", *fields)
    for day, source, start, end, device, value, secondary, quality in rows.iterator(chunk_size=10_000):
        groups[(day, source)].append(
            Sample(start.timestamp(), end.timestamp(), device, value, secondary, quality)
        )
    return groups


def _epoch(field: str) -> Func:
    return Func(F(field), template="date_part('epoch', %(expressions)s)", output_field=FloatField())


def _rollup(user, metric: Metric, group: dict, values: dict[tuple[date, str], float]) -> DailyRollup:
    day, source = group["local_date"], group["source"]
    others = [value for (other_day, other), value in values.items() if other_day == day and other != source]
    coverage = min(1_440, 60 * group["hours"])
    return DailyRollup(
        user=user,
        metric=metric.code,
        local_date=day,
        source=source,
        value=values[(day, source)],
        secondary_value=group["secondary"],
        minimum=group["low"],
        maximum=group["high"],
        count=group["count"],
        coverage_minutes=coverage,
        quality=daily_quality(metric, group["quality"], coverage, values[(day, source)], others),
    )


def aggregate(metric: Metric, samples: list[Sample]) -> float:
    """One day's value of one source by the metric's aggregation."""
    if metric.aggregation == "sum":
        if len({s.device for s in samples}) > 1:
            return merged_sum(samples)
        return sum(s.value for s in samples)
    if metric.aggregation == "mean":
        return fmean(s.value for s in samples)
    if metric.aggregation == "min":
        return min(s.value for s in samples)
    if metric.aggregation == "max":
        return max(s.value for s in samples)
    return max(samples, key=lambda s: (s.start, s.end)).value


def merged_sum(samples: list[Sample]) -> float:
    """Total of overlapping devices' amounts: each time segment counts the device that recorded most."""
    instants: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    events: list[tuple[float, str, float]] = []
    for sample in samples:
        if sample.end <= sample.start:
            instants[sample.start][sample.device] += sample.value
            continue
        rate = sample.value / (sample.end - sample.start)
        events.append((sample.start, sample.device, rate))
        events.append((sample.end, sample.device, -rate))
    total = sum(max(by_device.values()) for by_device in instants.values())
    return total + _sweep(sorted(events))


def _sweep(events: list[tuple[float, str, float]]) -> float:
    rates: dict[str, float] = defaultdict(float)
    total, previous = 0.0, None
    for moment, device, change in events:
        if previous is not None and moment > previous:
            total += max(0.0, max(rates.values(), default=0.0)) * (moment - previous)
        rates[device] += change
        previous = moment
    return total


def coverage_minutes(samples: list[Sample]) -> int:
    """Hours of the day holding any data, in minutes: the measure of completeness."""
    hours = {int(s.start // 3600) for s in samples}
    return min(1_440, 60 * len(hours))
