"""Oura API v2 on its wire format (see ../shared/providers/oura.md), served by integrations.sandbox.

Paths below the `/sandbox/oura` prefix are Oura's own: `/oauth/authorize`, `/oauth/token`,
`/oauth/revoke`, `/v2/usercollection/<type>`, `/v2/webhook/subscription`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, time, timedelta
from functools import partial

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from integrations.sandbox import authorize, catalog, generator, oauth, state
from integrations.sandbox.catalog import Item
from integrations.sandbox.endpoints import (
    decode_cursor,
    deliver,
    encode_cursor,
    endpoints_for,
    iso_local,
    json_response,
    page,
    retry_after_headers,
)
from integrations.sandbox.generator import UTC, Day, stable_uuid
from integrations.sandbox.state import Fault

PROVIDER = "oura"
RULES = oauth.Rules(
    provider=PROVIDER,
    code_lifetime_seconds=600,
    access_lifetime_seconds=86400,
    rotation="always",
    scope_separator=" ",
    scopes=("email", "personal", "daily", "heartrate", "workout", "tag", "session", "spo2"),
)
DOCUMENT_PAGE_SIZE = 50
SAMPLE_PAGE_SIZE = 1000
PHASES = {"deep": "1", "light": "2", "rem": "3", "awake": "4"}


def render_fault(fault: Fault) -> HttpResponse:
    if fault.kind == "rate_limit":
        return json_response({"detail": "Too Many Requests"}, status=429, headers=retry_after_headers(fault))
    return json_response({"detail": "Internal Server Error"}, status=fault.status)


endpoint = endpoints_for(PROVIDER, render_fault)


# --- Payloads ------------------------------------------------------------------------------------
def _doc_id(d: Day, kind: str, index: int = 0) -> str:
    return stable_uuid(PROVIDER, d.account, kind, d.day.isoformat(), index)


def _midnight(d: Day) -> datetime:
    return d.start


def daily_activity(d: Day) -> list[Item]:
    stamp = d.at(4)
    payload = {
        "id": _doc_id(d, "daily_activity"),
        "class_5_min": "".join(str(1 + (i * 7 + d.steps) % 5) for i in range(288)),
        "score": d.activity_score,
        "active_calories": round(d.active_kcal),
        "average_met_minutes": 1.5,
        "contributors": {
            "meet_daily_targets": 60,
            "move_every_hour": 95,
            "recovery_time": 100,
            "stay_active": 78,
            "training_frequency": 100,
            "training_volume": 96,
        },
        "equivalent_walking_distance": round(d.distance_m),
        "high_activity_met_minutes": 12,
        "high_activity_time": 180,
        "inactivity_alerts": 1,
        "low_activity_met_minutes": 201,
        "low_activity_time": 14640,
        "medium_activity_met_minutes": 163,
        "medium_activity_time": 2280,
        "met": {"interval": 60.0, "items": [0.9, 0.9, 1.2, 3.4], "timestamp": iso_local(stamp)},
        "meters_to_target": 1200,
        "non_wear_time": 1800,
        "resting_time": 30120,
        "sedentary_met_minutes": 11,
        "sedentary_time": 37560,
        "steps": d.steps,
        "target_calories": 500,
        "target_meters": 10000,
        "total_calories": round(d.total_kcal),
        "day": d.day.isoformat(),
        "timestamp": iso_local(stamp),
    }
    return [Item(stamp, payload, payload["id"])]


def daily_sleep(d: Day) -> list[Item]:
    payload = {
        "id": _doc_id(d, "daily_sleep"),
        "contributors": {
            "deep_sleep": 95,
            "efficiency": 91,
            "latency": 80,
            "rem_sleep": 98,
            "restfulness": 77,
            "timing": 85,
            "total_sleep": 90,
        },
        "day": d.day.isoformat(),
        "score": d.sleep.score,
        "timestamp": iso_local(_midnight(d)),
    }
    return [Item(_midnight(d), payload, payload["id"])]


def _readiness(d: Day) -> dict:
    return {
        "contributors": {
            "activity_balance": 84,
            "body_temperature": 99,
            "hrv_balance": 78,
            "previous_day_activity": 91,
            "previous_night": 88,
            "recovery_index": 100,
            "resting_heart_rate": 96,
            "sleep_balance": 87,
            "sleep_regularity": 90,
        },
        "score": d.readiness_score,
        "temperature_deviation": d.temperature_deviation,
        "temperature_trend_deviation": round(d.temperature_deviation / 2, 2),
    }


def daily_readiness(d: Day) -> list[Item]:
    payload = {
        "id": _doc_id(d, "daily_readiness"),
        **_readiness(d),
        "day": d.day.isoformat(),
        "timestamp": iso_local(_midnight(d)),
    }
    return [Item(_midnight(d), payload, payload["id"])]


def sleep(d: Day) -> list[Item]:
    night = d.sleep
    five_minutes = [
        PHASES[_stage_at(night, night.start + timedelta(minutes=5 * i))]
        for i in range(night.in_bed_seconds // 300)
    ]
    payload = {
        "id": _doc_id(d, "sleep"),
        "average_breath": night.respiratory_rate,
        "average_heart_rate": night.average_heart_rate,
        "average_hrv": night.average_hrv,
        "awake_time": night.seconds_in("awake"),
        "bedtime_start": iso_local(night.start),
        "bedtime_end": iso_local(night.end),
        "day": d.day.isoformat(),
        "deep_sleep_duration": night.seconds_in("deep"),
        "efficiency": round(100 * night.asleep_seconds / night.in_bed_seconds),
        "heart_rate": {
            "interval": 300.0,
            "items": [night.lowest_heart_rate + (i % 7) for i in range(12)],
            "timestamp": iso_local(night.start, milliseconds=True),
        },
        "hrv": {
            "interval": 300.0,
            "items": [night.average_hrv - 5 + (i % 9) for i in range(12)],
            "timestamp": iso_local(night.start, milliseconds=True),
        },
        "latency": night.latency_seconds,
        "light_sleep_duration": night.seconds_in("light"),
        "low_battery_alert": False,
        "lowest_heart_rate": night.lowest_heart_rate,
        "movement_30_sec": "1112111222211111",
        "period": 0,
        "readiness": _readiness(d),
        "readiness_score_delta": 0,
        "rem_sleep_duration": night.seconds_in("rem"),
        "restless_periods": 212,
        "sleep_phase_5_min": "".join(five_minutes),
        "sleep_score_delta": 0,
        "sleep_algorithm_version": "v2",
        "time_in_bed": night.in_bed_seconds,
        "total_sleep_duration": night.asleep_seconds,
        "type": "long_sleep",
    }
    return [Item(_midnight(d), payload, payload["id"])]


def _stage_at(night: generator.Sleep, moment: datetime) -> str:
    for stage in night.stages:
        if stage.start <= moment < stage.end:
            return stage.kind
    return "awake"


def daily_spo2(d: Day) -> list[Item]:
    payload = {
        "id": _doc_id(d, "daily_spo2"),
        "day": d.day.isoformat(),
        "spo2_percentage": {"average": d.spo2_percent},
        "breathing_disturbance_index": 3,
    }
    return [Item(_midnight(d), payload, payload["id"])]


def daily_stress(d: Day) -> list[Item]:
    payload = {
        "id": _doc_id(d, "daily_stress"),
        "day": d.day.isoformat(),
        "stress_high": 3600,
        "recovery_high": 7200,
        "day_summary": "normal",
    }
    return [Item(_midnight(d), payload, payload["id"])]


def vo2_max(d: Day) -> list[Item]:
    payload = {
        "id": _doc_id(d, "vO2_max"),
        "day": d.day.isoformat(),
        "timestamp": iso_local(_midnight(d)),
        "vo2_max": 40 + d.hrv_rmssd % 8,
    }
    return [Item(_midnight(d), payload, payload["id"])]


def workout(d: Day) -> list[Item]:
    items = []
    for w in d.workouts:
        payload = {
            "id": _doc_id(d, "workout", w.index),
            "activity": w.sport,
            "calories": w.kcal,
            "day": d.day.isoformat(),
            "distance": w.distance_m or None,
            "end_datetime": iso_local(w.end),
            "intensity": ("easy", "moderate", "hard")[w.average_heart_rate % 3],
            "label": None,
            "source": "autodetected",
            "start_datetime": iso_local(w.start),
        }
        items.append(Item(_midnight(d), payload, payload["id"]))
    return items


def heartrate(d: Day) -> list[Item]:
    wake = d.sleep.end.astimezone(UTC)
    return [
        Item(moment, partial(_beat, moment, bpm, moment < wake)) for moment, bpm in generator.heart_samples(d)
    ]


def _beat(moment: datetime, bpm: int, asleep: bool) -> dict:
    return {
        "bpm": bpm,
        "source": "sleep" if asleep else "awake",
        "timestamp": moment.isoformat(timespec="seconds"),
        "timestamp_unix": int(moment.timestamp() * 1000),
    }


def _nothing(d: Day) -> list[Item]:
    return []


# Data types with a `day`: the window filters documents on `timestamp` (or the day) like Oura does.
DOCUMENTS = {
    "daily_activity": (daily_activity, "daily"),
    "daily_sleep": (daily_sleep, "daily"),
    "daily_readiness": (daily_readiness, "daily"),
    "sleep": (sleep, "daily"),
    "daily_spo2": (daily_spo2, "spo2"),
    "daily_stress": (daily_stress, "daily"),
    "vO2_max": (vo2_max, "daily"),
    "workout": (workout, "workout"),
    "sleep_time": (_nothing, "daily"),
    "daily_resilience": (_nothing, "daily"),
    "daily_cardiovascular_age": (_nothing, "daily"),
    "session": (_nothing, "session"),
    "tag": (_nothing, "tag"),
    "enhanced_tag": (_nothing, "tag"),
    "rest_mode_period": (_nothing, "daily"),
}
SAMPLES = {
    "heartrate": (heartrate, "heartrate"),
    "interbeat_interval": (_nothing, "heartrate"),
    "ring_battery_level": (_nothing, "daily"),
}
CATALOG = {name: build for name, (build, _) in {**DOCUMENTS, **SAMPLES}.items() if build is not _nothing}


def expected_counts(account: str, first: date, last: date) -> dict[str, int]:
    return catalog.count_items(PROVIDER, account, CATALOG, first, last)


# --- Views ---------------------------------------------------------------------------------------
@endpoint("authorize")
def authorize_view(request: HttpRequest) -> HttpResponse:
    return authorize.authorize(request, RULES, provider_name="Oura")


@endpoint("token")
def token_view(request: HttpRequest) -> HttpResponse:
    params = request.POST
    try:
        client_id, secret = oauth.client_credentials(request, params)
        oauth.check_client(RULES, client_id, secret or "")
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            issued = oauth.exchange_code(
                RULES,
                code=params.get("code", ""),
                client_id=client_id,
                redirect_uri=params.get("redirect_uri"),
                code_verifier=None,
            )
        elif grant_type == "refresh_token":
            issued = oauth.refresh(RULES, refresh_token=params.get("refresh_token", ""), client_id=client_id)
        else:
            raise oauth.OAuthError("unsupported_grant_type")
    except oauth.OAuthError as error:
        return json_response(
            {"error": error.error, "error_description": error.description}, status=error.status
        )
    body = {
        "token_type": "bearer",
        "access_token": issued.access.value,
        "expires_in": oauth.expires_in(issued.access),
        "refresh_token": issued.refresh.value,
    }
    return json_response(body)


@endpoint("revoke")
def revoke_view(request: HttpRequest) -> HttpResponse:
    value = request.GET.get("access_token") or request.POST.get("access_token", "")
    if not oauth.revoke(PROVIDER, value):
        return json_response({"error": "invalid_token"}, status=400)
    return json_response({})


def _authenticated(request: HttpRequest, scope: str) -> state.Token | HttpResponse:
    try:
        token = oauth.authenticate(PROVIDER, oauth.bearer_token(request))
    except oauth.AuthFailure as failure:
        return json_response({"detail": str(failure)}, status=401)
    if scope not in token.scopes and not (scope == "spo2" and "daily" in token.scopes):
        return json_response({"detail": f"Missing scope: {scope}"}, status=403)
    return token


def _validation_error(field: str, message: str) -> HttpResponse:
    detail = [{"loc": ["query", field], "msg": message, "type": "value_error"}]
    return json_response({"detail": detail}, status=422)


def _bound(raw: str, account: str) -> datetime:
    """A query bound as an instant: a date is local midnight, a naive datetime is local time."""
    zone = state.account_zone(PROVIDER, account)
    if len(raw) == 10:
        return datetime.combine(date.fromisoformat(raw), time(0), zone)
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _document_window(request: HttpRequest, account: str, name: str) -> tuple[datetime, datetime]:
    zone = state.account_zone(PROVIDER, account)
    end_raw = request.GET.get("end_date") or generator.today(zone).isoformat()
    end = _bound(end_raw, account)
    start_raw = request.GET.get("start_date") or (end.date() - timedelta(days=1)).isoformat()
    start = _bound(start_raw, account)
    if name == "sleep":  # start_date < day <= end_date
        return start + timedelta(days=1), datetime.combine(end.date() + timedelta(days=1), time(0), zone)
    if name == "workout":  # by day, both ends inclusive
        return start, datetime.combine(end.date() + timedelta(days=1), time(0), zone)
    # The others by `timestamp`: a date-only end_date is midnight and drops the last day.
    return start, end if len(end_raw) == 10 else end + timedelta(microseconds=1)


def _sample_window(request: HttpRequest, account: str) -> tuple[datetime, datetime]:
    now = datetime.fromtimestamp(state.now(), UTC).isoformat()
    end = _bound(request.GET.get("end_datetime") or now, account)
    start = _bound(request.GET.get("start_datetime") or (end - timedelta(days=1)).isoformat(), account)
    return start, end


def collection_view(name: str, build: catalog.Builder, scope: str, samples: bool):
    @endpoint(name)
    def view(request: HttpRequest) -> HttpResponse:
        token = _authenticated(request, scope)
        if isinstance(token, HttpResponse):
            return token
        try:
            window = _sample_window if samples else _document_window
            start, end = window(request, token.account) if samples else window(request, token.account, name)
        except ValueError:
            return _validation_error("start_date", "invalid date or datetime")
        offset = decode_cursor(request.GET.get("next_token", "")) if request.GET.get("next_token") else 0
        if offset is None:
            return json_response({"detail": "Invalid next_token"}, status=400)
        items = catalog.collect(PROVIDER, token.account, build, start, end)
        chunk, following = page(items, offset, SAMPLE_PAGE_SIZE if samples else DOCUMENT_PAGE_SIZE)
        next_token = encode_cursor(following) if following is not None else None
        return json_response({"data": [item.payload for item in chunk], "next_token": next_token})

    return view


def document_view(name: str, build: catalog.Builder, scope: str):
    @endpoint(f"{name}_document")
    def view(request: HttpRequest, document_id: str) -> HttpResponse:
        token = _authenticated(request, scope)
        if isinstance(token, HttpResponse):
            return token
        item = catalog.find(PROVIDER, token.account, build, document_id)
        if item is None:
            return json_response({"detail": "Document not found."}, status=404)
        return json_response(item.payload)

    return view


@endpoint("personal_info")
def personal_info_view(request: HttpRequest) -> HttpResponse:
    token = _authenticated(request, "personal")
    if isinstance(token, HttpResponse):
        return token
    return json_response(personal_info(token.account))


def personal_info(account: str) -> dict:
    return {
        "id": user_id(account),
        "age": 38,
        "weight": 72.4,
        "height": 1.78,
        "biological_sex": "male",
        "email": f"{account}@sandbox.example",
    }


def user_id(account: str) -> str:
    return hashlib.sha256(f"oura|{account}".encode()).hexdigest()[:8]


# --- Webhooks ------------------------------------------------------------------------------------
def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Oura's `x-oura-signature`: uppercase hex HMAC-SHA256 of timestamp + raw body."""
    return hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).hexdigest().upper()


def notification(
    account: str,
    *,
    data_type: str = "sleep",
    event_type: str = "update",
    object_id: str = "",
    event_time: str = "",
) -> dict:
    moment = datetime.fromtimestamp(state.now(), UTC)
    return {
        "event_type": event_type,
        "data_type": data_type,
        "object_id": object_id or stable_uuid(PROVIDER, account, data_type, "latest"),
        "event_time": event_time or moment.isoformat(timespec="seconds"),
        "user_id": user_id(account),
    }


def send_webhook(
    callback_url: str,
    *,
    account: str,
    secret: str | None = None,
    timeout: float = 10,
    attempts: int = 1,
    repeat: int = 0,
    **fields: str,
) -> requests.Response:
    """POST one signed event to `callback_url` as Oura does (secret: the client secret by default)."""
    body = json.dumps(notification(account, **fields), separators=(",", ":")).encode()
    timestamp = str(int(state.now()))
    key = secret if secret is not None else oauth.registered_client(PROVIDER)[1]
    headers = {
        "Content-Type": "application/json",
        "x-oura-timestamp": timestamp,
        "x-oura-signature": signature(key, timestamp, body),
    }
    return deliver(
        callback_url, data=body, headers=headers, timeout=timeout, attempts=attempts, repeat=repeat
    )


def handshake(callback_url: str, *, verification_token: str = "", timeout: float = 10) -> bool:
    """Oura's GET challenge: the subscriber must echo `{"challenge": ...}` with 200."""
    challenge = state.new_secret(8)
    token = verification_token or getattr(settings, "OURA_WEBHOOK_VERIFICATION_TOKEN", "") or "sandbox"
    params = {"verification_token": token, "challenge": challenge}
    response = requests.get(callback_url, params=params, timeout=timeout)
    try:
        return response.status_code == 200 and response.json().get("challenge") == challenge
    except ValueError:
        return False


@endpoint("webhook_subscription")
def subscriptions_view(request: HttpRequest, subscription_id: str = "") -> HttpResponse:
    client_id, secret = oauth.registered_client(PROVIDER)
    if (request.headers.get("x-client-id"), request.headers.get("x-client-secret")) != (client_id, secret):
        return json_response({"detail": "Invalid client credentials"}, status=401)
    stored = state.store.subscriptions.setdefault(PROVIDER, [])
    if request.method == "GET" and not subscription_id:
        return json_response(stored)
    if request.method == "POST":
        return _create_subscription(request, stored)
    found = next((s for s in stored if s["id"] == subscription_id), None)
    if found is None:
        return json_response({"detail": "Subscription not found"}, status=403)
    if request.method == "DELETE":
        with state.lock:
            stored.remove(found)
        return HttpResponse(status=204)
    if request.method == "PUT":
        return _update_subscription(request, found)
    return json_response(found)


def _expiration() -> str:
    return (datetime.fromtimestamp(state.now(), UTC) + timedelta(days=90)).isoformat(timespec="seconds")


def _update_subscription(request: HttpRequest, found: dict) -> HttpResponse:
    """`PUT /v2/webhook/subscription/{id}`: a changed callback URL is verified again."""
    try:
        body = json.loads(request.body)
        token = body["verification_token"]
    except (ValueError, KeyError):
        return _validation_error("body", "verification_token is required")
    callback_url = body.get("callback_url") or found["callback_url"]
    if callback_url != found["callback_url"] and not handshake(callback_url, verification_token=token):
        return json_response({"detail": "Verification of the callback URL failed"}, status=400)
    with state.lock:
        found.update(
            {
                "callback_url": callback_url,
                "event_type": body.get("event_type") or found["event_type"],
                "data_type": body.get("data_type") or found["data_type"],
            }
        )
    return json_response(found)


@endpoint("webhook_subscription_renew")
def renew_subscription_view(request: HttpRequest, subscription_id: str) -> HttpResponse:
    """`PUT /v2/webhook/subscription/renew/{id}`: a new `expiration_time`."""
    client_id, secret = oauth.registered_client(PROVIDER)
    if (request.headers.get("x-client-id"), request.headers.get("x-client-secret")) != (client_id, secret):
        return json_response({"detail": "Invalid client credentials"}, status=401)
    if request.method != "PUT":
        return json_response({"detail": "Method Not Allowed"}, status=405)
    stored = state.store.subscriptions.setdefault(PROVIDER, [])
    found = next((s for s in stored if s["id"] == subscription_id), None)
    if found is None:
        return json_response({"detail": "Subscription not found"}, status=403)
    with state.lock:
        found["expiration_time"] = _expiration()
    return json_response(found)


def _create_subscription(request: HttpRequest, stored: list[dict]) -> HttpResponse:
    try:
        body = json.loads(request.body)
        callback_url, token = body["callback_url"], body["verification_token"]
    except (ValueError, KeyError):
        return _validation_error("body", "callback_url and verification_token are required")
    pair = (body.get("event_type"), body.get("data_type"))
    if any((item["event_type"], item["data_type"]) == pair for item in stored):
        return json_response({"detail": "A subscription for this event and data type exists"}, status=409)
    if not handshake(callback_url, verification_token=token):
        return json_response({"detail": "Verification of the callback URL failed"}, status=400)
    subscription = {
        "id": stable_uuid(PROVIDER, callback_url, body.get("event_type"), body.get("data_type")),
        "callback_url": callback_url,
        "event_type": body.get("event_type"),
        "data_type": body.get("data_type"),
        "expiration_time": _expiration(),
    }
    with state.lock:  # not around the handshake: its callback may be served by this very process
        stored.append(subscription)
    return json_response(subscription, status=201)


collection_patterns = [
    path("personal_info", personal_info_view),
    *(
        path(name, collection_view(name, build, scope, samples=False))
        for name, (build, scope) in DOCUMENTS.items()
    ),
    *(
        path(name, collection_view(name, build, scope, samples=True))
        for name, (build, scope) in SAMPLES.items()
    ),
    *(
        path(f"{name}/<str:document_id>", document_view(name, build, scope))
        for name, (build, scope) in DOCUMENTS.items()
    ),
]

urlpatterns = [
    path("oauth/authorize", authorize_view, name="oura-authorize"),
    path("oauth/token", token_view, name="oura-token"),
    path("oauth/revoke", revoke_view, name="oura-revoke"),
    path("v2/webhook/subscription", subscriptions_view),
    path("v2/webhook/subscription/renew/<str:subscription_id>", renew_subscription_view),
    path("v2/webhook/subscription/<str:subscription_id>", subscriptions_view),
    path("v2/usercollection/", include(collection_patterns)),
    # Oura's own sandbox prefix: the same shapes, here the same generated data.
    path("v2/sandbox/usercollection/", include(collection_patterns)),
]
