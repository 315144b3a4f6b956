"""Cached API reads: a per-user data version in every key, so any ingest makes old entries unreachable."""

import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from prometheus_client import Counter

CACHE_HITS = Counter(
    "hfa_data_cache_hits_total", "Aggregate and summary reads served from the cache.", ["view"]
)
CACHE_MISSES = Counter(
    "hfa_data_cache_misses_total", "Aggregate and summary reads computed afresh.", ["view"]
)
TIMEOUT_SECONDS = 3600


def _version_key(user_id: int) -> str:
    return f"healthdata:version:{user_id}"


def data_version(user_id: int) -> int:
    """The user's current data version: it changes on every ingest that writes something."""
    return cache.get_or_set(_version_key(user_id), time.time_ns, timeout=None)


def bump_version(user_id: int) -> None:
    cache.set(_version_key(user_id), time.time_ns(), timeout=None)


def cached(view: str, user_id: int, parameters: str, compute: Callable[[], Any]) -> Any:
    """`compute()`'s result for these parameters at the user's current data version."""
    key = f"healthdata:{view}:{user_id}:{data_version(user_id)}:{parameters}"
    found = cache.get(key)
    if found is not None:
        CACHE_HITS.labels(view=view).inc()
        return found
    CACHE_MISSES.labels(view=view).inc()
    value = compute()
    cache.set(key, value, TIMEOUT_SECONDS)
    return value
