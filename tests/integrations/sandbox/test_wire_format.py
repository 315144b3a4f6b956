"""Every field of the documented example payloads (integrations/providers/<name>/payloads/) is served."""

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.integrations.sandbox import flows

PROVIDERS_DIR = Path(__file__).resolve().parents[3] / "integrations" / "providers"
# Fields the documentation marks deprecated or sport-specific; the sandbox leaves them out.
OPTIONAL = {"v1_id", "sport_id", "average_cadence", "meta", "spo2_percentage", "skin_temp_celsius"}
OPTIONAL |= {"hours", "minutes", "seconds", "nanos"}  # Google omits zero members of civil times


def documented(provider: str, name: str):
    return json.loads((PROVIDERS_DIR / provider / "payloads" / f"{name}.json").read_text())


def missing(expected, actual, where="") -> list[str]:
    """Paths of documented keys the sandbox payload lacks (dicts recursively, lists by first element)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        gaps = []
        for key, value in expected.items():
            if key in OPTIONAL:
                continue
            if key not in actual:
                gaps.append(f"{where}.{key}")
            else:
                gaps += missing(value, actual[key], f"{where}.{key}")
        return gaps
    if isinstance(expected, list) and isinstance(actual, list) and expected and actual:
        return missing(expected[0], actual[0], f"{where}[0]")
    return []


def yesterday_window():
    zone = ZoneInfo("Europe/Berlin")
    day = datetime.now(zone).date() - timedelta(days=2)
    return day, datetime.combine(day, datetime.min.time(), zone)


def fetch(sandbox, provider, token, path, params=None, method="GET"):
    headers = {"Authorization": f"Bearer {token}"}
    if method == "POST":
        response = requests.post(sandbox.url(provider, path), data=params, headers=headers, timeout=30)
    else:
        response = requests.get(sandbox.url(provider, path), params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_oura_payloads_carry_the_documented_fields(sandbox):
    day, start = yesterday_window()
    grant = flows.connect(sandbox, "oura")
    token = grant["access_token"]
    dates = {"start_date": day.isoformat(), "end_date": f"{day.isoformat()}T23:59:59"}

    assert missing(documented("oura", "token"), grant) == []
    for name, params in [
        ("daily_activity", dates),
        ("sleep", {"start_date": (day - timedelta(days=1)).isoformat(), "end_date": day.isoformat()}),
        (
            "heartrate",
            {"start_datetime": start.isoformat(), "end_datetime": (start + timedelta(hours=1)).isoformat()},
        ),
    ]:
        assert (
            missing(
                documented("oura", name), fetch(sandbox, "oura", token, f"/v2/usercollection/{name}", params)
            )
            == []
        )
    readiness = fetch(sandbox, "oura", token, "/v2/usercollection/daily_readiness", dates)["data"][0]
    assert missing(documented("oura", "daily_readiness_item"), readiness) == []


def test_whoop_payloads_carry_the_documented_fields(sandbox):
    grant = flows.connect(sandbox, "whoop")

    assert missing(documented("whoop", "token"), grant) == []
    for name, path in [("cycle", "cycle"), ("recovery", "recovery"), ("activity_sleep", "activity/sleep")]:
        body = fetch(sandbox, "whoop", grant["access_token"], f"/developer/v2/{path}", {"limit": 2})
        body["records"] = body["records"][1:]  # the newest cycle is still open, without an end
        assert missing(documented("whoop", name), body) == [], name
    workouts = fetch(sandbox, "whoop", grant["access_token"], "/developer/v2/activity/workout", {"limit": 25})
    running = {
        "records": [w for w in workouts["records"] if w["score"]["distance_meter"]],
        "next_token": None,
    }
    assert missing(documented("whoop", "activity_workout"), running) == []


def test_strava_payloads_carry_the_documented_fields(sandbox):
    grant = flows.connect(sandbox, "strava")
    activities = fetch(
        sandbox, "strava", grant["access_token"], "/api/v3/athlete/activities", {"per_page": 50}
    )
    run = [a for a in activities if a["sport_type"] == "Run"][:1]
    streams = fetch(
        sandbox,
        "strava",
        grant["access_token"],
        f"/api/v3/activities/{run[0]['id']}/streams",
        {"keys": "time,distance,heartrate", "key_by_type": "true"},
    )

    assert missing(documented("strava", "token"), grant) == []
    assert missing(documented("strava", "athlete_activities"), run) == []
    assert missing(documented("strava", "activity_streams"), streams) == []


@pytest.mark.parametrize(
    ("name", "path", "action"),
    [
        ("getmeas", "/measure", "getmeas"),
        ("getactivity", "/v2/measure", "getactivity"),
        ("getworkouts", "/v2/measure", "getworkouts"),
        ("getsummary", "/v2/sleep", "getsummary"),
    ],
)
def test_withings_payloads_carry_the_documented_fields(sandbox, name, path, action):
    day, start = yesterday_window()
    grant = flows.connect(sandbox, "withings")
    first = day - timedelta(days=6)
    params = {
        "action": action,
        "startdateymd": first.isoformat(),
        "enddateymd": day.isoformat(),
        "startdate": int(start.timestamp()) - 6 * 86400,
        "enddate": int(start.timestamp()) + 86400,
    }
    if action != "getmeas":
        params = {k: v for k, v in params.items() if k.endswith("ymd") or k == "action"}
    else:
        params = {k: v for k, v in params.items() if not k.endswith("ymd")}

    body = fetch(sandbox, "withings", grant["access_token"], path, params, method="POST")

    assert missing(documented("withings", "token")["body"], grant) == []
    assert missing(documented("withings", name), body) == []


@pytest.mark.parametrize(
    ("name", "data_type"),
    [
        ("steps", "steps"),
        ("heart_rate", "heart-rate"),
        ("daily_resting_heart_rate", "daily-resting-heart-rate"),
        ("sleep", "sleep"),
        ("weight", "weight"),
        ("exercise", "exercise"),
    ],
)
def test_google_health_payloads_carry_the_documented_fields(sandbox, name, data_type):
    grant = flows.connect(sandbox, "fitbit")
    day, _ = yesterday_window()
    filters = {"sleep": "", "exercise": f'exercise.interval.civil_start_time >= "{day - timedelta(days=20)}"'}

    body = fetch(
        sandbox,
        "fitbit",
        grant["access_token"],
        f"/v4/users/me/dataTypes/{data_type}/dataPoints",
        {"pageSize": 25, "filter": filters.get(data_type, "")},
    )
    if data_type == "exercise":
        body["dataPoints"] = [p for p in body["dataPoints"] if p["exercise"]["exerciseType"] == "RUNNING"][:1]
    expected = documented("fitbit", name)
    if data_type in {"steps", "exercise", "sleep", "weight"}:
        expected["dataPoints"][0].pop("dataSource")  # device details vary by device
    assert missing(expected, body, data_type) in ([], [".nextPageToken"])
    assert missing(documented("fitbit", "token"), grant) in ([], [".refresh_token_expires_in"])
