"""Withings: mapper cases on the documented example payloads, notifications, paging and windows."""

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core.cache import cache
from django.test import RequestFactory

from integrations.http import AuthRevoked, ProviderError, RateLimited
from integrations.providers.base import WebhookRejected
from integrations.providers.withings import mapper, webhook
from integrations.providers.withings.client import WithingsClient, day_range
from integrations.providers.withings.source import Source, sign

PARIS_WINTER = timezone(timedelta(hours=1))

MEASURE_BODY = {
    "updatetime": 1735720000,
    "timezone": "Europe/Berlin",
    "measuregrps": [
        {
            "grpid": 4716596681,
            "attrib": 0,
            "date": 1735716236,
            "created": 1735716262,
            "modified": 1735716262,
            "category": 1,
            "deviceid": "c405eb8e",
            "hash_deviceid": "c405eb8e",
            "model": "Body Cardio",
            "model_id": 6,
            "comment": None,
            "measures": [
                {"value": 80450, "type": 1, "unit": -3, "algo": 0, "fm": 3},
                {"value": 1820, "type": 6, "unit": -2, "algo": 0, "fm": 3},
                {"value": 14642, "type": 8, "unit": -3, "algo": 0, "fm": 3},
                {"value": 65808, "type": 5, "unit": -3, "algo": 0, "fm": 3},
                {"value": 6260, "type": 76, "unit": -2, "algo": 0, "fm": 3},
                {"value": 4590, "type": 77, "unit": -2, "algo": 0, "fm": 3},
                {"value": 330, "type": 88, "unit": -2, "algo": 0, "fm": 3},
                {"value": 68, "type": 11, "unit": 0, "algo": 0, "fm": 3},
            ],
        },
        {
            "grpid": 4716596696,
            "attrib": 0,
            "date": 1735716576,
            "created": 1735716663,
            "modified": 1735716663,
            "category": 1,
            "deviceid": "9a1c",
            "hash_deviceid": "9a1c",
            "model": "BPM Core",
            "model_id": 44,
            "comment": None,
            "measures": [
                {"value": 79, "type": 9, "unit": 0, "algo": 0, "fm": 3},
                {"value": 121, "type": 10, "unit": 0, "algo": 0, "fm": 3},
                {"value": 66, "type": 11, "unit": 0, "algo": 0, "fm": 3},
            ],
        },
    ],
    "more": 0,
    "offset": 0,
}

ACTIVITY = {
    "date": "2025-01-01",
    "timezone": "Europe/Paris",
    "deviceid": None,
    "hash_deviceid": None,
    "brand": 18,
    "is_tracker": False,
    "modified": 1735772400,
    "steps": 8412,
    "distance": 6203.4,
    "elevation": 7,
    "soft": 2940,
    "moderate": 1260,
    "intense": 420,
    "active": 1680,
    "calories": 412.6,
    "totalcalories": 2388.1,
    "hr_average": 74,
    "hr_min": 52,
    "hr_max": 151,
}

WORKOUT = {
    "id": 3961458203,
    "category": 2,
    "timezone": "Europe/Paris",
    "model": 93,
    "attrib": 7,
    "startdate": 1735729200,
    "enddate": 1735731930,
    "date": "2025-01-01",
    "modified": 1735732100,
    "deviceid": "892359876fd8805ac45bab078c4828692f0276b1",
    "data": {
        "calories": 412,
        "intensity": 0,
        "manual_distance": 0,
        "manual_calories": 0,
        "hr_average": 148,
        "hr_min": 101,
        "hr_max": 171,
        "pause_duration": 0,
        "steps": 7012,
        "distance": 7520,
        "elevation": 4,
    },
}

SLEEP = {
    "id": 2081804182,
    "timezone": "Europe/Paris",
    "model": 32,
    "model_id": 63,
    "startdate": 1735681500,
    "enddate": 1735710900,
    "date": "2025-01-01",
    "created": 1735712000,
    "modified": 1735712400,
    "hash_deviceid": "201d0d3b",
    "completed": True,
    "data": {
        "total_timeinbed": 29400,
        "total_sleep_time": 26580,
        "lightsleepduration": 14220,
        "deepsleepduration": 6060,
        "remsleepduration": 6300,
        "wakeupduration": 2820,
        "wakeupcount": 2,
        "waso": 1680,
        "sleep_efficiency": 0.9,
        "sleep_latency": 840,
        "hr_average": 55,
        "hr_min": 48,
        "hr_max": 71,
        "rr_average": 14,
        "rr_min": 11,
        "rr_max": 18,
        "sleep_score": 82,
        "rmssd_start_avg": 41,
        "rmssd_end_avg": 47,
    },
    "segments": [
        {"startdate": 1735682100, "enddate": 1735682700, "state": 2},
        {"startdate": 1735681500, "enddate": 1735682100, "state": 1},
        {"startdate": 1735682700, "enddate": 1735683000, "state": 5},
    ],
}


def _by_metric(records):
    return {record.metric: record for record in records}


def test_measure_values_are_scaled_by_their_power_of_ten():
    records = _by_metric(
        mapper.measure_group_records({**MEASURE_BODY["measuregrps"][0], "timezone": "Europe/Berlin"})
    )

    assert records["weight"].value == 80.45
    assert records["weight"].unit == "kg"
    assert records["body_fat"].value == 18.2
    assert records["lean_mass"].value == 65.808
    assert records["muscle_mass"].value == 62.6
    assert records["bone_mass"].value == 3.3
    assert records["heart_rate"].value == 68
    assert records["weight"].device == "Body Cardio"
    assert records["weight"].device_kind == "scale"


def test_measure_time_keeps_the_zone_withings_reports():
    weight = _by_metric(
        mapper.measure_group_records({**MEASURE_BODY["measuregrps"][0], "timezone": "Europe/Berlin"})
    )["weight"]

    assert weight.start == datetime(2025, 1, 1, 7, 23, 56, tzinfo=UTC)
    assert weight.start.utcoffset() == timedelta(hours=1)


def test_hydration_in_kilograms_becomes_a_share_of_weight():
    water = _by_metric(mapper.measure_group_records({**MEASURE_BODY["measuregrps"][0], "timezone": "UTC"}))[
        "body_water"
    ]

    assert water.value == round(45.9 / 80.45 * 100, 2)
    assert water.unit == "%"


def test_fat_mass_has_no_metric_and_is_left_out():
    keys = {record.source_key for record in mapper.measure_group_records(MEASURE_BODY["measuregrps"][0])}

    assert "meas:4716596681:8" not in keys


def test_systolic_and_diastolic_become_one_blood_pressure_reading():
    records = _by_metric(mapper.measure_group_records(MEASURE_BODY["measuregrps"][1]))

    assert records["blood_pressure"].value == 121
    assert records["blood_pressure"].secondary_value == 79
    assert records["blood_pressure"].device_kind == "cuff"
    assert records["heart_rate"].value == 66


def test_ambiguous_user_measures_and_objectives_are_skipped():
    group = MEASURE_BODY["measuregrps"][0]

    assert list(mapper.measure_group_records({**group, "attrib": 1})) == []
    assert list(mapper.measure_group_records({**group, "category": 2})) == []


def test_measure_keys_are_stable_across_syncs():
    first = [record.source_key for record in mapper.measure_group_records(MEASURE_BODY["measuregrps"][1])]
    second = [record.source_key for record in mapper.measure_group_records(MEASURE_BODY["measuregrps"][1])]

    assert first == second
    assert "meas:4716596696:bp" in first


def test_daily_activity_covers_the_local_day():
    records = _by_metric(mapper.activity_records(ACTIVITY))

    assert records["steps"].value == 8412
    assert records["steps"].start == datetime(2025, 1, 1, tzinfo=PARIS_WINTER)
    assert records["steps"].end == datetime(2025, 1, 2, tzinfo=PARIS_WINTER)
    assert records["distance"].value == 6203.4
    assert records["floors_climbed"].value == 7
    assert (records["active_minutes"].value, records["active_minutes"].unit) == (1680, "s")
    assert records["active_energy"].value == 412.6
    assert records["basal_energy"].value == 1975.5


def test_workout_maps_category_energy_distance_and_heart_rate():
    session = mapper.workout_session(WORKOUT)

    assert session.kind == "workout"
    assert session.activity_type == "running"
    assert session.start == datetime(2025, 1, 1, 12, 0, tzinfo=PARIS_WINTER)
    assert session.end == datetime(2025, 1, 1, 12, 45, 30, tzinfo=PARIS_WINTER)
    assert session.values["active_energy"] == (412, "kcal")
    assert session.values["distance"] == (7520, "m")
    assert session.values["heart_rate"] == (148, "count/min")
    assert session.values["heart_rate_max"] == (171, "count/min")
    assert session.values["workout_duration"] == (2730, "s")
    assert session.source_key == "workout:3961458203"


def test_unknown_workout_category_is_other_with_the_code_kept():
    session = mapper.workout_session({**WORKOUT, "category": 9999})

    assert session.activity_type == "other"
    assert session.metadata["source_type"] == 9999


def test_sleep_summary_becomes_a_session_with_stages_and_night_values():
    session, *night = mapper.sleep_records(SLEEP)

    assert session.kind == "sleep"
    assert session.start == datetime(2024, 12, 31, 22, 45, tzinfo=PARIS_WINTER)
    assert session.end == datetime(2025, 1, 1, 6, 55, tzinfo=PARIS_WINTER)
    assert session.values["time_in_bed"] == (29400, "s")
    assert session.values["time_asleep"] == (26580, "s")
    assert session.values["sleep_deep"] == (6060, "s")
    assert session.values["sleep_efficiency"] == (0.9, "fraction")
    assert session.values["sleep_score"] == (82, "score")
    assert [stage.stage for stage in session.stages] == ["light", "deep"]
    assert session.stages[0].start == datetime(2024, 12, 31, 22, 45, tzinfo=PARIS_WINTER)
    assert {(record.metric, record.value) for record in night} == {
        ("resting_heart_rate", 48),
        ("hrv_rmssd", 44),
        ("respiratory_rate", 14),
    }


def test_sleep_without_segments_has_no_stages():
    session = next(mapper.sleep_records({**SLEEP, "segments": []}))

    assert session.stages == ()


def test_day_range_turns_an_exclusive_end_into_inclusive_dates():
    start = datetime(2025, 1, 1, tzinfo=UTC)

    assert day_range(start, datetime(2025, 1, 8, tzinfo=UTC)) == ("2025-01-01", "2025-01-07")
    assert day_range(start, datetime(2025, 1, 8, 6, tzinfo=UTC)) == ("2025-01-01", "2025-01-08")


# --- notifications -------------------------------------------------------------------------------
def test_head_probe_is_answered_200():
    request = RequestFactory().head("/webhooks/withings/")

    assert webhook.verify_handshake(request).status_code == 200


def test_form_notification_names_user_data_types_and_the_window_widened_by_a_day():
    body = b"userid=363&appli=1&startdate=1735716000&enddate=1735716600"

    [notification] = webhook.parse_body(body)

    assert notification.external_user_id == "363"
    assert notification.data_types == ("measures",)
    assert notification.start == datetime(2024, 12, 31, 7, 20, tzinfo=UTC)
    assert notification.end == datetime(2025, 1, 2, 7, 30, tzinfo=UTC)


def test_activity_notification_refetches_activity_and_workouts():
    [notification] = webhook.parse_body(b"userid=363&appli=16&startdate=1735716000&enddate=1735716600")

    assert notification.data_types == ("activity", "workouts")


def test_unlink_notification_marks_the_user_deauthorized():
    [notification] = webhook.parse_body(b"userid=363&appli=46&action=unlink&date=2025-01-01")

    assert notification.deauthorized


def test_notification_without_userid_is_rejected():
    with pytest.raises(WebhookRejected):
        webhook.parse_body(b"appli=1&startdate=1735716000")


# --- request signatures and tokens -----------------------------------------------------------------
def test_signature_matches_the_documented_vectors():
    assert (
        sign("test_client_secret", "getnonce", "test_client_id", "1735689600")
        == "c6f27e5d894f69f961cdcf3e6e664b2f2911009ec50c861494eb54429b91db22"
    )
    assert (
        sign("test_client_secret", "revoke", "test_client_id", "c455541b8f9111689adb647d32fac07a6ffe462d")
        == "865f1d96d1c33a65361358e6e45011cae515f810b94985224636e7f6a80f1967"
    )


def test_token_response_is_read_inside_the_envelope():
    tokens = Source(client=None).parse_token_response(
        {
            "status": 0,
            "body": {
                "userid": 363,
                "access_token": "a0",
                "refresh_token": "r0",
                "expires_in": 10800,
                "scope": "user.metrics,user.activity",
                "token_type": "Bearer",
            },
        }
    )

    assert tokens.access_token == "a0"
    assert tokens.refresh_token == "r0"
    assert tokens.external_user_id == "363"
    assert tokens.scopes == ("user.metrics", "user.activity")


# --- the client over loopback HTTP ----------------------------------------------------------------
class _Envelopes(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted Withings envelope (HTTP 200 every time)."""

    answers: list[dict] = []
    forms: list[dict] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
        type(self).forms.append({"path": self.path, **form})
        data = json.dumps(type(self).answers.pop(0)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def withings_server(settings):
    settings.PROVIDER_HTTP_BACKOFF_SECONDS = 0.001
    settings.PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS = 0
    cache.clear()
    _Envelopes.answers, _Envelopes.forms = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    cache.clear()


def _client(server) -> WithingsClient:
    return WithingsClient(provider="withings", base_url=f"http://127.0.0.1:{server.server_address[1]}")


def test_getmeas_follows_more_and_offset_and_carries_the_zone(withings_server):
    second_page = {**MEASURE_BODY, "measuregrps": MEASURE_BODY["measuregrps"][1:], "more": 0}
    _Envelopes.answers = [
        {
            "status": 0,
            "body": {**MEASURE_BODY, "measuregrps": MEASURE_BODY["measuregrps"][:1], "more": 1, "offset": 1},
        },
        {"status": 0, "body": second_page},
    ]

    groups = list(
        _client(withings_server).measure_groups(
            datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
        )
    )

    assert [group["grpid"] for group in groups] == [4716596681, 4716596696]
    assert {group["timezone"] for group in groups} == {"Europe/Berlin"}
    assert [form.get("offset") for form in _Envelopes.forms] == [None, "1"]
    assert _Envelopes.forms[0]["action"] == "getmeas"
    assert _Envelopes.forms[0]["startdate"] == "1735689600"


def test_sleep_summaries_are_read_in_windows_of_seven_days(withings_server):
    _Envelopes.answers = [{"status": 0, "body": {"series": [], "more": False, "offset": 0}} for _ in range(3)]

    list(
        _client(withings_server).sleep_summaries(
            datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 16, tzinfo=UTC)
        )
    )

    assert [(form["startdateymd"], form["enddateymd"]) for form in _Envelopes.forms] == [
        ("2025-01-01", "2025-01-07"),
        ("2025-01-08", "2025-01-14"),
        ("2025-01-15", "2025-01-15"),
    ]


def test_sleep_stages_are_read_in_slices_of_24_hours(withings_server):
    _Envelopes.answers = [
        {"status": 0, "body": {"series": [{"startdate": 0, "enddate": 60, "state": 1}]}}
    ] * 2

    segments = _client(withings_server).sleep_segments(1735681500, 1735681500 + 30 * 3600)

    assert len(segments) == 2
    assert [(form["startdate"], form["enddate"]) for form in _Envelopes.forms] == [
        ("1735681500", str(1735681500 + 24 * 3600)),
        (str(1735681500 + 24 * 3600), str(1735681500 + 30 * 3600)),
    ]


def test_status_601_in_a_200_is_a_rate_limit(withings_server):
    _Envelopes.answers = [{"status": 601, "body": {}, "error": "Too many request"}]

    with pytest.raises(RateLimited):
        _client(withings_server).call("measure", "getmeas")


def test_status_401_in_a_200_is_a_refused_token(withings_server):
    _Envelopes.answers = [{"status": 401, "body": {}, "error": "invalid_token"}]

    with pytest.raises(AuthRevoked):  # AuthExpired, and no credentials here to refresh with
        _client(withings_server).call("measure", "getmeas", authenticated=False)


def test_invalid_params_status_is_a_provider_error(withings_server):
    _Envelopes.answers = [{"status": 503, "body": {}, "error": "Invalid Params"}]

    with pytest.raises(ProviderError):
        _client(withings_server).call("measure", "getmeas")


# --- the connect flow through allauth's views, against the sandbox over loopback ----------------
def test_connect_exchanges_the_code_with_requesttoken_and_keeps_the_userid(simulator, client, member):
    client.force_login(member)
    simulator.consent("withings", auto="approve")

    started, finished = simulator.connect(client, "withings")

    assert set(parse_qs(urlsplit(started["Location"]).query)["scope"][0].split(",")) == set(Source.scopes)
    assert finished.status_code == 302
    account = SocialAccount.objects.get(user=member, provider="withings")
    assert account.uid.isdigit()
    assert account.extra_data == {"userid": account.uid, "scope": account.extra_data["scope"]}
    assert simulator.count("withings", "token") == 1


def test_denied_consent_lands_on_a_page_not_a_crash(simulator, client, member):
    client.force_login(member)
    simulator.consent("withings", auto="deny")

    _started, finished = simulator.connect(client, "withings")

    assert finished.status_code < 500
    assert not SocialAccount.objects.filter(user=member).exists()


def test_notifications_are_subscribed_with_the_users_token_after_the_head_probe(
    simulator, client, member, live_server
):
    from integrations.models import Connection
    from integrations.tokens import source_for

    client.force_login(member)
    simulator.consent("withings", auto="approve")
    simulator.connect(client, "withings")
    source = source_for(Connection.objects.get(user=member, provider="withings"))
    callback = f"{live_server.url}/webhooks/withings/"

    source.subscribe_notifications(callback)

    subscriptions = source.notification_subscriptions()
    assert sorted(int(subscription["appli"]) for subscription in subscriptions) == [1, 4, 16, 44]
    assert {subscription["callbackurl"] for subscription in subscriptions} == {callback}
