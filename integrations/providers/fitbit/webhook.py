"""Google Health API notifications (the Fitbit source).

Google verifies the endpoint with two POSTs of `{"type": "verification"}`: with the configured
`Authorization` secret it expects 200/201, without it 401/403. Notifications carry the same secret
and a `GOOGLE-HEALTH-API-SIGNATURE` (older docs: `X-HEALTHAPI-SIGNATURE`): base64 of
`0x01 || 4-byte key id || DER ECDSA P-256/SHA-256 signature` over the raw body, checked against
Google's public Tink keyset. They are notify-only (user, data type, intervals) and answered 204.
"""

import base64
import binascii
import hmac
import json
from datetime import datetime, timedelta

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from integrations.providers.base import Notification, WebhookRejected
from integrations.providers.fitbit.source import Source

ACK_STATUS = 204
SIGNATURE_HEADERS = ("GOOGLE-HEALTH-API-SIGNATURE", "X-HEALTHAPI-SIGNATURE")
TINK_PREFIX = 0x01
KEYSET_CACHE_SECONDS = 24 * 3600
MARGIN = timedelta(days=1)


def _authorized(request: HttpRequest) -> bool:
    secret = settings.FITBIT_WEBHOOK_SECRET
    given = request.headers.get("Authorization", "")
    return bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def _json(body: bytes) -> object:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise WebhookRejected("the body is not JSON") from None


def verify_handshake(request: HttpRequest) -> HttpResponse | None:
    """The endpoint check: 200 with the configured secret, 401 without it."""
    if request.method != "POST":
        return None
    payload = _json(request.body)
    if not (isinstance(payload, dict) and payload.get("type") == "verification"):
        return None
    return HttpResponse(status=200 if _authorized(request) else 401)


# --- Tink ECDSA public keys ----------------------------------------------------------------------
def _proto_fields(data: bytes) -> dict[int, bytes | int]:
    """The top-level fields of a protobuf message (varints and length-delimited only)."""
    fields: dict[int, bytes | int] = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            fields[number], position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            fields[number] = data[position : position + length]
            position += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
    return fields


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def public_keys(keyset: dict) -> dict[int, ec.EllipticCurvePublicKey]:
    """A Tink JSON keyset -> its enabled P-256 keys by key id (EcdsaPublicKey: 3 = x, 4 = y)."""
    keys = {}
    for entry in keyset.get("key", []):
        if entry.get("status") != "ENABLED":
            continue
        fields = _proto_fields(base64.b64decode(entry["keyData"]["value"]))
        x = int.from_bytes(fields[3], "big")
        y = int.from_bytes(fields[4], "big")
        keys[int(entry["keyId"])] = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return keys


def signature_is_valid(body: bytes, signature: str, keyset: dict) -> bool:
    """Check a Tink-prefixed ECDSA P-256/SHA-256 signature over the raw body."""
    try:
        raw = base64.b64decode(signature, validate=True)
        keys = public_keys(keyset)
    except (binascii.Error, ValueError, KeyError):
        return False
    if len(raw) < 6 or raw[0] != TINK_PREFIX:
        return False
    key = keys.get(int.from_bytes(raw[1:5], "big"))
    if key is None:
        return False
    try:
        key.verify(raw[5:], body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _keyset(*, refresh: bool = False) -> dict:
    """Google's public keyset, cached for a day and fetched again for an unknown key id."""
    url = settings.FITBIT_WEBHOOK_KEYSET_URL
    cache_key = f"integrations:fitbit:webhook-keyset:{url}"
    keyset = None if refresh else cache.get(cache_key)
    if keyset is None:
        try:
            response = requests.get(url, timeout=(3, 5))
            response.raise_for_status()
            keyset = response.json()
        except (requests.RequestException, ValueError):
            raise WebhookRejected("the signing keyset could not be fetched") from None
        cache.set(cache_key, keyset, timeout=KEYSET_CACHE_SECONDS)
    return keyset


def _check_signature(request: HttpRequest) -> None:
    signature = next((request.headers[name] for name in SIGNATURE_HEADERS if name in request.headers), "")
    if not signature:
        raise WebhookRejected("the notification is not signed")
    if signature_is_valid(request.body, signature, _keyset()):
        return
    if not signature_is_valid(request.body, signature, _keyset(refresh=True)):  # keys rotate
        raise WebhookRejected("the signature does not match")


# --- Notifications -------------------------------------------------------------------------------
def parse(request: HttpRequest) -> list[Notification]:
    """Check the secret and the signature, then list what changed for whom."""
    if not _authorized(request):
        raise WebhookRejected("the Authorization secret does not match")
    _check_signature(request)
    return parse_body(request.body)


def parse_body(body: bytes) -> list[Notification]:
    """An array of `{data: {...}}` (one object in older docs) -> one notification per entry."""
    payload = _json(body)
    entries = payload if isinstance(payload, list) else [payload]
    notifications = []
    for entry in entries:
        data = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(data, dict) or not data.get("healthUserId") or not data.get("dataType"):
            raise WebhookRejected("a notification names a healthUserId and a dataType")
        if data["dataType"] not in Source.data_types:
            continue  # a type this source does not read (the subscriber may list more)
        start, end = _span(data.get("intervals") or [])
        notifications.append(
            Notification(
                external_user_id=str(data["healthUserId"]),
                data_types=(data["dataType"],),
                start=start,
                end=end,
                metadata={"operation": data.get("operation", "")},
            )
        )
    return notifications


def _span(intervals: list[dict]) -> tuple[datetime | None, datetime | None]:
    """The union of the physical intervals, widened by a day on each side (a sleep ending at the
    interval's end, a civil day around it); civil forms vary between sources and are ignored."""
    starts, ends = [], []
    for interval in intervals:
        physical = interval.get("physicalTimeInterval") or {}
        if physical.get("startTime"):
            starts.append(datetime.fromisoformat(physical["startTime"]))
        if physical.get("endTime"):
            ends.append(datetime.fromisoformat(physical["endTime"]))
    return (min(starts) - MARGIN if starts else None, max(ends) + MARGIN if ends else None)
