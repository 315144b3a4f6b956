"""Redis (cache, rate limits, broker) stops and comes back: the site keeps answering, then recovers.

The test runs its own redis-server on a free loopback port and points the cache and the broker at
it, so stopping it disturbs nobody else. The cache keeps the backend and options the settings
choose (with REDIS_URL: config.cache.RedisCache); only its location changes.
"""

import os

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

from config.celery import app as celery_app
from integrations.models import Connection
from tests.faults.conftest import needs_redis_server

pytestmark = [
    needs_redis_server,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the settings choose Redis with REDIS_URL"),
]

PAGES = ["/", "/data/activity/", "/goals/", "/connections/", "/imports/", "/account/"]
API = ["/api/v1/me", "/api/v1/records", "/api/v1/summary", "/api/v1/connections", "/api/v1/imports/"]
SIGN_IN = "/accounts/login/"
HEADLESS_SIGN_IN = "/_allauth/browser/v1/auth/login"


@pytest.fixture
def app_on_own_redis(own_redis, settings):
    settings.CACHES = {"default": {**django_settings.CACHES["default"], "LOCATION": own_redis.url(1)}}
    broker_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = own_redis.url(2)
    forget_broker_connections()
    yield own_redis
    celery_app.conf.broker_url = broker_url
    forget_broker_connections()


def forget_broker_connections() -> None:
    """Tasks are sent through pooled connections made once: drop them, as Celery does after a fork."""
    celery_app._after_fork()


def statuses(client: Client, paths: list[str]) -> dict[str, int]:
    return {path: client.get(path).status_code for path in paths}


@pytest.mark.django_db(transaction=True)  # so that tasks are sent on commit, as in production
def test_pages_and_the_api_keep_answering_without_redis_and_everything_recovers(
    client, user, app_on_own_redis
):
    redis_server = app_on_own_redis
    client.force_login(user)  # sessions live in the database
    connection = Connection.objects.create(user=user, provider="oura", external_user_id="oura-1")
    sync_now = f"/api/v1/connections/{connection.pk}/sync"
    visitor = Client()
    assert client.get("/health/ready").status_code == 200

    redis_server.stop()

    assert statuses(client, PAGES) == dict.fromkeys(PAGES, 200)
    assert statuses(client, API) == dict.fromkeys(API, 200)
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "cache": "error", "broker": "error"}
    # Sign-in counts failures in Redis (brute-force limits): without it, it is refused, not a 500.
    sign_in = visitor.post(SIGN_IN, {"login": user.email, "password": "wrong"})
    assert sign_in.status_code == 503 and sign_in["Retry-After"]
    headless = visitor.post(
        HEADLESS_SIGN_IN, {"email": user.email, "password": "wrong"}, content_type="application/json"
    )
    assert headless.status_code == 503
    assert set(headless.json()["error"]) == {"code", "message", "details", "request_id"}
    queued = client.post(sync_now)  # a task needs the broker
    assert queued.status_code == 503 and queued.json()["error"]["code"] == "service_unavailable"

    redis_server.start()

    assert client.get("/health/ready").status_code == 200
    assert statuses(client, PAGES) == dict.fromkeys(PAGES, 200)
    assert statuses(client, API) == dict.fromkeys(API, 200)
    assert client.post(sync_now).status_code == 202
    assert visitor.post(SIGN_IN, {"login": user.email, "password": "wrong"}).status_code == 200
    assert any(redis_server.client(1).scan_iter(match="*rl:*"))  # the rate limits count again
    assert cache.get("health:probe") == "1"
