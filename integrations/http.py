"""The HTTP layer every provider call goes through: timeouts, retries, rate budget, circuit breaker.

A provider's client (`integrations/providers/<name>/client.py`) subclasses `ApiClient`, adds its
endpoints, and overrides `check(response)` when the provider reports errors inside a 200 body
(Withings answers `{"status": 401}` or `{"status": 601}` with HTTP 200).

Errors are typed so that callers decide by kind, never by status code:

    ProviderError          the provider refused the request (4xx, malformed answer): not retried
      TransientError       5xx, timeout, connection failure: retried here, then by the task
        RateLimited        429 or a provider's in-body equivalent; `retry_after` seconds
          BudgetSpent      the app's shared budget allows no request within the allowed wait
        CircuitOpen        the provider failed repeatedly; calls stop until the cool-down ends
      AuthExpired          401: the client refreshes the access token once and retries
      AuthRevoked          the grant is gone (`invalid_grant`, 401 after a refresh): reconnect

State shared by every worker lives in the Django cache (Redis in production): the circuit breaker
of each provider and its rate budget, so that many concurrent syncs pace themselves together.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol

import requests
from django.conf import settings
from django.core.cache import cache

from config.cache import count_up

logger = logging.getLogger(__name__)


# --- Errors --------------------------------------------------------------------------------------
class ProviderError(Exception):
    """The provider refused or failed a request; `hint` tells a person what to do about it."""

    hint = "The provider rejected a request. The next sync tries again."

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        if hint:
            self.hint = hint


class TransientError(ProviderError):
    hint = "The provider is having trouble right now. The sync will try again automatically."


class RateLimited(TransientError):
    hint = "The provider asked us to slow down. The sync continues automatically when it allows."

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class BudgetSpent(RateLimited):
    """The app's own budget for the provider is spent for longer than a request may wait."""


class CircuitOpen(TransientError):
    hint = "The provider failed repeatedly, so syncing pauses for a few minutes and then resumes."

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthExpired(ProviderError):
    hint = "The access token expired; it is refreshed automatically."


class AuthRevoked(ProviderError):
    hint = "Access was withdrawn at the provider. Reconnect the account to resume syncing."


# --- Credentials ---------------------------------------------------------------------------------
class Credentials(Protocol):
    """Where a client gets its bearer token (`integrations.tokens.ConnectionCredentials`)."""

    def access_token(self) -> str:
        """A token valid for a little while yet, refreshed first if it is about to expire."""

    def refreshed_access_token(self, rejected: str) -> str:
        """A token other than `rejected` (refreshing unless another worker already did)."""


# --- Rate budget ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RateLimit:
    """One documented limit: `requests` per `seconds`, for the whole app or for each user."""

    requests: int
    seconds: int
    per_user: bool = False


@dataclass(frozen=True, slots=True)
class RateUsage:
    """What a response's headers say about one limit: `used` of `limit` in a `seconds` window."""

    limit: int
    used: int
    seconds: int | None = None  # None: the window of the provider's first documented limit
    reset_seconds: float | None = None


class RateBudget:
    """A shared request budget per provider: fixed windows counted atomically in the cache.

    Every request takes one unit from each of the provider's windows; an empty window makes the
    caller wait for the next one (or raise `RateLimited` if that is further than it may wait).
    Response headers correct the counts, so requests made by other processes (or a previous
    deployment) are accounted for, and a 429 blocks the provider for its `Retry-After`.
    """

    def __init__(self, provider: str, limits: Iterable[RateLimit], *, user_key: str = "") -> None:
        self.provider = provider
        self.limits = tuple(limits)
        self.user_key = user_key

    def _key(self, limit: RateLimit, window: int) -> str:
        scope = f"u{self.user_key}" if limit.per_user else "app"
        return f"integrations:rate:{self.provider}:{scope}:{limit.seconds}:{window}"

    def _blocked_key(self) -> str:
        return f"integrations:rate:{self.provider}:blocked_until"

    def _effective(self, limit: RateLimit) -> int:
        share = settings.PROVIDER_RATE_BUDGET_SHARE
        return max(1, int(limit.requests * share))

    def acquire(self, *, max_wait_seconds: float, sleep: Callable[[float], None]) -> None:
        """Take one request from every window, waiting for a window to reopen when it is spent."""
        deadline = time.time() + max_wait_seconds
        while True:
            wait = self._try_acquire()
            if wait <= 0:
                return
            if time.time() + wait > deadline:
                raise BudgetSpent(f"{self.provider} request budget spent", retry_after=wait, status=None)
            sleep(wait)

    def _try_acquire(self) -> float:
        now = time.time()
        blocked_until = cache.get(self._blocked_key()) or 0
        if blocked_until > now:
            return blocked_until - now
        for limit in self.limits:
            window = int(now // limit.seconds)
            used = count_up(self._key(limit, window), limit.seconds + 5)
            if used > self._effective(limit):
                return (window + 1) * limit.seconds - now + 0.01
        return 0

    def observe(self, usages: Iterable[RateUsage]) -> None:
        """Raise the counts to what the provider reports (never lower them: others share it).

        A spent limit with a known reset blocks the provider until then.
        """
        now = time.time()
        for usage in usages:
            limit = self._matching_limit(usage)
            if limit is None:
                continue
            scale = self._effective(limit) / max(usage.limit, 1)
            used = round(usage.used * scale)
            if usage.used >= usage.limit and usage.reset_seconds:
                self.block(usage.reset_seconds)
            key = self._key(limit, int(now // limit.seconds))
            if used > (cache.get(key) or 0):
                cache.set(key, used, timeout=limit.seconds + 5)

    def _matching_limit(self, usage: RateUsage) -> RateLimit | None:
        if not self.limits:
            return None
        if usage.seconds is None:
            return self.limits[0]
        return next((limit for limit in self.limits if limit.seconds == usage.seconds), None)

    def block(self, seconds: float) -> None:
        """Stop every worker from calling this provider for `seconds` (a 429's Retry-After)."""
        until = time.time() + seconds
        if until > (cache.get(self._blocked_key()) or 0):
            cache.set(self._blocked_key(), until, timeout=int(seconds) + 5)


# --- Circuit breaker -----------------------------------------------------------------------------
class CircuitBreaker:
    """Per provider, shared through the cache: closed, open after N failures, half-open after a pause.

    While open, calls fail at once with `CircuitOpen`. After the cool-down one trial call goes
    through (half-open); its success closes the circuit, its failure opens it again.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.failures_key = f"integrations:circuit:{provider}:failures"
        self.opened_key = f"integrations:circuit:{provider}:opened_at"
        self.trial_key = f"integrations:circuit:{provider}:trial"

    @property
    def cooldown_seconds(self) -> float:
        return settings.PROVIDER_CIRCUIT_COOLDOWN_SECONDS

    def state(self) -> str:
        opened_at = cache.get(self.opened_key)
        if opened_at is None:
            return "closed"
        return "open" if time.time() < opened_at + self.cooldown_seconds else "half_open"

    def before_call(self) -> None:
        """Raise `CircuitOpen` unless a call may go out now."""
        opened_at = cache.get(self.opened_key)
        if opened_at is None:
            return
        remaining = opened_at + self.cooldown_seconds - time.time()
        if remaining > 0:
            raise CircuitOpen(f"{self.provider} circuit is open", retry_after=remaining)
        if not cache.add(self.trial_key, 1, timeout=max(1, int(self.cooldown_seconds))):
            raise CircuitOpen(f"{self.provider} circuit is half-open", retry_after=self.cooldown_seconds)

    def record_success(self) -> None:
        cache.delete_many([self.failures_key, self.opened_key, self.trial_key])

    def record_failure(self) -> None:
        failures = count_up(self.failures_key, int(self.cooldown_seconds) * 10 + 60)
        if failures >= settings.PROVIDER_CIRCUIT_FAILURE_THRESHOLD:
            if cache.get(self.opened_key) is None:
                logger.warning("circuit opened", extra={"provider": self.provider, "failures": failures})
            cache.set(self.opened_key, time.time(), timeout=int(self.cooldown_seconds) * 10 + 60)
            cache.delete(self.trial_key)


# --- Rate-limit headers --------------------------------------------------------------------------
_WINDOW = re.compile(r"window=(\d+)")


def _ints(value: str) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", value.split(";")[0])] if value else []


def parse_rate_headers(headers: Any) -> list[RateUsage]:
    """Read the usage a provider reports: X-RateLimit-*, Fitbit-Rate-Limit-*, Strava's "15min,daily"."""
    usages: list[RateUsage] = []
    if "X-RateLimit-Usage" in headers:  # Strava: limit "200,2000", usage "31,466" (15 min, day)
        for prefix in ("X-RateLimit", "X-ReadRateLimit"):
            limits = _ints_list(headers.get(f"{prefix}-Limit", ""))
            used = _ints_list(headers.get(f"{prefix}-Usage", ""))
            for limit, count, seconds in zip(limits, used, (900, 86400), strict=False):
                usages.append(RateUsage(limit=limit, used=count, seconds=seconds))
        return usages
    for prefix in ("X-RateLimit", "Fitbit-Rate-Limit", "RateLimit"):
        limit_header = headers.get(f"{prefix}-Limit")
        remaining = headers.get(f"{prefix}-Remaining")
        if limit_header is None or remaining is None:
            continue
        limit = _ints(limit_header)[0] if _ints(limit_header) else 0
        window = _WINDOW.search(limit_header.split(",", 1)[1]) if "," in limit_header else None
        reset = _float(headers.get(f"{prefix}-Reset"))
        seconds = int(window.group(1)) if window else None
        usages.append(
            RateUsage(
                limit=limit,
                used=max(0, limit - int(_ints(remaining)[0])),
                seconds=seconds,
                reset_seconds=reset,
            )
        )
        break
    return usages


def _ints_list(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip().isdigit()]


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return default
    seconds = _float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


# --- The client ----------------------------------------------------------------------------------
class ApiClient:
    """A provider's HTTP client on `requests`, with everything a background sync needs.

    `base_url` comes from settings (`<PROVIDER>_API_BASE_URL`), so pointing the app at the
    sandbox or the real provider is configuration only; paths are the provider's real paths.
    `requests_made` counts every request sent, retries included, for the SyncRun.
    """

    rate_limits: ClassVar[tuple[RateLimit, ...]] = ()
    # A request that is not answered within (connect, read) seconds is a transient failure.
    timeout: ClassVar[tuple[float, float] | None] = None

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        credentials: Credentials | None = None,
        rate_limits: Iterable[RateLimit] | None = None,
        user_key: str = "",
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"health-fitness-analytics/{settings.APP_VERSION}"
        limits = self.rate_limits if rate_limits is None else tuple(rate_limits)
        self.budget = RateBudget(provider, limits, user_key=user_key)
        self.circuit = CircuitBreaker(provider)
        self.requests_made = 0

    # -- the hook provider clients override ------------------------------------------------------
    def check(self, response: requests.Response) -> None:
        """Raise the typed error a response stands for; return quietly when it is a success."""
        status = response.status_code
        if status < 400:
            return
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), default=60.0)
            raise RateLimited(f"{self.provider} answered 429", retry_after=retry_after)
        if status >= 500:
            raise TransientError(f"{self.provider} answered {status}", status=status)
        if _is_invalid_grant(response):
            raise AuthRevoked(f"{self.provider} refused the grant", status=status)
        if status == 401:
            raise AuthExpired(f"{self.provider} answered 401", status=status)
        raise ProviderError(f"{self.provider} answered {status}", status=status)

    def rate_usage(self, response: requests.Response) -> list[RateUsage]:
        """The budget a response reports; override for headers of another shape."""
        return parse_rate_headers(response.headers)

    # -- calls --------------------------------------------------------------------------------------
    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs).json()

    def request(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        timeout: tuple[float, float] | float | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one logical request: retried on transient errors, refreshed once on 401.

        `path` is joined to `base_url` unless it is an absolute URL (token endpoints live on
        another host). Raises the typed errors above once the attempts are spent.
        """
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        token = self.credentials.access_token() if authenticated and self.credentials else None
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send(method, url, token=token, timeout=timeout, **kwargs)
            except AuthExpired:
                if refreshed or token is None or self.credentials is None:
                    raise AuthRevoked(f"{self.provider} still refuses a fresh token", status=401) from None
                token = self.credentials.refreshed_access_token(token)
                refreshed = True
            except TransientError as error:
                if (
                    isinstance(error, CircuitOpen | BudgetSpent)
                    or attempt >= settings.PROVIDER_HTTP_MAX_ATTEMPTS
                ):
                    raise
                self._pause_before_retry(error, attempt)

    def _send(
        self, method: str, url: str, *, token: str | None, timeout: Any, **kwargs: Any
    ) -> requests.Response:
        self.circuit.before_call()
        self.budget.acquire(max_wait_seconds=settings.PROVIDER_RATE_MAX_WAIT_SECONDS, sleep=self._pause)
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.requests_made += 1
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=timeout or self._default_timeout(), **kwargs
            )
        except (requests.Timeout, requests.ConnectionError) as error:
            self.circuit.record_failure()
            raise TransientError(f"{self.provider} did not answer: {type(error).__name__}") from None
        # A 429's own Retry-After says when to come back, and overrides what its usage headers imply.
        if not (response.status_code == 429 and "Retry-After" in response.headers):
            self.budget.observe(self.rate_usage(response))
        try:
            self.check(response)
        except RateLimited as error:
            self.budget.block(error.retry_after)
            self.circuit.record_success()  # throttled is not down
            raise
        except TransientError:
            self.circuit.record_failure()
            raise
        except ProviderError:
            self.circuit.record_success()  # a refusal proves the provider is up
            raise
        self.circuit.record_success()
        return response

    def _default_timeout(self) -> tuple[float, float]:
        return self.timeout or (settings.PROVIDER_HTTP_CONNECT_TIMEOUT, settings.PROVIDER_HTTP_READ_TIMEOUT)

    def _pause_before_retry(self, error: TransientError, attempt: int) -> None:
        """Full-jitter exponential backoff, or the provider's Retry-After when it gave one."""
        if isinstance(error, RateLimited):
            if error.retry_after > settings.PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS:
                raise error
            delay = error.retry_after
        else:
            ceiling = settings.PROVIDER_HTTP_BACKOFF_SECONDS * 2 ** (attempt - 1)
            delay = random.uniform(0, min(settings.PROVIDER_HTTP_BACKOFF_MAX_SECONDS, ceiling))  # noqa: S311
        logger.info(
            "retrying provider request",
            extra={"provider": self.provider, "attempt": attempt, "delay_seconds": round(delay, 3)},
        )
        self._pause(delay)

    @staticmethod
    def _pause(seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        self.session.close()


def _is_invalid_grant(response: requests.Response) -> bool:
    if response.status_code not in (400, 401):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "invalid_grant"
