"""Everything the sandbox remembers, in the memory of the serving process and behind one lock.

No database: the sandbox works the same inside pytest-django's live server thread, under
`runserver` and under `manage.py run_sandbox`. `reset()` forgets everything.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

DEFAULT_ACCOUNT = "demo"
DEFAULT_ZONE = "Europe/Berlin"
RECENT_SECONDS = 86400  # the longest rate-limit window any provider reports on

lock = threading.RLock()


@dataclass
class Consent:
    """How the authorize page answers: shown to a person, or decided at once for tests."""

    auto: str = ""  # "" shows the page; "approve" or "deny" decides without it
    account: str = DEFAULT_ACCOUNT
    drop_scopes: tuple[str, ...] = ()


@dataclass
class Code:
    value: str
    provider: str
    client_id: str
    account: str
    scopes: tuple[str, ...]
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float
    offline: bool = True  # Google: a refresh token only for access_type=offline
    used: bool = False


@dataclass
class Token:
    value: str
    kind: str  # access | refresh
    provider: str
    client_id: str
    account: str
    scopes: tuple[str, ...]
    grant: str  # the consent this token belongs to; revoking the grant kills all its tokens
    expires_at: float | None
    revoked: bool = False
    successor: str = ""  # for a rotated refresh token: the access token issued with its replacement


@dataclass
class Fault:
    kind: str  # rate_limit | server_error | slow | invalid_grant | rotate_refresh
    remaining: int | None = 1  # None: until cleared
    endpoints: tuple[str, ...] = ()  # empty: every endpoint the kind applies to
    retry_after: int | None = 30
    delay_seconds: float = 0.0
    status: int = 500

    def matches(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints


@dataclass
class Store:
    clock_offset_seconds: float = 0.0
    consent: dict[str, Consent] = field(default_factory=dict)
    zones: dict[tuple[str, str], str] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    revoked_grants: set[str] = field(default_factory=set)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)
    served: dict[str, Counter] = field(default_factory=dict)  # provider -> items served per path
    nonces: dict[str, float] = field(default_factory=dict)
    subscriptions: dict[str, list[dict]] = field(default_factory=dict)
    recent: dict[str, deque] = field(default_factory=dict)
    limits: dict[str, tuple[int, float]] = field(default_factory=dict)  # provider -> (requests, window)


store = Store()


def reset() -> None:
    """Forget every token, fault, counter, subscription and setting; the clock returns to real time."""
    global store
    with lock:
        store = Store()


def now() -> float:
    """Epoch seconds on the sandbox clock (real time plus what `advance_clock` added)."""
    return time.time() + store.clock_offset_seconds


def advance_clock(seconds: float) -> None:
    with lock:
        store.clock_offset_seconds += seconds


def new_secret(length: int = 24) -> str:
    return secrets.token_hex(length)


def consent(provider: str) -> Consent:
    with lock:
        return store.consent.setdefault(provider, Consent())


def set_consent(provider: str, **changes: object) -> Consent:
    with lock:
        current = store.consent.setdefault(provider, Consent())
        for name, value in changes.items():
            setattr(current, name, tuple(value) if name == "drop_scopes" else value)
        return current


def account_zone(provider: str, account: str) -> ZoneInfo:
    return ZoneInfo(store.zones.get((provider, account), DEFAULT_ZONE))


def set_account_zone(provider: str, account: str, zone: str) -> None:
    ZoneInfo(zone)  # an unknown zone fails here, not in a later request
    with lock:
        store.zones[(provider, account)] = zone


def count(provider: str, endpoint: str) -> None:
    with lock:
        counter = store.counters.setdefault(provider, Counter())
        counter[endpoint] += 1
        counter["total"] += 1
        if endpoint not in {"authorize", "token", "revoke"}:  # limits and their headers count data calls
            recent = store.recent.setdefault(provider, deque())
            recent.append(now())
            while recent[0] < recent[-1] - RECENT_SECONDS:
                recent.popleft()


def set_limit(provider: str, requests: int | None, window_seconds: float = 60) -> None:
    """Enforce `requests` data requests per sliding `window_seconds` (None: no limit, the default)."""
    with lock:
        if requests is None:
            store.limits.pop(provider, None)
        else:
            store.limits[provider] = (requests, window_seconds)


def over_limit(provider: str) -> float | None:
    """Seconds until the provider's request limit frees a slot, or None when under it."""
    with lock:
        if provider not in store.limits:
            return None
        allowed, window = store.limits[provider]
        since = now() - window
        recent = [moment for moment in store.recent.get(provider, ()) if moment >= since]
        if len(recent) <= allowed:
            return None
        return max(1.0, recent[-allowed - 1] + window - now())


def requests_within(provider: str, seconds: float) -> int:
    """Requests the provider served in the last `seconds` (for rate-limit headers)."""
    with lock:
        since = now() - seconds
        return sum(1 for moment in store.recent.get(provider, ()) if moment >= since)


def counters(provider: str) -> dict[str, int]:
    with lock:
        return dict(store.counters.get(provider, Counter()))


def count_served(provider: str, key: str, items: int) -> None:
    with lock:
        store.served.setdefault(provider, Counter())[key] += items


def served(provider: str) -> dict[str, int]:
    with lock:
        return dict(store.served.get(provider, Counter()))


def add_fault(provider: str, fault: Fault) -> None:
    with lock:
        store.faults.setdefault(provider, []).append(fault)


def clear_faults(provider: str) -> None:
    with lock:
        store.faults.pop(provider, None)


def faults(provider: str) -> list[Fault]:
    with lock:
        return list(store.faults.get(provider, []))


def take_fault(provider: str, kinds: set[str], endpoint: str) -> Fault | None:
    """The first active fault of one of `kinds` for `endpoint`, using up one of its occurrences."""
    with lock:
        for fault in store.faults.get(provider, []):
            if fault.kind in kinds and fault.matches(endpoint) and fault.remaining != 0:
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None
