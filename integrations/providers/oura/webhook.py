"""Oura webhook deliveries.

Creating a subscription makes Oura call `GET ?verification_token=…&challenge=…`; the answer is
`{"challenge": …}` when the token is ours, 401 otherwise. Deliveries carry `x-oura-timestamp` and
`x-oura-signature` = uppercase hex HMAC-SHA256(client secret, timestamp + raw body).
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.http import ApiClient
from integrations.providers.base import Notification, WebhookRejected
from integrations.providers.oura.source import Source

# Oura `data_type` -> the source's data types to re-read.
DATA_TYPES = {
    "daily_activity": ("daily_activity",),
    "daily_sleep": ("daily_sleep",),
    "daily_readiness": ("daily_readiness",),
    "daily_spo2": ("daily_spo2",),
    "sleep": ("sleep",),
    "workout": ("workout",),
}


def verify_handshake(request: HttpRequest) -> HttpResponse | None:
    """Echo the challenge when the verification token is the one we registered."""
    if request.method != "GET":
        return None
    expected = settings.OURA_WEBHOOK_VERIFICATION_TOKEN
    given = request.GET.get("verification_token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse(status=401)
    return JsonResponse({"challenge": request.GET.get("challenge", "")})


def signature(body: bytes, timestamp: str, secret: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).hexdigest().upper()


def signature_is_valid(body: bytes, timestamp: str, given: str, secret: str) -> bool:
    return bool(secret and timestamp and given) and hmac.compare_digest(
        signature(body, timestamp, secret), given.strip().upper()
    )


def parse(request: HttpRequest) -> list[Notification]:
    _client_id, secret = Source.app_credentials()
    timestamp = request.headers.get("x-oura-timestamp", "")
    if not signature_is_valid(request.body, timestamp, request.headers.get("x-oura-signature", ""), secret):
        raise WebhookRejected("the x-oura-signature does not match")
    return parse_body(request.body)


def parse_body(body: bytes) -> list[Notification]:
    """One event: whose, which collection, and the day around it to re-read."""
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRejected("the body is not JSON") from None
    if not isinstance(event, dict) or not event.get("user_id") or not event.get("data_type"):
        raise WebhookRejected("an Oura event names a user_id and a data_type")
    data_types = DATA_TYPES.get(event["data_type"])
    if data_types is None:
        return []
    start = end = None
    if event.get("event_time"):
        # The event names a document, not its day: re-read the two days around the event.
        moment = datetime.fromisoformat(event["event_time"])
        start, end = moment - timedelta(days=2), moment + timedelta(days=1)
    return [
        Notification(
            external_user_id=str(event["user_id"]),
            data_types=data_types,
            start=start,
            end=end,
            delivery_id=f"{event['data_type']}:{event.get('object_id', '')}:{event.get('event_time', '')}",
            metadata={"event_type": event.get("event_type"), "object_id": event.get("object_id")},
        )
    ]


# --- the app's subscriptions (app credentials, not a user's token) --------------------------------
EVENT_TYPES = ("create", "update")
RENEW_WITHIN = timedelta(days=7)
SUBSCRIPTIONS = "v2/webhook/subscription"


def _app_client() -> tuple[ApiClient, dict[str, str]]:
    client_id, secret = Source.app_credentials()
    client = Source.client_class(provider=Source.slug, base_url=Source.api_base_url())
    return client, {"x-client-id": client_id, "x-client-secret": secret}


def subscribe(callback_url: str) -> list[dict]:
    """One subscription per (event type, collection) the source reads; Oura checks the URL first.

    Pairs already subscribed to `callback_url` are kept, so running it again is harmless.
    """
    # https://cloud.ouraring.com/v2/docs#tag/Webhook-Subscription-Routes
    client, headers = _app_client()
    existing = client.get_json(SUBSCRIPTIONS, headers=headers)
    subscribed = {
        (item["event_type"], item["data_type"]) for item in existing if item["callback_url"] == callback_url
    }
    created = []
    for data_type in DATA_TYPES:
        for event_type in EVENT_TYPES:
            if (event_type, data_type) in subscribed:
                continue
            body = {
                "callback_url": callback_url,
                "verification_token": settings.OURA_WEBHOOK_VERIFICATION_TOKEN,
                "event_type": event_type,
                "data_type": data_type,
            }
            created.append(client.post_json(SUBSCRIPTIONS, json=body, headers=headers))
    return created


def renew_expiring(*, now: datetime | None = None) -> int:
    """Renew the subscriptions that expire within a week (they lapse otherwise); how many were."""
    # https://cloud.ouraring.com/v2/docs#tag/Webhook-Subscription-Routes/operation/renew_webhook_subscription
    client, headers = _app_client()
    moment = now or datetime.now(UTC)
    renewed = 0
    for item in client.get_json(SUBSCRIPTIONS, headers=headers):
        expires = item.get("expiration_time")
        if expires and datetime.fromisoformat(expires) - moment < RENEW_WITHIN:
            client.request("PUT", f"{SUBSCRIPTIONS}/renew/{item['id']}", headers=headers)
            renewed += 1
    return renewed
