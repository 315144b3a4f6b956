"""This app's part of a user's data export and account erasure (hooks called by `users`)."""

import shutil

from django.conf import settings

from imports.models import ImportJob, SavedMapping

JOB_FIELDS = (
    "original_name",
    "kind",
    "source",
    "status",
    "size_bytes",
    "sha256",
    "options",
    "created_count",
    "updated_count",
    "unchanged_count",
    "counts_by_metric",
    "rejected",
    "rejected_rows",
    "report",
    "error_code",
    "error_message",
    "created",
    "started_at",
    "finished_at",
)


def export_user_data(user, archive) -> None:
    """Every import job with its counts and rejected rows, and the saved CSV mappings."""
    jobs = ImportJob.objects.filter(user=user).order_by("created", "pk").values(*JOB_FIELDS)
    archive.write_json("jobs.json", list(jobs.iterator(chunk_size=500)))
    mappings = SavedMapping.objects.filter(user=user).order_by("name").values("name", "header", "mapping")
    archive.write_json("csv_mappings.json", list(mappings))


def erase_user_data(user) -> None:
    """The jobs, the saved mappings and every uploaded file of the user."""
    ImportJob.objects.filter(user=user).delete()
    SavedMapping.objects.filter(user=user).delete()
    shutil.rmtree(settings.MEDIA_ROOT / "imports" / str(user.pk), ignore_errors=True)
