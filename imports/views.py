"""The import pages: upload a file, follow its progress, cancel, retry or delete it."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError as BrokerUnreachable

from imports import services, uploads
from imports.models import KINDS, ImportJob
from imports.parsers.base import ImportRejected
from imports.parsers.csv.presets import PRESETS


@login_required
def import_list(request: HttpRequest) -> HttpResponse:
    jobs = ImportJob.objects.for_user(request.user)[:50]
    is_active = any(job.is_active for job in jobs)
    return render(request, "imports/list.html", {"jobs": jobs, "refresh": is_active})


@csrf_exempt
def import_new(request: HttpRequest) -> HttpResponse:
    # The upload handler must be in place before the CSRF check reads the body.
    uploads.use_import_upload_handler(request)
    try:
        return _import_new(request)
    except uploads.UploadTooLarge as too_large:
        messages.error(request, str(too_large.detail))
        return render(request, "imports/new.html", _new_context(request), status=too_large.status_code)


def _new_context(request: HttpRequest) -> dict:
    return {
        "kinds": KINDS,
        "presets": [p.name for p in PRESETS],
        "preset": request.GET.get("preset", ""),
        "max_upload_gb": settings.IMPORT_MAX_UPLOAD_BYTES / 1024**3,
    }


@login_required
@csrf_protect
def _import_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        uploaded = request.FILES.get("file")
        if uploaded is None:
            messages.error(request, "Choose a file to import.")
        else:
            job = _start(request, uploaded)
            if job is not None:
                return redirect("imports:detail", pk=job.pk)
    return render(request, "imports/new.html", _new_context(request))


def _start(request: HttpRequest, uploaded) -> ImportJob | None:
    kind = request.POST.get("kind", "") if request.POST.get("kind", "") in KINDS else ""
    preset = request.POST.get("preset", "") if request.POST.get("preset") in {p.name for p in PRESETS} else ""
    job = None
    try:
        staged = uploads.stage(user=request.user, uploaded=uploaded)
        with transaction.atomic():  # the task is sent after the commit, so the job exists either way
            job = services.start_import(
                user=request.user,
                kind=kind,
                options={"preset": preset} if preset else {},
                **{name: staged[name] for name in ("file_path", "original_name", "size_bytes", "sha256")},
            )
        return job
    except BrokerUnreachable:
        if job is None:
            raise
        # Stored: beat's requeue_stalled_imports sends it once the task queue is back.
        messages.info(request, "Your import is saved and will start within a few minutes.")
        return job
    except ImportRejected as rejected:
        messages.error(request, rejected.reason)
    except services.DuplicateUpload as duplicate:
        messages.error(request, f"This file is already being imported (import #{duplicate.job.pk}).")
    return None


@login_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.for_user(request.user), pk=pk)
    return render(request, "imports/detail.html", {"job": job, "refresh": job.is_active})


@login_required
@require_POST
def import_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.for_user(request.user), pk=pk)
    if action == "cancel":
        services.cancel_import(job)
    elif action == "retry":
        services.retry_import(job)
    elif action == "delete":
        services.delete_import(job)
        messages.success(request, "The import and the data it brought were deleted.")
        return redirect("imports:list")
    return redirect("imports:detail", pk=pk)
