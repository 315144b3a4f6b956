from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
from django.core import mail
from django.utils import timezone

from healthdata.models import Record
from integrations import sync
from integrations.http import TransientError
from integrations.models import Connection, SyncRun
from users.models import AuditEvent


def _query(hit: dict) -> dict:
    return {key: values[0] for key, values in parse_qs(hit["query"]).items()}


def _midnights(run: SyncRun, data_type: str) -> int:
    """How many of the test provider's daily items (one per UTC midnight) the run's window holds."""
    start, end = (datetime.fromisoformat(moment) for moment in run.windows[data_type])
    first = start.replace(hour=0) + timedelta(days=0 if start.hour == 0 else 1)
    return (end - first).days + 1 if first < end else 0


def test_first_sync_backfills_ninety_days_of_every_data_type(connection, acme, scripted_server):
    run = sync.run(connection.pk)

    days = _midnights(run, "steps")
    assert run.status == SyncRun.Status.SUCCEEDED
    assert days in (90, 91)  # 90 days from the start of the hour
    assert run.counts == {"steps": days, "weight": days}
    assert Record.objects.for_user(connection.user).filter(source="oura").count() == 2 * days
    assert run.requests_made == 2 * -(-days // 30)  # 30 items a page, for each data type
    connection.refresh_from_db()
    assert set(connection.cursors) == {"steps", "weight"}
    assert connection.last_success_at is not None
    assert connection.next_sync_at > timezone.now()


def test_backfill_days_are_configurable_and_capped_by_the_provider_history(connection, settings):
    settings.SYNC_BACKFILL_DAYS = 1000

    run = sync.run(connection.pk)

    start = datetime.fromisoformat(run.windows["steps"][0])
    assert timezone.now() - timedelta(days=365) < start < timezone.now() - timedelta(days=364)
    assert run.counts == {"steps": _midnights(run, "steps"), "weight": _midnights(run, "weight")}


def test_an_incremental_sync_rereads_the_overlap_window(connection, scripted_server):
    sync.run(connection.pk)
    first_cursor = Connection.objects.get(pk=connection.pk).cursor("steps")

    run = sync.run(connection.pk, trigger="manual")

    start = _query(scripted_server.hits("/v1/steps")[-1])["start"]
    assert start == (first_cursor - timedelta(days=3)).replace(minute=0, second=0, microsecond=0).isoformat()
    assert run.created_count == 0
    assert run.unchanged_count > 0


def test_running_a_sync_twice_creates_no_duplicates(connection):
    sync.run(connection.pk)
    stored = Record.objects.for_user(connection.user).count()
    Connection.objects.filter(pk=connection.pk).update(cursors={})

    run = sync.run(connection.pk)

    assert run.created_count == 0
    assert Record.objects.for_user(connection.user).count() == stored


def test_changed_values_in_the_overlap_window_are_updated(connection, acme):
    sync.run(connection.pk)
    acme.values["weight"] = 71.0

    run = sync.run(connection.pk)

    assert run.updated_count > 0
    latest = Record.objects.for_user(connection.user).filter(metric="weight").order_by("-start").first()
    assert latest.value == 71.0


def test_a_connection_already_syncing_is_not_synced_twice(connection, scripted_server):
    assert sync.claim(connection.pk, timedelta(minutes=5))

    assert sync.run(connection.pk) is None
    assert scripted_server.hits("/v1/steps") == []


def test_a_finished_run_releases_its_lease(connection):
    sync.run(connection.pk)

    assert sync.claim(connection.pk, timedelta(minutes=5))


def test_a_provider_outage_is_recorded_and_the_cursor_stays(connection, acme, settings):
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 2
    acme.failing = {"steps", "weight"}

    with pytest.raises(TransientError):
        sync.run(connection.pk)

    run = SyncRun.objects.get(connection=connection)
    connection.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.errors[0]["data_type"] == "steps"
    assert connection.cursors == {}
    assert "try again automatically" in connection.last_error
    assert connection.status == Connection.Status.ERROR
    changed = AuditEvent.objects.get(action="connection.status_changed")
    assert changed.actor is None and changed.details["to"] == "error"


def test_a_failing_data_type_does_not_lose_the_others(connection, acme):
    run = sync.run(connection.pk, data_types=["weight"])
    assert run.counts == {"weight": _midnights(run, "weight")}

    Connection.objects.filter(pk=connection.pk).update(cursors={})
    acme.failing = {"weight"}
    acme.server.handle("/v1/weight", lambda request: (404, {}, {"message": "gone"}))
    run = sync.run(connection.pk)

    assert run.status == SyncRun.Status.PARTIAL
    assert run.counts == {"steps": _midnights(run, "steps")}
    assert list(Connection.objects.get(pk=connection.pk).cursors) == ["steps"]


def test_an_expired_token_is_refreshed_before_syncing(connection, acme):
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))

    run = sync.run(connection.pk)

    connection.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert acme.token_calls == 1
    assert connection.access_token == "access-1"
    assert connection.refresh_token == "refresh-1"


def test_a_revoked_grant_needs_reauth_and_tells_the_owner(connection, acme):
    acme.access_tokens = set()
    acme.refresh_token = "something-else"

    run = sync.run(connection.pk)

    connection.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert "Reconnect" in connection.last_error
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [connection.user.email]
    assert sync.run(connection.pk) is None
    assert (
        AuditEvent.objects.filter(action="connection.status_changed", details__to="needs_reauth").count() == 1
    )


def test_reconnecting_backfills_only_the_gap_since_the_last_good_sync(connection, scripted_server):
    ten_days_ago = timezone.now() - timedelta(days=10)
    Connection.objects.filter(pk=connection.pk).update(
        cursors={"steps": ten_days_ago.isoformat(), "weight": ten_days_ago.isoformat()}
    )

    run = sync.run(connection.pk)

    assert run.counts["steps"] in (13, 14)  # 10 days of gap + 3 days of overlap
    assert (
        _query(scripted_server.hits("/v1/steps")[0])["start"]
        == (ten_days_ago - timedelta(days=3)).replace(minute=0, second=0, microsecond=0).isoformat()
    )


def test_a_targeted_sync_reads_its_span_and_keeps_the_cursors(connection, scripted_server):
    end = timezone.now()
    run = sync.run(
        connection.pk, trigger="webhook", data_types=["weight"], start=end - timedelta(days=2), end=end
    )

    assert run.counts == {"weight": 2}
    assert scripted_server.hits("/v1/steps") == []
    assert Connection.objects.get(pk=connection.pk).cursors == {}


def test_two_concurrent_sync_tasks_for_one_connection_run_once(transactional_db, connection, scripted_server):
    import threading

    from django.db import connections as db_connections

    barrier = threading.Barrier(2)
    results: list = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(sync.run(connection.pk))
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result is None for result in results) == [False, True]
    assert SyncRun.objects.filter(connection=connection).count() == 1
