"""Export all of a user's data: a zip of JSON and CSV that every app fills through a hook.

An app hands in its part by giving its `AppConfig` a method::

    def export_user_data(self, user: User, archive: ExportArchive) -> None:
        archive.write_csv("records.csv", header, rows)   # lands at "<app label>/records.csv"
        archive.write_json("goals.json", data)

`users` finds these hooks over `django.apps.get_app_configs()` and never imports the apps above it.
The zip is written member by member straight to disk, so rows may come from a lazy iterator.
"""

import csv
import io
import json
import logging
import re
import secrets
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import FileResponse
from django.utils import timezone

from users import audit
from users.models import DataExport, ExportStatus, User

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
BUILD_LEASE = timedelta(hours=1)  # a build older than this was lost with its worker and may restart
# The long layout the CSV import reads (shared/providers/csv.md section 3): records and sessions
# use it so that an export can be imported again. Values go in as numbers, never as text, so that
# a negative value is not mistaken for a formula.
CANONICAL_CSV_HEADER = (
    "timestamp",
    "end_timestamp",
    "metric",
    "value",
    "unit",
    "source",
    "external_id",
    "notes",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_MEMBER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class ExportError(Exception):
    """An export could not be built; the message is safe to show to the user."""


class ExportsUserData(Protocol):
    """What an AppConfig provides to take part in exports."""

    label: str

    def export_user_data(self, user: User, archive: "ExportArchive") -> None: ...


def csv_cell(value: Any) -> str | int | float:
    """One CSV cell: numbers stay numbers; text that a spreadsheet would run as a formula gets a `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, cls=DjangoJSONEncoder)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


class ExportArchive:
    """The zip under construction, seen by one app: its files go in a folder named for the app."""

    def __init__(self, zip_file: zipfile.ZipFile, folder: str, manifest: list[dict]) -> None:
        self._zip = zip_file
        self._folder = folder
        self._manifest = manifest

    def for_app(self, label: str) -> "ExportArchive":
        return ExportArchive(self._zip, label, self._manifest)

    def write_csv(self, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Stream `rows` to `<app>/<name>` as UTF-8 CSV with `header` first; returns the row count."""
        count = 0
        with self._open(name) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            writer = csv.writer(text)
            writer.writerow([csv_cell(column) for column in header])
            for row in rows:
                writer.writerow([csv_cell(value) for value in row])
                count += 1
        self._list(name, format="csv", rows=count, columns=list(header))
        return count

    def write_canonical_csv(self, name: str, rows: Iterable[Sequence[Any]]) -> int:
        """Write rows in the order of `CANONICAL_CSV_HEADER`, the layout the CSV import reads back."""
        return self.write_csv(name, CANONICAL_CSV_HEADER, rows)

    def write_json(self, name: str, obj: Any) -> None:
        """Write `obj` to `<app>/<name>` as indented JSON (dates and decimals as strings)."""
        with self._open(name) as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
            json.dump(obj, text, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        self._list(name, format="json")

    def _path(self, name: str) -> str:
        if not _MEMBER_NAME.match(name) or ".." in name:
            raise ValueError(f"Not a plain file name: {name!r}")
        path = f"{self._folder}/{name}"
        if any(entry["file"] == path for entry in self._manifest):
            raise ValueError(f"{path} was already written.")
        return path

    def _open(self, name: str) -> IO[bytes]:
        return self._zip.open(self._path(name), "w", force_zip64=True)

    def _list(self, name: str, **facts: Any) -> None:
        self._manifest.append({"app": self._folder, "file": f"{self._folder}/{name}", **facts})


def export_hooks() -> list[ExportsUserData]:
    return [
        config for config in apps.get_app_configs() if callable(getattr(config, "export_user_data", None))
    ]


def write_archive(user: User, destination: Path) -> None:
    """Write the whole export of `user` to `destination`: each app's part, then `manifest.json`."""
    manifest: list[dict] = []
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as zip_file:
        archive = ExportArchive(zip_file, "", manifest)
        for config in export_hooks():
            try:
                config.export_user_data(user, archive.for_app(config.label))
            except Exception as exc:
                raise ExportError(f"The {config.label} part of the export could not be written.") from exc
        zip_file.writestr("manifest.json", json.dumps(_manifest(user, manifest), indent=2))


def _manifest(user: User, files: list[dict]) -> dict:
    return {
        "format": "health-fitness-analytics-export",
        "version": FORMAT_VERSION,
        "created_at": timezone.now().isoformat(),
        "user_id": user.pk,
        "csv": {
            "encoding": "utf-8",
            "formula_escape": "text cells starting with = + - @ tab or CR are prefixed with '",
        },
        "files": files,
    }


def start_export(*, user: User, ip: str | None = None) -> DataExport:
    """Queue an export of everything `user` has; an export already queued or building is reused."""
    from users.tasks import build_export_task  # tasks import this module

    pending = DataExport.objects.for_user(user).pending().first()
    if pending is not None:
        if _is_stalled(pending):  # its task was lost with a worker or a broker: send it again
            build_export_task.delay_on_commit(pending.pk)
        return pending
    export = DataExport.objects.create(user=user)
    audit.record(actor=user, user=user, action="export.requested", target=f"export:{export.pk}", ip=ip)
    build_export_task.delay_on_commit(export.pk)
    return export


def _is_stalled(data_export: DataExport) -> bool:
    since = data_export.started_at or data_export.created_at
    return timezone.now() - since > BUILD_LEASE


def _claim(export_id: int) -> DataExport | None:
    now = timezone.now()
    claimable = Q(status=ExportStatus.QUEUED) | Q(
        status=ExportStatus.RUNNING, started_at__lt=now - BUILD_LEASE
    )
    if not DataExport.objects.filter(claimable, pk=export_id).update(
        status=ExportStatus.RUNNING, started_at=now
    ):
        return None
    return DataExport.objects.select_related("user").get(pk=export_id)


def user_export_folder(user_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / str(user_id)


def build(export_id: int) -> None:
    """Build one queued export; a second call for the same export does nothing."""
    export = _claim(export_id)
    if export is None:
        return
    folder = user_export_folder(export.user_id)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"export-{export.pk}-{secrets.token_hex(8)}.zip"
    partial = final.with_suffix(".part")
    try:
        write_archive(export.user, partial)
    except ExportError as exc:
        logger.exception("Export %s failed", export.pk)
        partial.unlink(missing_ok=True)
        _finish(export, status=ExportStatus.FAILED, error=str(exc))
        return
    partial.replace(final)
    expires_at = timezone.now() + timedelta(days=settings.EXPORT_RETENTION_DAYS)
    _finish(
        export,
        status=ExportStatus.READY,
        file_path=str(final.relative_to(settings.MEDIA_ROOT)),
        size_bytes=final.stat().st_size,
        expires_at=expires_at,
    )
    audit.record(user=export.user, action="export.ready", target=f"export:{export.pk}")


def _finish(export: DataExport, **fields: Any) -> None:
    fields["finished_at"] = timezone.now()
    DataExport.objects.filter(pk=export.pk).update(**fields)
    for name, value in fields.items():
        setattr(export, name, value)


def export_file(export: DataExport) -> Path:
    return Path(settings.MEDIA_ROOT) / export.file_path


def open_download(export: DataExport, *, actor: User, ip: str | None = None) -> FileResponse:
    """The export's zip as an attachment; the download is audited."""
    audit.record(
        actor=actor, user=export.user, action="export.downloaded", target=f"export:{export.pk}", ip=ip
    )
    filename = f"health-data-export-{export.created_at:%Y-%m-%d}-{export.pk}.zip"
    return FileResponse(export_file(export).open("rb"), as_attachment=True, filename=filename)


def purge_expired() -> int:
    """Delete the files of exports past their expiry (the rows stay, marked expired) and lost parts."""
    _delete_abandoned_parts()
    purged = 0
    for export in DataExport.objects.expired(timezone.now()):
        if export.file_path:
            export_file(export).unlink(missing_ok=True)
        _finish(export, status=ExportStatus.EXPIRED, file_path="", size_bytes=None)
        purged += 1
    return purged


def _delete_abandoned_parts() -> None:
    """A worker that died mid-build leaves its `.part` file behind; the retry writes a new one."""
    cutoff = (timezone.now() - BUILD_LEASE).timestamp()
    for part in (Path(settings.MEDIA_ROOT) / "exports").glob("*/*.part"):
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)


def delete_export_files(user_id: int) -> None:
    shutil.rmtree(user_export_folder(user_id), ignore_errors=True)


def export_own_data(user: User, archive: ExportArchive) -> None:
    """The users app's part: profile and preferences, sign-in addresses, API keys, the audit log."""
    archive.write_json("profile.json", _profile(user))
    archive.write_json(
        "email_addresses.json",
        list(EmailAddress.objects.filter(user=user).values("email", "verified", "primary")),
    )
    archive.write_json(
        "two_factor.json",
        list(Authenticator.objects.filter(user=user).values("type", "created_at", "last_used_at")),
    )
    archive.write_csv(
        "api_keys.csv",
        ["name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"],
        user.api_keys.values_list("name", "prefix", "scope", "created_at", "last_used_at", "revoked_at"),
    )
    archive.write_csv(
        "audit_events.csv",
        ["created_at", "action", "target", "ip", "details"],
        user.audit_events.order_by("created_at", "pk").values_list(
            "created_at", "action", "target", "ip", "details"
        ),
    )


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone": user.timezone,
        "units": user.units,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
    }
