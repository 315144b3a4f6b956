"""Strava push subscription events.

Creating the app's subscription makes Strava call
`GET ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`, answered with
`{"hub.challenge": …}` within 2 seconds. Events are not signed: they name an athlete and an
activity, which is always re-fetched with the athlete's token.
"""

import hmac
import json
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.providers.base import Notification, WebhookRejected
from integrations.providers.strava.source import Source


def verify_handshake(request: HttpRequest) -> HttpResponse | None:
    if request.method != "GET":
        return None
    expected = settings.STRAVA_WEBHOOK_VERIFY_TOKEN
    given = request.GET.get("hub.verify_token", "")
    if (
        request.GET.get("hub.mode") != "subscribe"
        or not expected
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        return HttpResponse(status=401)
    return JsonResponse({"hub.challenge": request.GET.get("hub.challenge", "")})


def parse(request: HttpRequest) -> list[Notification]:
    return parse_body(request.body)


def parse_body(body: bytes) -> list[Notification]:
    """An activity event -> re-read the days around it; an athlete event may be a deauthorization."""
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookRejected("the body is not JSON") from None
    if not isinstance(event, dict) or not event.get("owner_id") or not event.get("object_type"):
        raise WebhookRejected("a Strava event names an owner_id and an object_type")
    owner = str(event["owner_id"])
    delivery = ":".join(
        str(event.get(key)) for key in ("object_type", "object_id", "aspect_type", "event_time")
    )
    if event["object_type"] == "athlete":
        revoked = str((event.get("updates") or {}).get("authorized", "")).lower() == "false"
        return (
            [Notification(external_user_id=owner, deauthorized=True, delivery_id=delivery)] if revoked else []
        )
    if event["object_type"] != "activity":
        return []
    moment = datetime.fromtimestamp(int(event.get("event_time") or 0), UTC)
    return [
        Notification(
            external_user_id=owner,
            data_types=("activities",),
            # An event names an activity, not when it happened; the usual upload lag is hours.
            start=moment - timedelta(days=7),
            end=moment + timedelta(hours=1),
            delivery_id=delivery,
            metadata={"aspect_type": event.get("aspect_type"), "object_id": event.get("object_id")},
        )
    ]


def subscribe(callback_url: str) -> int:
    """The app's one push subscription, created for `callback_url` unless it exists; its id.

    Strava calls the URL with `hub.challenge` before answering, so the endpoint must be live.
    """
    # https://developers.strava.com/docs/webhooks/#create-a-subscription
    client_id, client_secret = Source.app_credentials()
    credentials = {"client_id": client_id, "client_secret": client_secret}
    client = Source.client_class(provider=Source.slug, base_url=Source.api_base_url())
    existing = client.get_json("api/v3/push_subscriptions", params=credentials)
    for subscription in existing:
        if subscription.get("callback_url") == callback_url:
            return int(subscription["id"])
    form = {**credentials, "callback_url": callback_url, "verify_token": settings.STRAVA_WEBHOOK_VERIFY_TOKEN}
    return int(client.post_json("api/v3/push_subscriptions", data=form)["id"])
