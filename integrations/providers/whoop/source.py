"""WHOOP: cycles (strain), sleeps with their recoveries, workouts."""

from collections.abc import Iterator
from datetime import datetime

from healthdata.normalized import RecordIn, SessionIn
from integrations.http import ProviderError
from integrations.providers.base import DataSource, TokenSet
from integrations.providers.whoop import mapper
from integrations.providers.whoop.client import WhoopClient


class Source(DataSource):
    slug = "whoop"
    name = "WHOOP"
    data_types = ("cycle", "sleep", "workout")
    history_days = None  # the member's whole history is served
    scopes = ("offline", "read:cycles", "read:recovery", "read:sleep", "read:workout", "read:profile")
    metrics = (
        "strain",
        "recovery_score",
        "resting_heart_rate",
        "hrv_rmssd",
        "spo2",
        "respiratory_rate",
        "time_in_bed",
        "time_asleep",
        "sleep_awake",
        "sleep_light",
        "sleep_deep",
        "sleep_rem",
        "sleep_efficiency",
        "sleep_score",
        "active_energy",
        "distance",
        "heart_rate",
        "heart_rate_max",
        "workout_duration",
    )
    pushes_webhooks = True
    client_class = WhoopClient
    client: WhoopClient

    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        if data_type == "cycle":
            yield from self.client.cycles(start, end)
        elif data_type == "sleep":
            yield from self.sleeps_with_recoveries(start, end)
        elif data_type == "workout":
            yield from self.client.workouts(start, end)
        else:
            raise ValueError(f"unknown WHOOP data type {data_type!r}")

    def sleeps_with_recoveries(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Each sleep with its recovery attached (recoveries have no time of their own)."""
        recoveries = {recovery.get("sleep_id"): recovery for recovery in self.client.recoveries(start, end)}
        for sleep in self.client.sleeps(start, end):
            recovery = recoveries.pop(sleep["id"], None)
            yield {**sleep, "recovery": recovery} if recovery else sleep
        for recovery in recoveries.values():
            yield {"orphan_recovery": recovery}

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn | SessionIn]:
        if data_type == "cycle":
            yield from mapper.cycle_records(item)
        elif data_type == "sleep" and "orphan_recovery" in item:
            yield from mapper.orphan_recovery_records(item["orphan_recovery"])
        elif data_type == "sleep":
            yield from mapper.sleep_records(item)
        elif data_type == "workout":
            yield from mapper.workout_records(item)

    def refresh_token(self, refresh_token: str) -> TokenSet:
        """WHOOP wants `scope=offline` on the refresh to hand out the next (rotated) refresh token."""
        # https://developer.whoop.com/docs/developing/oauth#refreshing-access-tokens
        client_id, client_secret = self.app_credentials()
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "offline",
        }
        response = self.client.request("POST", self.token_url(), authenticated=False, data=form)
        return self.parse_token_response(response.json())

    def revoke(self, tokens: TokenSet) -> bool:
        # https://developer.whoop.com/api/#tag/User/operation/revokeUserOAuthAccess
        try:
            self.client.request(
                "DELETE",
                "developer/v2/user/access",
                authenticated=False,
                headers={"Authorization": f"Bearer {tokens.access_token}"},
            )
        except ProviderError:
            return False
        return True
