import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.models import Connection
from integrations.views import is_allowed_return_url


@pytest.fixture
def queued(monkeypatch):
    from integrations.tasks import sync_connection_task

    calls = []
    monkeypatch.setattr(sync_connection_task, "delay_on_commit", lambda *args, **kwargs: calls.append(args))
    return calls


def test_the_connections_page_lists_connected_and_import_only_sources(client, connection):
    client.force_login(connection.user)

    page = client.get("/connections/").content.decode()

    assert "Acme" in page and "Connected" in page
    assert "MyFitnessPal offers no public API" in page
    assert "access-0" not in page


def test_in_demo_mode_the_connect_buttons_say_they_reach_the_sandbox(client, user, acme, settings):
    client.force_login(user)

    settings.SANDBOX_ENABLED = True
    demo = client.get("/connections/").content.decode()
    settings.SANDBOX_ENABLED = False
    real = client.get("/connections/").content.decode()

    assert "Connect Acme (sandbox)" in demo
    assert "Connect Acme</a>" in real and "(sandbox)" not in real


def test_a_connection_page_shows_its_runs(client, connection):
    from integrations import sync

    sync.run(connection.pk)
    client.force_login(connection.user)

    page = client.get(f"/connections/{connection.pk}/").content.decode()

    assert re.search(r"Steps 9[01]", page)  # metrics by name, not code


def test_another_users_connection_pages_are_not_found(client, other_user, connection, queued):
    client.force_login(other_user)

    assert client.get(f"/connections/{connection.pk}/").status_code == 404
    assert client.post(f"/connections/{connection.pk}/sync/").status_code == 404
    assert client.post(f"/connections/{connection.pk}/disconnect/", {"data": "delete"}).status_code == 404
    assert queued == []


def test_sync_now_queues_a_sync(client, connection, queued):
    client.force_login(connection.user)

    response = client.post(f"/connections/{connection.pk}/sync/")

    assert response.status_code == 302
    assert queued == [(connection.pk,)]


def test_disconnecting_from_the_page_asks_then_revokes(client, connection, scripted_server):
    client.force_login(connection.user)

    assert b"Keep it" in client.get(f"/connections/{connection.pk}/disconnect/").content
    client.post(f"/connections/{connection.pk}/disconnect/", {"data": "keep"})

    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.REVOKED
    assert len(scripted_server.hits("/oauth/revoke")) == 1


def test_the_connect_page_refuses_a_return_url_outside_the_allow_list(client, user, acme):
    client.force_login(user)

    assert client.get("/connections/connect/oura/", {"next": "https://evil.example.com/"}).status_code == 403
    assert client.get("/connections/connect/oura/", {"next": "/connections/"}).status_code == 200


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/connections/", True),
        ("//evil.example.com/", False),
        ("http://127.0.0.1:8000/connections/", True),
        ("http://127.0.0.1:8000.evil.example.com/", False),
        ("hfa://connected", True),
        ("javascript:alert(1)", False),
    ],
)
def test_return_urls_are_checked_against_the_allow_list(url, allowed):
    assert is_allowed_return_url(url) is allowed


def test_the_connect_page_sends_an_app_return_url_through_the_return_view(client, user, acme):
    client.force_login(user)

    page = client.get("/connections/connect/oura/", {"next": "hfa://connected"})

    form = re.search(r'<form method="post" action="(/accounts/[^"]+/login/[^"]*)"', page.content.decode())
    query = parse_qs(urlsplit(html.unescape(form.group(1))).query)
    assert query["next"] == ["/connections/connect/oura/return/?to=hfa%3A%2F%2Fconnected"]


def test_the_return_view_appends_the_connection_status(client, connection):
    client.force_login(connection.user)

    answer = client.get("/connections/connect/oura/return/", {"to": "hfa://connected?x=1"})

    assert answer.status_code == 302
    assert answer["Location"] == "hfa://connected?x=1&provider=oura&status=active"


def test_the_return_view_refuses_a_url_outside_the_allow_list(client, user, acme):
    client.force_login(user)

    assert client.get("/connections/connect/oura/return/", {"to": "evil://x"}).status_code == 403
    assert client.get("/connections/connect/oura/return/").status_code == 403
