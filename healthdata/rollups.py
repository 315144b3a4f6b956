"""Daily rollups: one value per user, metric, local day and source, computed from the records.

Within one source, additive metrics recorded by several devices at once (iPhone and Apple Watch
steps in one Apple Health export) are merged by time segment: every record's amount is spread evenly
over its interval, the day is cut at every record boundary, and each segment takes the amount of the
device that recorded most in it. Overlaps count once, and time only one device covered keeps that
device's amount. On PostgreSQL that merge and the "last" reading are computed by the database;
`merged_sum` and `aggregate`, which SQLite uses, are the reference they are tested against.
docs/merging.md has worked examples.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import fmean

from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

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
    values = _group_values(user, metric, records, groups)
    rows = [_rollup_row(user, metric, group, values[group["local_date"]]) for group in groups]
    DailyRollup.objects.for_user(user).filter(metric=metric.code, local_date__in=days).delete()
    _insert(rows)
    return len(rows)


def _records(user, metric: Metric, days: list[date]):
    after, before = _start_bounds(days)
    return (
        Record.objects.for_user(user)
        .filter(metric=metric.code, local_date__in=days)
        .filter(start__gte=after, start__lt=before)
    )


def _start_bounds(days: list[date]) -> tuple[datetime, datetime]:
    # The time bounds let the (user, metric, start) index narrow the scan; a day's records start at
    # most a day before it (sleep is placed on the day it ends) and at most a day after (offsets).
    return _midnight(days[0] - timedelta(days=2)), _midnight(days[-1] + timedelta(days=2))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _group_values(user, metric: Metric, records, groups: list[dict]) -> dict[date, dict[str, float]]:
    """Each day's value of each source; groups one aggregate cannot finish get a second query."""
    simple = {"sum": "total", "mean": "mean", "min": "low", "max": "high"}
    values: dict[date, dict[str, float]] = defaultdict(dict)
    unfinished = []
    for group in groups:
        if metric.aggregation == "last" or (metric.is_additive and group["devices"] > 1):
            unfinished.append(group)
        else:
            values[group["local_date"]][group["source"]] = group[simple[metric.aggregation]]
    if unfinished:
        for (day, source), value in _finished_values(user, metric, records, unfinished).items():
            values[day][source] = value
    return values


def _finished_values(user, metric: Metric, records, groups: list[dict]) -> dict[tuple[date, str], float]:
    """The values one aggregate cannot give: several devices' merged sums, the "last" readings."""
    keys = [(group["local_date"], group["source"]) for group in groups]
    if connection.vendor != "postgresql":
        return {key: aggregate(metric, samples) for key, samples in _samples(records, keys).items()}
    if metric.aggregation == "last":
        return _latest_in_database(records)
    return _merged_in_database(user, metric, keys, max(group["devices"] for group in groups))


def _samples(records, keys: list[tuple[date, str]]) -> dict[tuple[date, str], list[Sample]]:
    condition = Q(pk__in=[])
    for day, source in keys:
        condition |= Q(local_date=day, source=source)
    fields = ("local_date", "source", "start", "end", "device", "value", "secondary_value", "quality")
    groups: dict[tuple[date, str], list[Sample]] = defaultdict(list)
    for day, source, start, end, device, value, secondary, quality in (
        records.filter(condition).values_list(*fields).iterator(chunk_size=10_000)
    ):
        groups[(day, source)].append(
            Sample(start.timestamp(), end.timestamp(), device, value, secondary, quality)
        )
    return groups


def _latest_in_database(records) -> dict[tuple[date, str], float]:
    """The "last" value of every (day, source) group: the reading `aggregate` picks, in one query."""
    latest = (
        records.order_by("local_date", "source", "-start", "-end", "-value")
        .distinct("local_date", "source")
        .values_list("local_date", "source", "value")
    )
    return {(day, source): value for day, source, value in latest}


def _merged_in_database(
    user, metric: Metric, keys: list[tuple[date, str]], devices: int
) -> dict[tuple[date, str], float]:
    """`merged_sum` of each (day, source) group, computed by PostgreSQL: no record is read here.

    Each interval becomes two rate changes. A window in time order keeps a running rate per device
    (numbered within its group, at most `devices` of them), and each change counts the highest rate
    until the next one. With a ROWS frame the changes of one moment see partial sums, but only the
    last of them, whose sums are complete, lasts until a later moment; the others last zero seconds.
    Instants are summed per device and moment, and the largest counts. Other sources' groups on the
    same days are computed and dropped: filtering on days and sources keeps the plan a scan, where
    a join on (day, source) pairs was planned as a nested loop when statistics lag behind an import.
    """
    days = sorted({day for day, _ in keys})
    sources = sorted({source for _, source in keys})
    where = (
        "user_id = %s AND metric = %s AND start >= %s AND start < %s"
        " AND local_date = ANY(%s) AND source = ANY(%s)"
    )
    parameters = [user.pk, metric.code, *_start_bounds(days), days, sources]
    rates = ", ".join(
        f"sum(change) FILTER (WHERE device_rank = {rank}) OVER moments" for rank in range(1, devices + 1)
    )
    table = Record._meta.db_table
    sql = f"""
        SELECT local_date, source, sum(amount) FROM (
            SELECT local_date, source, (lead(moment) OVER moments - moment) * greatest(0, {rates}) AS amount
            FROM (
                SELECT local_date, source, value,
                    date_part('epoch', start) AS opened, date_part('epoch', "end") AS closed,
                    dense_rank() OVER (PARTITION BY local_date, source ORDER BY device COLLATE "C")
                        AS device_rank
                FROM {table}
                WHERE {where} AND "end" > start
            ) AS intervals,
            LATERAL (VALUES (opened, value / (closed - opened)), (closed, -value / (closed - opened)))
                AS changes (moment, change)
            WINDOW moments AS (PARTITION BY local_date, source ORDER BY moment ROWS UNBOUNDED PRECEDING)
            UNION ALL
            SELECT local_date, source, max(amount) FROM (
                SELECT local_date, source, start, sum(value) AS amount
                FROM {table}
                WHERE {where} AND "end" <= start
                GROUP BY local_date, source, start, device
            ) AS instants
            GROUP BY local_date, source, start
        ) AS amounts
        GROUP BY local_date, source
    """  # noqa: S608 # nosec B608 - the table and the number of devices come from code, every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters * 2)
        wanted = set(keys)
        return {(day, source): total for day, source, total in cursor.fetchall() if (day, source) in wanted}


# The columns `_insert` writes, in the order of `_rollup_row`'s values, `updated` last.
_INSERTED = (
    "user_id", "metric", "local_date", "source", "value", "secondary_value", "minimum", "maximum", "count",
    "coverage_minutes", "quality", "updated",
)  # fmt: skip


def _rollup_row(user, metric: Metric, group: dict, day_values: dict[str, float]) -> tuple:
    source, value = group["source"], day_values[group["source"]]
    others = [other_value for other, other_value in day_values.items() if other != source]
    coverage = min(1_440, 60 * group["hours"])
    quality = daily_quality(metric, group["quality"], coverage, value, others)
    return (
        user.pk, metric.code, group["local_date"], source, value, group["secondary"], group["low"],
        group["high"], group["count"], coverage, quality,
    )  # fmt: skip


def _insert(rows: list[tuple]) -> None:
    """Insert rollup rows in one statement, not through model instances: COPY on PostgreSQL.

    A refresh writes a row per metric, day and source: an import of years writes tens of thousands,
    and building and saving each as a model instance cost more than computing it.
    """
    if not rows:
        return
    operations = connection.ops
    now = timezone.now()
    table = operations.quote_name(DailyRollup._meta.db_table)
    columns = ", ".join(operations.quote_name(name) for name in _INSERTED)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Through psycopg's own cursor: COPY is not a statement Django's cursor runs.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, now))
            return
        day, updated = _INSERTED.index("local_date"), operations.adapt_datetimefield_value(now)
        placeholders = ", ".join(["%s"] * len(_INSERTED))
        adapted = [
            (*row[:day], operations.adapt_datefield_value(row[day]), *row[day + 1 :], updated) for row in rows
        ]
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608 # nosec B608 - model identifiers
            adapted,
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
    return max(samples, key=lambda s: (s.start, s.end, s.value)).value  # a tie takes the larger value


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
