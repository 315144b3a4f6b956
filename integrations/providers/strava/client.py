"""Strava API v3 calls.

`/athlete/activities` pages with `page` (1-based) and `per_page` (at most 200) between `after` and
`before` (epoch seconds); a page shorter than `per_page` is the last. Limits are per application
(by default 100 reads per 15 minutes and 1,000 a day), reported as "15min,daily" pairs in
`X-RateLimit-*` and `X-ReadRateLimit-*` headers.
"""

from collections.abc import Iterator
from datetime import datetime

from integrations.http import ApiClient, RateLimit

PAGE_SIZE = 200


class StravaClient(ApiClient):
    rate_limits = (RateLimit(requests=100, seconds=900), RateLimit(requests=1_000, seconds=86_400))

    # https://developers.strava.com/docs/reference/#api-Activities-getLoggedInAthleteActivities
    def activities(self, start: datetime, end: datetime) -> Iterator[dict]:
        params = {"after": int(start.timestamp()) - 1, "before": int(end.timestamp()), "per_page": PAGE_SIZE}
        page = 1
        while True:
            activities = self.get_json("api/v3/athlete/activities", params={**params, "page": page})
            yield from activities
            if len(activities) < PAGE_SIZE:
                return
            page += 1
