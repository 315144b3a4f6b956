"""PostgreSQL drops the sync's own connection mid-run (pg_terminate_backend; the server stays up)."""

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.db.models import Count

from healthdata.models import DailyRollup, Record
from integrations import sync
from integrations.http import TransientError
from integrations.models import Connection, SyncRun

pytestmark = pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="pg_terminate_backend needs PostgreSQL"
)


def terminate_before_answering(acme, path: str, backend_pid: int, *, page: str) -> list[bool]:
    """The provider's answer to `page` of `path` comes only after the sync's backend was terminated."""
    answer = acme.server.handlers[path]
    terminated: list[bool] = []

    def terminating(request: dict) -> tuple:
        if f"page={page}" in request["query"] and not terminated:
            with connections["default"].cursor() as cursor:  # the server thread's own connection
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
                terminated.append(cursor.fetchone()[0])
        return answer(request)

    acme.server.handle(path, terminating)
    return terminated


def records_per_day(user, metric: str) -> dict:
    rows = Record.objects.filter(user=user, metric=metric, source="oura").values("local_date")
    return {row["local_date"]: row["n"] for row in rows.annotate(n=Count("pk"))}


def rollup_counts_per_day(user, metric: str) -> dict:
    rows = DailyRollup.objects.filter(user=user, metric=metric, source="oura")
    return dict(rows.values_list("local_date", "count"))


def test_a_dropped_database_connection_fails_the_run_cleanly_and_the_next_run_completes(
    transactional_db, connection, acme, monkeypatch
):
    monkeypatch.setattr(sync, "BATCH_SIZE", 30)  # one committed batch per page of 30 days
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        sync_backend = cursor.fetchone()[0]
    terminated = terminate_before_answering(acme, "/v1/steps", sync_backend, page="30")

    with pytest.raises(TransientError):
        sync.run(connection.pk)

    assert terminated == [True]
    failed = SyncRun.objects.get(connection=connection)
    assert failed.status == SyncRun.Status.FAILED and failed.finished_at is not None
    assert failed.errors[-1]["message"] == "database connection lost"
    after_failure = Connection.objects.get(pk=connection.pk)
    assert after_failure.sync_lease_until is None  # the next run need not wait for the lease
    assert after_failure.cursors == {}
    assert after_failure.status == Connection.Status.ACTIVE
    stored = records_per_day(connection.user, "steps")
    assert 0 < len(stored) < 90  # the first page committed, the rest did not
    assert rollup_counts_per_day(connection.user, "steps") == stored

    again = sync.run(connection.pk)

    assert again.status == SyncRun.Status.SUCCEEDED
    steps, weight = records_per_day(connection.user, "steps"), records_per_day(connection.user, "weight")
    assert len(steps) == len(weight) in (90, 91)  # the whole backfill, once (90 days from the hour)
    assert rollup_counts_per_day(connection.user, "steps") == steps
    assert rollup_counts_per_day(connection.user, "weight") == weight
