"""The `sandbox` pytest fixture's object: the live server's sandbox URLs and its switches.

def test_a_rate_limited_page_is_retried(sandbox):
    sandbox.fault("oura", "rate_limit", retry_after=1)
    ...  # code under test calls settings.OURA_API_BASE_URL, which points at the sandbox
    assert sandbox.count("oura", "daily_activity") == 2
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import requests

from integrations.sandbox import control, state


class Sandbox:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def url(self, provider: str, path: str = "") -> str:
        """`<live server>/sandbox/<provider><path>`: where the provider's real `path` is served."""
        return f"{self.base_url}/sandbox/{provider}{path}"

    def point_settings(self, settings) -> None:
        """Point every provider host setting (base URLs and full authorize/token URLs) at the sandbox."""
        for name in settings.PROVIDER_BASE_URLS:
            setattr(settings, name, self.url(name.split("_", 1)[0].lower()))
        for prefix, urls in getattr(settings, "PROVIDER_HOSTS", {}).items():
            for suffix, real in zip(("AUTHORIZE_URL", "TOKEN_URL", "API_BASE_URL"), urls, strict=False):
                path = urlsplit(real).path.rstrip("/")
                setattr(settings, f"{prefix}_{suffix}", self.url(prefix.lower(), path))

    def reset(self) -> None:
        control.reset()

    def consent(
        self,
        provider: str,
        *,
        auto: str = "approve",
        account: str = state.DEFAULT_ACCOUNT,
        drop_scopes: tuple[str, ...] = (),
    ) -> None:
        control.set_consent(provider, auto=auto, account=account, drop_scopes=drop_scopes)

    def fault(self, provider: str, kind: str, **options) -> None:
        control.add_fault(provider, kind, **options)

    def limit(
        self,
        provider: str,
        requests: int | None = None,
        window_seconds: float = 60,
        *,
        documented: bool = False,
    ) -> None:
        control.set_limit(provider, requests, window_seconds, documented=documented)

    def clear_faults(self, provider: str) -> None:
        control.clear_faults(provider)

    def counters(self, provider: str) -> dict[str, int]:
        return control.counters(provider)

    def served(self, provider: str) -> dict[str, int]:
        """Items served by paged endpoints, per "<endpoint> <path>" (e.g. "list /sandbox/fitbit/v4/...")."""
        return control.served(provider)

    def count(self, provider: str, endpoint: str) -> int:
        return control.counters(provider).get(endpoint, 0)

    def advance_clock(self, seconds: float) -> None:
        control.advance_clock(seconds)

    def connect(self, client, provider: str):
        """allauth's connect flow for a signed-in Django test `client`: start it, let the sandbox
        answer its consent page over HTTP, follow the callback. Returns (started, finished)."""
        started = client.post(f"/accounts/{provider}/login/", {"process": "connect"})
        at_provider = requests.get(started["Location"], allow_redirects=False, timeout=10)
        callback = urlsplit(at_provider.headers["Location"])
        return started, client.get(f"{callback.path}?{callback.query}")

    def set_timezone(self, provider: str, account: str, zone: str) -> None:
        control.set_timezone(provider, account, zone)

    def expected_counts(self, provider: str, account: str, first: date, last: date) -> dict[str, int]:
        return control.expected_counts(provider, account, first, last)

    def send_webhook(self, provider: str, callback_url: str, **fields) -> requests.Response:
        return control.send_webhook(provider, callback_url, **fields)

    def handshake(self, provider: str, callback_url: str, **options) -> bool:
        return control.handshake(provider, callback_url, **options)
