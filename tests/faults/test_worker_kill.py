"""A worker is killed (SIGKILL) in the middle of an import, or of a sync, and the work still ends once.

Imports: tests/imports/test_worker.py proves one path, the beat task `requeue_stalled_imports`
sending a crashed import again within minutes. Here nothing re-sends it: the task was
acknowledged late, so the dead worker's delivery stays in Redis, and a worker that starts after
the visibility timeout takes it back. Either way the import ends with exactly the records of a
clean run.

Syncs: the dead run stops renewing its lease; beat's `fail_stalled_syncs` fails it with a reason
and frees the connection once the lease has run out, and the re-delivered task then syncs.
"""

import os
import signal
import time
from io import StringIO

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from healthdata.models import Record, Session
from imports import services
from imports.models import ImportJob
from integrations import sync, tasks
from integrations.models import Connection, SyncRun
from tests.faults.test_duplicate_deliveries import start_worker as start_sync_worker
from tests.faults.test_duplicate_deliveries import wait_until
from tests.imports.test_worker import (
    GENERATOR,
    declare_queues,
    kill_mid_import,
    start_worker,
    stored_job,
    wait_for,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the broker here is Redis (REDIS_URL)"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker needs the test database by URL"),
    pytest.mark.skipif(not GENERATOR.exists(), reason="the shared export generator is not available"),
]


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_import_is_redelivered_by_the_broker_and_finishes_exactly_once(
    user, other_user, tmp_path, settings, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    export, log_path = tmp_path / "export.zip", tmp_path / "worker.log"
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    job = kill_mid_import(user, export, log_path, records=12_000)
    crashed = ImportJob.objects.get(pk=job.pk)
    assert crashed.status == "running" and crashed.checkpoint > 0
    assert broker.hlen("unacked") == 1  # the broker still holds the dead worker's delivery

    # A visibility timeout of one second instead of an hour; the job's heartbeat is as old.
    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "1")
    monkeypatch.setenv("IMPORT_STALE_SECONDS", "1")
    second = start_worker(log_path, settings.MEDIA_ROOT)
    try:
        wait_for(lambda: not ImportJob.objects.get(pk=job.pk).is_active, second, log_path)
    finally:
        second.terminate()
        second.wait(timeout=30)

    finished = ImportJob.objects.get(pk=job.pk)
    assert (finished.status, finished.attempts) == ("succeeded", 2)
    assert broker.hlen("unacked") == 0 and broker.llen("imports") == 0
    reference = stored_job(other_user, export)
    services.run_import(reference.pk)
    assert Record.objects.filter(user=user).count() == Record.objects.filter(user=other_user).count()
    assert Session.objects.filter(user=user).count() == Session.objects.filter(user=other_user).count()


@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_sync_is_failed_by_beat_within_its_lease_and_the_redelivered_task_syncs(
    sandbox, live_server, user, tmp_path, settings, monkeypatch
):
    call_command("connect_sandbox", user=user.email, provider="oura", account="demo", stdout=StringIO())
    connection = Connection.objects.get(user=user, provider="oura")
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    declare_queues()
    broker.delete("sync")  # the connect flow's own first sync; this test sends its own
    tasks.sync_connection_task.delay(connection.pk, trigger="manual")
    requests_before = sum(sandbox.counters("oura").values())
    sandbox.fault("oura", "slow", times=1, delay_seconds=20)  # the worker dies waiting on this page
    lease_seconds = 3
    settings.SYNC_LEASE_SECONDS = lease_seconds  # the sweep below, as beat would run it
    settings.SYNC_BACKFILL_DAYS = 7  # the window the workers read, for the check at the end
    for name, value in {"SYNC_LEASE_SECONDS": lease_seconds, "SYNC_HEARTBEAT_SECONDS": 1}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("SYNC_BACKFILL_DAYS", "7")
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]

    first = start_sync_worker("w1", logs[0], live_server.url)
    try:
        wait_until(
            lambda: (
                SyncRun.objects.filter(status="running").exists()
                and sum(sandbox.counters("oura").values()) > requests_before
            ),
            [first],
            logs[:1],
            "the sync to be waiting on the provider",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        killed_at = time.monotonic()
    finally:
        if first.poll() is None:
            first.kill()
    dead = SyncRun.objects.get(connection=connection)
    assert dead.status == "running" and broker.hlen("unacked") == 1

    while tasks.fail_stalled_syncs_task() == 0:
        assert time.monotonic() - killed_at < 3 * lease_seconds, "the sweep never failed the run"
        time.sleep(0.2)
    dead.refresh_from_db()
    assert (dead.status, dead.errors[-1]["message"]) == ("failed", "worker lost")
    freed = Connection.objects.get(pk=connection.pk)
    assert freed.sync_lease_until is None and freed.status == Connection.Status.ACTIVE

    monkeypatch.setenv("CELERY_VISIBILITY_TIMEOUT", "1")  # instead of an hour
    second = start_sync_worker("w2", logs[1], live_server.url)
    try:
        wait_until(
            lambda: broker.hlen("unacked") == 0 and SyncRun.objects.filter(status="succeeded").exists(),
            [second],
            logs[1:],
            "the re-delivered sync to finish",
        )
    finally:
        second.terminate()
        second.wait(timeout=30)
    runs = SyncRun.objects.filter(connection=connection).order_by("pk")
    statuses = list(runs.values_list("status", flat=True))
    assert statuses == ["failed", "succeeded"]
    stored = Record.objects.for_user(user).count() + Session.objects.for_user(user).count()
    assert stored > 0
    Connection.objects.filter(pk=connection.pk).update(cursors={})
    assert sync.run(connection.pk).created_count == 0  # nothing was written twice
