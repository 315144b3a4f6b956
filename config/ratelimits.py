"""Who a client is for rate limiting, and the default API limit per user and per IP."""

import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle

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
        limits = [("ip", settings.API_RATE_LIMIT_IP)]
        if request.user and request.user.is_authenticated:
            limits.append(("user", settings.API_RATE_LIMIT_USER))
        for key, rate in limits:
            try:
                usage = get_usage(request._request, group=f"api:{key}", key=key, rate=rate, increment=True)
            except (RedisConnectionError, RedisTimeoutError):
                # A fairness budget, not a lock: reads keep answering while Redis is away.
                # Sign-in limits (allauth) fail closed instead: see config.middleware.
                logger.warning("API rate limit not counted: Redis is unreachable")
                return True
            if usage and usage["should_limit"]:
                self.wait_seconds = usage["time_left"]
                return False
        return True

    def wait(self) -> float | None:
        return self.wait_seconds
