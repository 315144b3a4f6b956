"""Sync one connection now, in this process: `--id N`, or `--user EMAIL --provider SLUG`."""

from django.core.management.base import BaseCommand, CommandError

from integrations import sync
from integrations.http import ProviderError
from integrations.models import Connection


class Command(BaseCommand):
    help = "Sync one connection now (by id, or by user e-mail and provider) and print what it wrote."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--id", type=int, help="Connection id")
        parser.add_argument("--user", help="The user's e-mail address")
        parser.add_argument("--provider", help="Provider slug, e.g. oura")

    def handle(self, *args, **options) -> None:
        connection = _find(options["id"], options["user"], options["provider"])
        try:
            run = sync.run(connection.pk, trigger="command")
        except ProviderError as error:
            raise CommandError(f"Sync failed: {error.hint}") from error
        if run is None:
            raise CommandError(f"Not synced: the connection is {connection.status} or already syncing.")
        counts = (
            ", ".join(f"{metric} {count}" for metric, count in sorted(run.counts.items())) or "nothing new"
        )
        self.stdout.write(
            f"Sync {run.pk} {run.status} in {run.duration}: {counts}; {run.requests_made} requests."
        )
        for error in run.errors:
            self.stdout.write(f"  {error['data_type'] or 'connection'}: {error['hint']}")


def _find(pk: int | None, email: str | None, provider: str | None) -> Connection:
    if pk is not None:
        found = Connection.objects.filter(pk=pk)
    elif email and provider:
        found = Connection.objects.filter(user__email__iexact=email, provider=provider)
    else:
        raise CommandError("Give --id, or --user and --provider.")
    connection = found.select_related("user").first()
    if connection is None:
        raise CommandError("No such connection.")
    return connection
