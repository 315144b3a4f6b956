import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection

from healthdata import rollups
from healthdata.ingest import ingest
from healthdata.metrics import METRICS
from healthdata.models import DailyRollup, Record
from healthdata.normalized import Origin, RecordIn
from healthdata.rollups import Sample, aggregate, coverage_minutes, merged_sum
from tests.factories import RecordFactory

T0 = datetime(2025, 1, 14, 8, 0, tzinfo=UTC)
IMPORT = Origin(kind="import", id=1)


def sample(start_minute, end_minute, device, value):
    start = T0.timestamp() + start_minute * 60
    return Sample(start, T0.timestamp() + end_minute * 60, device, value, None, 80)


def test_overlapping_devices_count_once_and_keep_what_only_one_device_saw():
    phone = sample(0, 10, "iPhone", 600)  # 60 a minute, 08:00-08:10
    watch = sample(5, 15, "Apple Watch", 600)  # 60 a minute, 08:05-08:15

    assert merged_sum([phone, watch]) == pytest.approx(900)


def test_in_each_segment_the_device_that_recorded_most_wins():
    phone = sample(0, 10, "iPhone", 200)
    watch = sample(0, 10, "Apple Watch", 1000)
    phone_alone = sample(30, 40, "iPhone", 500)

    assert merged_sum([phone, watch, phone_alone]) == pytest.approx(1500)


def test_instant_amounts_at_the_same_moment_count_once():
    assert merged_sum([sample(0, 0, "iPhone", 3), sample(0, 0, "Apple Watch", 5)]) == 5


def test_coverage_counts_the_hours_holding_data():
    assert coverage_minutes([sample(0, 1, "a", 1), sample(20, 21, "a", 1), sample(70, 71, "a", 1)]) == 120


def steps(key, start_minute, minutes, value, device):
    start = T0 + timedelta(minutes=start_minute)
    return RecordIn(
        metric="steps", start=start, end=start + timedelta(minutes=minutes), value=value, unit="count",
        source_key=key, device=device,
    )  # fmt: skip


def test_daily_steps_of_phone_and_watch_in_one_export_are_merged_not_doubled(user):
    records = [steps("p1", 0, 10, 600, "iPhone"), steps("w1", 5, 10, 600, "Apple Watch")]
    ingest(user=user, source="apple_health", records=records, origin=IMPORT)

    rollup = DailyRollup.objects.get(user=user, metric="steps")
    assert (rollup.value, rollup.count) == (pytest.approx(900), 2)


def test_each_source_has_its_own_rollup_and_agreement_lowers_quality(user):
    ingest(user=user, source="fitbit", records=[steps("f1", 0, 60, 5000, "Charge 6")], origin=IMPORT)
    ingest(user=user, source="oura", records=[steps("o1", 0, 60, 5100, "Ring")], origin=IMPORT)
    agreeing = DailyRollup.objects.get(user=user, source="fitbit").quality
    ingest(user=user, source="oura", records=[steps("o1", 0, 60, 15000, "Ring")], origin=IMPORT)

    assert DailyRollup.objects.filter(user=user, metric="steps").count() == 2
    assert DailyRollup.objects.get(user=user, source="fitbit").quality < agreeing


def test_last_aggregation_takes_the_latest_reading_of_the_day(user):
    morning = RecordIn(metric="weight", start=T0, value=80.0, unit="kg", source_key="m")
    evening = RecordIn(metric="weight", start=T0 + timedelta(hours=10), value=81.0, unit="kg", source_key="e")
    ingest(user=user, source="withings", records=[evening, morning], origin=IMPORT)

    rollup = DailyRollup.objects.get(user=user, metric="weight")
    assert (rollup.value, rollup.minimum, rollup.maximum) == (81.0, 80.0, 81.0)


def test_mean_aggregation_averages_the_samples(user):
    rates = [
        RecordIn(
            metric="heart_rate", start=T0 + timedelta(minutes=i), value=v, unit="bpm", source_key=f"h{i}"
        )
        for i, v in enumerate((60, 70, 80))
    ]
    ingest(user=user, source="apple_health", records=rates, origin=IMPORT)

    assert DailyRollup.objects.get(user=user, metric="heart_rate").value == 70
    assert METRICS["heart_rate"].aggregation == "mean"


def test_refreshing_a_day_whose_records_are_gone_removes_its_rollup(user):
    ingest(user=user, source="fitbit", records=[steps("f1", 0, 60, 5000, "Charge 6")], origin=IMPORT)
    Record.objects.for_user(user).delete()
    rollups.refresh(user=user, days={("steps", date(2025, 1, 14))})

    assert not DailyRollup.objects.exists()


def test_a_tie_for_the_last_reading_takes_the_larger_value(user):
    day = date(2025, 1, 14)
    RecordFactory(user=user, metric="weight", source="withings", start=T0, end=T0, local_date=day, value=80.5)
    RecordFactory(user=user, metric="weight", source="withings", start=T0, end=T0, local_date=day, value=80.9)
    RecordFactory(user=user, metric="weight", source="withings", start=T0, end=T0, local_date=day, value=80.7)
    rollups.refresh(user=user, days={("weight", day)})

    assert DailyRollup.objects.get(user=user, metric="weight").value == 80.9


needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="computed by PostgreSQL")
D0 = date(2025, 1, 14)
MIDNIGHT = datetime(2025, 1, 15, tzinfo=UTC)


def record(user, metric, device, start, minutes, value, *, source="apple_health", day=D0):
    """A record of `value` over `minutes` from `start` (0 minutes: an instant), placed on `day`."""
    RecordFactory(
        user=user, metric=metric, source=source, device=device, start=start,
        end=start + timedelta(minutes=minutes), local_date=day, value=value,
    )  # fmt: skip


def python_value(user, metric: str, day: date, source: str) -> float:
    """The day's value of one source as the Python reference computes it from the stored records."""
    records = Record.objects.filter(user=user, metric=metric, local_date=day, source=source)
    samples = [
        Sample(r.start.timestamp(), r.end.timestamp(), r.device, r.value, r.secondary_value, r.quality)
        for r in records
    ]
    return aggregate(METRICS[metric], samples)


def assert_rollups_equal_the_python_reference(user, metric: str, days: set[date]) -> None:
    rollups.refresh(user=user, days={(metric, day) for day in days})
    stored = DailyRollup.objects.filter(user=user, metric=metric)
    groups = Record.objects.filter(user=user, metric=metric).values("local_date", "source").distinct()
    assert stored.count() == groups.count()
    for rollup in stored:
        expected = python_value(user, metric, rollup.local_date, rollup.source)
        assert rollup.value == pytest.approx(expected, rel=1e-9), (rollup.local_date, rollup.source)


@needs_postgresql
def test_postgresql_merges_overlapping_devices_as_the_python_sweep_does(user):
    at = T0.replace(hour=8)
    record(user, "steps", "iPhone", at, 10, 600)  # partly under the watch
    record(user, "steps", "Apple Watch", at + timedelta(minutes=5), 10, 900)
    record(user, "steps", "Apple Watch", at + timedelta(minutes=15), 10, 300)  # back to back
    record(user, "steps", "Ring", at + timedelta(minutes=5), 10, 900)  # the watch's interval, the same amount
    record(user, "steps", "Ring", at + timedelta(minutes=5), 10, 100)  # and again on the same device
    record(user, "steps", "iPhone", at + timedelta(minutes=7), 0, 40)  # instants: one inside an interval,
    record(user, "steps", "iPhone", at + timedelta(minutes=7), 0, 15)  # summed on one device,
    record(user, "steps", "Apple Watch", at + timedelta(minutes=7), 0, 50)  # the largest device counts
    record(user, "steps", "Apple Watch", MIDNIGHT - timedelta(minutes=20), 40, 400)  # ends the next day
    record(user, "steps", "iPhone", MIDNIGHT - timedelta(minutes=10), 5, 100)
    record(user, "steps", "Charge 6", at, 60, 5000, source="fitbit")  # one device: summed, never swept
    record(user, "steps", "iPhone", MIDNIGHT + timedelta(hours=9), 30, 700, day=D0 + timedelta(days=1))
    record(user, "steps", "Apple Watch", MIDNIGHT + timedelta(hours=9), 30, 800, day=D0 + timedelta(days=1))

    assert_rollups_equal_the_python_reference(user, "steps", {D0, D0 + timedelta(days=1)})
    # 08:00-08:05 the phone's 300; 08:05-08:15 the ring's 1,000 (100 a minute beats 90 and 60);
    # 08:15-08:25 the watch's 300; at 08:07 the phone's 55 beats the watch's 50; at night the watch's
    # 400, and 50 more where the phone's 20 a minute beats the watch's 10.
    apple = DailyRollup.objects.get(user=user, metric="steps", source="apple_health", local_date=D0)
    assert apple.value == pytest.approx(300 + 1_000 + 300 + 55 + 400 + 50)


@needs_postgresql
def test_postgresql_merges_many_random_overlapping_records_as_the_python_sweep_does(user):
    generator = random.Random(20250114)
    devices = ["iPhone", "Apple Watch", "Ring", ""]
    for _ in range(400):
        day = D0 + timedelta(days=generator.randrange(3))
        start = datetime.combine(day, time(), tzinfo=UTC) + timedelta(
            minutes=generator.randrange(0, 1_500, 5)
        )
        minutes = generator.choice([0, 0, 1, 5, 5, 10, 30, 90])
        source = generator.choice(["apple_health", "apple_health", "apple_health", "fitbit"])
        device = generator.choice(devices if source == "apple_health" else devices[:2])
        record(user, "steps", device, start, minutes, generator.randrange(0, 2_000), source=source, day=day)

    assert_rollups_equal_the_python_reference(user, "steps", {D0 + timedelta(days=n) for n in range(3)})


@needs_postgresql
def test_postgresql_takes_the_last_reading_as_python_does_ties_included(user):
    at = T0.replace(hour=7)
    record(user, "weight", "Health Mate", at, 0, 81.0)
    record(user, "weight", "Health Mate", at + timedelta(hours=12), 0, 80.2)  # the latest moment, tied:
    record(user, "weight", "iPhone", at + timedelta(hours=12), 0, 80.4)  # the larger value wins
    record(user, "weight", "iPhone", at + timedelta(hours=2), 0, 90.0)
    next_day = D0 + timedelta(days=1)
    record(user, "weight", "iPhone", at + timedelta(days=1), 30, 79.0, day=next_day)  # same start, later end
    record(user, "weight", "Health Mate", at + timedelta(days=1), 0, 85.0, day=next_day)
    record(user, "weight", "Health Mate", at, 0, 70.0, source="withings")

    assert_rollups_equal_the_python_reference(user, "weight", {D0, next_day})
    apple = DailyRollup.objects.filter(user=user, metric="weight", source="apple_health")
    values = dict(apple.values_list("local_date", "value"))
    assert values == {D0: 80.4, next_day: 79.0}
