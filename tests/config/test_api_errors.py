"""Every 4xx and 5xx under /api/ answers in one shape; HTML pages get friendly error pages."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.config.routes import SECRET_DETAIL
from tests.factories import PASSWORD

ERROR_KEYS = {"code", "message", "details", "request_id"}


def assert_error_shape(response, status_code: int, code: str) -> dict:
    assert response.status_code == status_code
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


@pytest.mark.django_db
def test_unauthenticated_api_request_gets_401_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/me", HTTP_X_REQUEST_ID="req-abcdef123")

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "details": {},
            "request_id": "req-abcdef123",
        }
    }
    assert response["X-Request-ID"] == "req-abcdef123"
    assert response["WWW-Authenticate"].startswith("X-Session-Token")


@pytest.mark.django_db
def test_unknown_api_path_gets_django_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/does-not-exist")

    assert_error_shape(response, 404, "not_found")


def test_invalid_field_gets_400_with_the_field_in_details(user_api_client):
    response = user_api_client.patch("/api/v1/me", {"timezone": "Mars/Olympus_Mons"}, format="json")

    error = assert_error_shape(response, 400, "invalid")
    assert "timezone" in error["details"]


def test_malformed_json_gets_400_in_the_error_shape(user_api_client):
    response = user_api_client.generic("PATCH", "/api/v1/me", "{not json", content_type="application/json")

    assert_error_shape(response, 400, "parse_error")


@pytest.mark.django_db
def test_request_for_a_host_not_allowed_gets_400_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/me", HTTP_HOST="evil.example.net")

    assert_error_shape(response, 400, "bad_request")


def test_session_request_without_csrf_token_gets_403_in_the_error_shape(user):
    client = APIClient(enforce_csrf_checks=True)
    client.login(email=user.email, password=PASSWORD)

    response = client.patch("/api/v1/me", {"units": "imperial"}, format="json")

    assert_error_shape(response, 403, "permission_denied")


def test_wrong_method_gets_405_with_allow_header_in_the_error_shape(user_api_client):
    response = user_api_client.delete("/api/v1/me")

    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_too_many_requests_get_429_with_retry_after_in_the_error_shape(user_api_client, settings):
    settings.API_RATE_LIMIT_USER = "2/m"

    statuses = [user_api_client.get("/api/v1/me").status_code for _ in range(2)]
    response = user_api_client.get("/api/v1/me")

    assert statuses == [200, 200]
    error = assert_error_shape(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error["details"] == {"retry_after_seconds": int(response["Retry-After"])}


def test_users_behind_one_address_share_the_per_ip_limit(user, other_user, settings):
    settings.API_RATE_LIMIT_IP = "1/m"
    first_client, second_client = APIClient(), APIClient()
    first_client.force_authenticate(user)
    second_client.force_authenticate(other_user)

    first = first_client.get("/api/v1/me")
    second = second_client.get("/api/v1/me")

    assert first.status_code == 200
    assert_error_shape(second, 429, "throttled")
    assert "Retry-After" in second


@pytest.mark.django_db
@pytest.mark.urls("tests.config.routes")
def test_unexpected_exception_gets_500_in_the_error_shape_without_a_trace(caplog):
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/test/explode", HTTP_X_REQUEST_ID="req-explode-0001")

    error = assert_error_shape(response, 500, "server_error")
    assert error["request_id"] == "req-explode-0001"
    assert SECRET_DETAIL not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert any(record.name == "hfa.errors" and record.exc_info for record in caplog.records)


@pytest.mark.django_db
def test_unknown_page_gets_a_friendly_html_404(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Page not found" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.urls("tests.config.routes")
def test_unexpected_exception_on_a_page_gets_a_friendly_html_500_without_a_trace():
    client = Client(raise_request_exception=False)

    response = client.get("/test/explode")

    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert SECRET_DETAIL not in page
    assert "Traceback" not in page


def test_body_larger_than_the_configured_limit_is_refused(user_api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = user_api_client.patch("/api/v1/me", {"first_name": "x" * 4096}, format="json")

    assert_error_shape(response, 413, "payload_too_large")


def test_me_returns_the_signed_in_user(user_api_client, user):
    response = user_api_client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["email"] == user.email
