"""Apple Health exports read in a parser process: the same rows as in a thread, and as safe."""

import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from healthdata.ingest import ingest
from healthdata.models import DailyRollup, Record, Session
from healthdata.normalized import Origin
from healthdata.quality import FLAGS
from imports import pipeline, services
from imports.models import ImportJob
from imports.parsers.apple_health import AppleHealthParser
from imports.services import run_import
from tests.imports.test_services import FIXTURES, WorkerKilled, batch_ends, items_in, upload

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared batches are written by PostgreSQL's COPY"
)
STORED = ("metric", "source_key", "device", "device_kind", "start", "end", "utc_offset_minutes")
STORED += ("local_date", "value", "secondary_value", "quality", "flags", "metadata", "origin_kind")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def in_process(settings):
    settings.IMPORT_PARSER_PROCESS_MIN_BYTES = 0


def stored(user) -> list[tuple]:
    return sorted(Record.objects.filter(user=user).values_list(*STORED))


def imported(user, fixture: Path, **upload_options) -> ImportJob:
    job = upload(user, fixture, **upload_options)
    run_import(job.pk)
    job.refresh_from_db()
    return job


def long_export(path: Path, records: int) -> Path:
    """An export of `records` heart-rate samples a minute apart: long enough to outlast a few batches."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">\n',
        ' <ExportDate value="2025-01-15 21:03:11 -0500"/>\n',
    ]
    first = timezone.datetime(2025, 1, 1, tzinfo=timezone.get_fixed_timezone(-300))
    for minute in range(records):
        moment = (first + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%S %z")
        lines.append(
            ' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" unit="count/min" '
            f'startDate="{moment}" endDate="{moment}" value="{60 + minute % 40}"/>\n'
        )
    lines.append("</HealthData>\n")
    path.write_text("".join(lines))
    return path


def spied_commits(monkeypatch, on_commit=None) -> list:
    """Record each prepared batch the writer commits; `on_commit(number)` runs before batch `number`."""
    seen = []
    real = services._commit_ready

    def commit(job, token, ready, tally, after=None):
        seen.append(ready)
        if on_commit is not None:
            on_commit(len(seen))
        return real(job, token, ready, tally, after)

    monkeypatch.setattr(services, "_commit_ready", commit)
    return seen


def rollups(user) -> list[tuple]:
    fields = ("metric", "local_date", "source", "value", "secondary_value", "count", "quality")
    return sorted(DailyRollup.objects.filter(user=user).values_list(*fields))


@pytest.mark.parametrize("fixture", ["apple_export_small.xml", "apple_export_ios16.xml"])
def test_a_parser_process_stores_exactly_what_the_thread_stores(
    user, other_user, settings, fixture, monkeypatch
):
    settings.IMPORT_PARSER_PROCESS_MIN_BYTES = 10**12
    in_thread = imported(user, FIXTURES / fixture)
    settings.IMPORT_PARSER_PROCESS_MIN_BYTES = 0
    # Small batches, and rollups refreshed as soon as one day has settled: many refreshes mid-import.
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    monkeypatch.setattr(services, "ROLLUP_DAYS_PER_BEAT", 1)
    in_process = imported(other_user, FIXTURES / fixture)

    assert (in_thread.status, in_process.status) == ("succeeded", "succeeded")
    assert stored(user) == stored(other_user)
    assert stored(user)
    assert rollups(user) == rollups(other_user)
    assert rollups(user)
    assert Session.objects.filter(user=user).count() == Session.objects.filter(user=other_user).count()
    for name in (
        "created_count",
        "updated_count",
        "unchanged_count",
        "counts_by_metric",
        "rejected",
        "report",
    ):
        assert getattr(in_thread, name) == getattr(in_process, name), name
    assert in_thread.report == in_process.report
    assert in_process.parse_seconds > 0


def test_a_zipped_export_goes_through_the_parser_process(user, in_process, tmp_path, monkeypatch):
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(FIXTURES / "apple_export_small.xml", "apple_health_export/export.xml")
    commits = spied_commits(monkeypatch)

    job = imported(user, export)

    assert job.status == "succeeded"
    assert commits and all(ready.encoded.payload.startswith(b"PGCOPY\n") for ready in commits)
    assert job.counts_by_metric["steps"] == 2


def test_a_truncated_export_fails_with_its_reason_and_keeps_nothing(user, in_process, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    content = (FIXTURES / "apple_export_small.xml").read_bytes()

    job = imported(user, FIXTURES / "apple_export_small.xml", content=content[: int(len(content) * 0.8)])

    assert (job.status, job.error_code) == ("failed", "truncated")
    assert "truncated" in job.error_message
    assert not Record.objects.filter(user=user).exists()


def test_a_damaged_zip_member_fails_as_bad_zip(user, in_process, tmp_path):
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "apple_health_export/export.xml", (FIXTURES / "apple_export_small.xml").read_bytes() * 40
        )
    content = bytearray(export.read_bytes())
    content[400:420] = bytes(20)  # inside the member's compressed data; the directory stays sound

    job = imported(user, export, content=bytes(content))

    assert (job.status, job.error_code) == ("failed", "bad_zip")
    assert "damaged" in job.error_message
    assert not Record.objects.filter(user=user).exists()


def test_a_killed_writer_resumes_from_its_checkpoint_exactly_once(user, other_user, in_process, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    job = upload(user, FIXTURES / "apple_export_small.xml")

    def die(number):
        if number == 3:
            raise WorkerKilled

    spied_commits(monkeypatch, die)
    with pytest.raises(WorkerKilled):
        run_import(job.pk)
    job.refresh_from_db()
    second_batch_end = batch_ends(FIXTURES / "apple_export_small.xml", 5)[1]
    assert (job.status, job.checkpoint) == ("running", second_batch_end)
    monkeypatch.undo()
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    commits = spied_commits(monkeypatch)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert sum(items_in(ready) for ready in commits) == job.checkpoint - second_batch_end
    reference = imported(other_user, FIXTURES / "apple_export_small.xml")
    assert [row[1:] for row in stored(user)] == [row[1:] for row in stored(other_user)]
    assert job.created_count == reference.created_count


def test_a_parser_process_that_dies_hands_the_job_back_with_nothing_half_written(
    user, in_process, monkeypatch, tmp_path
):
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    started = []
    monkeypatch.setattr(
        services,
        "ParserProcess",
        lambda *args, **kwargs: started.append(pipeline.ParserProcess(*args, **kwargs)) or started[-1],
    )

    def kill_the_parser(number):
        if number == 2:
            os.kill(started[0].process.pid, signal.SIGKILL)
            started[0].process.wait()

    spied_commits(monkeypatch, kill_the_parser)
    job = upload(user, long_export(tmp_path / "export.xml", 20_000))

    with pytest.raises(pipeline.ParserCrashed, match="stopped"):
        run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "queued"
    assert "ParserCrashed" in job.error_message
    assert job.checkpoint >= 5 and job.checkpoint % 5 == 0  # batches read before the kill are kept
    assert job.checkpoint < 20_000
    assert Record.objects.filter(user=user).count() == job.created_count == job.checkpoint


def test_the_writer_reports_progress_while_the_parser_process_starts(user, in_process, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0.001)
    beats = []
    real_beat = services._beat
    monkeypatch.setattr(services, "_beat", lambda *arguments: beats.append(1) or real_beat(*arguments))

    job = imported(user, FIXTURES / "apple_export_small.xml")

    assert job.status == "succeeded"
    assert beats  # a parser process takes far longer than a millisecond to start


def test_a_parser_process_dies_with_the_process_that_started_it(tmp_path):
    """The parser process is killed by the kernel when its worker dies (SIGKILL, out of memory)."""
    export = long_export(tmp_path / "export.xml", 20_000)  # its batches fill the pipe: it waits, alive
    script = (
        "import sys, time\n"
        "from imports.pipeline import ParserProcess, Plan\n"
        f"plan = Plan({str(export)!r}, 10**9, 0, 1, 'UTC', 'apple_health', 1, 5, 60.0)\n"
        "reader = ParserProcess(plan).start()\n"
        "next(iter(reader))\n"
        "print(reader.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(services.__file__).parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    parser_pid = int(worker.stdout.readline())
    assert Path(f"/proc/{parser_pid}").exists()

    worker.kill()
    worker.wait()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(parser_pid):
        time.sleep(0.05)
    assert not _alive(parser_pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_heartbeats_count_towards_a_batch_so_that_memory_stays_bounded(tmp_path):
    from imports.parsers.apple_health import AppleHealthParser

    beats = "".join(
        f'<InstantaneousBeatsPerMinute bpm="{60 + n % 9}" time="1:0{n % 10}:00.00 AM"/>' for n in range(200)
    )
    hrv = (
        ' <Record type="HKQuantityTypeIdentifierHeartRateVariabilitySDNN" sourceName="Watch" unit="ms" '
        'startDate="2025-01-01 23:00:00 -0500" endDate="2025-01-01 23:01:00 -0500" value="48">'
        f"<HeartRateVariabilityMetadataList>{beats}</HeartRateVariabilityMetadataList></Record>\n"
    )
    export = long_export(tmp_path / "export.xml", 60)
    text = export.read_text()
    middle = text.index(" <Record", len(text) // 2)
    export.write_text(text[:middle] + hrv + text[middle:])

    with open(export, "rb") as stream:
        cut = list(pipeline.batches(AppleHealthParser(stream, export.stat().st_size), 0, 20, seconds=3600))

    assert sum(len(batch.items) for batch in cut) == 61
    assert any(len(batch.items) < 20 for batch in cut[:-2])  # a batch cut short by the beats it carries


def _record(kind: str, unit: str, start: str, value: str, end: str = "", children: str = "") -> str:
    attributes = (
        f'type="HKQuantityTypeIdentifier{kind}" sourceName="Watch" unit="{unit}" '
        f'startDate="{start}" endDate="{end or start}" value="{value}"'
    )
    return f" <Record {attributes}>{children}</Record>\n" if children else f" <Record {attributes}/>\n"


EDGE_CASES = "".join(
    [
        '<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">\n',
        ' <ExportDate value="2025-10-27 21:03:11 +0100"/>\n',
        _record("HeartRate", "count/min", "2025-03-30 01:59:59 +0100", "61"),  # clocks go forward next
        _record("HeartRate", "count/min", "2025-03-30 03:00:00 +0200", "62"),
        _record("HeartRate", "count/min", "2025-10-26 02:30:00 +0200", "63"),  # the repeated hour, twice
        _record("HeartRate", "count/min", "2025-10-26 02:30:00 +0100", "64"),
        _record("HeartRate", "count/min", "2025-01-14 03:00:00 +0000", "65"),  # the user's zone places it
        _record("HeartRate", "count/min", "2025-01-14 07:42:10", "66"),  # no offset: rejected
        _record("HeartRate", "count/min", "2025-01-14 08:00:00 +0530", "67"),
        _record("HeartRate", "count/min", "1999-12-31 23:59:59 -0930", "68"),  # before PostgreSQL's epoch
        _record("HeartRate", "count/min", "2025-01-15 10:00:00 -0500", "70"),  # 180 between close neighbours
        _record("HeartRate", "count/min", "2025-01-15 10:01:00 -0500", "180"),
        _record("HeartRate", "count/min", "2025-01-15 10:02:00 -0500", "71"),
        _record("HeartRate", "count/min", "2025-01-15 10:03:00 -0500", "900"),  # implausible: rejected
        _record("HeartRate", "count/min", "2025-01-15 10:04:00 -0500", "nan"),  # not finite: rejected
        _record("HeartRate", "count/min", "2025-01-15 10:05:00 -0500", "n/a"),  # not a number: skipped
        _record(
            "HeartRate",
            "count/min",
            "2025-01-15 10:06:00 -0500",
            "72",
            children='<MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="1"/>',
        ),
        _record("HeartRate", "count/min", "2025-01-15 10:06:00 -0500", "73"),  # the same key again
        _record(
            "StepCount", "count", "2025-01-14 23:55:00 -0500", "120", end="2025-01-15 00:05:00 -0500"
        ),  # across midnight
        _record("StepCount", "count", "2025-01-16 10:00:00 -0500", "50", end="2025-01-16 09:00:00 -0500"),
        _record(
            "DistanceWalkingRunning",
            "km",
            "2025-01-16 10:00:00 -0500",
            "1.25",
            end="2025-01-16 10:20:00 -0500",
        ),
        _record("BodyMass", "lb", "2025-01-16 07:00:00 -0500", "166.81"),
        _record("BodyMassIndex", "count", "2025-01-16 07:00:00 -0500", "24.1"),
        _record("OxygenSaturation", "%", "2025-01-16 07:00:00 -0500", "0.97"),
        _record("BodyTemperature", "degF", "2025-01-16 07:00:00 -0500", "98.6"),
        _record(
            "HeartRateVariabilitySDNN",
            "ms",
            "2025-01-16 03:00:00 -0500",
            "48.2",
            end="2025-01-16 03:01:00 -0500",
            children=(
                "<HeartRateVariabilityMetadataList>"
                '<InstantaneousBeatsPerMinute bpm="61" time="3:00:01.10 AM"/>'
                '<InstantaneousBeatsPerMinute bpm="63" time="3:00:02.05 AM"/>'
                "</HeartRateVariabilityMetadataList>"
            ),
        ),
        "</HealthData>\n",
    ]
)


def test_the_import_pipeline_stores_what_ingest_stores_from_the_same_export(
    user, other_user, in_process, tmp_path
):
    """The pipeline's own reading of dates and encoding for COPY against the general ingest path."""
    export = tmp_path / "export.xml"
    export.write_text(EDGE_CASES)
    for person in (user, other_user):
        person.timezone = "America/New_York"
        person.save()
    with open(export, "rb") as stream:
        parser = AppleHealthParser(stream, export.stat().st_size)
        expected = ingest(user=user, source="apple_health", records=list(parser), origin=Origin("import"))

    job = imported(other_user, export)

    assert job.status == "succeeded", job.error_message
    assert stored(other_user) == stored(user)
    assert len(stored(user)) == 18
    assert (
        job.rejected
        == expected.rejected
        == {"naive_datetime": 1, "implausible_value": 1, "end_before_start": 1, "invalid_value": 1}
    )
    assert rollups(other_user) == rollups(user)
    flagged = Record.objects.filter(user=other_user, value=180).get()
    assert flagged.flags & FLAGS["spike"]


def _refreshes_by_thread(monkeypatch, fail_in_thread: bool = False) -> list[str]:
    threads = []
    real = services.rollups.refresh

    def refresh(**arguments):
        threads.append(threading.current_thread().name)
        if fail_in_thread and threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the database went away")
        return real(**arguments)

    monkeypatch.setattr(services.rollups, "refresh", refresh)
    return threads


@pytest.mark.django_db(transaction=True)
def test_settled_days_are_refreshed_on_a_connection_of_their_own_while_the_import_goes_on(
    user, in_process, monkeypatch
):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    monkeypatch.setattr(services, "ROLLUP_DAYS_PER_BEAT", 1)
    threads = _refreshes_by_thread(monkeypatch)

    job = imported(user, FIXTURES / "apple_export_small.xml")

    assert job.status == "succeeded"
    assert "import-rollups" in threads  # mid-import, beside the writer
    last = threads.index(threading.main_thread().name)  # the last days: half of them in the writer's thread
    assert "import-rollups" in threads[last - 1 :]  # and the other half beside it
    written = rollups(user)
    monkeypatch.undo()
    days = set(Record.objects.filter(user=user).values_list("metric", "local_date"))
    services.rollups.refresh(user=user, days=days)
    assert rollups(user) == written  # as a refresh of every day from scratch makes them


@pytest.mark.django_db(transaction=True)
def test_a_failed_refresh_beside_the_writer_hands_the_job_back(user, in_process, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    monkeypatch.setattr(services, "ROLLUP_DAYS_PER_BEAT", 1)
    _refreshes_by_thread(monkeypatch, fail_in_thread=True)
    job = upload(user, FIXTURES / "apple_export_small.xml")

    with pytest.raises(RuntimeError, match="went away"):
        run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "queued"
    assert "RuntimeError" in job.error_message
    assert not [thread for thread in threading.enumerate() if thread.name == "import-rollups"]


def _slow_refreshes_in_thread(monkeypatch, seconds: float, meanwhile=None) -> list[str]:
    """Refreshes in the rollup thread take `seconds`; `meanwhile()` runs during the first."""
    real = services.rollups.refresh

    def refresh(**arguments):
        if threading.current_thread() is not threading.main_thread():
            if meanwhile is not None:
                meanwhile()
            time.sleep(seconds)
        return real(**arguments)

    monkeypatch.setattr(services.rollups, "refresh", refresh)
    beats_beside_a_refresh = []
    real_heartbeat = services._heartbeat

    def heartbeat(job, token):
        if any(thread.name == "import-rollups" for thread in threading.enumerate()):
            beats_beside_a_refresh.append(token)
        real_heartbeat(job, token)

    monkeypatch.setattr(services, "_heartbeat", heartbeat)
    return beats_beside_a_refresh


@pytest.mark.django_db(transaction=True)
def test_the_writer_keeps_the_heartbeat_while_it_waits_for_a_slow_refresh(user, in_process, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    monkeypatch.setattr(services, "ROLLUP_DAYS_PER_BEAT", 1)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0.05)
    beats = _slow_refreshes_in_thread(monkeypatch, seconds=0.3)

    job = imported(user, FIXTURES / "apple_export_small.xml")

    assert job.status == "succeeded"
    assert beats  # while the thread refreshed, not only between the final slices after it


@pytest.mark.django_db(transaction=True)
def test_a_job_taken_over_while_the_writer_waits_for_a_refresh_stops_and_leaves_no_thread(
    user, in_process, monkeypatch
):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    monkeypatch.setattr(services, "ROLLUP_DAYS_PER_BEAT", 1)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0.05)
    job = upload(user, FIXTURES / "apple_export_small.xml")

    def taken_over():
        ImportJob.objects.filter(pk=job.pk).update(lease_token="another-worker")

    _slow_refreshes_in_thread(monkeypatch, seconds=0.3, meanwhile=taken_over)

    run_import(job.pk)  # stops on the lost lease, quietly

    job.refresh_from_db()
    assert (job.status, job.lease_token) == ("running", "another-worker")
    assert not [thread for thread in threading.enumerate() if thread.name == "import-rollups"]


def _held_refresher(user, monkeypatch, seconds: float) -> tuple[services.RollupRefresher, list]:
    """A refresher of a claimed job whose refreshes each take `seconds`; returns it and their days."""
    job = upload(user, FIXTURES / "apple_export_small.xml")
    token = "this-run"
    assert services._claim(job.pk, token) is not None
    refreshed = []

    def refresh(user, days):
        time.sleep(seconds)
        refreshed.append(list(days))

    monkeypatch.setattr(services.rollups, "refresh", refresh)
    return services.RollupRefresher(ImportJob.objects.get(pk=job.pk), token), refreshed


@pytest.mark.django_db(transaction=True)
def test_handing_days_to_the_refresher_never_waits_and_it_refreshes_them_all_by_close(user, monkeypatch):
    monkeypatch.setattr(services, "ROLLUP_DAYS_PER_BEAT", 2)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0.05)
    refresher, refreshed = _held_refresher(user, monkeypatch, seconds=0.1)
    day = timezone.localdate()
    began = time.monotonic()

    for metric in ("steps", "distance", "heart_rate"):
        refresher.refresh({(metric, day - timedelta(days=back)) for back in range(3)})

    assert time.monotonic() - began < 0.1  # nine days, five slices of 0.1 s: none waited for
    refresher.close()
    assert len(refreshed) == 6  # three days of each metric, in slices of two
    metrics = ("steps", "distance", "heart_rate")
    assert sorted(pair for days in refreshed for pair in days) == sorted(
        (metric, day - timedelta(days=back)) for metric in metrics for back in range(3)
    )
    heartbeat = ImportJob.objects.get(pk=refresher.job.pk).heartbeat_at
    assert heartbeat > timezone.now() - timedelta(seconds=1)  # kept while close waited


@pytest.mark.django_db(transaction=True)
def test_an_import_stopping_on_an_error_drops_the_days_still_waiting_for_the_refresher(user, monkeypatch):
    refresher, refreshed = _held_refresher(user, monkeypatch, seconds=0.2)
    day = timezone.localdate()
    for back in range(10):
        refresher.refresh({("steps", day - timedelta(days=back))})
    time.sleep(0.05)  # the first slice is being refreshed

    refresher.close(quietly=True)

    assert len(refreshed) == 1  # the others are refreshed by the run that resumes or discards the job
    assert not [thread for thread in threading.enumerate() if thread.name == "import-rollups"]


def _lane_writes(monkeypatch, fail_at: int | None = None) -> list[tuple[str, int]]:
    """(thread, position) of every batch checkpointed; the batch ending at `fail_at` fails in its lane."""
    checkpoints: list[tuple[str, int]] = []
    real_checkpoint, real_commit = services._checkpoint, services._commit_ready

    def checkpoint(job, token, position, *arguments):
        checkpoints.append((threading.current_thread().name, position))
        return real_checkpoint(job, token, position, *arguments)

    def commit(job, token, ready, tally, after=None):
        if ready.position == fail_at:
            raise RuntimeError("the disk is full")
        return real_commit(job, token, ready, tally, after)

    monkeypatch.setattr(services, "_checkpoint", checkpoint)
    monkeypatch.setattr(services, "_commit_ready", commit)
    return checkpoints


@pytest.mark.django_db(transaction=True)
def test_two_lanes_write_batches_side_by_side_and_commit_them_in_order(
    user, other_user, in_process, monkeypatch, tmp_path
):
    monkeypatch.setattr(services, "BATCH_ITEMS", 7)
    export = long_export(tmp_path / "export.xml", 60)
    checkpoints = _lane_writes(monkeypatch)

    job = imported(user, export)

    assert job.status == "succeeded", job.error_message
    positions = [position for _, position in checkpoints]
    assert positions == sorted(positions) and positions[-1] == job.checkpoint == 60
    assert {thread for thread, _ in checkpoints} == {"import-lane-0", "import-lane-1"}
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("import-lane")]
    monkeypatch.undo()
    monkeypatch.setattr(services, "IMPORT_PARSER_PROCESS_MIN_BYTES", 0, raising=False)
    with open(export, "rb") as stream:
        items = list(AppleHealthParser(stream, 1))
    reference = ingest(user=other_user, source="apple_health", records=items, origin=Origin("import"))
    assert reference.created == job.created_count == Record.objects.filter(user=user).count() == 60
    assert rollups(user) == [(row[0], *row[1:]) for row in rollups(other_user)]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_in_its_lane_rolls_back_the_next_and_the_run_resumes_exactly_once(
    user, in_process, monkeypatch, tmp_path
):
    monkeypatch.setattr(services, "BATCH_ITEMS", 7)
    export = long_export(tmp_path / "export.xml", 60)
    _lane_writes(monkeypatch, fail_at=28)  # the fourth batch; the fifth is written beside it
    job = upload(user, export)

    with pytest.raises(RuntimeError, match="disk is full"):
        run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.checkpoint) == ("queued", 21)  # three batches of 7, none after them
    assert Record.objects.filter(user=user).count() == 21
    monkeypatch.undo()
    monkeypatch.setattr(services, "BATCH_ITEMS", 7)

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.created_count) == ("succeeded", 2, 60)
    assert Record.objects.filter(user=user).count() == 60
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("import-lane")]


def _ready(export: Path) -> list[pipeline.ReadyBatch]:
    plan = pipeline.Plan(
        path=str(export), max_uncompressed_bytes=10**9, skip=0, user_id=1, zone="UTC", source="apple_health",
        job_id=1, batch_items=3, progress_seconds=3600,
    )  # fmt: skip
    return [batch for batch in pipeline.ready_batches(plan) if isinstance(batch, pipeline.ReadyBatch)]


def test_a_batch_that_shares_a_key_with_the_one_before_or_carries_sessions_is_written_alone(tmp_path):
    export = long_export(tmp_path / "export.xml", 12)
    lines = export.read_text().splitlines(keepends=True)
    # Three lines of head, then records 1-12 a minute apart, with record 3 again after record 4: in
    # the batch after its first.
    export.write_text("".join([*lines[:7], lines[5], *lines[7:]]))

    assert [batch.alone for batch in _ready(export)] == [False, True, False, False, False]

    sleep = (
        ' <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Watch" '
        'startDate="2025-01-01 23:00:00 -0500" endDate="2025-01-02 06:00:00 -0500" '
        'value="HKCategoryValueSleepAnalysisAsleepCore"/>\n'
    )
    export.write_text("".join([*lines[:-1], sleep, lines[-1]]))
    ready = _ready(export)

    assert [bool(batch.sessions) for batch in ready] == [batch.alone for batch in ready]
    assert any(batch.sessions for batch in ready)
