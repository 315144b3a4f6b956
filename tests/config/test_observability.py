"""Request ids, one JSON log line per request, the guarded metrics endpoint and Sentry scrubbing."""

import io
import json
import logging

import pytest
import sentry_sdk

from config.observability import JsonFormatter, RequestIdFilter, init_sentry, scrub_sentry_event


@pytest.fixture
def request_log():
    """The JSON lines hfa.request writes, formatted exactly as on stdout."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("hfa.request")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


def test_each_request_writes_one_json_line_with_who_what_and_how_long(client, user, request_log):
    client.force_login(user)

    client.get("/api/v1/me", HTTP_X_REQUEST_ID="req-logline-0001")

    [line] = request_log()
    assert line["message"] == "request"
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/me"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["user_id"] == user.pk
    assert line["request_id"] == "req-logline-0001"


@pytest.mark.django_db
def test_a_well_formed_request_id_is_echoed(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="client-chosen-id-42")

    assert response["X-Request-ID"] == "client-chosen-id-42"


@pytest.mark.django_db
def test_a_request_id_is_made_when_the_client_sends_none(client):
    first = client.get("/health/live")["X-Request-ID"]
    second = client.get("/health/live")["X-Request-ID"]

    assert len(first) == 32
    assert first != second


@pytest.mark.django_db
@pytest.mark.parametrize("malformed", ["short", "has spaces in it", "<script>alert(1)</script>", "x" * 200])
def test_a_malformed_request_id_is_replaced_not_echoed(client, malformed):
    response = client.get("/health/live", HTTP_X_REQUEST_ID=malformed)

    assert response["X-Request-ID"] != malformed
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_metrics_are_hidden_from_anonymous_visitors(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_are_hidden_from_users_who_are_not_staff(client, user):
    client.force_login(user)

    assert client.get("/metrics").status_code == 404


def test_metrics_are_shown_to_staff(client, staff_user):
    client.force_login(staff_user)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


@pytest.mark.django_db
def test_metrics_are_shown_to_a_scraper_with_the_token(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"

    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
    refused = client.get("/metrics", HTTP_AUTHORIZATION="Bearer another-token")

    assert allowed.status_code == 200
    assert refused.status_code == 404


def test_sentry_stays_off_without_a_dsn():
    started = init_sentry("", environment="embedded", release="0", traces_sample_rate=0.0)

    assert started is False
    assert not sentry_sdk.get_client().is_active()


def test_sentry_events_lose_personal_data_before_they_leave():
    event = {
        "user": {"id": 7, "email": "person@example.com", "ip_address": "203.0.113.9"},
        "request": {
            "url": "https://health.example.com/api/v1/me",
            "data": {"password": "hunter2"},
            "cookies": {"sessionid": "abc"},
            "query_string": "email=person@example.com",
            "headers": {"Authorization": "Bearer s3cr3t", "X-Session-Token": "tok", "Accept": "json"},
        },
        "exception": {"values": [{"stacktrace": {"frames": [{"function": "f", "vars": {"pw": "x"}}]}}]},
        "extra": {"api_key": "k", "note": "kept", "nested": {"refresh_token": "r"}},
    }

    scrubbed = scrub_sentry_event(event, hint={})

    assert scrubbed["user"] == {"id": 7}
    assert scrubbed["request"] == {
        "url": "https://health.example.com/api/v1/me",
        "headers": {"Authorization": "[Filtered]", "X-Session-Token": "[Filtered]", "Accept": "json"},
    }
    assert scrubbed["exception"]["values"][0]["stacktrace"]["frames"] == [{"function": "f"}]
    assert scrubbed["extra"] == {
        "api_key": "[Filtered]",
        "note": "kept",
        "nested": {"refresh_token": "[Filtered]"},
    }
