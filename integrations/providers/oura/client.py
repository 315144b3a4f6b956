"""Oura API v2 calls.

Collections answer `{"data": [...], "next_token": ...}`; the same request is repeated with
`next_token` until it is null. Daily collections take local dates and filter on each document's
04:00-local `timestamp`, so a date-only `end_date` works as an exclusive bound; `/sleep` treats
`start_date` as exclusive. Time series (heart rate) take ISO datetimes with offsets. Oura
publishes no maximum window, so a whole range is one query paged by `next_token` (the fewest
requests its page sizes allow). 5,000 requests per 5 minutes.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from integrations.http import ApiClient, RateLimit


class OuraClient(ApiClient):
    rate_limits = (RateLimit(requests=5000, seconds=300),)

    def collection(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        """Every document of a collection query, following `next_token`."""
        token = None
        while True:
            page = self.get_json(path, params={**params, **({"next_token": token} if token else {})})
            yield from page.get("data") or []
            token = page.get("next_token")
            if not token:
                return

    # https://cloud.ouraring.com/v2/docs#tag/Daily-Activity-Routes (and the other daily routes)
    def daily(self, collection: str, start: datetime, end: datetime) -> Iterator[dict]:
        """Documents whose local day falls in [start, end)."""
        params = {"start_date": start.date().isoformat(), "end_date": next_day(end)}
        return self.collection(f"v2/usercollection/{collection}", params)

    # https://cloud.ouraring.com/v2/docs#tag/Sleep-Routes
    def sleep(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Sleep periods: the start date is exclusive on this route, so ask from the day before."""
        first = (start.date() - timedelta(days=1)).isoformat()
        return self.collection(
            "v2/usercollection/sleep", {"start_date": first, "end_date": end.date().isoformat()}
        )

    # https://cloud.ouraring.com/v2/docs#tag/Heart-Rate-Routes
    def heartrate(self, start: datetime, end: datetime) -> Iterator[dict]:
        params = {"start_datetime": start.isoformat(), "end_datetime": end.isoformat()}
        return self.collection("v2/usercollection/heartrate", params)


def next_day(moment: datetime) -> str:
    """A date-only `end_date` acts as midnight: the day after the window's last moment includes it."""
    return ((moment - timedelta(microseconds=1)).date() + timedelta(days=1)).isoformat()
