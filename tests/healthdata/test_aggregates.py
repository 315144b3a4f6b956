from datetime import UTC, datetime, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from healthdata.aggregates import _sub_day, aggregate
from healthdata.ingest import ingest
from healthdata.metrics import METRICS
from healthdata.models import Record
from healthdata.normalized import Origin, RecordIn

SYNC = Origin(kind="sync", id=1)
PARIS = ZoneInfo("Europe/Paris")


def readings(user, source, minutes_and_rates):
    records = [
        RecordIn(
            metric="heart_rate",
            start=datetime(2025, 1, 14, 8, minute, tzinfo=UTC),
            value=rate,
            unit="bpm",
            source_key=f"{source}{minute}",
        )
        for minute, rate in minutes_and_rates
    ]
    ingest(user=user, source=source, records=records, origin=SYNC)


def test_five_minute_buckets_of_one_source_start_in_the_asked_zone_and_average_their_readings(user):
    readings(user, "oura", [(0, 50), (2, 61), (4, 72), (7, 80)])
    start = datetime(2025, 1, 14, 9, 0, tzinfo=PARIS)

    series = aggregate(user, METRICS["heart_rate"], "5min", start, start + timedelta(hours=1), PARIS, "oura")

    assert [(b.start.isoformat(), b.value, b.sources, b.count) for b in series.buckets] == [
        ("2025-01-14T09:00:00+01:00", 61, ["oura"], 3),
        ("2025-01-14T09:05:00+01:00", 80, ["oura"], 1),
    ]
    qualities = list(Record.objects.filter(start__minute__lt=5).values_list("quality", flat=True))
    assert series.buckets[0].quality == round(fmean(qualities))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binned in PostgreSQL")
def test_a_bucket_read_from_two_sources_names_both_in_order_and_averages_all_readings(user):
    readings(user, "oura", [(0, 50), (1, 52)])
    readings(user, "fitbit", [(2, 70)])
    start = datetime(2025, 1, 14, 8, 0, tzinfo=UTC)
    width, end = timedelta(minutes=5), start + timedelta(hours=1)

    buckets = _sub_day(user, METRICS["heart_rate"], width, start, end, UTC, {"oura": [], "fitbit": []})

    assert [(b.start, b.value, b.sources, b.count) for b in buckets] == [
        (start, round(fmean([50, 52, 70]), 4), ["fitbit", "oura"], 3)
    ]
