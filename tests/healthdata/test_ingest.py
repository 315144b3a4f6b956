from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from healthdata.ingest import ingest
from healthdata.models import DailyRollup, Record, Session
from healthdata.normalized import Origin, RecordIn, SessionIn, StageIn
from healthdata.quality import FLAGS

EST = timezone(timedelta(hours=-5))
T0 = datetime(2025, 1, 14, 7, 58, 40, tzinfo=EST)
IMPORT = Origin(kind="import", id=7)
MANUAL = Origin(kind="manual")


def steps(value=812, key="a1", start=T0, minutes=8, device="iPhone"):
    return RecordIn(
        metric="steps", start=start, end=start + timedelta(minutes=minutes), value=value, unit="count",
        source_key=key, device=device,
    )  # fmt: skip


def test_ingesting_the_same_records_twice_keeps_one_copy_and_counts_unchanged(user):
    first = ingest(
        user=user, source="apple_health", records=[steps(), steps(key="a2", value=5)], origin=IMPORT
    )
    second = ingest(
        user=user, source="apple_health", records=[steps(), steps(key="a2", value=5)], origin=IMPORT
    )

    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert second.days == set()
    assert Record.objects.for_user(user).count() == 2


def test_a_changed_value_under_the_same_key_updates_the_row(user):
    ingest(user=user, source="apple_health", records=[steps(value=812)], origin=IMPORT)
    result = ingest(user=user, source="apple_health", records=[steps(value=900)], origin=IMPORT)

    assert (result.created, result.updated) == (0, 1)
    assert result.by_metric == {"steps": 1}
    assert Record.objects.get(user=user).value == 900


def test_records_without_a_key_get_a_stable_derived_one(user):
    unkeyed = steps(key="")
    ingest(user=user, source="csv", records=[unkeyed], origin=IMPORT)
    result = ingest(user=user, source="csv", records=[unkeyed], origin=IMPORT)

    assert result.unchanged == 1
    assert len(Record.objects.get(user=user).source_key) == 32


def test_a_key_repeated_inside_one_batch_is_written_once(user):
    result = ingest(user=user, source="csv", records=[steps(value=1), steps(value=2)], origin=IMPORT)

    assert (result.created, result.unchanged) == (1, 1)
    assert Record.objects.get(user=user).value == 2


def test_values_are_converted_and_the_original_is_kept(user):
    weight = RecordIn(metric="weight", start=T0, value=162.6, unit="lb", source_key="w1")
    ingest(user=user, source="apple_health", records=[weight], origin=IMPORT)

    record = Record.objects.get(user=user)
    assert record.value == pytest.approx(73.754, rel=1e-4)
    assert record.metadata["original"] == {"value": 162.6, "unit": "lb"}
    assert "converted" in record.flag_names
    assert (record.origin_kind, record.origin_id) == ("import", 7)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (RecordIn(metric="mood", start=T0, value=3, unit="count"), "unknown_metric"),
        (RecordIn(metric="steps", start=T0, value=3, unit="kg"), "unit"),
        (RecordIn(metric="heart_rate", start=T0, value=400, unit="bpm"), "implausible_value"),
        (
            RecordIn(metric="steps", start=T0, end=T0 - timedelta(minutes=1), value=3, unit="count"),
            "end_before_start",
        ),
        (RecordIn(metric="steps", start=datetime(2025, 1, 14, 8), value=3, unit="count"), "naive_datetime"),
        (RecordIn(metric="steps", start=T0, value=float("nan"), unit="count"), "invalid_value"),
    ],
)
def test_invalid_records_are_rejected_with_their_reason_counted(user, record, reason):
    result = ingest(user=user, source="csv", records=[record, steps()], origin=IMPORT)

    assert result.rejected == {reason: 1}
    assert result.created == 1


def test_an_unknown_source_writes_nothing(user):
    result = ingest(user=user, source="myspace", records=[steps()], origin=IMPORT)

    assert result.rejected == {"unknown_source": 1}
    assert not Record.objects.exists()


def test_a_value_at_the_edge_of_its_range_is_kept_but_flagged_with_lower_quality(user):
    usual = RecordIn(
        metric="heart_rate", start=T0, value=60, unit="bpm", source_key="h1", device_kind="watch"
    )
    edge = RecordIn(
        metric="heart_rate", start=T0, value=245, unit="bpm", source_key="h2", device_kind="watch"
    )
    ingest(user=user, source="apple_health", records=[usual, edge], origin=IMPORT)

    kept = {record.source_key: record for record in Record.objects.for_user(user)}
    assert kept["h2"].flags & FLAGS["edge_of_range"]
    assert kept["h2"].quality < kept["h1"].quality


def test_local_day_follows_the_records_own_offset(user):
    late_evening = datetime(2025, 1, 14, 23, 30, tzinfo=EST)  # 04:30 UTC on the 15th
    ingest(user=user, source="csv", records=[steps(start=late_evening)], origin=IMPORT)

    record = Record.objects.get(user=user)
    assert record.local_date == date(2025, 1, 14)
    assert record.utc_offset_minutes == -300


def test_a_utc_timestamp_falls_on_the_day_of_the_users_time_zone(user):
    user.timezone = "America/Los_Angeles"
    user.save()
    utc_morning = datetime(2025, 3, 10, 5, 0, tzinfo=UTC)  # 22:00 on the 9th in Los Angeles
    ingest(user=user, source="fitbit", records=[steps(start=utc_morning)], origin=IMPORT)

    record = Record.objects.get(user=user)
    assert record.local_date == date(2025, 3, 9)
    assert record.utc_offset_minutes is None


def test_days_around_a_dst_change_are_placed_by_the_offset_in_force(user):
    user.timezone = "Europe/London"
    user.save()
    before_change = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # 00:30 GMT on the day clocks go forward
    after_change = datetime(2025, 3, 30, 23, 30, tzinfo=UTC)  # 00:30 BST on the 31st
    records = [steps(key="k1", start=before_change), steps(key="k2", start=after_change)]
    ingest(user=user, source="fitbit", records=records, origin=IMPORT)

    days = dict(Record.objects.for_user(user).values_list("source_key", "local_date"))
    assert days == {"k1": date(2025, 3, 30), "k2": date(2025, 3, 31)}


def test_a_named_zone_at_offset_zero_keeps_its_own_offset(user):
    user.timezone = "Asia/Tokyo"
    user.save()
    london_winter = datetime(2025, 1, 14, 22, 0, tzinfo=ZoneInfo("Europe/London"))
    ingest(user=user, source="csv", records=[steps(start=london_winter)], origin=IMPORT)

    record = Record.objects.get(user=user)
    assert (record.local_date, record.utc_offset_minutes) == (date(2025, 1, 14), 0)


def test_ingest_refreshes_the_rollups_of_the_days_it_touched(user):
    ingest(
        user=user,
        source="apple_health",
        records=[steps(812, "a1"), steps(100, "a2", minutes=2)],
        origin=IMPORT,
    )

    rollup = DailyRollup.objects.get(user=user, metric="steps")
    assert (rollup.local_date, rollup.value, rollup.count) == (date(2025, 1, 14), 912, 2)


def test_without_refresh_rollups_are_left_for_a_later_refresh(user):
    from healthdata import rollups

    result = ingest(user=user, source="apple_health", records=[steps()], origin=IMPORT, refresh_rollups=False)
    assert not DailyRollup.objects.exists()

    rollups.refresh(user=user, days=result.days)
    assert DailyRollup.objects.get(user=user).value == 812


def test_blood_pressure_keeps_systolic_and_diastolic_in_one_reading(user):
    reading = RecordIn(metric="blood_pressure", start=T0, value=120, secondary_value=80, unit="mmHg")
    ingest(user=user, source="manual", records=[reading], origin=MANUAL)

    record = Record.objects.get(user=user)
    assert (record.value, record.secondary_value) == (120, 80)


def sleep(key="s1", start=datetime(2025, 1, 13, 23, 0, tzinfo=EST)):
    stages = (
        StageIn("light", start, start + timedelta(hours=3)),
        StageIn("deep", start + timedelta(hours=3), start + timedelta(hours=4)),
        StageIn("awake", start + timedelta(hours=4), start + timedelta(hours=4, minutes=30)),
        StageIn("rem", start + timedelta(hours=4, minutes=30), start + timedelta(hours=6)),
    )
    return SessionIn(
        kind="sleep", start=start, end=start + timedelta(hours=6), source_key=key, stages=stages,
        values={"sleep_score": (81, "score")},
    )  # fmt: skip


def test_a_sleep_session_is_stored_with_stages_and_yields_its_daily_records(user):
    result = ingest(user=user, source="oura", records=[sleep()], origin=IMPORT)

    session = Session.objects.get(user=user)
    assert session.local_date == date(2025, 1, 14)  # the morning it ends
    assert [stage["stage"] for stage in session.stages] == ["light", "deep", "awake", "rem"]
    derived = dict(Record.objects.for_user(user).values_list("metric", "value"))
    assert derived["time_in_bed"] == 360
    assert derived["time_asleep"] == 330
    assert derived["sleep_deep"] == 60
    assert derived["sleep_score"] == 81
    assert derived["sleep_efficiency"] == pytest.approx(91.667, rel=1e-3)
    assert ("time_asleep", date(2025, 1, 14)) in result.days


def test_ingesting_a_session_twice_counts_it_unchanged(user):
    ingest(user=user, source="oura", records=[sleep()], origin=IMPORT)
    again = ingest(user=user, source="oura", records=[sleep()], origin=IMPORT)

    assert (again.created, again.updated) == (0, 0)
    assert Session.objects.count() == 1


def test_a_workout_of_an_unlisted_type_is_kept_as_other_with_its_source_type(user):
    run = SessionIn(
        kind="workout", start=T0, end=T0 + timedelta(minutes=34), activity_type="Parkour",
        values={"distance": (3.61, "mi"), "active_energy": (358.4, "Cal")},
    )  # fmt: skip
    ingest(user=user, source="strava", records=[run], origin=IMPORT)

    session = Session.objects.get(user=user)
    assert (session.activity_type, session.metadata["source_type"]) == ("other", "Parkour")
    assert session.values["distance"] == pytest.approx(5809.73, rel=1e-4)
    assert Record.objects.get(user=user).metric == "workout_duration"


def test_a_session_with_an_unknown_stage_is_rejected(user):
    broken = SessionIn(
        kind="sleep", start=T0, end=T0 + timedelta(hours=1), stages=(StageIn("dozing", T0, T0),)
    )
    result = ingest(user=user, source="oura", records=[broken], origin=IMPORT)

    assert result.rejected == {"invalid_session": 1}
    assert not Session.objects.exists()


def test_a_value_in_the_repeated_hour_when_clocks_go_back_is_unchanged_on_reingest(user):
    repeated = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))  # 01:30 happens twice
    records = [steps(start=repeated), sleep(start=repeated - timedelta(hours=5))]
    ingest(user=user, source="fitbit", records=records, origin=IMPORT)

    again = ingest(user=user, source="fitbit", records=records, origin=IMPORT)

    assert (again.created, again.updated) == (0, 0)
    assert Record.objects.get(user=user, metric="steps").local_date == date(2026, 10, 25)


def test_a_heart_rate_spike_between_close_neighbours_is_flagged_and_kept(user):
    rates = [
        RecordIn(
            metric="heart_rate", start=T0 + timedelta(minutes=i), value=v, unit="bpm", source_key=f"h{i}"
        )
        for i, v in enumerate((60, 180, 62))
    ]
    ingest(user=user, source="apple_health", records=rates, origin=IMPORT)

    flagged = {r.source_key: r.flag_names for r in Record.objects.for_user(user)}
    assert flagged == {"h0": [], "h1": ["spike", "low_quality"], "h2": []}


def test_a_batch_larger_than_one_chunk_is_written_whole_with_counts_and_rejections(user, monkeypatch):
    from healthdata import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "CHUNK_SIZE", 3)
    records = [steps(key=f"k{i}", start=T0 + timedelta(minutes=10 * i)) for i in range(7)]
    records.append(RecordIn(metric="mood", start=T0, value=1, unit="count"))

    first = ingest(user=user, source="fitbit", records=records, origin=IMPORT)
    again = ingest(user=user, source="fitbit", records=records, origin=IMPORT)

    assert (first.created, first.rejected) == (7, {"unknown_metric": 1})
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert Record.objects.for_user(user).count() == 7


def heart_rates(count, key="h"):
    return [
        RecordIn(metric="heart_rate", start=T0 + timedelta(seconds=10 * i), value=60 + i % 40, unit="bpm",
                 source_key=f"{key}{i}", device="Apple Watch")
        for i in range(count)
    ]  # fmt: skip


def _statements(user, records):
    with CaptureQueriesContext(connection) as captured:
        ingest(user=user, source="apple_health", records=records, origin=IMPORT)
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's path looks stored keys up 500 at a time, by design"
)
def test_a_batch_is_written_with_the_same_statements_whatever_its_size(user):
    small = _statements(user, heart_rates(10, key="a"))
    large = _statements(user, heart_rates(5_000, key="b"))

    assert len(large) == len(small)
    assert Record.objects.for_user(user).count() == 5_010
    if connection.vendor == "postgresql":
        # New keys: COPY (not captured), no look-up and no INSERT statement.
        assert not [sql for sql in large if "source_key" in sql]
        assert not [sql for sql in large if "INSERT INTO" in sql and "healthdata_record" in sql]
        stored = _statements(user, heart_rates(5_000, key="b"))
        upserts = [sql for sql in stored if sql.lstrip().startswith("WITH written AS")]
        assert len(upserts) == 1
        assert "ON CONFLICT" in upserts[0]


def test_a_batch_of_new_and_stored_keys_counts_each_kind(user):
    ingest(user=user, source="apple_health", records=heart_rates(6), origin=IMPORT)
    changed = heart_rates(6)
    changed[1] = RecordIn(metric="heart_rate", start=changed[1].start, value=150, unit="bpm",
                          source_key="h1", device="Apple Watch")  # fmt: skip

    result = ingest(user=user, source="apple_health", records=[*changed, *heart_rates(10)[6:]], origin=IMPORT)

    assert (result.created, result.updated, result.unchanged) == (4, 1, 5)
    assert result.by_metric == {"heart_rate": 5}
    assert Record.objects.for_user(user).count() == 10
    assert Record.objects.get(user=user, source_key="h1").value == 150


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_a_copy_that_meets_a_stored_key_rolls_back_and_the_batch_is_upserted(user):
    from django.db import transaction
    from django.utils import timezone as django_timezone

    from healthdata import upsert
    from healthdata.copy_encoding import encode
    from healthdata.prepare import Preparer

    ingest(user=user, source="apple_health", records=heart_rates(2), origin=IMPORT)
    prepared = Preparer("apple_health", user.zone).prepare(heart_rates(4))
    batch = upsert.Batch(user.pk, "apple_health", "import", 7, django_timezone.now())
    encoded = encode(batch, prepared.rows)

    with transaction.atomic():
        # As if another transaction had stored h0 and h1 after the look-up: COPY meets them.
        assert upsert._copy_new(connection.cursor(), encoded) is False
        written = upsert.write_encoded(encoded)

    assert sum(written.created.values()) == 2
    assert sum(written.updated.values()) == 0
    assert sorted(Record.objects.for_user(user).values_list("source_key", flat=True)) == [
        "h0",
        "h1",
        "h2",
        "h3",
    ]


def test_metadata_written_by_copy_reads_back_as_sent(user):
    metadata = {"note": 'café ☕ "quoted"', "nested": {"n": 1.5, "list": [1, None, True]}}
    record = RecordIn(metric="heart_rate", start=T0, value=61, unit="bpm", source_key="m1", metadata=metadata)

    first = ingest(user=user, source="apple_health", records=[record], origin=IMPORT)
    again = ingest(user=user, source="apple_health", records=[record], origin=IMPORT)

    assert (first.created, again.unchanged) == (1, 1)
    assert Record.objects.get(user=user, source_key="m1").metadata == metadata
