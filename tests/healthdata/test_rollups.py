from datetime import UTC, date, datetime, timedelta

import pytest

from healthdata.ingest import ingest
from healthdata.metrics import METRICS
from healthdata.models import DailyRollup
from healthdata.normalized import Origin, RecordIn
from healthdata.rollups import Sample, coverage_minutes, merged_sum

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
    from healthdata import rollups
    from healthdata.models import Record

    ingest(user=user, source="fitbit", records=[steps("f1", 0, 60, 5000, "Charge 6")], origin=IMPORT)
    Record.objects.for_user(user).delete()
    rollups.refresh(user=user, days={("steps", date(2025, 1, 14))})

    assert not DailyRollup.objects.exists()
