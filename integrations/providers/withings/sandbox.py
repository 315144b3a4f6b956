"""Withings Public Health Data API on its wire format (see ../shared/providers/withings.md).

Every call is a form POST carrying `action=`, every answer HTTP 200 with `{"status", "body"}` (errors
too: 401 bad token, 601 rate limit, 2xx invalid parameters). Paths below `/sandbox/withings` are the
real ones: `/oauth2_user/authorize2`, `/v2/oauth2`, `/v2/signature`, `/measure`, `/v2/measure`,
`/v2/sleep`, `/v2/heart`, `/notify`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from functools import partial

import requests
from django.http import HttpRequest, HttpResponse
from django.urls import path

from integrations.sandbox import authorize, catalog, generator, oauth, state
from integrations.sandbox.catalog import Item
from integrations.sandbox.endpoints import (
    count_served,
    deliver,
    endpoints_for,
    form_or_query,
    json_response,
    retry_after_headers,
)
from integrations.sandbox.generator import Day, stable_int
from integrations.sandbox.state import Fault

PROVIDER = "withings"
RULES = oauth.Rules(
    provider=PROVIDER,
    code_lifetime_seconds=30,
    access_lifetime_seconds=10800,
    rotation="always",
    scope_separator=",",
    scopes=("user.info", "user.metrics", "user.activity", "user.sleepevents"),
    old_refresh_grace_seconds=8 * 3600,
)
PAGE_SIZE = 30
MAX_SUMMARY_DAYS = 7
MAX_HIGH_FREQUENCY = timedelta(hours=24)
NONCE_LIFETIME_SECONDS = 1800
INVALID_PARAMS = 225
UNAUTHORIZED = 214
DEVICE = "c405eb8e0e053f6601e151c7e43c04e29aad6956"
WORKOUT_CATEGORIES = {
    "walking": 1,
    "running": 2,
    "hiking": 3,
    "cycling": 6,
    "swimming": 7,
    "strength": 16,
    "yoga": 28,
}
SLEEP_STATES = {"awake": 0, "light": 1, "deep": 2, "rem": 3}


def envelope(
    status: int, body: dict | None = None, error: str = "", headers: dict | None = None
) -> HttpResponse:
    payload = {"status": status, "body": body or {}}
    if error:
        payload["error"] = error
    return json_response(payload, headers=headers)


def render_fault(fault: Fault) -> HttpResponse:
    if fault.kind == "rate_limit":
        return envelope(601, error="Too many request", headers=retry_after_headers(fault))
    response = envelope(2554 if fault.status == 501 else 215, error="An error occurred")
    response.status_code = fault.status
    return response


endpoint = endpoints_for(PROVIDER, render_fault)
TOKEN_ACTIONS = {"requesttoken": "token", "revoke": "revoke"}


def action_name(request: HttpRequest) -> str:
    """Counters and faults name a Withings call by its action: "getmeas", "getsummary", "token"."""
    action = request.POST.get("action") or request.GET.get("action") or "unknown"
    service = request.path.rstrip("/").rsplit("/", 1)[-1]
    if service == "oauth2":
        return TOKEN_ACTIONS.get(action, action)
    return f"{service}_{action}" if service in {"heart", "notify"} or action == "get" else action


def user_id(account: str) -> str:
    return str(stable_int(PROVIDER, account, digits=8))


# --- Payloads ------------------------------------------------------------------------------------
def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _measure(value: float, kind: int, exponent: int) -> dict:
    return {"value": round(value * 10**-exponent), "type": kind, "unit": exponent, "algo": 0, "fm": 3}


def measure_groups(d: Day) -> list[Item]:
    groups = []
    if d.weigh_in is not None:
        weight, fat = d.weigh_in.weight_kg, d.weigh_in.fat_percent
        fat_mass = weight * fat / 100
        measures = [
            _measure(weight, 1, -3),
            _measure(fat, 6, -2),
            _measure(fat_mass, 8, -3),
            _measure(weight - fat_mass, 5, -3),
        ]
        groups.append(_group(d, d.weigh_in.at, measures, "Body Cardio", 6, 0))
    if d.blood_pressure is not None:
        bp = d.blood_pressure
        measures = [_measure(bp.diastolic, 9, 0), _measure(bp.systolic, 10, 0), _measure(bp.pulse, 11, 0)]
        groups.append(_group(d, bp.at, measures, "BPM Core", 44, 1))
    return groups


def _group(d: Day, at: datetime, measures: list[dict], model: str, model_id: int, index: int) -> Item:
    stamp = _epoch(at)
    group = {
        "grpid": stable_int(PROVIDER, d.account, d.day.isoformat(), index, digits=10),
        "attrib": 0,
        "date": stamp,
        "created": stamp + 26,
        "modified": stamp + 26,
        "category": 1,
        "deviceid": DEVICE,
        "hash_deviceid": DEVICE,
        "model": model,
        "model_id": model_id,
        "comment": None,
        "measures": measures,
    }
    return Item(at.astimezone(UTC), group, str(group["grpid"]))


def activity(d: Day) -> list[Item]:
    active = round(d.active_kcal / 8) * 60
    row = {
        "date": d.day.isoformat(),
        "timezone": d.zone.key,
        "deviceid": None,
        "hash_deviceid": None,
        "brand": 1,
        "is_tracker": True,
        "modified": _epoch(d.end) + 3600,
        "steps": d.steps,
        "distance": d.distance_m,
        "elevation": d.floors,
        "soft": 2940,
        "moderate": active * 3 // 4,
        "intense": active // 4,
        "active": active,
        "calories": d.active_kcal,
        "totalcalories": d.total_kcal,
        "hr_average": d.heart_rate_average,
        "hr_min": d.heart_rate_min,
        "hr_max": d.heart_rate_max,
        "hr_zone_0": 30120,
        "hr_zone_1": 2160,
        "hr_zone_2": 600,
        "hr_zone_3": 60,
    }
    return [Item(d.start, row)]


def workouts(d: Day) -> list[Item]:
    rows = []
    for w in d.workouts:
        row = {
            "id": stable_int(PROVIDER, d.account, d.day.isoformat(), "workout", w.index, digits=10),
            "category": WORKOUT_CATEGORIES[w.sport],
            "timezone": d.zone.key,
            "model": 93,
            "attrib": 7,
            "startdate": _epoch(w.start),
            "enddate": _epoch(w.end),
            "date": d.day.isoformat(),
            "modified": _epoch(w.end) + 170,
            "deviceid": DEVICE,
            "data": {
                "calories": round(w.kcal),
                "intensity": 0,
                "manual_distance": 0,
                "manual_calories": 0,
                "hr_average": w.average_heart_rate,
                "hr_min": w.average_heart_rate - 40,
                "hr_max": w.max_heart_rate,
                "hr_zone_0": 120,
                "hr_zone_1": 540,
                "hr_zone_2": 1650,
                "hr_zone_3": 420,
                "pause_duration": 0,
                "algo_pause_duration": None,
                "spo2_average": None,
                "steps": round(w.distance_m / 0.8) if w.sport in {"running", "walking", "hiking"} else 0,
                "distance": round(w.distance_m),
                "elevation": round(w.elevation_gain_m),
            },
        }
        rows.append(Item(d.start, row, str(row["id"])))
    return rows


def sleep_summary(d: Day) -> list[Item]:
    night = d.sleep
    row = {
        "id": stable_int(PROVIDER, d.account, d.day.isoformat(), "sleep", digits=10),
        "timezone": d.zone.key,
        "model": 32,
        "model_id": 63,
        "startdate": _epoch(night.start),
        "enddate": _epoch(night.end),
        "date": d.day.isoformat(),
        "created": _epoch(night.end) + 1100,
        "modified": _epoch(night.end) + 1500,
        "hash_deviceid": DEVICE,
        "completed": True,
        "data": {
            "total_timeinbed": night.in_bed_seconds,
            "total_sleep_time": night.asleep_seconds,
            "lightsleepduration": night.seconds_in("light"),
            "deepsleepduration": night.seconds_in("deep"),
            "remsleepduration": night.seconds_in("rem"),
            "wakeupduration": night.seconds_in("awake"),
            "wakeupcount": sum(1 for s in night.stages if s.kind == "awake"),
            "waso": night.seconds_in("awake") - night.latency_seconds,
            "sleep_efficiency": round(night.asleep_seconds / night.in_bed_seconds, 2),
            "sleep_latency": night.latency_seconds,
            "wakeup_latency": 300,
            "nb_rem_episodes": sum(1 for s in night.stages if s.kind == "rem"),
            "out_of_bed_count": 0,
            "hr_average": round(night.average_heart_rate),
            "hr_min": night.lowest_heart_rate,
            "hr_max": night.lowest_heart_rate + 20,
            "rr_average": round(night.respiratory_rate),
            "rr_min": round(night.respiratory_rate) - 3,
            "rr_max": round(night.respiratory_rate) + 4,
            "breathing_disturbances_intensity": 12,
            "snoring": 420,
            "snoringepisodecount": 3,
            "sleep_score": night.score,
            "rmssd_start_avg": night.average_hrv - 4,
            "rmssd_end_avg": night.average_hrv + 4,
        },
    }
    return [Item(d.start, row, str(row["id"]))]


def sleep_segments(d: Day) -> list[Item]:
    return [Item(stage.start.astimezone(UTC), partial(_segment, d.sleep, stage)) for stage in d.sleep.stages]


def _segment(night: generator.Sleep, stage: generator.Stage) -> dict:
    """One stage of the night with its per-minute series (objects keyed by epoch strings)."""
    start, end = _epoch(stage.start), _epoch(stage.end)
    minutes = range(start, end, 60)
    return {
        "startdate": start,
        "enddate": end,
        "state": SLEEP_STATES[stage.kind],
        "model": "Sleep Monitor",
        "model_id": 63,
        "hash_deviceid": DEVICE,
        "hr": {str(t): night.lowest_heart_rate + (t // 60) % 9 for t in minutes},
        "rr": {str(t): round(night.respiratory_rate) for t in minutes},
        "rmssd": {str(t): night.average_hrv - 4 + (t // 60) % 8 for t in minutes},
    }


def intraday(d: Day) -> list[Item]:
    steps = {_epoch(start): count for start, _, count in generator.step_intervals(d)}
    return [
        Item(moment, partial(_intraday_entry, bpm, steps.get(_epoch(moment))), str(_epoch(moment)))
        for moment, bpm in generator.heart_samples(d)
    ]


def _intraday_entry(bpm: int, steps: int | None) -> dict:
    entry = {"deviceid": DEVICE, "model": "ScanWatch", "model_id": 93, "heart_rate": bpm, "duration": 300}
    if steps is not None:
        entry["steps"] = steps
    return entry


def heart_list(d: Day) -> list[Item]:
    if d.blood_pressure is None:
        return []
    bp = d.blood_pressure
    row = {
        "deviceid": DEVICE,
        "model": 44,
        "ecg": {},
        "bloodpressure": {"diastole": bp.diastolic, "systole": bp.systolic},
        "heart_rate": bp.pulse,
        "timestamp": _epoch(bp.at),
        "modified": _epoch(bp.at) + 26,
    }
    return [Item(bp.at.astimezone(UTC), row)]


CATALOG = {
    "getmeas": measure_groups,
    "getactivity": activity,
    "getworkouts": workouts,
    "getsummary": sleep_summary,
    "sleep_get": sleep_segments,
    "getintradayactivity": intraday,
    "heart_list": heart_list,
}


def expected_counts(account: str, first: date, last: date) -> dict[str, int]:
    return catalog.count_items(PROVIDER, account, CATALOG, first, last)


# --- OAuth ---------------------------------------------------------------------------------------
def _signature(secret: str, *values: str) -> str:
    return hmac.new(secret.encode(), ",".join(values).encode(), hashlib.sha256).hexdigest()


@endpoint("authorize")
def authorize_view(request: HttpRequest) -> HttpResponse:
    return authorize.authorize(request, RULES, provider_name="Withings")


@endpoint("signature")
def signature_view(request: HttpRequest) -> HttpResponse:
    """`action=getnonce`: a single-use nonce for signed calls (30 minutes)."""
    params = form_or_query(request)
    client_id, secret = oauth.registered_client(PROVIDER)
    expected = _signature(secret, "getnonce", params.get("client_id", ""), params.get("timestamp", ""))
    if params.get("action") != "getnonce" or params.get("client_id") != client_id:
        return envelope(INVALID_PARAMS, error="Invalid Params: action or client_id")
    if not hmac.compare_digest(params.get("signature", ""), expected):
        return envelope(UNAUTHORIZED, error="Invalid signature")
    nonce = state.new_secret(20)
    with state.lock:
        state.store.nonces[nonce] = state.now() + NONCE_LIFETIME_SECONDS
    return envelope(0, {"nonce": nonce})


def _check_signed(params: dict) -> None:
    """A nonce + signature client authentication (the nonce is spent)."""
    _, secret = oauth.registered_client(PROVIDER)
    nonce = params.get("nonce", "")
    with state.lock:
        expires_at = state.store.nonces.pop(nonce, 0)
    expected = _signature(secret, params.get("action", ""), params.get("client_id", ""), nonce)
    if expires_at < state.now() or not hmac.compare_digest(params.get("signature", ""), expected):
        raise oauth.OAuthError("invalid_client", "Invalid nonce or signature.", status=UNAUTHORIZED)
    oauth.check_client(RULES, params.get("client_id", ""), None)


@endpoint(action_name)
def oauth2_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    try:
        if "signature" in params:
            _check_signed(params)
        else:
            oauth.check_client(RULES, params.get("client_id", ""), params.get("client_secret", ""))
        if params.get("action") == "revoke":
            return _revoke(params)
        if params.get("action") != "requesttoken":
            return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")
        issued = _request_token(params)
    except oauth.OAuthError as error:
        return envelope(_status_of(error, params), error=f"{error.error}: {error.description}")
    body = {
        "userid": user_id(issued.access.account),
        "access_token": issued.access.value,
        "refresh_token": issued.refresh.value,
        "expires_in": oauth.expires_in(issued.access),
        "scope": RULES.join_scopes(issued.access.scopes),
        "csrf_token": state.new_secret(16),
        "token_type": "Bearer",
    }
    return envelope(0, body)


def _status_of(error: oauth.OAuthError, params: dict) -> int:
    """Withings statuses: a dead refresh token is 401 (reconnect), a bad client 214, the rest 225."""
    if error.error == "invalid_client":
        return UNAUTHORIZED
    if error.error == "invalid_grant" and params.get("grant_type") == "refresh_token":
        return 401
    return INVALID_PARAMS


def _request_token(params: dict) -> oauth.Issued:
    client_id = params.get("client_id", "")
    if params.get("grant_type") == "authorization_code":
        return oauth.exchange_code(
            RULES,
            code=params.get("code", ""),
            client_id=client_id,
            redirect_uri=params.get("redirect_uri"),
            code_verifier=None,
        )
    if params.get("grant_type") == "refresh_token":
        return oauth.refresh(RULES, refresh_token=params.get("refresh_token", ""), client_id=client_id)
    raise oauth.OAuthError(
        "unsupported_grant_type", "grant_type must be authorization_code or refresh_token."
    )


def _revoke(params: dict) -> HttpResponse:
    """`action=revoke` (signed): every token of the user dies and the subscriptions go."""
    if "signature" not in params:
        return envelope(INVALID_PARAMS, error="Invalid Params: revoke needs nonce and signature")
    account = next(
        (
            t.account
            for t in list(state.store.tokens.values())
            if t.provider == PROVIDER and user_id(t.account) == str(params.get("userid"))
        ),
        None,
    )
    if account is None:
        return envelope(INVALID_PARAMS, error="Invalid Params: unknown userid")
    oauth.revoke_account(PROVIDER, account)
    with state.lock:
        subscriptions = state.store.subscriptions.setdefault(PROVIDER, [])
        subscriptions[:] = [s for s in subscriptions if s["userid"] != user_id(account)]
    return envelope(0)


# --- Data ----------------------------------------------------------------------------------------
def _authenticated(request: HttpRequest, scope: str) -> state.Token | HttpResponse:
    try:
        token = oauth.authenticate(PROVIDER, oauth.bearer_token(request))
    except oauth.AuthFailure:
        return envelope(
            401, error="XRequestID: Not provided invalid_token: The access token provided is invalid"
        )
    if scope not in token.scopes:
        return envelope(UNAUTHORIZED, error=f"Unauthorized: the user did not grant {scope}")
    return token


def _ymd_window(params: dict, account: str) -> tuple[datetime, datetime]:
    if params.get("lastupdate"):
        return _lastupdate_window(params)
    first = date.fromisoformat(params["startdateymd"])
    last = date.fromisoformat(params["enddateymd"])
    return catalog.day_window(PROVIDER, account, first, last)


def _lastupdate_window(params: dict) -> tuple[datetime, datetime]:
    # Rows are modified within a day of their key moment: start a day early, end now.
    since = datetime.fromtimestamp(int(params["lastupdate"]), UTC) - timedelta(days=1)
    return since, datetime.fromtimestamp(state.now(), UTC)


def _epoch_window(params: dict) -> tuple[datetime, datetime]:
    if params.get("lastupdate"):
        return _lastupdate_window(params)
    start = datetime.fromtimestamp(int(params["startdate"]), UTC)
    return start, datetime.fromtimestamp(int(params["enddate"]), UTC) + timedelta(seconds=1)


def _paged(items: list[Item], params: dict, key: str, *, more_as_int: bool = False) -> dict:
    offset = int(params.get("offset") or 0)
    chunk = items[offset : offset + PAGE_SIZE]
    count_served(len(chunk))
    more = offset + PAGE_SIZE < len(items)
    following = offset + PAGE_SIZE if more else 0
    return {
        key: [item.payload for item in chunk],
        "more": int(more) if more_as_int else more,
        "offset": following,
    }


def _mixes_lastupdate(params: dict) -> bool:
    dated = any(params.get(name) for name in ("startdate", "enddate", "startdateymd", "enddateymd"))
    return bool(params.get("lastupdate")) and dated


@endpoint(action_name)
def measure_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    if params.get("action") != "getmeas":
        return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")
    token = _authenticated(request, "user.metrics")
    if isinstance(token, HttpResponse):
        return token
    try:
        start, end = (
            _epoch_window(params)
            if params.get("startdate") or params.get("lastupdate")
            else (datetime(2000, 1, 1, tzinfo=UTC), datetime.fromtimestamp(state.now(), UTC))
        )
        wanted = {int(t) for t in (params.get("meastypes") or params.get("meastype") or "").split(",") if t}
    except (KeyError, ValueError):
        return envelope(INVALID_PARAMS, error="Invalid Params: startdate, enddate, lastupdate or meastypes")
    groups = (
        []
        if _mixes_lastupdate(params)
        else catalog.collect(PROVIDER, token.account, measure_groups, start, end)
    )
    if wanted:
        groups = [
            Item(g.key, g.payload | {"measures": [m for m in g.payload["measures"] if m["type"] in wanted]})
            for g in groups
        ]
        groups = [g for g in groups if g.payload["measures"]]
    zone = state.account_zone(PROVIDER, token.account)
    body = {
        "updatetime": int(state.now()),
        "timezone": zone.key,
        **_paged(groups, params, "measuregrps", more_as_int=True),
    }
    return envelope(0, body)


@endpoint(action_name)
def v2_measure_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    action = params.get("action")
    if action not in {"getactivity", "getworkouts", "getintradayactivity"}:
        return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")
    token = _authenticated(request, "user.activity")
    if isinstance(token, HttpResponse):
        return token
    try:
        if action == "getintradayactivity":
            return envelope(0, {"series": _intraday(params, token.account)})
        start, end = _ymd_window(params, token.account)
    except (KeyError, ValueError):
        return envelope(INVALID_PARAMS, error="Invalid Params: startdateymd and enddateymd, or lastupdate")
    build = activity if action == "getactivity" else workouts
    items = [] if _mixes_lastupdate(params) else catalog.collect(PROVIDER, token.account, build, start, end)
    return envelope(0, _paged(items, params, "activities" if action == "getactivity" else "series"))


def _intraday(params: dict, account: str) -> dict:
    start, end = _epoch_window(params)
    end = min(end, start + MAX_HIGH_FREQUENCY)  # more than 24 h: only the first 24 h
    return {item.id: item.payload for item in catalog.collect(PROVIDER, account, intraday, start, end)}


@endpoint(action_name)
def sleep_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    action = params.get("action")
    if action not in {"getsummary", "get"}:
        return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")
    token = _authenticated(request, "user.sleepevents")
    if isinstance(token, HttpResponse):
        return token
    try:
        if action == "get":
            start, end = _epoch_window(params)
            segments = catalog.collect(
                PROVIDER, token.account, sleep_segments, start, min(end, start + MAX_HIGH_FREQUENCY)
            )
            return envelope(0, {"series": [item.payload for item in segments], "model": 32})
        start, end = _ymd_window(params, token.account)
    except (KeyError, ValueError):
        return envelope(INVALID_PARAMS, error="Invalid Params: startdateymd and enddateymd, or lastupdate")
    if not params.get("lastupdate") and end - start > timedelta(days=MAX_SUMMARY_DAYS, hours=1):
        return envelope(INVALID_PARAMS, error=f"Invalid Params: a call spans at most {MAX_SUMMARY_DAYS} days")
    items = (
        []
        if _mixes_lastupdate(params)
        else catalog.collect(PROVIDER, token.account, sleep_summary, start, end)
    )
    return envelope(0, _paged(items, params, "series"))


@endpoint(action_name)
def heart_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    if params.get("action") != "list":
        return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")
    token = _authenticated(request, "user.metrics")
    if isinstance(token, HttpResponse):
        return token
    try:
        start, end = _epoch_window(params)
    except (KeyError, ValueError):
        return envelope(INVALID_PARAMS, error="Invalid Params: startdate and enddate")
    items = catalog.collect(PROVIDER, token.account, heart_list, start, end)
    return envelope(0, _paged(items, params, "series"))


@endpoint(action_name)
def user_view(request: HttpRequest) -> HttpResponse:
    """`/v2/user action=getdevice`: the user's devices (scope user.info)."""
    params = form_or_query(request)
    if params.get("action") != "getdevice":
        return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")
    token = _authenticated(request, "user.info")
    if isinstance(token, HttpResponse):
        return token
    zone = state.account_zone(PROVIDER, token.account).key
    synced = int(state.now()) - 3600
    devices = [
        {
            "type": kind,
            "model": model,
            "model_id": model_id,
            "battery": "high",
            "deviceid": DEVICE,
            "hash_deviceid": DEVICE,
            "timezone": zone,
            "last_session_date": synced,
        }
        for kind, model, model_id in (
            ("Scale", "Body Cardio", 6),
            ("Activity Tracker", "ScanWatch", 93),
            ("Sleep Monitor", "Sleep Analyzer", 63),
            ("Blood Pressure Monitor", "BPM Core", 44),
        )
    ]
    return envelope(0, {"devices": devices})


# --- Notifications -------------------------------------------------------------------------------
@endpoint(action_name)
def notify_view(request: HttpRequest) -> HttpResponse:
    params = form_or_query(request)
    token = _authenticated(request, "user.info") if params.get("appli") == "46" else _any_token(request)
    if isinstance(token, HttpResponse):
        return token
    with state.lock:
        stored = state.store.subscriptions.setdefault(PROVIDER, [])
        mine = [s for s in stored if s["userid"] == user_id(token.account)]
    action = params.get("action")
    if action == "list":
        return envelope(0, {"profiles": [{k: v for k, v in s.items() if k != "userid"} for s in mine]})
    if action == "subscribe":
        return _subscribe(params, token.account, stored)
    if action == "revoke":
        with state.lock:
            stored[:] = [
                s
                for s in stored
                if not (
                    s["userid"] == user_id(token.account)
                    and s["callbackurl"] == params.get("callbackurl")
                    and str(s["appli"]) == params.get("appli")
                )
            ]
        return envelope(0)
    return envelope(INVALID_PARAMS, error="Invalid Params: unknown action")


def _any_token(request: HttpRequest) -> state.Token | HttpResponse:
    try:
        return oauth.authenticate(PROVIDER, oauth.bearer_token(request))
    except oauth.AuthFailure:
        return envelope(
            401, error="XRequestID: Not provided invalid_token: The access token provided is invalid"
        )


def _subscribe(params: dict, account: str, stored: list[dict]) -> HttpResponse:
    callback_url = params.get("callbackurl", "")
    try:
        appli = int(params["appli"])
    except (KeyError, ValueError):
        return envelope(INVALID_PARAMS, error="Invalid Params: appli")
    if not handshake(callback_url):
        return envelope(293, error="The callback URL is either absent or incorrect")
    with state.lock:
        stored.append(
            {
                "userid": user_id(account),
                "appli": appli,
                "callbackurl": callback_url,
                "comment": params.get("comment", ""),
            }
        )
    return envelope(0)


def send_webhook(
    callback_url: str,
    *,
    account: str,
    appli: int = 1,
    startdate: int | None = None,
    enddate: int | None = None,
    timeout: float = 2,
    attempts: int = 1,
    repeat: int = 0,
    **fields: str,
) -> requests.Response:
    """POST an unsigned, form-encoded notification as Withings does."""
    now = int(state.now())
    form = {"userid": user_id(account), "appli": str(appli)}
    if appli in {46, 50, 51, 52, 53}:  # event categories carry a date, an action and a device
        form |= {"date": datetime.fromtimestamp(now, UTC).date().isoformat(), "deviceid": DEVICE} | fields
    else:
        form |= {
            "startdate": str(startdate if startdate is not None else now - 600),
            "enddate": str(enddate if enddate is not None else now),
        }
    return deliver(callback_url, data=form, timeout=timeout, attempts=attempts, repeat=repeat)


def handshake(callback_url: str, timeout: float = 2) -> bool:
    """Withings probes a callback URL with HEAD; it must answer 200."""
    try:
        return requests.head(callback_url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


urlpatterns = [
    path("oauth2_user/authorize2", authorize_view, name="withings-authorize"),
    path("v2/oauth2", oauth2_view, name="withings-token"),
    path("v2/signature", signature_view),
    path("measure", measure_view),
    path("v2/measure", v2_measure_view),
    path("v2/sleep", sleep_view),
    path("v2/heart", heart_view),
    path("v2/user", user_view),
    path("notify", notify_view),
]
