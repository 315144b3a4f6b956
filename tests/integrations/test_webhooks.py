import json

import pytest

from integrations.models import Connection, WebhookEvent
from tests.integrations.acme.webhook import sign

URL = "/webhooks/oura/"


def _deliver(client, event: dict, *, signature: str | None = None):
    body = json.dumps(event).encode()
    return client.post(
        URL, data=body, content_type="application/json", HTTP_X_ACME_SIGNATURE=signature or sign(body)
    )


@pytest.fixture
def queued(monkeypatch):
    """The sync tasks the endpoint queued (the broker is not part of what is tested here)."""
    from integrations.tasks import sync_connection_task

    calls = []
    monkeypatch.setattr(
        sync_connection_task, "delay_on_commit", lambda *args, **kwargs: calls.append((args, kwargs))
    )
    return calls


def test_the_verification_handshake_is_answered(client, acme):
    response = client.get(URL, {"challenge": "abc"})

    assert response.status_code == 200
    assert response.json() == {"challenge": "abc"}


def test_a_delivery_with_a_bad_signature_is_refused(client, connection, queued):
    response = _deliver(
        client, {"id": "e1", "user_id": "acme-user-1", "data_type": "weight"}, signature="forged"
    )

    assert response.status_code == 401
    assert queued == []
    assert not WebhookEvent.objects.exists()


def test_a_signed_delivery_queues_one_targeted_sync_and_repeats_are_ignored(client, connection, queued):
    event = {"id": "e1", "user_id": "acme-user-1", "data_type": "weight"}

    assert _deliver(client, event).status_code == 200
    assert _deliver(client, event).status_code == 200

    assert len(queued) == 1
    args, kwargs = queued[0]
    assert args == (connection.pk,)
    assert kwargs["trigger"] == "webhook"
    assert kwargs["data_types"] == ["weight"]
    assert WebhookEvent.objects.get().connection == connection


def test_a_delivery_for_an_unknown_user_is_acknowledged_and_does_nothing(client, connection, queued):
    response = _deliver(client, {"id": "e2", "user_id": "somebody-else", "data_type": "weight"})

    assert response.status_code == 200
    assert queued == []


def test_a_deauthorization_revokes_the_connection(client, connection, queued):
    _deliver(client, {"id": "e3", "user_id": "acme-user-1", "data_type": "weight", "deauthorized": True})

    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED
    assert connection.access_token == ""
    assert queued == []


def test_a_provider_without_webhooks_has_no_endpoint(client, acme):
    assert client.post("/webhooks/strava/", data=b"{}", content_type="application/json").status_code == 404
