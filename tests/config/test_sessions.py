"""Sessions read from Redis and kept in the database (config.sessions), with Redis up and away."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError

from config.sessions import CACHED_SECONDS, SessionStore
from tests.faults.conftest import free_port

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the settings choose Redis with REDIS_URL"
)


@pytest.fixture
def redis_away(settings):
    """Point the cache at a loopback port nobody listens on; call it again to bring Redis back."""
    working = settings.CACHES

    def away(is_away: bool = True) -> None:
        location = f"redis://127.0.0.1:{free_port()}/0" if is_away else working["default"]["LOCATION"]
        settings.CACHES = {"default": {**working["default"], "LOCATION": location}}

    return away


def saved_session(**data) -> SessionStore:
    session = SessionStore()
    session.update(data)
    session.save()
    return session


def test_the_engine_is_this_one_with_redis():
    assert django_settings.SESSION_ENGINE == "config.sessions"


def test_a_saved_session_is_read_from_the_cache_without_a_query(db, django_assert_num_queries):
    session = saved_session(colour="blue")

    with django_assert_num_queries(0):
        assert SessionStore(session.session_key)["colour"] == "blue"


def test_a_session_cached_by_a_read_is_read_without_a_query_after_it(db, django_assert_num_queries):
    session = saved_session(colour="blue")
    cache.delete(session.cache_key)

    with django_assert_num_queries(1):
        assert SessionStore(session.session_key)["colour"] == "blue"
    with django_assert_num_queries(0):
        assert SessionStore(session.session_key)["colour"] == "blue"


def test_a_cached_copy_lives_at_most_five_minutes(db):
    session = saved_session(colour="blue")

    ttl = cache._cache.get_client().ttl(cache.make_key(session.cache_key))
    assert 0 < ttl <= CACHED_SECONDS == 300


def test_a_deleted_session_is_served_from_nowhere(db):
    session = saved_session(colour="blue")
    SessionStore(session.session_key).load()  # cached

    session.delete()

    assert cache.get(session.cache_key) is None
    assert SessionStore(session.session_key).load() == {}
    assert not SessionStore(session.session_key).exists(session.session_key)


def test_without_redis_sessions_are_read_written_and_made_in_the_database(db, redis_away):
    session = saved_session(colour="blue")
    redis_away()

    found = SessionStore(session.session_key)
    assert found["colour"] == "blue"
    found["colour"] = "green"
    found.save()
    made = saved_session(colour="red")

    assert SessionStore(session.session_key)["colour"] == "green"
    assert SessionStore(made.session_key)["colour"] == "red"
    assert SessionStore().exists(made.session_key)


def test_deleting_a_session_without_redis_fails_and_leaves_it_whole(db, redis_away):
    session = saved_session(colour="blue")
    redis_away()

    with pytest.raises(RedisConnectionError):
        SessionStore(session.session_key).delete()

    assert SessionStore(session.session_key)["colour"] == "blue"  # from the database
    redis_away(False)
    assert SessionStore(session.session_key)["colour"] == "blue"  # from the cache
    SessionStore(session.session_key).delete()
    assert SessionStore(session.session_key).load() == {}


def test_signing_out_without_redis_answers_503_and_the_session_works_once_redis_is_back(
    client, user, redis_away
):
    client.force_login(user)
    redis_away()

    signed_out = client.post("/accounts/logout/")

    assert signed_out.status_code == 503 and signed_out["Retry-After"]
    assert client.get("/api/v1/me").status_code == 200
    redis_away(False)
    assert client.get("/api/v1/me").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_without_redis_in_the_settings_sessions_are_read_from_the_database_alone(tmp_path: Path):
    """The local-memory cache is not shared between processes: a deletion would not reach them all."""
    inspect = (
        "import django; django.setup(); from django.conf import settings; print(settings.SESSION_ENGINE)"
    )
    result = subprocess.run(
        [sys.executable, "-c", inspect],
        cwd=Path(__file__).resolve().parents[2],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.strip() == "django.contrib.sessions.backends.db"
