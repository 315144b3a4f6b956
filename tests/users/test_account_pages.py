import re
import zipfile
from datetime import UTC, datetime
from io import BytesIO

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PASSWORD, UserFactory
from users import api_keys, export
from users.models import ApiKey, AuditEvent, DataExport, User


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_account_page_needs_sign_in(client, db):
    response = client.get("/account/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_account_page_shows_every_section_without_inline_script_or_style(signed_in, user):
    api_keys.create_api_key(user=user, name="nightly backup", scope="read")

    response = signed_in.get("/account/")

    html = response.content.decode()
    assert response.status_code == 200
    for text in (
        "Time zone and units",
        "/accounts/2fa/",
        "/accounts/email/",
        "/accounts/password/change/",
        "nightly backup",
        "Export all my data",
        "/account/delete",
    ):
        assert text in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"<style|\sstyle=", html)
    assert '<option value="Europe/London" selected>' in html


def test_every_form_field_has_a_label(signed_in):
    html = signed_in.get("/account/").content.decode()

    field_ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
    label_targets = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    assert field_ids
    assert field_ids <= label_targets


def test_saving_time_zone_and_units(signed_in, user):
    response = signed_in.post("/account/profile", {"timezone": "America/New_York", "units": "imperial"})

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.timezone, user.units) == ("America/New_York", "imperial")


def test_an_unknown_time_zone_is_refused_and_nothing_changes(signed_in, user):
    response = signed_in.post("/account/profile", {"timezone": "Mars/Olympus", "units": "imperial"})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    user.refresh_from_db()
    assert (user.timezone, user.units) == ("Europe/London", "metric")


def test_creating_a_key_shows_it_once_and_never_caches_the_page(signed_in, user):
    response = signed_in.post("/account/api-keys", {"name": "backup", "scope": "read_write"})

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = re.search(r'value="(hfa_[^"]+)"', response.content.decode()).group(1)
    key = ApiKey.objects.get(user=user)
    assert api_keys.verify(secret) == key
    assert key.scope == "read_write"
    assert secret not in signed_in.get("/account/").content.decode()


def test_a_key_without_a_name_is_refused(signed_in, user):
    response = signed_in.post("/account/api-keys", {"name": "", "scope": "read"})

    assert response.status_code == 400
    assert not ApiKey.objects.filter(user=user).exists()


def test_revoking_a_key_from_the_page(signed_in, user):
    created = api_keys.create_api_key(user=user, name="old", scope="read")

    response = signed_in.post(f"/account/api-keys/{created.key.pk}/revoke")

    assert response.status_code == 302
    assert api_keys.verify(created.secret) is None


def test_another_users_key_cannot_be_revoked_from_the_page(signed_in, other_user):
    created = api_keys.create_api_key(user=other_user, name="theirs", scope="read")

    response = signed_in.post(f"/account/api-keys/{created.key.pk}/revoke")

    assert response.status_code == 404
    assert api_keys.verify(created.secret) == created.key


def test_export_from_the_page_then_download(signed_in, user):
    signed_in.post("/account/exports/start")
    data_export = DataExport.objects.get(user=user)
    assert 'hx-trigger="every 3s"' in signed_in.get("/account/exports").content.decode()

    export.build(data_export.pk)
    panel = signed_in.get("/account/exports").content.decode()
    response = signed_in.get(f"/account/exports/{data_export.pk}/download")

    assert "hx-trigger" not in panel
    assert f"/account/exports/{data_export.pk}/download" in panel
    assert response.status_code == 200
    assert "manifest.json" in zipfile.ZipFile(BytesIO(b"".join(response.streaming_content))).namelist()


def test_another_users_export_cannot_be_downloaded(signed_in, other_user):
    data_export = export.start_export(user=other_user)
    export.build(data_export.pk)

    assert signed_in.get(f"/account/exports/{data_export.pk}/download").status_code == 404


def test_delete_with_the_wrong_password_keeps_the_account(signed_in, user):
    response = signed_in.post("/account/delete", {"password": "not-it"})

    assert response.status_code == 400
    user.refresh_from_db()
    assert user.is_active
    assert not AuditEvent.objects.filter(action="account.deletion_requested").exists()


def test_delete_with_the_password_locks_the_account_and_signs_out(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    response = client.post("/account/delete", {"password": PASSWORD})

    assert response.status_code == 302
    assert SESSION_KEY not in client.session
    user.refresh_from_db()
    assert not user.is_active
    assert AuditEvent.objects.filter(user=user, action="account.deletion_requested").exists()


def test_an_account_without_password_confirms_by_typing_its_email(client, db):
    user = UserFactory(password=None)
    user.set_unusable_password()
    user.save()
    client.force_login(user)

    assert client.post("/account/delete", {"email": "someone@else.com"}).status_code == 400
    response = client.post("/account/delete", {"email": user.email.upper()})

    assert response.status_code == 302
    assert not User.objects.get(pk=user.pk).is_active


def test_times_are_shown_in_the_users_time_zone(signed_in, user):
    user.timezone = "Pacific/Auckland"  # UTC+13 in November: 02:00 UTC is 15:00 there
    user.save(update_fields=["timezone"])
    data_export = export.start_export(user=user)
    DataExport.objects.filter(pk=data_export.pk).update(created_at=datetime(2026, 11, 22, 2, 0, tzinfo=UTC))

    panel = signed_in.get("/account/exports").content.decode()

    assert "22 Nov 2026, 15:00" in panel


def test_account_page_queries_stay_bounded_as_keys_and_exports_grow(signed_in, user):
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert signed_in.get("/account/").status_code == 200
        return len(queries)

    api_keys.create_api_key(user=user, name="first", scope="read")
    few = page_queries()
    for number in range(20):
        api_keys.create_api_key(user=user, name=f"key {number}", scope="read")
        DataExport.objects.create(user=user, status="failed", error="x")

    assert page_queries() == few


def test_password_guesses_on_the_delete_form_are_limited(signed_in, user):
    for _ in range(5):
        assert signed_in.post("/account/delete", {"password": "guess"}).status_code == 400

    response = signed_in.post("/account/delete", {"password": PASSWORD})

    assert response.status_code == 400
    assert "Too many attempts" in response.content.decode()
    user.refresh_from_db()
    assert user.is_active


def test_account_page_lists_recent_sign_ins_of_this_user_only(client, user, other_user):
    client.post("/accounts/login/", {"login": other_user.email, "password": "wrong"})
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    html = client.get("/account/").content.decode()

    assert "Signed in" in html
    assert "Failed sign-in attempt" not in html
