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


def test_staff_listing_a_users_rollups_is_audited_but_an_unfiltered_list_is_not(staff_client, user):
    seed(user, days=1, sources=("fitbit",), hours=1)

    staff_client.get("/admin/healthdata/dailyrollup/")
    assert not AuditEvent.objects.filter(action="staff.viewed_health_data").exists()

    staff_client.get(f"/admin/healthdata/dailyrollup/?user__id__exact={user.pk}")
    assert AuditEvent.objects.get(action="staff.viewed_health_data").user_id == user.pk
