"""Fitbit through the Google Health API: mapper cases on the documented examples, the webhook's
verification, secret and Tink signature (documented vector), and the client's windows and paging."""

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from allauth.socialaccount.providers.base import ProviderException
from django.core.cache import cache
from django.test import RequestFactory

from integrations.providers.base import WebhookRejected
from integrations.providers.fitbit import mapper, webhook
from integrations.providers.fitbit.client import FitbitClient
from integrations.providers.fitbit.source import Source
from integrations.providers.fitbit.views import FitbitOAuth2Adapter

CET = timezone(timedelta(hours=1))
BERLIN = ZoneInfo("Europe/Berlin")

KEYSET = {
    "primaryKeyId": 1234567890,
    "key": [
        {
            "keyData": {
                "typeUrl": "type.googleapis.com/google.crypto.tink.EcdsaPublicKey",
                "value": (
                    "EgYIAxACGAIaIQBr+F1f6EWYsQymGZ7AnM19NdzXGV/dHcdzegxnAG7yUSIhALlS8l7sHe7R"
                    "/KGRg4mQRmNX0xSt+36XYLjZr8jzmpWt"
                ),
                "keyMaterialType": "ASYMMETRIC_PUBLIC",
            },
            "status": "ENABLED",
            "keyId": 1234567890,
            "outputPrefixType": "TINK",
        }
    ],
}
SIGNED_BODY = (
    b'[{"data":{"version":"1","clientProvidedSubscriptionName":"sim-sub","healthUserId":"sim-user-1",'
    b'"operation":"UPSERT","dataType":"steps","intervals":[{"physicalTimeInterval":'
    b'{"startTime":"2025-01-01T08:00:00Z","endTime":"2025-01-01T08:05:00Z"}}]}}]'
)
SIGNATURE = (
    "AUmWAtIwRgIhALVjT2eHxhL7mvHYMDJeEibIdtOwsqNB/iGywgXlTOJ4AiEA+BFVlk1wczot3CZ3xHDMAYpRFp4zYH8G91JzuuG3MOY="
)

SLEEP = {
    "name": "users/1234567890123456789/dataTypes/sleep/dataPoints/7821966286120953736",
    "dataSource": {"recordingMethod": "DERIVED", "device": {"displayName": "Charge 6"}, "platform": "FITBIT"},
    "sleep": {
        "interval": {
            "startTime": "2024-12-31T22:21:30Z",
            "startUtcOffset": "3600s",
            "endTime": "2025-01-01T06:03:30Z",
            "endUtcOffset": "3600s",
        },
        "type": "STAGES",
        "stages": [
            {
                "startTime": "2024-12-31T22:21:30Z",
                "startUtcOffset": "3600s",
                "endTime": "2024-12-31T22:32:00Z",
                "endUtcOffset": "3600s",
                "type": "AWAKE",
            },
            {
                "startTime": "2024-12-31T22:32:00Z",
                "startUtcOffset": "3600s",
                "endTime": "2024-12-31T23:03:00Z",
                "endUtcOffset": "3600s",
                "type": "LIGHT",
            },
            {
                "startTime": "2024-12-31T23:03:00Z",
                "startUtcOffset": "3600s",
                "endTime": "2024-12-31T23:41:30Z",
                "endUtcOffset": "3600s",
                "type": "DEEP",
            },
            {
                "startTime": "2024-12-31T23:41:30Z",
                "startUtcOffset": "3600s",
                "endTime": "2025-01-01T00:12:00Z",
                "endUtcOffset": "3600s",
                "type": "REM",
            },
        ],
        "metadata": {"stagesStatus": "SUCCEEDED", "processed": True, "mainSleep": True},
        "summary": {
            "minutesInSleepPeriod": "462",
            "minutesAsleep": "423",
            "minutesAwake": "39",
            "stagesSummary": [
                {"type": "AWAKE", "minutes": "39", "count": "32"},
                {"type": "LIGHT", "minutes": "226", "count": "29"},
                {"type": "DEEP", "minutes": "104", "count": "5"},
                {"type": "REM", "minutes": "93", "count": "7"},
            ],
        },
    },
}

EXERCISE = {
    "name": "users/1234567890123456789/dataTypes/exercise/dataPoints/6661252888799707592",
    "dataSource": {
        "recordingMethod": "PASSIVELY_MEASURED",
        "device": {"formFactor": "FITNESS_BAND", "displayName": "Charge 6"},
        "platform": "FITBIT",
    },
    "exercise": {
        "interval": {
            "startTime": "2025-01-01T09:02:41Z",
            "startUtcOffset": "3600s",
            "endTime": "2025-01-01T09:48:10Z",
            "endUtcOffset": "3600s",
        },
        "exerciseType": "RUNNING",
        "displayName": "Run",
        "activeDuration": "2729s",
        "metricsSummary": {
            "caloriesKcal": 512,
            "distanceMillimeters": 8230000,
            "steps": "7012",
            "averageHeartRateBeatsPerMinute": "148",
        },
    },
}


def test_daily_steps_rollup_is_placed_on_the_users_civil_day():
    point = {
        "civilStartTime": {"date": {"year": 2025, "month": 1, "day": 1}, "time": {}},
        "civilEndTime": {"date": {"year": 2025, "month": 1, "day": 2}, "time": {}},
        "steps": {"countSum": "9412"},
        "timeZone": "Europe/Berlin",
    }

    [steps] = mapper.daily_rollup_records("steps", point)

    assert (steps.metric, steps.value, steps.unit) == ("steps", 9412, "count")
    assert steps.start == datetime(2025, 1, 1, tzinfo=BERLIN)
    assert steps.end == datetime(2025, 1, 2, tzinfo=BERLIN)
    assert steps.source_key == "steps:2025-01-01"


def test_daily_distance_in_millimetres_becomes_metres():
    point = {
        "civilStartTime": {"date": {"year": 2025, "month": 1, "day": 1}},
        "distance": {"millimetersSum": "7120000"},
    }

    [distance] = mapper.daily_rollup_records("distance", point)

    assert (distance.value, distance.unit) == (7120.0, "m")
    assert distance.start == datetime(2025, 1, 1, 12, tzinfo=UTC)  # no zone known: noon UTC


def test_active_zone_minutes_add_up_the_three_zones():
    point = {
        "civilStartTime": {"date": {"year": 2025, "month": 1, "day": 1}},
        "activeZoneMinutes": {
            "sumInFatBurnHeartZone": "18",
            "sumInCardioHeartZone": "12",
            "sumInPeakHeartZone": "2",
        },
    }

    [minutes] = mapper.daily_rollup_records("active-zone-minutes", point)

    assert (minutes.metric, minutes.value, minutes.unit) == ("active_minutes", 32, "min")


def test_hourly_heart_rate_rollup_is_the_windows_mean():
    point = {
        "startTime": "2025-01-01T00:00:00Z",
        "endTime": "2025-01-01T01:00:00Z",
        "heartRate": {"beatsPerMinuteMin": 52, "beatsPerMinuteAvg": 57.8, "beatsPerMinuteMax": 71},
        "timeZone": "Europe/Berlin",
    }

    [heart_rate] = mapper.heart_rate_rollup_records(point)

    assert (heart_rate.value, heart_rate.unit) == (57.8, "count/min")
    assert heart_rate.start == datetime(2025, 1, 1, 1, tzinfo=CET)
    assert heart_rate.end - heart_rate.start == timedelta(hours=1)
    assert heart_rate.metadata == {"min": 52, "max": 71}


def test_resting_heart_rate_is_an_int64_string_on_a_civil_date():
    point = {
        "dataSource": {
            "recordingMethod": "DERIVED",
            "device": {"displayName": "Charge 6"},
            "platform": "FITBIT",
        },
        "dailyRestingHeartRate": {
            "date": {"year": 2025, "month": 1, "day": 1},
            "beatsPerMinute": "58",
            "dailyRestingHeartRateMetadata": {"calculationMethod": "WITH_SLEEP"},
        },
        "timeZone": "Europe/Berlin",
    }

    [resting] = mapper.daily_records("daily-resting-heart-rate", point)

    assert (resting.metric, resting.value) == ("resting_heart_rate", 58.0)
    assert resting.start == datetime(2025, 1, 1, tzinfo=BERLIN)
    assert resting.device == "Charge 6"


def test_nightly_hrv_is_rmssd():
    point = {
        "dailyHeartRateVariability": {
            "date": {"year": 2025, "month": 1, "day": 1},
            "averageHeartRateVariabilityMilliseconds": 34.9,
            "deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds": 31.5,
            "nonRemHeartRateBeatsPerMinute": "54",
            "entropy": 2.91,
        }
    }

    [hrv] = mapper.daily_records("daily-heart-rate-variability", point)

    assert (hrv.metric, hrv.value, hrv.unit) == ("hrv_rmssd", 34.9, "ms")


def test_nightly_spo2_and_breathing_rate():
    spo2 = {
        "dailyOxygenSaturation": {"date": {"year": 2025, "month": 1, "day": 1}, "averagePercentage": 95.8}
    }
    breathing = {
        "dailyRespiratoryRate": {"date": {"year": 2025, "month": 1, "day": 1}, "breathsPerMinute": 14.2}
    }

    [saturation] = mapper.daily_records("daily-oxygen-saturation", spo2)
    [rate] = mapper.daily_records("daily-respiratory-rate", breathing)

    assert (saturation.metric, saturation.value, saturation.unit) == ("spo2", 95.8, "%")
    assert (rate.metric, rate.value) == ("respiratory_rate", 14.2)


def test_skin_temperature_deviation_is_nightly_minus_baseline():
    point = {
        "dailySleepTemperatureDerivations": {
            "date": {"year": 2025, "month": 1, "day": 1},
            "nightlyTemperatureCelsius": 34.1,
            "baselineTemperatureCelsius": 34.4,
        }
    }

    [deviation] = mapper.daily_records("daily-sleep-temperature-derivations", point)

    assert (deviation.metric, deviation.value, deviation.unit) == ("skin_temperature_deviation", -0.3, "degC")


def test_phone_store_round_trips_are_skipped():
    point = {
        "dataSource": {"platform": "HEALTH_KIT"},
        "dailyRestingHeartRate": {"date": {"year": 2025, "month": 1, "day": 1}, "beatsPerMinute": "58"},
    }

    assert list(mapper.daily_records("daily-resting-heart-rate", point)) == []


def test_sleep_session_with_stages_in_the_records_offset():
    [session] = mapper.sleep_records(SLEEP)

    assert session.start == datetime(2024, 12, 31, 23, 21, 30, tzinfo=CET)
    assert session.start.utcoffset() == timedelta(hours=1)
    assert session.end == datetime(2025, 1, 1, 7, 3, 30, tzinfo=CET)
    assert [stage.stage for stage in session.stages] == ["awake", "light", "deep", "rem"]
    assert session.stages[2].start == datetime(2025, 1, 1, 0, 3, tzinfo=CET)
    assert session.values["time_in_bed"] == (462, "min")
    assert session.values["time_asleep"] == (423, "min")
    assert session.values["sleep_deep"] == (104, "min")
    assert session.values["sleep_efficiency"] == (91.6, "%")
    assert session.source_key == "sleep:7821966286120953736"
    assert session.device == "Charge 6"


def test_classic_sleep_restless_counts_as_awake_and_asleep_is_unspecified():
    classic = json.loads(json.dumps(SLEEP))
    classic["sleep"]["type"] = "CLASSIC"
    classic["sleep"]["stages"][1]["type"] = "RESTLESS"
    classic["sleep"]["stages"][2]["type"] = "ASLEEP"

    [session] = mapper.sleep_records(classic)

    assert [stage.stage for stage in session.stages[:3]] == ["awake", "awake", "asleep"]


def test_exercise_distance_in_millimetres_and_active_duration():
    [session] = mapper.exercise_records(EXERCISE)

    assert session.activity_type == "running"
    assert session.values["distance"] == (8230.0, "m")
    assert session.values["active_energy"] == (512.0, "kcal")
    assert session.values["heart_rate"] == (148.0, "count/min")
    assert session.values["workout_duration"] == (2729.0, "s")
    assert session.device_kind == "band"
    assert session.start == datetime(2025, 1, 1, 10, 2, 41, tzinfo=CET)


def test_exercise_accepts_the_codelab_misspelling_and_unknown_types():
    point = json.loads(json.dumps(EXERCISE))
    summary = point["exercise"]["metricsSummary"]
    summary["distanceMillimiters"] = summary.pop("distanceMillimeters")
    point["exercise"]["exerciseType"] = "UNDERWATER_HOCKEY"

    [session] = mapper.exercise_records(point)

    assert session.values["distance"] == (8230.0, "m")
    assert session.activity_type == "other"
    assert session.metadata["source_type"] == "UNDERWATER_HOCKEY"


def test_weight_in_grams_keyed_by_its_name():
    point = {
        "name": "users/1234567890123456789/dataTypes/weight/dataPoints/6685309773198399080",
        "dataSource": {
            "recordingMethod": "PASSIVELY_MEASURED",
            "device": {"displayName": "Aria Air", "formFactor": "SCALE"},
            "platform": "FITBIT",
        },
        "weight": {
            "sampleTime": {"physicalTime": "2025-01-01T06:23:56.749348Z", "utcOffset": "3600s"},
            "weightGrams": 80450,
        },
    }

    [weight] = mapper.sample_records("weight", point)

    assert (weight.metric, weight.value, weight.unit) == ("weight", 80450, "g")
    assert weight.start == datetime(2025, 1, 1, 7, 23, 56, 749348, tzinfo=CET)
    assert weight.source_key == "weight:6685309773198399080"
    assert weight.device_kind == "scale"


def test_manual_body_fat_entry():
    point = {
        "name": "users/1/dataTypes/body-fat/dataPoints/9",
        "dataSource": {"recordingMethod": "MANUAL", "platform": "FITBIT"},
        "bodyFat": {
            "sampleTime": {"physicalTime": "2025-01-01T06:23:56Z", "utcOffset": "3600s"},
            "percentage": 18.2,
        },
    }

    [fat] = mapper.sample_records("body-fat", point)

    assert (fat.metric, fat.value, fat.unit, fat.device_kind) == ("body_fat", 18.2, "%", "manual")


# --- webhook -------------------------------------------------------------------------------------
def test_documented_signature_vector_verifies():
    assert webhook.signature_is_valid(SIGNED_BODY, SIGNATURE, KEYSET)


def test_signature_over_another_body_or_key_fails():
    other_key = {**KEYSET, "key": [{**KEYSET["key"][0], "keyId": 1}]}

    assert not webhook.signature_is_valid(SIGNED_BODY + b" ", SIGNATURE, KEYSET)
    assert not webhook.signature_is_valid(SIGNED_BODY, SIGNATURE, other_key)
    assert not webhook.signature_is_valid(SIGNED_BODY, "not base64!", KEYSET)


def test_verification_with_the_secret_is_200_and_without_it_401(settings):
    settings.FITBIT_WEBHOOK_SECRET = "Bearer s3cret"
    factory = RequestFactory()
    body = b'{"type": "verification"}'

    with_secret = factory.post(
        "/", body, content_type="application/json", headers={"Authorization": "Bearer s3cret"}
    )
    without = factory.post("/", body, content_type="application/json")

    assert webhook.verify_handshake(with_secret).status_code == 200
    assert webhook.verify_handshake(without).status_code == 401


def test_notifications_list_user_data_type_and_the_interval_widened_by_a_day():
    [notification] = webhook.parse_body(SIGNED_BODY)

    assert notification.external_user_id == "sim-user-1"
    assert notification.data_types == ("steps",)
    assert notification.start == datetime(2024, 12, 31, 8, tzinfo=UTC)
    assert notification.end == datetime(2025, 1, 2, 8, 5, tzinfo=UTC)


def test_notifications_for_types_the_source_does_not_read_are_dropped():
    body = b'[{"data":{"healthUserId":"u","dataType":"altitude","intervals":[]}}]'

    assert webhook.parse_body(body) == []


def test_single_object_envelope_is_accepted():
    body = b'{"data":{"healthUserId":"u","dataType":"sleep","operation":"DELETE","intervals":[]}}'

    [notification] = webhook.parse_body(body)

    assert notification.metadata == {"operation": "DELETE"}


class _Keyset(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = json.dumps(KEYSET).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def keyset_url(settings):
    cache.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Keyset)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.FITBIT_WEBHOOK_KEYSET_URL = f"http://127.0.0.1:{server.server_address[1]}/keyset.json"
    settings.FITBIT_WEBHOOK_SECRET = "Bearer s3cret"
    yield settings.FITBIT_WEBHOOK_KEYSET_URL
    server.shutdown()
    server.server_close()
    cache.clear()


def _delivery(body: bytes, **headers: str):
    return RequestFactory().post("/", body, content_type="application/json", headers=headers)


def test_signed_delivery_with_the_secret_is_accepted(keyset_url):
    request = _delivery(
        SIGNED_BODY, Authorization="Bearer s3cret", **{"GOOGLE-HEALTH-API-SIGNATURE": SIGNATURE}
    )

    assert [notification.external_user_id for notification in webhook.parse(request)] == ["sim-user-1"]


def test_older_signature_header_name_is_read(keyset_url):
    request = _delivery(SIGNED_BODY, Authorization="Bearer s3cret", **{"X-HEALTHAPI-SIGNATURE": SIGNATURE})

    assert len(webhook.parse(request)) == 1


def test_delivery_without_the_secret_or_with_a_bad_signature_is_rejected(keyset_url):
    forged = SIGNED_BODY.replace(b"sim-user-1", b"sim-user-2")

    with pytest.raises(WebhookRejected):
        webhook.parse(_delivery(SIGNED_BODY, **{"GOOGLE-HEALTH-API-SIGNATURE": SIGNATURE}))
    with pytest.raises(WebhookRejected):
        webhook.parse(
            _delivery(forged, Authorization="Bearer s3cret", **{"GOOGLE-HEALTH-API-SIGNATURE": SIGNATURE})
        )
    with pytest.raises(WebhookRejected):
        webhook.parse(_delivery(SIGNED_BODY, Authorization="Bearer s3cret"))


# --- the client over loopback: windows, civil dates, paging, the sleep filter fallback -----------
class _Health(BaseHTTPRequestHandler):
    """A small Google Health API: records requests; `reject_sleep_filter` answers 400 to sleep filters."""

    requests: list[dict] = []
    reject_sleep_filter = False
    sleep_pages: dict[str, dict] = {}

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
        type(self).requests.append(
            {"method": "GET", "path": path, **{key: value[0] for key, value in query.items()}}
        )
        if path.startswith("/not-linked/"):
            return self._reply(
                400,
                {
                    "error": {
                        "code": 400,
                        "status": "FAILED_PRECONDITION",
                        "details": [
                            {
                                "reason": "ACCOUNT_NOT_LINKED",
                                "metadata": {"redirect_uri": "https://fitbit.google.com/auth/signup"},
                            }
                        ],
                    }
                },
            )
        if path.endswith("/settings"):
            return self._reply(200, {"timeZone": "Europe/Berlin"})
        if path.endswith("/sleep/dataPoints"):
            if "filter" in query and type(self).reject_sleep_filter:
                return self._reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
            return self._reply(200, type(self).sleep_pages.get(query.get("pageToken", [""])[0], {}))
        return self._reply(200, {"dataPoints": [], "nextPageToken": ""})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"method": "POST", "path": urlsplit(self.path).path, "body": body})
        self._reply(200, {"rollupDataPoints": []})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health_server(settings):
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    cache.clear()
    _Health.requests, _Health.reject_sleep_filter, _Health.sleep_pages = [], False, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    cache.clear()


def _source(server) -> Source:
    return Source(FitbitClient(provider="fitbit", base_url=f"http://127.0.0.1:{server.server_address[1]}"))


def test_daily_rollups_go_in_90_day_requests_of_civil_dates(health_server):
    start = datetime(2024, 12, 31, 23, tzinfo=UTC)  # already 1 January in Berlin

    list(_source(health_server).fetch("steps", start, start + timedelta(days=100)))

    rollups = [request["body"] for request in _Health.requests if request["method"] == "POST"]
    assert [rollup["range"] for rollup in rollups] == [
        {
            "start": {"date": {"year": 2025, "month": 1, "day": 1}},
            "end": {"date": {"year": 2025, "month": 3, "day": 31}},
        },
        {
            "start": {"date": {"year": 2025, "month": 4, "day": 1}},
            "end": {"date": {"year": 2025, "month": 4, "day": 11}},
        },
    ]
    assert [request["path"] for request in _Health.requests].count("/v4/users/me/settings") == 1


def test_heart_rate_rollups_go_in_14_day_requests_of_hourly_windows(health_server):
    start = datetime(2025, 1, 1, tzinfo=UTC)

    list(_source(health_server).fetch("heart-rate", start, start + timedelta(days=30)))

    ranges = [request["body"]["range"] for request in _Health.requests if request["method"] == "POST"]
    assert ranges == [
        {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-01-15T00:00:00Z"},
        {"startTime": "2025-01-15T00:00:00Z", "endTime": "2025-01-29T00:00:00Z"},
        {"startTime": "2025-01-29T00:00:00Z", "endTime": "2025-01-31T00:00:00Z"},
    ]
    assert {request["body"]["windowSize"] for request in _Health.requests if request["method"] == "POST"} == {
        "3600s"
    }


def test_heart_rate_windows_are_cut_on_whole_hours_so_resyncs_hit_the_same_keys(health_server):
    start = datetime(2025, 1, 1, 10, 37, 12, tzinfo=UTC)

    list(_source(health_server).fetch("heart-rate", start, start + timedelta(hours=5)))

    [rollup] = [request["body"] for request in _Health.requests if request["method"] == "POST"]
    assert rollup["range"] == {"startTime": "2025-01-01T10:00:00Z", "endTime": "2025-01-01T16:00:00Z"}


def test_daily_types_are_listed_with_a_date_filter_in_snake_case(health_server):
    start = datetime(2025, 1, 1, tzinfo=UTC)

    list(_source(health_server).fetch("daily-resting-heart-rate", start, start + timedelta(days=7)))

    [listing] = [request for request in _Health.requests if request["path"].endswith("/dataPoints")]
    assert (
        listing["filter"]
        == 'daily_resting_heart_rate.date >= "2025-01-01" AND daily_resting_heart_rate.date < "2025-01-09"'
    )
    assert listing["pageSize"] == "10000"


def test_rejected_sleep_filter_falls_back_to_newest_first_paging(health_server):
    def night(day: int) -> dict:
        return {
            "sleep": {
                "interval": {
                    "startTime": f"2025-01-{day:02d}T22:00:00Z",
                    "endTime": f"2025-01-{day + 1:02d}T06:00:00Z",
                }
            }
        }

    _Health.reject_sleep_filter = True
    _Health.sleep_pages = {
        "": {"dataPoints": [night(20), night(9)], "nextPageToken": "p2"},
        "p2": {"dataPoints": [night(5), night(1)], "nextPageToken": "p3"},
    }

    nights = list(
        _source(health_server).fetch(
            "sleep", datetime(2025, 1, 3, tzinfo=UTC), datetime(2025, 1, 15, tzinfo=UTC)
        )
    )

    assert [point["sleep"]["interval"]["endTime"] for point in nights] == [
        "2025-01-10T06:00:00Z",
        "2025-01-06T06:00:00Z",
    ]
    listings = [request for request in _Health.requests if request["path"].endswith("/sleep/dataPoints")]
    assert [request.get("pageToken") for request in listings] == [
        None,
        None,
        "p2",
    ]  # stops once past the start
    assert listings[1]["pageSize"] == "25"


# --- against the sandbox over loopback -----------------------------------------------------------
def test_connect_uses_pkce_offline_consent_and_the_health_user_id(simulator, client, member):
    client.force_login(member)
    simulator.consent("fitbit", auto="approve")

    started, finished = simulator.connect(client, "fitbit")

    query = parse_qs(urlsplit(started["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert set(query["scope"][0].split()) == set(Source.scopes)
    assert finished.status_code == 302
    account = SocialAccount.objects.get(user=member, provider="fitbit")
    assert account.uid == account.extra_data["healthUserId"]


def test_sandbox_signed_notification_is_verified_and_answered_204(simulator, live_server, settings):
    settings.FITBIT_WEBHOOK_KEYSET_URL = simulator.url(
        "fitbit", "/googlehealthapi/webhooks/webhooks_public_keyset.json"
    )
    callback = f"{live_server.url}/webhooks/fitbit/"

    assert simulator.handshake("fitbit", callback, secret=settings.FITBIT_WEBHOOK_SECRET)
    assert (
        simulator.send_webhook(
            "fitbit", callback, account="demo", secret=settings.FITBIT_WEBHOOK_SECRET
        ).status_code
        == 204
    )
    assert (
        simulator.send_webhook("fitbit", callback, account="demo", secret="Bearer wrong").status_code == 401
    )


def test_identity_of_an_account_without_google_health_is_a_friendly_error(health_server, settings, rf):
    settings.FITBIT_API_BASE_URL = f"http://127.0.0.1:{health_server.server_address[1]}/not-linked"

    with pytest.raises(ProviderException, match="Google Health app"):
        FitbitOAuth2Adapter(rf.get("/")).complete_login(rf.get("/"), None, SocialToken(token="t"))
