from importlib import import_module

import pytest
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from users import api_keys, audit, erasure, export
from users.models import AuditEvent, User


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def models_pointing_at_users() -> list[tuple[type, str]]:
    return [
        (model, field.name)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.get_fields()
        if field.concrete and field.is_relation and field.related_model is User and not field.many_to_many
    ]


def rows_left_for(user_id: int) -> dict[str, int]:
    counts = {
        f"{model._meta.label}.{name}": model._default_manager.filter(**{f"{name}_id": user_id}).count()
        for model, name in models_pointing_at_users()
    }
    return {label: count for label, count in counts.items() if count}


def sessions_of(user_id: int) -> list[str]:
    return [
        session.session_key
        for session in Session.objects.all()
        if session.get_decoded().get("_auth_user_id") == str(user_id)
    ]


def give_data(user: User, staff_user: User) -> None:
    """A little of everything the users app and allauth keep for an account."""
    api_keys.create_api_key(user=user, name="script", scope="read")
    audit.record(actor=user, user=user, action="auth.login", ip="10.1.2.3")
    audit.record(actor=user, user=staff_user, action="staff.example")  # the user acted on someone else
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "x"})
    SocialAccount.objects.create(user=user, provider="strava", uid="123")
    LogEntry.objects.log_actions(
        user_id=staff_user.pk,
        queryset=User.objects.filter(pk=user.pk),
        action_flag=CHANGE,
        change_message="edit",
    )
    export.build(export.start_export(user=user).pk)


def test_after_erasure_nothing_of_the_user_remains(client, user, staff_user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    give_data(user, staff_user)
    assert rows_left_for(user.pk)
    assert sessions_of(user.pk)
    user_id = user.pk

    assert erasure.erase_account(user_id) is True

    assert rows_left_for(user_id) == {}
    assert not User.objects.filter(pk=user_id).exists()
    assert sessions_of(user_id) == []
    assert not LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=str(user_id)
    ).exists()
    assert not export.user_export_folder(user_id).exists()
    assert not AuditEvent.objects.filter(user_ref=user_id).exclude(action="account.deleted").exists()


def test_erasure_keeps_one_anonymised_audit_row(user):
    email = user.email
    user_id = user.pk

    erasure.erase_account(user_id)

    row = AuditEvent.objects.get(action="account.deleted")
    assert (row.user_ref, row.user, row.actor, row.ip, row.details) == (user_id, None, None, None, {})
    assert email not in str([row.target, row.details])


def test_other_users_keep_their_data(user, other_user):
    api_keys.create_api_key(user=other_user, name="theirs", scope="read")
    audit.record(actor=other_user, user=other_user, action="auth.login")

    erasure.erase_account(user.pk)

    assert other_user.api_keys.count() == 1
    assert AuditEvent.objects.for_user(other_user).count() == 2  # key created, sign-in


def test_hooks_run_before_erasure_then_erase_in_reverse_install_order(user, monkeypatch):
    calls = []
    for label in ("preferences", "imports"):
        config = apps.get_app_config(label)
        monkeypatch.setattr(
            config, "before_erase_user", lambda u, label=label: calls.append(("before", label)), raising=False
        )
        monkeypatch.setattr(
            config, "erase_user_data", lambda u, label=label: calls.append(("erase", label)), raising=False
        )

    erasure.erase_account(user.pk)

    assert calls == [
        ("before", "imports"),
        ("before", "preferences"),
        ("erase", "imports"),
        ("erase", "preferences"),
    ]


def test_a_failing_pre_erasure_hook_leaves_the_account_for_a_retry(user, monkeypatch):
    def provider_down(user):
        raise ConnectionError("provider unreachable")

    monkeypatch.setattr(apps.get_app_config("imports"), "before_erase_user", provider_down, raising=False)

    with pytest.raises(ConnectionError):
        erasure.erase_account(user.pk)

    assert User.objects.filter(pk=user.pk).exists()


def test_erasing_twice_is_harmless(user):
    assert erasure.erase_account(user.pk) is True
    assert erasure.erase_account(user.pk) is False
    assert AuditEvent.objects.filter(action="account.deleted").count() == 1


def test_requesting_deletion_locks_the_account_and_ends_its_sessions(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert UserSession.objects.filter(user=user).exists()

    erasure.request_account_deletion(user=user)

    user.refresh_from_db()
    assert not user.is_active
    assert sessions_of(user.pk) == []
    assert AuditEvent.objects.filter(user=user, action="account.deletion_requested").exists()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert all(
        not store(key).exists(key) for key in UserSession.objects.values_list("session_key", flat=True)
    )


def test_staff_deleting_a_user_in_the_admin_runs_the_erasure(client, user, staff_user):
    client.force_login(staff_user)
    user_id = user.pk

    response = client.post(f"/admin/users/user/{user_id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert rows_left_for(user_id) == {}
    assert AuditEvent.objects.get(action="account.deleted").actor == staff_user
    assert not LogEntry.objects.filter(object_id=str(user_id), object_repr__contains="@").exists()


def test_deleting_over_the_api_needs_the_password(user_api_client, user):
    response = user_api_client.post("/api/v1/account/delete", {"password": "wrong"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "password" in response.json()["error"]["details"]
    user.refresh_from_db()
    assert user.is_active


def test_deleting_over_the_api_locks_the_account(user_api_client, user):
    response = user_api_client.post("/api/v1/account/delete", {"password": PASSWORD}, format="json")

    assert response.status_code == 202
    user.refresh_from_db()
    assert not user.is_active


def test_an_api_key_cannot_delete_the_account(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read_write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.secret}")

    response = client.post("/api/v1/account/delete", {"password": PASSWORD}, format="json")

    assert response.status_code == 403
    user.refresh_from_db()
    assert user.is_active


def test_erasure_deletes_the_users_import_jobs_and_uploaded_files(user, other_user, settings):
    from imports.models import ImportJob

    uploads = {}
    for owner in (user, other_user):
        upload = settings.MEDIA_ROOT / "imports" / str(owner.pk) / "export.zip"
        upload.parent.mkdir(parents=True)
        upload.write_bytes(b"PK")
        ImportJob.objects.create(
            user=owner,
            kind="apple_health",
            file_path=str(upload.relative_to(settings.MEDIA_ROOT)),
            original_name="export.zip",
            size_bytes=2,
            sha256="e" * 64,
        )
        uploads[owner.pk] = upload

    erasure.erase_account(user.pk)

    assert not uploads[user.pk].parent.exists()
    assert uploads[other_user.pk].exists()
    assert list(ImportJob.objects.values_list("user_id", flat=True)) == [other_user.pk]


@pytest.mark.django_db(transaction=True)
def test_erasure_revokes_each_provider_grant_then_deletes_the_connection(sandbox):
    from integrations.connections import connect
    from integrations.models import Connection
    from integrations.providers.base import TokenSet
    from tests.factories import UserFactory
    from tests.integrations.sandbox.flows import connect as grant

    user = UserFactory()
    granted = grant(sandbox, "fitbit")
    tokens = TokenSet(access_token=granted["access_token"], refresh_token=granted.get("refresh_token"))
    connect(user=user, provider="fitbit", tokens=tokens)

    assert erasure.erase_account(user.pk) is True

    assert sandbox.count("fitbit", "revoke") == 1
    assert not Connection.objects.filter(user_id=user.pk).exists()
