"""The loop of Preparer.prepare in C (healthdata/_rows.c) against the Python one.

The Python preparer is the reference: for every batch the two must give the same rows (in the same
order, with the same types), the same count of valid records and the same rejections by reason.
The C loop prepares the usual quantity sample itself and hands every other record to Python, so
these tests lean on the edges between the two: zero offsets, conversions, metadata, the ends of
ranges, refusals, duplicate keys, long device names and many series in one batch.
"""

import io
import math
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from healthdata import prepare
from healthdata.normalized import RecordIn, SessionIn, TimedRecord
from healthdata.prepare import Preparer
from imports.parsers.apple_health import AppleHealthParser
from tests.imports.test_apple_health import GENERATOR
from tests.imports.test_pipeline import EDGE_CASES

pytestmark = pytest.mark.skipif(
    prepare._in_c is None, reason="the C preparer is not built (make install builds it)"
)
BERLIN = ZoneInfo("Europe/Berlin")
NO_METADATA = MappingProxyType({})
MOMENT = 1_736_858_530_000_000  # 2025-01-14 12:42:10 UTC


def prepared_alike(records: list, zone: ZoneInfo = BERLIN, source: str = "apple_health"):
    fast = Preparer(source, zone)
    reference = Preparer(source, zone, accelerate=False)
    assert fast.accelerated and not reference.accelerated
    outcomes = []
    for preparer in (fast, reference):
        try:
            result = preparer.prepare(records)
        except Exception as error:  # both must fail alike
            outcomes.append(("raised", type(error).__name__, str(error)))
        else:
            # Compared as text: it tells a float from an int, and a NaN reads the same.
            outcomes.append((repr(result.rows), result.accepted, dict(result.rejected), list(result.keys)))
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


def timed(**changes) -> TimedRecord:
    fields = {
        "metric": "heart_rate",
        "value": 61.0,
        "unit": "count/min",
        "start": MOMENT,
        "end": MOMENT,
        "start_offset": -300,
        "start_day": date(2025, 1, 14),
        "end_offset": -300,
        "end_day": date(2025, 1, 14),
        "source_key": "abc|2025-01-14 07:42:10 -0500",
        "device": "Apple Watch",
        "device_kind": "watch",
        "metadata": NO_METADATA,
    }
    fields.update(changes)
    return TimedRecord(**fields)


def items_of(export: bytes) -> list:
    parser = AppleHealthParser(io.BytesIO(export), len(export), timed=True)
    return [item for item in parser if type(item) is not SessionIn]


def test_the_c_loop_runs_when_it_is_built():
    assert Preparer("apple_health", BERLIN).accelerated


@pytest.mark.parametrize("zone", [BERLIN, ZoneInfo("UTC"), ZoneInfo("America/St_Johns")])
def test_a_generated_export_is_prepared_alike(tmp_path, zone):
    path = tmp_path / "export.xml"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--records", "4000", "--out", str(path)],
        check=True,
        capture_output=True,
    )
    items = items_of(path.read_bytes())

    _, accepted, _, _ = prepared_alike(items, zone)

    assert accepted > 3_500


def test_the_edge_cases_export_is_prepared_alike():
    _, _, rejected, _ = prepared_alike(items_of(EDGE_CASES.encode()))

    assert rejected  # the implausible, the not finite, the backwards


@pytest.mark.parametrize(
    "record",
    [
        timed(),
        timed(start_offset=0, end_offset=0),  # the user's zone places it
        timed(start_offset=0),
        timed(end_offset=0),
        timed(start_offset=345, end_offset=345, start_day=date(2025, 1, 15)),
        timed(end=MOMENT - 1),  # ends before it starts
        timed(end=MOMENT + 3_600_000_000, end_day=date(2025, 1, 15)),
        timed(value=20.0),  # the ends of the plausible range
        timed(value=250.0),
        timed(value=19.999),
        timed(value=250.001),
        timed(value=21.0),  # the edge of the usual range
        timed(value=-0.0),
        timed(value=math.nan),
        timed(value=math.inf),
        timed(value=-math.inf),
        timed(value=61),  # an int value
        timed(value="61"),
        timed(value=None),
        timed(metadata={"HKMetadataKeyHeartRateMotionContext": "1"}),
        timed(metadata={"b": "2", "a": "1"}),
        timed(metadata={"nested": {"x": [1, 2]}}),
        timed(metric="weight", unit="lb", value=166.81),  # converted
        timed(metric="weight", unit="lb", value=166.81, metadata={"HKWasUserEntered": "1"}),
        timed(metric="weight", unit="lb", value=1e-300),
        timed(metric="weight", unit="lb", value=0.1 + 0.2),
        timed(metric="body_temperature", unit="degF", value=98.6),  # a factor and an offset
        timed(metric="distance", unit="km", value=1.25),
        timed(metric="distance", unit="mi", value=1e16),  # out of range once converted
        timed(metric="height", unit="cm", value=180.3),
        timed(metric="time_asleep", unit="min", value=420.0),  # placed on the day it ends
        timed(metric="time_asleep", unit="min", value=420.0, end_offset=0),
        timed(metric="steps", unit="count", value=0.0),
        timed(metric="no_such_metric"),
        timed(unit="furlongs"),
        timed(device="W" * 128),
        timed(device="W" * 129),  # cut to 128 characters
        timed(device="Ålex\u2019s Apple Watch ⌚"),
        timed(device=""),
        timed(device_kind="phone"),
        timed(device_kind="unknown-kind"),
        timed(start=-946_684_800_000_000, end=-946_684_800_000_000),  # before 1940
        timed(start=2**70, end=2**70),  # beyond C's integers: Python prepares it
    ],
)
def test_each_kind_of_record_is_prepared_alike(record):
    prepared_alike([timed(source_key="before"), record, timed(source_key="after", value=62.0)])


def test_records_of_other_types_go_to_python_and_keep_their_place():
    plain = RecordIn(
        metric="heart_rate",
        value=70,
        unit="count/min",
        start=datetime(2025, 1, 14, 8, tzinfo=UTC),
        source_key="plain",
    )
    _, _, _, keys = prepared_alike(
        [timed(source_key="a"), plain, timed(source_key="b"), timed(source_key="plain")]
    )

    assert keys == ["a", "plain", "b"]


def test_a_key_seen_twice_keeps_the_last_record_in_the_first_ones_place():
    rows, accepted, _, keys = prepared_alike(
        [timed(source_key="k", value=61.0), timed(source_key="other"), timed(source_key="k", value=99.0)]
    )

    assert accepted == 3 and keys == ["k", "other"]
    assert "99.0" in rows.split("'other'")[0]


def test_more_series_in_a_batch_than_the_c_loop_remembers_are_prepared_alike():
    kinds = ["watch", "phone", "scale", "ring", "band", "app", "manual", "other", "", "x"]
    records = [
        timed(metric=metric, unit=unit, device_kind=kind, source_key=f"{metric}-{kind}-{number}", value=value)
        for number in range(3)
        for kind in kinds
        for metric, unit, value in [
            ("heart_rate", "count/min", 60.0),
            ("weight", "lb", 170.0),
            ("steps", "count", 9.0),
        ]
    ]
    prepared_alike(records)


def test_random_batches_are_prepared_alike():
    chance = random.Random(20251203)
    series = [
        ("heart_rate", "count/min"),
        ("heart_rate", "bpm"),
        ("weight", "lb"),
        ("weight", "kg"),
        ("steps", "count"),
        ("distance", "km"),
        ("body_temperature", "degF"),
        ("spo2", "%"),
        ("time_asleep", "min"),
        ("nope", "count"),
    ]
    for _ in range(40):
        records = []
        for _ in range(250):
            metric, unit = chance.choice(series)
            start = chance.randrange(-(10**15), 4 * 10**15)
            offset = chance.choice([0, 60, 120, -300, 330, -570])
            day = (datetime(1970, 1, 1) + timedelta(microseconds=start, minutes=offset)).date()
            records.append(
                timed(
                    metric=metric,
                    unit=unit,
                    value=chance.choice(
                        [chance.uniform(-10, 400), float(chance.randrange(0, 300)), math.nan]
                    ),
                    start=start,
                    end=start + chance.choice([0, 60_000_000, -1, 3_600_000_000]),
                    start_offset=offset,
                    start_day=day,
                    end_offset=offset,
                    end_day=day,
                    source_key=f"key-{chance.randrange(0, 200)}",
                    device=chance.choice(["Apple Watch", "iPhone", "Withings", ""]),
                    device_kind=chance.choice(["watch", "phone", "scale"]),
                    metadata=chance.choice([NO_METADATA, NO_METADATA, {"HKWasUserEntered": "1"}]),
                )
            )
        prepared_alike(records, chance.choice([BERLIN, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]))


def test_an_error_that_is_not_a_refusal_is_raised_by_both():
    prepared_alike([timed(), object()])
    with pytest.raises(AttributeError):
        Preparer("apple_health", BERLIN).prepare([timed(), object()])
