"""Strava: the fake-Z local time, units, push events, page paging over loopback, allauth hosts."""

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core.cache import cache
from django.test import RequestFactory

from integrations.providers.base import WebhookRejected
from integrations.providers.strava import mapper, webhook
from integrations.providers.strava.client import StravaClient
from integrations.providers.strava.source import Source

PST = timezone(timedelta(hours=-8))

ACTIVITY = {
    "resource_state": 2,
    "athlete": {"id": 134815, "resource_state": 1},
    "name": "Morning Run",
    "distance": 8230.4,
    "moving_time": 2640,
    "elapsed_time": 2729,
    "total_elevation_gain": 46.6,
    "type": "Run",
    "sport_type": "Run",
    "id": 13237811234,
    "start_date": "2025-01-01T15:02:41Z",
    "start_date_local": "2025-01-01T07:02:41Z",
    "timezone": "(GMT-08:00) America/Los_Angeles",
    "utc_offset": -28800.0,
    "manual": False,
    "has_heartrate": True,
    "average_heartrate": 148.2,
    "max_heartrate": 171.0,
}


def test_start_is_the_utc_start_in_the_activitys_offset_not_the_fake_z():
    session = mapper.activity_session(ACTIVITY)

    assert session.start == datetime(2025, 1, 1, 7, 2, 41, tzinfo=PST)
    assert session.start == datetime(2025, 1, 1, 15, 2, 41, tzinfo=UTC)
    assert session.start.utcoffset() == timedelta(hours=-8)
    assert session.end == session.start + timedelta(seconds=2729)


def test_activity_values_in_metres_and_seconds():
    session = mapper.activity_session(ACTIVITY)

    assert session.kind == "workout"
    assert session.activity_type == "running"
    assert session.values["distance"] == (8230.4, "m")
    assert session.values["workout_duration"] == (2640, "s")
    assert session.values["heart_rate"] == (148.2, "count/min")
    assert session.values["heart_rate_max"] == (171.0, "count/min")
    assert session.source_key == "activity:13237811234"


def test_ride_kilojoules_are_work_not_energy_burned():
    ride = {**ACTIVITY, "sport_type": "GravelRide", "kilojoules": 812.5}

    session = mapper.activity_session(ride)

    assert session.activity_type == "cycling"
    assert "active_energy" not in session.values
    assert session.metadata["kilojoules"] == 812.5


def test_detailed_activity_calories_are_the_energy_value():
    session = mapper.activity_session({**ACTIVITY, "calories": 612.0, "device_name": "Garmin Forerunner 265"})

    assert session.values["active_energy"] == (612.0, "kcal")
    assert session.device == "Garmin Forerunner 265"


def test_new_sport_types_become_other_with_the_name_kept():
    session = mapper.activity_session({**ACTIVITY, "sport_type": "Pickleball"})

    assert session.activity_type == "other"
    assert session.metadata["source_type"] == "Pickleball"


def test_manual_activities_are_marked():
    assert mapper.activity_session({**ACTIVITY, "manual": True}).device_kind == "manual"


def test_source_keeps_strava_data_seven_days_by_default():
    assert Source.retention_days == 7
    assert Source.scopes == ("read", "activity:read_all")


# --- push events -----------------------------------------------------------------------------------
def test_subscription_check_echoes_the_challenge(settings):
    settings.STRAVA_WEBHOOK_VERIFY_TOKEN = "STRAVA"
    request = RequestFactory().get(
        "/webhooks/strava/",
        {"hub.mode": "subscribe", "hub.challenge": "15f7d1a91c1f40f8", "hub.verify_token": "STRAVA"},
    )

    response = webhook.verify_handshake(request)

    assert response.status_code == 200
    assert json.loads(response.content) == {"hub.challenge": "15f7d1a91c1f40f8"}


def test_subscription_check_with_another_token_is_refused(settings):
    settings.STRAVA_WEBHOOK_VERIFY_TOKEN = "STRAVA"
    request = RequestFactory().get(
        "/webhooks/strava/", {"hub.mode": "subscribe", "hub.challenge": "x", "hub.verify_token": "guess"}
    )

    assert webhook.verify_handshake(request).status_code == 401


def test_activity_event_rereads_the_week_before_it():
    body = json.dumps(
        {
            "aspect_type": "update",
            "event_time": 1735693200,
            "object_id": 13237811234,
            "object_type": "activity",
            "owner_id": 134815,
            "subscription_id": 120475,
            "updates": {"title": "Messy", "type": "Run", "private": "true"},
        }
    ).encode()

    [notification] = webhook.parse_body(body)

    assert notification.external_user_id == "134815"
    assert notification.data_types == ("activities",)
    assert notification.end == datetime(2025, 1, 1, 2, tzinfo=UTC)
    assert notification.start == notification.end - timedelta(days=7, hours=1)
    assert notification.delivery_id == "activity:13237811234:update:1735693200"


def test_athlete_deauthorization_event():
    body = (
        b'{"aspect_type": "update", "event_time": 1735693500, "object_id": 134815, "object_type": "athlete",'
        b' "owner_id": 134815, "subscription_id": 120475, "updates": {"authorized": "false"}}'
    )

    [notification] = webhook.parse_body(body)

    assert notification.deauthorized
    assert notification.external_user_id == "134815"


def test_other_athlete_updates_are_ignored():
    body = b'{"aspect_type":"update","event_time":1,"object_type":"athlete","owner_id":1,"updates":{}}'

    assert webhook.parse_body(body) == []


def test_event_without_owner_is_rejected():
    with pytest.raises(WebhookRejected):
        webhook.parse_body(b'{"object_type":"activity"}')


# --- paging over loopback ------------------------------------------------------------------------
class _Activities(BaseHTTPRequestHandler):
    """`/api/v3/athlete/activities`: `total` activities served `per_page` at a time."""

    total = 0
    queries: list[dict] = []

    def do_GET(self) -> None:
        query = {key: int(values[0]) for key, values in parse_qs(urlsplit(self.path).query).items()}
        type(self).queries.append(query)
        first = (query["page"] - 1) * query["per_page"]
        count = max(0, min(query["per_page"], type(self).total - first))
        data = json.dumps([{**ACTIVITY, "id": first + index} for index in range(count)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-RateLimit-Limit", "200,2000")
        self.send_header("X-RateLimit-Usage", "31,466")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def strava_server():
    cache.clear()
    _Activities.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Activities)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
    cache.clear()


def _client(server) -> StravaClient:
    return StravaClient(provider="strava", base_url=f"http://127.0.0.1:{server.server_address[1]}")


def test_pages_of_200_until_a_short_page(strava_server):
    _Activities.total = 450
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)

    activities = list(_client(strava_server).activities(start, end))

    assert len(activities) == 450
    assert [query["page"] for query in _Activities.queries] == [1, 2, 3]
    assert {query["per_page"] for query in _Activities.queries} == {200}
    assert _Activities.queries[0]["after"] == int(start.timestamp()) - 1
    assert _Activities.queries[0]["before"] == int(end.timestamp())


def test_an_exact_multiple_of_the_page_size_costs_one_empty_page(strava_server):
    _Activities.total = 200

    list(
        _client(strava_server).activities(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    )

    assert [query["page"] for query in _Activities.queries] == [1, 2]


# --- allauth's bundled provider, pointed at the configured hosts ---------------------------------
def test_allauth_strava_adapter_reads_its_hosts_from_settings(settings):
    from allauth.socialaccount.providers.strava.views import StravaOAuth2Adapter

    settings.STRAVA_AUTHORIZE_URL = "http://127.0.0.1:9/oauth/authorize"
    settings.STRAVA_TOKEN_URL = "http://127.0.0.1:9/oauth/token"
    settings.STRAVA_API_BASE_URL = "http://127.0.0.1:9/"
    adapter = StravaOAuth2Adapter(RequestFactory().get("/"))

    assert adapter.authorize_url == "http://127.0.0.1:9/oauth/authorize"
    assert adapter.access_token_url == "http://127.0.0.1:9/oauth/token"
    assert adapter.profile_url == "http://127.0.0.1:9/api/v3/athlete"


# --- against the sandbox over loopback -----------------------------------------------------------
def test_connect_through_allauths_strava_provider_uses_the_configured_hosts(simulator, client, member):
    client.force_login(member)
    simulator.consent("strava", auto="approve")

    started, finished = simulator.connect(client, "strava")

    assert started["Location"].startswith(simulator.url("strava", "/oauth/authorize?"))
    assert "scope=read%2Cactivity%3Aread_all" in started["Location"]
    assert finished.status_code == 302
    assert SocialAccount.objects.get(user=member, provider="strava").uid.isdigit()
    assert simulator.count("strava", "token") == 1


def test_sandbox_push_event_is_acknowledged_and_recorded(simulator, live_server):
    from integrations.models import WebhookEvent

    response = simulator.send_webhook("strava", f"{live_server.url}/webhooks/strava/", account="demo")

    assert response.status_code == 200
    assert WebhookEvent.objects.filter(provider="strava").count() == 1


def test_the_apps_push_subscription_is_created_once(simulator, live_server, settings):
    settings.STRAVA_WEBHOOK_VERIFY_TOKEN = "sandbox"
    callback = f"{live_server.url}/webhooks/strava/"

    first = webhook.subscribe(callback)

    assert first == webhook.subscribe(callback)
    assert simulator.count("strava", "push_subscriptions") == 3  # create, then list twice
