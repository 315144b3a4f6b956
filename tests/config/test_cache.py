"""The Redis cache backend: one redis-py client per connection pool, counters in one round trip, and
the API rate limits counted on django-ratelimit's own counters with either cache."""

import os

import pytest
from django.core.cache import cache, caches
from django.test import RequestFactory
from django_ratelimit.core import get_usage
from rest_framework.test import APIClient

from config.cache import RedisCache

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis cache needs REDIS_URL")


@needs_redis
def test_redis_url_selects_the_pooled_backend():
    assert isinstance(caches["default"], RedisCache)


@needs_redis
def test_every_operation_uses_the_same_client():
    client = cache._cache.get_client()

    cache.set("pooled", 1, 30)

    assert cache._cache.get_client("pooled", write=True) is client
    assert cache.get("pooled") == 1


@needs_redis
def test_counting_adds_one_to_each_counter_and_gives_new_ones_their_expiry():
    cache.set("second", 41, None)

    counts = cache.count({"first": (10, 30), "second": (100, 30)})

    assert counts == [1, 42]
    assert 0 < cache._cache.get_client().ttl(cache.make_key("first")) <= 30
    assert cache._cache.get_client().ttl(cache.make_key("second")) == -1  # an existing one keeps its own
    assert cache.get("first") == 1  # Django's cache reads the counters back


@needs_redis
def test_counting_stops_at_the_first_counter_past_its_limit():
    cache.set("full", 2, 30)

    counts = cache.count({"full": (2, 30), "after": (10, 30)})

    assert counts == [3]
    assert cache.get("after") is None


def api_usage(user, key: str, rate: str) -> int:
    request = RequestFactory().get("/api/v1/me", REMOTE_ADDR="127.0.0.1")
    request.user = user
    return get_usage(request, group=f"api:{key}", key=key, rate=rate, increment=False)["count"]


def test_the_api_limits_count_on_django_ratelimits_own_counters(user, settings):
    client = APIClient()
    client.force_authenticate(user)

    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200

    assert api_usage(user, "ip", settings.API_RATE_LIMIT_IP) == 3
    assert api_usage(user, "user", settings.API_RATE_LIMIT_USER) == 3


def test_a_request_refused_per_ip_does_not_count_against_the_users_limit(user, settings):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_USER = "1/m", "5/m"
    client = APIClient()
    client.force_authenticate(user)

    statuses = [client.get("/api/v1/me").status_code for _ in range(3)]

    assert statuses == [200, 429, 429]
    assert api_usage(user, "ip", "1/m") == 3
    assert api_usage(user, "user", "5/m") == 1
