"""Every fault switch gives the provider's documented failure, then the sandbox recovers."""

import time

import pytest
import requests

from tests.integrations.sandbox import flows
from tests.integrations.sandbox.test_oauth import call_identity, refused, unauthorized

PROVIDERS = ["withings", "oura", "fitbit", "whoop", "strava"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rate_limit_fault_answers_like_the_provider_then_clears(sandbox, provider):
    token = flows.connect(sandbox, provider)["access_token"]
    sandbox.fault(provider, "rate_limit", times=2, retry_after=7)

    first = call_identity(sandbox, provider, token)
    second = call_identity(sandbox, provider, token)
    third = call_identity(sandbox, provider, token)

    for limited in (first, second):
        assert limited.headers["Retry-After"] == "7"
        if provider == "withings":
            assert limited.status_code == 200 and limited.json()["status"] == 601
        else:
            assert limited.status_code == 429
    assert third.status_code == 200
    if provider == "fitbit":
        assert first.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    if provider == "strava":
        assert first.json()["message"] == "Rate Limit Exceeded"
        assert first.headers["X-RateLimit-Limit"] == "200,2000"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_server_error_fault_answers_500_once(sandbox, provider):
    token = flows.connect(sandbox, provider)["access_token"]
    sandbox.fault(provider, "server_error")

    assert call_identity(sandbox, provider, token).status_code == 500
    assert call_identity(sandbox, provider, token).status_code == 200


def test_server_error_fault_can_answer_503_until_cleared(sandbox):
    token = flows.connect(sandbox, "fitbit")["access_token"]
    sandbox.fault("fitbit", "server_error", times=None, status=503)

    statuses = [call_identity(sandbox, "fitbit", token).status_code for _ in range(3)]
    sandbox.clear_faults("fitbit")

    assert statuses == [503, 503, 503]
    assert call_identity(sandbox, "fitbit", token).status_code == 200


def test_slow_fault_delays_the_answer(sandbox):
    token = flows.connect(sandbox, "oura")["access_token"]
    sandbox.fault("oura", "slow", delay_seconds=0.6)

    started = time.monotonic()
    response = call_identity(sandbox, "oura", token)

    assert response.status_code == 200 and time.monotonic() - started >= 0.6
    with pytest.raises(requests.Timeout):
        sandbox.fault("oura", "slow", delay_seconds=1.5)
        requests.get(
            sandbox.url("oura", "/v2/usercollection/personal_info"),
            timeout=0.3,
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expired_access_tokens_get_401_until_refreshed(sandbox, provider):
    grant = flows.connect(sandbox, provider)
    sandbox.fault(provider, "expire_access_tokens")

    expired = call_identity(sandbox, provider, grant["access_token"])
    renewed = flows.tokens(flows.refresh(sandbox, provider, grant["refresh_token"]), provider)

    assert unauthorized(expired, provider)
    assert call_identity(sandbox, provider, renewed["access_token"]).status_code == 200
    if provider == "fitbit":
        assert expired.json()["error"]["status"] == "UNAUTHENTICATED"
        assert "invalid_token" in expired.headers["WWW-Authenticate"]


def test_access_tokens_expire_with_the_sandbox_clock(sandbox):
    grant = flows.connect(sandbox, "whoop")
    sandbox.advance_clock(3601)

    assert call_identity(sandbox, "whoop", grant["access_token"]).status_code == 401


@pytest.mark.parametrize("provider", ["fitbit", "strava"])
def test_rotate_refresh_fault_makes_a_non_rotating_provider_rotate_once(sandbox, provider):
    grant = flows.connect(sandbox, provider)
    sandbox.fault(provider, "rotate_refresh")

    rotated = flows.tokens(flows.refresh(sandbox, provider, grant["refresh_token"]), provider)
    old_again = flows.refresh(sandbox, provider, grant["refresh_token"])
    next_refresh = flows.tokens(flows.refresh(sandbox, provider, rotated["refresh_token"]), provider)

    assert rotated["refresh_token"] != grant["refresh_token"]
    assert refused(old_again, provider)
    assert next_refresh.get("refresh_token", rotated["refresh_token"]) == rotated["refresh_token"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_grant_fault_kills_the_refresh_token(sandbox, provider):
    grant = flows.connect(sandbox, provider)
    sandbox.fault(provider, "invalid_grant")

    failed = flows.refresh(sandbox, provider, grant["refresh_token"])
    again = flows.refresh(sandbox, provider, grant["refresh_token"])

    assert refused(failed, provider) and refused(again, provider)
    if provider == "withings":
        assert failed.json()["status"] == 401
    elif provider == "strava":
        assert failed.status_code == 400 and failed.json()["errors"][0]["resource"] == "RefreshToken"
    else:
        assert failed.status_code == 400 and failed.json()["error"] == "invalid_grant"


def test_faults_without_endpoints_spare_the_token_endpoint_and_named_ones_hit_it(sandbox):
    grant = flows.connect(sandbox, "oura")
    sandbox.fault("oura", "server_error", times=None)

    refreshed = flows.refresh(sandbox, "oura", grant["refresh_token"])
    sandbox.clear_faults("oura")
    sandbox.fault("oura", "rate_limit", endpoints=("token",))
    limited = flows.refresh(sandbox, "oura", refreshed.json()["refresh_token"])

    assert refreshed.status_code == 200
    assert limited.status_code == 429


def test_a_fault_named_for_one_endpoint_leaves_the_others_alone(sandbox):
    token = flows.connect(sandbox, "whoop")["access_token"]
    sandbox.fault("whoop", "server_error", endpoints=("cycle",))

    profile = call_identity(sandbox, "whoop", token)
    cycles = requests.get(
        sandbox.url("whoop", "/developer/v2/cycle"), timeout=10, headers={"Authorization": f"Bearer {token}"}
    )

    assert profile.status_code == 200 and cycles.status_code == 500


def test_counters_count_each_endpoint_exactly(sandbox):
    grant = flows.connect(sandbox, "withings")
    flows.refresh(sandbox, "withings", grant["refresh_token"])
    call_identity(sandbox, "withings", grant["access_token"])

    counters = sandbox.counters("withings")

    assert counters == {"authorize": 1, "token": 2, "getmeas": 1, "total": 4}


def test_reset_forgets_tokens_faults_and_counters(sandbox):
    grant = flows.connect(sandbox, "oura")
    sandbox.fault("oura", "server_error", times=None)

    sandbox.reset()

    assert sandbox.counters("oura") == {}
    assert unauthorized(call_identity(sandbox, "oura", grant["access_token"]), "oura")


def test_the_control_api_sets_faults_reads_counters_and_resets_over_http(sandbox):
    control = sandbox.url("_control")
    token = flows.connect(sandbox, "strava")["access_token"]

    set_fault = requests.post(
        f"{control}/strava/faults", json={"kind": "rate_limit", "times": 1, "retry_after": 3}, timeout=10
    )
    limited = call_identity(sandbox, "strava", token)
    counters = requests.get(f"{control}/strava/counters", timeout=10).json()
    reset = requests.post(f"{control}/reset", timeout=10)

    assert set_fault.status_code == 200 and set_fault.json()["faults"][0]["kind"] == "rate_limit"
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert counters == {"authorize": 1, "token": 1, "athlete": 1, "total": 3}
    assert reset.status_code == 200 and sandbox.counters("strava") == {}


def test_the_control_api_refuses_bad_input_and_unknown_providers(sandbox):
    control = sandbox.url("_control")

    unknown_kind = requests.post(f"{control}/oura/faults", json={"kind": "meteor"}, timeout=10)
    unknown_provider = requests.get(f"{control}/garmin/counters", timeout=10)
    not_json = requests.post(f"{control}/oura/faults", data="kind=slow", timeout=10)

    assert unknown_kind.status_code == 400 and "meteor" in unknown_kind.json()["error"]
    assert unknown_provider.status_code == 404
    assert not_json.status_code == 400


def test_the_control_api_sets_consent_and_expected_counts(sandbox):
    control = sandbox.url("_control")

    consent = requests.post(f"{control}/whoop/consent", json={"auto": "deny"}, timeout=10)
    denied = flows.redirect_params(flows.authorize(sandbox, "whoop"))
    expected = requests.get(
        f"{control}/whoop/expected", params={"first": "2026-01-01", "last": "2026-01-31"}, timeout=30
    )

    assert consent.json()["auto"] == "deny" and denied["error"] == "access_denied"
    assert expected.json()["cycle"] == 31


def test_a_request_limit_answers_429_until_the_window_frees_a_slot(sandbox):
    token = flows.connect(sandbox, "strava")["access_token"]
    sandbox.limit("strava", 3, window_seconds=60)

    allowed = [call_identity(sandbox, "strava", token).status_code for _ in range(3)]
    refused_call = call_identity(sandbox, "strava", token)
    sandbox.advance_clock(61)
    later = call_identity(sandbox, "strava", token)

    assert allowed == [200, 200, 200]
    assert refused_call.status_code == 429 and 1 <= int(refused_call.headers["Retry-After"]) <= 60
    assert later.status_code == 200


def test_the_documented_limit_can_be_switched_on_over_http(sandbox):
    response = requests.post(
        sandbox.url("_control", "/withings/limits"), json={"documented": True}, timeout=10
    )
    cleared = requests.delete(sandbox.url("_control", "/withings/limits"), timeout=10)

    assert response.json() == {"requests": 120, "window_seconds": 60}
    assert cleared.json() == {}
