import pytest

from healthdata.models import Record
from imports.models import ImportJob
from integrations.models import Connection
from tests.dashboards.data import seed
from users.api_keys import create_api_key
from users.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def connection_with_tokens(user) -> Connection:
    connection = Connection(user=user, provider="fitbit", status=Connection.Status.ACTIVE)
    connection.access_token = "access-token-that-staff-must-never-see"
    connection.refresh_token = "refresh-token-that-staff-must-never-see"
    connection.save()
    return connection


def test_a_users_admin_page_shows_connections_and_imports_inline_without_tokens_or_hashes(staff_client, user):
    connection = connection_with_tokens(user)
    key = create_api_key(user=user, name="script", scope="read")
    ImportJob.objects.create(
        user=user,
        kind="apple_health",
        file_path="x.zip",
        original_name="export.zip",
        size_bytes=1,
        sha256="a" * 64,
    )

    page = staff_client.get(f"/admin/users/user/{user.pk}/change/").content.decode()

    assert "export.zip" in page and "fitbit" in page
    for secret in (
        "access-token-that-staff-must-never-see",
        "refresh-token-that-staff-must-never-see",
        connection.access_token_encrypted,
        connection.refresh_token_encrypted,
        key.key.secret_hash,
        key.secret,
    ):
        assert secret not in page


def test_the_connection_admin_page_shows_no_token(staff_client, user):
    connection = connection_with_tokens(user)

    page = staff_client.get(f"/admin/integrations/connection/{connection.pk}/change/").content.decode()

    assert "never-see" not in page
    assert connection.access_token_encrypted not in page


def test_staff_opening_a_users_record_is_audited(staff_client, staff_user, user):
    seed(user, days=1, sources=("fitbit",), hours=1)
    record = Record.objects.for_user(user).first()

    response = staff_client.get(f"/admin/healthdata/record/{record.pk}/change/")

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="staff.viewed_health_data")
    assert (event.user_id, event.actor_id, event.target) == (user.pk, staff_user.pk, f"record:{record.pk}")


def test_staff_listing_rollups_is_audited_once_for_each_person_on_the_page(staff_client, user, other_user):
    seed(user, days=1, sources=("fitbit",), hours=1)
    seed(other_user, days=1, sources=("fitbit",), hours=1)

    staff_client.get("/admin/healthdata/dailyrollup/")
    listed = AuditEvent.objects.filter(action="staff.viewed_health_data")
    assert sorted(listed.values_list("user_id", flat=True)) == sorted([user.pk, other_user.pk])

    listed.delete()
    staff_client.get(f"/admin/healthdata/dailyrollup/?user__id__exact={user.pk}")
    assert AuditEvent.objects.get(action="staff.viewed_health_data").user_id == user.pk


def failed_job(user, media_root) -> ImportJob:
    upload = media_root / "imports" / str(user.pk) / "scale.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("Day,Weight\n2026-01-01,80\n")
    return ImportJob.objects.create(
        user=user,
        kind="csv",
        status=ImportJob.Status.FAILED,
        file_path=str(upload.relative_to(media_root)),
        original_name="scale.csv",
        size_bytes=1,
        sha256="b" * 64,
    )


def test_staff_forcing_a_sync_is_audited(staff_client, staff_user, user):
    connection = connection_with_tokens(user)

    response = staff_client.post(
        "/admin/integrations/connection/", {"action": "force_sync", "_selected_action": [connection.pk]}
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="staff.connection_sync_requested")
    assert (event.user, event.actor, event.target) == (user, staff_user, f"connection:{connection.pk}")


def test_staff_revoking_a_connection_is_audited_with_the_staff_member_as_actor(
    staff_client, staff_user, user
):
    connection = Connection.objects.create(user=user, provider="fitbit", status=Connection.Status.ERROR)

    staff_client.post(
        "/admin/integrations/connection/", {"action": "revoke", "_selected_action": [connection.pk]}
    )

    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    event = AuditEvent.objects.get(action="connection.disconnected")
    assert (event.user, event.actor, event.details["provider"]) == (user, staff_user, "fitbit")


def test_staff_retrying_and_cancelling_imports_is_audited(staff_client, staff_user, user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    job = failed_job(user, tmp_path)

    staff_client.post("/admin/imports/importjob/", {"action": "retry", "_selected_action": [job.pk]})
    staff_client.post("/admin/imports/importjob/", {"action": "cancel", "_selected_action": [job.pk]})

    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    events = AuditEvent.objects.filter(user=user, actor=staff_user, target=f"import:{job.pk}")
    assert sorted(events.values_list("action", flat=True)) == [
        "staff.import_cancelled",
        "staff.import_retried",
    ]


def test_records_are_read_only_for_staff_and_filterable(staff_client, user):
    seed(user, days=1, sources=("fitbit",), hours=1)
    record = Record.objects.for_user(user).filter(metric="steps").get()

    page = staff_client.get(f"/admin/healthdata/record/{record.pk}/change/").content.decode()
    changed = staff_client.post(f"/admin/healthdata/record/{record.pk}/change/", {"value": "1"})
    deleted = staff_client.post(f"/admin/healthdata/record/{record.pk}/delete/", {"post": "yes"})
    listed = staff_client.get("/admin/healthdata/record/?metric=steps&source=fitbit")

    assert 'name="_save"' not in page
    assert (changed.status_code, deleted.status_code) == (403, 403)
    record.refresh_from_db()
    assert record.value == 500
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [record]
