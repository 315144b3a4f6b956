"""Cached API reads: a per-user data version in every key, so any ingest makes old entries unreachable.

Redis unreachable: reads are computed from the database, and writes go on without bumping the
version (an entry cached before the outage may then be served until it expires, TIMEOUT_SECONDS).
"""

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

CACHE_HITS = Counter(
    "hfa_data_cache_hits_total", "Aggregate and summary reads served from the cache.", ["view"]
)
CACHE_MISSES = Counter(
    "hfa_data_cache_misses_total", "Aggregate and summary reads computed afresh.", ["view"]
)
TIMEOUT_SECONDS = 3600
CACHE_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


def _version_key(user_id: int) -> str:
    return f"healthdata:version:{user_id}"


def data_version(user_id: int) -> int:
    """The user's current data version: it changes on every ingest that writes something."""
    return cache.get_or_set(_version_key(user_id), time.time_ns, timeout=None)


def bump_version(user_id: int) -> None:
    try:
        cache.set(_version_key(user_id), time.time_ns(), timeout=None)
    except CACHE_UNAVAILABLE:  # the data is committed; a failed bump must not fail the write
        logger.warning("data version not bumped: Redis is unreachable", extra={"user_id": user_id})


def cached(view: str, user_id: int, parameters: str, compute: Callable[[], Any]) -> Any:
    """`compute()`'s result for these parameters at the user's current data version."""
    try:
        key = f"healthdata:{view}:{user_id}:{data_version(user_id)}:{parameters}"
        found = cache.get(key)
    except CACHE_UNAVAILABLE:
        return compute()
    if found is not None:
        CACHE_HITS.labels(view=view).inc()
        return found
    CACHE_MISSES.labels(view=view).inc()
    value = compute()
    with contextlib.suppress(CACHE_UNAVAILABLE):  # Redis went away since the read: serve it uncached
        cache.set(key, value, TIMEOUT_SECONDS)
    return value
