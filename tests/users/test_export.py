import csv
import io
import json
import os
import zipfile
from datetime import date, datetime, timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from users import api_keys, audit, export
from users.models import AuditEvent, DataExport, ExportStatus


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def build_now(user) -> DataExport:
    data_export = export.start_export(user=user)
    export.build(data_export.pk)
    data_export.refresh_from_db()
    return data_export


def read_zip(data_export: DataExport) -> zipfile.ZipFile:
    return zipfile.ZipFile(export.export_file(data_export))


def read_csv(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8", newline="")))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain text", "plain text"),
        (-3.5, -3.5),
        (12, 12),
        (None, ""),
        (True, "true"),
    ],
)
def test_csv_cells_are_escaped_against_formula_injection(value, cell):
    assert export.csv_cell(value) == cell


def test_export_contains_profile_keys_and_audit_with_a_manifest(user):
    key = api_keys.create_api_key(user=user, name="=cmd|' /C calc'!A0", scope="read")

    data_export = build_now(user)

    assert data_export.status == ExportStatus.READY
    with read_zip(data_export) as archive:
        names = set(archive.namelist())
        assert {
            "manifest.json",
            "users/profile.json",
            "users/api_keys.csv",
            "users/audit_events.csv",
        } <= names
        profile = json.loads(archive.read("users/profile.json"))
        assert (profile["email"], profile["timezone"], profile["units"]) == (
            user.email,
            "Europe/London",
            "metric",
        )
        keys = read_csv(archive, "users/api_keys.csv")
        assert keys[0] == ["name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
        assert keys[1][:3] == ["'=cmd|' /C calc'!A0", key.key.prefix, "read"]
        assert key.secret.split("_", 2)[2] not in archive.read("users/api_keys.csv").decode()
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["user_id"] == user.pk
    by_file = {entry["file"]: entry for entry in manifest["files"]}
    assert by_file["users/api_keys.csv"]["rows"] == 1
    assert by_file["users/audit_events.csv"]["rows"] == 2  # key created, export requested


def test_export_holds_no_other_users_data(user, other_user):
    api_keys.create_api_key(user=other_user, name="theirs", scope="read")
    audit.record(actor=other_user, user=other_user, action="auth.login", ip="10.9.9.9")

    with read_zip(build_now(user)) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist())

    assert other_user.email.encode() not in everything
    assert b"theirs" not in everything
    assert b"10.9.9.9" not in everything


def test_each_app_hands_in_its_part_through_the_hook(user, monkeypatch):
    def export_goals(user, archive):
        archive.write_csv("goals.csv", ["metric", "target"], [["steps", 10000]])
        archive.write_json("settings.json", {"week_starts": "monday"})

    monkeypatch.setattr(apps.get_app_config("preferences"), "export_user_data", export_goals, raising=False)

    with read_zip(build_now(user)) as archive:
        assert read_csv(archive, "preferences/goals.csv") == [["metric", "target"], ["steps", "10000"]]
        assert json.loads(archive.read("preferences/settings.json")) == {"week_starts": "monday"}


def test_a_failing_part_fails_the_export_with_a_readable_reason_and_no_file(user, monkeypatch, settings):
    def broken(user, archive):
        archive.write_json("partial.json", {})
        raise RuntimeError("database went away")

    monkeypatch.setattr(apps.get_app_config("preferences"), "export_user_data", broken, raising=False)

    data_export = build_now(user)

    assert data_export.status == ExportStatus.FAILED
    assert data_export.error == "The preferences part of the export could not be written."
    assert list(export.user_export_folder(user.pk).iterdir()) == []


@pytest.mark.parametrize("name", ["../escape.csv", "/abs.csv", "nested/dir.csv", ""])
def test_archive_refuses_names_outside_the_apps_folder(user, tmp_path, name):
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zip_file:
        archive = export.ExportArchive(zip_file, "users", [])
        with pytest.raises(ValueError):
            archive.write_json(name, {})


def test_building_twice_does_nothing_the_second_time(user):
    data_export = build_now(user)
    first_file = data_export.file_path

    export.build(data_export.pk)

    data_export.refresh_from_db()
    assert data_export.file_path == first_file
    assert len(list(export.user_export_folder(user.pk).iterdir())) == 1


def test_a_second_request_while_one_is_pending_reuses_it(user):
    first = export.start_export(user=user)

    assert export.start_export(user=user) == first
    assert DataExport.objects.filter(user=user).count() == 1


def test_expired_exports_lose_their_file(user, settings):
    data_export = build_now(user)
    path = export.export_file(data_export)
    DataExport.objects.filter(pk=data_export.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert export.purge_expired() == 1

    data_export.refresh_from_db()
    assert data_export.status == ExportStatus.EXPIRED
    assert not path.exists()


def test_ready_export_expires_after_the_retention_setting(user, settings):
    settings.EXPORT_RETENTION_DAYS = 3

    data_export = build_now(user)

    remaining = data_export.expires_at - timezone.now()
    assert timedelta(days=2, hours=23) < remaining <= timedelta(days=3)


def test_owner_downloads_the_zip_over_the_api(user_api_client, user):
    data_export = build_now(user)

    status = user_api_client.get(f"/api/v1/exports/{data_export.pk}").json()
    response = user_api_client.get(status["download_url"])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).testzip() is None
    assert AuditEvent.objects.filter(user=user, action="export.downloaded").count() == 1


def test_another_users_export_is_404(user_api_client, other_user):
    data_export = build_now(other_user)

    assert user_api_client.get(f"/api/v1/exports/{data_export.pk}").status_code == 404
    response = user_api_client.get(f"/api/v1/exports/{data_export.pk}/download")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_starting_an_export_over_the_api_queues_it(user_api_client, user):
    response = user_api_client.post("/api/v1/exports")

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert AuditEvent.objects.filter(user=user, action="export.requested").count() == 1


def test_canonical_csv_keeps_negative_values_numeric_and_offsets_in_timestamps(user, monkeypatch):
    start = datetime(2025, 1, 14, 7, 0, 52, tzinfo=timezone.get_fixed_timezone(-300))

    def export_records(user, archive):
        archive.write_canonical_csv(
            "records.csv",
            [
                (start, None, "body_mass", 73.8, "kg", "withings", "wbs-1", ""),
                (date(2025, 1, 14), None, "body_temperature_deviation", -0.4, "Cel", "oura", "", "-note"),
            ],
        )

    monkeypatch.setattr(apps.get_app_config("healthdata"), "export_user_data", export_records, raising=False)

    with read_zip(build_now(user)) as archive:
        rows = read_csv(archive, "healthdata/records.csv")

    assert rows == [
        list(export.CANONICAL_CSV_HEADER),
        ["2025-01-14T07:00:52-05:00", "", "body_mass", "73.8", "kg", "withings", "wbs-1", ""],
        ["2025-01-14", "", "body_temperature_deviation", "-0.4", "Cel", "oura", "", "'-note"],
    ]


def test_a_stalled_export_is_sent_to_the_workers_again_and_then_built(
    user, django_capture_on_commit_callbacks
):
    data_export = export.start_export(user=user)
    two_hours_ago = timezone.now() - timedelta(hours=2)
    DataExport.objects.filter(pk=data_export.pk).update(status=ExportStatus.RUNNING, started_at=two_hours_ago)

    with django_capture_on_commit_callbacks() as callbacks:
        assert export.start_export(user=user) == data_export
    export.build(data_export.pk)

    assert len(callbacks) == 1
    data_export.refresh_from_db()
    assert data_export.status == ExportStatus.READY


def test_a_build_in_progress_is_not_sent_again(user, django_capture_on_commit_callbacks):
    data_export = export.start_export(user=user)
    DataExport.objects.filter(pk=data_export.pk).update(
        status=ExportStatus.RUNNING, started_at=timezone.now()
    )

    with django_capture_on_commit_callbacks() as callbacks:
        export.start_export(user=user)
    export.build(data_export.pk)

    assert callbacks == []
    data_export.refresh_from_db()
    assert data_export.status == ExportStatus.RUNNING


def test_purge_deletes_abandoned_partial_files_only(user, settings):
    folder = export.user_export_folder(user.pk)
    folder.mkdir(parents=True)
    abandoned, fresh = folder / "export-1-aa.part", folder / "export-2-bb.part"
    abandoned.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(abandoned, (old, old))

    export.purge_expired()

    assert not abandoned.exists()
    assert fresh.exists()


def test_beat_purges_exports_with_a_registered_task_on_the_default_queue(settings):
    from config.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-exports"]

    assert entry["task"] in app.tasks
    for name in (entry["task"], "users.tasks.build_export_task", "users.tasks.erase_account_task"):
        assert app.tasks[name].queue == "default"


def test_export_holds_connections_without_tokens_sync_runs_and_import_jobs(user, other_user):
    from imports.models import ImportJob
    from integrations.models import Connection, SyncRun

    connection = Connection(user=user, provider="oura", external_user_id="oura-42")
    connection.access_token = "access-token-never-exported"
    connection.refresh_token = "refresh-token-never-exported"
    connection.save()
    SyncRun.objects.create(connection=connection, status="succeeded", trigger="manual", created_count=7)
    ImportJob.objects.create(
        user=user,
        kind="csv",
        file_path="imports/1/a.csv",
        original_name="scale.csv",
        size_bytes=1,
        sha256="c" * 64,
    )
    ImportJob.objects.create(
        user=other_user,
        kind="csv",
        file_path="imports/2/b.csv",
        original_name="theirs.csv",
        size_bytes=1,
        sha256="d" * 64,
    )

    with read_zip(build_now(user)) as archive:
        connections = json.loads(archive.read("integrations/connections.json"))
        runs = read_csv(archive, "integrations/sync_runs.csv")
        jobs = json.loads(archive.read("imports/jobs.json"))
        everything = b"".join(archive.read(name) for name in archive.namelist())

    assert [(item["provider"], item["external_user_id"]) for item in connections] == [("oura", "oura-42")]
    assert (runs[1][0], runs[1][1], runs[1][5]) == ("oura", "succeeded", "7")
    assert [job["original_name"] for job in jobs] == ["scale.csv"]
    assert b"never-exported" not in everything
    assert connection.access_token_encrypted.encode() not in everything
