"""Strava API v3 on its wire format (see ../shared/providers/strava.md), served by integrations.sandbox.

Paths below `/sandbox/strava` are Strava's own: `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`,
`/oauth/deauthorize`, `/api/v3/...`. Activities page with `page`/`per_page` (<= 200) and filter
with `before`/`after`; `start_date_local` carries Strava's misleading `Z`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

from integrations.sandbox import authorize, catalog, generator, oauth, state
from integrations.sandbox.catalog import Item
from integrations.sandbox.endpoints import (
    count_served,
    deliver,
    endpoints_for,
    form_or_query,
    iso_utc,
    json_response,
    retry_after_headers,
)
from integrations.sandbox.generator import Day, Workout, stable_int
from integrations.sandbox.state import Fault

PROVIDER = "strava"
RULES = oauth.Rules(
    provider=PROVIDER,
    code_lifetime_seconds=600,
    access_lifetime_seconds=6 * 3600,
    rotation="never",  # Strava may rotate: the rotate_refresh fault makes the next refresh do it
    scope_separator=",",
    scopes=("read", "activity:read_all", "profile:read_all"),
)
MAX_PER_PAGE = 200
SPORT_TYPES = {
    "running": "Run",
    "cycling": "Ride",
    "walking": "Walk",
    "strength": "WeightTraining",
    "yoga": "Yoga",
    "swimming": "Swim",
    "hiking": "Hike",
}


def rate_headers() -> dict[str, str]:
    short, daily = state.requests_within(PROVIDER, 900), state.requests_within(PROVIDER, 86400)
    return {
        "X-RateLimit-Limit": "200,2000",
        "X-RateLimit-Usage": f"{short},{daily}",
        "X-ReadRateLimit-Limit": "100,1000",
        "X-ReadRateLimit-Usage": f"{short},{daily}",
    }


def _error(message: str, resource: str, field: str, code: str, status: int) -> HttpResponse:
    body = {"message": message, "errors": [{"resource": resource, "field": field, "code": code}]}
    return json_response(body, status=status, headers=rate_headers())


def render_fault(fault: Fault) -> HttpResponse:
    if fault.kind == "rate_limit":
        body = {
            "message": "Rate Limit Exceeded",
            "errors": [{"resource": "Application", "field": "rate limit", "code": "exceeded"}],
        }
        return json_response(body, status=429, headers=rate_headers() | retry_after_headers(fault))
    return json_response({"message": "Internal Server Error", "errors": []}, status=fault.status)


endpoint = endpoints_for(PROVIDER, render_fault)


# --- Payloads ------------------------------------------------------------------------------------
def athlete_id(account: str) -> int:
    return stable_int(PROVIDER, account, digits=8)


def athlete(account: str) -> dict:
    return {
        "id": athlete_id(account),
        "username": account,
        "resource_state": 2,
        "firstname": account.title(),
        "lastname": "S.",
        "city": "Berlin",
        "state": "Berlin",
        "country": "Germany",
        "sex": "F",
        "premium": True,
        "summit": True,
        "created_at": "2017-11-14T02:30:05Z",
        "updated_at": "2024-12-30T16:01:04Z",
        "profile_medium": "",
        "profile": "",
    }


def activity_id(d: Day, w: Workout) -> int:
    return stable_int(PROVIDER, d.account, d.day.isoformat(), w.index, digits=11)


def summary(d: Day, w: Workout) -> dict:
    offset = w.start.utcoffset() or timedelta(0)
    hours, minutes = divmod(int(offset.total_seconds()) // 60, 60)
    moving = int(w.duration_seconds * 0.96)
    body = {
        "resource_state": 2,
        "athlete": {"id": athlete_id(d.account), "resource_state": 1},
        "name": f"{'Morning' if w.start.hour < 12 else 'Evening'} {SPORT_TYPES[w.sport]}",
        "distance": w.distance_m,
        "moving_time": moving,
        "elapsed_time": w.duration_seconds,
        "total_elevation_gain": w.elevation_gain_m,
        "type": SPORT_TYPES[w.sport],
        "sport_type": SPORT_TYPES[w.sport],
        "workout_type": 0,
        "upload_id": activity_id(d, w) + 1,
        "id": activity_id(d, w),
        "external_id": f"sandbox_{activity_id(d, w)}",
        "start_date": iso_utc(w.start),
        "start_date_local": w.start.replace(tzinfo=None).isoformat(timespec="seconds") + "Z",
        "timezone": f"(GMT{'+' if hours >= 0 else '-'}{abs(hours):02d}:{minutes:02d}) {d.zone.key}",
        "utc_offset": float(offset.total_seconds()),
        "location_city": None,
        "location_state": None,
        "location_country": "Germany",
        "achievement_count": 0,
        "kudos_count": 3,
        "comment_count": 0,
        "athlete_count": 1,
        "photo_count": 0,
        "map": {"id": f"a{activity_id(d, w)}", "summary_polyline": "", "resource_state": 2},
        "trainer": False,
        "commute": False,
        "manual": False,
        "private": False,
        "visibility": "everyone",
        "flagged": False,
        "gear_id": None,
        "start_latlng": [52.52, 13.40],
        "end_latlng": [52.53, 13.41],
        "average_speed": round(w.distance_m / moving, 3) if moving else 0.0,
        "max_speed": 0.0,
        "has_heartrate": True,
        "average_heartrate": float(w.average_heart_rate),
        "max_heartrate": float(w.max_heart_rate),
        "heartrate_opt_out": False,
        "display_hide_heartrate_option": True,
        "elev_high": 62.1,
        "elev_low": 15.4,
        "pr_count": 0,
        "total_photo_count": 0,
        "has_kudoed": False,
        "suffer_score": round(w.kcal / 10, 1),
    }
    if w.sport == "cycling":  # rides report mechanical work in kJ, not energy burned
        body |= {
            "average_watts": 180.0,
            "weighted_average_watts": 190,
            "max_watts": 420,
            "device_watts": True,
            "kilojoules": round(180.0 * moving / 1000, 1),
        }
    return body


def activities(d: Day) -> list[Item]:
    return [Item(w.start.astimezone(UTC), summary(d, w), str(activity_id(d, w))) for w in d.workouts]


def detailed(d: Day, w: Workout) -> dict:
    return summary(d, w) | {
        "resource_state": 3,
        "description": "",
        "calories": w.kcal,
        "device_name": "Garmin Forerunner 265",
        "laps": [lap(d, w)],
        "splits_metric": [],
    }


def lap(d: Day, w: Workout) -> dict:
    return {
        "id": activity_id(d, w) * 10,
        "name": "Lap 1",
        "elapsed_time": w.duration_seconds,
        "moving_time": int(w.duration_seconds * 0.96),
        "start_date": iso_utc(w.start),
        "start_date_local": w.start.replace(tzinfo=None).isoformat(timespec="seconds") + "Z",
        "distance": w.distance_m,
        "average_heartrate": float(w.average_heart_rate),
        "max_heartrate": float(w.max_heart_rate),
        "lap_index": 1,
        "split": 1,
    }


CATALOG = {"activities": activities}


def expected_counts(account: str, first: date, last: date) -> dict[str, int]:
    return catalog.count_items(PROVIDER, account, CATALOG, first, last)


def _find_workout(account: str, activity: int) -> tuple[Day, Workout] | None:
    item = catalog.find(PROVIDER, account, activities, str(activity))
    if item is None:
        return None
    moment = datetime.fromisoformat(item.payload["start_date"].replace("Z", "+00:00"))
    zone = state.account_zone(PROVIDER, account)
    d = generator.day(PROVIDER, account, moment.astimezone(zone).date(), zone.key)
    return next((d, w) for w in d.workouts if activity_id(d, w) == activity)


# --- Views ---------------------------------------------------------------------------------------
@endpoint("authorize")
def authorize_view(request: HttpRequest) -> HttpResponse:
    return authorize.authorize(request, RULES, provider_name="Strava", echo_scope=True)


@endpoint("token")
def token_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    try:
        client_id, secret = oauth.client_credentials(request, params)
        oauth.check_client(RULES, client_id, secret or "")
        if params.get("grant_type") == "authorization_code":
            issued = oauth.exchange_code(
                RULES, code=params.get("code", ""), client_id=client_id, redirect_uri=None, code_verifier=None
            )
        elif params.get("grant_type") == "refresh_token":
            issued = oauth.refresh(RULES, refresh_token=params.get("refresh_token", ""), client_id=client_id)
        else:
            return _error("Bad Request", "Application", "grant_type", "invalid", 400)
    except oauth.OAuthError as error:
        resource, field = _blame(error, params)
        return _error(
            "Bad Request" if error.status == 400 else "Authorization Error",
            resource,
            field,
            "invalid",
            error.status,
        )
    body = {
        "token_type": "Bearer",
        "expires_at": int(issued.access.expires_at),
        "expires_in": oauth.expires_in(issued.access),
        "refresh_token": issued.refresh.value,
        "access_token": issued.access.value,
    }
    if params.get("grant_type") == "authorization_code":
        body["athlete"] = athlete(issued.access.account)
    return json_response(body, headers=rate_headers())


def _blame(error: oauth.OAuthError, params: dict) -> tuple[str, str]:
    if error.error == "invalid_client":
        return "Application", "client_id"
    if params.get("grant_type") == "refresh_token":
        return "RefreshToken", "refresh_token"
    return "AuthorizationCode", "code"


@endpoint("revoke")
def revoke_view(request: HttpRequest) -> HttpResponse:
    """`POST /oauth/revoke` (since 2026-06-01): token + Basic client credentials."""
    params = form_or_query(request)
    try:
        client_id, secret = oauth.client_credentials(request, params)
        oauth.check_client(RULES, client_id, secret or "")
    except oauth.OAuthError:
        return _error("Authorization Error", "Application", "client_id", "invalid", 401)
    if not oauth.revoke(PROVIDER, params.get("token", "")):
        return _error("Bad Request", "Token", "token", "invalid", 400)
    return json_response({}, headers=rate_headers())


@endpoint("deauthorize")
def deauthorize_view(request: HttpRequest) -> HttpResponse:
    """Legacy `POST /oauth/deauthorize?access_token=`: every token of the athlete and app dies."""
    value = form_or_query(request).get("access_token", "") or oauth.bearer_token(request)
    token = state.store.tokens.get(value)
    if token is None or not oauth.revoke(PROVIDER, value):
        return _error("Authorization Error", "Athlete", "access_token", "invalid", 401)
    oauth.revoke_account(PROVIDER, token.account)
    return json_response({"access_token": value}, headers=rate_headers())


def _authenticated(request: HttpRequest, scopes: tuple[str, ...] = ()) -> state.Token | HttpResponse:
    try:
        token = oauth.authenticate(PROVIDER, oauth.bearer_token(request))
    except oauth.AuthFailure:
        return _error("Authorization Error", "Athlete", "access_token", "invalid", 401)
    if scopes and not set(scopes) & set(token.scopes):
        return _error("Authorization Error", "AccessToken", "activity:read_permission", "missing", 401)
    return token


@endpoint("athlete")
def athlete_view(request: HttpRequest) -> HttpResponse:
    token = _authenticated(request)
    if isinstance(token, HttpResponse):
        return token
    return json_response(
        athlete(token.account) | {"resource_state": 3, "weight": 61.2}, headers=rate_headers()
    )


@endpoint("athlete_zones")
def zones_view(request: HttpRequest) -> HttpResponse:
    token = _authenticated(request)
    if isinstance(token, HttpResponse):
        return token
    bounds = [(0, 123), (123, 153), (153, 169), (169, 184), (184, -1)]
    zones = {"custom_zones": False, "zones": [{"min": low, "max": high} for low, high in bounds]}
    return json_response({"heart_rate": zones}, headers=rate_headers())


@endpoint("athlete_stats")
def stats_view(request: HttpRequest, athlete: int) -> HttpResponse:
    token = _authenticated(request)
    if isinstance(token, HttpResponse):
        return token
    if athlete != athlete_id(token.account):
        return _error("Record Not Found", "Athlete", "id", "invalid", 404)
    empty = {"count": 0, "distance": 0.0, "moving_time": 0, "elapsed_time": 0, "elevation_gain": 0.0}
    totals = {
        f"{period}_{sport}_totals": empty
        for period in ("recent", "ytd", "all")
        for sport in ("run", "ride", "swim")
    }
    return json_response(
        {"biggest_ride_distance": 0.0, "biggest_climb_elevation_gain": 0.0, **totals}, headers=rate_headers()
    )


@endpoint("athlete_activities")
def activities_view(request: HttpRequest) -> HttpResponse:
    token = _authenticated(request, ("activity:read", "activity:read_all"))
    if isinstance(token, HttpResponse):
        return token
    try:
        page_number = int(request.GET.get("page", 1))
        per_page = min(int(request.GET.get("per_page", 30)), MAX_PER_PAGE)
        before = int(request.GET["before"]) if request.GET.get("before") else None
        after = int(request.GET["after"]) if request.GET.get("after") else None
    except ValueError:
        return _error("Bad Request", "Activity", "page", "invalid", 400)
    if page_number < 1 or per_page < 1:
        return _error("Bad Request", "Activity", "page", "invalid", 400)
    start = (
        datetime.fromtimestamp(after, UTC) + timedelta(microseconds=1)
        if after is not None
        else datetime(1970, 1, 1, tzinfo=UTC)
    )
    end = (
        datetime.fromtimestamp(before, UTC)
        if before is not None
        else datetime.fromtimestamp(state.now(), UTC)
    )
    items = catalog.collect(PROVIDER, token.account, activities, start, end)
    if not (after is not None and before is None):  # Strava lists newest first unless only `after` is given
        items.reverse()
    chunk = items[(page_number - 1) * per_page : page_number * per_page]
    count_served(len(chunk))
    return json_response([item.payload for item in chunk], headers=rate_headers())


def _activity(request: HttpRequest, activity: int) -> tuple[Day, Workout] | HttpResponse:
    token = _authenticated(request, ("activity:read", "activity:read_all"))
    if isinstance(token, HttpResponse):
        return token
    found = _find_workout(token.account, activity)
    if found is None:
        return _error("Record Not Found", "Activity", "id", "invalid", 404)
    return found


@endpoint("activity")
def activity_view(request: HttpRequest, activity: int) -> HttpResponse:
    found = _activity(request, activity)
    return (
        found if isinstance(found, HttpResponse) else json_response(detailed(*found), headers=rate_headers())
    )


@endpoint("activity_laps")
def laps_view(request: HttpRequest, activity: int) -> HttpResponse:
    found = _activity(request, activity)
    return found if isinstance(found, HttpResponse) else json_response([lap(*found)], headers=rate_headers())


@endpoint("activity_zones")
def activity_zones_view(request: HttpRequest, activity: int) -> HttpResponse:
    found = _activity(request, activity)
    if isinstance(found, HttpResponse):
        return found
    seconds = found[1].duration_seconds
    buckets = [
        {"min": 0, "max": 123, "time": seconds // 10},
        {"min": 123, "max": 153, "time": seconds // 5},
        {"min": 153, "max": 169, "time": seconds // 2},
        {"min": 169, "max": -1, "time": seconds // 5},
    ]
    return json_response(
        [{"type": "heartrate", "sensor_based": True, "distribution_buckets": buckets}], headers=rate_headers()
    )


@endpoint("activity_streams")
def streams_view(request: HttpRequest, activity: int) -> HttpResponse:
    found = _activity(request, activity)
    if isinstance(found, HttpResponse):
        return found
    series = streams(*found)
    keys = [key for key in request.GET.get("keys", "time").split(",") if key in series]
    if "time" not in keys:
        keys.insert(0, "time")
    meta = {"series_type": "distance", "original_size": len(series["time"]), "resolution": "high"}
    if request.GET.get("key_by_type") == "true":
        return json_response({key: {"data": series[key], **meta} for key in keys}, headers=rate_headers())
    return json_response([{"type": key, "data": series[key], **meta} for key in keys], headers=rate_headers())


def streams(d: Day, w: Workout) -> dict[str, list]:
    times = list(range(0, w.duration_seconds, 5))
    speed = w.distance_m / w.duration_seconds if w.duration_seconds else 0
    return {
        "time": times,
        "distance": [round(t * speed, 1) for t in times],
        "heartrate": [min(w.max_heart_rate, w.average_heart_rate - 15 + (t // 60) % 30) for t in times],
        "altitude": [round(40 + (t // 30) % 20 * 0.5, 1) for t in times],
        "velocity_smooth": [round(speed, 2) for _ in times],
        "moving": [True for _ in times],
    }


# --- Webhooks ------------------------------------------------------------------------------------
def event(
    account: str,
    *,
    aspect_type: str = "create",
    object_type: str = "activity",
    object_id: int = 0,
    updates: dict | None = None,
    subscription_id: int = 120475,
) -> dict:
    if not object_id:
        object_id = athlete_id(account) if object_type == "athlete" else _latest_activity(account)
    return {
        "aspect_type": aspect_type,
        "event_time": int(state.now()),
        "object_id": object_id,
        "object_type": object_type,
        "owner_id": athlete_id(account),
        "subscription_id": subscription_id,
        "updates": updates or {},
    }


def _latest_activity(account: str) -> int:
    latest = 0
    for item in catalog.every_item(PROVIDER, account, activities):
        latest = item.payload["id"]
    return latest


def send_webhook(
    callback_url: str,
    *,
    account: str,
    timeout: float = 2,
    attempts: int = 1,
    repeat: int = 0,
    **fields: object,
) -> requests.Response:
    """POST one unsigned event as Strava does."""
    body = json.dumps(event(account, **fields), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    return deliver(
        callback_url, data=body, headers=headers, timeout=timeout, attempts=attempts, repeat=repeat
    )


def handshake(callback_url: str, *, verify_token: str = "", timeout: float = 2) -> bool:
    """Strava's GET `hub.challenge`: the subscriber must echo `{"hub.challenge": ...}` with 200."""
    challenge = state.new_secret(8)
    token = verify_token or getattr(settings, "STRAVA_WEBHOOK_VERIFY_TOKEN", "") or "sandbox"
    params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": token}
    response = requests.get(callback_url, params=params, timeout=timeout)
    try:
        return response.status_code == 200 and response.json().get("hub.challenge") == challenge
    except ValueError:
        return False


@endpoint("push_subscriptions")
def subscriptions_view(request: HttpRequest, subscription: int | None = None) -> HttpResponse:
    params = form_or_query(request)
    if (params.get("client_id"), params.get("client_secret")) != oauth.registered_client(PROVIDER):
        return _error("Authorization Error", "Application", "client_id", "invalid", 401)
    stored = state.store.subscriptions.setdefault(PROVIDER, [])
    if request.method == "DELETE":
        if not any(s["id"] == subscription for s in stored):
            return _error("Record Not Found", "PushSubscription", "id", "invalid", 404)
        with state.lock:
            stored[:] = [s for s in stored if s["id"] != subscription]
        return HttpResponse(status=204)
    if request.method == "POST":
        if stored:
            return _error("Bad Request", "PushSubscription", "callback_url", "already exists", 400)
        if not handshake(params.get("callback_url", ""), verify_token=params.get("verify_token", "")):
            return _error(
                "Bad Request",
                "PushSubscription",
                "callback url",
                "GET to callback URL does not return 200",
                400,
            )
        with state.lock:  # not around the handshake: its callback may be served by this very process
            stored.append(
                {
                    "id": 120475,
                    "resource_state": 2,
                    "application_id": 12345,
                    "callback_url": params["callback_url"],
                    "created_at": iso_utc(datetime.now(UTC)),
                    "updated_at": iso_utc(datetime.now(UTC)),
                }
            )
        return json_response({"id": 120475}, status=201)
    return json_response(stored)


urlpatterns = [
    path("oauth/authorize", authorize_view, name="strava-authorize"),
    path("oauth/mobile/authorize", authorize_view),
    path("oauth/token", token_view, name="strava-token"),
    path("api/v3/oauth/token", token_view),
    path("oauth/revoke", revoke_view, name="strava-revoke"),
    path("oauth/deauthorize", deauthorize_view),
    path("api/v3/athlete", athlete_view),
    path("api/v3/athlete/zones", zones_view),
    path("api/v3/athletes/<int:athlete>/stats", stats_view),
    path("api/v3/athlete/activities", activities_view),
    path("api/v3/activities/<int:activity>", activity_view),
    path("api/v3/activities/<int:activity>/streams", streams_view),
    path("api/v3/activities/<int:activity>/laps", laps_view),
    path("api/v3/activities/<int:activity>/zones", activity_zones_view),
    path("api/v3/push_subscriptions", subscriptions_view),
    path("api/v3/push_subscriptions/<int:subscription>", subscriptions_view),
]
