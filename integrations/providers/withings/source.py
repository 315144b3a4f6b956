"""Withings: body measures, daily activity, workouts and sleep with stages."""

import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from healthdata.normalized import RecordIn, SessionIn
from integrations.http import AuthExpired, AuthRevoked, ProviderError, TransientError
from integrations.providers.base import DataSource, TokenSet
from integrations.providers.withings import mapper
from integrations.providers.withings.client import WithingsClient

# Notification categories worth a targeted sync: weight and body composition, blood pressure and
# SpO2, activity and workouts, sleep.
NOTIFICATION_APPLIS = (1, 4, 16, 44)


class Source(DataSource):
    slug = "withings"
    name = "Withings"
    data_types = ("measures", "activity", "workouts", "sleep")
    history_days = None  # Withings serves the account's whole history
    scopes = ("user.metrics", "user.activity", "user.sleepevents")
    metrics = (
        "weight",
        "height",
        "lean_mass",
        "body_fat",
        "muscle_mass",
        "bone_mass",
        "body_water",
        "heart_rate",
        "blood_pressure",
        "spo2",
        "body_temperature",
        "steps",
        "distance",
        "floors_climbed",
        "active_minutes",
        "active_energy",
        "basal_energy",
        "resting_heart_rate",
        "hrv_rmssd",
        "respiratory_rate",
        "time_in_bed",
        "time_asleep",
        "sleep_light",
        "sleep_deep",
        "sleep_rem",
        "sleep_awake",
        "sleep_efficiency",
        "sleep_score",
        "workout_duration",
    )
    pushes_webhooks = True
    client_class = WithingsClient
    client: WithingsClient

    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        if data_type == "measures":
            yield from self.client.measure_groups(start, end)
        elif data_type == "activity":
            yield from self.client.activities(start, end)
        elif data_type == "workouts":
            yield from self.client.workouts(start, end)
        elif data_type == "sleep":
            for summary in self.client.sleep_summaries(start, end):
                # Stages live only in the high-frequency call, one night (<= 24 h slices) at a time.
                segments = self.client.sleep_segments(summary["startdate"], summary["enddate"])
                yield {**summary, "segments": segments}
        else:
            raise ValueError(f"unknown Withings data type {data_type!r}")

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn | SessionIn]:
        if data_type == "measures":
            yield from mapper.measure_group_records(item)
        elif data_type == "activity":
            yield from mapper.activity_records(item)
        elif data_type == "workouts":
            yield mapper.workout_session(item)
        elif data_type == "sleep":
            yield from mapper.sleep_records(item)

    # -- notifications: subscribed per user, with the user's token ----------------------------------
    def subscribe_notifications(self, callback_url: str) -> None:
        """Have Withings notify `callback_url` of this user's new measures, activity and sleep.

        Withings probes the URL (HEAD) before accepting it, and drops a subscription after repeated
        failed deliveries, so this is called again on every reconnect; subscribing twice is harmless.
        """
        # https://developer.withings.com/api-reference/#tag/notify/operation/notify-subscribe
        for appli in NOTIFICATION_APPLIS:
            self.client.call("notify", "subscribe", callbackurl=callback_url, appli=appli, comment="sync")

    def notification_subscriptions(self) -> list[dict]:
        # https://developer.withings.com/api-reference/#tag/notify/operation/notify-list
        return self.client.call("notify", "list").get("profiles") or []

    # -- tokens: `action=requesttoken` on /v2/oauth2, answers wrapped in {status, body} --------------
    def refresh_token(self, refresh_token: str) -> TokenSet:
        # https://developer.withings.com/api-reference/#tag/oauth2/operation/oauth2-refreshaccesstoken
        client_id, client_secret = self.app_credentials()
        form = {
            "action": "requesttoken",
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        try:
            response = self.client.request("POST", self.token_url(), authenticated=False, data=form)
        except (AuthExpired, AuthRevoked):
            raise AuthRevoked("Withings refused the refresh token") from None
        except TransientError:
            raise
        except ProviderError as error:
            raise AuthRevoked(f"Withings refused the refresh token: {error}") from None
        return self.parse_token_response(response.json())

    def parse_token_response(self, body: dict[str, Any]) -> TokenSet:
        return super().parse_token_response(body.get("body") if "status" in body else body)

    def revoke(self, tokens: TokenSet) -> bool:
        """`action=revoke`, signed with a nonce; it also removes the user's notification subscriptions."""
        # https://developer.withings.com/api-reference/#tag/oauth2/operation/oauth2-revoke
        if not tokens.external_user_id:
            return False  # Withings revokes by `userid`
        client_id, client_secret = self.app_credentials()
        timestamp = str(int(time.time()))
        nonce = self.client.call(
            "v2/signature",
            "getnonce",
            authenticated=False,
            client_id=client_id,
            timestamp=timestamp,
            signature=sign(client_secret, "getnonce", client_id, timestamp),
        )["nonce"]
        self.client.call(
            self.token_url(),
            "revoke",
            authenticated=False,
            client_id=client_id,
            nonce=nonce,
            userid=tokens.external_user_id,
            signature=sign(client_secret, "revoke", client_id, nonce),
        )
        return True


def sign(client_secret: str, *values: str) -> str:
    """Withings request signature: hex HMAC-SHA256 of the values (sorted by key name) joined by commas."""
    message = ",".join(values).encode()
    return hmac.new(client_secret.encode(), message, hashlib.sha256).hexdigest()
