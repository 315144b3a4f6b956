"""Who a client is for rate limiting, and the default API limit per user and per IP."""

import ipaddress
import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import (
    _SIMPLE_KEYS,
    EXPIRATION_FUDGE,
    _get_window,
    _make_cache_key,
    _split_rate,
    get_usage,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle

from config.cache import RedisCache

logger = logging.getLogger(__name__)


def client_ip_from_request(request: HttpRequest) -> str:
    """The client's address: `X-Forwarded-For` is read only behind `TRUSTED_PROXY_COUNT` proxies.

    Each trusted proxy appends the address it saw, so the client is the entry that many places from
    the right. Anything further left was written by the client and is ignored.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 # nosec B104 # a key, not a bind
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class ApiRateThrottle(BaseThrottle):
    """django-ratelimit counters (Redis in production) behind DRF's throttle interface."""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request, view) -> bool:
        if not getattr(settings, "RATELIMIT_ENABLE", True):
            return True
        limits = {"ip": settings.API_RATE_LIMIT_IP}
        if request.user and request.user.is_authenticated:
            limits["user"] = settings.API_RATE_LIMIT_USER
        try:
            usages = count_uses(request._request, limits)
        except (RedisConnectionError, RedisTimeoutError):
            # A fairness budget, not a lock: reads keep answering while Redis is away.
            # Sign-in limits (allauth) fail closed instead: see config.middleware.
            logger.warning("API rate limit not counted: Redis is unreachable")
            return True
        for usage in usages:
            if usage["should_limit"]:
                self.wait_seconds = usage["time_left"]
                return False
        return True

    def wait(self) -> float | None:
        return self.wait_seconds


def count_uses(request: HttpRequest, limits: dict[str, str]) -> list[dict]:
    """Count one use against each `{key: rate}` limit of group `api:<key>` in turn, stopping at the
    first one past its limit, as django-ratelimit's `get_usage(increment=True)` would.

    The counters are get_usage's own; on Redis one Lua script counts them all in one round trip,
    where get_usage takes three per limit (`SET NX`, then `EXISTS` and `INCRBY` for Django's `incr`).
    """
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if not isinstance(cache, RedisCache):
        usages = []
        for key, rate in limits.items():
            usages.append(get_usage(request, group=f"api:{key}", key=key, rate=rate, increment=True))
            if usages[-1]["should_limit"]:
                break
        return usages
    usages, counters = [], {}
    for key, rate in limits.items():
        limit, period = _split_rate(rate)
        value = _SIMPLE_KEYS[key](request)
        window = _get_window(value, period)
        counters[_make_cache_key(f"api:{key}", window, rate, value, ALL)] = (limit, period + EXPIRATION_FUDGE)
        usages.append({"limit": limit, "time_left": window - int(time.time())})
    counts = cache.count(counters)
    return [
        {**usage, "count": count, "should_limit": count > usage["limit"]}
        for usage, count in zip(usages, counts, strict=False)  # the counts stop at the first one over
    ]
