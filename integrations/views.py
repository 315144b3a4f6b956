"""Pages of the integrations: the user's connections, and the webhook endpoint of each provider."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations import registry, webhooks
from integrations.connections import disconnect, request_sync
from integrations.models import Connection, SyncRun
from integrations.retention import retention_days


@csrf_exempt
def webhook(request: HttpRequest, provider: str) -> HttpResponse:
    module = registry.webhook_module(provider)
    if module is None:
        raise Http404("No webhooks for this provider.")
    return webhooks.receive(provider, module, request)


@login_required
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = {c.provider: c for c in Connection.objects.for_user(request.user)}
    sources = [
        {
            "source": source,
            "connection": connections.get(slug),
            "retention_days": retention_days(slug),
            "configured": source.is_configured(),
        }
        for slug, source in sorted(registry.sources().items(), key=lambda item: item[1].name)
    ]
    # Demo mode: the provider hosts are the built-in simulators, and the buttons say so.
    context = {"sources": sources, "sandbox": settings.SANDBOX_ENABLED}
    return render(request, "integrations/connections.html", context)


@login_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection.objects.for_user(request.user), pk=pk)
    runs = SyncRun.objects.for_user(request.user).filter(connection=connection).order_by("-started_at")[:20]
    source = registry.get_source(connection.provider)
    return render(
        request,
        "integrations/connection_detail.html",
        {
            "connection": connection,
            "source": source,
            "runs": runs,
            "retention_days": retention_days(connection.provider),
        },
    )


@login_required
def connect_start(request: HttpRequest, provider: str) -> HttpResponse:
    """The page a connect link opens: one button that starts allauth's connect flow."""
    source = registry.api_sources().get(provider)
    if source is None or not source.is_configured():
        raise Http404("Unknown provider.")
    return_url = request.GET.get("next", "")
    if return_url and not is_allowed_return_url(return_url):
        raise PermissionDenied("This return address is not allowed.")
    after = _after_connect(provider, return_url)
    return render(request, "integrations/connect.html", {"source": source, "next": after})


def _after_connect(provider: str, return_url: str) -> str:
    """Where allauth sends the user once connected: a local path itself, anything else through
    `connect_return` (allauth follows only same-site http(s) addresses, never an app's scheme)."""
    if not return_url:
        return reverse("integrations:connections")
    if return_url.startswith("/") and not return_url.startswith(("//", "/\\")):
        return return_url
    return f"{reverse('integrations:connect-return', args=[provider])}?{urlencode({'to': return_url})}"


class _ReturnRedirect(HttpResponseRedirect):
    """A redirect that may leave for an allow-listed app scheme (`hfa://`), not only http(s)."""

    def __init__(self, url: str) -> None:
        self.allowed_schemes = [*self.allowed_schemes, urlsplit(url).scheme]
        super().__init__(url)


@login_required
def connect_return(request: HttpRequest, provider: str) -> HttpResponse:
    """Send a user who finished connecting back to the allow-listed URL their client gave,
    with the provider and the connection's status appended."""
    return_url = request.GET.get("to", "")
    if not return_url or not is_allowed_return_url(return_url):
        raise PermissionDenied("This return address is not allowed.")
    connection = Connection.objects.for_user(request.user).filter(provider=provider).first()
    outcome = {"provider": provider, "status": connection.status if connection else "not_connected"}
    separator = "&" if "?" in return_url else "?"
    return _ReturnRedirect(f"{return_url}{separator}{urlencode(outcome)}")


@login_required
@require_POST
def sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection.objects.for_user(request.user).syncable(), pk=pk)
    request_sync(connection, trigger="manual")
    messages.success(request, "Sync queued. New data appears in a minute or two.")
    return redirect("integrations:connection-detail", pk=connection.pk)


@login_required
def disconnect_view(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(Connection.objects.for_user(request.user), pk=pk)
    if request.method != "POST":
        return render(request, "integrations/disconnect.html", {"connection": connection})
    delete_data = request.POST.get("data") == "delete"
    disconnect(connection, delete_data=delete_data)
    kept = "deleted" if delete_data else "kept"
    messages.success(request, f"Disconnected. The data synced so far was {kept}.")
    return redirect("integrations:connections")


def is_allowed_return_url(url: str) -> bool:
    """Only the site itself and the configured app schemes may receive a returning user."""
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        # As a browser reads it: "/\t/evil.example" loses its tab and leaves the site.
        return url_has_allowed_host_and_scheme(url, allowed_hosts=None)
    for allowed in settings.CONNECT_RETURN_URL_ALLOWLIST:
        if allowed.endswith("://") and url.startswith(allowed):  # an app scheme: hfa://
            return True
        base = allowed.rstrip("/")
        if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
            return True
    return False
