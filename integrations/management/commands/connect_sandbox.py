"""Connect a user to a sandbox provider through the real OAuth flow (allauth's views, the sandbox's pages).

The sandbox must be served at its configured hosts (`make run` serves it on SITE_URL), because
allauth exchanges the code for tokens over HTTP, exactly as with the real provider.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from allauth.socialaccount.providers import registry as allauth_registry
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from django.urls import reverse

from integrations import registry
from integrations.models import Connection


class Command(BaseCommand):
    help = "Connect USER to the sandbox's PROVIDER through allauth's connect flow and the sandbox consent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="The user's e-mail address")
        parser.add_argument("--provider", required=True, help="Provider slug, e.g. oura")
        parser.add_argument("--account", default="demo", help="Which sandbox account approves")

    def handle(self, *args, user: str, provider: str, account: str, **options) -> None:
        if provider not in registry.api_sources():
            raise CommandError(f"Unknown provider {provider!r}.")
        person = get_user_model().objects.filter(email__iexact=user).first()
        if person is None:
            raise CommandError(f"No user with the e-mail address {user}.")
        browser = Client()
        browser.force_login(person)
        authorize_url = _start(browser, provider)
        callback = _approve(authorize_url, account)
        answer = browser.get(callback, follow=False)
        connection = Connection.objects.filter(user=person, provider=provider).first()
        if connection is None or connection.status != Connection.Status.ACTIVE:
            raise CommandError(f"The connect flow did not finish (HTTP {answer.status_code}).")
        self.stdout.write(f"Connected {provider} for {person.email}: connection {connection.pk}.")


def _start(browser: Client, provider: str) -> str:
    """POST allauth's provider login with process=connect; the answer redirects to the authorize page."""
    allauth_provider = allauth_registry.get_class(provider)
    if allauth_provider is None:
        raise CommandError(f"No allauth provider {provider!r} is installed.")
    login_url = reverse(f"{allauth_provider.id}_login")
    answer = browser.post(login_url, {"process": "connect", "next": "/connections/"})
    if answer.status_code != 302:
        raise CommandError(f"allauth did not redirect to the provider (HTTP {answer.status_code}).")
    return answer["Location"]


def _approve(authorize_url: str, account: str) -> str:
    """Open the sandbox's authorize page with its approve switch; returns our callback path."""
    parts = urlsplit(authorize_url)
    query = [*parse_qsl(parts.query), ("sandbox_auto", "approve"), ("sandbox_account", account)]
    try:
        answer = requests.get(
            urlunsplit(parts._replace(query=urlencode(query))), allow_redirects=False, timeout=10
        )
    except requests.ConnectionError as error:
        raise CommandError(
            f"The sandbox at {parts.scheme}://{parts.netloc} is not running (make run)."
        ) from error
    if answer.status_code != 302:
        raise CommandError(f"The sandbox did not approve (HTTP {answer.status_code}).")
    callback = urlsplit(answer.headers["Location"])
    return urlunsplit(("", "", callback.path, callback.query, ""))
