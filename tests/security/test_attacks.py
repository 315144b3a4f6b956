"""Attacks on the HTML pages: stored XSS, CSRF, open redirects, session fixation and spoofed IPs.

Brute force against sign-in lives in `test_abuse.py`; leaks of secrets in `test_secrets.py`.
"""

import re
from importlib import import_module
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils.html import escape
from rest_framework.test import APIClient

from healthdata.metrics import CATEGORIES
from tests.factories import (
    PASSWORD,
    ApiKeyFactory,
    ConnectionFactory,
    ImportJobFactory,
    RecordFactory,
    SavedMappingFactory,
    SleepSessionFactory,
    SyncRunFactory,
    UserFactory,
)
from tests.security.test_ownership import all_routes, is_sandbox_route
from users import audit

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{ATTRIBUTE}{SCRIPT}"


@pytest.fixture
def planted(db):
    """One user whose every free-text field, from forms, imports and providers, holds the payload."""
    user = UserFactory(email=f"{ATTRIBUTE}@example.com")
    connection = ConnectionFactory(user=user, status="error", last_error=PAYLOAD)
    SyncRunFactory(connection=connection, status="failed", errors=[{"data_type": "sleep", "message": SCRIPT}])
    job = ImportJobFactory(
        user=user,
        status="failed",
        original_name=f"{PAYLOAD}.csv",
        source=SCRIPT,
        error_message=PAYLOAD,
        counts_by_metric={PAYLOAD: 1},
        rejected_rows=[{"line": 2, "reason": PAYLOAD, "raw": PAYLOAD}],
    )
    RecordFactory(user=user, device=PAYLOAD, metadata={"device": PAYLOAD})
    RecordFactory(user=user, source="apple_health", device=PAYLOAD, metadata={PAYLOAD: PAYLOAD})
    SleepSessionFactory(user=user, device=PAYLOAD)
    ApiKeyFactory(user=user, name=PAYLOAD)
    SavedMappingFactory(user=user, name=PAYLOAD, header=[PAYLOAD, "steps"])
    audit.record(actor=user, user=user, action="api_key.created", target=PAYLOAD, details={"name": PAYLOAD})
    return {"user": user, "connection": connection, "job": job}


def user_pages(planted) -> list[str]:
    connection, job = planted["connection"], planted["job"]
    return [
        "/",
        *(f"/data/{category}/" for category in CATEGORIES),
        "/preferences/",
        "/goals/",
        "/connections/",
        f"/connections/{connection.pk}/",
        f"/connections/{connection.pk}/disconnect/",
        "/imports/",
        f"/imports/{job.pk}/",
        "/imports/csv/",
        "/account/",
        "/account/exports",
        "/accounts/email/",
    ]


ADMIN_MODELS = [
    "users/user",
    "users/apikey",
    "users/auditevent",
    "imports/importjob",
    "imports/savedmapping",
    "integrations/connection",
    "integrations/syncrun",
    "healthdata/record",
    "healthdata/session",
]


def assert_escaped(page: str, where: str) -> None:
    assert SCRIPT not in page, f"raw <script> payload on {where}"
    assert ATTRIBUTE not in page, f"raw attribute payload on {where}"


def test_stored_payloads_come_back_escaped_on_every_user_page(planted):
    client = Client()
    client.force_login(planted["user"])
    shown = ""

    for path in user_pages(planted):
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        assert_escaped(page, path)
        shown += page

    for field in (SCRIPT, ATTRIBUTE):  # the text is shown, as text
        assert escape(field) in shown


def test_stored_payloads_come_back_escaped_in_the_admin(planted, staff_user):
    from django.apps import apps

    client = Client()
    client.force_login(staff_user)
    shown = ""

    for label in ADMIN_MODELS:
        app_label, model_name = label.split("/")
        model = apps.get_model(app_label, model_name)
        listing = client.get(f"/admin/{label}/")
        assert listing.status_code == 200, label
        shown += listing.content.decode()
        for item in model.objects.all()[:5]:
            change = client.get(f"/admin/{label}/{item.pk}/change/")
            assert change.status_code == 200, (label, item.pk)
            shown += change.content.decode()
        assert_escaped(shown, label)

    assert escape(SCRIPT) in shown


def test_the_csv_preview_returns_headers_as_json_for_the_page_to_insert_as_text(user_api_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(f"{ATTRIBUTE}.csv", f"date,{SCRIPT}\n2026-01-01,5\n".encode())

    response = user_api_client.post("/api/v1/imports/csv/uploads", {"file": upload}, format="multipart")

    assert response.status_code in (200, 201), response.content
    assert response["Content-Type"].startswith("application/json")
    assert SCRIPT in str(response.json()["tables"])


# CSRF --------------------------------------------------------------------------------------------

CSRF_EXEMPT = {
    "integrations:webhook": "provider deliveries carry the provider's signature, not a cookie",
}
CSRF_EXEMPT_PREFIXES = {
    "_allauth/app/": "app clients send a session token header, never a cookie",
}


def post_routes() -> list:
    routes = []
    for route in all_routes():
        if is_sandbox_route(route) or route.name in CSRF_EXEMPT:
            continue
        if route.route.startswith(tuple(CSRF_EXEMPT_PREFIXES)):
            continue
        routes.append(route)
    return routes


def fill(route) -> str:
    values = {
        "pk": 1,
        "object_id": 1,
        "id": 1,
        "content_type_id": 1,
        "app_label": "users",
        "url": "users/user/1/",
        "action": "delete",
        "provider": "oura",
        "category": "activity",
        "key": "abc",
        "uidb36": "1",
    }
    return route.path(**values)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_state_changing_request_without_a_csrf_token_is_refused(method, user, staff_user):
    refused, accepted = [], []
    for signed_in in (user, staff_user):
        client = Client(enforce_csrf_checks=True)
        client.force_login(signed_in)
        for route in post_routes():
            path = fill(route)
            status = getattr(client, method)(path).status_code
            if status == 403:
                refused.append(path)
            elif status not in (405,):
                accepted.append((path, status))

    assert not accepted, f"answered without a CSRF token: {accepted}"
    assert refused


def test_an_anonymous_sign_in_without_a_csrf_token_is_refused(user):
    client = Client(enforce_csrf_checks=True)

    for path in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/admin/login/"):
        response = client.post(path, {"login": user.email, "email": user.email, "password": PASSWORD})
        assert response.status_code == 403, path


def test_a_browser_api_call_on_a_session_cookie_needs_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    refused = client.post("/api/v1/goals", {"metric": "steps", "target": 9000}, format="json")
    client.get("/api/v1/me")
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None
    if token is None:
        client.get("/account/")
        token = client.cookies["csrftoken"].value
    accepted = client.post(
        "/api/v1/goals", {"metric": "steps", "target": 9000}, format="json", HTTP_X_CSRFTOKEN=token
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"]
    assert accepted.status_code == 201


# Open redirects ----------------------------------------------------------------------------------

OFFSITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https:evil.example",
    "/\t/evil.example/",
    "javascript:alert(1)",
    " https://evil.example/",
]


def is_offsite(location: str) -> bool:
    """As a browser reads it: tabs and newlines dropped, backslashes taken for slashes."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/").strip()
    parts = urlsplit(cleaned)
    return bool(parts.netloc) or parts.scheme not in ("", "http", "https") or "evil" in parts.path[:8]


@pytest.mark.parametrize("target", OFFSITE)
def test_sign_in_never_redirects_offsite_through_next(user, target):
    client = Client()

    response = client.post(f"/accounts/login/?next={target}", {"login": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert not is_offsite(response["Location"]), response["Location"]


@pytest.mark.parametrize("target", OFFSITE)
def test_sign_out_never_redirects_offsite_through_next(user, target):
    client = Client()
    client.force_login(user)

    response = client.post("/accounts/logout/", {"next": target})

    assert response.status_code == 302
    assert not is_offsite(response["Location"]), response["Location"]


@pytest.mark.parametrize("target", OFFSITE)
def test_the_connect_flow_refuses_an_offsite_return_address(user, target):
    client = Client()
    client.force_login(user)

    start = client.get("/connections/connect/oura/", {"next": target})
    back = client.get("/connections/connect/oura/return/", {"to": target})

    assert start.status_code in (403, 404)
    assert back.status_code == 403 or not is_offsite(back.get("Location", "")), back.get("Location")


@pytest.mark.parametrize("target", OFFSITE)
def test_a_provider_sign_in_never_leaves_for_next(user, target):
    client = Client()
    client.force_login(user)

    response = client.post("/accounts/oura/login/", {"process": "connect", "next": target})

    location = response.get("Location", "")
    assert "evil.example" not in location.replace("%2F", "/").split("?")[0]
    assert target not in location


def test_a_provider_callback_with_a_forged_state_connects_nothing_and_stays_on_site(user):
    from integrations.models import Connection

    client = Client()
    client.force_login(user)

    response = client.get("/accounts/oura/login/callback/", {"code": "stolen", "state": "forged-state"})

    assert response.status_code in (200, 302, 400, 401, 403)
    assert not is_offsite(response.get("Location", ""))
    assert not Connection.objects.filter(user=user).exists()


# Session fixation --------------------------------------------------------------------------------


def test_signing_in_rotates_the_session_key(user):
    client = Client()
    client.get("/accounts/login/")
    session = client.session
    session["planted"] = True
    session.save()
    client.cookies["sessionid"] = session.session_key
    planted_key = session.session_key

    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    assert response.status_code == 302
    assert client.cookies["sessionid"].value != planted_key
    store = import_module(django_settings.SESSION_ENGINE).SessionStore
    assert not store(planted_key).get("_auth_user_id")


def test_signing_in_through_the_admin_rotates_the_session_key(staff_user):
    client = Client()
    client.get("/admin/login/")
    planted_key = client.session.session_key or ""
    if not planted_key:
        session = client.session
        session.save()
        client.cookies["sessionid"] = session.session_key
        planted_key = session.session_key

    client.post("/admin/login/", {"username": staff_user.email, "password": PASSWORD})

    assert client.cookies["sessionid"].value != planted_key


# Spoofed client addresses ------------------------------------------------------------------------


def test_the_api_limit_per_ip_cannot_be_dodged_with_x_forwarded_for(settings, user_api_client):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_USER = "5/m", "1000/m"
    settings.TRUSTED_PROXY_COUNT = 0
    client = user_api_client

    statuses = [
        client.get("/api/v1/providers", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(8)
    ]

    assert statuses.count(429) >= 3, statuses


def test_behind_one_proxy_only_the_address_the_proxy_saw_counts(settings, user_api_client):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_USER = "5/m", "1000/m"
    settings.TRUSTED_PROXY_COUNT = 1
    client = user_api_client

    statuses = [
        client.get("/api/v1/providers", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 198.51.100.7").status_code
        for n in range(8)
    ]

    assert statuses.count(429) >= 3, statuses


def test_device_and_source_names_from_a_real_import_come_back_escaped(user, staff_user, settings, tmp_path):
    from xml.sax.saxutils import quoteattr

    from django.core.files.uploadedfile import SimpleUploadedFile

    from healthdata.models import Record
    from imports import services

    settings.MEDIA_ROOT = tmp_path
    export = f"""<?xml version="1.0" encoding="UTF-8"?>
<HealthData locale="en_US">
 <ExportDate value="2026-01-02 08:00:00 +0000"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName={quoteattr(PAYLOAD)} sourceVersion="1"
  device={quoteattr(f"<<HKDevice: 0x1>, name:{PAYLOAD}, manufacturer:{SCRIPT}>")} unit="count"
  creationDate="2026-01-01 08:10:00 +0000" startDate="2026-01-01 08:00:00 +0000"
  endDate="2026-01-01 08:10:00 +0000" value="812">
  <MetadataEntry key={quoteattr(PAYLOAD)} value={quoteattr(PAYLOAD)}/>
 </Record>
</HealthData>
"""
    client = APIClient()
    client.force_authenticate(user)
    upload = SimpleUploadedFile(f"{ATTRIBUTE}.xml", export.encode())
    created = client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert created.status_code == 201, created.content
    services.run_import(created.json()["id"])
    record = Record.objects.for_user(user).get()
    assert SCRIPT in f"{record.device} {record.metadata}"  # the hostile text was stored as given

    browser = Client()
    browser.force_login(user)
    staff = Client()
    staff.force_login(staff_user)
    pages = [
        browser.get("/"),
        browser.get("/data/activity/"),
        browser.get("/imports/"),
        browser.get(f"/imports/{created.json()['id']}/"),
        staff.get("/admin/healthdata/record/"),
        staff.get(f"/admin/healthdata/record/{record.pk}/change/"),
        staff.get(f"/admin/imports/importjob/{created.json()['id']}/change/"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert_escaped(page.content.decode(), page.request["PATH_INFO"])
