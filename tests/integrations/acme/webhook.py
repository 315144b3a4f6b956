"""Acme's webhook: a GET challenge, and JSON deliveries signed with HMAC-SHA256 of the body."""

import hashlib
import hmac
import json

from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.providers.base import Notification, WebhookRejected

SECRET = b"acme-webhook-secret"


def sign(body: bytes) -> str:
    return hmac.new(SECRET, body, hashlib.sha256).hexdigest()


def verify_handshake(request: HttpRequest) -> HttpResponse | None:
    if request.method == "GET":
        return JsonResponse({"challenge": request.GET.get("challenge", "")})
    return None


def parse(request: HttpRequest) -> list[Notification]:
    if not hmac.compare_digest(sign(request.body), request.headers.get("X-Acme-Signature", "")):
        raise WebhookRejected("bad signature")
    event = json.loads(request.body)
    return [
        Notification(
            external_user_id=str(event["user_id"]),
            data_types=(event["data_type"],),
            delivery_id=str(event.get("id", "")),
            deauthorized=event.get("deauthorized", False),
        )
    ]
