"""Driving the sandbox from Python (tests in the same process) and the functions behind its control API.

from integrations.sandbox import control
control.reset()
control.set_consent("oura", auto="approve", account="alice")
control.add_fault("oura", "rate_limit", times=2, retry_after=1)
control.counters("oura")["token"]
control.expected_counts("oura", "alice", date(2025, 1, 1), date(2025, 3, 31))
control.send_webhook("whoop", "http://127.0.0.1:8000/webhooks/whoop/", account="alice", type="sleep.updated")
"""

from __future__ import annotations

from datetime import date
from importlib import import_module
from types import ModuleType

import requests

from integrations.sandbox import oauth, state
from integrations.sandbox.state import Fault

PROVIDERS = ("withings", "oura", "fitbit", "whoop", "strava")
FAULT_KINDS = ("rate_limit", "server_error", "slow", "invalid_grant", "rotate_refresh")


class UnknownProvider(LookupError):
    pass


def provider_module(provider: str) -> ModuleType:
    """`integrations.providers.<provider>.sandbox`, the provider's wire format."""
    if provider not in PROVIDERS:
        raise UnknownProvider(provider)
    return import_module(f"integrations.providers.{provider}.sandbox")


def reset() -> None:
    state.reset()


def set_consent(
    provider: str,
    *,
    auto: str = "approve",
    account: str = state.DEFAULT_ACCOUNT,
    drop_scopes: tuple[str, ...] = (),
) -> None:
    """How the next authorize requests answer: "approve", "deny", or "" to show the page."""
    if auto not in {"", "approve", "deny"}:
        raise ValueError("auto must be '', 'approve' or 'deny'")
    provider_module(provider)
    state.set_consent(provider, auto=auto, account=account, drop_scopes=tuple(drop_scopes))


def set_timezone(provider: str, account: str, zone: str) -> None:
    state.set_account_zone(provider, account, zone)


def add_fault(
    provider: str,
    kind: str,
    *,
    times: int | None = 1,
    endpoints: tuple[str, ...] = (),
    retry_after: int | None = 30,
    delay_seconds: float = 0.0,
    status: int = 500,
) -> None:
    """Switch a fault on for the next `times` matching requests (None: until cleared).

    `expire_access_tokens` is immediate: every live access token of the provider expires now.
    """
    provider_module(provider)
    if kind == "expire_access_tokens":
        oauth.expire_access_tokens(provider)
        return
    if kind not in FAULT_KINDS:
        raise ValueError(f"Unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)} or expire_access_tokens.")
    fault = Fault(
        kind=kind,
        remaining=times,
        endpoints=tuple(endpoints),
        retry_after=retry_after,
        delay_seconds=delay_seconds,
        status=status,
    )
    state.add_fault(provider, fault)


# Each provider's documented limit on data requests: (requests, window seconds).
DOCUMENTED_LIMITS = {
    "withings": (120, 60),
    "oura": (5000, 300),
    "fitbit": (300, 60),
    "whoop": (100, 60),
    "strava": (100, 900),
}


def set_limit(
    provider: str, requests: int | None = None, window_seconds: float = 60, *, documented: bool = False
) -> None:
    """Answer data requests over `requests` per sliding window with the provider's rate-limit error
    (Retry-After: when a slot frees). `documented=True` uses the provider's published limit."""
    provider_module(provider)
    if documented:
        requests, window_seconds = DOCUMENTED_LIMITS[provider]
    state.set_limit(provider, requests, window_seconds)


def clear_faults(provider: str) -> None:
    state.clear_faults(provider)


def counters(provider: str) -> dict[str, int]:
    """Requests served per endpoint name (and "total") since the last reset."""
    return state.counters(provider)


def served(provider: str) -> dict[str, int]:
    """Items served by paged endpoints since the last reset, per "<endpoint> <path>"."""
    return state.served(provider)


def advance_clock(seconds: float) -> None:
    state.advance_clock(seconds)


def expected_counts(provider: str, account: str, first: date, last: date) -> dict[str, int]:
    """Items of each data type the provider holds for the account's local days first..last."""
    return provider_module(provider).expected_counts(account, first, last)


def send_webhook(
    provider: str, callback_url: str, *, account: str = state.DEFAULT_ACCOUNT, **fields: object
) -> requests.Response:
    """Deliver one notification to `callback_url` with the provider's headers and signature."""
    return provider_module(provider).send_webhook(callback_url, account=account, **fields)


def handshake(provider: str, callback_url: str, **options: str) -> bool:
    """Run the provider's verification request against `callback_url`; True if it passed."""
    return provider_module(provider).handshake(callback_url, **options)
