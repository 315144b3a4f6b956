import io
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from healthdata.copy_encoding import microseconds
from healthdata.normalized import RecordIn, SessionIn, TimedRecord
from imports.parsers.apple_health import AppleHealthParser, DateReader, _parse_date, open_export
from imports.parsers.base import ImportRejected

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"
GENERATOR = Path("/work/shared/bench/make_apple_health_export.py")


def parse(path: Path) -> tuple[list, AppleHealthParser]:
    stream, size = open_export(path)
    with stream:
        parser = AppleHealthParser(stream, size)
        return list(parser), parser


def parse_bytes(tmp_path: Path, content: bytes, name: str = "export.xml") -> list:
    path = tmp_path / name
    path.write_bytes(content)
    return parse(path)[0]


def records(items: list, metric: str) -> list[RecordIn]:
    return [item for item in items if isinstance(item, RecordIn) and item.metric == metric]


def sessions(items: list, kind: str) -> list[SessionIn]:
    return [item for item in items if isinstance(item, SessionIn) and item.kind == kind]


def zip_with(tmp_path: Path, members: dict[str, bytes], name: str = "export.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return path


def test_quantity_records_keep_the_unit_apple_wrote():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    assert [(r.value, r.unit) for r in records(items, "weight")] == [(162.6, "lb")]
    assert [(r.value, r.unit) for r in records(items, "distance")] == [(0.41, "mi")]
    assert [(r.value, r.unit) for r in records(items, "active_energy")] == [(31.5, "Cal")]
    assert [(r.value, r.unit) for r in records(items, "body_temperature")] == [(98.6, "degF")]
    assert records(items, "blood_glucose")[0].unit == "mmol<180.1558800000541>/L"
    assert records(items, "bmi")[0].unit == "kg/m2"


def test_percent_types_are_passed_as_fractions():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    body_fat = records(items, "body_fat")[0]

    assert (body_fat.value, body_fat.unit) == (0.241, "fraction")


def test_instant_samples_have_no_end_and_keep_their_offset():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    heart_rate = records(items, "heart_rate")[0]

    assert heart_rate.end is None
    assert heart_rate.start.isoformat() == "2025-01-14T07:04:44-05:00"
    assert heart_rate.metadata == {"HKMetadataKeyHeartRateMotionContext": "1"}


def test_hrv_keeps_its_beat_to_beat_list_in_metadata():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    hrv = records(items, "hrv_sdnn")[0]

    assert hrv.value == 48.3127
    assert hrv.metadata["beats"] == [[58.0, "3:11:39.12 AM"], [61.0, "3:11:40.10 AM"]]


def test_device_kind_tells_the_watch_from_the_phone():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    kinds = {(r.device, r.device_kind) for r in records(items, "steps")}

    assert kinds == {("iPhone", "phone"), ("Apple Watch", "watch")}


def test_blood_pressure_comes_once_from_the_correlation():
    items, parser = parse(FIXTURES / "apple_export_small.xml")

    readings = records(items, "blood_pressure")

    assert [(r.value, r.secondary_value, r.unit) for r in readings] == [(120.0, 80.0, "mmHg")]
    assert parser.report.skipped["HKQuantityTypeIdentifierBloodPressureSystolic"] == 1


def test_ios16_sleep_stages_become_one_session_with_stage_minutes():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    watch_sleep = next(s for s in sessions(items, "sleep") if s.device_kind == "watch")

    assert [stage.stage for stage in watch_sleep.stages] == ["light", "deep", "rem", "awake", "asleep"]
    assert watch_sleep.values["sleep_deep"] == (33.5, "min")
    assert watch_sleep.values["sleep_awake"] == (5.0, "min")
    assert watch_sleep.values["time_asleep"][0] == pytest.approx(61.5 + 33.5 + 35 + 165)


def test_old_in_bed_and_asleep_values_become_a_session():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    phone_sleep = next(s for s in sessions(items, "sleep") if s.device_kind == "phone")

    assert [stage.stage for stage in phone_sleep.stages] == ["in_bed", "asleep"]
    assert phone_sleep.values["time_in_bed"] == (450.0, "min")
    assert phone_sleep.values["time_asleep"] == (410.0, "min")


def test_workouts_read_statistics_or_the_older_attributes():
    items, _ = parse(FIXTURES / "apple_export_small.xml")

    run, strength = sorted(sessions(items, "workout"), key=lambda s: s.activity_type)

    assert run.activity_type == "running"
    assert run.values["distance"] == (3.61, "mi")
    assert run.values["active_energy"] == (358.412, "Cal")
    assert run.values["heart_rate"] == (152.3, "count/min")
    assert run.values["heart_rate_max"] == (176.0, "count/min")
    assert run.metadata["HKTimeZone"] == "America/New_York"
    assert strength.activity_type == "strength_training"
    assert strength.metadata["source_type"] == "TraditionalStrengthTraining"
    assert strength.values["active_energy"] == (210.0, "kcal")


def test_stood_hours_count_and_summaries_fill_only_days_without_them(tmp_path):
    content = (FIXTURES / "apple_export_small.xml").read_bytes()
    stood = (
        b' <Record type="HKCategoryTypeIdentifierAppleStandHour" sourceName="Watch"'
        b' startDate="2025-01-14 09:00:00 -0500"'
        b' endDate="2025-01-14 10:00:00 -0500" value="HKCategoryValueAppleStandHourStood"/>\n'
        b' <Record type="HKCategoryTypeIdentifierAppleStandHour" sourceName="Watch"'
        b' startDate="2025-01-14 10:00:00 -0500"'
        b' endDate="2025-01-14 11:00:00 -0500" value="HKCategoryValueAppleStandHourIdle"/>\n'
    )
    items = parse_bytes(tmp_path, content.replace(b" <Correlation", stood + b" <Correlation", 1))

    assert [(r.value, r.unit, r.device_kind) for r in records(items, "stand_hours")] == [(1.0, "h", "watch")]


def test_activity_summary_gives_the_days_stand_hours():
    items, _parser = parse(FIXTURES / "apple_export_small.xml")

    stand = records(items, "stand_hours")[0]

    assert (stand.value, stand.unit) == (11.0, "h")
    assert stand.start.isoformat() == "2025-01-14T00:00:00-05:00"
    assert stand.metadata["activity_summary"]["appleStandHoursGoal"] == "12"


def test_unknown_types_are_counted_not_fatal():
    _, parser = parse(FIXTURES / "apple_export_small.xml")

    assert parser.report.unknown_types == {"HKQuantityTypeIdentifierVO2Max": 1}


def test_source_keys_are_stable_across_exports_and_unique_within_one(tmp_path):
    first, _ = parse(FIXTURES / "apple_export_small.xml")
    moved_device = (FIXTURES / "apple_export_small.xml").read_bytes().replace(b"0x303c1b0c0", b"0x1111")
    second = parse_bytes(tmp_path, moved_device)

    keys = [item.source_key for item in first]

    assert keys == [item.source_key for item in second]
    assert len(set(keys)) == len(keys)


def test_ios16_export_with_broken_dtd_and_control_characters_parses():
    items, _ = parse(FIXTURES / "apple_export_ios16.xml")

    assert len(records(items, "steps")) == 2
    assert records(items, "body_temperature")[0].device == "ThermoApp"


def test_generated_export_zip_is_read_from_the_member(tmp_path):
    path = tmp_path / "export.zip"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--records", "2000", "--out", str(path)],
        check=True,
        capture_output=True,
    )

    items, parser = parse(path)

    quantity = [item for item in items if isinstance(item, RecordIn)]
    assert len(quantity) > 1800
    # Room is left for the suffix ingest adds to a session's key for the records it derives.
    assert max(len(item.source_key) for item in items) <= 100
    assert sessions(items, "workout") and sessions(items, "sleep")
    assert parser.fraction_done == 1.0


def test_localized_export_member_is_found_by_its_root_element(tmp_path):
    content = (FIXTURES / "apple_export_small.xml").read_bytes()
    path = zip_with(
        tmp_path, {"apple_health_export/导出.xml": content, "apple_health_export/export_cda.xml": b"<a/>"}
    )

    items, _ = parse(path)

    assert records(items, "weight")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "unsupported_type"),
    ],
)
def test_files_that_are_not_exports_are_rejected(tmp_path, content, code):
    with pytest.raises(ImportRejected) as error:
        parse_bytes(tmp_path, content, "export.zip")

    assert error.value.code == code


def test_zip_bomb_is_refused_before_reading(tmp_path):
    path = zip_with(tmp_path, {"apple_health_export/export.xml": b"\x00" * (50 * 1024**2)})

    with pytest.raises(ImportRejected) as error:
        parse(path)

    assert error.value.code == "zip_bomb"


@pytest.mark.parametrize("member", ["../evil.xml", "/etc/export.xml", "apple_health_export/../../x.xml"])
def test_members_with_unsafe_paths_are_refused(tmp_path, member):
    path = zip_with(tmp_path, {member: b"<HealthData/>"})

    with pytest.raises(ImportRejected) as error:
        parse(path)

    assert error.value.code == "unsafe_zip_path"


def test_xml_bomb_is_refused(tmp_path):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><HealthData>&b;</HealthData>'
    )

    with pytest.raises(ImportRejected) as error:
        parse_bytes(tmp_path, bomb)

    assert error.value.code == "xml_entities"


def test_external_entity_is_refused(tmp_path):
    attack = (
        b'<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<HealthData><Record type="&x;"/></HealthData>'
    )

    with pytest.raises(ImportRejected) as error:
        parse_bytes(tmp_path, attack)

    assert error.value.code == "xml_entities"


def test_undeclared_entity_reference_is_refused(tmp_path):
    with pytest.raises(ImportRejected) as error:
        parse_bytes(tmp_path, b"<HealthData>&x;</HealthData>")

    assert error.value.code == "xml_entities"


def test_truncated_export_fails_with_a_clear_reason(tmp_path):
    content = (FIXTURES / "apple_export_small.xml").read_bytes()

    with pytest.raises(ImportRejected) as error:
        parse_bytes(tmp_path, content[: len(content) // 2])

    assert error.value.code == "truncated"
    assert "truncated" in error.value.reason


def test_xml_with_another_root_is_not_an_apple_export(tmp_path):
    with pytest.raises(ImportRejected) as error:
        parse_bytes(tmp_path, b"<gpx><trk/></gpx>")

    assert error.value.code == "wrong_kind"


def test_parser_gives_the_same_items_whatever_the_chunk_size(monkeypatch):
    content = (FIXTURES / "apple_export_small.xml").read_bytes()
    whole, _ = parse(FIXTURES / "apple_export_small.xml")
    monkeypatch.setattr("imports.parsers.apple_health.CHUNK_BYTES", 97)

    chunked = list(AppleHealthParser(io.BytesIO(content), len(content)))

    assert chunked == whole


@pytest.mark.parametrize(
    "text",
    [
        "2025-01-14 07:42:10 -0500",
        "2025-03-30 01:59:59 +0100",  # the last second before clocks go forward in Berlin
        "2025-03-30 03:00:00 +0200",
        "2025-10-26 02:30:00 +0200",  # the repeated hour, once in each offset
        "2025-10-26 02:30:00 +0100",
        "2024-02-29 23:59:59 +0530",
        "2025-01-14 00:00:00 -0930",
        "1999-12-31 23:59:59 +0000",  # before PostgreSQL's epoch, at offset zero
        "2025-01-14T07:42:10-05:00",  # ISO 8601 as some apps write it: read, not remembered
        "2025-01-14 07:42.10 -0500",  # read by datetime as 07:42:00.1, whatever the hour remembered
    ],
)
def test_the_date_reader_reads_what_datetime_reads(text):
    reader = DateReader()
    reader.read("2025-01-14 07:00:00 -0500")
    expected = _parse_date(text)
    read = (microseconds(expected), expected.utcoffset() // timedelta(minutes=1), expected.date())

    assert reader.read(text) == read
    assert reader.read(text) == read  # from what it remembered of the hour


def test_the_date_reader_reads_within_a_remembered_hour_exactly():
    reader = DateReader()
    reader.read("2025-01-14 07:00:00 -0500")
    for minute, second in ((0, 1), (7, 9), (42, 10), (59, 59)):
        text = f"2025-01-14 07:{minute:02}:{second:02} -0500"
        expected = _parse_date(text)
        assert reader.read(text) == (microseconds(expected), -300, expected.date())


@pytest.mark.parametrize(
    "text",
    ["2025-01-14 07:60:10 -0500", "2025-01-14 07:42:60 -0500", "2025-01-14 07:4x:10 -0500",
     "2025-01-14 07: 4:10 -0500", "2025-02-30 07:42:10 -0500", "2025-01-14 07:42:10.250 -0500"],
)  # fmt: skip
def test_the_date_reader_refuses_an_unreadable_date_even_within_a_remembered_hour(text):
    reader = DateReader()
    reader.read("2025-01-14 07:00:00 -0500")

    with pytest.raises(ImportRejected) as refused:
        reader.read(text)
    assert refused.value.code == "bad_date"


def test_the_date_reader_leaves_a_date_without_offset_to_ingest():
    assert DateReader().read("2025-01-14 07:42:10") is None


def test_timed_items_carry_the_same_times_as_records():
    plain, _ = parse(FIXTURES / "apple_export_small.xml")
    with open(FIXTURES / "apple_export_small.xml", "rb") as stream:
        timed = list(AppleHealthParser(stream, 1, timed=True))

    assert len(timed) == len(plain)
    for record, item in zip(plain, timed, strict=True):
        if type(item) is not TimedRecord:
            assert item == record
            continue
        end = record.end or record.start
        assert (item.metric, item.value, item.unit, item.source_key) == (
            record.metric, record.value, record.unit, record.source_key
        )  # fmt: skip
        assert (item.start, item.end) == (microseconds(record.start), microseconds(end))
        assert (item.start_offset, item.start_day) == (
            record.start.utcoffset() // timedelta(minutes=1), record.start.date()
        )  # fmt: skip
        assert (item.end_offset, item.end_day) == (end.utcoffset() // timedelta(minutes=1), end.date())
        assert (item.device, item.device_kind, item.metadata) == (
            record.device, record.device_kind, record.metadata
        )  # fmt: skip
