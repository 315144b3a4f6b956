"""Store tokens obtained elsewhere as a connection (operators migrating or testing)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations import registry
from integrations.connections import connect
from integrations.providers.base import TokenSet


class Command(BaseCommand):
    help = "Create or renew a user's connection from an access token and refresh token obtained elsewhere."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="The user's e-mail address")
        parser.add_argument("--provider", required=True, help="Provider slug, e.g. oura")
        parser.add_argument("--access-token", required=True)
        parser.add_argument("--refresh-token", default="")
        parser.add_argument("--expires-in", type=int, default=None, help="Seconds the access token lives")
        parser.add_argument("--external-user-id", default="", help="The user's id at the provider")
        parser.add_argument("--scopes", default="", help="Granted scopes, space- or comma-separated")

    def handle(self, *args, **options) -> None:
        if options["provider"] not in registry.api_sources():
            known = ", ".join(sorted(registry.api_sources()))
            raise CommandError(f"Unknown provider {options['provider']!r}; known: {known}.")
        user = get_user_model().objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user with the e-mail address {options['user']}.")
        expires_in = options["expires_in"]
        tokens = TokenSet(
            access_token=options["access_token"],
            refresh_token=options["refresh_token"] or None,
            expires_at=timezone.now() + timedelta(seconds=expires_in) if expires_in is not None else None,
            scopes=tuple(options["scopes"].replace(",", " ").split()),
        )
        connection = connect(
            user=user,
            provider=options["provider"],
            tokens=tokens,
            external_user_id=options["external_user_id"],
        )
        self.stdout.write(
            f"Connection {connection.pk} ({connection.provider}) is active; a first sync is queued."
        )
