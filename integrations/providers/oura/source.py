"""Oura: daily activity, sleep score, readiness, SpO2, sleep periods with stages, heart rate, workouts."""

from collections.abc import Callable, Iterator
from datetime import datetime

from healthdata.normalized import RecordIn, SessionIn
from integrations.http import ProviderError
from integrations.providers.base import DataSource, TokenSet
from integrations.providers.oura import mapper
from integrations.providers.oura.client import OuraClient

MAPPERS: dict[str, Callable[[dict], Iterator[RecordIn | SessionIn]]] = {
    "daily_activity": mapper.daily_activity_records,
    "daily_sleep": mapper.daily_sleep_records,
    "daily_readiness": mapper.daily_readiness_records,
    "daily_spo2": mapper.daily_spo2_records,
    "sleep": mapper.sleep_records,
    "heartrate": mapper.heartrate_records,
    "workout": mapper.workout_records,
}


class Source(DataSource):
    slug = "oura"
    name = "Oura"
    data_types = tuple(MAPPERS)
    history_days = None  # the ring's whole history is served
    # `personal` reads personal_info, whose `id` is the user id webhook events carry.
    scopes = ("personal", "daily", "heartrate", "workout", "spo2")
    metrics = (
        "steps",
        "active_energy",
        "basal_energy",
        "active_minutes",
        "sleep_score",
        "readiness_score",
        "skin_temperature_deviation",
        "spo2",
        "time_in_bed",
        "time_asleep",
        "sleep_deep",
        "sleep_light",
        "sleep_rem",
        "sleep_awake",
        "sleep_efficiency",
        "heart_rate",
        "hrv_rmssd",
        "respiratory_rate",
        "resting_heart_rate",
        "workout_duration",
        "distance",
    )
    pushes_webhooks = True
    client_class = OuraClient
    client: OuraClient

    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        if data_type == "sleep":
            yield from self.client.sleep(start, end)
        elif data_type == "heartrate":
            yield from self.client.heartrate(start, end)
        elif data_type in MAPPERS:
            yield from self.client.daily(data_type, start, end)
        else:
            raise ValueError(f"unknown Oura data type {data_type!r}")

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn | SessionIn]:
        yield from MAPPERS[data_type](item)

    def revoke(self, tokens: TokenSet) -> bool:
        # https://cloud.ouraring.com/docs/authentication#revoking-access
        revoke_url = self.token_url().rsplit("/", 1)[0] + "/revoke"
        try:
            self.client.request(
                "GET", revoke_url, authenticated=False, params={"access_token": tokens.access_token}
            )
        except ProviderError:
            return False
        return True
