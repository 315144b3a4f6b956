"""WHOOP API v2 on its wire format (see ../shared/providers/whoop.md), served by integrations.sandbox.

Paths below `/sandbox/whoop` are WHOOP's own: `/oauth/oauth2/auth`, `/oauth/oauth2/token`,
`/developer/v2/...`. Collections: `limit` <= 25, `start` inclusive, `end` exclusive, newest first,
`nextToken` in and `next_token` out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date, datetime, timedelta

import requests
from django.http import HttpRequest, HttpResponse
from django.urls import path

from integrations.sandbox import authorize, catalog, generator, oauth, state
from integrations.sandbox.catalog import Item
from integrations.sandbox.endpoints import (
    decode_cursor,
    deliver,
    encode_cursor,
    endpoints_for,
    form_or_query,
    iso_utc,
    json_response,
    offset_text,
    page,
    parse_instant,
    retry_after_headers,
)
from integrations.sandbox.generator import UTC, Day, stable_int, stable_uuid
from integrations.sandbox.state import Fault

PROVIDER = "whoop"
RULES = oauth.Rules(
    provider=PROVIDER,
    code_lifetime_seconds=600,
    access_lifetime_seconds=3600,
    rotation="always",
    scope_separator=" ",
    scopes=(
        "offline",
        "read:recovery",
        "read:cycles",
        "read:sleep",
        "read:workout",
        "read:profile",
        "read:body_measurement",
    ),
    offline_scope="offline",
    min_state_length=8,
)
MAX_LIMIT = 25
KILOJOULES_PER_KCAL = 4.184
SPORT_NAMES = {
    "running": "running",
    "cycling": "cycling",
    "walking": "walking",
    "strength": "weightlifting",
    "yoga": "yoga",
    "swimming": "swimming",
    "hiking": "hiking/rucking",
}


def rate_headers() -> dict[str, str]:
    used = state.requests_within(PROVIDER, 60)
    return {
        "X-RateLimit-Limit": "100, 100;window=60, 10000;window=86400",
        "X-RateLimit-Remaining": str(max(0, 100 - used)),
        "X-RateLimit-Reset": str(60 - int(state.now()) % 60),
    }


def render_fault(fault: Fault) -> HttpResponse:
    if fault.kind == "rate_limit":
        headers = rate_headers() | {"X-RateLimit-Remaining": "0"} | retry_after_headers(fault)
        return json_response({"message": "Too Many Requests"}, status=429, headers=headers)
    return json_response({"message": "Internal Server Error"}, status=fault.status)


endpoint = endpoints_for(PROVIDER, render_fault)


# --- Payloads ------------------------------------------------------------------------------------
def user_id(account: str) -> int:
    return stable_int(PROVIDER, account, digits=5)


def cycle_id(d: Day) -> int:
    return stable_int(PROVIDER, d.account, "cycle", d.day.isoformat(), digits=8)


def sleep_id(d: Day) -> str:
    return stable_uuid(PROVIDER, d.account, "sleep", d.day.isoformat())


def _stamps(d: Day, moment: datetime) -> dict:
    created = moment + timedelta(hours=1)
    return {
        "user_id": user_id(d.account),
        "created_at": iso_utc(created, True),
        "updated_at": iso_utc(created + timedelta(hours=3), True),
    }


def cycle(d: Day) -> list[Item]:
    start = d.sleep.start
    following = d.day + timedelta(days=1)
    payload = {"id": cycle_id(d), **_stamps(d, d.sleep.end), "start": iso_utc(start, True)}
    if generator.has_data(following, d.zone):
        payload["end"] = iso_utc(
            generator.day(d.provider, d.account, following, d.zone.key).sleep.start, True
        )
    payload |= {
        "timezone_offset": offset_text(start),
        "score_state": "SCORED",
        "score": {
            "strain": d.strain,
            "kilojoule": round(d.total_kcal * KILOJOULES_PER_KCAL, 1),
            "average_heart_rate": d.heart_rate_average,
            "max_heart_rate": d.heart_rate_max,
        },
    }
    return [Item(start.astimezone(UTC), payload, str(payload["id"]))]


def sleep(d: Day) -> list[Item]:
    night = d.sleep
    milli = 1000
    payload = {
        "id": sleep_id(d),
        "cycle_id": cycle_id(d),
        **_stamps(d, night.end),
        "start": iso_utc(night.start, True),
        "end": iso_utc(night.end, True),
        "timezone_offset": offset_text(night.start),
        "nap": False,
        "score_state": "SCORED",
        "score": {
            "stage_summary": {
                "total_in_bed_time_milli": night.in_bed_seconds * milli,
                "total_awake_time_milli": night.seconds_in("awake") * milli,
                "total_no_data_time_milli": 0,
                "total_light_sleep_time_milli": night.seconds_in("light") * milli,
                "total_slow_wave_sleep_time_milli": night.seconds_in("deep") * milli,
                "total_rem_sleep_time_milli": night.seconds_in("rem") * milli,
                "sleep_cycle_count": len(night.stages) // 4,
                "disturbance_count": sum(1 for stage in night.stages if stage.kind == "awake"),
            },
            "sleep_needed": {
                "baseline_milli": 27395716,
                "need_from_sleep_debt_milli": 352230,
                "need_from_recent_strain_milli": 208595,
                "need_from_recent_nap_milli": 0,
            },
            "respiratory_rate": night.respiratory_rate,
            "sleep_performance_percentage": float(night.score),
            "sleep_consistency_percentage": 90.0,
            "sleep_efficiency_percentage": round(100 * night.asleep_seconds / night.in_bed_seconds, 4),
        },
    }
    return [Item(night.start.astimezone(UTC), payload, payload["id"])]


def recovery(d: Day) -> list[Item]:
    payload = {
        "cycle_id": cycle_id(d),
        "sleep_id": sleep_id(d),
        **_stamps(d, d.sleep.end),
        "score_state": "SCORED",
        "score": {
            "user_calibrating": False,
            "recovery_score": float(d.readiness_score),
            "resting_heart_rate": float(d.resting_heart_rate),
            "hrv_rmssd_milli": float(d.hrv_rmssd),
            "spo2_percentage": d.spo2_percent,
            "skin_temp_celsius": round(33.5 + d.temperature_deviation, 2),
        },
    }
    return [Item(d.sleep.start.astimezone(UTC), payload, str(payload["cycle_id"]))]


def workout(d: Day) -> list[Item]:
    items = []
    for w in d.workouts:
        seconds = w.duration_seconds * 1000
        payload = {
            "id": stable_uuid(PROVIDER, d.account, "workout", d.day.isoformat(), w.index),
            **_stamps(d, w.end),
            "start": iso_utc(w.start, True),
            "end": iso_utc(w.end, True),
            "timezone_offset": offset_text(w.start),
            "sport_name": SPORT_NAMES[w.sport],
            "score_state": "SCORED",
            "score": {
                "strain": round(w.kcal / 60, 1),
                "average_heart_rate": w.average_heart_rate,
                "max_heart_rate": w.max_heart_rate,
                "kilojoule": round(w.kcal * KILOJOULES_PER_KCAL, 1),
                "percent_recorded": 100.0,
                "distance_meter": w.distance_m or None,
                "altitude_gain_meter": w.elevation_gain_m or None,
                "altitude_change_meter": 0.0,
                "zone_durations": {
                    "zone_zero_milli": seconds // 20,
                    "zone_one_milli": seconds // 10,
                    "zone_two_milli": seconds // 5,
                    "zone_three_milli": seconds * 2 // 5,
                    "zone_four_milli": seconds // 5,
                    "zone_five_milli": seconds // 20,
                },
            },
        }
        items.append(Item(w.start.astimezone(UTC), payload, payload["id"]))
    return items


CATALOG = {"cycle": cycle, "recovery": recovery, "activity/sleep": sleep, "activity/workout": workout}
SCOPES = {
    "cycle": "read:cycles",
    "recovery": "read:recovery",
    "activity/sleep": "read:sleep",
    "activity/workout": "read:workout",
}


def expected_counts(account: str, first: date, last: date) -> dict[str, int]:
    return catalog.count_items(PROVIDER, account, CATALOG, first, last)


# --- Views ---------------------------------------------------------------------------------------
@endpoint("authorize")
def authorize_view(request: HttpRequest) -> HttpResponse:
    return authorize.authorize(request, RULES, provider_name="WHOOP")


@endpoint("token")
def token_view(request: HttpRequest) -> HttpResponse:
    params = request.POST
    try:
        client_id, secret = oauth.client_credentials(request, params)
        oauth.check_client(RULES, client_id, secret or "")
        if params.get("grant_type") == "authorization_code":
            issued = oauth.exchange_code(
                RULES,
                code=params.get("code", ""),
                client_id=client_id,
                redirect_uri=params.get("redirect_uri"),
                code_verifier=None,
            )
        elif params.get("grant_type") == "refresh_token":
            issued = oauth.refresh(RULES, refresh_token=params.get("refresh_token", ""), client_id=client_id)
        else:
            raise oauth.OAuthError("unsupported_grant_type", "Unsupported grant type.")
    except oauth.OAuthError as error:
        return json_response(
            {"error": error.error, "error_description": error.description}, status=error.status
        )
    body = {"access_token": issued.access.value, "expires_in": oauth.expires_in(issued.access)}
    if issued.refresh is not None:
        body["refresh_token"] = issued.refresh.value
    return json_response(body | {"scope": RULES.join_scopes(issued.access.scopes), "token_type": "bearer"})


@endpoint("revoke")
def revoke_view(request: HttpRequest) -> HttpResponse:
    """`POST /oauth/oauth2/revoke` with `token` (seen in community code)."""
    oauth.revoke(PROVIDER, form_or_query(request).get("token", ""))
    return HttpResponse(status=200)


@endpoint("user_access")
def user_access_view(request: HttpRequest) -> HttpResponse:
    """`DELETE /developer/v2/user/access`: the documented revocation."""
    if request.method != "DELETE":
        return json_response({"message": "Method Not Allowed"}, status=405)
    token = _authenticated(request, "")
    if isinstance(token, HttpResponse):
        return token
    oauth.revoke(PROVIDER, token.value)
    return HttpResponse(status=204)


def _authenticated(request: HttpRequest, scope: str) -> state.Token | HttpResponse:
    try:
        token = oauth.authenticate(PROVIDER, oauth.bearer_token(request))
    except oauth.AuthFailure:
        return json_response({"message": "Authorization was not valid"}, status=401, headers=rate_headers())
    if scope and scope not in token.scopes:
        return json_response({"message": f"Missing scope {scope}"}, status=403, headers=rate_headers())
    return token


def _bad_request(message: str) -> HttpResponse:
    return json_response({"message": message}, status=400, headers=rate_headers())


def collection_view(name: str):
    @endpoint(name)
    def view(request: HttpRequest) -> HttpResponse:
        token = _authenticated(request, SCOPES[name])
        if isinstance(token, HttpResponse):
            return token
        try:
            limit = int(request.GET.get("limit", 10))
            end = (
                parse_instant(request.GET["end"])
                if request.GET.get("end")
                else datetime.fromtimestamp(state.now(), UTC)
            )
            start = (
                parse_instant(request.GET["start"])
                if request.GET.get("start")
                else end - timedelta(days=3650)
            )
        except ValueError:
            return _bad_request("start, end and limit must be ISO 8601 date-times and an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return _bad_request(f"limit must be between 1 and {MAX_LIMIT}")
        offset = decode_cursor(request.GET["nextToken"]) if request.GET.get("nextToken") else 0
        if offset is None:
            return _bad_request("Invalid nextToken")
        newest_first = catalog.newest_first(
            PROVIDER, token.account, CATALOG[name], start, end, offset + limit + 1
        )
        chunk, following = page(newest_first, offset, limit)
        body = {
            "records": [item.payload for item in chunk],
            "next_token": encode_cursor(following) if following is not None else None,
        }
        return json_response(body, headers=rate_headers())

    return view


def _one(request: HttpRequest, name: str, item_id: str) -> HttpResponse:
    token = _authenticated(request, SCOPES[name])
    if isinstance(token, HttpResponse):
        return token
    item = catalog.find(PROVIDER, token.account, CATALOG[name], item_id)
    if item is None:
        return json_response({"message": "Not Found"}, status=404, headers=rate_headers())
    return json_response(item.payload, headers=rate_headers())


@endpoint("cycle_by_id")
def cycle_view(request: HttpRequest, cycle: int) -> HttpResponse:
    return _one(request, "cycle", str(cycle))


@endpoint("cycle_recovery")
def cycle_recovery_view(request: HttpRequest, cycle: int) -> HttpResponse:
    return _one(request, "recovery", str(cycle))


@endpoint("cycle_sleep")
def cycle_sleep_view(request: HttpRequest, cycle: int) -> HttpResponse:
    token = _authenticated(request, "read:sleep")
    if isinstance(token, HttpResponse):
        return token
    found = catalog.find(PROVIDER, token.account, CATALOG["cycle"], str(cycle))
    if found is None:
        return json_response({"message": "Not Found"}, status=404, headers=rate_headers())
    night = catalog.find(
        PROVIDER, token.account, CATALOG["activity/sleep"], _sleep_of_cycle(token.account, cycle)
    )
    return json_response(night.payload if night else {}, headers=rate_headers())


def _sleep_of_cycle(account: str, cycle: int) -> str:
    for item in catalog.every_item(PROVIDER, account, CATALOG["activity/sleep"]):
        if item.payload["cycle_id"] == cycle:
            return item.id
    return ""


@endpoint("sleep_by_id")
def sleep_view(request: HttpRequest, item_id: str) -> HttpResponse:
    return _one(request, "activity/sleep", item_id)


@endpoint("workout_by_id")
def workout_view(request: HttpRequest, item_id: str) -> HttpResponse:
    return _one(request, "activity/workout", item_id)


@endpoint("profile")
def profile_view(request: HttpRequest) -> HttpResponse:
    token = _authenticated(request, "read:profile")
    if isinstance(token, HttpResponse):
        return token
    profile = {
        "user_id": user_id(token.account),
        "email": f"{token.account}@sandbox.example",
        "first_name": token.account.title(),
        "last_name": "Sandbox",
    }
    return json_response(profile, headers=rate_headers())


@endpoint("body_measurement")
def body_view(request: HttpRequest) -> HttpResponse:
    token = _authenticated(request, "read:body_measurement")
    if isinstance(token, HttpResponse):
        return token
    return json_response(
        {"height_meter": 1.8288, "weight_kilogram": 74.2, "max_heart_rate": 192}, headers=rate_headers()
    )


# --- Webhooks ------------------------------------------------------------------------------------
def signature(secret: str, timestamp: str, body: bytes) -> str:
    """WHOOP's `X-WHOOP-Signature`: base64 HMAC-SHA256 of timestamp + raw body."""
    return base64.b64encode(
        hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    ).decode()


def notification(account: str, *, type: str = "sleep.updated", id: str = "", trace_id: str = "") -> dict:
    """A v2 event; recovery events carry the sleep's UUID, as WHOOP sends them."""
    if not id:
        zone = state.account_zone(PROVIDER, account)
        yesterday = generator.day(PROVIDER, account, generator.today(zone) - timedelta(days=1), zone.key)
        id = yesterday_workout_or_sleep(yesterday, type)
    return {
        "user_id": user_id(account),
        "id": id,
        "type": type,
        "trace_id": trace_id or stable_uuid(PROVIDER, account, "trace", state.now()),
    }


def yesterday_workout_or_sleep(d: Day, event_type: str) -> str:
    if event_type.startswith("workout") and d.workouts:
        return stable_uuid(PROVIDER, d.account, "workout", d.day.isoformat(), 0)
    return sleep_id(d)


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
    body = json.dumps(notification(account, **fields), separators=(",", ":")).encode()
    timestamp = str(int(state.now() * 1000))
    key = secret if secret is not None else oauth.registered_client(PROVIDER)[1]
    headers = {
        "Content-Type": "application/json",
        "X-WHOOP-Signature-Timestamp": timestamp,
        "X-WHOOP-Signature": signature(key, timestamp, body),
    }
    return deliver(
        callback_url, data=body, headers=headers, timeout=timeout, attempts=attempts, repeat=repeat
    )


def handshake(callback_url: str, **options: str) -> bool:
    raise ValueError(
        "WHOOP has no verification handshake: the webhook URL is set in its developer dashboard."
    )


urlpatterns = [
    path("oauth/oauth2/auth", authorize_view, name="whoop-authorize"),
    path("oauth/oauth2/token", token_view, name="whoop-token"),
    path("oauth/oauth2/revoke", revoke_view, name="whoop-revoke"),
    path("developer/v2/user/access", user_access_view),
    path("developer/v2/user/profile/basic", profile_view),
    path("developer/v2/user/measurement/body", body_view),
    path("developer/v2/cycle/<int:cycle>", cycle_view),
    path("developer/v2/cycle/<int:cycle>/recovery", cycle_recovery_view),
    path("developer/v2/cycle/<int:cycle>/sleep", cycle_sleep_view),
    path("developer/v2/activity/sleep/<str:item_id>", sleep_view),
    path("developer/v2/activity/workout/<str:item_id>", workout_view),
    *(path(f"developer/v2/{name}", collection_view(name)) for name in CATALOG),
]
