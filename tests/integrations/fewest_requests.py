"""The fewest requests a sync of one provider can make, from what the provider served and its paging rules.

A sync reads every data type over its window. For each data type the floor is:

- a type with no maximum date window: one query over the whole window, paged at the largest page
  size the provider allows (or the size it imposes), i.e. max(1, ceil(items / page size));
- a type with a maximum date window: one request per window of that size (each window's answer
  fits in one page), i.e. ceil(window length / maximum window);
- plus the calls a type cannot do without (Withings' sleep stages: one `get` per night, since the
  call returns at most 24 hours; Google Health: one `settings` read for the user's civil days).

`items` are what the sandbox served per data type (`Sandbox.served`), so the floor holds for any
data the provider returns. Page sizes and windows are the documented ones in
`../shared/providers/*.md`; where a provider documents none (Oura's and Withings' server-side page
sizes), the size the sandbox serves is used, since a client cannot change it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# Server-side page sizes (no page-size parameter exists) and client-chosen maxima.
WITHINGS_PAGE = 30  # more/offset paging; Withings publishes no size and takes no size parameter
WITHINGS_SUMMARY_WINDOW_DAYS = 7  # sleep v2 getsummary: "a single call can span up to 7 days maximum"
OURA_DOCUMENT_PAGE = 50  # next_token paging; Oura publishes no size and takes no size parameter
OURA_SAMPLE_PAGE = 1000
WHOOP_LIMIT = 25  # `limit` at most 25
STRAVA_PER_PAGE = 200  # `per_page` at most 200
GOOGLE_LIST_PAGE = 10_000  # `pageSize` at most 10,000 ...
GOOGLE_SESSION_PAGE = 25  # ... and 25 for sleep and exercise
GOOGLE_DAILY_ROLLUP_DAYS = 90
GOOGLE_HEART_RATE_ROLLUP_DAYS = 14


def pages(items: int, size: int) -> int:
    return max(1, math.ceil(items / size))


def _served(served: dict[str, int], endpoint: str, path_part: str = "") -> int:
    return sum(count for key, count in served.items() if key.split(" ")[0] == endpoint and path_part in key)


def _window(run_windows: dict, data_type: str) -> tuple[datetime, datetime]:
    start, end = run_windows[data_type]
    return datetime.fromisoformat(start), datetime.fromisoformat(end)


def withings(served: dict[str, int], windows: dict) -> dict[str, int]:
    start, end = _window(windows, "sleep")
    dates = ((end - timedelta(seconds=1)).date() - start.date()).days + 1
    return {
        "getmeas": pages(_served(served, "getmeas"), WITHINGS_PAGE),
        "getactivity": pages(_served(served, "getactivity"), WITHINGS_PAGE),
        "getworkouts": pages(_served(served, "getworkouts"), WITHINGS_PAGE),
        "getsummary": math.ceil(dates / WITHINGS_SUMMARY_WINDOW_DAYS),
        "sleep_get": _served(served, "getsummary"),  # one night per call (at most 24 hours)
    }


def oura(served: dict[str, int], windows: dict) -> dict[str, int]:
    floor = {
        name: pages(_served(served, name), OURA_DOCUMENT_PAGE)
        for name in ("daily_activity", "daily_sleep", "daily_readiness", "daily_spo2", "sleep", "workout")
    }
    floor["heartrate"] = pages(_served(served, "heartrate"), OURA_SAMPLE_PAGE)
    return floor


def fitbit(served: dict[str, int], windows: dict, zone: ZoneInfo) -> dict[str, int]:
    start, end = _window(windows, "steps")
    first, last = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
    hr_start, hr_end = _window(windows, "heart-rate")
    hours = math.ceil((hr_end - hr_start.replace(minute=0, second=0, microsecond=0)).total_seconds() / 3600)
    lists = [key.split("/dataTypes/")[1].split("/")[0] for key in served if key.startswith("list ")]
    return {
        "settings": 1,
        "dailyRollUp": 4 * math.ceil(((last - first).days + 1) / GOOGLE_DAILY_ROLLUP_DAYS),
        "rollUp": math.ceil(hours / (GOOGLE_HEART_RATE_ROLLUP_DAYS * 24)),
        "list": sum(
            pages(
                _served(served, "list", f"/dataTypes/{name}/"),
                GOOGLE_SESSION_PAGE if name in ("sleep", "exercise") else GOOGLE_LIST_PAGE,
            )
            for name in lists
        ),
    }


def whoop(served: dict[str, int], windows: dict) -> dict[str, int]:
    return {
        name: pages(_served(served, name), WHOOP_LIMIT)
        for name in ("cycle", "recovery", "activity/sleep", "activity/workout")
    }


def strava(served: dict[str, int], windows: dict) -> dict[str, int]:
    # The last page is the first one shorter than per_page, so a multiple of 200 needs one more.
    return {"athlete_activities": _served(served, "athlete_activities") // STRAVA_PER_PAGE + 1}


def fewest_requests(provider: str, served: dict[str, int], windows: dict, zone: ZoneInfo) -> dict[str, int]:
    """Per sandbox endpoint, the fewest requests a sync over `windows` (SyncRun.windows) can make."""
    if provider == "fitbit":
        return fitbit(served, windows, zone)
    return {"withings": withings, "oura": oura, "whoop": whoop, "strava": strava}[provider](served, windows)
