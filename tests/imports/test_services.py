import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
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


def test_a_redelivered_task_resumes_from_the_checkpoint(user, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    job = upload(user, FIXTURES / "apple_export_small.xml")
    stop_after(monkeypatch, 12, lambda job: (_ for _ in ()).throw(WorkerKilled()))
    with pytest.raises(WorkerKilled):
        run_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.checkpoint) == ("running", 10)
    monkeypatch.undo()
    monkeypatch.setattr(services, "BATCH_ITEMS", 5)
    ingested = []
    real_ingest = ingest_module.ingest
    monkeypatch.setattr(services, "ingest", lambda **kw: ingested.extend(kw["records"]) or real_ingest(**kw))
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))

    run_import(job.pk)

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert len(ingested) == job.checkpoint - 10
    assert Record.objects.filter(user=user, metric="steps").count() == 2


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


@pytest.mark.django_db(transaction=True)
def test_cancel_is_honoured_between_batches_and_removes_the_rows(user, monkeypatch):
    monkeypatch.setattr(services, "BATCH_ITEMS", 3)
    job = upload(user, FIXTURES / "apple_export_small.xml")
    batches = []
    real_ingest = ingest_module.ingest

    def ingest_then_cancel(**arguments):
        batches.append(arguments["records"])
        result = real_ingest(**arguments)
        if len(batches) == 2:  # as if the user cancelled while this batch was being written
            transaction.on_commit(lambda: cancel_import(ImportJob.objects.get(pk=job.pk)))
        return result

    monkeypatch.setattr(services, "ingest", ingest_then_cancel)

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
