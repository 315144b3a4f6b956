from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from healthdata.models import Record
from integrations import retention, tasks
from integrations.models import Connection, SyncRun
from tests.factories import UserFactory


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.sync_connection_task, "delay", lambda *args, **kwargs: calls.append(args))
    return calls


def test_due_connections_are_dispatched_once_and_booked_for_their_next_slot(connection, queued):
    assert tasks.dispatch_due_syncs_task() == 1
    assert tasks.dispatch_due_syncs_task() == 0

    assert queued == [(connection.pk,)]
    connection.refresh_from_db()
    assert timezone.now() < connection.next_sync_at <= timezone.now() + timedelta(hours=6)


def test_connections_that_need_reauth_are_not_dispatched(connection, queued):
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH)

    assert tasks.dispatch_due_syncs_task() == 0


def test_periodic_syncs_are_staggered_across_users(db, acme):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    slots = {Connection(user=UserFactory(), provider="oura").next_slot(now) for _ in range(20)}

    assert len(slots) > 10
    assert all(now < slot <= now + timedelta(hours=settings.SYNC_INTERVAL_HOURS) for slot in slots)


def test_a_users_slot_repeats_every_interval(user):
    connection = Connection(user=user, provider="oura")
    first = connection.next_slot(datetime(2026, 1, 1, tzinfo=UTC))

    assert connection.next_slot(first) == first + timedelta(hours=settings.SYNC_INTERVAL_HOURS)


def test_retention_deletes_only_data_older_than_the_providers_limit(connection, settings):
    from integrations import sync

    sync.run(connection.pk)
    stored = Record.objects.for_user(connection.user).count()
    settings.PROVIDER_RETENTION_DAYS = {"oura": 7}

    deleted = tasks.enforce_retention_task()

    remaining = Record.objects.for_user(connection.user).filter(source="oura")
    assert deleted["oura"] == stored - 2 * 7
    assert remaining.count() == 2 * 7
    assert not remaining.filter(start__lt=timezone.now() - timedelta(days=7)).exists()


def test_strava_keeps_seven_days_by_default_and_others_keep_everything():
    assert retention.retention_days("strava") == 7
    assert retention.retention_days("oura") is None


def test_the_sync_task_returns_the_run(connection):
    result = tasks.sync_connection_task.apply(args=[connection.pk], kwargs={"trigger": "manual"})

    assert result.state == "SUCCESS"
    assert Connection.objects.get(pk=connection.pk).runs.get().pk == result.result


def stall(connection: Connection, *, minutes: int) -> SyncRun:
    """A run left `running` by a worker that died `minutes` ago, its lease run out since."""
    from integrations import sync

    assert sync.claim(connection.pk, timedelta(minutes=5))
    long_ago = timezone.now() - timedelta(minutes=minutes)
    Connection.objects.filter(pk=connection.pk).update(sync_lease_until=long_ago + timedelta(minutes=5))
    return SyncRun.objects.create(connection=connection, started_at=long_ago, heartbeat_at=long_ago)


def test_a_run_whose_worker_died_is_failed_by_the_sweep_and_the_next_sync_runs(connection, settings):
    from integrations import sync

    settings.SYNC_LEASE_SECONDS = 300
    stalled = stall(connection, minutes=6)

    assert tasks.fail_stalled_syncs_task() == 1
    assert tasks.fail_stalled_syncs_task() == 0

    stalled.refresh_from_db()
    assert stalled.status == SyncRun.Status.FAILED and stalled.finished_at is not None
    assert stalled.errors == [{"data_type": "", "message": "worker lost", "hint": sync.WORKER_LOST_HINT}]
    connection.refresh_from_db()
    assert connection.sync_lease_until is None and connection.sync_lease_token == ""
    assert connection.status == Connection.Status.ACTIVE
    assert connection.last_error == sync.WORKER_LOST_HINT
    assert sync.run(connection.pk, trigger="manual").status == SyncRun.Status.SUCCEEDED


def test_a_run_that_reported_within_its_lease_is_left_running(connection, settings):
    from integrations import sync

    settings.SYNC_LEASE_SECONDS = 300
    stalled = stall(connection, minutes=4)

    assert tasks.fail_stalled_syncs_task() == 0
    assert SyncRun.objects.get(pk=stalled.pk).status == SyncRun.Status.RUNNING
    assert sync.run(connection.pk) is None  # still leased: never two runs at once


def test_the_sweep_leaves_a_newer_runs_lease_alone(connection, settings):
    from integrations import sync

    settings.SYNC_LEASE_SECONDS = 300
    stall(connection, minutes=6)
    Connection.objects.filter(pk=connection.pk).update(sync_lease_until=timezone.now() - timedelta(seconds=1))
    newer = sync.claim(connection.pk, timedelta(minutes=5))  # a re-delivered task took the connection

    assert tasks.fail_stalled_syncs_task() == 1

    assert Connection.objects.get(pk=connection.pk).sync_lease_token == newer
    assert sync.claim(connection.pk, timedelta(minutes=5)) is None


def test_a_running_sync_renews_its_lease_and_heartbeat(connection, settings):
    from integrations import sync

    settings.SYNC_HEARTBEAT_SECONDS = 0  # renew on every provider answer and batch

    run = sync.run(connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert SyncRun.objects.get(pk=run.pk).heartbeat_at > run.started_at


def test_a_lease_taken_over_by_another_run_can_be_neither_renewed_nor_released(connection, settings):
    from integrations import sync

    settings.SYNC_HEARTBEAT_SECONDS = 0
    first = sync.claim(connection.pk, timedelta(minutes=5))
    lease = sync.Lease(connection.pk, first)
    lease.renew()
    Connection.objects.filter(pk=connection.pk).update(sync_lease_until=timezone.now() - timedelta(seconds=1))
    second = sync.claim(connection.pk, timedelta(minutes=5))

    with pytest.raises(sync.LeaseLost):
        lease.renew()
    sync.release(connection.pk, first)
    assert Connection.objects.get(pk=connection.pk).sync_lease_token == second


def test_a_run_whose_lease_was_taken_over_stops_and_is_failed(transactional_db, connection, acme, settings):
    from django.db import connections

    from integrations import sync

    settings.SYNC_HEARTBEAT_SECONDS = 0
    serve_weight = acme.server.handlers["/v1/weight"]

    def weight_after_a_takeover(request: dict) -> tuple:
        # The run stalled past its lease and another run claimed the connection meanwhile.
        expired = timezone.now() - timedelta(seconds=1)
        Connection.objects.filter(pk=connection.pk).update(sync_lease_until=expired)
        assert sync.claim(connection.pk, timedelta(minutes=5))
        connections.close_all()  # this server thread's own database connection
        return serve_weight(request)

    acme.server.handle("/v1/weight", weight_after_a_takeover)

    run = sync.run(connection.pk)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and run.errors[-1]["message"] == "lease lost"
    assert not Record.objects.for_user(connection.user).filter(metric="weight").exists()
    assert set(Connection.objects.get(pk=connection.pk).cursors) == {"steps"}
    assert sync.claim(connection.pk, timedelta(minutes=5)) is None  # the other run keeps it
