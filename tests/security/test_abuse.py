"""Brute force and abuse: every way to sign in is limited per account and per client address, in
parallel too; spoofed X-Forwarded-For headers change nothing; hostile JSON bodies get a 4xx in the error
shape; an Idempotency-Key replays its first answer and refuses a different request."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from healthdata.models import Record
from imports.models import ImportJob
from tests.factories import PASSWORD, ConnectionFactory, UserFactory
from users import api_keys

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"
HEADLESS_LOGIN = "/_allauth/app/v1/auth/login"
PER_ACCOUNT = 5  # settings.ACCOUNT_RATE_LIMITS["login_failed"]: "10/m/ip,5/5m/key"
PER_IP = 10


def html_login(client: Client, email: str, password: str, **headers) -> bool:
    """Sign in on the allauth page; True when it signed in."""
    client.post("/accounts/login/", {"login": email, "password": password}, **headers)
    return "_auth_user_id" in client.session


def headless_login(client: APIClient, email: str, password: str, **headers):
    return client.post(HEADLESS_LOGIN, {"email": email, "password": password}, format="json", **headers)


def admin_login(client: Client, email: str, password: str, **headers) -> bool:
    client.post("/admin/login/", {"username": email, "password": password}, **headers)
    return "_auth_user_id" in client.session


def api_key_call(client: APIClient, key: str, **headers):
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Api-Key {key}", **headers)


def wrong_key(n: int = 0) -> str:
    return f"hfa_{n:012x}_not-a-real-secret"


# One account, one address --------------------------------------------------------------------------


def test_the_sign_in_page_refuses_even_the_right_password_after_five_failures():
    user = UserFactory()
    client = Client()

    failures = [html_login(client, user.email, WRONG) for _ in range(PER_ACCOUNT)]

    assert failures == [False] * PER_ACCOUNT
    assert not html_login(Client(), user.email, PASSWORD, REMOTE_ADDR="198.51.100.9")
    assert html_login(Client(), UserFactory().email, PASSWORD)  # other accounts are untouched


def test_the_app_login_refuses_even_the_right_password_after_five_failures():
    user = UserFactory()

    for _ in range(PER_ACCOUNT):
        assert headless_login(APIClient(), user.email, WRONG).status_code == 400
    locked = headless_login(APIClient(), user.email, PASSWORD, REMOTE_ADDR="198.51.100.9")

    assert locked.status_code in (400, 429)
    assert "session_token" not in locked.json().get("meta", {})


def test_the_admin_login_refuses_even_the_right_password_after_five_failures(staff_user):
    for _ in range(PER_ACCOUNT):
        assert not admin_login(Client(), staff_user.email, WRONG)

    assert not admin_login(Client(), staff_user.email, PASSWORD, REMOTE_ADDR="198.51.100.9")


def test_the_admin_login_does_not_skip_two_factor_sign_in(staff_user):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(staff_user, generate_totp_secret())
    client = Client()

    page = client.post("/admin/login/", {"username": staff_user.email, "password": PASSWORD})

    assert "_auth_user_id" not in client.session
    assert "/accounts/login/" in page.content.decode()


def test_failures_on_one_door_count_on_every_other(staff_user):
    for n in range(PER_ACCOUNT):
        door = (admin_login, html_login)[n % 2]
        door(Client(), staff_user.email, WRONG)

    assert headless_login(APIClient(), staff_user.email, PASSWORD).status_code != 200
    assert not admin_login(Client(), staff_user.email, PASSWORD)


def test_a_successful_sign_in_does_not_use_up_the_accounts_tries(staff_user):
    for _ in range(PER_ACCOUNT + 2):
        assert admin_login(Client(), staff_user.email, PASSWORD)


def test_one_address_guessing_many_accounts_is_stopped_after_ten_failures():
    for _ in range(PER_IP):
        html_login(Client(), UserFactory().email, WRONG)

    assert not html_login(Client(), UserFactory().email, PASSWORD)
    assert html_login(Client(), UserFactory().email, PASSWORD, REMOTE_ADDR="198.51.100.9")


def test_wrong_api_keys_from_one_address_end_in_429_with_retry_after(user, settings):
    settings.API_KEY_FAILURES_PER_IP = 3
    good = api_keys.create_api_key(user=user, name="script", scope="read").secret
    client = APIClient()

    statuses = [api_key_call(client, wrong_key(n)).status_code for n in range(3)]
    refused = api_key_call(client, good)

    assert statuses == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= settings.API_KEY_FAILURE_WINDOW_SECONDS
    assert api_key_call(APIClient(), good, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_right_api_keys_do_not_use_up_the_addresses_tries(user, settings):
    settings.API_KEY_FAILURES_PER_IP = 3
    good = api_keys.create_api_key(user=user, name="script", scope="read").secret

    statuses = {api_key_call(APIClient(), good).status_code for _ in range(10)}

    assert statuses == {200}


# Spoofed X-Forwarded-For ----------------------------------------------------------------------------


@pytest.mark.parametrize("proxies", [0, 1])
def test_a_new_forwarded_address_per_try_does_not_reset_the_sign_in_limits(settings, proxies):
    settings.TRUSTED_PROXY_COUNT = proxies
    user = UserFactory()
    proxy_saw = ", 203.0.113.5" if proxies else ""

    for n in range(PER_IP):
        spoofed = {"HTTP_X_FORWARDED_FOR": f"198.51.100.{n}{proxy_saw}"}
        html_login(Client(), UserFactory().email, WRONG, **spoofed)

    assert not html_login(Client(), user.email, PASSWORD, HTTP_X_FORWARDED_FOR=f"192.0.2.1{proxy_saw}")
    assert headless_login(APIClient(), user.email, PASSWORD, HTTP_X_FORWARDED_FOR=f"192.0.2.2{proxy_saw}")
    assert not admin_login(Client(), user.email, PASSWORD, HTTP_X_FORWARDED_FOR=f"192.0.2.3{proxy_saw}")


@pytest.mark.parametrize("proxies", [0, 1])
def test_a_new_forwarded_address_per_try_does_not_reset_the_api_key_limit(user, settings, proxies):
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.API_KEY_FAILURES_PER_IP = 3
    proxy_saw = ", 203.0.113.5" if proxies else ""

    statuses = [
        api_key_call(APIClient(), wrong_key(n), HTTP_X_FORWARDED_FOR=f"198.51.100.{n}{proxy_saw}").status_code
        for n in range(6)
    ]

    assert statuses == [401, 401, 401, 429, 429, 429]


# Parallel attempts on a live server ------------------------------------------------------------------


def _parallel(count: int, attempt) -> list:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


@pytest.mark.django_db(transaction=True)
def test_parallel_password_guesses_cannot_overrun_the_account_limit(live_server):
    user = UserFactory()

    def guess(_):
        answer = requests.post(
            live_server.url + HEADLESS_LOGIN, json={"email": user.email, "password": WRONG}, timeout=30
        )
        return answer.status_code, [error.get("code") for error in answer.json().get("errors", [])]

    codes = _parallel(20, guess)

    # Only a guess whose password was compared is told it is wrong; the rest are refused unchecked.
    checked = [errors for _, errors in codes if "email_password_mismatch" in errors]
    refused = [status for status, errors in codes if "email_password_mismatch" not in errors]
    assert len(checked) <= PER_ACCOUNT, codes
    assert set(refused) <= {400, 429} and len(refused) >= 20 - PER_ACCOUNT, codes


@pytest.mark.django_db(transaction=True)
def test_parallel_api_key_guesses_cannot_overrun_the_address_limit(live_server, settings):
    settings.API_KEY_FAILURES_PER_IP = 5

    def guess(n):
        headers = {"Authorization": f"Api-Key {wrong_key(n)}"}
        return requests.get(f"{live_server.url}/api/v1/me", headers=headers, timeout=30).status_code

    statuses = _parallel(24, guess)

    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) >= 19, statuses


# Hostile JSON bodies --------------------------------------------------------------------------------

NESTED = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = '{"records": [{"metric": "steps", "value": ' + "9" * 5000 + "}]}"
JSON_TARGETS = ["/api/v1/records/manual", "/api/v1/goals", "/api/v1/me", "/api/v1/api-keys"]


@pytest.mark.parametrize("body", [NESTED, HUGE_NUMBER], ids=["nested", "huge-number"])
@pytest.mark.parametrize("path", JSON_TARGETS)
def test_deeply_nested_json_or_a_huge_number_is_a_400_in_the_error_shape(user_api_client, path, body):
    method = user_api_client.patch if path == "/api/v1/me" else user_api_client.post

    response = method(path, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("parse_error", "bad_request", "invalid")


@pytest.mark.parametrize("path", JSON_TARGETS)
def test_a_body_over_the_size_limit_is_a_413_in_the_error_shape(user_api_client, settings, path):
    method = user_api_client.patch if path == "/api/v1/me" else user_api_client.post
    body = json.dumps({"records": [{"metric": "x" * 1000}] * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1000)})

    response = method(path, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("body", [NESTED, json.dumps({"email": "a" * 6_000_000})])
def test_hostile_bodies_on_the_app_login_are_a_4xx_not_a_500(body):
    response = APIClient().post(HEADLESS_LOGIN, body, content_type="application/json")

    assert 400 <= response.status_code < 500


# Idempotency-Key ----------------------------------------------------------------------------------

WEIGHT = {"metric": "weight", "value": 72.4, "unit": "kg", "start": "2025-01-14T07:30:00+01:00"}


def test_a_manual_entry_replay_returns_the_stored_answer_and_another_body_is_refused(user, user_api_client):
    first = user_api_client.post("/api/v1/records/manual", WEIGHT, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = user_api_client.post("/api/v1/records/manual", WEIGHT, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    other = user_api_client.post(
        "/api/v1/records/manual", {**WEIGHT, "value": 80}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Record.objects.for_user(user).get().value == pytest.approx(72.4)


def test_a_sync_now_replay_queues_nothing_and_the_key_on_another_connection_is_refused(
    user, user_api_client, django_capture_on_commit_callbacks
):
    first, second = ConnectionFactory(user=user), ConnectionFactory(user=user, provider="whoop")

    with django_capture_on_commit_callbacks() as queued:
        answer = user_api_client.post(f"/api/v1/connections/{first.pk}/sync", HTTP_IDEMPOTENCY_KEY="s1")
        replay = user_api_client.post(f"/api/v1/connections/{first.pk}/sync", HTTP_IDEMPOTENCY_KEY="s1")
        other = user_api_client.post(f"/api/v1/connections/{second.pk}/sync", HTTP_IDEMPOTENCY_KEY="s1")

    assert (answer.status_code, replay.status_code) == (202, 202)
    assert replay.json() == answer.json()
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(queued) == 1


def test_an_import_replay_returns_the_same_job_and_another_file_is_refused(user, user_api_client):
    export = (FIXTURES / "apple_export_small.xml").read_bytes()

    def upload(content: bytes):
        attached = SimpleUploadedFile("export.xml", content, content_type="application/xml")
        return user_api_client.post(
            "/api/v1/imports/", {"file": attached}, format="multipart", HTTP_IDEMPOTENCY_KEY="i1"
        )

    first, replay = upload(export), upload(export)
    other = upload(export.replace(b"</HealthData>", b"<!-- another export --></HealthData>"))

    assert first.status_code == 201
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert ImportJob.objects.for_user(user).count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="parallel writers through a live server: the shared in-memory SQLite test database locks them up",
)
@pytest.mark.django_db(transaction=True)
def test_parallel_replays_of_one_key_store_one_entry_and_all_get_its_answer(live_server):
    user = UserFactory()
    secret = api_keys.create_api_key(user=user, name="script", scope="read_write").secret
    headers = {"Authorization": f"Api-Key {secret}", "Idempotency-Key": "parallel-1"}

    def enter(_):
        answer = requests.post(
            f"{live_server.url}/api/v1/records/manual", json=WEIGHT, headers=headers, timeout=30
        )
        return answer.status_code, answer.json()

    answers = _parallel(8, enter)

    assert {status for status, _ in answers} == {201}
    assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1
    assert Record.objects.for_user(user).count() == 1
