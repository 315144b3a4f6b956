"""Strava: workouts. Strava's 2026 terms allow caching its data for 7 days and showing it only to
the athlete it belongs to, so its retention defaults to 7 days."""

from collections.abc import Iterator
from datetime import datetime

import requests

from healthdata.normalized import RecordIn, SessionIn
from integrations.http import ProviderError
from integrations.providers.base import DataSource, TokenSet
from integrations.providers.strava import mapper
from integrations.providers.strava.client import StravaClient


class Source(DataSource):
    slug = "strava"
    name = "Strava"
    data_types = ("activities",)
    history_days = None  # every activity since the athlete joined
    scopes = ("read", "activity:read_all")
    metrics = ("workout_duration", "distance", "heart_rate", "heart_rate_max", "active_energy")
    pushes_webhooks = True
    retention_days = 7
    client_class = StravaClient
    client: StravaClient

    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        if data_type != "activities":
            raise ValueError(f"unknown Strava data type {data_type!r}")
        yield from self.client.activities(start, end)

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn | SessionIn]:
        yield from mapper.activity_records(item)

    def revoke(self, tokens: TokenSet) -> bool:
        """`POST /oauth/revoke` with the app's Basic credentials (Strava's 2026 revocation route)."""
        # https://developers.strava.com/docs/authentication/#revoking-access
        client_id, client_secret = self.app_credentials()
        revoke_url = self.token_url().rsplit("/", 1)[0] + "/revoke"
        try:
            self.client.request(
                "POST",
                revoke_url,
                authenticated=False,
                auth=requests.auth.HTTPBasicAuth(client_id, client_secret),
                data={"token": tokens.access_token, "token_type_hint": "access_token"},
            )
        except ProviderError:
            return False
        return True
