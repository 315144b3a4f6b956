import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from healthdata.normalized import RecordIn, SessionIn
from imports.parsers.base import ImportRejected
from imports.parsers.csv import ColumnMap, CsvMapping, CsvParser, preview
from imports.parsers.csv.values import CellError, infer_date_format, parse_number

CSV = Path(__file__).parents[1] / "fixtures" / "imports" / "csv"
NEW_YORK = ZoneInfo("America/New_York")


def parse(path: Path, **options) -> tuple[list, CsvParser]:
    parser = CsvParser(path, zone=options.pop("zone", NEW_YORK), **options)
    return list(parser), parser


def records(items: list, metric: str) -> list[RecordIn]:
    return [item for item in items if isinstance(item, RecordIn) and item.metric == metric]


def workouts(items: list) -> list[SessionIn]:
    return [item for item in items if isinstance(item, SessionIn) and item.kind == "workout"]


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("1,050.0", ".", 1050.0),
        ("72,5", ",", 72.5),
        ("1.024,5", ",", 1024.5),
        ("72.5 kg", ".", 72.5),
        ("98%", ".", 98.0),
        ("1\u00a0024", ".", 1024.0),
        ("--", ".", None),
        ("N/A", ".", None),
        ("", ".", None),
    ],
)
def test_numbers_are_read_as_people_write_them(text, decimal, expected):
    assert parse_number(text, decimal) == expected


def test_text_that_is_not_a_number_is_an_error():
    with pytest.raises(CellError):
        parse_number("abc")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2025-01-14", "2025-01-15"], ("iso", False)),
        (["2025-01-14T07:00:00Z"], ("iso", False)),
        (["01/14/2025", "01/02/2025"], ("%m/%d/%Y", False)),
        (["03/01/2025", "13/01/2025"], ("%d/%m/%Y", False)),
        (["03/01/2025", "04/01/2025"], ("%m/%d/%Y", True)),
        (["14.01.2025 07:42"], ("%d.%m.%Y", False)),
        (["1736858530"], ("epoch_s", False)),
    ],
)
def test_date_format_is_inferred_over_the_whole_column(values, expected):
    assert infer_date_format(values) == expected


def test_preview_reports_encoding_delimiter_decimal_and_preset():
    (table,) = preview(CSV / "semicolon_utf16.csv")

    assert table["encoding"] == "utf-16"
    assert table["delimiter"] == ";"
    assert table["decimal"] == ","
    assert table["header"] == ["Datum", "Gewicht", "Schritte"]
    assert table["date_formats"] == {"Datum": "%d.%m.%Y"}
    assert table["preset"] == ""


def test_preview_flags_a_day_month_order_the_column_cannot_settle(tmp_path):
    path = tmp_path / "ambiguous.csv"
    path.write_text("Date,Body weight\n03/01/2025,72.5\n04/01/2025,72.1\n")

    (table,) = preview(path)

    assert table["ambiguous_dates"] == ["Date"]


def test_preview_strips_the_utf8_bom_and_detects_cronometer():
    (table,) = preview(CSV / "cronometer_servings.csv")

    assert table["header"][0] == "Day"
    assert table["preset"] == "cronometer_servings"


def test_wide_mapping_reads_decimal_commas_in_the_given_zone():
    mapping = CsvMapping(
        timestamp_column="Datum",
        timezone="Europe/Berlin",
        columns=[ColumnMap("Gewicht", "weight", "kg"), ColumnMap("Schritte", "steps", "count")],
    )

    items, parser = parse(CSV / "semicolon_utf16.csv", mapping=mapping)

    assert [r.value for r in records(items, "weight")] == [72.5, 72.1]
    steps = records(items, "steps")[0]
    assert steps.start == datetime(2025, 1, 14, tzinfo=ZoneInfo("Europe/Berlin"))
    assert steps.end == datetime(2025, 1, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    assert records(items, "weight")[0].end is None
    assert parser.source == "csv"


def test_latin1_file_with_us_dates_is_read():
    mapping = CsvMapping(timestamp_column="Date", columns=[ColumnMap("Body weight", "weight", "kg")])

    items, _ = parse(CSV / "us_dates_latin1.csv", mapping=mapping)

    assert [r.start.day for r in items] == [13, 14]


def test_day_first_dates_are_settled_by_one_unambiguous_value():
    mapping = CsvMapping(timestamp_column="Date", columns=[ColumnMap("Body weight", "weight", "kg")])

    items, _ = parse(CSV / "eu_dates.csv", mapping=mapping)

    assert [(r.start.month, r.start.day) for r in items] == [(1, 3), (1, 4), (1, 13)]


def test_long_mapping_reads_metric_and_unit_from_each_row(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("when,what,amount,unit\n2025-01-14 07:00,Weight,160.2,lb\n2025-01-14 07:00,Puls,61,bpm\n")
    mapping = CsvMapping(
        layout="long",
        timestamp_column="when",
        metric_column="what",
        value_column="amount",
        unit_column="unit",
        metric_names={"Weight": "weight", "Puls": "heart_rate"},
    )

    items, _ = parse(path, mapping=mapping)

    assert [(r.metric, r.value, r.unit) for r in items] == [
        ("weight", 160.2, "lb"),
        ("heart_rate", 61.0, "bpm"),
    ]
    assert items[0].start.tzinfo == NEW_YORK


def test_an_end_column_is_kept_for_instant_metrics_while_a_bare_date_is_not(tmp_path):
    path = tmp_path / "hrv.csv"
    path.write_text("from,to,HRV\n2025-01-14 03:11,2025-01-14 03:12,48.3\n2025-01-15,,51.0\n")
    mapping = CsvMapping(
        timestamp_column="from", end_column="to", columns=[ColumnMap("HRV", "hrv_sdnn", "ms")]
    )

    items, _ = parse(path, mapping=mapping)

    assert [(r.start.isoformat(), r.end and r.end.isoformat()) for r in items] == [
        ("2025-01-14T03:11:00-05:00", "2025-01-14T03:12:00-05:00"),
        ("2025-01-15T00:00:00-05:00", None),
    ]


def test_mapping_that_names_a_missing_column_is_refused():
    mapping = CsvMapping(timestamp_column="Date", columns=[ColumnMap("Nope", "weight", "kg")])

    with pytest.raises(ImportRejected) as error:
        parse(CSV / "us_dates_latin1.csv", mapping=mapping)

    assert "no column 'Nope'" in error.value.reason


def test_mapping_with_a_unit_the_metric_does_not_accept_is_refused():
    mapping = CsvMapping(timestamp_column="Date", columns=[ColumnMap("Body weight", "weight", "km")])

    with pytest.raises(ImportRejected) as error:
        parse(CSV / "us_dates_latin1.csv", mapping=mapping)

    assert error.value.code == "bad_mapping"


def test_canonical_csv_round_trips_every_kind_of_row():
    items, parser = parse(CSV / "canonical.csv")

    assert parser.presets == ["canonical"]
    assert [(r.value, r.unit, r.source_key) for r in records(items, "weight")] == [
        (73.8, "kg", "wbs-20250114-0700")
    ]
    assert records(items, "body_fat")[0].value == 24.1
    assert [(r.value, r.secondary_value) for r in records(items, "blood_pressure")] == [(120, 80), (118, 79)]
    (run,) = workouts(items)
    assert run.activity_type == "running"
    (sleep,) = [item for item in items if isinstance(item, SessionIn) and item.kind == "sleep"]
    assert [stage.stage for stage in sleep.stages] == ["deep", "rem"]


def test_rejected_rows_carry_their_line_number_and_reason():
    _, parser = parse(CSV / "canonical.csv")

    assert parser.report.rejected_count == 1
    assert parser.report.rejected_rows[0]["line"] == 11
    assert "not a number" in parser.report.rejected_rows[0]["reason"]


def test_cronometer_daily_summary_gives_daily_totals():
    items, parser = parse(CSV / "cronometer_dailysummary.csv")

    energy = records(items, "energy_intake")
    assert parser.source == "cronometer"
    assert [r.value for r in energy] == [2104.37, 1318.02]
    assert energy[1].metadata == {"completed": False}
    assert records(items, "water")[0].unit == "mL"


def test_cronometer_servings_sum_into_the_daily_summary_records():
    servings, _ = parse(CSV / "cronometer_servings.csv")
    daily, _ = parse(CSV / "cronometer_dailysummary.csv")

    energy = records(servings, "energy_intake")[0]

    assert energy.value == pytest.approx(152.0 + 2.37 + 812.4)
    assert energy.source_key == records(daily, "energy_intake")[0].source_key


def test_cronometer_exercises_become_workouts_without_energy_balance_rows():
    items, parser = parse(CSV / "cronometer_exercises.csv")

    run, strength = workouts(items)

    assert run.activity_type == "running"
    assert run.values["active_energy"] == (358.4, "kcal")
    assert strength.activity_type == "strength_training"
    assert parser.report.rejected_count == 1


def test_cronometer_biometrics_read_units_per_row_and_pressure_pairs():
    items, parser = parse(CSV / "cronometer_biometrics.csv")

    assert [(r.value, r.unit) for r in records(items, "weight")] == [(212.5, "lbs"), (96.2, "kg")]
    assert [(r.value, r.secondary_value) for r in records(items, "blood_pressure")] == [(120, 80)]
    assert records(items, "heart_rate")[0].metadata == {"synced_from": "Oura"}
    assert parser.report.rejected_rows[0]["reason"] == "the biometric 'Mood' has no matching metric"


def test_myfitnesspal_export_zip_reads_all_three_files(tmp_path):
    path = tmp_path / "File-Export-2025-01-14-to-2025-01-15.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("Nutrition-Summary", "Exercise-Summary", "Measurement-Summary"):
            source = next(CSV.glob(f"{name}-*.csv"))
            archive.write(source, source.name)

    items, parser = parse(path, weight_unit="lb")

    assert parser.source == "myfitnesspal"
    assert sorted(parser.presets) == [
        "myfitnesspal_exercise",
        "myfitnesspal_measurement",
        "myfitnesspal_nutrition",
    ]
    assert [r.value for r in records(items, "energy_intake")] == [412.0, 1050.0, 180.0, 690.0]
    assert records(items, "sodium")[1].value == 1820.0
    assert [(r.value, r.unit) for r in records(items, "weight")] == [(201.4, "lb"), (200.8, "lb")]
    assert len(workouts(items)) == 1


def test_fitbit_takeout_series_are_recognised_by_name_and_header():
    steps, parser = parse(CSV / "steps_2025-01-14.csv")
    resting, _ = parse(CSV / "daily_resting_heart_rate.csv")

    assert parser.source == "fitbit"
    assert [(r.value, r.device) for r in records(steps, "steps")] == [
        (112, "Pixel Watch 3"),
        (98, "Pixel Watch 3"),
    ]
    (day,) = records(resting, "resting_heart_rate")
    assert day.start == datetime(2025, 1, 14, tzinfo=NEW_YORK)


def test_withings_weight_export_gives_body_composition():
    items, parser = parse(CSV / "weight.csv")

    assert parser.source == "withings"
    assert records(items, "weight")[0].value == 73.8
    assert records(items, "body_fat")[0].value == pytest.approx(24.12, abs=0.01)
    assert records(items, "muscle_mass")[0].value == 52.9


def test_withings_blood_pressure_export_gives_pressure_and_pulse():
    items, _ = parse(CSV / "bp.csv")

    assert [(r.value, r.secondary_value) for r in records(items, "blood_pressure")] == [(120, 80)]
    assert records(items, "heart_rate")[0].value == 64


def test_csv_with_no_valid_row_is_rejected_with_the_first_reason(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,end_timestamp,metric,value,unit\nyesterday,,steps,12,count\n2025-01-14,,steps,x,count\n"
    )

    with pytest.raises(ImportRejected) as error:
        parse(path)

    assert error.value.code == "no_valid_rows"
    assert "line 2" in error.value.reason


def test_unknown_layout_without_a_mapping_asks_for_one(tmp_path):
    path = tmp_path / "mystery.csv"
    path.write_text("a,b\n1,2\n")

    with pytest.raises(ImportRejected) as error:
        parse(path)

    assert "map its columns" in error.value.reason


def test_a_line_of_a_million_columns_is_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("Date,Weight\n" + ",".join(["1"] * 1_000_000) + "\n")

    with pytest.raises(ImportRejected) as error:
        preview(path)

    assert error.value.code == "line_too_long"


def test_a_row_with_too_many_columns_is_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("Date,Weight\n" + ",".join(["1"] * 5_000) + "\n")

    with pytest.raises(ImportRejected) as error:
        preview(path)

    assert error.value.code == "too_many_columns"


def test_empty_csv_is_rejected(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(ImportRejected) as error:
        preview(path)

    assert error.value.code == "empty_file"
