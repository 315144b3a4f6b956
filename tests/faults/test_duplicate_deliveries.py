"""The same webhook delivered ten times at once, and the sync task it queues run twice at once by two
real workers: one queued task, one sync run, one copy of the data.

The single-threaded version (two deliveries, the queue replaced by a list) is in
tests/integrations/test_webhooks.py; here everything is real: signed deliveries from the Oura
sandbox over HTTP, the Redis broker, and two worker processes on the test database.
"""

import os
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection as db_connection

from healthdata.models import Record, Session
from integrations.models import Connection, SyncRun, WebhookEvent
from integrations.tasks import sync_connection_task
from tests.imports.test_worker import database_url

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the broker here is Redis (REDIS_URL)"),
    pytest.mark.skipif(
        db_connection.vendor != "postgresql", reason="the workers need the test database by URL"
    ),
]

BASE_DIR = Path(__file__).resolve().parents[2]
PROVIDER = "oura"
DELIVERIES = 10
TIMEOUT_SECONDS = 90


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def declare_queues() -> None:
    from config.celery import app

    with app.connection_for_write() as connection:
        for queue in app.conf.task_queues:
            queue.bind(connection.default_channel).declare()


def start_worker(name: str, log_path: Path, site_url: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "sync", "--pool", "solo"]
    command += ["-n", f"{name}@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    # SITE_URL: with the sandbox enabled, every provider URL of the worker points at this test's sandbox.
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SITE_URL": site_url,
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("w") as log:
        return subprocess.Popen(command, cwd=BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_until(condition, workers: list[subprocess.Popen], logs: list[Path], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        for worker, log in zip(workers, logs, strict=True):
            if worker.poll() is not None:
                pytest.fail(f"a worker exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n" + "\n".join(log.read_text()[-2000:] for log in logs))


def deliver_at_once(sandbox, callback_url: str, count: int) -> list[int]:
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def deliver() -> None:
        barrier.wait()
        response = sandbox.send_webhook(
            PROVIDER,
            callback_url,
            data_type="sleep",
            object_id="night-1",
            event_time="2026-01-02T07:00:00+00:00",
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.django_db(transaction=True)
def test_ten_deliveries_of_one_webhook_and_its_task_run_twice_at_once_have_one_effect(
    sandbox, live_server, user, tmp_path
):
    call_command("connect_sandbox", user=user.email, provider=PROVIDER, account="demo", stdout=StringIO())
    connection = Connection.objects.get(user=user, provider=PROVIDER)
    declare_queues()
    broker().delete("sync")  # the connect flow's own first sync is not part of this test

    statuses = deliver_at_once(sandbox, f"{live_server.url}/webhooks/{PROVIDER}/", DELIVERIES)

    assert statuses == [200] * DELIVERIES
    assert WebhookEvent.objects.count() == 1
    assert broker().llen("sync") == 1  # one task for ten deliveries
    # The same task again, as a broker re-delivery would hand it out while the first still runs.
    webhook_task = sync_connection_task.delay(connection.pk, trigger="webhook", data_types=["sleep"])
    assert webhook_task.id and broker().llen("sync") == 2
    sandbox.fault(PROVIDER, "slow", times=1, delay_seconds=3)  # keeps the first run busy

    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(f"w{index}", log, live_server.url) for index, log in enumerate(logs, 1)]
    try:
        wait_until(lambda: broker().llen("sync") == 0, workers, logs, "both tasks to be taken")
        wait_until(
            lambda: (
                broker().hlen("unacked") == 0
                and not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()
            ),
            workers,
            logs,
            "both tasks to finish",
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)

    run = SyncRun.objects.get(connection=connection)
    assert sum("sync skipped: connection busy" in log.read_text() for log in logs) == 1  # leased
    assert (run.trigger, run.status) == ("webhook", SyncRun.Status.SUCCEEDED)
    sessions = Session.objects.for_user(user).filter(source=PROVIDER).count()
    records = Record.objects.for_user(user).filter(source=PROVIDER).count()
    assert sessions > 0 and records > 0
