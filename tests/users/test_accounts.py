"""Accounts through allauth: sign-up, email verification, log in and out, password reset, TOTP,
the headless app client, and the rate limits on each entrance."""

import re
from urllib.parse import urlparse

import pytest
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client

from tests.factories import PASSWORD
from users.adapters import SocialAccountAdapter

NEW_PASSWORD = "a-fresh-and-long-passphrase-2026"


def link_in(message, path_prefix: str) -> str:
    """The path of the first link in an email that starts with `path_prefix`."""
    url = re.search(rf"https?://\S+{re.escape(path_prefix)}\S*", message.body).group(0)
    return urlparse(url).path


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


def current_totp_code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


@pytest.mark.django_db
def test_sign_up_verify_email_log_in_and_log_out(client, mailoutbox):
    signup = client.post(
        "/accounts/signup/",
        {"email": "new.person@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert signup.status_code == 302
    assert not is_signed_in(client)
    [message] = mailoutbox
    assert message.to == ["new.person@example.com"]

    confirm_path = link_in(message, "/accounts/confirm-email/")
    assert client.get(confirm_path).status_code == 200
    confirmed = client.post(confirm_path)
    assert confirmed.status_code == 302
    assert EmailAddress.objects.get(email="new.person@example.com").verified

    client.post("/accounts/logout/")
    assert not is_signed_in(client)
    assert log_in(client, "new.person@example.com", NEW_PASSWORD).status_code == 302
    assert is_signed_in(client)
    assert client.post("/accounts/logout/").status_code == 302
    assert not is_signed_in(client)


@pytest.mark.django_db
def test_an_unverified_address_cannot_log_in_until_it_is_confirmed(client, mailoutbox):
    client.post(
        "/accounts/signup/",
        {"email": "later@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    other_browser = Client()

    response = log_in(other_browser, "later@example.com", NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert not is_signed_in(other_browser)


def test_password_reset_by_email_sets_a_new_password(client, user, mailoutbox):
    assert client.post("/accounts/password/reset/", {"email": user.email}).status_code == 302
    [message] = mailoutbox

    set_password_page = client.get(link_in(message, "/accounts/password/reset/key/"), follow=True)
    reset = client.post(
        set_password_page.redirect_chain[-1][0],
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert reset.status_code == 302
    assert log_in(Client(), user.email, NEW_PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_two_factor_settings_are_reachable_from_the_account_pages(client, user):
    client.force_login(user)

    email_page = client.get("/accounts/email/").content.decode()
    two_factor_page = client.get("/accounts/2fa/")

    assert 'href="/accounts/2fa/"' in email_page
    assert two_factor_page.status_code == 200
    assert "Authenticator App" in two_factor_page.content.decode()


def test_with_totp_enabled_logging_in_asks_for_the_code(client, user):
    client.force_login(user)
    assert client.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    activate = client.get("/accounts/2fa/totp/activate/")
    secret = activate.context["form"].secret

    enabled = client.post("/accounts/2fa/totp/activate/", {"code": current_totp_code(secret)})
    assert enabled.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    browser = Client()
    first_step = log_in(browser, user.email)
    assert first_step["Location"] == "/accounts/2fa/authenticate/"
    assert not is_signed_in(browser)
    second_step = browser.post("/accounts/2fa/authenticate/", {"code": current_totp_code(secret)})
    assert second_step.status_code == 302
    assert is_signed_in(browser)


def test_app_client_logs_in_with_json_and_calls_the_api_with_its_session_token(api_client, user):
    login = api_client.post(
        "/_allauth/app/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200
    token = login.json()["meta"]["session_token"]

    me = api_client.get("/api/v1/me", HTTP_X_SESSION_TOKEN=token)

    assert me.status_code == 200
    assert me.json()["email"] == user.email


@pytest.mark.django_db
def test_a_wrong_session_token_is_refused_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/me", HTTP_X_SESSION_TOKEN="not-a-real-token")

    assert response.status_code in {401, 403}
    assert set(response.json()["error"]) == {"code", "message", "details", "request_id"}


def test_log_in_attempts_from_one_address_are_rate_limited(client, user, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}

    statuses = [log_in(Client(), user.email).status_code for _ in range(3)]
    limited = log_in(client, user.email)

    assert statuses == [302, 302, 302]
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert not is_signed_in(client)


def test_after_repeated_failures_even_the_right_password_is_refused_for_a_while(client, user, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}
    for _ in range(3):
        log_in(client, user.email, "wrong-password")

    response = log_in(client, user.email)

    assert "Too many failed login attempts" in response.content.decode()
    assert not is_signed_in(client)


@pytest.mark.django_db
def test_sign_ups_from_one_address_are_rate_limited(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "2/m/ip"}

    statuses = [
        client.post(
            "/accounts/signup/",
            {"email": f"person{n}@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        ).status_code
        for n in range(3)
    ]

    assert statuses == [302, 302, 429]


def test_password_reset_requests_are_rate_limited(client, user, settings, mailoutbox):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "reset_password": "2/m/ip"}

    statuses = [client.post("/accounts/password/reset/", {"email": user.email}).status_code for _ in range(3)]

    assert statuses == [302, 302, 429]
    assert len(mailoutbox) == 2


def test_app_client_logins_are_rate_limited_in_json(api_client, user, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    attempt = {"email": user.email, "password": "wrong-password"}

    statuses = [
        api_client.post("/_allauth/app/v1/auth/login", attempt, format="json").status_code for _ in range(3)
    ]

    assert statuses == [400, 400, 429]


def test_sign_in_limits_count_the_client_behind_the_proxy_not_a_spoofed_address(user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    attempt = {"login": user.email, "password": PASSWORD}

    statuses = [
        Client(HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.5")
        .post("/accounts/login/", attempt)
        .status_code
        for n in range(3)
    ]

    assert statuses == [302, 302, 429]


def test_a_forwarded_header_shorter_than_the_proxy_chain_does_not_break_sign_in(client, user, settings):
    settings.TRUSTED_PROXY_COUNT = 2

    response = client.post(
        "/accounts/login/", {"login": user.email, "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.5"
    )

    assert response.status_code == 302


@pytest.mark.django_db
def test_sign_in_pages_use_the_app_layout(client):
    page = client.get("/accounts/login/").content.decode()

    assert 'class="site-header"' in page
    assert 'class="card auth-card"' in page
    assert "/static/css/app.css" in page
    assert 'class="button button-prominent button-login"' in page


def test_account_settings_pages_list_every_setting_beside_the_page(client, user):
    client.force_login(user)

    page = client.get("/accounts/password/change/").content.decode()

    for link in ["/accounts/email/", "/accounts/password/change/", "/accounts/2fa/", "/accounts/sessions/"]:
        assert f'href="{link}"' in page
    assert 'aria-label="Account settings"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/"])
def test_data_sources_are_not_offered_as_a_way_to_sign_in(client, path):
    page = client.get(path).content.decode()

    assert "/accounts/oura/login/" not in page
    assert "third-party" not in page


def social_login(process: str, rf) -> tuple[SocialLogin, object]:
    request = rf.get("/accounts/oura/login/callback/")
    request.session = {}
    request._messages = FallbackStorage(request)
    sociallogin = SocialLogin(account=SocialAccount(provider="oura", uid="u-1"))
    sociallogin.state = {"process": process}
    return sociallogin, request


def test_signing_in_through_a_data_source_is_refused(rf):
    sociallogin, request = social_login("login", rf)

    with pytest.raises(ImmediateHttpResponse) as refused:
        SocialAccountAdapter().pre_social_login(request, sociallogin)

    assert refused.value.response["Location"] == "/accounts/login/"


def test_connecting_a_data_source_to_a_signed_in_account_goes_ahead(rf):
    sociallogin, request = social_login("connect", rf)

    assert SocialAccountAdapter().pre_social_login(request, sociallogin) is None
    assert SocialAccountAdapter().is_open_for_signup(request, sociallogin) is False
