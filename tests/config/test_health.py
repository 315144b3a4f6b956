"""Liveness, readiness against real unreachable endpoints, and the guarded detailed status."""

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import ConnectionHandler

from config.celery import app as celery_app

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def unreachable_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture
def unreachable_database(django_db_blocker, tmp_path):
    """The default alias swapped for a connection to a database that cannot be reached."""
    working = connections[DEFAULT_DB_ALIAS]
    broken_settings = {**working.settings_dict, "TEST": {}}
    if working.vendor == "sqlite":
        broken_settings["NAME"] = str(tmp_path / "missing-folder" / "db.sqlite3")
    else:
        broken_settings.update(HOST="127.0.0.1", PORT=1, OPTIONS={"connect_timeout": 1})
    broken = ConnectionHandler({DEFAULT_DB_ALIAS: broken_settings})[DEFAULT_DB_ALIAS]
    connections[DEFAULT_DB_ALIAS] = broken
    try:
        with django_db_blocker.unblock():
            yield
    finally:
        broken.close()
        connections[DEFAULT_DB_ALIAS] = working


@pytest.mark.django_db
def test_live_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_answers_200_when_database_cache_and_broker_are_reachable(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_ready_answers_503_when_the_cache_is_unreachable(client, unreachable_cache):
    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "error", "broker": "ok"}


@pytest.mark.django_db
def test_ready_answers_503_when_the_broker_is_unreachable(client, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "broker_url", UNREACHABLE_REDIS)

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "error"}


def test_ready_answers_503_when_the_database_is_unreachable(client, unreachable_database):
    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "error", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health", "/health/detailed"])
def test_status_pages_are_refused_to_anonymous_visitors_in_the_error_shape(client, path):
    response = client.get(path)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("path", ["/health", "/health/detailed"])
def test_status_pages_are_refused_to_users_who_are_not_staff(client, user, path):
    client.force_login(user)

    assert client.get(path).status_code == 403


@pytest.mark.django_db
def test_status_pages_refuse_a_wrong_token(client, settings):
    settings.HEALTH_CHECK_TOKEN = "right-token-0123456789"

    response = client.get("/health/detailed", HTTP_AUTHORIZATION="Bearer wrong-token")

    assert response.status_code == 403


@pytest.mark.django_db
def test_summary_reports_each_dependency_with_its_latency_for_a_token_holder(client, settings):
    settings.HEALTH_CHECK_TOKEN = "right-token-0123456789"

    response = client.get("/health", HTTP_AUTHORIZATION="Bearer right-token-0123456789")

    body = response.json()
    assert response.status_code == 200
    assert body["version"] == settings.APP_VERSION
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["status"] == "ok" and check["latency_ms"] >= 0 for check in body["checks"].values())


def test_detailed_status_shows_queues_version_and_migrations_to_staff(client, staff_user, settings):
    client.force_login(staff_user)

    response = client.get("/health/detailed")

    body = response.json()
    assert response.status_code == 200
    assert body["version"] == settings.APP_VERSION
    assert set(body["queues"]) == {"imports", "sync", "default"}
    assert all(isinstance(depth, int) for depth in body["queues"].values())
    assert body["unapplied_migrations"] == []
    assert body["database_vendor"] == connections[DEFAULT_DB_ALIAS].vendor
