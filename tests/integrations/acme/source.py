"""A minimal provider for testing the framework: one value per day, 30 per page.

It stores under the slug "oura" because ingest accepts only known sources; its wire format is
its own (see AcmeProvider in tests/integrations/conftest.py).
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from healthdata.normalized import RecordIn
from integrations.http import ApiClient, RateLimit
from integrations.providers.base import DataSource


class AcmeClient(ApiClient):
    rate_limits = (RateLimit(requests=1000, seconds=60),)


class Source(DataSource):
    slug = "oura"
    name = "Acme"
    data_types = ("steps", "weight")
    metrics = ("steps", "weight")
    history_days = 365
    scopes = ("read",)
    pushes_webhooks = True
    client_class = AcmeClient

    def fetch(self, data_type: str, start: datetime, end: datetime) -> Iterator[dict]:
        params = {"start": start.isoformat(), "end": end.isoformat()}
        while True:
            page = self.client.get_json(f"/v1/{data_type}", params=params)
            yield from page["items"]
            if not page.get("next"):
                return
            params = {**params, "page": page["next"]}

    def to_records(self, data_type: str, item: dict) -> Iterator[RecordIn]:
        start = datetime.fromisoformat(item["time"])
        if data_type == "steps":
            yield RecordIn(
                metric="steps",
                start=start,
                end=start + timedelta(hours=1),
                value=item["value"],
                unit="count",
                source_key=f"steps-{item['id']}",
            )
        else:
            yield RecordIn(
                metric="weight",
                start=start,
                value=item["value"],
                unit="kg",
                source_key=f"weight-{item['id']}",
            )

    def revoke(self, tokens) -> bool:
        self.client.request("POST", "/oauth/revoke", authenticated=False, data={"token": tokens.access_token})
        return True
