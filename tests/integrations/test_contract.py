"""Every provider against its sandbox over loopback HTTP: connect, backfill, faults, webhooks.

The sandbox runs on pytest-django's live server; allauth's real views run the connect flow
(`manage.py connect_sandbox`), and syncs go through integrations.http like in production.
"""

import html
import re
import threading
import time
from datetime import timedelta
from io import StringIO
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.core import mail
from django.core.management import call_command

from healthdata.models import Record, Session
from integrations import sync
from integrations.http import CircuitBreaker, CircuitOpen, TransientError
from integrations.models import Connection, SyncRun
from integrations.sandbox.state import account_zone
from tests.integrations.fewest_requests import fewest_requests

PROVIDERS = ["withings", "oura", "fitbit", "whoop", "strava"]
SIGNED = ["oura", "fitbit", "whoop"]


@pytest.fixture
def queued(monkeypatch):
    """Syncs queued by the connect flow and webhooks (live-server tests commit, so on_commit runs)."""
    from integrations.tasks import sync_connection_task

    calls = []
    monkeypatch.setattr(
        sync_connection_task, "delay_on_commit", lambda *args, **kwargs: calls.append((args, kwargs))
    )
    return calls


@pytest.fixture
def connect(sandbox, user, queued):
    def connect_provider(provider: str) -> Connection:
        call_command("connect_sandbox", user=user.email, provider=provider, account="demo", stdout=StringIO())
        return Connection.objects.get(user=user, provider=provider)

    return connect_provider


@pytest.fixture
def short_backfill(settings):
    settings.SYNC_BACKFILL_DAYS = 7


def _stored(connection: Connection) -> int:
    user, source = connection.user, connection.provider
    return (
        Record.objects.for_user(user).filter(source=source).count()
        + Session.objects.for_user(user).filter(source=source).count()
    )


# Per provider, metrics written once per item of a data type: (metric, "<sandbox endpoint> <path part>").
ONE_RECORD_PER_ITEM = {
    "withings": [
        ("steps", "getactivity"),
        ("workout_duration", "getworkouts"),
        ("resting_heart_rate", "getsummary"),
    ],
    "oura": [
        ("steps", "daily_activity"),
        ("sleep_score", "daily_sleep"),
        ("readiness_score", "daily_readiness"),
        ("spo2", "daily_spo2"),
        ("time_in_bed", "sleep"),
        ("heart_rate", "heartrate"),
        ("workout_duration", "workout"),
    ],
    "fitbit": [
        ("steps", "dailyRollUp /steps/"),
        ("distance", "dailyRollUp /distance/"),
        ("floors_climbed", "dailyRollUp /floors/"),
        ("active_minutes", "dailyRollUp /active-zone-minutes/"),
        ("heart_rate", "rollUp /heart-rate/"),
        ("resting_heart_rate", "list /daily-resting-heart-rate/"),
        ("hrv_rmssd", "list /daily-heart-rate-variability/"),
        ("spo2", "list /daily-oxygen-saturation/"),
        ("respiratory_rate", "list /daily-respiratory-rate/"),
        ("skin_temperature_deviation", "list /daily-sleep-temperature-derivations/"),
        ("time_in_bed", "list /sleep/"),
        ("workout_duration", "list /exercise/"),
        ("weight", "list /weight/"),
        ("body_fat", "list /body-fat/"),
    ],
    "whoop": [
        ("strain", "cycle"),
        ("recovery_score", "recovery"),
        ("time_in_bed", "activity/sleep"),
        ("workout_duration", "activity/workout"),
    ],
    "strava": [("workout_duration", "athlete_activities")],
}


def _items_served(sandbox, provider: str, source: str) -> int:
    endpoint, _, path_part = source.partition(" ")
    return sum(
        count
        for key, count in sandbox.served(provider).items()
        if key.split(" ")[0] == endpoint and path_part in key
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connect_then_backfill_ninety_days_with_exact_counts_and_the_fewest_requests(
    connect, sandbox, queued, provider
):
    connection = connect(provider)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.external_user_id
    assert connection.access_token and connection.access_token not in connection.access_token_encrypted
    assert queued[0][0] == (connection.pk,)
    before = sandbox.counters(provider)

    run = sync.run(connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert {data_type: window[0][:10] for data_type, window in run.windows.items()} == dict.fromkeys(
        run.windows, (run.started_at - timedelta(days=90)).date().isoformat()
    )
    expected = {
        metric: _items_served(sandbox, provider, source) for metric, source in ONE_RECORD_PER_ITEM[provider]
    }
    assert all(expected.values()), expected
    assert {metric: run.counts.get(metric, 0) for metric in expected} == expected
    served = {
        endpoint: count - before.get(endpoint, 0)
        for endpoint, count in sandbox.counters(provider).items()
        if count - before.get(endpoint, 0)
    }
    floor = fewest_requests(provider, sandbox.served(provider), run.windows, account_zone(provider, "demo"))
    assert {endpoint: served.get(endpoint, 0) for endpoint in floor} == floor
    assert run.requests_made == served["total"] == sum(floor.values())
    stored = _stored(connection)
    again = sync.run(connection.pk)
    assert again.status == SyncRun.Status.SUCCEEDED
    assert again.created_count == 0
    assert _stored(connection) == stored


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limited_request_is_retried_after_its_retry_after(
    connect, sandbox, short_backfill, monkeypatch, provider
):
    from integrations.providers.withings import client as withings_client

    # Withings' 601 carries no Retry-After; its client waits a whole minute window, here one second.
    monkeypatch.setattr(withings_client, "RATE_LIMIT_RETRY_SECONDS", 1.0)
    connection = connect(provider)
    sandbox.fault(provider, "rate_limit", times=1, retry_after=1)

    run = sync.run(connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.counts


@pytest.mark.parametrize("provider", PROVIDERS)
def test_server_errors_are_retried_without_duplicating_a_page(connect, sandbox, short_backfill, provider):
    clean = connect(provider)
    sync.run(clean.pk)
    stored = _stored(clean)
    Connection.objects.filter(pk=clean.pk).update(cursors={})
    sandbox.fault(provider, "server_error", times=2)

    run = sync.run(clean.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.created_count == 0
    assert _stored(clean) == stored


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_circuit_opens_on_an_outage_and_closes_when_the_provider_recovers(
    connect, sandbox, settings, short_backfill, provider
):
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 2
    connection = connect(provider)
    sandbox.fault(provider, "server_error", times=None)

    with pytest.raises(TransientError):
        sync.run(connection.pk)
    with pytest.raises(CircuitOpen):
        sync.run(connection.pk)
    assert CircuitBreaker(provider).state() == "open"

    sandbox.clear_faults(provider)
    time.sleep(settings.PROVIDER_CIRCUIT_COOLDOWN_SECONDS + 0.05)
    run = sync.run(connection.pk)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert CircuitBreaker(provider).state() == "closed"
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_expired_access_token_is_refreshed_once(connect, sandbox, short_backfill, provider):
    connection = connect(provider)
    sandbox.fault(provider, "expire_access_tokens")
    before = sandbox.count(provider, "token")

    run = sync.run(connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert sandbox.count(provider, "token") - before == 1
    assert Connection.objects.get(pk=connection.pk).access_token != connection.access_token


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_grant_turns_the_connection_to_needs_reauth_and_tells_the_user(
    connect, sandbox, short_backfill, provider
):
    connection = connect(provider)
    sandbox.fault(provider, "expire_access_tokens")
    sandbox.fault(provider, "invalid_grant", times=None)

    run = sync.run(connection.pk)

    connection.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert [message.to for message in mail.outbox] == [[connection.user.email]]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_notification_queues_one_targeted_sync(connect, sandbox, live_server, queued, settings, provider):
    settings.FITBIT_WEBHOOK_KEYSET_URL = sandbox.url(
        "fitbit", "/googlehealthapi/webhooks/webhooks_public_keyset.json"
    )
    connection = connect(provider)
    queued.clear()

    response = sandbox.send_webhook(provider, f"{live_server.url}/webhooks/{provider}/", account="demo")

    assert 200 <= response.status_code < 300
    assert len(queued) == 1
    args, kwargs = queued[0]
    assert args == (connection.pk,)
    assert kwargs["trigger"] == "webhook"


@pytest.mark.parametrize("provider", SIGNED)
def test_a_notification_with_a_bad_signature_is_refused(connect, sandbox, live_server, queued, provider):
    connect(provider)
    queued.clear()

    response = sandbox.send_webhook(
        provider, f"{live_server.url}/webhooks/{provider}/", account="demo", secret="not-the-secret"
    )

    assert response.status_code in (401, 403)
    assert queued == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_answer_times_out_and_is_retried(connect, sandbox, settings, short_backfill, provider):
    settings.PROVIDER_HTTP_READ_TIMEOUT = 0.3
    connection = connect(provider)
    sandbox.fault(provider, "slow", times=1, delay_seconds=1.0)
    before = sandbox.count(provider, "total")

    run = sync.run(connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.requests_made == sandbox.count(provider, "total") - before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rotated_refresh_token_is_stored_and_used_for_the_next_refresh(
    connect, sandbox, short_backfill, provider
):
    connection = connect(provider)
    first_refresh_token = connection.refresh_token
    sandbox.fault(provider, "rotate_refresh")
    sandbox.fault(provider, "expire_access_tokens")

    rotated = sync.run(connection.pk)
    connection.refresh_from_db()
    sandbox.fault(provider, "expire_access_tokens")
    next_run = sync.run(connection.pk)

    assert rotated.status == next_run.status == SyncRun.Status.SUCCEEDED, (rotated.errors, next_run.errors)
    assert connection.refresh_token != first_refresh_token
    assert sandbox.count(provider, "token") == 3  # the code exchange, then one refresh per run
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_two_concurrent_syncs_of_one_connection_run_once(connect, sandbox, short_backfill, provider):
    from django.db import connections

    connection = connect(provider)
    # The first data request answers slowly, so the first run still holds the lease when the second starts.
    sandbox.fault(provider, "slow", times=1, delay_seconds=1.0)
    results = []

    def worker() -> None:
        try:
            results.append(sync.run(connection.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(result is None for result in results) == [False, True]
    assert SyncRun.objects.filter(connection=connection).count() == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_repeated_notification_queues_its_sync_once(
    connect, sandbox, live_server, queued, settings, provider
):
    settings.FITBIT_WEBHOOK_KEYSET_URL = sandbox.url(
        "fitbit", "/googlehealthapi/webhooks/webhooks_public_keyset.json"
    )
    connect(provider)
    queued.clear()

    response = sandbox.send_webhook(
        provider, f"{live_server.url}/webhooks/{provider}/", account="demo", repeat=1
    )

    assert 200 <= response.status_code < 300
    assert len(queued) == 1


def _is_a_friendly_page(answer) -> bool:
    """A page in the site's layout (allauth answers an authentication error with 401), never a 5xx."""
    shown = b"</html>" in answer.content and b"Traceback" not in answer.content
    return answer.status_code in (200, 401) and shown


def _start_connect(client, provider: str) -> str:
    """allauth's connect view (POST, as the connect page's button); returns the authorize URL."""
    started = client.post(f"/accounts/{provider}/login/", {"process": "connect", "next": "/connections/"})
    assert started.status_code == 302
    return started["Location"]


def _callback_path(authorize_url: str, choice: str) -> tuple[str, dict]:
    answer = requests.get(
        authorize_url,
        params={"sandbox_auto": choice, "sandbox_account": "demo"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    callback = urlsplit(answer.headers["Location"])
    return callback.path, dict(parse_qsl(callback.query))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_denied_consent_lands_on_a_friendly_page(sandbox, client, user, provider):
    client.force_login(user)

    path, params = _callback_path(_start_connect(client, provider), "deny")
    answer = client.get(path, params, follow=True)

    assert params["error"] == "access_denied"
    assert _is_a_friendly_page(answer)
    assert b"Connection cancelled" in answer.content
    assert not Connection.objects.filter(user=user, provider=provider).exists()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_callback_with_a_wrong_state_lands_on_a_friendly_page_and_connects_nothing(
    sandbox, client, user, provider
):
    client.force_login(user)

    path, params = _callback_path(_start_connect(client, provider), "approve")
    answer = client.get(path, {**params, "state": "not-the-state-we-sent"}, follow=True)

    assert _is_a_friendly_page(answer)
    assert b"Could not connect" in answer.content
    assert not Connection.objects.filter(user=user, provider=provider).exists()
    assert sandbox.count(provider, "token") == 0  # the code is never exchanged


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_error_on_the_callback_lands_on_a_friendly_page(sandbox, client, user, provider):
    client.force_login(user)

    path, params = _callback_path(_start_connect(client, provider), "approve")
    answer = client.get(path, {"state": params["state"], "error": "server_error"}, follow=True)

    assert _is_a_friendly_page(answer)
    assert not Connection.objects.filter(user=user, provider=provider).exists()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connecting_from_an_app_returns_to_its_allow_listed_url(sandbox, client, user, queued, provider):
    client.force_login(user)
    page = client.get(f"/connections/connect/{provider}/", {"next": "hfa://connected?from=app"})
    form = re.search(r'<form method="post" action="(/accounts/[^"]+/login/[^"]*)"', page.content.decode())
    started = client.post(html.unescape(form.group(1)))
    path, params = _callback_path(started["Location"], "approve")

    finished = client.get(path, params, follow=True)

    assert finished.redirect_chain[-1][0] == f"hfa://connected?from=app&provider={provider}&status=active"
