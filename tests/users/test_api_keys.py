from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from users import api_keys
from users.models import ApiKey, AuditEvent


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def test_created_key_is_stored_only_as_prefix_and_hash(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")

    row = ApiKey.objects.get(pk=created.key.pk)
    assert created.secret.startswith(f"hfa_{row.prefix}_")
    assert created.secret.split("_", 2)[2] not in row.secret_hash
    assert row.secret_hash == api_keys.hash_secret(created.secret.split("_", 2)[2])


def test_key_authenticates_its_owner(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")

    response = key_client(created.secret).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["email"] == user.email


@pytest.mark.parametrize(
    "mangle",
    [
        lambda secret: secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        lambda secret: secret.replace("hfa_", "xyz_"),
        lambda secret: secret[: secret.index("_", len(api_keys.KEY_PREFIX)) + 1],
        lambda secret: "",
    ],
    ids=["wrong-secret", "wrong-prefix", "no-secret", "empty"],
)
def test_a_wrong_key_gets_401_in_the_error_shape(user, mangle):
    created = api_keys.create_api_key(user=user, name="script", scope="read")

    response = key_client(mangle(created.secret)).get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"]


def test_revoked_key_is_refused(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    api_keys.revoke_api_key(key=created.key, actor=user)

    response = key_client(created.secret).get("/api/v1/me")

    assert response.status_code == 401


def test_key_of_a_deactivated_user_is_refused(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read_write")
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert key_client(created.secret).get("/api/v1/me").status_code == 401


def test_read_only_key_cannot_write(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")

    response = key_client(created.secret).patch("/api/v1/me", {"units": "imperial"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only_key"
    user.refresh_from_db()
    assert user.units == "metric"


def test_read_write_key_can_write(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read_write")

    response = key_client(created.secret).patch("/api/v1/me", {"units": "imperial"}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.units == "imperial"


def test_use_is_recorded_at_most_once_per_interval(user, settings):
    settings.API_KEY_LAST_USED_INTERVAL_SECONDS = 60
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    client = key_client(created.secret)

    client.get("/api/v1/me")
    first_use = ApiKey.objects.get(pk=created.key.pk).last_used_at
    client.get("/api/v1/me")

    assert first_use is not None
    assert ApiKey.objects.get(pk=created.key.pk).last_used_at == first_use


def test_use_after_the_interval_moves_last_used(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    long_ago = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(pk=created.key.pk).update(last_used_at=long_ago)

    key_client(created.secret).get("/api/v1/me")

    assert ApiKey.objects.get(pk=created.key.pk).last_used_at > long_ago


def test_creating_a_key_over_the_api_shows_the_secret_once(user_api_client):
    response = user_api_client.post("/api/v1/api-keys", {"name": "backup", "scope": "read"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith(f"hfa_{body['prefix']}_")
    listed = user_api_client.get("/api/v1/api-keys").json()
    assert [item["prefix"] for item in listed] == [body["prefix"]]
    assert "key" not in listed[0]
    assert "secret_hash" not in listed[0]
    assert "key" not in user_api_client.get(f"/api/v1/api-keys/{body['id']}").json()


def test_creating_a_key_with_a_bad_scope_gets_400_and_no_key(user_api_client, user):
    response = user_api_client.post("/api/v1/api-keys", {"name": "x", "scope": "admin"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "scope" in response.json()["error"]["details"]
    assert not ApiKey.objects.filter(user=user).exists()


def test_revoking_over_the_api(user_api_client, user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")

    response = user_api_client.post(f"/api/v1/api-keys/{created.key.pk}/revoke")

    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert AuditEvent.objects.filter(user=user, action="api_key.revoked").count() == 1


def test_another_users_key_is_404(user_api_client, other_user):
    created = api_keys.create_api_key(user=other_user, name="theirs", scope="read")

    assert user_api_client.get(f"/api/v1/api-keys/{created.key.pk}").status_code == 404
    response = user_api_client.post(f"/api/v1/api-keys/{created.key.pk}/revoke")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert ApiKey.objects.get(pk=created.key.pk).revoked_at is None
    assert user_api_client.get("/api/v1/api-keys").json() == []


def test_a_key_cannot_make_more_keys(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read_write")

    response = key_client(created.secret).post("/api/v1/api-keys", {"name": "more", "scope": "read"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "api_key_not_allowed"
    assert ApiKey.objects.filter(user=user).count() == 1


def test_the_secret_never_reaches_the_logs_or_the_audit_log(user, caplog):
    caplog.set_level("DEBUG")
    client = APIClient()
    client.force_authenticate(user)

    body = client.post("/api/v1/api-keys", {"name": "script", "scope": "read"}, format="json").json()
    key_client(body["key"]).get("/api/v1/me")

    secret_part = body["key"].split("_", 2)[2]
    assert secret_part not in caplog.text
    for event in AuditEvent.objects.all():
        assert secret_part not in f"{event.target} {event.details}"


def test_staff_never_see_the_key_hash_in_the_admin(client, staff_user, user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    client.force_login(staff_user)

    pages = [
        client.get("/admin/users/apikey/"),
        client.get(f"/admin/users/apikey/{created.key.pk}/change/"),
        client.get(f"/admin/users/user/{user.pk}/change/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert created.key.prefix in page.content.decode()
        assert created.key.secret_hash not in page.content.decode()


def test_read_only_key_is_refused_for_writes_by_the_authentication_itself(user):
    """So a view with its own permission_classes cannot let a read-only key write."""
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    factory = APIRequestFactory()
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {created.secret}"}
    authentication = api_keys.ApiKeyAuthentication()

    assert authentication.authenticate(Request(factory.get("/x", **headers))) == (user, created.key)
    with pytest.raises(exceptions.PermissionDenied):
        authentication.authenticate(Request(factory.post("/x", **headers)))


def test_a_right_key_leaves_the_addresses_failure_counter_untouched(user):
    created = api_keys.create_api_key(user=user, name="script", scope="read")
    counter = api_keys._failure_counter(APIRequestFactory().get("/api/v1/me"))

    assert key_client(created.secret).get("/api/v1/me").status_code == 200

    assert cache.get(counter) is None


def test_each_wrong_key_counts_once_against_the_address(user):
    counter = api_keys._failure_counter(APIRequestFactory().get("/api/v1/me"))

    for _ in range(2):
        assert key_client("hfa_000000000000_not-a-real-secret").get("/api/v1/me").status_code == 401

    assert cache.get(counter) == 2
