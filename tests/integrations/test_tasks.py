from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from healthdata.models import Record
from integrations import retention, tasks
from integrations.models import Connection
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
