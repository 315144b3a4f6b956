"""Oura: mapper cases on the documented examples, the webhook handshake and signature, windows."""

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from integrations.providers.base import WebhookRejected
from integrations.providers.oura import mapper, webhook
from integrations.providers.oura.client import OuraClient, next_day
from integrations.providers.oura.source import Source

CET = timezone(timedelta(hours=1))

DAILY_ACTIVITY = {
    "id": "7e3c5a1b-5d0e-4c0b-9a3e-1f2d3c4b5a69",
    "score": 82,
    "active_calories": 486,
    "equivalent_walking_distance": 9410,
    "high_activity_time": 180,
    "low_activity_time": 14640,
    "medium_activity_time": 2280,
    "steps": 10873,
    "total_calories": 2611,
    "day": "2025-01-01",
    "timestamp": "2025-01-01T04:00:00+01:00",
}

SLEEP = {
    "id": "8f9a5221-639e-4a85-81cb-4065ef23f979",
    "average_breath": 14.25,
    "average_heart_rate": 52.5,
    "average_hrv": 48,
    "awake_time": 2310,
    "bedtime_start": "2024-12-31T23:12:04+01:00",
    "bedtime_end": "2025-01-01T07:21:34+01:00",
    "day": "2025-01-01",
    "deep_sleep_duration": 5790,
    "efficiency": 91,
    "latency": 720,
    "light_sleep_duration": 13560,
    "lowest_heart_rate": 47,
    "readiness": {"score": 86, "temperature_deviation": -0.12},
    "rem_sleep_duration": 7710,
    "sleep_phase_5_min": "4422211122333221112233222114",
    "time_in_bed": 29370,
    "total_sleep_duration": 27060,
    "type": "long_sleep",
}

READINESS = {
    "id": "3b1c9f0e-2d4a-4b6e-8f7a-9c0d1e2f3a4b",
    "day": "2025-01-01",
    "score": 86,
    "temperature_deviation": -0.12,
    "temperature_trend_deviation": 0.05,
    "timestamp": "2025-01-01T00:00:00+01:00",
}

WORKOUT = {
    "id": "1c7e4a0d-5b3f-4e2a-9d8c-7b6a5f4e3d2c",
    "activity": "running",
    "calories": 512.4,
    "day": "2025-01-01",
    "distance": 8230.0,
    "end_datetime": "2025-01-01T10:48:10+01:00",
    "intensity": "hard",
    "label": None,
    "source": "autodetected",
    "start_datetime": "2025-01-01T10:02:41+01:00",
}

EVENT = (
    b'{"event_type":"update","data_type":"sleep","object_id":"8f9a5221-639e-4a85-81cb-4065ef23f979",'
    b'"event_time":"2025-01-01T08:00:00+00:00","user_id":"a1b2c3d4"}'
)


def _by_metric(records):
    return {record.metric: record for record in records}


def test_daily_activity_starts_at_four_in_the_morning_local():
    records = _by_metric(mapper.daily_activity_records(DAILY_ACTIVITY))

    assert records["steps"].value == 10873
    assert records["steps"].start == datetime(2025, 1, 1, 4, tzinfo=CET)
    assert records["steps"].end == datetime(2025, 1, 2, 4, tzinfo=CET)
    assert records["active_energy"].value == 486
    assert records["basal_energy"].value == 2611 - 486
    assert (records["active_minutes"].value, records["active_minutes"].unit) == (2460, "s")


def test_equivalent_walking_distance_is_not_taken_for_distance():
    assert "distance" not in _by_metric(mapper.daily_activity_records(DAILY_ACTIVITY))


def test_sleep_period_becomes_a_session_with_durations_in_seconds():
    session = next(mapper.sleep_records(SLEEP))

    assert session.kind == "sleep"
    assert session.start == datetime(2024, 12, 31, 23, 12, 4, tzinfo=CET)
    assert session.end == datetime(2025, 1, 1, 7, 21, 34, tzinfo=CET)
    assert session.values["time_in_bed"] == (29370, "s")
    assert session.values["time_asleep"] == (27060, "s")
    assert session.values["sleep_deep"] == (5790, "s")
    assert session.values["sleep_light"] == (13560, "s")
    assert session.values["sleep_rem"] == (7710, "s")
    assert session.values["sleep_awake"] == (2310, "s")
    assert session.values["sleep_efficiency"] == (91, "%")
    assert session.device_kind == "ring"


def test_sleep_stages_come_from_five_minute_phases_merged_into_runs():
    stages = next(mapper.sleep_records(SLEEP)).stages

    assert [stage.stage for stage in stages[:4]] == ["awake", "light", "deep", "light"]
    assert stages[0].start == datetime(2024, 12, 31, 23, 12, 4, tzinfo=CET)
    assert stages[0].end == datetime(2024, 12, 31, 23, 22, 4, tzinfo=CET)  # "44": ten minutes awake
    assert stages[1].end - stages[1].start == timedelta(minutes=15)  # "222"
    assert sum((stage.end - stage.start for stage in stages), timedelta()) == timedelta(minutes=5 * 28)


def test_sleep_hrv_is_rmssd_and_lowest_heart_rate_is_the_resting_value():
    _session, *records = mapper.sleep_records(SLEEP)
    night = _by_metric(records)

    assert (night["hrv_rmssd"].value, night["hrv_rmssd"].unit) == (48, "ms")
    assert night["respiratory_rate"].value == 14.25
    assert night["resting_heart_rate"].value == 47
    assert night["hrv_rmssd"].start == datetime(2024, 12, 31, 23, 12, 4, tzinfo=CET)


def test_naps_have_no_resting_heart_rate():
    _session, *records = mapper.sleep_records({**SLEEP, "type": "late_nap"})
    metrics = {record.metric for record in records}

    assert "resting_heart_rate" not in metrics
    assert "hrv_rmssd" in metrics


def test_deleted_sleep_periods_are_skipped():
    assert list(mapper.sleep_records({**SLEEP, "type": "deleted"})) == []


def test_readiness_gives_score_and_temperature_deviation_in_celsius():
    records = _by_metric(mapper.daily_readiness_records(READINESS))

    assert records["readiness_score"].value == 86
    assert (records["skin_temperature_deviation"].value, records["skin_temperature_deviation"].unit) == (
        -0.12,
        "degC",
    )
    assert records["readiness_score"].start == datetime(2025, 1, 1, tzinfo=CET)


def test_daily_sleep_score():
    [score] = mapper.daily_sleep_records(
        {"id": "x", "day": "2025-01-01", "score": 88, "timestamp": "2025-01-01T00:00:00+01:00"}
    )

    assert (score.metric, score.value, score.source_key) == ("sleep_score", 88, "daily_sleep:2025-01-01")


def test_daily_spo2_without_a_time_is_placed_at_noon_utc_on_its_day():
    [spo2] = mapper.daily_spo2_records(
        {
            "id": "s",
            "day": "2025-01-01",
            "spo2_percentage": {"average": 96.8},
            "breathing_disturbance_index": 3,
        }
    )

    assert (spo2.value, spo2.unit) == (96.8, "%")
    assert spo2.start == datetime(2025, 1, 1, 12, tzinfo=UTC)


def test_heart_rate_samples_are_utc_and_keyed_by_their_millisecond_stamp():
    [sample] = mapper.heartrate_records(
        {
            "bpm": 56,
            "source": "sleep",
            "timestamp": "2024-12-31T23:00:30+00:00",
            "timestamp_unix": 1735686030000,
        }
    )

    assert (sample.metric, sample.value, sample.unit) == ("heart_rate", 56, "count/min")
    assert sample.start == datetime(2024, 12, 31, 23, 0, 30, tzinfo=UTC)
    assert sample.source_key == "heartrate:1735686030000"


def test_workout_maps_activity_energy_and_distance():
    session = mapper.workout_session(WORKOUT)

    assert session.activity_type == "running"
    assert session.values["active_energy"] == (512.4, "kcal")
    assert session.values["distance"] == (8230.0, "m")
    assert session.values["workout_duration"] == (2729.0, "s")
    assert session.source_key == "workout:1c7e4a0d-5b3f-4e2a-9d8c-7b6a5f4e3d2c"


def test_unknown_workout_activity_is_other():
    assert mapper.workout_session({**WORKOUT, "activity": "unicycling"}).activity_type == "other"


def test_every_data_type_has_a_mapper():
    assert set(Source.data_types) == {
        "daily_activity",
        "daily_sleep",
        "daily_readiness",
        "daily_spo2",
        "sleep",
        "heartrate",
        "workout",
    }


# --- windows ---------------------------------------------------------------------------------------
def test_end_date_is_the_day_after_the_last_moment_because_a_date_acts_as_midnight():
    assert next_day(datetime(2025, 1, 5, 10, tzinfo=UTC)) == "2025-01-06"
    assert next_day(datetime(2025, 1, 5, tzinfo=UTC)) == "2025-01-05"


# --- webhooks --------------------------------------------------------------------------------------
def test_signature_matches_the_documented_vector():
    assert (
        webhook.signature(EVENT, "1735689600", "test_client_secret")
        == "761B9A58282BAC70040FCAE6632FF3AE9B91F458E3843E398B9827303E68D207"
    )


def test_signature_check_refuses_a_changed_body_or_timestamp():
    good = "761B9A58282BAC70040FCAE6632FF3AE9B91F458E3843E398B9827303E68D207"

    assert webhook.signature_is_valid(EVENT, "1735689600", good, "test_client_secret")
    assert webhook.signature_is_valid(EVENT, "1735689600", good.lower(), "test_client_secret")
    assert not webhook.signature_is_valid(EVENT + b" ", "1735689600", good, "test_client_secret")
    assert not webhook.signature_is_valid(EVENT, "1735689601", good, "test_client_secret")
    assert not webhook.signature_is_valid(EVENT, "1735689600", "", "test_client_secret")


def test_verification_echoes_the_challenge_for_our_token(settings):
    settings.OURA_WEBHOOK_VERIFICATION_TOKEN = "our-token"
    request = RequestFactory().get("/webhooks/oura/", {"verification_token": "our-token", "challenge": "abc"})

    response = webhook.verify_handshake(request)

    assert response.status_code == 200
    assert json.loads(response.content) == {"challenge": "abc"}


def test_verification_with_another_token_is_refused(settings):
    settings.OURA_WEBHOOK_VERIFICATION_TOKEN = "our-token"
    request = RequestFactory().get("/webhooks/oura/", {"verification_token": "guess", "challenge": "abc"})

    assert webhook.verify_handshake(request).status_code == 401


def test_event_names_user_data_type_and_the_days_around_it():
    [notification] = webhook.parse_body(EVENT)

    assert notification.external_user_id == "a1b2c3d4"
    assert notification.data_types == ("sleep",)
    assert notification.start == datetime(2024, 12, 30, 8, tzinfo=UTC)
    assert notification.end == datetime(2025, 1, 2, 8, tzinfo=UTC)
    assert notification.delivery_id.startswith("sleep:8f9a5221")


def test_events_of_collections_the_source_does_not_read_are_ignored():
    assert webhook.parse_body(b'{"event_type":"create","data_type":"tag","user_id":"a1"}') == []


def test_event_without_user_is_rejected():
    with pytest.raises(WebhookRejected):
        webhook.parse_body(b'{"event_type":"update","data_type":"sleep"}')


@pytest.mark.django_db
def test_delivery_signed_with_the_client_secret_is_accepted(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "oura": {"APPS": [{"client_id": "c", "secret": "test_client_secret"}]}
    }
    request = RequestFactory().post(
        "/webhooks/oura/",
        EVENT,
        content_type="application/json",
        headers={
            "x-oura-timestamp": "1735689600",
            "x-oura-signature": "761B9A58282BAC70040FCAE6632FF3AE9B91F458E3843E398B9827303E68D207",
        },
    )

    assert [notification.external_user_id for notification in webhook.parse(request)] == ["a1b2c3d4"]


@pytest.mark.django_db
def test_delivery_with_a_bad_signature_is_rejected(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {
        "oura": {"APPS": [{"client_id": "c", "secret": "test_client_secret"}]}
    }
    request = RequestFactory().post(
        "/webhooks/oura/",
        EVENT,
        content_type="application/json",
        headers={"x-oura-timestamp": "1735689600", "x-oura-signature": "00" * 32},
    )

    with pytest.raises(WebhookRejected):
        webhook.parse(request)


# --- against the sandbox over loopback -----------------------------------------------------------
def test_sandbox_handshake_and_signed_event_are_accepted(simulator, live_server, settings):
    from integrations.models import WebhookEvent

    settings.OURA_WEBHOOK_VERIFICATION_TOKEN = "sandbox"
    callback = f"{live_server.url}/webhooks/oura/"

    assert simulator.handshake("oura", callback, verification_token="sandbox")
    assert not simulator.handshake("oura", callback, verification_token="guess")
    assert simulator.send_webhook("oura", callback, account="demo").status_code == 200
    assert simulator.send_webhook("oura", callback, account="demo", secret="wrong").status_code == 401
    assert WebhookEvent.objects.filter(provider="oura").count() == 1


# --- paging and date parameters over loopback ----------------------------------------------------
class _Collections(BaseHTTPRequestHandler):
    """Two pages per collection, chained by `next_token`; records every query."""

    queries: list[dict] = []

    def do_GET(self) -> None:
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        type(self).queries.append({"path": urlsplit(self.path).path, **query})
        page = (
            {"data": [{"n": 2}], "next_token": None}
            if query.get("next_token")
            else {"data": [{"n": 1}], "next_token": "eyJvIjoxfQ"}
        )
        data = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def oura_client():
    cache.clear()
    _Collections.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collections)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield OuraClient(provider="oura", base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()
    cache.clear()


def test_a_collection_is_one_query_paged_by_next_token(oura_client):
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)

    documents = list(oura_client.daily("daily_activity", start, end))

    assert documents == [{"n": 1}, {"n": 2}]
    first, second = _Collections.queries
    assert (first["start_date"], first["end_date"]) == ("2025-01-01", "2026-01-01")
    assert "next_token" not in first
    assert second["next_token"] == "eyJvIjoxfQ"
    assert (second["start_date"], second["end_date"]) == ("2025-01-01", "2026-01-01")


def test_sleep_asks_from_the_day_before_because_its_start_date_is_exclusive(oura_client):
    list(oura_client.sleep(datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 1, 20, tzinfo=UTC)))

    assert (_Collections.queries[0]["start_date"], _Collections.queries[0]["end_date"]) == (
        "2025-01-09",
        "2025-01-20",
    )


def test_heart_rate_asks_with_datetimes_and_offsets(oura_client):
    list(oura_client.heartrate(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)))

    assert _Collections.queries[0]["path"] == "/v2/usercollection/heartrate"
    assert _Collections.queries[0]["start_datetime"] == "2025-01-01T00:00:00+00:00"
    assert _Collections.queries[0]["end_datetime"] == "2025-01-02T00:00:00+00:00"


def test_app_subscriptions_are_created_once_per_event_and_collection(simulator, live_server, settings):
    settings.OURA_WEBHOOK_VERIFICATION_TOKEN = "sandbox"
    callback = f"{live_server.url}/webhooks/oura/"

    created = webhook.subscribe(callback)
    again = webhook.subscribe(callback)

    assert len(created) == len(webhook.DATA_TYPES) * 2
    assert {(item["event_type"], item["data_type"]) for item in created} == {
        (event, data_type) for event in ("create", "update") for data_type in webhook.DATA_TYPES
    }
    assert again == []


class _Subscriptions(BaseHTTPRequestHandler):
    """Oura's subscription list (one expiring soon, one later) and its renew route."""

    renewed: list[str] = []

    def do_GET(self) -> None:
        self._reply(
            [
                {
                    "id": "soon",
                    "callback_url": "u",
                    "event_type": "update",
                    "data_type": "sleep",
                    "expiration_time": "2025-01-05T00:00:00+00:00",
                },
                {
                    "id": "later",
                    "callback_url": "u",
                    "event_type": "create",
                    "data_type": "sleep",
                    "expiration_time": "2025-03-01T00:00:00+00:00",
                },
            ]
        )

    def do_PUT(self) -> None:
        type(self).renewed.append(self.path)
        self._reply({})

    def _reply(self, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.django_db
def test_subscriptions_expiring_within_a_week_are_renewed(settings):
    cache.clear()
    _Subscriptions.renewed = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Subscriptions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.OURA_API_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.SOCIALACCOUNT_PROVIDERS = {"oura": {"APPS": [{"client_id": "c", "secret": "s"}]}}
    try:
        renewed = webhook.renew_expiring(now=datetime(2025, 1, 1, tzinfo=UTC))
    finally:
        server.shutdown()
        server.server_close()

    assert renewed == 1
    assert _Subscriptions.renewed == ["/v2/webhook/subscription/renew/soon"]
