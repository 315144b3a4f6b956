"""Fitbit data through the Google Health API v4 (the legacy Fitbit Web API was switched off in
November 2026): daily activity totals, hourly heart rate, nightly resting HR, HRV, SpO2, breathing
rate and skin temperature, sleep with stages, exercise, weight and body fat."""

from collections.abc import Iterator
from datetime import datetime

from healthdata.normalized import RecordIn, SessionIn
from integrations.http import ProviderError
from integrations.providers.base import DataSource, TokenSet
from integrations.providers.fitbit import mapper
from integrations.providers.fitbit.client import FitbitClient

SCOPE_PREFIX = "https://www.googleapis.com/auth/googlehealth"
# Daily totals. `active-energy-burned` is left out: it appeared on the live API only in August 2026
# and is not in every discovery revision; energy comes with each exercise instead.
DAILY_ROLLUPS = ("steps", "distance", "floors", "active-zone-minutes")
DAILY_LISTS = (
    "daily-resting-heart-rate",
    "daily-heart-rate-variability",
    "daily-oxygen-saturation",
    "daily-respiratory-rate",
    "daily-sleep-temperature-derivations",
)
SAMPLES = ("weight", "body-fat")


class Source(DataSource):
    slug = "fitbit"
    name = "Fitbit (Google Health)"
    data_types = (*DAILY_ROLLUPS, "heart-rate", *DAILY_LISTS, "sleep", "exercise", *SAMPLES)
    history_days = None  # "as far back as it has been recorded"
    scopes = tuple(
        f"{SCOPE_PREFIX}.{name}.readonly"
        for name in ("activity_and_fitness", "health_metrics_and_measurements", "sleep", "settings")
    )
    metrics = (
        "steps",
        "distance",
        "floors_climbed",
        "active_energy",
        "active_minutes",
        "heart_rate",
        "resting_heart_rate",
        "hrv_rmssd",
        "spo2",
        "respiratory_rate",
        "skin_temperature_deviation",
        "time_in_bed",
        "time_asleep",
        "sleep_awake",
        "sleep_light",
        "sleep_deep",
        "sleep_rem",
        "sleep_efficiency",
        "workout_duration",
        "weight",
        "body_fat",
    )
    pushes_webhooks = True
    supports_pkce = True
    client_class = FitbitClient
    client: FitbitClient

    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        if data_type in DAILY_ROLLUPS:
            yield from self.client.daily_rollup(data_type, start, end)
        elif data_type == "heart-rate":
            yield from self.client.heart_rate_rollup(start, end)
        elif data_type in DAILY_LISTS:
            yield from self.client.daily_points(data_type, start, end)
        elif data_type == "sleep":
            yield from self.client.sleeps(start, end)
        elif data_type == "exercise":
            yield from self.client.exercises(start, end)
        elif data_type in SAMPLES:
            yield from self.client.samples(data_type, start, end)
        else:
            raise ValueError(f"unknown Google Health data type {data_type!r}")

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn | SessionIn]:
        if data_type in DAILY_ROLLUPS:
            yield from mapper.daily_rollup_records(data_type, item)
        elif data_type == "heart-rate":
            yield from mapper.heart_rate_rollup_records(item)
        elif data_type in DAILY_LISTS:
            yield from mapper.daily_records(data_type, item)
        elif data_type == "sleep":
            yield from mapper.sleep_records(item)
        elif data_type == "exercise":
            yield from mapper.exercise_records(item)
        elif data_type in SAMPLES:
            yield from mapper.sample_records(data_type, item)

    def revoke(self, tokens: TokenSet) -> bool:
        """Revoking either token revokes the whole grant."""
        # https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke
        revoke_url = self.token_url().rsplit("/", 1)[0] + "/revoke"
        try:
            self.client.request("POST", revoke_url, authenticated=False, data={"token": tokens.access_token})
        except ProviderError:
            return False
        return True
