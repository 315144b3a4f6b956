"""The C reader of quantity samples (imports/parsers/_apple_health.c) against the Python parser.

The Python parser is the reference: on every export the two must give the same items, in the same
order, with the same report, and refuse the same files with the same reasons.
"""

import gc
import io
import random
import subprocess
import sys
import weakref

import pytest

from healthdata.normalized import TimedRecord
from imports.parsers import apple_health
from imports.parsers.apple_health import AppleHealthParser
from imports.parsers.base import ImportRejected
from tests.imports.test_apple_health import FIXTURES, GENERATOR
from tests.imports.test_pipeline import EDGE_CASES

pytestmark = pytest.mark.skipif(
    apple_health.accelerated is None, reason="the C reader is not built (make install builds it)"
)
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">\n'
HEART_RATE = 'type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min"'


def read(content: bytes, accelerate: bool) -> tuple[list, dict, int] | tuple[str, str]:
    """The items, report and detail count of one export, or the code and reason it is refused with."""
    parser = AppleHealthParser(io.BytesIO(content), len(content), timed=True, accelerate=accelerate)
    assert parser.accelerated is accelerate
    try:
        items = list(parser)
    except ImportRejected as rejected:
        return rejected.code, rejected.reason
    return items, parser.report.as_dict(), parser.detail


def assert_same(content: bytes) -> list:
    fast, reference = read(content, accelerate=True), read(content, accelerate=False)
    # Compared as text: it names each item's type (a TimedRecord equals the plain tuple of its
    # fields), and a NaN value, which equals nothing, reads the same.
    assert repr(fast) == repr(reference)
    return fast[0]


def document(*elements: str) -> bytes:
    return (HEAD + "".join(elements) + "</HealthData>\n").encode()


def heart_rate(start: str, value: str = "61", end: str | None = None, children: str = "") -> str:
    dates = f'startDate="{start}" endDate="{start if end is None else end}"'
    attributes = f'{HEART_RATE} {dates} value="{value}"'
    return f" <Record {attributes}>{children}</Record>\n" if children else f" <Record {attributes}/>\n"


def test_the_pipeline_uses_the_c_reader_when_it_is_built():
    assert AppleHealthParser(io.BytesIO(b""), 0, timed=True).accelerated
    assert not AppleHealthParser(io.BytesIO(b""), 0).accelerated  # RecordIn items: Python's


@pytest.mark.parametrize("fixture", ["apple_export_small.xml", "apple_export_ios16.xml"])
def test_the_c_reader_reads_the_fixtures_as_python_does(fixture):
    items = assert_same((FIXTURES / fixture).read_bytes())

    assert any(type(item) is TimedRecord for item in items)


def test_the_c_reader_reads_the_edge_cases_as_python_does():
    items = assert_same(EDGE_CASES.encode())

    hrv = [item for item in items if getattr(item, "metric", "") == "hrv_sdnn"]
    assert hrv[0].metadata["beats"] == [[61.0, "3:00:01.10 AM"], [63.0, "3:00:02.05 AM"]]
    motion = [item for item in items if getattr(item, "metadata", None) and "beats" not in item.metadata]
    assert motion[0].metadata == {"HKMetadataKeyHeartRateMotionContext": "1"}


def test_the_c_reader_reads_a_generated_export_as_python_does(tmp_path):
    path = tmp_path / "export.xml"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--records", "5000", "--locale", "de_DE", "--out", str(path)],
        check=True,
        capture_output=True,
    )

    items = assert_same(path.read_bytes())

    assert sum(type(item) is TimedRecord for item in items) > 4000


def test_the_c_reader_gives_the_same_items_whatever_the_chunk_size(monkeypatch):
    content = (FIXTURES / "apple_export_small.xml").read_bytes()
    whole = read(content, accelerate=True)
    monkeypatch.setattr("imports.parsers.apple_health.CHUNK_BYTES", 97)

    assert read(content, accelerate=True) == whole


# Each date is read in C only when it is exactly `YYYY-MM-DD HH:MM:SS ±HHMM` with every field in
# range; anything else goes to Python, which reads it, leaves it to ingest or refuses the file.
DATES = [
    "2025-01-14 07:42:10 -0500",
    "2024-02-29 23:59:59 +0530",
    "2023-02-29 10:00:00 +0100",  # not a leap year
    "2100-02-29 10:00:00 +0100",
    "2000-02-29 10:00:00 +0100",
    "1999-12-31 23:59:59 -0930",
    "1969-07-20 20:17:40 +0000",
    "0001-01-01 00:00:00 +0000",
    "9999-12-31 23:59:59 -2359",
    "2025-01-14 24:00:00 -0500",
    "2025-01-14 07:60:10 -0500",
    "2025-01-14 07:42:60 -0500",
    "2025-13-14 07:42:10 -0500",
    "2025-00-14 07:42:10 -0500",
    "2025-01-00 07:42:10 -0500",
    "2025-04-31 07:42:10 -0500",
    "2025-01-14 07:42:10 +2400",
    "2025-01-14 07:42:10 +0160",
    "2025-01-14 07:42:10 -0000",
    "2025-01-14 07:42:10 +05:30",
    "2025-01-14 07:42:10",
    "2025-01-14T07:42:10-05:00",
    "2025-01-14 07:42:10.250 -0500",
    "2025-01-14 07:42.10 -0500",
    "2025-01-14 07:4x:10 -0500",
    "2025-01-14  7:42:10 -0500",
    "+025-01-14 07:42:10 -0500",
    "2025-01-14 07:42:10 \u22120500",  # a minus sign that is not ASCII
    "\uff12\uff10\uff12\uff15-01-14 07:42:10 -0500",  # digits that are not ASCII
    "",
]
VALUES = ["61", "61.5", "-0", "+5", "5.", ".5", "1e2", "1E+2", "2.5e-3", "00012", "1e999", "-1e999"]
VALUES += [
    "nan",
    "inf",
    "-Infinity",
    "1_000",
    " 61",
    "61 ",
    "6 1",
    "e5",
    ".",
    "-",
    "1e",
    "0x10",
    "",
    "\u0663",
]


@pytest.mark.parametrize("start", DATES)
def test_a_start_date_is_read_as_python_reads_it(start):
    assert_same(document(heart_rate(start, end="2025-01-14 07:42:10 -0500")))


@pytest.mark.parametrize("end", DATES)
def test_an_end_date_is_read_as_python_reads_it(end):
    assert_same(document(heart_rate("2025-01-14 07:42:10 -0500", end=end)))


@pytest.mark.parametrize("value", VALUES)
def test_a_value_is_read_as_python_reads_it(value):
    assert_same(document(heart_rate("2025-01-14 07:42:10 -0500", value=value)))


def test_dates_and_values_mutated_at_random_are_read_as_python_reads_them():
    chance = random.Random(20261203)  # fixed, for a repeatable test
    alphabet = "0123456789 -+:.eT"
    for _ in range(300):
        start, value = list("2025-01-14 07:42:10 -0500"), list("61.25")
        for text in (start, value):
            for _ in range(chance.randint(1, 2)):
                text[chance.randrange(len(text))] = chance.choice(alphabet)
        assert_same(document(heart_rate("".join(start), value="".join(value))))


def test_metadata_entities_and_unicode_are_read_as_python_reads_them():
    children = (
        '<MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="1"/>'
        '<MetadataEntry key="Note &amp; &lt;more&gt;" value="Zürich 東京 &#x1F3C3;"/>'
        '<MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="2"/>'  # the last one wins
    )
    source = 'sourceName="Anna&apos;s Apple&#160;Watch" device="&lt;&lt;HKDevice&gt;, name:Apple Watch&gt;"'
    items = assert_same(
        document(
            heart_rate("2025-01-14 07:42:10 -0500", children=children),
            heart_rate("2025-01-14 07:43:10 -0500").replace('sourceName="Watch"', source),
        )
    )

    assert items[0].metadata == {
        "HKMetadataKeyHeartRateMotionContext": "2",
        "Note & <more>": "Zürich 東京 🏃",
    }
    assert items[1].device == "Apple Watch"


def test_anything_else_nested_in_a_record_is_ignored_with_its_content():
    nested = (
        '<MetadataEntry key="kept" value="1"/>'
        + heart_rate("2025-01-14 08:00:00 -0500").strip()  # a record in a record
        + '<Workout workoutActivityType="HKWorkoutActivityTypeRunning" startDate="2025-01-14 07:00:00 -0500" '
        'endDate="2025-01-14 07:30:00 -0500"><MetadataEntry key="lost" value="2"/></Workout>'
        "<HeartRateVariabilityMetadataList>"
        '<InstantaneousBeatsPerMinute bpm="61" time="7:42:11 AM"/>'
        "</HeartRateVariabilityMetadataList>"
        '<MetadataEntry key="also kept" value="3"/>'
    )

    items = assert_same(document(heart_rate("2025-01-14 07:42:10 -0500", children=nested)))

    assert len(items) == 1
    assert items[0].metadata == {"kept": "1", "also kept": "3"}


HRV = 'type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" sourceName="Watch" unit="ms"'


def hrv(start: str, children: str, kind: str = HRV) -> str:
    return f' <Record {kind} startDate="{start}" endDate="{start}" value="48.5">{children}</Record>\n'


def beats(*beats: str) -> str:
    return "<HeartRateVariabilityMetadataList>" + "".join(beats) + "</HeartRateVariabilityMetadataList>"


@pytest.mark.parametrize(
    "beat",
    [
        '<InstantaneousBeatsPerMinute bpm="61" time="7:42:11.44 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="" time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="n/a" time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm=" 61 " time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="1e2" time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="1_000" time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="nan" time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="-inf" time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="٦١" time="7:42:11 AM"/>',  # digits float() reads
        '<InstantaneousBeatsPerMinute time="7:42:11 AM"/>',
        '<InstantaneousBeatsPerMinute bpm="61"/>',
        '<InstantaneousBeatsPerMinute bpm="61" time="Zürich 東京" extra="x"/>',
        '<InstantaneousBeatsPerMinute bpm="61" time="a"><Note/><MetadataEntry key="k" value="v"/>'
        "</InstantaneousBeatsPerMinute>",
        '<InstantaneousBeatsPerMinute bpm="61" time="a"><InstantaneousBeatsPerMinute bpm="62" time="b"/>'
        "</InstantaneousBeatsPerMinute>",
    ],
)
def test_an_hrv_records_heartbeats_are_read_as_python_reads_them(beat):
    items = assert_same(
        document(
            heart_rate("2025-01-14 07:40:00 -0500"),
            hrv("2025-01-14 07:42:10 -0500", beats(beat, beat)),
            heart_rate("2025-01-14 07:43:00 -0500"),
        )
    )

    assert len(items[1].metadata["beats"]) >= 2


def test_heartbeats_are_appended_in_c_without_python_seeing_their_elements(monkeypatch):
    seen = []
    start, end = AppleHealthParser._start, AppleHealthParser._end
    monkeypatch.setattr(
        AppleHealthParser,
        "_start",
        lambda parser, name, attrs: (seen.append(name), start(parser, name, attrs)),
    )
    monkeypatch.setattr(
        AppleHealthParser, "_end", lambda parser, name: (seen.append(name), end(parser, name))
    )
    beat = '<InstantaneousBeatsPerMinute bpm="61" time="7:42:11 AM"/>'

    items = read(
        document(
            hrv("2025-01-14 07:42:10 -0500", beats(beat, beat)), hrv("2025-01-15 07:42:10 -0500", beats(beat))
        ),
        True,
    )[0]

    assert [len(item.metadata["beats"]) for item in items] == [2, 1]
    assert "InstantaneousBeatsPerMinute" not in seen
    assert seen.count("HeartRateVariabilityMetadataList") == 4  # their lists still go to Python


@pytest.mark.parametrize(
    "record",
    [
        hrv("2025-01-14 07:42:10 -0500", '<InstantaneousBeatsPerMinute bpm="61" time="a"/>'),  # no list
        hrv(
            "2025-01-14 07:42:10 -0500",
            "<Other>" + beats('<InstantaneousBeatsPerMinute bpm="61" time="a"/>') + "</Other>",
        ),
        hrv(
            "2025-01-14 07:42:10 -0500",
            beats('<InstantaneousBeatsPerMinute bpm="61" time="a"/>'),
            kind='type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min" device="x"',
        ).replace('value="48.5"', 'value="n/a"'),  # a heart rate read by Python: beats are no part of it
        ' <InstantaneousBeatsPerMinute bpm="61" time="a"/>\n',  # outside any record
        ' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" startDate="2025-01-14 06:00:00 -0500" '
        'endDate="2025-01-14 06:30:00 -0500">'
        + beats('<InstantaneousBeatsPerMinute bpm="61" time="a"/>')
        + "</Workout>\n",
        hrv("2025-01-14 07:42:10 -0500", beats("") + '<MetadataEntry key="k" value="v"/>'),
    ],
)
def test_heartbeats_where_python_keeps_none_are_kept_by_neither(record):
    assert_same(
        document(
            record, hrv("2025-01-15 07:42:10 -0500", beats('<InstantaneousBeatsPerMinute bpm="1" time="t"/>'))
        )
    )


def test_records_in_correlations_and_workouts_are_left_to_python():
    pressure = (
        ' <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Cuff" '
        'startDate="2025-01-14 07:00:00 -0500" endDate="2025-01-14 07:00:00 -0500">'
        '<Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Cuff" unit="mmHg" '
        'startDate="2025-01-14 07:00:00 -0500" endDate="2025-01-14 07:00:00 -0500" value="121"/>'
        '<Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="Cuff" unit="mmHg" '
        'startDate="2025-01-14 07:00:00 -0500" endDate="2025-01-14 07:00:00 -0500" value="79"/>'
        "</Correlation>\n"
    )
    inside_workout = (
        ' <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration="30" durationUnit="min" '
        'startDate="2025-01-14 06:00:00 -0500" endDate="2025-01-14 06:30:00 -0500">'
        + heart_rate("2025-01-14 06:10:00 -0500").strip()
        + "</Workout>\n"
    )

    items = assert_same(document(pressure, inside_workout, heart_rate("2025-01-14 07:42:10 -0500")))

    assert [type(item).__name__ for item in items] == ["RecordIn", "TimedRecord", "SessionIn", "TimedRecord"]


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><HealthData>&b;</HealthData>',
        b'<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<HealthData><Record type="&x;"/></HealthData>',
        b'<?xml version="1.0"?><!DOCTYPE HealthData SYSTEM "http://example.com/x.dtd"><HealthData/>',
        b"<HealthData>&x;</HealthData>",
        # A DTD the pattern cannot read, and a second one: refused before expat sees either.
        b'<?xml version="1.0"?><!DOCTYPE HealthData [ <!ATTLIST HealthData a CDATA "]>" > ]><HealthData/>',
        b"<!DOCTYPE HealthData []><!DOCTYPE HealthData [<!ENTITY a 'b'>]><HealthData>&a;</HealthData>",
        b"<gpx><trk/></gpx>",
        document(heart_rate("2025-01-14 07:42:10 -0500"))[:-20],
        document(heart_rate("2025-01-14 07:42:10 -0500"), " <Record></Workout>\n"),
        document(heart_rate("2025-01-14 07:42:10 -0500")).replace(b"Watch", b"W\xffatch"),
    ],
    ids=["bomb", "external entity", "external dtd", "undefined entity", "unreadable dtd", "second dtd",
         "another root", "truncated", "mismatched tag", "not utf-8"],
)  # fmt: skip
def test_the_c_reader_refuses_what_python_refuses_with_the_same_reason(content):
    fast = read(content, accelerate=True)

    assert fast == read(content, accelerate=False)
    assert len(fast) == 2 and isinstance(fast[0], str)  # refused: (code, reason)


def test_a_document_type_declaration_that_reaches_the_c_reader_stops_it():
    pending: list = []

    def refuse() -> None:
        raise ImportRejected("no DTD here", "xml_entities")

    reader = apple_health.accelerated.Reader(
        lambda name, attrs: None, lambda name: None, lambda *series: None, refuse, pending, TimedRecord, {}
    )

    with pytest.raises(ImportRejected, match="no DTD here"):
        reader.Parse(b"<!DOCTYPE HealthData [<!ENTITY a 'b'>]><HealthData>&a;&a;</HealthData>", True)
    with pytest.raises(RuntimeError, match="stopped"):
        reader.Parse(b"", True)
    assert pending == []


def test_an_error_in_a_python_handler_stops_the_c_reader_with_that_error():
    calls: list[str] = []

    def start(name: str, attrs: dict) -> None:
        calls.append(name)
        if name == "Boom":
            raise ValueError("boom")

    reader = apple_health.accelerated.Reader(
        start, lambda name: None, lambda *series: None, lambda: None, [], TimedRecord, {}
    )

    with pytest.raises(ValueError, match="boom"):
        reader.Parse(b"<HealthData><Boom/><After/></HealthData>", True)
    assert calls == ["HealthData", "Boom"]


def test_the_c_reader_hands_every_series_to_python_once(monkeypatch):
    described: list[tuple] = []
    original = AppleHealthParser._fast_series

    def fast_series(self, *series):
        described.append(series)
        return original(self, *series)

    monkeypatch.setattr(AppleHealthParser, "_fast_series", fast_series)
    content = document(*(heart_rate(f"2025-01-14 07:42:{second:02} -0500") for second in range(30)))

    items, _, _ = read(content, accelerate=True)

    assert len(items) == 30
    assert described == [("HKQuantityTypeIdentifierHeartRate", "Watch", "", "count/min")]


def test_a_reader_left_half_way_is_collected():
    parser = AppleHealthParser(io.BytesIO(b""), 1, timed=True)
    parser.reader = parser._make_expat()  # a cycle: the reader holds the parser's handlers
    opened = heart_rate("2025-01-14 07:42:10 -0500", children='<MetadataEntry key="a" value="b"/>')
    parser.reader.Parse((HEAD + opened.removesuffix("</Record>\n")).encode())  # a record left open
    gone = weakref.ref(parser)
    del parser
    gc.collect()

    assert gone() is None
