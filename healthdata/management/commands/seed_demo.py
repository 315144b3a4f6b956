from django.core.management.base import BaseCommand

from healthdata import demo
from users.models import User

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - a published demo account for local use only


class Command(BaseCommand):
    help = "Create the demo account with about two months of data (idempotent) and print how to sign in."

    def handle(self, *args, **options) -> None:
        user, created = User.objects.get_or_create(email=DEMO_EMAIL, defaults={"timezone": "Europe/London"})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        from allauth.account.models import EmailAddress

        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        result = demo.seed(user)
        self.stdout.write(
            f"Demo data: {result.created} new, {result.updated} updated, {result.unchanged} unchanged values."
        )
        self.stdout.write(
            self.style.SUCCESS(f"Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}  (http://127.0.0.1:8000)")
        )
