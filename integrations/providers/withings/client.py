"""Withings Public Health Data API calls.

Every call is a form POST carrying `action=…`; every answer is `{"status": int, "body": {...}}`,
HTTP 200 even on errors. Pages continue while `body.more` is truthy (an int in getmeas, a boolean
in v2 services) by repeating the call with `offset`. No rate-limit headers: 120 requests a minute
per application, over which Withings answers `status: 601`.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import requests

from integrations.http import ApiClient, AuthExpired, ProviderError, RateLimit, RateLimited, TransientError

AUTH_FAILED = {100, 101, 102, 200, 401}
TOO_MANY_REQUESTS = 601
TIMEOUT = 522
RATE_LIMIT_RETRY_SECONDS = 60.0
SLEEP_WINDOW_DAYS = 7  # getsummary "can span up to 7 days maximum"
DETAIL_WINDOW = timedelta(hours=24)  # sleep `get` returns only the first 24 h after startdate

MEASURE_TYPES = "1,4,5,6,9,10,11,12,54,71,76,77,88"
ACTIVITY_FIELDS = (
    "steps,distance,elevation,soft,moderate,intense,active,calories,totalcalories,hr_average,hr_min,hr_max"
)
WORKOUT_FIELDS = "calories,intensity,hr_average,hr_min,hr_max,pause_duration,steps,distance,elevation"
SLEEP_FIELDS = (
    "total_timeinbed,total_sleep_time,lightsleepduration,deepsleepduration,remsleepduration,"
    "wakeupduration,wakeupcount,sleep_efficiency,hr_average,hr_min,hr_max,rr_average,sleep_score,"
    "rmssd_start_avg,rmssd_end_avg"
)


class WithingsClient(ApiClient):
    rate_limits = (RateLimit(requests=120, seconds=60),)

    def check(self, response: requests.Response) -> None:
        """HTTP errors first, then the `status` inside the 200 envelope."""
        super().check(response)
        try:
            status = response.json().get("status")
        except (ValueError, AttributeError):
            raise TransientError(
                "Withings answered without its JSON envelope", status=response.status_code
            ) from None
        if status == 0:
            return
        if status == TOO_MANY_REQUESTS:
            raise RateLimited("Withings status 601", retry_after=RATE_LIMIT_RETRY_SECONDS, status=None)
        if status in AUTH_FAILED:
            raise AuthExpired(f"Withings status {status}", status=401)
        if status == TIMEOUT:
            raise TransientError("Withings status 522 (timeout)")
        raise ProviderError(f"Withings status {status}")

    def call(self, path: str, action: str, *, authenticated: bool = True, **params: Any) -> dict:
        """One action; the unwrapped `body`."""
        response = self.request("POST", path, authenticated=authenticated, data={"action": action, **params})
        return response.json().get("body") or {}

    def pages(self, path: str, action: str, list_key: str, **params: Any) -> Iterator[tuple[dict, dict]]:
        """(item, body) for every item of every page, following `more` + `offset`."""
        offset = None
        while True:
            body = self.call(path, action, **params, **({"offset": offset} if offset else {}))
            series = body.get(list_key) or []
            for item in series:
                yield item, body
            if not body.get("more") or not series:
                return
            offset = body.get("offset")

    # https://developer.withings.com/api-reference/#tag/measure/operation/measure-getmeas
    def measure_groups(self, start: datetime, end: datetime) -> Iterator[dict]:
        params = {
            "meastypes": MEASURE_TYPES,
            "category": 1,
            "startdate": int(start.timestamp()),
            "enddate": int(end.timestamp()),
        }
        for group, body in self.pages("measure", "getmeas", "measuregrps", **params):
            if not group.get("timezone"):
                group = {**group, "timezone": body.get("timezone")}
            yield group

    # https://developer.withings.com/api-reference/#tag/measure/operation/measurev2-getactivity
    def activities(self, start: datetime, end: datetime) -> Iterator[dict]:
        first, last = day_range(start, end)
        params = {"startdateymd": first, "enddateymd": last, "data_fields": ACTIVITY_FIELDS}
        for row, _body in self.pages("v2/measure", "getactivity", "activities", **params):
            yield row

    # https://developer.withings.com/api-reference/#tag/measure/operation/measurev2-getworkouts
    def workouts(self, start: datetime, end: datetime) -> Iterator[dict]:
        first, last = day_range(start, end)
        params = {"startdateymd": first, "enddateymd": last, "data_fields": WORKOUT_FIELDS}
        for row, _body in self.pages("v2/measure", "getworkouts", "series", **params):
            yield row

    # https://developer.withings.com/api-reference/#tag/sleep/operation/sleepv2-getsummary
    def sleep_summaries(self, start: datetime, end: datetime) -> Iterator[dict]:
        for first, last in ymd_windows(start, end, SLEEP_WINDOW_DAYS):
            params = {"startdateymd": first, "enddateymd": last, "data_fields": SLEEP_FIELDS}
            for row, _body in self.pages("v2/sleep", "getsummary", "series", **params):
                yield row

    # https://developer.withings.com/api-reference/#tag/sleep/operation/sleepv2-get
    def sleep_segments(self, start: int, end: int) -> list[dict]:
        """The night's sleep-state segments, read in the 24-hour slices the call allows."""
        segments: list[dict] = []
        cursor = start
        while cursor < end:
            stop = min(cursor + int(DETAIL_WINDOW.total_seconds()), end)
            series = self.call("v2/sleep", "get", startdate=cursor, enddate=stop).get("series") or []
            segments.extend(series.values() if isinstance(series, dict) else series)
            cursor = stop
        return [segment for segment in segments if isinstance(segment, dict) and "state" in segment]


def ymd_windows(start: datetime, end: datetime, days: int) -> Iterator[tuple[str, str]]:
    """The dates of [start, end) as inclusive (first, last) pairs spanning at most `days` dates."""
    first_text, last_text = day_range(start, end)
    first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    while first <= last:
        stop = min(first + timedelta(days=days - 1), last)
        yield first.isoformat(), stop.isoformat()
        first = stop + timedelta(days=1)


def day_range(start: datetime, end: datetime) -> tuple[str, str]:
    """[start, end) -> the inclusive `startdateymd` / `enddateymd` pair covering it."""
    last = (end - timedelta(seconds=1)).date()
    return start.date().isoformat(), max(last, start.date()).isoformat()
