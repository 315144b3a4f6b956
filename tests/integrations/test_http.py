import time

import pytest

from integrations.http import (
    ApiClient,
    AuthRevoked,
    CircuitBreaker,
    CircuitOpen,
    ProviderError,
    RateLimit,
    RateLimited,
    RateUsage,
    TransientError,
    parse_rate_headers,
    retry_after_seconds,
)


class StaticCredentials:
    """Hands out "old" until refreshed, then "new"; counts refreshes."""

    def __init__(self) -> None:
        self.token = "old"
        self.refreshes = 0

    def access_token(self) -> str:
        return self.token

    def refreshed_access_token(self, rejected: str) -> str:
        self.refreshes += 1
        self.token = "new"
        return self.token


class InBodyStatusClient(ApiClient):
    """Like Withings: HTTP 200 with {"status": 601} for "too many requests"."""

    def check(self, response) -> None:
        super().check(response)
        status = response.json().get("status", 0)
        if status == 601:
            raise RateLimited("601", retry_after=0.2, status=None)
        if status == 401:
            from integrations.http import AuthExpired

            raise AuthExpired("401 in body")


def make_client(server, **kwargs) -> ApiClient:
    return ApiClient(provider="acme", base_url=server.url, **kwargs)


def test_server_errors_are_retried_until_success(scripted_server):
    scripted_server.script("/data", (500, {}, {}), (502, {}, {}), (200, {}, {"ok": True}))
    client = make_client(scripted_server)

    assert client.get_json("/data") == {"ok": True}
    assert client.requests_made == 3


def test_retries_stop_after_the_configured_attempts(scripted_server, settings):
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 3
    settings.PROVIDER_CIRCUIT_FAILURE_THRESHOLD = 100
    scripted_server.script("/data", (503, {}, {}))
    client = make_client(scripted_server)

    with pytest.raises(TransientError):
        client.get_json("/data")
    assert len(scripted_server.hits("/data")) == 3


def test_retry_after_is_honoured_before_the_next_attempt(scripted_server):
    scripted_server.script("/data", (429, {"Retry-After": "1"}, {}), (200, {}, {"ok": True}))
    client = make_client(scripted_server)

    client.get_json("/data")

    first, second = scripted_server.hits("/data")
    assert second["at"] - first["at"] >= 0.95


def test_a_retry_after_longer_than_allowed_is_raised_for_the_task_to_retry_later(scripted_server):
    scripted_server.script("/data", (429, {"Retry-After": "3600"}, {}))
    client = make_client(scripted_server)

    with pytest.raises(RateLimited) as raised:
        client.get_json("/data")
    assert raised.value.retry_after == pytest.approx(3600)
    assert len(scripted_server.hits("/data")) == 1


def test_a_429_pauses_every_client_of_that_provider(scripted_server, settings):
    settings.PROVIDER_RATE_MAX_WAIT_SECONDS = 0
    scripted_server.script("/data", (429, {"Retry-After": "3600"}, {}))
    with pytest.raises(RateLimited):
        make_client(scripted_server).get_json("/data")

    with pytest.raises(RateLimited):
        make_client(scripted_server).get_json("/data")
    assert len(scripted_server.hits("/data")) == 1


def test_client_errors_are_not_retried(scripted_server):
    scripted_server.script("/data", (404, {}, {"message": "Record Not Found"}))
    client = make_client(scripted_server)

    with pytest.raises(ProviderError) as raised:
        client.get_json("/data")
    assert raised.value.status == 404
    assert not isinstance(raised.value, TransientError)
    assert client.requests_made == 1


def test_a_slow_answer_times_out_and_is_retried(scripted_server, settings):
    settings.PROVIDER_HTTP_READ_TIMEOUT = 0.2
    scripted_server.script("/data", (200, {}, {"slow": True}, 0.5), (200, {}, {"ok": True}))
    client = make_client(scripted_server)

    assert client.get_json("/data") == {"ok": True}
    assert client.requests_made == 2


def test_a_401_refreshes_the_token_once_and_retries(scripted_server):
    scripted_server.handle(
        "/data",
        lambda request: (
            (200, {}, {"ok": True})
            if request["headers"].get("Authorization") == "Bearer new"
            else (401, {}, {"message": "Authorization Error"})
        ),
    )
    credentials = StaticCredentials()
    client = make_client(scripted_server, credentials=credentials)

    assert client.get_json("/data") == {"ok": True}
    assert credentials.refreshes == 1
    assert [hit["headers"]["Authorization"] for hit in scripted_server.hits("/data")] == [
        "Bearer old",
        "Bearer new",
    ]


def test_a_401_after_a_refresh_means_access_was_revoked(scripted_server):
    scripted_server.script("/data", (401, {}, {}))
    credentials = StaticCredentials()

    with pytest.raises(AuthRevoked):
        make_client(scripted_server, credentials=credentials).get_json("/data")
    assert credentials.refreshes == 1


def test_invalid_grant_is_auth_revoked(scripted_server):
    scripted_server.script("/token", (400, {}, {"error": "invalid_grant"}))

    with pytest.raises(AuthRevoked):
        make_client(scripted_server).request("POST", "/token", authenticated=False)


def test_in_body_errors_go_through_the_check_hook(scripted_server):
    scripted_server.script(
        "/measure", (200, {}, {"status": 601, "body": {}}), (200, {}, {"status": 0, "body": {"ok": 1}})
    )
    client = InBodyStatusClient(provider="acme", base_url=scripted_server.url)

    assert client.get_json("/measure") == {"status": 0, "body": {"ok": 1}}
    assert client.requests_made == 2


def test_the_circuit_opens_after_repeated_failures_and_closes_again(scripted_server, settings):
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    scripted_server.script("/data", (500, {}, {}), (500, {}, {}), (500, {}, {}), (200, {}, {"ok": True}))
    client = make_client(scripted_server)
    for _ in range(3):
        with pytest.raises(TransientError):
            client.get_json("/data")

    with pytest.raises(CircuitOpen):
        client.get_json("/data")
    assert len(scripted_server.hits("/data")) == 3
    assert CircuitBreaker("acme").state() == "open"

    time.sleep(0.35)
    assert CircuitBreaker("acme").state() == "half_open"
    assert client.get_json("/data") == {"ok": True}
    assert CircuitBreaker("acme").state() == "closed"


def test_a_failed_trial_call_opens_the_circuit_again(scripted_server, settings):
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    scripted_server.script("/data", (500, {}, {}))
    client = make_client(scripted_server)
    for _ in range(3):
        with pytest.raises(TransientError):
            client.get_json("/data")
    time.sleep(0.35)

    with pytest.raises(TransientError):
        client.get_json("/data")

    assert CircuitBreaker("acme").state() == "open"
    assert len(scripted_server.hits("/data")) == 4


def test_the_rate_budget_paces_requests_across_clients(scripted_server):
    scripted_server.script("/data", (200, {}, {"ok": True}))
    limits = [RateLimit(requests=3, seconds=1)]
    clients = [make_client(scripted_server, rate_limits=limits) for _ in range(2)]

    for _ in range(4):
        for client in clients:
            client.get_json("/data")

    per_second: dict[int, int] = {}
    for hit in scripted_server.hits("/data"):
        per_second[int(hit["at"])] = per_second.get(int(hit["at"]), 0) + 1
    assert len(scripted_server.hits("/data")) == 8
    assert max(per_second.values()) <= 3


def test_reported_usage_spends_the_budget(scripted_server, settings):
    settings.PROVIDER_RATE_MAX_WAIT_SECONDS = 0
    headers = {"X-RateLimit-Limit": "200,2000", "X-RateLimit-Usage": "31,2000"}  # the day is spent
    scripted_server.script("/api/v3/athlete/activities", (200, headers, []))
    limits = [RateLimit(requests=200, seconds=900), RateLimit(requests=2000, seconds=86400)]
    client = make_client(scripted_server, rate_limits=limits)
    client.get_json("/api/v3/athlete/activities")

    with pytest.raises(RateLimited):
        client.get_json("/api/v3/athlete/activities")
    assert client.requests_made == 1


def test_per_user_limits_are_counted_per_user(scripted_server, settings):
    settings.PROVIDER_RATE_MAX_WAIT_SECONDS = 0
    scripted_server.script("/data", (200, {}, {}))
    limits = [RateLimit(requests=1, seconds=3600, per_user=True)]
    first = make_client(scripted_server, rate_limits=limits, user_key="1")
    second = make_client(scripted_server, rate_limits=limits, user_key="2")
    first.get_json("/data")

    second.get_json("/data")
    with pytest.raises(RateLimited):
        first.get_json("/data")


def test_rate_headers_of_each_provider_are_understood():
    whoop = {
        "X-RateLimit-Limit": "100, 100;window=60, 10000;window=86400",
        "X-RateLimit-Remaining": "98",
        "X-RateLimit-Reset": "3",
    }
    fitbit = {
        "Fitbit-Rate-Limit-Limit": "150",
        "Fitbit-Rate-Limit-Remaining": "0",
        "Fitbit-Rate-Limit-Reset": "1200",
    }
    strava = {
        "X-RateLimit-Limit": "200,2000",
        "X-RateLimit-Usage": "31,466",
        "X-ReadRateLimit-Limit": "100,1000",
        "X-ReadRateLimit-Usage": "29,410",
    }

    assert parse_rate_headers(whoop) == [RateUsage(limit=100, used=2, seconds=60, reset_seconds=3.0)]
    assert parse_rate_headers(fitbit) == [RateUsage(limit=150, used=150, seconds=None, reset_seconds=1200.0)]
    assert parse_rate_headers(strava) == [
        RateUsage(limit=200, used=31, seconds=900),
        RateUsage(limit=2000, used=466, seconds=86400),
        RateUsage(limit=100, used=29, seconds=900),
        RateUsage(limit=1000, used=410, seconds=86400),
    ]


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("7", default=60) == 7
    assert retry_after_seconds(None, default=60) == 60
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", default=60) == 0


def test_a_spent_limit_with_a_reset_pauses_the_provider_until_then(scripted_server, settings):
    settings.PROVIDER_RATE_MAX_WAIT_SECONDS = 0
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}
    scripted_server.script("/data", (200, headers, {}))
    client = make_client(scripted_server, rate_limits=[RateLimit(requests=100, seconds=60)])
    client.get_json("/data")

    with pytest.raises(RateLimited) as raised:
        client.get_json("/data")
    assert 25 < raised.value.retry_after <= 30
