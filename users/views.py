from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from users import api_keys, audit, erasure, export
from users.forms import ApiKeyForm, DeleteAccountForm, ProfileForm
from users.models import ApiKey, AuditEvent, DataExport

RECENT_EXPORTS = 5
RECENT_ACTIVITY = 10


def _exports_context(request: HttpRequest) -> dict:
    exports = list(DataExport.objects.for_user(request.user)[:RECENT_EXPORTS])
    return {"exports": exports, "exports_pending": any(item.is_pending for item in exports)}


def _render_account(request: HttpRequest, status: int = 200, **forms_and_extras) -> HttpResponse:
    user = request.user
    context = {
        "profile_form": ProfileForm(instance=user),
        "key_form": ApiKeyForm(),
        "api_keys": ApiKey.objects.for_user(user),
        **_exports_context(request),
        "has_password": user.has_usable_password(),
        "export_retention_days": settings.EXPORT_RETENTION_DAYS,
        "recent_activity": AuditEvent.objects.for_user(user).select_related("actor")[:RECENT_ACTIVITY],
        **forms_and_extras,
    }
    return render(request, "users/account.html", context, status=status)


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return _render_account(request)


@login_required
@require_POST
def update_profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST, instance=request.user)
    if not form.is_valid():
        request.user.refresh_from_db()
        return _render_account(request, status=400, profile_form=form)
    form.save()
    messages.success(request, "Your time zone and units are saved.")
    return redirect("users:account")


@login_required
@require_POST
@never_cache
def create_api_key(request: HttpRequest) -> HttpResponse:
    """Answer with the page itself, the only response that ever carries the new key's secret."""
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _render_account(request, status=400, key_form=form)
    created = api_keys.create_api_key(user=request.user, ip=audit.client_ip(request), **form.cleaned_data)
    return _render_account(request, status=201, new_key=created)


@login_required
@require_POST
def revoke_api_key(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.for_user(request.user), pk=pk)
    api_keys.revoke_api_key(key=key, actor=request.user, ip=audit.client_ip(request))
    messages.success(request, f"The key “{key.name}” is revoked.")
    return redirect("users:account")


@login_required
@require_POST
def start_export(request: HttpRequest) -> HttpResponse:
    export.start_export(user=request.user, ip=audit.client_ip(request))
    messages.success(request, "Your export is being built. This page shows when it is ready.")
    return redirect("users:account")


@login_required
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    """The exports panel alone, which the account page reloads while an export is being built."""
    return render(request, "users/_exports.html", _exports_context(request))


@login_required
@require_GET
def download_export(request: HttpRequest, pk: int) -> FileResponse:
    data_export = get_object_or_404(DataExport.objects.for_user(request.user), pk=pk)
    if not data_export.is_downloadable:
        raise Http404("This export is not ready or has expired.")
    return export.open_download(data_export, actor=request.user, ip=audit.client_ip(request))


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        erasure.request_account_deletion(user=request.user, request=request)
        logout(request)
        messages.success(request, "Your account is locked and all your data is being deleted.")
        return redirect("/")
    status = 400 if request.method == "POST" else 200
    return render(request, "users/delete_account.html", {"form": form}, status=status)
