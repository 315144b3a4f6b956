"""The simulated OAuth flows over real HTTP: consent, code, token, refresh by each rotation rule, revoke."""

import base64
import hashlib
import time

import pytest
import requests

from tests.integrations.sandbox import flows

PROVIDERS = ["withings", "oura", "fitbit", "whoop", "strava"]


def test_authorize_page_shows_approve_and_deny_and_the_requested_scopes(sandbox):
    response = flows.authorize(sandbox, "oura")

    assert response.status_code == 200
    assert 'value="approve"' in response.text and 'value="deny"' in response.text
    assert 'value="heartrate"' in response.text


def test_approving_on_the_page_with_a_scope_unticked_grants_only_the_rest(sandbox):
    client_id, _ = flows.client("strava")
    form = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": flows.REDIRECT_URI,
        "state": "s-123456789",
        "scope": "read,activity:read_all",
        "sandbox_form": "1",
        "decision": "approve",
        "granted": ["read"],
        "sandbox_account": "alice",
    }

    response = requests.get(
        sandbox.url("strava", "/oauth/authorize"), params=form, allow_redirects=False, timeout=10
    )

    params = flows.redirect_params(response)
    assert params["scope"] == "read" and params["state"] == "s-123456789"
    assert flows.exchange(sandbox, "strava", params["code"])["athlete"]["username"] == "alice"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_denied_consent_redirects_with_access_denied_and_the_state(sandbox, provider):
    sandbox.consent(provider, auto="deny")

    params = flows.redirect_params(flows.authorize(sandbox, provider, state="deny-state-1"))

    assert params == {"error": "access_denied", "state": "deny-state-1"}


def test_dropped_scopes_are_missing_from_the_grant(sandbox):
    sandbox.consent("fitbit", drop_scopes=("https://www.googleapis.com/auth/googlehealth.sleep.readonly",))

    params = flows.redirect_params(flows.authorize(sandbox, "fitbit"))
    granted = flows.exchange(sandbox, "fitbit", params["code"])["scope"].split()

    assert "https://www.googleapis.com/auth/googlehealth.sleep.readonly" not in granted
    assert len(granted) == 3


def test_unknown_client_gets_an_error_page_not_a_redirect(sandbox):
    response = requests.get(
        sandbox.url("oura", "/oauth/authorize"),
        params={"client_id": "nobody", "redirect_uri": flows.REDIRECT_URI},
        timeout=10,
    )

    assert response.status_code == 400


def test_whoop_refuses_a_state_shorter_than_eight_characters(sandbox):
    sandbox.consent("whoop")

    params = flows.redirect_params(flows.authorize(sandbox, "whoop", state="short"))

    assert params["error"] == "invalid_state"


@pytest.mark.parametrize("provider", ["withings", "oura", "whoop"])
def test_refresh_rotates_and_the_old_refresh_token_is_spent(sandbox, provider):
    first = flows.connect(sandbox, provider)

    second = flows.tokens(flows.refresh(sandbox, provider, first["refresh_token"]), provider)
    # Withings keeps the old one alive until the new access token is used.
    assert call_identity(sandbox, provider, second["access_token"]).status_code == 200
    again = flows.refresh(sandbox, provider, first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert refused(again, provider)


def test_withings_old_refresh_token_works_until_the_new_access_token_is_used(sandbox):
    first = flows.connect(sandbox, "withings")
    flows.tokens(flows.refresh(sandbox, "withings", first["refresh_token"]), "withings")

    retried = flows.tokens(flows.refresh(sandbox, "withings", first["refresh_token"]), "withings")

    assert retried["expires_in"] == 10800


def test_google_refresh_keeps_the_refresh_token_and_returns_none(sandbox):
    first = flows.connect(sandbox, "fitbit")

    second = flows.tokens(flows.refresh(sandbox, "fitbit", first["refresh_token"]), "fitbit")
    third = flows.tokens(flows.refresh(sandbox, "fitbit", first["refresh_token"]), "fitbit")

    assert first["expires_in"] == 3599 and first["token_type"] == "Bearer"
    assert "refresh_token" not in second and "refresh_token" not in third
    assert third["access_token"] != second["access_token"]


def test_strava_returns_the_same_refresh_token_and_the_athlete_only_on_the_code_exchange(sandbox):
    first = flows.connect(sandbox, "strava")

    second = flows.tokens(flows.refresh(sandbox, "strava", first["refresh_token"]), "strava")

    assert first["athlete"]["id"] and "athlete" not in second
    assert second["refresh_token"] == first["refresh_token"]
    assert abs(second["expires_at"] - (time.time() + 21600)) < 5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_authorization_code_works_once(sandbox, provider):
    code = flows.code_for(sandbox, provider)
    flows.exchange(sandbox, provider, code)

    again = flows.token_request(
        sandbox,
        provider,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": flows.REDIRECT_URI},
    )

    assert refused(again, provider)


def test_withings_codes_expire_after_thirty_seconds(sandbox):
    code = flows.code_for(sandbox, "withings")
    sandbox.advance_clock(31)

    response = flows.token_request(
        sandbox,
        "withings",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": flows.REDIRECT_URI},
    )

    assert response.status_code == 200 and response.json()["status"] != 0


def test_oura_codes_live_ten_minutes(sandbox):
    code = flows.code_for(sandbox, "oura")
    sandbox.advance_clock(590)

    assert flows.exchange(sandbox, "oura", code)["expires_in"] == 86400


def test_google_checks_the_pkce_verifier(sandbox):
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(flows.VERIFIER.encode()).digest()).rstrip(b"=").decode()
    )
    code = flows.code_for(sandbox, "fitbit", code_challenge=challenge, code_challenge_method="S256")

    wrong = flows.token_request(
        sandbox,
        "fitbit",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flows.REDIRECT_URI,
            "code_verifier": "wrong",
        },
    )

    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_google_accepts_basic_client_authentication(sandbox):
    code = flows.code_for(sandbox, "fitbit", access_type="offline")

    response = flows.token_request(
        sandbox,
        "fitbit",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": flows.REDIRECT_URI},
        basic=True,
    )

    assert response.status_code == 200 and response.json()["refresh_token"]


def test_a_wrong_client_secret_is_invalid_client(sandbox):
    code = flows.code_for(sandbox, "oura")
    client_id, _ = flows.client("oura")

    response = requests.post(
        sandbox.url("oura", "/oauth/token"),
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": "wrong",
        },
    )

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_google_gives_a_refresh_token_only_for_offline_access(sandbox):
    online = flows.exchange(sandbox, "fitbit", flows.code_for(sandbox, "fitbit"))
    offline = flows.exchange(sandbox, "fitbit", flows.code_for(sandbox, "fitbit", access_type="offline"))

    assert "refresh_token" not in online
    assert offline["refresh_token"]


def test_whoop_without_offline_scope_gets_no_refresh_token(sandbox):
    code = flows.code_for(sandbox, "whoop", scope="read:sleep")

    assert "refresh_token" not in flows.exchange(sandbox, "whoop", code)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_revoking_kills_the_grant(sandbox, provider):
    grant = flows.connect(sandbox, provider)

    assert revoke(sandbox, provider, grant)
    assert unauthorized(call_identity(sandbox, provider, grant["access_token"]), provider)
    assert refused(flows.refresh(sandbox, provider, grant["refresh_token"]), provider)


def test_withings_nonce_and_signature_match_the_documented_test_vectors():
    assert flows.withings_signature("test_client_secret", "getnonce", "test_client_id", "1735689600") == (
        "c6f27e5d894f69f961cdcf3e6e664b2f2911009ec50c861494eb54429b91db22"
    )
    assert flows.withings_signature(
        "test_client_secret", "revoke", "test_client_id", "c455541b8f9111689adb647d32fac07a6ffe462d"
    ) == ("865f1d96d1c33a65361358e6e45011cae515f810b94985224636e7f6a80f1967")


def test_withings_nonces_are_single_use(sandbox):
    client_id, secret = flows.client("withings")
    nonce = get_nonce(sandbox)
    form = {
        "action": "requesttoken",
        "client_id": client_id,
        "nonce": nonce,
        "grant_type": "authorization_code",
        "signature": flows.withings_signature(secret, "requesttoken", client_id, nonce),
        "code": flows.code_for(sandbox, "withings"),
        "redirect_uri": flows.REDIRECT_URI,
    }

    first = requests.post(sandbox.url("withings", "/v2/oauth2"), data=form, timeout=10).json()
    second = requests.post(sandbox.url("withings", "/v2/oauth2"), data=form, timeout=10).json()

    assert first["status"] == 0 and first["body"]["userid"]
    assert second["status"] != 0


# --- helpers -------------------------------------------------------------------------------------
IDENTITY = {
    "withings": (
        "POST",
        "/measure",
        {"action": "getmeas", "meastype": "1", "startdate": "1", "enddate": "2"},
    ),
    "oura": ("GET", "/v2/usercollection/personal_info", {}),
    "fitbit": ("GET", "/v4/users/me/identity", {}),
    "whoop": ("GET", "/developer/v2/user/profile/basic", {}),
    "strava": ("GET", "/api/v3/athlete", {}),
}


def call_identity(sandbox, provider: str, access_token: str) -> requests.Response:
    method, path, params = IDENTITY[provider]
    headers = {"Authorization": f"Bearer {access_token}"}
    if method == "POST":
        return requests.post(sandbox.url(provider, path), data=params, headers=headers, timeout=10)
    return requests.get(sandbox.url(provider, path), params=params, headers=headers, timeout=10)


def unauthorized(response: requests.Response, provider: str) -> bool:
    if provider == "withings":
        return response.status_code == 200 and response.json()["status"] == 401
    return response.status_code == 401


def refused(response: requests.Response, provider: str) -> bool:
    if provider == "withings":
        return response.status_code == 200 and response.json()["status"] != 0
    return response.status_code in {400, 401}


def get_nonce(sandbox) -> str:
    client_id, secret = flows.client("withings")
    timestamp = str(int(time.time()))
    form = {
        "action": "getnonce",
        "client_id": client_id,
        "timestamp": timestamp,
        "signature": flows.withings_signature(secret, "getnonce", client_id, timestamp),
    }
    return requests.post(sandbox.url("withings", "/v2/signature"), data=form, timeout=10).json()["body"][
        "nonce"
    ]


def revoke(sandbox, provider: str, grant: dict) -> bool:
    client_id, secret = flows.client(provider)
    access = grant["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    if provider == "withings":
        nonce = get_nonce(sandbox)
        form = {
            "action": "revoke",
            "client_id": client_id,
            "nonce": nonce,
            "userid": grant["userid"],
            "signature": flows.withings_signature(secret, "revoke", client_id, nonce),
        }
        return requests.post(sandbox.url(provider, "/v2/oauth2"), data=form, timeout=10).json()["status"] == 0
    if provider == "oura":
        return (
            requests.get(
                sandbox.url(provider, "/oauth/revoke"), params={"access_token": access}, timeout=10
            ).status_code
            == 200
        )
    if provider == "fitbit":
        return (
            requests.post(
                sandbox.url(provider, "/revoke"), data={"token": grant["refresh_token"]}, timeout=10
            ).status_code
            == 200
        )
    if provider == "whoop":
        return (
            requests.delete(
                sandbox.url(provider, "/developer/v2/user/access"), headers=bearer, timeout=10
            ).status_code
            == 204
        )
    return (
        requests.post(
            sandbox.url(provider, "/oauth/revoke"),
            data={"token": access, "token_type_hint": "access_token"},
            auth=(client_id, secret),
            timeout=10,
        ).status_code
        == 200
    )
