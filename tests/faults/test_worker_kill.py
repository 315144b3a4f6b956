"""A worker is killed (SIGKILL) in the middle of an import and the broker itself re-delivers the task.

tests/imports/test_worker.py proves the other path: the beat task `requeue_stalled_imports` sends
a crashed import again within minutes. Here nothing re-sends it: the task was acknowledged late,
so the dead worker's delivery stays in Redis, and a worker that starts after the visibility
timeout takes it back. Either way the import ends with exactly the records of a clean run.
"""

import os
import signal
import subprocess
import sys

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from healthdata.models import Record, Session
from imports import services
from imports.models import ImportJob
from tests.imports.test_worker import GENERATOR, declare_queues, start_worker, stored_job, wait_for

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
    export = tmp_path / "export.zip"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--records", "12000", "--out", str(export)],
        check=True,
        capture_output=True,
    )
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    log_path = tmp_path / "worker.log"
    declare_queues()
    first = start_worker(log_path, settings.MEDIA_ROOT)
    try:
        job = stored_job(user, export)
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).checkpoint > 0, first, log_path)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
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
