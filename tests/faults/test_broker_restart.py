"""Redis restarts with tasks waiting in the queues: with append-only persistence none is lost.

docker-compose.yml runs Redis with `--appendonly yes`; this test runs its own redis-server the same
way (on a free loopback port, in a temporary folder), queues tasks, restarts it, and has a real
worker run every one of them. The same restart without persistence empties the queues.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from kombu import Connection

from config.celery import app as celery_app
from config.celery import ping_task
from tests.faults.conftest import needs_redis_server

pytestmark = needs_redis_server

BASE_DIR = Path(__file__).resolve().parents[2]
TASKS = 20
WORKER_TIMEOUT_SECONDS = 60


def test_the_production_redis_keeps_its_data_on_disk_and_never_evicts_tasks():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    command = compose["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))

    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert "redis:/data" in compose["services"]["redis"]["volumes"]


def queue_pings(broker_url: str, count: int) -> list[str]:
    notes = [uuid.uuid4().hex for _ in range(count)]
    with Connection(broker_url) as broker:
        for queue in celery_app.conf.task_queues:
            queue.bind(broker.default_channel).declare()
        for note in notes:
            ping_task.apply_async(kwargs={"note": note}, connection=broker)
    return notes


def waiting(redis_server, queue: str = "default") -> int:
    return redis_server.client(1).llen(queue)


def notes_run_by_a_worker(broker_url: str, log_path: Path, expected: int) -> set[str]:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default", "--pool", "solo"]
    command += ["--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    environment = {**os.environ, "CELERY_BROKER_URL": broker_url, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            command, cwd=BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
            notes = {line["note"] for line in lines if line.get("message") == "ping"}
            if len(notes) >= expected:
                return notes
            if worker.poll() is not None:
                pytest.fail(f"the worker exited:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"the worker ran {len(notes)} of {expected} tasks:\n{log_path.read_text()[-3000:]}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.worker
def test_tasks_queued_before_a_redis_restart_all_run_after_it(persistent_redis, tmp_path):
    broker_url = persistent_redis.url(1)
    notes = queue_pings(broker_url, TASKS)
    assert waiting(persistent_redis) == TASKS

    persistent_redis.stop()
    persistent_redis.start()

    assert waiting(persistent_redis) == TASKS
    assert notes_run_by_a_worker(broker_url, tmp_path / "worker.log", TASKS) == set(notes)
    assert waiting(persistent_redis) == 0


def test_without_persistence_a_redis_restart_loses_the_queued_tasks(own_redis):
    queue_pings(own_redis.url(1), TASKS)

    own_redis.stop()
    own_redis.start()

    assert waiting(own_redis) == 0  # why docker-compose.yml runs Redis with --appendonly yes
