"""WHOOP webhook deliveries (model v2).

One URL per app, set in WHOOP's developer dashboard; no handshake. Each delivery carries
`X-WHOOP-Signature-Timestamp` (epoch milliseconds) and `X-WHOOP-Signature` = base64
HMAC-SHA256(client secret, timestamp + raw body). Stale timestamps are refused (replays).
"""

import base64
import hashlib
import hmac
import json
import time

from django.http import HttpRequest, HttpResponse

from integrations.providers.base import Notification, WebhookRejected
from integrations.providers.whoop.source import Source

MAX_SKEW_SECONDS = 300
# Event type prefix -> data types to re-read. A recovery event carries the UUID of its sleep, and
# the source fetches recoveries together with sleeps.
DATA_TYPES = {"workout": ("workout",), "sleep": ("sleep",), "recovery": ("sleep",)}


def verify_handshake(request: HttpRequest) -> HttpResponse | None:
    return None


def signature(body: bytes, timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(
    body: bytes, timestamp: str, given: str, secret: str, *, now: float | None = None
) -> bool:
    """The HMAC matches and the timestamp is within five minutes of `now`."""
    if not (secret and timestamp.isdigit() and given):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp) / 1000) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(body, timestamp, secret), given.strip())


def parse(request: HttpRequest) -> list[Notification]:
    _client_id, secret = Source.app_credentials()
    timestamp = request.headers.get("X-WHOOP-Signature-Timestamp", "")
    if not signature_is_valid(request.body, timestamp, request.headers.get("X-WHOOP-Signature", ""), secret):
        raise WebhookRejected("the X-WHOOP-Signature does not match or is stale")
    return parse_body(request.body)


def parse_body(body: bytes) -> list[Notification]:
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRejected("the body is not JSON") from None
    if not isinstance(event, dict) or not event.get("user_id") or "." not in str(event.get("type", "")):
        raise WebhookRejected("a WHOOP event names a user_id and a type")
    kind, _action = event["type"].split(".", 1)
    data_types = DATA_TYPES.get(kind)
    if data_types is None:
        return []
    return [
        Notification(
            external_user_id=str(event["user_id"]),
            data_types=data_types,
            delivery_id=str(event.get("trace_id") or ""),
            metadata={"type": event["type"], "id": event.get("id")},
        )
    ]
