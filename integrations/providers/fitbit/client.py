"""Google Health API v4 calls (the Fitbit source).

One generic collection per data type: `list` (newest first, `pageSize` up to 10,000, 25 for sleep
and exercise, `nextPageToken` "" on the last page) with AIP-160 filters (`>=` and `<` only, snake
case type names), and `dailyRollUp` / `rollUp` for totals (at most 90 days per request, 14 for
heart rate; `range.end` of dailyRollUp is inclusive in practice). Limits: 300 requests a minute per
user and 120,000 a minute per project; a 429 carries Google's error JSON.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.http import ApiClient, ProviderError, RateLimit
from integrations.providers.base import date_windows

LIST_PAGE_SIZE = 10_000
SESSION_PAGE_SIZE = 25  # sleep and exercise
ROLLUP_WINDOW_DAYS = 90
HEART_RATE_WINDOW_DAYS = 14
HEART_RATE_WINDOW = "3600s"
WEARABLES = "users/me/dataSourceFamilies/google-wearables"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def civil(day: date) -> dict:
    """A Google `Date`; JSON numbers, never zero-padded (`09` is rejected as octal)."""
    return {"year": day.year, "month": day.month, "day": day.day}


def civil_windows(first: date, last: date, days: int) -> Iterator[tuple[date, date]]:
    """Inclusive [first, last] day ranges of at most `days` days, oldest first."""
    while first <= last:
        stop = min(first + timedelta(days=days - 1), last)
        yield first, stop
        first = stop + timedelta(days=1)


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) widened to UTC hour boundaries."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return first, last if last == end else last + timedelta(hours=1)


def snake(data_type: str) -> str:
    return data_type.replace("-", "_")


class FitbitClient(ApiClient):
    rate_limits = (
        RateLimit(requests=300, seconds=60, per_user=True),
        RateLimit(requests=120_000, seconds=60),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._zone: tzinfo | None = None
        self._zone_read = False

    # https://developers.google.com/health/reference/rest/v4/users/getSettings
    def time_zone(self) -> tzinfo | None:
        """The user's IANA zone (read once per client), for civil days; None if it cannot be read."""
        if not self._zone_read:
            self._zone_read = True
            try:
                name = self.get_json("v4/users/me/settings").get("timeZone")
                self._zone = ZoneInfo(name) if name else None
            except (ProviderError, ZoneInfoNotFoundError, ValueError):
                self._zone = None
        return self._zone

    def _zone_name(self) -> str:
        zone = self.time_zone()
        return str(zone) if zone else ""

    # https://developers.google.com/health/reference/rest/v4/users.dataTypes.dataPoints/list
    def data_points(self, data_type: str, filter_: str, page_size: int = LIST_PAGE_SIZE) -> Iterator[dict]:
        params: dict[str, Any] = {"pageSize": page_size, **({"filter": filter_} if filter_ else {})}
        while True:
            page = self.get_json(f"v4/users/me/dataTypes/{data_type}/dataPoints", params=params)
            yield from page.get("dataPoints") or []
            token = page.get("nextPageToken")
            if not token:
                return
            params = {**params, "pageToken": token}

    # https://developers.google.com/health/reference/rest/v4/users.dataTypes.dataPoints/dailyRollUp
    def daily_rollup(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        """One point per civil day in [start, end), in 90-day requests."""
        zone = self.time_zone() or UTC
        zone_name = self._zone_name()
        first_day = start.astimezone(zone).date()
        last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
        for first, last in civil_windows(first_day, last_day, ROLLUP_WINDOW_DAYS):
            body = {
                "range": {"start": {"date": civil(first)}, "end": {"date": civil(last)}},
                "windowSizeDays": 1,
                "dataSourceFamily": WEARABLES,
            }
            page = self.post_json(f"v4/users/me/dataTypes/{data_type}/dataPoints:dailyRollUp", json=body)
            for point in page.get("rollupDataPoints") or []:
                yield {**point, "timeZone": zone_name}

    # https://developers.google.com/health/reference/rest/v4/users.dataTypes.dataPoints/rollUp
    def heart_rate_rollup(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Hourly heart-rate windows, 14 days per request (the rollUp limit for heart rate).

        The range is widened to whole UTC hours, so every sync cuts the same windows and an
        overlapping re-read updates the hours it already stored instead of adding shifted ones.
        """
        zone_name = self._zone_name()
        first, last = whole_hours(start, end)
        for window_start, window_end in date_windows(first, last, HEART_RATE_WINDOW_DAYS):
            body: dict[str, Any] = {
                "range": {"startTime": rfc3339(window_start), "endTime": rfc3339(window_end)},
                "windowSize": HEART_RATE_WINDOW,
                "dataSourceFamily": WEARABLES,
            }
            while True:
                page = self.post_json("v4/users/me/dataTypes/heart-rate/dataPoints:rollUp", json=body)
                for point in page.get("rollupDataPoints") or []:
                    yield {**point, "timeZone": zone_name}
                if not page.get("nextPageToken"):
                    break
                body = {**body, "pageToken": page["nextPageToken"]}

    def daily_points(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        """A daily type's points for the civil dates in [start, end)."""
        zone = self.time_zone() or UTC
        field = f"{snake(data_type)}.date"
        first = start.astimezone(zone).date().isoformat()
        stop = ((end - timedelta(microseconds=1)).astimezone(zone).date() + timedelta(days=1)).isoformat()
        zone_name = self._zone_name()
        for point in self.data_points(data_type, f'{field} >= "{first}" AND {field} < "{stop}"'):
            yield {**point, "timeZone": zone_name}

    def samples(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        field = f"{snake(data_type)}.sample_time.physical_time"
        yield from self.data_points(
            data_type, f'{field} >= "{rfc3339(start)}" AND {field} < "{rfc3339(end)}"'
        )

    def exercises(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Exercise sessions filter on civil start time only, in the user's zone."""
        zone = self.time_zone() or UTC
        first, stop = (moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S") for moment in (start, end))
        field = "exercise.interval.civil_start_time"
        yield from self.data_points(
            "exercise", f'{field} >= "{first}" AND {field} < "{stop}"', SESSION_PAGE_SIZE
        )

    def sleeps(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Sleep sessions ending in [start, end).

        Sleep filters were rejected live in 2026 (`INVALID_DATA_POINT_FILTER…`); then the list is
        read unfiltered, newest first, until it is past `start`, and clamped here.
        """
        field = "sleep.interval.end_time"
        filter_ = f'{field} >= "{rfc3339(start)}" AND {field} < "{rfc3339(end)}"'
        try:
            yield from self.data_points("sleep", filter_, SESSION_PAGE_SIZE)
        except ProviderError as error:
            if error.status != 400:
                raise
            yield from self._unfiltered_sleeps(start, end)

    def _unfiltered_sleeps(self, start: datetime, end: datetime) -> Iterator[dict]:
        for point in self.data_points("sleep", "", SESSION_PAGE_SIZE):
            ended = datetime.fromisoformat(point["sleep"]["interval"]["endTime"])
            if ended < start:
                return
            if ended < end:
                yield point
