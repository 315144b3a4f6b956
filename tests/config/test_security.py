"""Security headers, CSP without inline code, CSRF on forms, and who the client is behind proxies."""

import re

import pytest
from django.test import Client, RequestFactory

from config.ratelimits import client_ip_from_request

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


@pytest.mark.django_db
def test_pages_carry_security_headers_and_a_strict_content_security_policy(client):
    response = client.get("/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_public_pages_have_no_inline_scripts_or_styles(client, path):
    page = client.get(path).content.decode()

    assert not INLINE_SCRIPT.search(page)
    assert not INLINE_STYLE.search(page)


def test_account_pages_have_no_inline_scripts_or_styles(client, user):
    client.force_login(user)

    for path in ["/", "/accounts/email/", "/accounts/password/change/", "/accounts/2fa/"]:
        page = client.get(path).content.decode()
        assert not INLINE_SCRIPT.search(page), path
        assert not INLINE_STYLE.search(page), path


@pytest.mark.django_db
def test_forms_refuse_a_post_without_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)

    page = client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/login/", {"login": user.email, "password": "x"})

    assert 'name="csrfmiddlewaretoken"' in page
    assert response.status_code == 403


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_proxies_the_client_is_the_peer_whatever_the_header_says(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip_from_request(request_from("198.51.100.7", "203.0.113.1")) == "198.51.100.7"


def test_behind_one_proxy_the_client_is_the_entry_that_proxy_appended(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip_from_request(request_from("10.0.0.2", "203.0.113.1")) == "203.0.113.1"


def test_a_spoofed_entry_left_of_the_proxies_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    ip = client_ip_from_request(request_from("10.0.0.2", "1.2.3.4, 203.0.113.1"))

    assert ip == "203.0.113.1"


def test_behind_two_proxies_the_client_is_second_from_the_right(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    ip = client_ip_from_request(request_from("10.0.0.3", "6.6.6.6, 203.0.113.1, 10.0.0.2"))

    assert ip == "203.0.113.1"


def test_fewer_entries_than_proxies_falls_back_to_the_peer(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip_from_request(request_from("10.0.0.3", "203.0.113.1")) == "10.0.0.3"


def test_a_forwarded_entry_that_is_not_an_address_falls_back_to_the_peer(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip_from_request(request_from("10.0.0.2", "not-an-ip")) == "10.0.0.2"


def test_ipv6_clients_are_normalised(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip_from_request(request_from("10.0.0.2", "2001:DB8:0:0::1")) == "2001:db8::1"
