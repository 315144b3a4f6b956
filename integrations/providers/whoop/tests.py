"""WHOOP: mapper cases on the documented v2 examples, webhook signatures, paging over loopback."""

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache

from integrations.providers.base import WebhookRejected
from integrations.providers.whoop import mapper, webhook
from integrations.providers.whoop.client import WhoopClient
from integrations.providers.whoop.source import Source

EST = timezone(timedelta(hours=-5))

CYCLE = {
    "id": 93845,
    "user_id": 10129,
    "created_at": "2025-01-01T11:25:44.774Z",
    "updated_at": "2025-01-01T14:25:44.774Z",
    "start": "2025-01-01T02:25:44.774Z",
    "end": "2025-01-02T03:01:12.104Z",
    "timezone_offset": "-05:00",
    "score_state": "SCORED",
    "score": {"strain": 11.842, "kilojoule": 9812.7, "average_heart_rate": 71, "max_heart_rate": 168},
}

RECOVERY = {
    "cycle_id": 93845,
    "sleep_id": "123e4567-e89b-12d3-a456-426614174000",
    "user_id": 10129,
    "created_at": "2025-01-01T11:25:44.774Z",
    "updated_at": "2025-01-01T14:25:44.774Z",
    "score_state": "SCORED",
    "score": {
        "user_calibrating": False,
        "recovery_score": 64.0,
        "resting_heart_rate": 52.0,
        "hrv_rmssd_milli": 61.824,
        "spo2_percentage": 95.6875,
        "skin_temp_celsius": 33.7,
    },
}

SLEEP = {
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "cycle_id": 93845,
    "user_id": 10129,
    "created_at": "2025-01-01T11:25:44.774Z",
    "updated_at": "2025-01-01T14:25:44.774Z",
    "start": "2025-01-01T02:25:44.774Z",
    "end": "2025-01-01T10:25:44.774Z",
    "timezone_offset": "-05:00",
    "nap": False,
    "score_state": "SCORED",
    "score": {
        "stage_summary": {
            "total_in_bed_time_milli": 28800000,
            "total_awake_time_milli": 1403507,
            "total_no_data_time_milli": 0,
            "total_light_sleep_time_milli": 14905851,
            "total_slow_wave_sleep_time_milli": 6630370,
            "total_rem_sleep_time_milli": 5860272,
            "sleep_cycle_count": 4,
            "disturbance_count": 12,
        },
        "respiratory_rate": 16.11328125,
        "sleep_performance_percentage": 98.0,
        "sleep_consistency_percentage": 90.0,
        "sleep_efficiency_percentage": 91.69533848,
    },
}

WORKOUT = {
    "id": "ecfc6a15-4661-442f-a9a4-f160dd7afae8",
    "user_id": 10129,
    "start": "2025-01-01T15:02:41.000Z",
    "end": "2025-01-01T15:48:10.000Z",
    "timezone_offset": "-05:00",
    "sport_name": "running",
    "score_state": "SCORED",
    "score": {
        "strain": 12.4,
        "average_heart_rate": 148,
        "max_heart_rate": 171,
        "kilojoule": 2142.3,
        "percent_recorded": 100.0,
        "distance_meter": 8230.5,
        "altitude_gain_meter": 46.6,
    },
}

EVENT = (
    b'{"user_id":10129,"id":"ecfc6a15-4661-442f-a9a4-f160dd7afae8","type":"sleep.updated",'
    b'"trace_id":"e369c784-5100-49e8-8098-75d35c47b31b"}'
)
EVENT_SIGNATURE = "uUTzWk4+Ci75JsHZBSFPjvJCGJ803mMKByb549B53o0="


def _by_metric(records):
    return {record.metric: record for record in records}


def test_cycle_strain_is_placed_in_the_users_offset():
    [strain] = mapper.cycle_records(CYCLE)

    assert (strain.metric, strain.value, strain.unit) == ("strain", 11.842, "score")
    assert strain.start == datetime(2024, 12, 31, 21, 25, 44, 774000, tzinfo=EST)
    assert strain.start.utcoffset() == timedelta(hours=-5)
    assert strain.end == datetime(2025, 1, 2, 3, 1, 12, 104000, tzinfo=UTC)


def test_open_cycle_has_no_end_yet():
    [strain] = mapper.cycle_records({**CYCLE, "end": None})

    assert strain.end is None
    assert strain.metadata["open"]


def test_pending_cycle_gives_nothing():
    assert list(mapper.cycle_records({**CYCLE, "score_state": "PENDING_SCORE", "score": None})) == []


def test_sleep_stages_are_milliseconds_and_asleep_is_their_sum():
    session = mapper.sleep_session(SLEEP)

    assert session.start == datetime(2024, 12, 31, 21, 25, 44, 774000, tzinfo=EST)
    assert session.values["time_in_bed"] == (28800000, "ms")
    assert session.values["sleep_awake"] == (1403507, "ms")
    assert session.values["sleep_deep"] == (6630370, "ms")
    assert session.values["time_asleep"] == (14905851 + 6630370 + 5860272, "ms")
    assert session.values["sleep_efficiency"] == (91.69533848, "%")
    assert session.values["sleep_score"] == (98.0, "score")
    assert session.stages == ()


def test_unscored_sleep_keeps_the_session_without_values():
    session = mapper.sleep_session({**SLEEP, "score_state": "PENDING_SCORE", "score": None})

    assert session.values == {}
    assert session.source_key == "sleep:123e4567-e89b-12d3-a456-426614174000"


def test_recovery_is_placed_at_the_end_of_its_sleep():
    _session, *records = mapper.sleep_records({**SLEEP, "recovery": RECOVERY})
    values = _by_metric(records)

    assert values["recovery_score"].value == 64.0
    assert (values["hrv_rmssd"].value, values["hrv_rmssd"].unit) == (61.824, "ms")
    assert values["resting_heart_rate"].value == 52.0
    assert values["spo2"].value == 95.6875
    assert values["respiratory_rate"].value == 16.11328125
    assert values["recovery_score"].start == datetime(2025, 1, 1, 5, 25, 44, 774000, tzinfo=EST)
    assert values["recovery_score"].source_key == "recovery:93845:recovery_score"


def test_workout_energy_stays_in_kilojoules():
    session = mapper.workout_session(WORKOUT)

    assert session.activity_type == "running"
    assert session.values["active_energy"] == (2142.3, "kJ")
    assert session.values["distance"] == (8230.5, "m")
    assert session.values["heart_rate_max"] == (171, "count/min")
    assert session.values["workout_duration"] == (2729.0, "s")
    assert session.start.utcoffset() == timedelta(hours=-5)
    assert session.metadata["strain"] == 12.4


def test_offsets_z_and_positive_are_read():
    assert mapper.offset_of("Z") == UTC
    assert mapper.offset_of("+05:30").utcoffset(None) == timedelta(hours=5, minutes=30)


# --- webhooks --------------------------------------------------------------------------------------
def test_signature_matches_the_documented_vector():
    assert webhook.signature(EVENT, "1735689600000", "test_client_secret") == EVENT_SIGNATURE


def test_signature_is_refused_when_stale_or_changed():
    now = 1735689600.0

    assert webhook.signature_is_valid(EVENT, "1735689600000", EVENT_SIGNATURE, "test_client_secret", now=now)
    assert not webhook.signature_is_valid(
        EVENT, "1735689600000", EVENT_SIGNATURE, "test_client_secret", now=now + 301
    )
    assert not webhook.signature_is_valid(
        EVENT + b" ", "1735689600000", EVENT_SIGNATURE, "test_client_secret", now=now
    )
    assert not webhook.signature_is_valid(EVENT, "1735689600000", EVENT_SIGNATURE, "other", now=now)


def test_sleep_event_asks_for_the_sleep_data_type():
    [notification] = webhook.parse_body(EVENT)

    assert notification.external_user_id == "10129"
    assert notification.data_types == ("sleep",)
    assert notification.delivery_id == "e369c784-5100-49e8-8098-75d35c47b31b"


def test_recovery_event_rereads_sleeps_which_carry_recoveries():
    [notification] = webhook.parse_body(
        b'{"user_id":10129,"id":"123e","type":"recovery.updated","trace_id":"t"}'
    )

    assert notification.data_types == ("sleep",)


def test_event_without_type_is_rejected():
    with pytest.raises(WebhookRejected):
        webhook.parse_body(b'{"user_id":10129}')


# --- paging over loopback ------------------------------------------------------------------------
class _Pages(BaseHTTPRequestHandler):
    """Serves collection pages by `nextToken` and records every query."""

    pages: dict[str, dict] = {}
    queries: list[dict] = []

    def do_GET(self) -> None:
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        type(self).queries.append({"path": urlsplit(self.path).path, **query})
        key = f"{urlsplit(self.path).path}:{query.get('nextToken', '')}"
        data = json.dumps(type(self).pages.get(key, {"records": [], "next_token": None})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-RateLimit-Limit", "100, 100;window=60, 10000;window=86400")
        self.send_header("X-RateLimit-Remaining", "98")
        self.send_header("X-RateLimit-Reset", "3")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def whoop_server():
    cache.clear()
    _Pages.pages, _Pages.queries = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    cache.clear()


def _source(server) -> Source:
    return Source(WhoopClient(provider="whoop", base_url=f"http://127.0.0.1:{server.server_address[1]}"))


def test_collections_page_with_next_token_and_at_most_25(whoop_server):
    _Pages.pages = {
        "/developer/v2/activity/workout:": {"records": [WORKOUT], "next_token": "MTIz"},
        "/developer/v2/activity/workout:MTIz": {"records": [{**WORKOUT, "id": "w2"}], "next_token": None},
    }
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)

    items = list(_source(whoop_server).fetch("workout", start, end))

    assert [item["id"] for item in items] == ["ecfc6a15-4661-442f-a9a4-f160dd7afae8", "w2"]
    assert [query.get("nextToken") for query in _Pages.queries] == [None, "MTIz"]
    assert _Pages.queries[0]["limit"] == "25"
    assert _Pages.queries[0]["start"] == "2025-01-01T00:00:00.000Z"
    assert _Pages.queries[0]["end"] == "2025-01-02T00:00:00.000Z"


def test_sleeps_are_fetched_with_their_recoveries_attached(whoop_server):
    orphan = {**RECOVERY, "cycle_id": 1, "sleep_id": "gone"}
    _Pages.pages = {
        "/developer/v2/recovery:": {"records": [RECOVERY, orphan], "next_token": None},
        "/developer/v2/activity/sleep:": {"records": [SLEEP], "next_token": None},
    }
    source = _source(whoop_server)

    items = list(source.fetch("sleep", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)))

    assert items[0]["recovery"]["cycle_id"] == 93845
    assert items[1] == {"orphan_recovery": orphan}
    orphan_records = list(source.to_records("sleep", items[1]))
    assert orphan_records[0].start == datetime(2025, 1, 1, 11, 25, 44, 774000, tzinfo=UTC)


# --- against the sandbox over loopback -----------------------------------------------------------
def test_sandbox_signed_event_is_accepted_and_a_wrong_key_refused(simulator, live_server):
    from integrations.models import WebhookEvent

    callback = f"{live_server.url}/webhooks/whoop/"

    assert simulator.send_webhook("whoop", callback, account="demo").status_code == 200
    assert simulator.send_webhook("whoop", callback, account="demo", secret="wrong").status_code == 401
    assert WebhookEvent.objects.filter(provider="whoop").count() == 1
