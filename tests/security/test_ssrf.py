"""No address a user or a sender supplies is ever fetched by the server (SSRF).

A canary HTTP server on loopback counts every request it gets. Its address is planted in every
place a URL can come in: return addresses of the connect flow, webhook bodies and verification
queries, CSV cells, an Apple Health export's external entities, stylesheets and XIncludes, manual
entries and API key names. The server must never call it: the only hosts it fetches are the
providers' base URLs from settings.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from imports import services
from imports.models import ImportJob
from integrations import registry


class Canary:
    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                canary.hits.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_HEAD = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary():
    server = Canary()
    yield server
    server.stop()


def test_return_addresses_of_the_connect_flow_are_refused_not_fetched(canary, user, user_api_client):
    browser = Client()
    browser.force_login(user)

    start = browser.get("/connections/connect/oura/", {"next": f"{canary.url}/next"})
    back = browser.get("/connections/connect/oura/return/", {"to": f"{canary.url}/to"})
    api = user_api_client.post(
        "/api/v1/connections/start", {"provider": "oura", "return_url": f"{canary.url}/api"}, format="json"
    )

    assert start.status_code in (403, 404)
    assert back.status_code in (403, 404)
    assert api.status_code == 400
    assert canary.hits == []


def test_webhook_bodies_and_verification_queries_with_urls_fetch_nothing(canary, db):
    client = Client()
    urls = {key: f"{canary.url}/{key}" for key in ("callback_url", "url", "object_url", "href", "verify_url")}
    body = {
        **urls,
        "event_type": "create",
        "data_type": "sleep",
        "object_id": "1",
        "user_id": "someone",
        "owner_id": 1,
        "aspect_type": "create",
        "object_type": "activity",
        "subscription_id": 1,
        "appli": 44,
        "userid": 1,
        "callbackurl": canary.url,
    }

    statuses = []
    for provider in registry.api_sources():
        path = f"/webhooks/{provider}/"
        query = {
            "hub.mode": "subscribe",
            "hub.challenge": canary.url,
            "verification_token": canary.url,
            **urls,
        }
        statuses += [
            client.post(path, json.dumps(body), content_type="application/json").status_code,
            client.post(path, dict(body)).status_code,  # a form body where JSON is expected
            client.post(path, json.dumps([body]), content_type="application/json").status_code,
            client.get(path, query).status_code,
        ]

    assert max(statuses) < 500, statuses
    assert canary.hits == []


APPLE_WITH_URLS = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="{url}/stylesheet"?>
<!DOCTYPE HealthData [
<!ENTITY remote SYSTEM "{url}/entity">
<!ENTITY % parameter SYSTEM "{url}/parameter">
%parameter;
]>
<HealthData locale="en_US" xmlns:xi="http://www.w3.org/2001/XInclude">
 <ExportDate value="2026-01-02 08:00:00 +0000"/>
 <xi:include href="{url}/xinclude"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="&remote;" unit="count" value="10"
  startDate="2026-01-01 08:00:00 +0000" endDate="2026-01-01 08:10:00 +0000"/>
</HealthData>
"""


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("export.xml", APPLE_WITH_URLS),
        ("steps.csv", "date,steps,source,link\n2026-01-01,100,{url}/source,{url}/cell\n"),
    ],
)
def test_imported_files_that_point_at_urls_fetch_nothing(
    canary, user, user_api_client, settings, tmp_path, name, content
):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile(name, content.format(url=canary.url).encode())

    response = user_api_client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    if response.status_code == 201:
        services.run_import(response.json()["id"])

    assert response.status_code in (201, 400, 415, 422), response.content
    assert canary.hits == []
    for job in ImportJob.objects.filter(user=user):
        assert job.status in ("succeeded", "failed"), job.status


def test_urls_typed_into_forms_and_the_api_are_stored_as_text_only(canary, user):
    client = APIClient()
    client.force_authenticate(user)

    client.post("/api/v1/api-keys", {"name": f"{canary.url}/key", "scope": "read"}, format="json")
    client.post(
        "/api/v1/records/manual",
        {
            "metric": "steps",
            "start": "2026-01-01T08:00:00Z",
            "end": "2026-01-01T09:00:00Z",
            "value": 5,
            "note": f"{canary.url}/note",
            "device": f"{canary.url}/device",
        },
        format="json",
    )
    client.put("/api/v1/preferences/activity", {"order": [f"{canary.url}/source"]}, format="json")
    client.post("/api/v1/imports/mappings", {"name": f"{canary.url}/mapping", "mapping": {}}, format="json")

    assert canary.hits == []
