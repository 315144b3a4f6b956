"""Celery wiring: queues, late acks, the beat scheduler, and a real worker logging a request's id."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from config.celery import app

BASE_DIR = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT_SECONDS = 60


def test_tasks_are_acknowledged_late_and_redelivered_when_their_worker_dies():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_each_queue_has_its_own_routing_key_so_a_task_lands_in_one_queue_only():
    routes = {queue.name: queue.routing_key for queue in app.conf.task_queues}

    assert routes == {"imports": "imports", "sync": "sync", "default": "default"}
    assert app.conf.task_default_queue == "default"


def test_beat_uses_the_database_scheduler():
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


def declare_queues() -> None:
    """Bind the queues in the broker now: the cache flush between tests also empties a shared Redis."""
    with app.connection_for_write() as connection:
        for queue in app.conf.task_queues:
            queue.bind(connection.default_channel).declare()


def start_worker(log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "imports,sync,default"]
    command += ["--pool", "solo", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    with log_path.open("w") as log:
        return subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_for_log_line(log_path: Path, worker: subprocess.Popen, needle: str) -> dict:
    """The first JSON line of the worker's log containing `needle`."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if needle in line and line.startswith("{"):
                return json.loads(line)
        if worker.poll() is not None:
            pytest.fail(f"the worker exited early:\n{log_path.read_text()}")
        time.sleep(0.2)
    pytest.fail(
        f"no log line with {needle!r} within {WORKER_START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}"
    )


@pytest.mark.worker
@pytest.mark.urls("tests.config.routes")
@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set: the worker test needs Redis"
)
def test_a_request_id_travels_from_the_request_into_the_task_log_of_a_real_worker(client, tmp_path):
    note = uuid.uuid4().hex
    log_path = tmp_path / "worker.log"
    declare_queues()
    worker = start_worker(log_path)
    try:
        response = client.get(f"/test/enqueue-ping?note={note}", HTTP_X_REQUEST_ID="req-roundtrip-0001")
        assert response.status_code == 200

        line = wait_for_log_line(log_path, worker, f'"note": "{note}"')
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert line["message"] == "ping"
    assert line["name"] == "config.celery"
    assert line["request_id"] == "req-roundtrip-0001"
