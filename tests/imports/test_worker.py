"""A real Celery worker is killed in the middle of an import; another one finishes it exactly once."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from healthdata.models import Record, Session
from imports import services
from imports.models import ImportJob

BASE_DIR = Path(__file__).resolve().parents[2]
GENERATOR = Path("/work/shared/bench/make_apple_health_export.py")
TIMEOUT_SECONDS = 180

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the worker test needs Redis (REDIS_URL)"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker needs the test database by URL"),
    pytest.mark.skipif(not GENERATOR.exists(), reason="the shared export generator is not available"),
]


def database_url() -> str:
    database = settings.DATABASES["default"]
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = f"{database['HOST']}:{database['PORT'] or 5432}"
    return f"postgres://{database['USER']}{password}@{host}/{database['NAME']}"


def start_worker(log_path: Path, media_root: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "imports", "--pool", "solo"]
    command += ["--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
    environment = {**os.environ, "DATABASE_URL": database_url(), "MEDIA_ROOT": str(media_root)}
    environment["IMPORT_PARSER_PROCESS_MIN_BYTES"] = "0"  # every export in a parser process
    with log_path.open("a") as log:
        return subprocess.Popen(command, cwd=BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition, worker: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if worker.poll() is not None:
            pytest.fail(f"the worker exited:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out:\n{log_path.read_text()[-3000:]}")


def declare_queues() -> None:
    from config.celery import app

    with app.connection_for_write() as broker:
        for queue in app.conf.task_queues:
            queue.bind(broker.default_channel).declare()


def stored_job(user, export: Path) -> ImportJob:
    relative = f"imports/{user.pk}/{export.name}"
    target = settings.MEDIA_ROOT / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(export.read_bytes())
    return services.start_import(
        user=user,
        file_path=relative,
        original_name=export.name,
        size_bytes=target.stat().st_size,
        sha256=services.file_sha256(target),
    )


def kill_mid_import(user, export: Path, log_path: Path, *, records: int) -> ImportJob:
    """Generate an export of `records`, start its import on a real worker, and SIGKILL the worker
    once the first batch is checkpointed."""
    subprocess.run(
        [sys.executable, str(GENERATOR), "--records", str(records), "--out", str(export)],
        check=True,
        capture_output=True,
    )
    declare_queues()
    worker = start_worker(log_path, settings.MEDIA_ROOT)
    try:
        job = stored_job(user, export)
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).checkpoint > 0, worker, log_path)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    deadline = time.monotonic() + 10
    while parser_processes(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    # None outlives the worker (it may also have finished reading before the kill); that the kernel
    # kills a parser process still reading is test_pipeline's
    # test_a_parser_process_dies_with_the_process_that_started_it.
    assert not parser_processes(job), "the parser process died with its worker"
    return job


def parser_processes(job: ImportJob) -> list[int]:
    """Live parser processes reading this job's file."""
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            command = (process / "cmdline").read_bytes()
            state = (process / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if b"imports.pipeline" in command and job.file_path.encode() in command and state != "Z":
            found.append(int(process.name))
    return found


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_replaced_and_the_import_finishes_exactly_once(user, other_user, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.IMPORT_STALE_SECONDS = 1
    export, log_path = tmp_path / "export.zip", tmp_path / "worker.log"
    job = kill_mid_import(user, export, log_path, records=30_000)
    crashed = ImportJob.objects.get(pk=job.pk)
    assert crashed.status == "running"
    assert crashed.checkpoint > 0

    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=5))
    assert services.requeue_stalled_imports() == 1
    second = start_worker(log_path, settings.MEDIA_ROOT)
    try:
        wait_for(lambda: not ImportJob.objects.get(pk=job.pk).is_active, second, log_path)
    finally:
        second.terminate()
        second.wait(timeout=30)

    finished = ImportJob.objects.get(pk=job.pk)
    assert (finished.status, finished.attempts) == ("succeeded", 2)
    reference = stored_job(other_user, export)
    services.run_import(reference.pk)
    assert Record.objects.filter(user=user).count() == Record.objects.filter(user=other_user).count()
    assert Session.objects.filter(user=user).count() == Session.objects.filter(user=other_user).count()
