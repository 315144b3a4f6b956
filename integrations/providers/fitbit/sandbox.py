"""The Google Health API v4 (the `fitbit` source) on its wire format, served by integrations.sandbox.

See ../shared/providers/google_health.md. Paths below `/sandbox/fitbit` are Google's own:
`/o/oauth2/v2/auth`, `/token`, `/revoke`, `/v4/users/me/...`, and the webhook keyset at
`/googlehealthapi/webhooks/webhooks_public_keyset.json`. The data types and their rules are in
`integrations/sandbox/google_health.py`.
"""

from __future__ import annotations

import bisect
import json
import re
from datetime import UTC, date, datetime, timedelta

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

from integrations.sandbox import authorize, catalog, oauth, state
from integrations.sandbox import google_health as gh
from integrations.sandbox.endpoints import (
    count_served,
    decode_cursor,
    deliver,
    encode_cursor,
    endpoints_for,
    form_or_query,
    json_response,
    page,
    retry_after_headers,
)
from integrations.sandbox.google_health import DATA_TYPES, GoogleError
from integrations.sandbox.state import Fault

PROVIDER = "fitbit"
RULES = oauth.Rules(
    provider=PROVIDER,
    code_lifetime_seconds=600,
    access_lifetime_seconds=3599,
    rotation="never",
    scope_separator=" ",
    scopes=(gh.ACTIVITY, gh.METRICS, gh.SLEEP, gh.SETTINGS),
    supports_pkce=True,
    offline_param="access_type",
)
WEBHOOK_SECRET = "Bearer sandbox-fitbit-webhook-secret"  # noqa: S105 - the sandbox's own placeholder


def render_fault(fault: Fault) -> HttpResponse:
    if fault.kind == "rate_limit":
        error = GoogleError(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of "
            "service 'health.googleapis.com'.",
            "RATE_LIMIT_EXCEEDED",
        )
        return json_response(error.body(), status=429, headers=retry_after_headers(fault))
    status = "UNAVAILABLE" if fault.status == 503 else "INTERNAL"
    return json_response(
        GoogleError(fault.status, status, "Internal error encountered.").body(), status=fault.status
    )


endpoint = endpoints_for(PROVIDER, render_fault)


def expected_counts(account: str, first: date, last: date) -> dict[str, int]:
    builders = {name: data_type.build for name, data_type in DATA_TYPES.items()}
    return catalog.count_items(PROVIDER, account, builders, first, last)


# --- OAuth ---------------------------------------------------------------------------------------
@endpoint("authorize")
def authorize_view(request: HttpRequest) -> HttpResponse:
    return authorize.authorize(request, RULES, provider_name="Google Health (Fitbit)", echo_scope=True)


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
                redirect_uri=params.get("redirect_uri", ""),
                code_verifier=params.get("code_verifier"),
            )
        elif params.get("grant_type") == "refresh_token":
            issued = oauth.refresh(RULES, refresh_token=params.get("refresh_token", ""), client_id=client_id)
        else:
            raise oauth.OAuthError("unsupported_grant_type", "Invalid grant_type.")
    except oauth.OAuthError as error:
        description = (
            "Token has been expired or revoked." if error.error == "invalid_grant" else error.description
        )
        return json_response({"error": error.error, "error_description": description}, status=error.status)
    body = {"access_token": issued.access.value, "expires_in": oauth.expires_in(issued.access)}
    if issued.rotated and issued.refresh is not None:  # the first offline grant, or a forced rotation
        body["refresh_token"] = issued.refresh.value
    body |= {"scope": RULES.join_scopes(issued.access.scopes), "token_type": "Bearer"}
    return json_response(body)


@endpoint("revoke")
def revoke_view(request: HttpRequest) -> HttpResponse:
    if not oauth.revoke(PROVIDER, form_or_query(request).get("token", "")):
        return json_response(
            {"error": "invalid_token", "error_description": "Token expired or revoked"}, status=400
        )
    return json_response({})


def openid_configuration(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/sandbox/fitbit")
    return json_response(
        {
            "issuer": "https://accounts.google.com",
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "revocation_endpoint": f"{base}/revoke",
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code"],
        }
    )


# --- Data ----------------------------------------------------------------------------------------
def _authenticated(request: HttpRequest, user: str, scopes: tuple[str, ...]) -> state.Token:
    try:
        token = oauth.authenticate(PROVIDER, oauth.bearer_token(request))
    except oauth.AuthFailure as failure:
        raise GoogleError(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential.",
        ) from failure
    if user not in {"me", gh.health_user_id(token.account)}:
        raise GoogleError(403, "PERMISSION_DENIED", "The caller does not have permission.")
    if scopes and not set(scopes) & set(token.scopes):
        raise GoogleError(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        )
    return token


def google_view(name: str):
    """Count as `name`, apply faults, and render GoogleError in Google's envelope."""

    def decorator(view):
        @endpoint(name)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except GoogleError as error:
                headers = {}
                if error.code == 401:
                    headers["WWW-Authenticate"] = (
                        'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                    )
                return json_response(error.body(), status=error.code, headers=headers)

        return wrapped

    return decorator


def _data_type(name: str) -> gh.DataType:
    if name not in DATA_TYPES:
        raise gh.invalid("INVALID_PARENT_DATA_TYPE_COLLECTION")
    return DATA_TYPES[name]


@google_view("identity")
def identity_view(request: HttpRequest, user: str) -> HttpResponse:
    token = _authenticated(request, user, ())
    legacy = gh.health_user_id(token.account)[-6:]
    return json_response(
        {
            "name": "users/me/identity",
            "healthUserId": gh.health_user_id(token.account),
            "legacyUserId": f"G{legacy}",
        }
    )


@google_view("settings")
def settings_view(request: HttpRequest, user: str) -> HttpResponse:
    token = _authenticated(request, user, (gh.SETTINGS,))
    zone = state.account_zone(PROVIDER, token.account)
    offset = datetime.fromtimestamp(state.now(), zone).utcoffset()
    return json_response(
        {
            "name": f"users/{gh.health_user_id(token.account)}/settings",
            "timeZone": zone.key,
            "utcOffset": gh.seconds_text(offset),
            "distanceUnit": "DISTANCE_UNIT_KILOMETERS",
            "weightUnit": "WEIGHT_UNIT_KILOGRAMS",
            "heightUnit": "HEIGHT_UNIT_CENTIMETERS",
            "temperatureUnit": "TEMPERATURE_UNIT_CELSIUS",
            "waterUnit": "WATER_UNIT_ML",
            "glucoseUnit": "GLUCOSE_UNIT_MG_DL",
            "swimUnit": "SWIM_UNIT_METERS",
            "languageLocale": "en_GB",
        }
    )


@google_view("profile")
def profile_view(request: HttpRequest, user: str) -> HttpResponse:
    _authenticated(request, user, (gh.PROFILE,))
    return json_response({"age": 38})


@google_view("pairedDevices")
def paired_devices_view(request: HttpRequest, user: str) -> HttpResponse:
    token = _authenticated(request, user, (gh.SETTINGS,))
    synced = gh.iso_utc(gh.now_utc().replace(microsecond=0) - timedelta(minutes=20))
    device = {
        "name": f"users/{gh.health_user_id(token.account)}/pairedDevices/1",
        "deviceVersion": "Charge 6",
        "deviceType": "TRACKER",
        "batteryStatus": "High",
        "batteryLevel": 80,
        "lastSyncTime": synced,
        "features": ["HEART_RATE", "SLEEP", "STEPS"],
    }
    return json_response({"pairedDevices": [device], "nextPageToken": ""})


@google_view("list")
def list_view(request: HttpRequest, user: str, data_type: str) -> HttpResponse:
    return _list(request, user, data_type, reconcile=False)


@google_view("reconcile")
def reconcile_view(request: HttpRequest, user: str, data_type: str) -> HttpResponse:
    return _list(request, user, data_type, reconcile=True)


def _list(request: HttpRequest, user: str, name: str, *, reconcile: bool) -> HttpResponse:
    kind = _data_type(name)
    token = _authenticated(request, user, (kind.scope,))
    if not kind.listable and not reconcile:
        raise gh.invalid("INVALID_PARENT_DATA_TYPE_COLLECTION")
    zone = state.account_zone(PROVIDER, token.account)
    lower, upper = gh.parse_filter(request.GET.get("filter", ""), name, kind.kind, zone)
    default_size, max_size = gh.page_limit(name)
    try:
        size = min(int(request.GET.get("pageSize") or default_size), max_size)
    except ValueError as error:
        raise gh.invalid("INVALID_ARGUMENT", "Invalid pageSize.") from error
    offset = decode_cursor(request.GET["pageToken"]) if request.GET.get("pageToken") else 0
    if offset is None or size < 1:
        raise gh.invalid("INVALID_ARGUMENT", "Invalid pageToken or pageSize.")
    start = lower or datetime(2000, 1, 1, tzinfo=UTC)
    items = catalog.newest_first(
        PROVIDER, token.account, kind.build, start, upper or gh.now_utc(), offset + size + 1
    )
    chunk, following = page(items, offset, size)
    points = [item.payload if not reconcile else _reconciled(item.payload) for item in chunk]
    return json_response(
        {"dataPoints": points, "nextPageToken": encode_cursor(following) if following else ""}
    )


def _reconciled(payload: dict) -> dict:
    body = {key: value for key, value in payload.items() if key not in {"dataSource", "name"}}
    return {"dataPointName": payload["name"], **body} if "name" in payload else body


@google_view("get")
def get_view(request: HttpRequest, user: str, data_type: str, point: str) -> HttpResponse:
    kind = _data_type(data_type)
    token = _authenticated(request, user, (kind.scope,))
    name = f"users/{gh.health_user_id(token.account)}/dataTypes/{data_type}/dataPoints/{point}"
    for item in catalog.every_item(PROVIDER, token.account, kind.build):
        if item.payload.get("name") == name:
            return json_response(item.payload)
    return json_response(GoogleError(404, "NOT_FOUND", "Requested entity was not found.").body(), status=404)


def _json_body(request: HttpRequest) -> dict:
    raw = request.body.decode() or "{}"
    if re.search(r"\":\s*0\d+\s*[,}\]]", raw):
        raise gh.invalid(
            "INVALID_ARGUMENT", "Invalid JSON payload received. Octal/hex numbers are not valid JSON values."
        )
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise gh.invalid("INVALID_ARGUMENT", "Invalid JSON payload received.") from error
    if not isinstance(body, dict):
        raise gh.invalid("INVALID_ARGUMENT", "Invalid JSON payload received.")
    return body


def _rollup_kind(name: str) -> gh.DataType:
    kind = _data_type(name)
    if kind.rollup is None:
        raise gh.invalid("INVALID_PARENT_DATA_TYPE_COLLECTION")
    return kind


def _check_range(kind: gh.DataType, start: datetime, end: datetime) -> None:
    if end <= start:
        raise gh.invalid("INVALID_TIME_RANGE", "The range end must be after its start.")
    if end - start > timedelta(days=kind.rollup_max_days):
        raise gh.invalid("INVALID_ARGUMENT", f"The range is longer than {kind.rollup_max_days} days.")


@google_view("rollUp")
def rollup_view(request: HttpRequest, user: str, data_type: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=404)
    kind = _rollup_kind(data_type)
    token = _authenticated(request, user, (kind.scope,))
    body = _json_body(request)
    try:
        start = datetime.fromisoformat(body["range"]["startTime"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(body["range"]["endTime"].replace("Z", "+00:00"))
        window = timedelta(seconds=float(str(body.get("windowSize", "86400s")).rstrip("s")))
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise gh.invalid(
            "INVALID_ARGUMENT", "range.startTime, range.endTime and windowSize are required."
        ) from error
    if window < timedelta(seconds=1):
        raise gh.invalid("INVALID_ARGUMENT", "windowSize must be at least 1s.")
    _check_range(kind, start, end)
    items = catalog.collect(PROVIDER, token.account, kind.build, start, end)
    buckets: dict[int, list] = {}
    for item in items:
        buckets.setdefault(int((item.key - start) / window), []).append(item)
    points = []
    for index in sorted(buckets):
        cursor = start + window * index
        stop = min(cursor + window, end)
        inside = buckets[index]
        if inside:
            points.append(
                {
                    "startTime": gh.iso_utc(cursor),
                    "endTime": gh.iso_utc(stop),
                    kind.value_key: kind.rollup(inside),
                }
            )
        cursor = stop
    count_served(len(points))
    return json_response({"rollupDataPoints": points})


@google_view("dailyRollUp")
def daily_rollup_view(request: HttpRequest, user: str, data_type: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=404)
    kind = _rollup_kind(data_type)
    token = _authenticated(request, user, (kind.scope,))
    body = _json_body(request)
    try:
        first = date(**body["range"]["start"]["date"])
        last = date(**body["range"]["end"]["date"])  # inclusive, as the live API behaves
        step = int(body.get("windowSizeDays", 1))
    except (KeyError, TypeError, ValueError) as error:
        raise gh.invalid("INVALID_ARGUMENT", "range.start.date and range.end.date are required.") from error
    start, end = catalog.day_window(PROVIDER, token.account, first, last)
    _check_range(kind, start, end)
    items = catalog.collect(PROVIDER, token.account, kind.build, start, end)
    points, day = [], first
    while day <= last:
        window_start, window_end = catalog.day_window(
            PROVIDER, token.account, day, day + timedelta(days=step - 1)
        )
        inside = _between(items, window_start, window_end)
        if inside:
            points.append(
                {
                    "civilStartTime": {"date": gh.civil_date(window_start), "time": {}},
                    "civilEndTime": {"date": gh.civil_date(window_end), "time": {}},
                    kind.value_key: kind.rollup(inside),
                }
            )
        day += timedelta(days=step)
    count_served(len(points))
    return json_response({"rollupDataPoints": points})


def _between(items: list, start: datetime, end: datetime) -> list:
    """Items with start <= key < end from a list sorted by key."""
    keys = [item.key for item in items]
    return items[bisect.bisect_left(keys, start) : bisect.bisect_left(keys, end)]


def keyset_view(request: HttpRequest) -> HttpResponse:
    return json_response(gh.public_keyset())


# --- Webhooks ------------------------------------------------------------------------------------
def notification(
    account: str, *, data_type: str = "steps", operation: str = "UPSERT", start: str = "", end: str = ""
) -> dict:
    finish = (
        datetime.fromisoformat(end.replace("Z", "+00:00")) if end else gh.now_utc().replace(microsecond=0)
    )
    begin = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else finish - timedelta(minutes=5)
    interval = {"physicalTimeInterval": {"startTime": gh.iso_utc(begin), "endTime": gh.iso_utc(finish)}}
    return {
        "data": {
            "version": "1",
            "clientProvidedSubscriptionName": gh.generator.stable_uuid(state.now()),
            "healthUserId": gh.health_user_id(account),
            "operation": operation,
            "dataType": data_type,
            "intervals": [interval],
        }
    }


def configured_secret() -> str:
    """The subscriber secret the app expects (FITBIT_WEBHOOK_SECRET), else the sandbox's own."""
    return getattr(settings, "FITBIT_WEBHOOK_SECRET", "") or WEBHOOK_SECRET


def send_webhook(
    callback_url: str,
    *,
    account: str,
    secret: str | None = None,
    single_object: bool = False,
    timeout: float = 10,
    attempts: int = 1,
    repeat: int = 0,
    **fields: str,
) -> requests.Response:
    """POST a notify-only notification: the `Authorization` secret and a Tink ECDSA signature."""
    event = notification(account, **fields)
    body = json.dumps(event if single_object else [event], separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "GOOGLE-HEALTH-API-SIGNATURE": gh.sign(body)}
    if secret != "":
        headers["Authorization"] = secret or configured_secret()
    return deliver(
        callback_url,
        data=body,
        headers=headers,
        timeout=timeout,
        attempts=attempts,
        repeat=repeat,
        accepted=lambda status: status == 204,
    )


def handshake(callback_url: str, *, secret: str = "", timeout: float = 10) -> bool:
    """Google's two verification POSTs: 200/201 with the secret, then 401/403 without it."""
    secret = secret or configured_secret()
    body = json.dumps({"type": "verification"}).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Google-Health-API-Webhooks-Verifier"}
    with_secret = requests.post(
        callback_url, data=body, headers=headers | {"Authorization": secret}, timeout=timeout
    )
    without = requests.post(callback_url, data=body, headers=headers, timeout=timeout)
    return with_secret.status_code in {200, 201} and without.status_code in {401, 403}


USER = "v4/users/<str:user>"
POINTS = f"{USER}/dataTypes/<str:data_type>/dataPoints"
urlpatterns = [
    path("o/oauth2/v2/auth", authorize_view, name="fitbit-authorize"),
    path("token", token_view, name="fitbit-token"),
    path("revoke", revoke_view, name="fitbit-revoke"),
    path(".well-known/openid-configuration", openid_configuration),
    path("googlehealthapi/webhooks/webhooks_public_keyset.json", keyset_view),
    path(f"{USER}/identity", identity_view),
    path(f"{USER}/settings", settings_view),
    path(f"{USER}/profile", profile_view),
    path(f"{USER}/pairedDevices", paired_devices_view),
    path(POINTS, list_view),
    path(f"{POINTS}:reconcile", reconcile_view),
    path(f"{POINTS}:rollUp", rollup_view),
    path(f"{POINTS}:dailyRollUp", daily_rollup_view),
    path(f"{POINTS}/<str:point>", get_view),
]
