"""What every simulated endpoint shares: request counters, fault switches, JSON answers, paging."""

from __future__ import annotations

import base64
import contextvars
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps

import requests
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.sandbox import state
from integrations.sandbox.state import Fault

FaultRenderer = Callable[[Fault], HttpResponse]
OAUTH_ENDPOINTS = frozenset({"authorize", "token", "revoke"})
# The request being answered, as (provider, "<endpoint> <path>"), for counting the items its pages serve.
_serving: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("serving", default=None)


def endpoints_for(provider: str, render_fault: FaultRenderer) -> Callable[[str], Callable]:
    """A decorator factory: `@endpoint("daily_activity")` counts the request and applies faults.

    The name may be a function of the request, for providers whose one URL serves many actions.

    A fault naming no endpoint applies to data endpoints only; to break the token endpoint, name it.
    """

    def endpoint(naming: str | Callable[[HttpRequest], str]) -> Callable:
        def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            @csrf_exempt
            @wraps(view)
            def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
                name = naming(request) if callable(naming) else naming
                state.count(provider, name)
                fault = _take(provider, {"slow"}, name)
                if fault is not None:
                    time.sleep(fault.delay_seconds)
                fault = _take(provider, {"rate_limit", "server_error"}, name)
                if fault is not None:
                    return render_fault(fault)
                wait = state.over_limit(provider) if name not in OAUTH_ENDPOINTS else None
                if wait is not None:
                    return render_fault(Fault(kind="rate_limit", retry_after=math.ceil(wait)))
                serving = _serving.set((provider, f"{name} {request.path}"))
                try:
                    return view(request, *args, **kwargs)
                finally:
                    _serving.reset(serving)

            return wrapped

        return decorator

    return endpoint


def _take(provider: str, kinds: set[str], name: str) -> Fault | None:
    with state.lock:
        for fault in state.faults(provider):
            applies = fault.endpoints or name not in OAUTH_ENDPOINTS
            if fault.kind in kinds and applies and fault.matches(name) and fault.remaining != 0:
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
    return None


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = JsonResponse(payload, status=status, safe=False, json_dumps_params={"separators": (",", ":")})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def retry_after_headers(fault: Fault) -> dict[str, str]:
    return {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int | None:
    """The offset inside a page token, or None when the token is not one the sandbox issued."""
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["offset"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


def page(items: list, offset: int, size: int) -> tuple[list, int | None]:
    """One page of `items` and the offset of the next page (None on the last one)."""
    chunk = items[offset : offset + size]
    following = offset + size
    count_served(len(chunk))
    return chunk, following if following < len(items) else None


def count_served(items: int) -> None:
    """Add `items` to what the current request's endpoint and path served (`control.served`)."""
    serving = _serving.get()
    if serving is not None:
        state.count_served(serving[0], serving[1], items)


def iso_local(moment: datetime, milliseconds: bool = False) -> str:
    """ISO 8601 with the moment's own offset: `2025-01-01T07:21:34+01:00`."""
    return moment.isoformat(timespec="milliseconds" if milliseconds else "seconds")


def iso_utc(moment: datetime, milliseconds: bool = False) -> str:
    """ISO 8601 in UTC with a Z: `2025-01-01T06:21:34.000Z`."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds" if milliseconds else "seconds")[:-6] + "Z"


def offset_text(moment: datetime) -> str:
    """The moment's UTC offset as `+01:00` / `-05:00`."""
    return moment.isoformat()[-6:] if moment.utcoffset() else "+00:00"


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 instant; `Z` and offsets accepted, a naive value is UTC."""
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def form_or_query(request: HttpRequest) -> dict[str, str]:
    """Parameters from the query string, overridden by a form body (providers accept both)."""
    return {**request.GET.dict(), **request.POST.dict()}


def deliver(
    url: str,
    *,
    data: bytes | dict,
    headers: dict | None = None,
    timeout: float,
    attempts: int = 1,
    repeat: int = 0,
    accepted: Callable[[int], bool] = lambda status: 200 <= status < 300,
) -> requests.Response:
    """POST a webhook: up to `attempts` tries until the receiver accepts it, then `repeat` identical
    redeliveries (providers retry and may deliver twice). Returns the last answer."""
    response = None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            response = requests.post(url, data=data, headers=headers, timeout=timeout)
        except requests.RequestException:
            if attempt == attempts:
                raise
            continue
        if accepted(response.status_code):
            break
    for _ in range(repeat):
        response = requests.post(url, data=data, headers=headers, timeout=timeout)
    return response
