"""Benchmark: a 365-day backfill of all five providers against the sandbox, over loopback HTTP.

    .venv/bin/pytest bench/bench_sync.py -q -s        (what `make bench-sync` runs)

Runs as a pytest session so that the sandbox is served by a live server on a fresh test
database (the environment's DATABASE_URL / REDIS_URL decide which engine). Each provider is
connected through the real OAuth flow, then synced once with SYNC_BACKFILL_DAYS=365. Prints,
per provider, the wall time, the requests made (by the SyncRun and by the sandbox's own count,
per endpoint), the fewest requests the provider's page sizes and date windows allow for the
items it served (tests/integrations/fewest_requests.py), the records and sessions written and
records/s; then the totals. Fails if any provider made more requests than that floor.
"""

import json
import logging
import time
from io import StringIO

import pytest
from django.core.management import call_command

from integrations import sync
from integrations.models import Connection
from integrations.sandbox.state import account_zone
from tests.conftest import sandbox, user  # noqa: F401 - the shared fixtures, for a file outside tests/
from tests.integrations.fewest_requests import fewest_requests

PROVIDERS = ("withings", "oura", "fitbit", "whoop", "strava")
BACKFILL_DAYS = 365


@pytest.fixture
def quiet_queue(monkeypatch):
    """The connect flow queues a first sync; the benchmark runs it itself, in this process."""
    from integrations.tasks import sync_connection_task

    monkeypatch.setattr(sync_connection_task, "delay_on_commit", lambda *args, **kwargs: None)


# Withings alone takes three minutes or more: its 451 requests wait for its 120-a-minute budget.
@pytest.mark.timeout(1800)
def test_backfill_a_year_of_every_provider(sandbox, user, settings, quiet_queue):  # noqa: F811
    settings.SYNC_BACKFILL_DAYS = BACKFILL_DAYS
    settings.PROVIDER_RATE_BUDGET_SHARE = 1.0
    # One log line per request would drown the figures.
    logging.getLogger("hfa.request").setLevel(logging.WARNING)
    rows = []
    for provider in PROVIDERS:
        call_command("connect_sandbox", user=user.email, provider=provider, account="demo", stdout=StringIO())
        connection = Connection.objects.get(user=user, provider=provider)
        served_before = dict(sandbox.counters(provider))
        started = time.perf_counter()
        run = sync.run(connection.pk, trigger="command")
        seconds = time.perf_counter() - started
        served = {
            endpoint: count - served_before.get(endpoint, 0)
            for endpoint, count in sandbox.counters(provider).items()
            if count - served_before.get(endpoint, 0)
        }
        written = sum(run.counts.values())
        zone = account_zone(provider, "demo")
        floor = fewest_requests(provider, sandbox.served(provider), run.windows, zone)
        row = {
            "provider": provider,
            "status": run.status,
            "wall_seconds": round(seconds, 2),
            "requests_made": run.requests_made,
            "fewest_possible": sum(floor.values()),
            "requests_served_by_endpoint": served,
            "fewest_by_endpoint": floor,
            "records_written": written,
            "records_per_s": round(written / seconds) if seconds else None,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        assert run.status == "succeeded", run.errors
        assert run.requests_made == served.get("total", run.requests_made)
        assert {endpoint: served.get(endpoint, 0) for endpoint in floor} == floor
        assert run.requests_made == sum(floor.values())
    total_seconds = sum(row["wall_seconds"] for row in rows)
    total_records = sum(row["records_written"] for row in rows)
    print(
        json.dumps(
            {
                "backfill_days": BACKFILL_DAYS,
                "wall_seconds": round(total_seconds, 2),
                "requests_made": sum(row["requests_made"] for row in rows),
                "fewest_possible": sum(row["fewest_possible"] for row in rows),
                "records_written": total_records,
                "records_per_s": round(total_records / total_seconds),
            }
        ),
        flush=True,
    )
    print(f"\n{'provider':<10}{'seconds':>9}{'requests':>10}{'fewest':>8}{'records':>10}{'records/s':>11}")
    for row in rows:
        print(
            f"{row['provider']:<10}{row['wall_seconds']:>9}{row['requests_made']:>10}{row['fewest_possible']:>8}"
            f"{row['records_written']:>10}{row['records_per_s']:>11}"
        )
