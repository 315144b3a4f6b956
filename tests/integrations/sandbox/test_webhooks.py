"""Webhook deliveries and verification handshakes, checked with each provider's documented algorithm."""

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from integrations.providers.fitbit import sandbox as fitbit_sandbox
from integrations.providers.oura import sandbox as oura_sandbox
from integrations.providers.whoop import sandbox as whoop_sandbox
from integrations.sandbox import google_health
from tests.integrations.sandbox.flows import Receiver

OURA_VECTOR_BODY = (
    b'{"event_type":"update","data_type":"sleep","object_id":"8f9a5221-639e-4a85-81cb-4065ef23f979",'
    b'"event_time":"2025-01-01T08:00:00+00:00","user_id":"a1b2c3d4"}'
)
WHOOP_VECTOR_BODY = (
    b'{"user_id":10129,"id":"ecfc6a15-4661-442f-a9a4-f160dd7afae8","type":"sleep.updated",'
    b'"trace_id":"e369c784-5100-49e8-8098-75d35c47b31b"}'
)
GOOGLE_VECTOR_BODY = (
    b'[{"data":{"version":"1","clientProvidedSubscriptionName":"sim-sub","healthUserId":"sim-user-1",'
    b'"operation":"UPSERT","dataType":"steps","intervals":[{"physicalTimeInterval":{"startTime":'
    b'"2025-01-01T08:00:00Z","endTime":"2025-01-01T08:05:00Z"}}]}}]'
)


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.close()


def test_signers_reproduce_the_documented_test_vectors():
    assert oura_sandbox.signature("test_client_secret", "1735689600", OURA_VECTOR_BODY) == (
        "761B9A58282BAC70040FCAE6632FF3AE9B91F458E3843E398B9827303E68D207"
    )
    assert whoop_sandbox.signature("test_client_secret", "1735689600000", WHOOP_VECTOR_BODY) == (
        "uUTzWk4+Ci75JsHZBSFPjvJCGJ803mMKByb549B53o0="
    )
    assert google_health.sign(GOOGLE_VECTOR_BODY) == (
        "AUmWAtIwRgIhALVjT2eHxhL7mvHYMDJeEibIdtOwsqNB/iGywgXlTOJ4AiEA+BFVlk1wczot3CZ3xHDMAYpRFp4zYH8G91JzuuG3MOY="
    )
    assert google_health.public_keyset()["key"][0]["keyData"]["value"] == (
        "EgYIAxACGAIaIQBr+F1f6EWYsQymGZ7AnM19NdzXGV/dHcdzegxnAG7yUSIhALlS8l7sHe7R/KGRg4mQRmNX0xSt+36XYLjZr8jzmpWt"
    )


def test_oura_event_is_signed_with_uppercase_hex_hmac_of_timestamp_and_body(sandbox, receiver):
    response = sandbox.send_webhook("oura", receiver.url, account="alice", data_type="daily_sleep")

    request = receiver.requests[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    expected = (
        hmac.new(
            settings.OURA_CLIENT_SECRET.encode(),
            headers["x-oura-timestamp"].encode() + request["body"],
            hashlib.sha256,
        )
        .hexdigest()
        .upper()
    )
    assert response.status_code == 200
    assert headers["x-oura-signature"] == expected
    assert json.loads(request["body"])["data_type"] == "daily_sleep"
    assert json.loads(request["body"])["user_id"] == oura_sandbox.user_id("alice")


def test_whoop_event_is_signed_with_base64_hmac_and_millisecond_timestamp(sandbox, receiver):
    sandbox.send_webhook("whoop", receiver.url, account="alice", type="recovery.updated")

    request = receiver.requests[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    digest = hmac.new(
        settings.WHOOP_CLIENT_SECRET.encode(),
        headers["x-whoop-signature-timestamp"].encode() + request["body"],
        hashlib.sha256,
    ).digest()
    event = json.loads(request["body"])
    assert headers["x-whoop-signature"] == base64.b64encode(digest).decode()
    assert len(headers["x-whoop-signature-timestamp"]) == 13
    assert event["type"] == "recovery.updated" and len(event["id"]) == 36


def test_whoop_recovery_event_names_a_sleep_that_leads_to_the_recovery(sandbox, receiver):
    from tests.integrations.sandbox import flows

    token = flows.connect(sandbox, "whoop", account="alice")["access_token"]
    sandbox.send_webhook("whoop", receiver.url, account="alice", type="recovery.updated")
    sleep_id = json.loads(receiver.requests[0]["body"])["id"]
    auth = {"Authorization": f"Bearer {token}"}

    night = requests.get(
        sandbox.url("whoop", f"/developer/v2/activity/sleep/{sleep_id}"), headers=auth, timeout=10
    )
    recovery = requests.get(
        sandbox.url("whoop", f"/developer/v2/cycle/{night.json()['cycle_id']}/recovery"),
        headers=auth,
        timeout=10,
    )

    assert recovery.status_code == 200 and recovery.json()["sleep_id"] == sleep_id


def test_google_notification_carries_the_secret_and_a_tink_signature_over_the_raw_body(sandbox, receiver):
    sandbox.send_webhook("fitbit", receiver.url, account="alice", data_type="sleep")

    request = receiver.requests[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    keyset = requests.get(
        sandbox.url("fitbit", "/googlehealthapi/webhooks/webhooks_public_keyset.json"), timeout=10
    ).json()
    raw = base64.b64decode(headers["google-health-api-signature"])
    assert headers["authorization"] == fitbit_sandbox.WEBHOOK_SECRET
    assert raw[0] == 1 and int.from_bytes(raw[1:5], "big") == keyset["primaryKeyId"]
    tink_public_key(keyset).verify(raw[5:], request["body"], ec.ECDSA(hashes.SHA256()))
    assert json.loads(request["body"])[0]["data"]["dataType"] == "sleep"


def tink_public_key(keyset: dict) -> ec.EllipticCurvePublicKey:
    """x and y are the last two 33-byte fields of the EcdsaPublicKey proto."""
    proto = base64.b64decode(keyset["key"][0]["keyData"]["value"])
    x, y = proto[-68:-35], proto[-33:]
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    ).public_key()


def test_withings_notification_is_an_unsigned_form(sandbox, receiver):
    sandbox.send_webhook("withings", receiver.url, account="alice", appli=44)

    request = receiver.requests[0]
    form = {name: values[0] for name, values in parse_qs(request["body"].decode()).items()}
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert set(form) == {"userid", "appli", "startdate", "enddate"} and form["appli"] == "44"


def test_strava_event_is_unsigned_json(sandbox, receiver):
    sandbox.send_webhook("strava", receiver.url, account="alice", aspect_type="create")

    request = receiver.requests[0]
    event = json.loads(request["body"])
    assert not any(name.lower().startswith("x-") for name in request["headers"])
    assert event["object_type"] == "activity" and event["updates"] == {}


def test_oura_handshake_passes_only_when_the_challenge_is_echoed():
    echo = Receiver(lambda r: (200, json.dumps({"challenge": query(r)["challenge"]}).encode()))
    wrong = Receiver(lambda r: (200, b'{"challenge": "nope"}'))
    try:
        assert oura_sandbox.handshake(echo.url, verification_token="vt")
        assert query(echo.requests[0])["verification_token"] == "vt"
        assert not oura_sandbox.handshake(wrong.url)
    finally:
        echo.close()
        wrong.close()


def test_strava_handshake_sends_hub_parameters(sandbox):
    echo = Receiver(lambda r: (200, json.dumps({"hub.challenge": query(r)["hub.challenge"]}).encode()))
    try:
        assert sandbox.handshake("strava", echo.url, verify_token="vt")
        assert query(echo.requests[0])["hub.mode"] == "subscribe"
    finally:
        echo.close()


def test_google_handshake_needs_200_with_the_secret_and_401_without(sandbox):
    def strict(request):
        authorized = request["headers"].get("Authorization") == fitbit_sandbox.WEBHOOK_SECRET
        return (200, b"{}") if authorized else (401, b"{}")

    good, lax = Receiver(strict), Receiver()
    try:
        assert sandbox.handshake("fitbit", good.url)
        assert json.loads(good.requests[0]["body"]) == {"type": "verification"}
        assert not sandbox.handshake("fitbit", lax.url)
    finally:
        good.close()
        lax.close()


def test_withings_probes_with_head(sandbox, receiver):
    assert sandbox.handshake("withings", receiver.url)
    assert receiver.requests[0]["method"] == "HEAD"


def test_the_control_api_delivers_a_webhook_and_reports_the_answer(sandbox, receiver):
    response = requests.post(
        sandbox.url("_control", "/oura/webhook"),
        timeout=10,
        json={"callback_url": receiver.url, "account": "bob", "event_type": "create"},
    )

    assert response.json() == {"delivered": True, "status": 200, "body": "{}"}
    assert json.loads(receiver.requests[0]["body"])["event_type"] == "create"


def test_strava_push_subscription_runs_the_handshake(sandbox):
    echo = Receiver(lambda r: (200, json.dumps({"hub.challenge": query(r)["hub.challenge"]}).encode()))
    client = {"client_id": settings.STRAVA_CLIENT_ID, "client_secret": settings.STRAVA_CLIENT_SECRET}
    try:
        created = requests.post(
            sandbox.url("strava", "/api/v3/push_subscriptions"),
            timeout=10,
            data=client | {"callback_url": echo.url, "verify_token": "vt"},
        )
        listed = requests.get(sandbox.url("strava", "/api/v3/push_subscriptions"), params=client, timeout=10)
    finally:
        echo.close()

    assert created.status_code == 201 and listed.json()[0]["callback_url"] == echo.url


def query(request: dict) -> dict:
    return {name: values[0] for name, values in parse_qs(urlsplit(request["path"]).query).items()}


def test_deliveries_are_retried_until_accepted_and_can_be_repeated_identically(sandbox):
    answers = iter([(500, b"{}"), (503, b"{}"), (200, b"{}")])
    flaky = Receiver(lambda request: next(answers, (200, b"{}")))
    try:
        response = sandbox.send_webhook("whoop", flaky.url, account="alice", attempts=5, repeat=1)
    finally:
        flaky.close()

    bodies = [request["body"] for request in flaky.requests]
    signatures = {request["headers"]["X-WHOOP-Signature"] for request in flaky.requests}
    assert response.status_code == 200
    assert len(bodies) == 4 and len(set(bodies)) == 1 and len(signatures) == 1


def test_google_retries_until_204(sandbox):
    answers = iter([(200, b"{}"), (204, b"")])
    picky = Receiver(lambda request: next(answers, (204, b"")))
    try:
        response = sandbox.send_webhook("fitbit", picky.url, account="alice", attempts=3)
    finally:
        picky.close()

    assert response.status_code == 204 and len(picky.requests) == 2


def test_a_wrong_secret_signs_with_that_secret(sandbox, receiver):
    sandbox.send_webhook("oura", receiver.url, account="alice", secret="wrong")

    request = receiver.requests[0]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    good = (
        hmac.new(
            settings.OURA_CLIENT_SECRET.encode(),
            headers["x-oura-timestamp"].encode() + request["body"],
            hashlib.sha256,
        )
        .hexdigest()
        .upper()
    )
    assert headers["x-oura-signature"] != good


def test_oura_subscriptions_are_verified_unique_per_pair_renewable_and_deletable(sandbox):
    echo = Receiver(lambda r: (200, json.dumps({"challenge": query(r)["challenge"]}).encode()))
    url = sandbox.url("oura", "/v2/webhook/subscription")
    app = {"x-client-id": settings.OURA_CLIENT_ID, "x-client-secret": settings.OURA_CLIENT_SECRET}
    body = {
        "callback_url": echo.url,
        "verification_token": "vt",
        "event_type": "update",
        "data_type": "sleep",
    }
    try:
        created = requests.post(url, json=body, headers=app, timeout=10)
        duplicate = requests.post(url, json=body, headers=app, timeout=10)
        sandbox.advance_clock(86400)
        renewed = requests.put(f"{url}/renew/{created.json()['id']}", headers=app, timeout=10)
        deleted = requests.delete(f"{url}/{created.json()['id']}", headers=app, timeout=10)
        anonymous = requests.get(url, timeout=10)
    finally:
        echo.close()

    assert created.status_code == 201 and query(echo.requests[0])["verification_token"] == "vt"
    assert duplicate.status_code == 409
    assert renewed.json()["expiration_time"] > created.json()["expiration_time"]
    assert deleted.status_code == 204 and requests.get(url, headers=app, timeout=10).json() == []
    assert anonymous.status_code == 401
