"""The C encoder of COPY rows (healthdata/_rows.c) against the Python one.

The Python encoder is the reference: for every batch of prepared rows the two must give the same
bytes, and refuse the same malformed rows. That the bytes are what PostgreSQL reads is tested
through the writes themselves (tests/healthdata/test_ingest.py, tests/imports/test_pipeline.py).
"""

import io
import math
import random
import subprocess
import sys
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from healthdata import copy_encoding
from healthdata.copy_encoding import Batch, _constants_head, _encode_rows, encode
from healthdata.normalized import SessionIn
from healthdata.prepare import Preparer
from imports.parsers.apple_health import AppleHealthParser
from tests.imports.test_apple_health import GENERATOR

pytestmark = pytest.mark.skipif(
    copy_encoding._encode_rows_in_c is None, reason="the C encoder is not built (make install builds it)"
)
BATCH = Batch(7, "apple_health", "import", 42, datetime(2025, 3, 1, 12, 30, tzinfo=UTC))
ROW = ("heart_rate", "Apple Watch", "watch", "abc|2025-01-14 07:42:10 -0500", 1_736_858_530_000_000,
       1_736_858_530_000_000, -300, date(2025, 1, 14), 61.0, None, 90, 0, "{}")  # fmt: skip


def both(rows: list[tuple], batch: Batch = BATCH) -> bytes:
    head = _constants_head(batch)
    fast, reference = copy_encoding._encode_rows_in_c(head, rows), _encode_rows(head, rows)
    assert fast == reference
    return fast


def test_encode_uses_the_c_encoder_when_it_is_built():
    assert encode(BATCH, [ROW]).payload == _encode_rows(_constants_head(BATCH), [ROW])


def test_an_empty_batch_is_the_signature_and_the_trailer():
    assert both([]) == copy_encoding.SIGNATURE + copy_encoding.TRAILER


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {6: None},  # no offset: written field by field
        {9: 63.5},  # a secondary value
        {12: '{"original":{"unit":"lb","value":166.81}}'},
        {12: '{"HKMetadataKeyHeartRateMotionContext":"0","note":"caf\\u00e9 ☕"}'},
        {1: "Ålex\u2019s Apple Watch ⌚", 3: "ключ|2025-01-14 07:42:10 -0500"},  # UTF-8 beyond ASCII
        {1: "", 2: ""},  # no device
        {4: 0, 5: 0, 7: date(1970, 1, 1)},  # the Unix epoch
        {4: -2_208_988_800_000_000, 5: -2_208_988_800_000_000, 7: date(1900, 1, 1)},  # before 2000
        {4: 4_102_444_800_000_000, 5: 4_102_444_800_000_000, 7: date(2100, 1, 1)},  # after
        {7: date(2024, 2, 29)},  # a leap day
        {7: date(1, 1, 1)},
        {7: date(9999, 12, 31)},
        {6: 32_767, 10: 0, 11: 32_767},  # smallints at their bounds
        {6: -32_768},
        {8: -0.0},
        {8: 1e308, 9: -1e-308},
        {8: math.inf, 9: math.nan},
        {8: 5},  # an int value is written as a float
        {3: "k" * 128, 12: "{" + '"k":"' + "v" * 5_000 + '"}'},  # long texts
    ],
)
def test_the_two_encode_every_kind_of_field_alike(changes):
    row = tuple(changes.get(position, value) for position, value in enumerate(ROW))
    both([row, ROW, row])


def test_batches_without_an_origin_or_with_another_user_are_encoded_alike():
    both([ROW], Batch(123_456_789, "oura", "sync", None, datetime(2024, 1, 1, tzinfo=UTC)))


def test_random_rows_are_encoded_alike():
    chance = random.Random(20251203)
    rows = []
    for _ in range(2_000):
        start = chance.randrange(-(10**15), 10**16)
        rows.append(
            (
                chance.choice(["heart_rate", "steps", "weight", "sleep_duration"]),
                chance.choice(["iPhone", "Apple Watch", "Withings Body+", "", "Ω"]),
                chance.choice(["phone", "watch", "scale", ""]),
                f"{chance.getrandbits(64):016x}|{start}",
                start,
                start + chance.randrange(0, 10**10),
                chance.choice([None, 0, 60, -300, 345, 840]),
                date.fromordinal(chance.randrange(1, 3_652_059)),
                chance.uniform(-1e6, 1e6),
                chance.choice([None, chance.uniform(0, 300)]),
                chance.randrange(0, 101),
                chance.randrange(0, 64),
                chance.choice(["{}", '{"a":"b"}', '{"original":{"unit":"lb","value":1.5}}']),
            )
        )
    both(rows)


def test_an_exports_prepared_rows_are_encoded_alike(tmp_path):
    path = tmp_path / "export.xml"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--records", "3000", "--out", str(path)],
        check=True,
        capture_output=True,
    )
    export = path.read_bytes()
    parser = AppleHealthParser(io.BytesIO(export), len(export), timed=True)
    records = [item for item in parser if type(item) is not SessionIn]
    rows = Preparer("apple_health", ZoneInfo("Europe/Berlin")).prepare(records).rows
    assert len(rows) > 2_500
    both(rows)


@pytest.mark.parametrize(
    "row",
    [
        ROW[:12],  # a field short
        (None, *ROW[1:]),  # a text that is not one
        (*ROW[:3], b"key", *ROW[4:]),
        (*ROW[:3], "\udc80", *ROW[4:]),  # not encodable as UTF-8
        (*ROW[:4], "2025", *ROW[5:]),  # a time that is not a number
        (*ROW[:4], 2**64, *ROW[5:]),  # out of range
        (*ROW[:6], 40_000, *ROW[7:]),  # a smallint out of range
        (*ROW[:7], datetime(2025, 1, 14).isoformat(), *ROW[8:]),  # a date that is not one
        (*ROW[:8], "61", *ROW[9:]),  # a value that is not a number
        (*ROW[:10], -40_000, *ROW[11:]),
        (*ROW[:12], {"a": "b"}),  # metadata not yet text
    ],
)
def test_a_malformed_row_is_refused_by_both(row):
    head = _constants_head(BATCH)
    with pytest.raises(Exception):  # noqa: B017 - each refuses it in its own words
        _encode_rows(head, [ROW, row])
    with pytest.raises((TypeError, ValueError, OverflowError)):
        copy_encoding._encode_rows_in_c(head, [ROW, row])


def test_only_a_list_of_tuples_and_bytes_are_taken():
    with pytest.raises(TypeError):
        copy_encoding._encode_rows_in_c(_constants_head(BATCH), (ROW,))
    with pytest.raises(TypeError):
        copy_encoding._encode_rows_in_c(_constants_head(BATCH), [list(ROW)])
    with pytest.raises(TypeError):
        copy_encoding._encode_rows_in_c("head", [ROW])
