"""Bucketed series and daily summaries: what the aggregate API and the dashboards read.

Day, week and month buckets read the daily rollups and take each day's resolved source (or the one
source asked for). Sub-day buckets read the records of each day's winning source; additive metrics
are split across buckets in proportion to time and merged across devices like the rollups.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Q

from healthdata.metrics import METRICS, Metric
from healthdata.models import DailyRollup, Record
from healthdata.resolution import Resolved, candidate, choose, resolve
from healthdata.rollups import Sample, merged_sum
from preferences.order import all_orders

DAY_BUCKETS = ("day", "week", "month")
SUB_DAY_BUCKETS = {"5min": timedelta(minutes=5), "15min": timedelta(minutes=15), "hour": timedelta(hours=1)}
BUCKETS = (*SUB_DAY_BUCKETS, *DAY_BUCKETS)
MAX_BUCKETS = 2_000


class TooManyBuckets(ValueError):
    pass


@dataclass
class Bucket:
    start: datetime | date
    value: float
    secondary_value: float | None
    sources: list[str]
    quality: int
    count: int


@dataclass
class Series:
    metric: Metric
    bucket: str
    timezone: str
    buckets: list[Bucket] = field(default_factory=list)
    days: dict[date, Resolved] = field(default_factory=dict)  # each local day's source, and why


def aggregate(
    user, metric: Metric, bucket: str, start: datetime, end: datetime, zone: ZoneInfo, source: str = ""
) -> Series:
    """`metric` over [start, end) in buckets of `bucket`, in time zone `zone`."""
    series = Series(metric=metric, bucket=bucket, timezone=zone.key)
    first, last = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
    if bucket in DAY_BUCKETS:
        series.days = _daily(user, metric, first, last, source)
        series.buckets = _by_days(bucket, metric, series.days)
        return series
    if (end - start) / SUB_DAY_BUCKETS[bucket] > MAX_BUCKETS:
        raise TooManyBuckets(f"More than {MAX_BUCKETS} buckets; ask for a shorter range or a wider bucket.")
    # A record's local day may differ from its day in `zone` (its own offset): resolve a day around.
    around = _daily(user, metric, first - timedelta(days=1), last + timedelta(days=1), source)
    series.days = {day: resolved for day, resolved in around.items() if first <= day <= last}
    winners = {source: []} if source else _days_by_source(around)
    series.buckets = _sub_day(user, metric, SUB_DAY_BUCKETS[bucket], start, end, zone, winners)
    for item in series.buckets:
        item.start = item.start.astimezone(zone)
    return series


def _daily(user, metric: Metric, first: date, last: date, source: str) -> dict[date, Resolved]:
    """Each day's resolved value, or the one source asked for (its only candidate)."""
    if not source:
        return resolve(user, metric, first, last)
    rollups = (
        DailyRollup.objects.for_user(user)
        .filter(metric=metric.code, source=source)
        .on_days(first, last)
        .order_by("local_date")
        .values_list("local_date", "value", "secondary_value", "coverage_minutes", "quality")
    )
    days = {}
    for day, value, secondary, coverage, quality in rollups:
        only = candidate(metric, [source], source, value, secondary, coverage, quality)
        days[day] = Resolved(metric.code, day, source, value, secondary, quality, "asked_for", (only,))
    return days


def _bucket_day(bucket: str, day: date) -> date:
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _by_days(bucket: str, metric: Metric, days: dict[date, Resolved]) -> list[Bucket]:
    if bucket == "day":
        return [_one_day(day, resolved) for day, resolved in days.items()]
    grouped: dict[date, list[Resolved]] = defaultdict(list)
    for day, resolved in days.items():
        grouped[_bucket_day(bucket, day)].append(resolved)
    return [_combine(metric, start, members) for start, members in sorted(grouped.items())]


def _one_day(day: date, resolved: Resolved) -> Bucket:
    secondary = resolved.secondary_value
    return Bucket(
        start=day,
        value=round(resolved.value, 4),
        secondary_value=None if secondary is None else round(secondary, 4),
        sources=[resolved.source],
        quality=resolved.quality,
        count=1,
    )


def _combine(metric: Metric, start: date, members: list[Resolved]) -> Bucket:
    values = [member.value for member in members]
    secondaries = [member.secondary_value for member in members if member.secondary_value is not None]
    return Bucket(
        start=start,
        value=round(_combined(metric.aggregation, values), 4),
        secondary_value=round(fmean(secondaries), 4) if secondaries else None,
        sources=sorted({member.source for member in members}),
        quality=round(fmean(member.quality for member in members)),
        count=len(members),
    )


def _combined(aggregation: str, values: list[float]) -> float:
    if aggregation == "sum":
        return sum(values)
    if aggregation == "min":
        return min(values)
    if aggregation == "max":
        return max(values)
    if aggregation == "last":
        return values[-1]
    return fmean(values)


def _sub_day(
    user, metric: Metric, width: timedelta, start: datetime, end: datetime, zone: ZoneInfo, winners: dict
) -> list[Bucket]:
    """Buckets from the records of `winners` (source -> its local days; no days: all of that source)."""
    origin = datetime.combine(start.astimezone(zone).date(), time.min, tzinfo=zone)
    if not winners:
        return []
    if connection.vendor == "postgresql" and not metric.is_additive and metric.aggregation != "last":
        return _binned_in_database(user.pk, metric, width, origin, (start, end), winners)
    records = Record.objects.for_user(user).filter(metric=metric.code, start__gte=start, start__lt=end)
    condition = Q(pk__in=[])
    for source, days in winners.items():
        condition |= Q(source=source, local_date__in=days) if days else Q(source=source)
    return _binned_in_python(records.filter(condition), metric, width, origin)


def _days_by_source(days: dict[date, Resolved]) -> dict[str, list[date]]:
    """Each winning source with the local days it won."""
    by_source: dict[str, list[date]] = defaultdict(list)
    for day, resolved in days.items():
        by_source[resolved.source].append(day)
    return dict(by_source)


_DATABASE_AGGREGATES = {"mean": "avg", "min": "min", "max": "max"}


def _binned_in_database(
    user_id: int, metric: Metric, width: timedelta, origin: datetime, span: tuple[datetime, datetime],
    winners: dict[str, list[date]],
) -> list[Bucket]:  # fmt: skip
    # Plain SQL: building this grouped query through the ORM cost more CPU than running it. Rows are
    # grouped on the bucket's timestamp, cheaper to sort and compare than the numeric epoch, which is
    # taken once per bucket; epoch seconds and float averages are cheaper to convert than timestamps
    # and decimals.
    conditions, parameters = [], [width, origin, user_id, metric.code, *span]
    for source, days in winners.items():
        conditions.append("(source = %s AND local_date = ANY(%s))" if days else "source = %s")
        parameters.extend([source, days] if days else [source])
    function = _DATABASE_AGGREGATES[metric.aggregation]
    sql = f"""
        SELECT extract(epoch FROM bucket)::float8, value, secondary_value, quality, count, first, last
        FROM (
            SELECT date_bin(%s, start, %s) AS bucket, {function}(value) AS value,
                avg(secondary_value) AS secondary_value, avg(quality)::float8 AS quality, count(*) AS count,
                min(source) AS first, max(source) AS last
            FROM {Record._meta.db_table}
            WHERE user_id = %s AND metric = %s AND start >= %s AND start < %s AND ({" OR ".join(conditions)})
            GROUP BY bucket
        ) AS binned
        ORDER BY bucket
    """  # noqa: S608 # nosec B608 - the table and the aggregate come from code, every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    return [
        Bucket(
            start=datetime.fromtimestamp(bucket, UTC),
            value=round(value, 4),
            secondary_value=None if secondary is None else round(secondary, 4),
            sources=[first_source] if first_source == last_source else sorted((first_source, last_source)),
            quality=round(quality),
            count=count,
        )
        for bucket, value, secondary, quality, count, first_source, last_source in rows
    ]


def _binned_in_python(records, metric: Metric, width: timedelta, origin: datetime) -> list[Bucket]:
    step, zero = width.total_seconds(), origin.timestamp()
    pieces: dict[int, list[tuple[Sample, str]]] = defaultdict(list)
    fields = ("start", "end", "device", "value", "secondary_value", "quality", "source")
    for start, end, device, value, secondary, quality, source in records.order_by("start").values_list(
        *fields
    ):
        sample = Sample(start.timestamp(), end.timestamp(), device, value, secondary, quality)
        for index, piece in _split(sample, zero, step, metric.is_additive):
            pieces[index].append((piece, source))
    # Bucket starts in UTC: adding hours to a zoned time adds wall-clock time, wrong across a DST change.
    first = origin.astimezone(UTC)
    return [_python_bucket(metric, first + width * index, pieces[index]) for index in sorted(pieces)]


def _split(sample: Sample, zero: float, step: float, is_additive: bool) -> list[tuple[int, Sample]]:
    """The sample's share of each bucket it spans (amounts split by time; readings stay whole)."""
    first = int((sample.start - zero) // step)
    if not is_additive or sample.end <= sample.start:
        return [(first, sample)]
    last = int((sample.end - zero - 1e-9) // step)
    if first == last:
        return [(first, sample)]
    shares = []
    duration = sample.end - sample.start
    for index in range(first, last + 1):
        lower, upper = max(sample.start, zero + index * step), min(sample.end, zero + (index + 1) * step)
        share = sample.value * (upper - lower) / duration
        shares.append((index, Sample(lower, upper, sample.device, share, None, sample.quality)))
    return shares


def _python_bucket(metric: Metric, start: datetime, members: list[tuple[Sample, str]]) -> Bucket:
    samples = [sample for sample, _ in members]
    if metric.is_additive:
        value = merged_sum(samples) if len({s.device for s in samples}) > 1 else sum(s.value for s in samples)
    else:
        value = _combined(metric.aggregation, [s.value for s in sorted(samples, key=lambda s: s.start)])
    secondaries = [s.secondary_value for s in samples if s.secondary_value is not None]
    return Bucket(
        start=start.astimezone(UTC),
        value=round(value, 4),
        secondary_value=round(fmean(secondaries), 4) if secondaries else None,
        sources=sorted({source for _, source in members}),
        quality=round(fmean(s.quality for s in samples)),
        count=len(samples),
    )


def daily_summary(user, day: date) -> dict[str, dict[str, Resolved]]:
    """One local day's resolved value of every metric with data, by category."""
    orders = all_orders(user)
    candidates: dict[str, list] = defaultdict(list)
    rollups = DailyRollup.objects.for_user(user).filter(local_date=day)
    for rollup in rollups:
        candidates[rollup.metric].append(rollup)
    summary: dict[str, dict[str, Resolved]] = defaultdict(dict)
    for code, rows in sorted(candidates.items()):
        metric = METRICS.get(code)
        if metric is None:
            continue
        order = orders[metric.category]
        ranked = [
            candidate(metric, order, r.source, r.value, r.secondary_value, r.coverage_minutes, r.quality)
            for r in rows
        ]
        summary[metric.category][code] = choose(metric, day, ranked)
    return dict(summary)
