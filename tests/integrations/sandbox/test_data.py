"""Data endpoints over real HTTP: every pagination walk returns exactly the generated items."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.integrations.sandbox import flows

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def window():
    """90 finished local days ending three days ago."""
    last = datetime.now(BERLIN).date() - timedelta(days=3)
    return last - timedelta(days=89), last


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), BERLIN)


def zulu(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")


def get(sandbox, provider, path, token, params=None):
    response = requests.get(
        sandbox.url(provider, path),
        params=params or {},
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_expected_counts_cover_every_data_type_of_each_provider(sandbox, window):
    counts = {p: sandbox.expected_counts(p, "demo", *window) for p in flows.SCOPES}

    assert counts["oura"]["daily_activity"] == 90 and counts["oura"]["sleep"] == 90
    assert counts["oura"]["heartrate"] in {90 * 288, 90 * 288 - 12, 90 * 288 + 12}
    # WHOOP keys a cycle, its recovery and its sleep on bedtime (22:15-00:15): a bedtime after
    # midnight moves one night into or out of the window at either edge.
    whoop = counts["whoop"]
    assert whoop["cycle"] == whoop["recovery"] == whoop["activity/sleep"] in {89, 90, 91}
    assert counts["withings"]["getactivity"] == counts["withings"]["getsummary"] == 90
    assert counts["fitbit"]["steps"] == 90 * 60 and counts["fitbit"]["daily-resting-heart-rate"] == 90
    workouts = [
        ("strava", "activities"),
        ("oura", "workout"),
        ("whoop", "activity/workout"),
        ("fitbit", "exercise"),
    ]
    assert all(30 < counts[provider][name] < 140 for provider, name in workouts)
    assert 30 < counts["withings"]["getmeas"] < 90


def test_generated_data_is_the_same_whichever_window_asks(sandbox, window):
    first, last = window
    whole = sandbox.expected_counts("oura", "demo", first, last)
    halves = [
        sandbox.expected_counts("oura", "demo", first, first + timedelta(days=44)),
        sandbox.expected_counts("oura", "demo", first + timedelta(days=45), last),
    ]

    assert whole == {name: halves[0][name] + halves[1][name] for name in whole}


def test_oura_walks_return_the_expected_counts_and_drop_the_last_day_on_a_date_only_end(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "oura")["access_token"]
    expected = sandbox.expected_counts("oura", "demo", first, last)

    activity = walk_oura(
        sandbox,
        "daily_activity",
        token,
        start_date=first.isoformat(),
        end_date=f"{last.isoformat()}T23:59:59",
    )
    sleep = walk_oura(
        sandbox, "sleep", token, start_date=(first - timedelta(days=1)).isoformat(), end_date=last.isoformat()
    )
    beats = walk_oura(
        sandbox,
        "heartrate",
        token,
        start_datetime=midnight(first).isoformat(),
        end_datetime=midnight(last + timedelta(days=1)).isoformat(),
    )
    date_only = walk_oura(
        sandbox, "daily_activity", token, start_date=first.isoformat(), end_date=last.isoformat()
    )

    assert len(activity) == expected["daily_activity"] == 90
    assert len(sleep) == expected["sleep"]
    assert len(beats) == expected["heartrate"]
    assert len({b["timestamp_unix"] for b in beats}) == len(beats)
    assert len(date_only) == 89
    assert sandbox.count("oura", "daily_activity") == 2 + 2
    assert sandbox.count("oura", "heartrate") == -(-expected["heartrate"] // 1000)


def walk_oura(sandbox, name, token, **params):
    items, next_token = [], None
    while True:
        body = get(
            sandbox,
            "oura",
            f"/v2/usercollection/{name}",
            token,
            params | ({"next_token": next_token} if next_token else {}),
        )
        items += body["data"]
        next_token = body["next_token"]
        if next_token is None:
            return items


def test_whoop_walks_newest_first_in_pages_of_at_most_25(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "whoop")["access_token"]
    expected = sandbox.expected_counts("whoop", "demo", first, last)
    bounds = {"start": midnight(first).isoformat(), "end": midnight(last + timedelta(days=1)).isoformat()}

    for name in ("cycle", "recovery", "activity/sleep", "activity/workout"):
        records = []
        params = bounds | {"limit": 25}
        while True:
            body = get(sandbox, "whoop", f"/developer/v2/{name}", token, params)
            records += body["records"]
            if not body.get("next_token"):
                break
            params = bounds | {"limit": 25, "nextToken": body["next_token"]}
        assert len(records) == expected[name], name
    sleeps = get(sandbox, "whoop", "/developer/v2/activity/sleep", token, bounds | {"limit": 25})["records"]
    assert [s["start"] for s in sleeps] == sorted((s["start"] for s in sleeps), reverse=True)
    assert sleeps[0]["score"]["stage_summary"]["total_in_bed_time_milli"] % 1000 == 0


def test_whoop_refuses_a_limit_above_25(sandbox):
    token = flows.connect(sandbox, "whoop")["access_token"]

    response = requests.get(
        sandbox.url("whoop", "/developer/v2/cycle"),
        params={"limit": 26},
        timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 400
    assert response.headers["X-RateLimit-Limit"].startswith("100")


def test_whoop_recovery_is_reachable_from_the_sleep_its_event_names(sandbox):
    token = flows.connect(sandbox, "whoop")["access_token"]
    night = get(sandbox, "whoop", "/developer/v2/activity/sleep", token, {"limit": 1})["records"][0]

    recovery = get(sandbox, "whoop", f"/developer/v2/cycle/{night['cycle_id']}/recovery", token)

    assert recovery["sleep_id"] == night["id"]
    assert get(sandbox, "whoop", f"/developer/v2/activity/sleep/{night['id']}", token) == night


def test_strava_pages_with_per_page_and_filters_with_before_and_after(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "strava")["access_token"]
    expected = sandbox.expected_counts("strava", "demo", first, last)["activities"]
    bounds = {
        "after": int(midnight(first).timestamp()),
        "before": int(midnight(last + timedelta(days=1)).timestamp()),
    }

    small, page = [], 1
    while batch := get(
        sandbox, "strava", "/api/v3/athlete/activities", token, bounds | {"page": page, "per_page": 30}
    ):
        small += batch
        page += 1
    whole = get(sandbox, "strava", "/api/v3/athlete/activities", token, bounds | {"per_page": 500})
    ascending = get(
        sandbox, "strava", "/api/v3/athlete/activities", token, {"after": bounds["after"], "per_page": 200}
    )

    assert len(small) == len(whole) == expected
    assert [a["id"] for a in small] == [a["id"] for a in whole]
    assert whole[0]["start_date"] > whole[-1]["start_date"]
    assert ascending[0]["start_date"] < ascending[1]["start_date"]
    assert whole[0]["start_date_local"].endswith("Z") and whole[0]["start_date"].endswith("Z")
    assert whole[0]["start_date_local"] != whole[0]["start_date"]


def test_strava_activity_detail_streams_and_laps(sandbox):
    token = flows.connect(sandbox, "strava")["access_token"]
    summary = get(sandbox, "strava", "/api/v3/athlete/activities", token, {"per_page": 1})[0]

    detail = get(sandbox, "strava", f"/api/v3/activities/{summary['id']}", token)
    streams = get(
        sandbox,
        "strava",
        f"/api/v3/activities/{summary['id']}/streams",
        token,
        {"keys": "time,heartrate,distance", "key_by_type": "true"},
    )

    assert detail["calories"] > 0 and detail["id"] == summary["id"]
    assert set(streams) == {"time", "heartrate", "distance"}
    assert len(streams["time"]["data"]) == len(streams["heartrate"]["data"])


def walk_google(sandbox, data_type, token, filter_, page_size):
    points, page_token = [], ""
    while True:
        params = {"filter": filter_, "pageSize": page_size} | (
            {"pageToken": page_token} if page_token else {}
        )
        body = get(sandbox, "fitbit", f"/v4/users/me/dataTypes/{data_type}/dataPoints", token, params)
        points += body["dataPoints"]
        page_token = body["nextPageToken"]
        if page_token == "":
            return points


def test_google_list_walks_return_the_expected_counts(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "fitbit")["access_token"]
    expected = sandbox.expected_counts("fitbit", "demo", first, last)
    civil = f'>= "{first.isoformat()}" AND {{field}} < "{(last + timedelta(days=1)).isoformat()}"'
    lower, upper = (zulu(midnight(day)) for day in (first, last + timedelta(days=1)))
    physical = f'>= "{lower}" AND {{field}} < "{upper}"'

    def expression(field, bounds):
        return f"{field} {bounds.format(field=field)}"

    steps = walk_google(sandbox, "steps", token, expression("steps.interval.civil_start_time", civil), 1000)
    beats = walk_google(
        sandbox, "heart-rate", token, expression("heart_rate.sample_time.physical_time", physical), 10000
    )
    nights = walk_google(sandbox, "sleep", token, expression("sleep.interval.end_time", physical), 100)
    exercise = walk_google(
        sandbox, "exercise", token, expression("exercise.interval.civil_start_time", civil), 25
    )
    resting = walk_google(
        sandbox, "daily-resting-heart-rate", token, expression("daily_resting_heart_rate.date", civil), 1440
    )

    assert len(steps) == expected["steps"] and steps[0]["steps"]["count"].isdigit()
    assert len(beats) == expected["heart-rate"]
    assert len(nights) == expected["sleep"] == 90
    assert len(exercise) == expected["exercise"]
    assert len(resting) == expected["daily-resting-heart-rate"] == 90
    assert sandbox.count("fitbit", "list") == 6 + 3 + 4 + (-(-expected["exercise"] // 25)) + 1
    assert steps[0]["steps"]["interval"]["startTime"] > steps[-1]["steps"]["interval"]["startTime"]


def test_google_daily_rollup_adds_up_the_listed_points_and_enforces_range_limits(sandbox, window):
    first, _ = window
    token = flows.connect(sandbox, "fitbit")["access_token"]
    last = first + timedelta(days=13)

    rollup = post_google(sandbox, token, "steps", "dailyRollUp", daily_range(first, last))
    listed = walk_google(
        sandbox,
        "steps",
        token,
        f'steps.interval.civil_start_time >= "{first}" AND '
        f'steps.interval.civil_start_time < "{last + timedelta(days=1)}"',
        10000,
    )
    too_long = post_google(
        sandbox, token, "total-calories", "dailyRollUp", daily_range(first, last + timedelta(days=1))
    )
    ninety = post_google(
        sandbox, token, "steps", "dailyRollUp", daily_range(first, first + timedelta(days=89))
    )
    ninety_one = post_google(
        sandbox, token, "steps", "dailyRollUp", daily_range(first, first + timedelta(days=90))
    )

    assert rollup.status_code == 200
    assert len(rollup.json()["rollupDataPoints"]) == 14
    assert sum(int(p["steps"]["countSum"]) for p in rollup.json()["rollupDataPoints"]) == sum(
        int(p["steps"]["count"]) for p in listed
    )
    assert too_long.status_code == 400 and too_long.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert ninety.status_code == 200 and ninety_one.status_code == 400


def test_google_rollup_limits_heart_rate_to_14_days(sandbox, window):
    first, _ = window
    token = flows.connect(sandbox, "fitbit")["access_token"]
    start = midnight(first).astimezone(ZoneInfo("UTC"))

    def body(days):
        end = start + timedelta(days=days)
        return {
            "range": {
                "startTime": start.isoformat().replace("+00:00", "Z"),
                "endTime": end.isoformat().replace("+00:00", "Z"),
            },
            "windowSize": "3600s",
        }

    ok = post_google(sandbox, token, "heart-rate", "rollUp", body(14))
    refused = post_google(sandbox, token, "heart-rate", "rollUp", body(15))

    assert ok.status_code == 200 and len(ok.json()["rollupDataPoints"]) == 14 * 24
    assert refused.status_code == 400


def test_google_filters_are_checked_like_the_api_does(sandbox):
    token = flows.connect(sandbox, "fitbit")["access_token"]
    url = sandbox.url("fitbit", "/v4/users/me/dataTypes/body-fat/dataPoints")

    def reason(expression):
        response = requests.get(
            url, params={"filter": expression}, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 400
        return response.json()["error"]["details"][0]["reason"]

    assert (
        reason('body-fat.sample_time.physical_time >= "2025-01-01T00:00:00Z"') == "INVALID_DATA_POINT_FILTER"
    )
    assert reason('body_fat.sample_time.physical_time > "2025-01-01T00:00:00Z"') == (
        "INVALID_DATA_POINT_FILTER_RESTRICTION_COMPARATOR"
    )
    assert (
        reason(
            'body_fat.sample_time.physical_time >= "2025-01-02T00:00:00Z" AND '
            'body_fat.sample_time.physical_time < "2025-01-01T00:00:00Z"'
        )
        == "INVALID_TIME_RANGE"
    )
    assert (
        reason(
            'body_fat.sample_time.physical_time >= "2025-01-01T00:00:00Z" AND '
            'body_fat.sample_time.civil_time < "2025-02-01"'
        )
        == "INVALID_DATA_POINT_FILTER_MIXED_TIME_RESTRICTIONS"
    )


def test_google_refuses_data_outside_the_granted_scopes(sandbox):
    sandbox.consent("fitbit", drop_scopes=("https://www.googleapis.com/auth/googlehealth.sleep.readonly",))
    grant = flows.exchange(
        sandbox, "fitbit", flows.redirect_params(flows.authorize(sandbox, "fitbit"))["code"]
    )

    response = requests.get(
        sandbox.url("fitbit", "/v4/users/me/dataTypes/sleep/dataPoints"),
        timeout=10,
        headers={"Authorization": f"Bearer {grant['access_token']}"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def post_google(sandbox, token, data_type, method, body):
    return requests.post(
        sandbox.url("fitbit", f"/v4/users/me/dataTypes/{data_type}/dataPoints:{method}"),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def daily_range(first, last):
    def civil(day):
        return {"date": {"year": day.year, "month": day.month, "day": day.day}}

    return {"range": {"start": civil(first), "end": civil(last)}, "windowSizeDays": 1}


def withings(sandbox, path, token, **form):
    response = requests.post(
        sandbox.url("withings", path), data=form, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200
    return response.json()


def walk_withings(sandbox, path, token, key, **form):
    rows, offset = [], 0
    while True:
        body = withings(sandbox, path, token, **form, **({"offset": offset} if offset else {}))
        assert body["status"] == 0, body
        rows += body["body"][key]
        if not body["body"]["more"]:
            return rows
        offset = body["body"]["offset"]


def test_withings_walks_page_with_more_and_offset(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "withings")["access_token"]
    expected = sandbox.expected_counts("withings", "demo", first, last)
    ymd = {"startdateymd": first.isoformat(), "enddateymd": last.isoformat()}
    epochs = {
        "startdate": int(midnight(first).timestamp()),
        "enddate": int(midnight(last + timedelta(days=1)).timestamp()) - 1,
    }

    activities = walk_withings(sandbox, "/v2/measure", token, "activities", action="getactivity", **ymd)
    workouts = walk_withings(sandbox, "/v2/measure", token, "series", action="getworkouts", **ymd)
    groups = walk_withings(sandbox, "/measure", token, "measuregrps", action="getmeas", **epochs)
    nights = []
    for week in range(0, 90, 7):
        start = first + timedelta(days=week)
        end = min(start + timedelta(days=6), last)
        nights += walk_withings(
            sandbox,
            "/v2/sleep",
            token,
            "series",
            action="getsummary",
            startdateymd=start.isoformat(),
            enddateymd=end.isoformat(),
        )

    assert len(activities) == expected["getactivity"] == 90
    assert len(workouts) == expected["getworkouts"]
    assert len(groups) == expected["getmeas"]
    assert len(nights) == expected["getsummary"] == 90
    assert sandbox.count("withings", "getactivity") == 3
    assert activities[0]["timezone"] == "Europe/Berlin"


def test_withings_refuses_a_sleep_summary_longer_than_seven_days(sandbox, window):
    first, _ = window
    token = flows.connect(sandbox, "withings")["access_token"]

    body = withings(
        sandbox,
        "/v2/sleep",
        token,
        action="getsummary",
        startdateymd=first.isoformat(),
        enddateymd=(first + timedelta(days=7)).isoformat(),
    )

    assert body["status"] != 0 and body["body"] == {}


def test_withings_high_frequency_calls_return_only_the_first_24_hours(sandbox, window):
    first, _ = window
    token = flows.connect(sandbox, "withings")["access_token"]
    start = int(midnight(first).timestamp())

    intraday = withings(
        sandbox,
        "/v2/measure",
        token,
        action="getintradayactivity",
        startdate=start,
        enddate=start + 2 * 86400,
    )
    keys = sorted(int(k) for k in intraday["body"]["series"])

    assert keys[0] == start and keys[-1] < start + 86400
    assert len(keys) == 288


def test_withings_scaled_measures_and_meastype_filter(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "withings")["access_token"]
    span = {"startdate": int(midnight(first).timestamp()), "enddate": int(midnight(last).timestamp())}

    weights = withings(sandbox, "/measure", token, action="getmeas", meastype=1, **span)["body"][
        "measuregrps"
    ]

    measure = weights[0]["measures"][0]
    assert all(len(group["measures"]) == 1 for group in weights)
    assert (
        measure["type"] == 1 and measure["unit"] == -3 and 70 < measure["value"] * 10 ** measure["unit"] < 80
    )


def test_withings_lastupdate_with_dates_returns_nothing(sandbox, window):
    first, last = window
    token = flows.connect(sandbox, "withings")["access_token"]

    body = withings(
        sandbox,
        "/v2/measure",
        token,
        action="getactivity",
        startdateymd=first.isoformat(),
        enddateymd=last.isoformat(),
        lastupdate=int(midnight(first).timestamp()),
    )

    assert body["status"] == 0 and body["body"]["activities"] == []


def test_identity_and_device_endpoints_answer(sandbox):
    oura = flows.connect(sandbox, "oura")["access_token"]
    google = flows.connect(sandbox, "fitbit")["access_token"]
    withings_token = flows.connect(sandbox, "withings")["access_token"]

    sandbox_prefix = get(sandbox, "oura", "/v2/sandbox/usercollection/personal_info", oura)
    identity = get(sandbox, "fitbit", "/v4/users/me/identity", google)
    devices = get(sandbox, "fitbit", "/v4/users/me/pairedDevices", google)
    settings_ = get(sandbox, "fitbit", f"/v4/users/{identity['healthUserId']}/settings", google)
    withings_devices = withings(sandbox, "/v2/user", withings_token, action="getdevice")

    assert sandbox_prefix["id"] and identity["name"] == "users/me/identity" and identity["legacyUserId"]
    assert devices["pairedDevices"][0]["deviceType"] == "TRACKER"
    assert settings_["timeZone"] == "Europe/Berlin"
    assert withings_devices["status"] == 0 and len(withings_devices["body"]["devices"]) == 4


def test_an_account_time_zone_moves_the_local_offsets(sandbox):
    sandbox.set_timezone("whoop", "ny", "America/New_York")
    token = flows.connect(sandbox, "whoop", account="ny")["access_token"]

    cycle = get(sandbox, "whoop", "/developer/v2/cycle", token, {"limit": 1})["records"][0]

    assert cycle["timezone_offset"] in {"-05:00", "-04:00"}
