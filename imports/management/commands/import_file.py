"""manage.py import_file PATH --user EMAIL [--kind KIND]: the upload → job → ingestion path, from a shell."""

import hashlib
import json
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from imports import services
from imports.models import KINDS, ImportJob
from imports.parsers.csv.presets import PRESETS


class Command(BaseCommand):
    help = (
        "Import an export file (Apple Health zip/xml, a CSV or a zip of CSVs) for a user, printing progress."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--user", required=True, help="The user's email address.")
        parser.add_argument("--kind", choices=KINDS, default="", help="Detected from the file when absent.")
        parser.add_argument("--preset", choices=[preset.name for preset in PRESETS], default="")
        parser.add_argument("--mapping", type=Path, help="A JSON file with a CSV mapping (docs/imports.md).")
        parser.add_argument("--weight-unit", choices=["kg", "lb", "st"], default="")

    def handle(
        self,
        *args,
        path: Path,
        user: str,
        kind: str,
        preset: str,
        mapping: Path | None,
        weight_unit: str,
        **options,
    ) -> None:
        owner = get_user_model().objects.filter(email__iexact=user).first()
        if owner is None:
            raise CommandError(f"No user with the email {user}.")
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        job = self._start(owner, path, kind, self._options(preset, mapping, weight_unit))
        self.stdout.write(f"Import #{job.pk} ({job.kind}) of {path.name}, {job.size_bytes:,} bytes")
        self._run_and_report(job)

    def _options(self, preset: str, mapping: Path | None, weight_unit: str) -> dict:
        options = {"preset": preset, "weight_unit": weight_unit}
        if mapping is not None:
            try:
                options["mapping"] = json.loads(mapping.read_text())
            except (OSError, ValueError) as error:
                raise CommandError(f"The mapping file cannot be read: {error}") from None
        return {name: value for name, value in options.items() if value}

    def _start(self, owner, path: Path, kind: str, options: dict) -> ImportJob:
        relative = Path("imports") / str(owner.pk) / f"{uuid.uuid4().hex}{''.join(path.suffixes[-2:])[:16]}"
        target = settings.MEDIA_ROOT / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(path, "rb") as source, open(target, "wb") as copy:
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
                copy.write(chunk)
        try:
            return services.start_import(
                user=owner,
                file_path=str(relative),
                original_name=path.name,
                size_bytes=target.stat().st_size,
                sha256=digest.hexdigest(),
                kind=kind,
                options=options,
                enqueue=False,
            )
        except services.DuplicateUpload as duplicate:
            target.unlink(missing_ok=True)
            raise CommandError(f"This file is already being imported (import #{duplicate.job.pk}).") from None
        except services.ImportRejected as rejected:
            target.unlink(missing_ok=True)
            raise CommandError(rejected.reason) from None

    def _run_and_report(self, job: ImportJob) -> None:
        worker = threading.Thread(target=_run_in_thread, args=(job.pk,), daemon=True)
        started = time.monotonic()
        worker.start()
        while worker.is_alive():
            worker.join(timeout=1.0)
            job.refresh_from_db()
            self.stdout.write(f"  {job.status:9} {job.progress:5.1f} %  {job.checkpoint:>10,} items")
        job.refresh_from_db()
        elapsed = time.monotonic() - started
        if job.status != ImportJob.Status.SUCCEEDED:
            raise CommandError(
                f"Import #{job.pk} {job.status}: {job.error_message or 'see the job for details'}"
            )
        rate = job.checkpoint / max(elapsed, 1e-9)
        self.stdout.write(
            self.style.SUCCESS(f"Import #{job.pk} succeeded in {elapsed:.1f} s ({rate:,.0f} items/s)")
        )
        self.stdout.write(
            f"  {job.checkpoint:,} items: {job.created_count:,} new, {job.updated_count:,} updated, "
            f"{job.unchanged_count:,} unchanged, {sum(job.rejected.values()):,} rejected"
        )
        for metric, count in sorted(job.counts_by_metric.items()):
            self.stdout.write(f"  {metric:28} {count:>10,}")
        if job.report.get("unknown_types"):
            self.stdout.write(f"  unknown types: {job.report['unknown_types']}")


def _run_in_thread(job_id: int) -> None:
    try:
        services.run_import(job_id)
    finally:
        connection.close()
