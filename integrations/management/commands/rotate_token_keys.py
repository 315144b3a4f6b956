"""Re-encrypt every stored provider token with the newest of TOKEN_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand
from django.db import transaction

from integrations import crypto
from integrations.models import Connection


class Command(BaseCommand):
    help = "Re-encrypt provider tokens with the first key of TOKEN_ENCRYPTION_KEYS (run after adding a key)."

    def handle(self, *args, **options) -> None:
        rotated = 0
        for pk in Connection.objects.values_list("pk", flat=True).iterator():
            with transaction.atomic():
                connection = Connection.objects.select_for_update().get(pk=pk)
                connection.access_token_encrypted = crypto.reencrypt(connection.access_token_encrypted)
                connection.refresh_token_encrypted = crypto.reencrypt(connection.refresh_token_encrypted)
                connection.save(update_fields=["access_token_encrypted", "refresh_token_encrypted"])
            rotated += 1
        self.stdout.write(f"Re-encrypted the tokens of {rotated} connections.")
