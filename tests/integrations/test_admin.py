import pytest

from integrations.models import Connection, SyncRun


@pytest.fixture
def queued(monkeypatch):
    from integrations.tasks import sync_connection_task

    calls = []
    monkeypatch.setattr(sync_connection_task, "delay_on_commit", lambda *args, **kwargs: calls.append(args))
    return calls


def test_the_connection_admin_never_shows_tokens(client, staff_user, connection):
    client.force_login(staff_user)

    for path in (
        "/admin/integrations/connection/",
        f"/admin/integrations/connection/{connection.pk}/change/",
    ):
        page = client.get(path).content.decode()
        assert "access-0" not in page
        assert "refresh-0" not in page
        assert connection.access_token_encrypted not in page


def test_the_admin_sync_action_queues_a_sync(client, staff_user, connection, queued):
    client.force_login(staff_user)

    client.post(
        "/admin/integrations/connection/",
        {"action": "force_sync", "_selected_action": [connection.pk]},
    )

    assert queued == [(connection.pk,)]


def test_the_admin_revoke_action_revokes(client, staff_user, connection):
    client.force_login(staff_user)

    client.post("/admin/integrations/connection/", {"action": "revoke", "_selected_action": [connection.pk]})

    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.REVOKED


def test_sync_runs_are_listed_in_the_admin(client, staff_user, connection):
    from integrations import sync

    sync.run(connection.pk)
    client.force_login(staff_user)

    page = client.get("/admin/integrations/syncrun/")

    assert page.status_code == 200
    assert SyncRun.objects.count() == 1
    assert client.get(f"/admin/integrations/syncrun/{SyncRun.objects.get().pk}/change/").status_code == 200
