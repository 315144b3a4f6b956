"""WHOOP API v2 calls.

Collections take `start` (inclusive) and `end` (exclusive) ISO times and `limit` (at most 25),
answer newest first as `{"records": [...], "next_token": ...}`, and page with the `nextToken`
query parameter (camelCase in, snake_case out). The limits (100 a minute, 10,000 a day for the
whole app) come back in `X-RateLimit-*` headers on every response.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from integrations.http import ApiClient, RateLimit

PAGE_SIZE = 25


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WhoopClient(ApiClient):
    rate_limits = (RateLimit(requests=100, seconds=60), RateLimit(requests=10_000, seconds=86_400))

    def collection(self, path: str, start: datetime, end: datetime) -> Iterator[dict]:
        """Every record with start in [start, end), following `next_token`."""
        params: dict[str, Any] = {"start": iso(start), "end": iso(end), "limit": PAGE_SIZE}
        while True:
            page = self.get_json(path, params=params)
            yield from page.get("records") or []
            token = page.get("next_token")
            if not token:
                return
            params = {**params, "nextToken": token}

    # https://developer.whoop.com/api/#tag/Cycle/operation/getCycleCollection
    def cycles(self, start: datetime, end: datetime) -> Iterator[dict]:
        return self.collection("developer/v2/cycle", start, end)

    # https://developer.whoop.com/api/#tag/Sleep/operation/getSleepCollection
    def sleeps(self, start: datetime, end: datetime) -> Iterator[dict]:
        return self.collection("developer/v2/activity/sleep", start, end)

    # https://developer.whoop.com/api/#tag/Recovery/operation/getRecoveryCollection
    def recoveries(self, start: datetime, end: datetime) -> Iterator[dict]:
        return self.collection("developer/v2/recovery", start, end)

    # https://developer.whoop.com/api/#tag/Workout/operation/getWorkoutCollection
    def workouts(self, start: datetime, end: datetime) -> Iterator[dict]:
        return self.collection("developer/v2/activity/workout", start, end)
