import io
import os
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from healthdata.models import Record
from imports import services
from imports.models import ImportJob, SavedMapping

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"
IMPORTS = "/api/v1/imports/"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def attach(path: Path, name: str | None = None, content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes() if content is None else content)


def post_file(client, name: str, content: bytes, **extra):
    return client.post(IMPORTS, {"file": SimpleUploadedFile(name, content), **extra}, format="multipart")


def test_uploading_an_export_starts_a_queued_job_with_the_file_on_disk(user_api_client, user, media):
    response = user_api_client.post(
        IMPORTS, {"file": attach(FIXTURES / "apple_export_small.xml")}, format="multipart"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["status"], body["progress"]) == ("apple_health", "queued", 0)
    job = ImportJob.objects.get(pk=body["id"])
    assert job.absolute_path.is_file()
    assert job.absolute_path.parent == media / "imports" / str(user.pk)
    assert job.sha256 == services.file_sha256(job.absolute_path)


def test_a_job_can_be_read_after_it_ran(user_api_client):
    created = user_api_client.post(
        IMPORTS, {"file": attach(FIXTURES / "apple_export_small.xml")}, format="multipart"
    )
    services.run_import(created.json()["id"])

    body = user_api_client.get(f"{IMPORTS}{created.json()['id']}").json()

    assert body["status"] == "succeeded"
    assert body["counts_by_metric"]["steps"] == 2
    assert body["error"] is None
    assert [job["id"] for job in user_api_client.get(IMPORTS).json()] == [body["id"]]


def test_another_users_job_is_not_found(user_api_client, other_user, media):
    job = ImportJob.objects.create(
        user=other_user, kind="csv", file_path="x", original_name="x.csv", size_bytes=1, sha256="0" * 64
    )

    for response in (
        user_api_client.get(f"{IMPORTS}{job.pk}"),
        user_api_client.post(f"{IMPORTS}{job.pk}/cancel"),
        user_api_client.post(f"{IMPORTS}{job.pk}/retry"),
        user_api_client.get(f"{IMPORTS}{job.pk}/rejected-rows"),
        user_api_client.delete(f"{IMPORTS}{job.pk}"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert ImportJob.objects.filter(pk=job.pk).exists()


def test_the_same_idempotency_key_returns_the_first_job(user_api_client):
    first = user_api_client.post(
        IMPORTS,
        {"file": attach(FIXTURES / "apple_export_small.xml")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )
    again = user_api_client.post(
        IMPORTS,
        {"file": attach(FIXTURES / "apple_export_small.xml")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert ImportJob.objects.count() == 1


def test_a_duplicate_upload_while_the_first_is_running_is_a_conflict(user_api_client):
    user_api_client.post(IMPORTS, {"file": attach(FIXTURES / "apple_export_small.xml")}, format="multipart")

    response = user_api_client.post(
        IMPORTS, {"file": attach(FIXTURES / "apple_export_small.xml")}, format="multipart"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_upload"
    assert ImportJob.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("export.zip", b"", "empty_file"),
        ("export.zip", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "unsupported_type"),
    ],
)
def test_files_that_are_not_exports_are_refused_at_upload(user_api_client, name, content, code):
    response = post_file(user_api_client, name, content)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not ImportJob.objects.exists()


def test_zip_with_unsafe_member_paths_is_refused_at_upload(user_api_client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/cron.d/x", b"<HealthData/>")

    response = post_file(user_api_client, "export.zip", buffer.getvalue())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsafe_zip_path"


def test_zip_bomb_is_refused_at_upload(user_api_client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("apple_health_export/export.xml", b"\x00" * (20 * 1024**2))

    response = post_file(user_api_client, "export.zip", buffer.getvalue())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "zip_bomb"


def test_a_file_over_the_size_limit_is_refused(user_api_client, settings, media):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000

    response = post_file(user_api_client, "export.xml", b"<HealthData>" + b" " * 5000 + b"</HealthData>")

    assert response.status_code == 413
    assert "upload limit" in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()
    assert not list(media.rglob("*.xml"))


def test_cancel_and_retry_follow_the_job_state(user_api_client):
    job_id = post_file(
        user_api_client, "export.xml", (FIXTURES / "apple_export_small.xml").read_bytes()
    ).json()["id"]

    cancelled = user_api_client.post(f"{IMPORTS}{job_id}/cancel")
    cancelled_again = user_api_client.post(f"{IMPORTS}{job_id}/cancel")
    retried = user_api_client.post(f"{IMPORTS}{job_id}/retry")

    assert cancelled.json()["status"] == "cancelled"
    assert cancelled_again.status_code == 409
    assert retried.json()["status"] == "queued"


def test_deleting_a_job_removes_the_data_it_brought(user_api_client, user):
    job_id = post_file(
        user_api_client, "export.xml", (FIXTURES / "apple_export_small.xml").read_bytes()
    ).json()["id"]
    services.run_import(job_id)
    assert Record.objects.filter(user=user).exists()

    response = user_api_client.delete(f"{IMPORTS}{job_id}")

    assert response.status_code == 204
    assert not Record.objects.filter(user=user).exists()


def test_csv_preview_mapping_validate_and_import(user_api_client, user):
    staged = user_api_client.post(
        f"{IMPORTS}csv/uploads",
        {"file": attach(FIXTURES / "csv" / "semicolon_utf16.csv")},
        format="multipart",
    )
    assert staged.status_code == 201
    (table,) = staged.json()["tables"]
    assert (table["delimiter"], table["decimal"], table["encoding"]) == (";", ",", "utf-16")
    mapping = {
        "timestamp_column": "Datum",
        "columns": [{"column": "Gewicht", "metric": "weight", "unit": "kg"}],
    }

    validation = user_api_client.post(
        f"{IMPORTS}csv/validate", {"upload": staged.json()["upload"], "mapping": mapping}, format="json"
    )
    started = user_api_client.post(
        IMPORTS, {"upload": staged.json()["upload"], "mapping": mapping}, format="json"
    )
    services.run_import(started.json()["id"])

    assert validation.json()["counts_by_metric"] == {"weight": 2}
    assert started.status_code == 201
    assert sorted(Record.objects.filter(user=user, source="csv").values_list("value", flat=True)) == [
        72.1,
        72.5,
    ]


def test_validation_report_downloads_rejected_rows_with_line_numbers(user_api_client):
    staged = user_api_client.post(
        f"{IMPORTS}csv/uploads", {"file": attach(FIXTURES / "csv" / "canonical.csv")}, format="multipart"
    ).json()

    report = user_api_client.post(
        f"{IMPORTS}csv/validate", {"upload": staged["upload"], "format": "csv"}, format="json"
    )

    assert report["Content-Type"].startswith("text/csv")
    lines = report.content.decode().splitlines()
    assert lines[0] == "line,reason,row"
    assert lines[1].startswith("11,'abc' is not a number")


def test_a_mapping_with_an_unknown_metric_fails_validation_with_the_reason(user_api_client):
    staged = user_api_client.post(
        f"{IMPORTS}csv/uploads", {"file": attach(FIXTURES / "csv" / "eu_dates.csv")}, format="multipart"
    ).json()
    mapping = {
        "timestamp_column": "Date",
        "columns": [{"column": "Body weight", "metric": "mass", "unit": "kg"}],
    }

    report = user_api_client.post(
        f"{IMPORTS}csv/validate", {"upload": staged["upload"], "mapping": mapping}, format="json"
    ).json()

    assert report["valid"] is False
    assert "'mass' is not a metric code" in report["error"]["message"]


def test_another_users_staged_upload_is_not_found(user_api_client, other_user, api_client):
    api_client.force_authenticate(other_user)
    staged = api_client.post(
        f"{IMPORTS}csv/uploads", {"file": attach(FIXTURES / "csv" / "eu_dates.csv")}, format="multipart"
    ).json()

    response = user_api_client.post(f"{IMPORTS}csv/validate", {"upload": staged["upload"]}, format="json")

    assert response.status_code == 404


def test_saved_mappings_crud_is_scoped_to_the_user(user_api_client, other_user):
    mapping = {
        "timestamp_column": "Date",
        "columns": [{"column": "Body weight", "metric": "weight", "unit": "kg"}],
    }
    created = user_api_client.post(
        f"{IMPORTS}mappings",
        {"name": "Scale", "header": ["Date", "Body weight"], "mapping": mapping},
        format="json",
    )
    mapping_id = created.json()["id"]
    renamed = user_api_client.patch(f"{IMPORTS}mappings/{mapping_id}", {"name": "My scale"}, format="json")
    foreign = SavedMapping.objects.create(user=other_user, name="Theirs", mapping=mapping)

    assert created.status_code == 201
    assert renamed.json()["name"] == "My scale"
    assert [m["name"] for m in user_api_client.get(f"{IMPORTS}mappings").json()] == ["My scale"]
    assert user_api_client.get(f"{IMPORTS}mappings/{foreign.pk}").status_code == 404
    assert user_api_client.delete(f"{IMPORTS}mappings/{mapping_id}").status_code == 204


def test_a_malformed_mapping_is_a_400_in_the_error_shape(user_api_client):
    response = user_api_client.post(
        f"{IMPORTS}mappings", {"name": "x", "mapping": {"columns": [{"bad": 1}]}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "mapping" in response.json()["error"]["details"]


def test_anonymous_requests_are_refused(api_client):
    assert api_client.get(IMPORTS).status_code in (401, 403)


def test_staff_can_list_and_retry_imports_in_the_admin(client, staff_user, user):
    job = ImportJob.objects.create(
        user=user,
        kind="csv",
        file_path="imports/x.csv",
        original_name="x.csv",
        size_bytes=1,
        sha256="0" * 64,
        status="failed",
    )
    client.force_login(staff_user)

    listing = client.get("/admin/imports/importjob/")
    action = client.post("/admin/imports/importjob/", {"action": "retry", "_selected_action": [job.pk]})

    assert listing.status_code == 200
    assert user.email in listing.content.decode()
    assert action.status_code == 302
    job.refresh_from_db()
    assert job.status == "failed"  # no stored file: nothing to retry


def test_import_pages_upload_a_file_and_show_its_progress(client, user, media):
    client.force_login(user)

    page = client.get("/imports/new/?preset=cronometer_daily")
    upload = client.post(
        "/imports/new/",
        {"file": attach(FIXTURES / "csv" / "cronometer_dailysummary.csv"), "preset": "cronometer_daily"},
    )
    job = ImportJob.objects.get(user=user)
    services.run_import(job.pk)
    detail = client.get(f"/imports/{job.pk}/")

    assert page.status_code == 200
    assert upload.status_code == 302
    assert job.options == {"preset": "cronometer_daily"}
    assert "Energy intake" in detail.content.decode()  # metrics by name, not code
    assert "Cancel</button>" not in detail.content.decode()  # a finished job offers no cancel
    assert client.get("/imports/").status_code == 200


def test_a_running_import_page_offers_cancel_inside_its_live_region(client, user):
    job = ImportJob.objects.create(
        user=user,
        kind="apple_health",
        file_path="x",
        original_name="export.zip",
        size_bytes=1,
        sha256="1" * 64,
    )
    client.force_login(user)

    html = client.get(f"/imports/{job.pk}/").content.decode()

    live_region = html[html.index('id="job-progress"') :]
    assert "Cancel</button>" in live_region
    assert "Apple Health" in live_region


def test_another_users_import_page_is_not_found(client, user, other_user):
    job = ImportJob.objects.create(
        user=other_user, kind="csv", file_path="x", original_name="x.csv", size_bytes=1, sha256="0" * 64
    )
    client.force_login(user)

    assert client.get(f"/imports/{job.pk}/").status_code == 404
    assert client.post(f"/imports/{job.pk}/delete").status_code == 404


def test_the_upload_page_refuses_a_file_over_the_size_limit_with_the_reason(client, user, settings, media):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    client.force_login(user)

    response = client.post("/imports/new/", {"file": attach(FIXTURES / "apple_export_small.xml")})

    assert response.status_code == 413
    assert "upload limit" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_csv_preview_offers_the_saved_mappings_that_fit_the_file(user_api_client, user, other_user):
    fits = {"timestamp_column": "Datum", "columns": [{"column": "Gewicht", "metric": "weight", "unit": "kg"}]}
    other_file = {
        "timestamp_column": "Date",
        "columns": [{"column": "Weight", "metric": "weight", "unit": "kg"}],
    }
    SavedMapping.objects.create(user=user, name="Waage", header=["Datum", "Gewicht"], mapping=fits)
    SavedMapping.objects.create(user=user, name="Scale", header=["Date", "Weight"], mapping=other_file)
    SavedMapping.objects.create(user=other_user, name="Theirs", header=["Datum", "Gewicht"], mapping=fits)

    staged = user_api_client.post(
        f"{IMPORTS}csv/uploads",
        {"file": attach(FIXTURES / "csv" / "semicolon_utf16.csv")},
        format="multipart",
    )

    (table,) = staged.json()["tables"]
    assert [(found["name"], found["mapping"]["timestamp_column"]) for found in table["saved_mappings"]] == [
        ("Waage", "Datum")
    ]


def test_a_zip_expanding_past_the_settings_limit_is_refused_at_upload(user_api_client, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 1024**2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in range(3):  # each member compresses normally; together they are over the limit
            content = os.urandom(200 * 1024).hex()
            archive.writestr(f"apple_health_export/part{part}.xml", content)

    response = post_file(user_api_client, "export.zip", buffer.getvalue())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "zip_bomb"
    assert "limit" in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


@pytest.fixture
def broker_down():
    """The task queue unreachable: nothing listens where the broker should be."""
    from config.celery import app
    from tests.faults.conftest import free_port

    broker_url = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app._after_fork()  # drop the pooled connections to the real broker
    yield
    app.conf.broker_url = broker_url
    app._after_fork()


@pytest.mark.django_db(transaction=True)  # tasks are sent after the commit, as in production
def test_an_upload_while_the_broker_is_down_is_accepted_once_and_starts_later(user_api_client, broker_down):
    export = FIXTURES / "apple_export_small.xml"

    accepted = user_api_client.post(IMPORTS, {"file": attach(export)}, format="multipart")
    again = user_api_client.post(IMPORTS, {"file": attach(export)}, format="multipart")

    assert accepted.status_code == 202
    assert accepted.json()["status"] == "queued"
    assert again.status_code == 409 and again.json()["error"]["details"]["job_id"] == accepted.json()["id"]
    assert ImportJob.objects.count() == 1
    services.run_import(accepted.json()["id"])  # what the worker does once beat has sent it
    assert ImportJob.objects.get().status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_retried_upload_with_its_idempotency_key_while_the_broker_is_down_returns_the_job(
    user_api_client, broker_down
):
    export = FIXTURES / "apple_export_small.xml"
    headers = {"Idempotency-Key": "upload-1"}

    first = user_api_client.post(IMPORTS, {"file": attach(export)}, format="multipart", headers=headers)
    retried = user_api_client.post(IMPORTS, {"file": attach(export)}, format="multipart", headers=headers)

    assert (first.status_code, retried.status_code) == (202, 200)
    assert retried.json()["id"] == first.json()["id"]
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_upload_page_while_the_broker_is_down_shows_the_stored_job(client, user, broker_down):
    client.force_login(user)

    upload = client.post("/imports/new/", {"file": attach(FIXTURES / "apple_export_small.xml")}, follow=True)

    job = ImportJob.objects.get(user=user)
    assert upload.redirect_chain == [(f"/imports/{job.pk}/", 302)]
    assert "will start within a few minutes" in upload.content.decode()
    assert job.status == "queued"
