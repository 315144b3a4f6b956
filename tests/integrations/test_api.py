import pytest

from integrations.models import Connection, SyncRun


@pytest.fixture
def queued(monkeypatch):
    from integrations.tasks import sync_connection_task

    calls = []
    monkeypatch.setattr(
        sync_connection_task, "delay_on_commit", lambda *args, **kwargs: calls.append((args, kwargs))
    )
    return calls


def test_providers_list_capabilities_and_import_only_sources(user_api_client, acme):
    response = user_api_client.get("/api/v1/providers")

    assert response.status_code == 200
    by_slug = {row["slug"]: row for row in response.json()}
    assert by_slug["oura"]["data_types"] == ["steps", "weight"]
    assert by_slug["oura"]["history_days"] == 365
    assert by_slug["oura"]["available"] is True
    assert by_slug["myfitnesspal"]["import_only"] is True
    assert "cronometer_daily" in by_slug["cronometer"]["import_presets"]


def test_connections_list_shows_status_and_never_tokens(user_api_client, connection):
    response = user_api_client.get("/api/v1/connections")

    assert response.status_code == 200
    (row,) = response.json()
    assert row["status"] == "active"
    assert row["provider"] == "oura"
    assert "access-0" not in response.content.decode()
    assert "token" not in " ".join(row)


def test_another_users_connection_is_not_found(api_client, other_user, connection):
    api_client.force_authenticate(other_user)

    for path in ("", "/runs"):
        assert api_client.get(f"/api/v1/connections/{connection.pk}{path}").status_code == 404
    assert api_client.post(f"/api/v1/connections/{connection.pk}/sync").status_code == 404
    response = api_client.post(f"/api/v1/connections/{connection.pk}/disconnect", {"delete_data": True})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE


def test_starting_a_connection_returns_the_url_to_open(user_api_client, acme):
    response = user_api_client.post(
        "/api/v1/connections/start", {"provider": "oura", "return_url": "hfa://connected"}, format="json"
    )

    assert response.status_code == 200
    assert (
        response.json()["authorize_url"]
        == "http://testserver/connections/connect/oura/?next=hfa%3A%2F%2Fconnected"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "oura", "return_url": "https://evil.example.com/"},
        {"provider": "oura", "return_url": "http://127.0.0.1:8000.evil.example.com/"},
        {"provider": "nope"},
        {"provider": "myfitnesspal"},
    ],
)
def test_starting_a_connection_refuses_bad_input(user_api_client, acme, body):
    response = user_api_client.post("/api/v1/connections/start", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_sync_now_with_the_same_idempotency_key_queues_one_sync(user_api_client, connection, queued):
    for _ in range(2):
        response = user_api_client.post(
            f"/api/v1/connections/{connection.pk}/sync", HTTP_IDEMPOTENCY_KEY="key-1"
        )
        assert response.status_code == 202

    assert len(queued) == 1


def test_sync_now_on_a_connection_that_needs_reauth_is_a_conflict(user_api_client, connection, queued):
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH)

    response = user_api_client.post(f"/api/v1/connections/{connection.pk}/sync")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_syncable"
    assert queued == []


def test_the_sync_runs_of_a_connection_are_listed(user_api_client, connection):
    from integrations import sync

    sync.run(connection.pk)

    response = user_api_client.get(f"/api/v1/connections/{connection.pk}/runs")

    assert response.status_code == 200
    (run,) = response.json()
    assert run["status"] == SyncRun.Status.SUCCEEDED
    assert set(run["counts"]) == {"steps", "weight"}
    assert run["counts"]["steps"] in (90, 91)
    assert run["requests_made"] == 6


@pytest.mark.parametrize("delete_data", [False, True])
def test_disconnecting_revokes_and_keeps_or_deletes_the_data(
    user_api_client, connection, scripted_server, delete_data
):
    from healthdata.models import Record
    from integrations import sync

    sync.run(connection.pk)

    response = user_api_client.post(
        f"/api/v1/connections/{connection.pk}/disconnect", {"delete_data": delete_data}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert len(scripted_server.hits("/oauth/revoke")) == 1
    assert Record.objects.for_user(connection.user).exists() is not delete_data


def test_disconnect_requires_a_choice_about_the_data(user_api_client, connection):
    response = user_api_client.post(f"/api/v1/connections/{connection.pk}/disconnect", {}, format="json")

    assert response.status_code == 400
    assert "delete_data" in response.json()["error"]["details"]


def test_the_integrations_endpoints_are_in_the_openapi_schema(user_api_client):
    response = user_api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    paths = response.json()["paths"]
    for path in (
        "/api/v1/providers",
        "/api/v1/connections",
        "/api/v1/connections/start",
        "/api/v1/connections/{id}/sync",
        "/api/v1/connections/{id}/runs",
        "/api/v1/connections/{id}/disconnect",
    ):
        assert path in paths
