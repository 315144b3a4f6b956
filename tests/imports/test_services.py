import os
import shutil
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from healthdata import ingest as ingest_module
from healthdata.models import DailyRollup, Record, Session
from imports import services
from imports.models import ImportJob
from imports.services import DuplicateUpload, cancel_import, delete_import, retry_import, run_import

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"


class WorkerKilled(BaseException):
    """Stands for the process dying mid-import: nothing in the import code can catch it."""


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(user, fixture: Path, kind: str = "", options: dict | None = None, content: bytes | None = None):
    relative = f"imports/{user.pk}/{fixture.name}"
    target = services.settings.MEDIA_ROOT / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        shutil.copy(fixture, target)
    else:
        target.write_bytes(content)
    return services.start_import(
        user=user,
        file_path=relative,
        original_name=fixture.name,
        size_bytes=target.stat().st_size,
        sha256=services.file_sha256(target),
        kind=kind,
        options=options,
    )


def stop_after(monkeypatch, items: int, action) -> None:
    """Make the job's parser call `action` once `items` items have been read."""
    real = services.open_parser

    def counting(job):
        parser = real(job)

        class Wrapped:
            report = parser.report
            source = getattr(parser, "source", "")

            @property
            def fraction_done(self):
                return parser.fraction_done

            def __iter__(self):
                for count, item in enumerate(parser, start=1):
                    if count == items + 1:
                        action(job)
                    yield item

        return Wrapped()

    monkeypatch.setattr(services, "open_parser", counting)


ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Apple Health exports take the prepared pipeline on PostgreSQL"
)


def stop_at_batch(monkeypatch, number: int, action) -> None:
    """Make the Apple Health pipeline call `action` before handing over its batch `number`."""
    real = services.ready_batches

    def counting(plan):
        for count, ready in enumerate(real(plan), start=1):
            if count == number:
                action()
            yield ready

    monkeypatch.setattr(services, "ready_batches", counting)


def batch_ends(fixture: Path, size: int) -> list[int]:
    """Where the batches of an Apple Health fixture end (their checkpoints), `size` items a batch."""
    from imports.parsers.apple_health import AppleHealthParser
    from imports.pipeline import batches

    with open(fixture, "rb") as stream:
        parser = AppleHealthParser(stream, fixture.stat().st_size)
        return [batch.position for batch in batches(parser, 0, size, seconds=3600)]


def items_in(ready) -> int:
    """The items of the file a prepared batch stands for (its position moves by this much)."""
    return ready.accepted + sum(ready.rejected.values()) + len(ready.sessions)


def test_apple_export_import_succeeds_with_counts(user, media):
    job = upload(user, FIXTURES / "apple_export_small.xml")

    run_import(job.pk)

    job.refresh_from_db()
    assert job.kind == "apple_health"
    assert job.status == "succeeded"
    assert job.progress == 100
    assert job.counts_by_metric["steps"] == 2
    assert job.report["unknown_types"] == {"HKQuantityTypeIdentifierVO2Max": 1}
    assert Record.objects.filter(user=user, source="apple_health", metric="weight").count() == 1
    assert Session.objects.filter(user=user, kind="workout").count() == 2
    assert DailyRollup.objects.filter(user=user, metric="steps").exists()
    assert not job.absolute_path.exists()


def test_reimporting_the_same_export_adds_nothing(user):
    first = upload(user, FIXTURES / "apple_export_small.xml")
    run_import(first.pk)
    stored = Record.objects.filter(user=user).count()

    second = upload(user, FIXTURES / "apple_export_small.xml")
    run_import(second.pk)

    second.refresh_from_db()
    assert second.status == "succeeded"
    assert second.created_count == 0
    assert Record.objects.filter(user=user).count() == stored


@ON_POSTGRESQL
def test_a_redelivered_task_resumes_from_the_checkpoint(user, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    job = upload(user, FIXTURES / "apple_export_small.xml")
    stop_at_batch(monkeypatch, 3, lambda: (_ for _ in ()).throw(WorkerKilled()))
    with pytest.raises(WorkerKilled):
        run_import(job.pk)
    job.refresh_from_db()
    second_batch_end = batch_ends(FIXTURES / "apple_export_small.xml", 5)[1]
    assert (job.status, job.checkpoint) == ("running", second_batch_end)
    monkeypatch.undo()
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    written = []
    real_commit = services._commit_ready
    monkeypatch.setattr(
        services,
        "_commit_ready",
        lambda job, token, ready, tally, after=None: (
            written.append(items_in(ready)) or real_commit(job, token, ready, tally, after)
        ),
    )
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert sum(written) == job.checkpoint - second_batch_end
    assert Record.objects.filter(user=user, metric="steps").count() == 2


def test_a_csv_import_resumes_from_the_checkpoint(user, other_user, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 2)
    job = upload(user, FIXTURES / "csv" / "canonical.csv")
    stop_after(monkeypatch, 3, lambda job: (_ for _ in ()).throw(WorkerKilled()))
    with pytest.raises(WorkerKilled):
        run_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.checkpoint) == ("running", 2)
    monkeypatch.undo()
    ingested = []
    real_ingest = ingest_module.ingest
    monkeypatch.setattr(services, "ingest", lambda **kw: ingested.extend(kw["records"]) or real_ingest(**kw))
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert len(ingested) == job.checkpoint - 2
    reference = upload(other_user, FIXTURES / "csv" / "canonical.csv")
    run_import(reference.pk)
    assert Record.objects.filter(user=user).count() == Record.objects.filter(user=other_user).count()


def test_a_redelivered_task_leaves_a_job_with_a_live_worker_alone(user):
    job = upload(user, FIXTURES / "apple_export_small.xml")
    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now(), lease_token="x")

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.lease_token, job.attempts) == ("running", "x", 0)


def test_a_job_that_keeps_crashing_fails_after_the_attempt_limit(user, settings):
    job = upload(user, FIXTURES / "apple_export_small.xml")
    stale = timezone.now() - timedelta(minutes=10)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=stale, attempts=settings.IMPORT_MAX_ATTEMPTS
    )

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error_code == "too_many_attempts"
    assert "Retry" in job.error_message


def test_stalled_jobs_are_requeued(user):
    job = upload(user, FIXTURES / "apple_export_small.xml")
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    fresh = upload(user, FIXTURES / "apple_export_ios16.xml")

    assert services.requeue_stalled_imports() == 1

    job.refresh_from_db()
    fresh.refresh_from_db()
    assert (job.status, fresh.status) == ("queued", "queued")
    assert job.queued_at > fresh.queued_at


def test_a_failed_import_removes_the_batches_it_had_committed(user, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    content = (FIXTURES / "apple_export_small.xml").read_bytes()
    job = upload(user, FIXTURES / "apple_export_small.xml", content=content[: int(len(content) * 0.8)])

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error_code == "truncated"
    assert "truncated" in job.error_message
    assert job.checkpoint == 0
    assert not Record.objects.filter(user=user).exists()
    assert not DailyRollup.objects.filter(user=user).exists()


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_cancel_is_honoured_between_batches_and_removes_the_rows(user, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    job = upload(user, FIXTURES / "apple_export_small.xml")
    batches = []
    real_ingest = ingest_module.ingest_encoded

    def ingest_then_cancel(**arguments):
        batches.append(arguments["encoded"])
        result = real_ingest(**arguments)
        if len(batches) == 2:  # as if the user cancelled while this batch was being written
            transaction.on_commit(lambda: cancel_import(ImportJob.objects.get(pk=job.pk)))
        return result

    monkeypatch.setattr(services, "ingest_encoded", ingest_then_cancel)

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "cancelled"
    assert len(batches) == 3
    assert not Record.objects.filter(user=user).exists()


def test_retrying_a_failed_job_queues_it_from_the_start(user):
    job = upload(user, FIXTURES / "csv" / "canonical.csv", options={"preset": "no_such_layout"})
    run_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "bad_mapping")

    assert retry_import(job)

    assert (job.status, job.attempts, job.checkpoint) == ("queued", 0, 0)


def test_deleting_a_job_removes_its_records_and_rollups(user, other_user):
    job = upload(user, FIXTURES / "apple_export_small.xml")
    run_import(job.pk)
    kept = upload(other_user, FIXTURES / "apple_export_small.xml")
    run_import(kept.pk)

    removed = delete_import(job)

    assert removed > 0
    assert not Record.objects.filter(user=user).exists()
    assert not DailyRollup.objects.filter(user=user, metric="steps").exists()
    assert Record.objects.filter(user=other_user).exists()
    assert not ImportJob.objects.filter(pk=job.pk).exists()


def test_a_duplicate_upload_while_the_first_is_running_is_refused(user):
    upload(user, FIXTURES / "apple_export_small.xml")

    with pytest.raises(DuplicateUpload):
        upload(user, FIXTURES / "apple_export_small.xml")


def test_cronometer_csv_is_imported_under_its_own_source(user):
    job = upload(user, FIXTURES / "csv" / "cronometer_dailysummary.csv")

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.kind, job.status, job.source) == ("csv", "succeeded", "cronometer")
    assert job.report["presets"] == ["cronometer_daily"]
    assert Record.objects.filter(user=user, source="cronometer", metric="energy_intake").count() == 2


def test_csv_with_rejected_rows_keeps_them_with_line_numbers(user):
    job = upload(user, FIXTURES / "csv" / "canonical.csv")

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.rejected_rows[0]["line"] == 11
    assert job.report["rejected_count"] == 1


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.zip", b"", "empty_file"),
        ("photo.zip", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "unsupported_type"),
        ("bad.csv", b"timestamp,metric,value,unit\nnever,steps,x,count\n", "no_valid_rows"),
        ("wide.csv", b"timestamp,metric,value,unit\n" + b"1," * 600_000 + b"\n", "line_too_long"),
        (
            "bomb.xml",
            b'<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<HealthData>&b;</HealthData>",
            "xml_entities",
        ),
        (
            "xxe.xml",
            b'<?xml version="1.0"?><!DOCTYPE HealthData [<!ENTITY x SYSTEM "http://127.0.0.1:9/">]>'
            b'<HealthData><Record type="&x;"/></HealthData>',
            "xml_entities",
        ),
    ],
)
def test_bad_files_end_as_failed_jobs_with_a_reason(user, name, content, code):
    job = upload(
        user, FIXTURES / name, kind="csv" if name.endswith(".csv") else "apple_health", content=content
    )

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", code)
    assert job.error_message
    assert not Record.objects.filter(user=user).exists()


def test_staged_uploads_nobody_imported_are_purged_after_a_day(user, media):
    job = upload(user, FIXTURES / "apple_export_small.xml")
    abandoned = media / "imports" / str(user.pk) / "0123456789abcdef0123456789abcdef.csv"
    fresh = abandoned.with_name("fedcba9876543210fedcba9876543210.csv")
    abandoned.write_text("a,b\n")
    fresh.write_text("a,b\n")
    two_days_ago = time.time() - 2 * 86400
    os.utime(abandoned, (two_days_ago, two_days_ago))
    os.utime(job.absolute_path, (two_days_ago, two_days_ago))

    assert services.purge_abandoned_uploads() == 1

    assert not abandoned.exists()
    assert fresh.exists()
    assert job.absolute_path.exists()


# (unit, value) as Apple writes them, for every quantity type the metric registry names.
APPLE_SAMPLES = {
    "steps": [("count", 812)],
    "distance": [("km", 0.62), ("mi", 0.41)],
    "active_energy": [("Cal", 31.5), ("kJ", 130.2)],
    "basal_energy": [("kcal", 62.0), ("kJ", 260.0)],
    "floors_climbed": [("count", 3)],
    "exercise_minutes": [("min", 12)],
    "heart_rate": [("count/min", 71)],
    "resting_heart_rate": [("count/min", 54)],
    "hrv_sdnn": [("ms", 48.3)],
    "walking_heart_rate_avg": [("count/min", 96)],
    "weight": [("kg", 73.8), ("lb", 162.6), ("st", 11.6)],
    "body_fat": [("%", 0.241)],
    "bmi": [("count", 23.1)],
    "lean_mass": [("kg", 56.0), ("lb", 123.4)],
    "height": [("cm", 172), ("ft", 5.64), ("in", 67.7), ("m", 1.72)],
    "spo2": [("%", 0.97)],
    "respiratory_rate": [("count/min", 14.5)],
    "body_temperature": [("degC", 36.8), ("degF", 98.6)],
    "blood_glucose": [("mg/dL", 97), ("mmol&lt;180.1558800000541&gt;/L", 5.4)],
    "energy_intake": [("kcal", 540), ("Cal", 540), ("kJ", 2260)],
    "protein": [("g", 32)],
    "carbohydrates": [("g", 61)],
    "fat": [("g", 18)],
    "fiber": [("g", 7)],
    "sugar": [("g", 12)],
    "sodium": [("mg", 840)],
    "caffeine": [("mg", 95)],
    "water": [("mL", 250), ("fl_oz_us", 8)],
}


def test_every_registry_quantity_type_in_every_unit_apple_writes_is_imported(user):
    from imports.parsers.apple_health import QUANTITY_METRICS

    assert set(QUANTITY_METRICS.values()) == set(APPLE_SAMPLES)
    types = {metric: healthkit for healthkit, metric in QUANTITY_METRICS.items()}
    lines = [
        f'<Record type="{types[metric]}" sourceName="Health" unit="{unit}" value="{value}" '
        f'startDate="2025-01-14 07:{minute:02d}:00 -0500" endDate="2025-01-14 07:{minute:02d}:00 -0500"/>'
        for metric, samples in APPLE_SAMPLES.items()
        for minute, (unit, value) in enumerate(samples)
    ]
    content = f'<HealthData locale="en_US">{"".join(lines)}</HealthData>'.encode()
    job = upload(user, FIXTURES / "every_type.xml", content=content)

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.rejected == {}
    assert job.counts_by_metric == {metric: len(samples) for metric, samples in APPLE_SAMPLES.items()}
    weights = Record.objects.filter(user=user, metric="weight").values_list("value", flat=True)
    assert sorted(round(weight, 1) for weight in weights) == [73.7, 73.8, 73.8]


def test_a_newer_export_covering_the_old_period_adds_only_what_is_new(user):
    old = (FIXTURES / "apple_export_small.xml").read_bytes()
    first = upload(user, FIXTURES / "apple_export_small.xml", content=old)
    run_import(first.pk)
    stored = Record.objects.filter(user=user).count()
    # A later export: the HKDevice memory addresses differ and a new sample follows the old ones.
    newer = old.replace(b"0x303c1a210", b"0x2829a1b30").replace(
        b"</HealthData>",
        b'<Record type="HKQuantityTypeIdentifierStepCount" sourceName="Ana\xe2\x80\x99s iPhone" '
        b'unit="count" startDate="2025-02-01 08:00:00 -0500" endDate="2025-02-01 08:10:00 -0500" '
        b'value="640"/></HealthData>',
    )

    second = upload(user, FIXTURES / "newer_export.xml", content=newer)
    run_import(second.pk)

    second.refresh_from_db()
    assert second.status == "succeeded"
    assert second.created_count == 1
    assert Record.objects.filter(user=user).count() == stored + 1


def test_a_zip_whose_member_data_is_damaged_fails_once_with_the_reason(user, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("apple_health_export/export.xml", (FIXTURES / "apple_export_small.xml").read_bytes())
    content = bytearray(path.read_bytes())
    member = zipfile.ZipFile(path).infolist()[0]
    data_start = member.header_offset + 30 + len(member.filename.encode())
    middle = data_start + member.compress_size // 2
    content[middle : middle + 64] = bytes(64)
    job = upload(user, path, content=bytes(content))

    run_import(job.pk)

    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts) == ("failed", "bad_zip", 1)
    assert "damaged" in job.error_message
    assert not Record.objects.filter(user=user).exists()


@ON_POSTGRESQL
def test_progress_and_heartbeat_are_written_while_no_batch_is_ready(user, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0.05)
    job = upload(user, FIXTURES / "apple_export_small.xml")
    beats = []
    real_beat = services._beat

    def beat(job, token, fraction_done):
        real_beat(job, token, fraction_done)
        beats.append(ImportJob.objects.values_list("heartbeat_at", "progress").get(pk=job.pk))

    monkeypatch.setattr(services, "_beat", beat)
    # A long stretch of elements that give no item (unknown types, or the items before a resume point).
    stop_at_batch(monkeypatch, 1, lambda: time.sleep(0.5))
    ImportJob.objects.filter(pk=job.pk).update(progress=50)  # as a resumed run finds it

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert len(beats) >= 3
    assert beats[-1][0] > beats[0][0]
    assert all(progress >= 50 for _, progress in beats)


def test_the_projects_own_csv_export_imports_back_the_same_records(user, other_user, tmp_path):
    from users.export import write_archive

    first = upload(user, FIXTURES / "apple_export_small.xml")
    run_import(first.pk)
    archive = tmp_path / "export.zip"
    write_archive(user, archive)
    with zipfile.ZipFile(archive) as exported:
        records_csv = exported.read("healthdata/records.csv")

    back = upload(other_user, FIXTURES / "records.csv", content=records_csv)
    run_import(back.pk)

    back.refresh_from_db()
    assert (back.status, back.kind, back.report["presets"]) == ("succeeded", "csv", ["canonical"])
    assert (back.rejected, back.report["rejected_count"]) == ({}, 0)
    assert stored_values(other_user) == stored_values(user)


def stored_values(owner) -> list[tuple]:
    rows = Record.objects.filter(user=owner).values_list("metric", "start", "end", "value", "secondary_value")
    return sorted((metric, start, end, round(value, 6), low) for metric, start, end, value, low in rows)


def test_the_database_keeps_one_active_job_per_file(user):
    job = upload(user, FIXTURES / "apple_export_small.xml")
    same_file = {name: getattr(job, name) for name in ("kind", "file_path", "size_bytes", "sha256")}

    with pytest.raises(IntegrityError), transaction.atomic():
        ImportJob.objects.create(user=user, original_name="again.xml", **same_file)

    ImportJob.objects.filter(pk=job.pk).update(status="succeeded")
    assert ImportJob.objects.create(user=user, original_name="again.xml", **same_file).status == "queued"


def test_retrying_while_the_same_file_is_being_imported_is_refused(user):
    failed = upload(user, FIXTURES / "csv" / "canonical.csv", options={"preset": "no_such_layout"})
    run_import(failed.pk)
    upload(user, FIXTURES / "csv" / "canonical.csv")

    assert not retry_import(failed)

    failed.refresh_from_db()
    assert failed.status == "failed"


def test_overlapping_iphone_and_watch_steps_count_once_in_the_day(user):
    job = upload(user, FIXTURES / "apple_export_small.xml")

    run_import(job.pk)

    # iPhone 812 steps 07:58:40-08:06:12 and Watch 790 steps 07:58:00-08:05:00: each stretch of time
    # counts the device that recorded most in it (docs/merging.md), never the sum of 1,602.
    day = DailyRollup.objects.get(user=user, metric="steps", source="apple_health")
    assert day.local_date.isoformat() == "2025-01-14"
    assert round(day.value) == 919
