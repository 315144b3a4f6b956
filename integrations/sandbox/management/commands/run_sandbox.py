"""Serve the provider sandbox alone, in its own process: `manage.py run_sandbox --port 8765`."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.core.servers.basehttp import run
from django.core.wsgi import get_wsgi_application

from integrations.sandbox import control


class Command(BaseCommand):
    help = "Serve the provider simulators (and their control API) on their own port."
    requires_system_checks = []  # the sandbox needs none of the project's URLs, models or checks

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)

    def handle(self, *args, host: str, port: int, **options) -> None:
        settings.ROOT_URLCONF = "integrations.sandbox.standalone_urls"
        base = f"http://{host}:{port}/sandbox"
        self.stdout.write(f"Provider sandbox on {base}/<provider>/ and its control API on {base}/_control/")
        for provider in control.PROVIDERS:
            self.stdout.write(f"  {provider.upper()}_*_BASE_URL={base}/{provider}")
        run(host, port, get_wsgi_application(), threading=True)
