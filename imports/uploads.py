"""Receiving an upload: streamed to a temporary file (never held in memory), hashed on the way, capped."""

import hashlib
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest
from rest_framework.exceptions import APIException

from imports.parsers.archives import open_zip, sniff
from imports.services import zip_limits


class UploadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"


class ImportUploadHandler(TemporaryFileUploadHandler):
    """Write the file to disk chunk by chunk, keep its SHA-256, and stop past IMPORT_MAX_UPLOAD_BYTES."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.digest = hashlib.sha256()
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        if content_length and content_length > settings.IMPORT_MAX_UPLOAD_BYTES + 64 * 1024:
            raise UploadTooLarge(_too_big_message())

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise UploadTooLarge(_too_big_message())
        self.digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int) -> UploadedFile:
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self.digest.hexdigest()
        return uploaded


def _too_big_message() -> str:
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    return f"The file is larger than the upload limit of {limit / 1024**3:.1f} GB ({limit:,} bytes)."


def use_import_upload_handler(request: HttpRequest) -> None:
    """Call before the body is read: replaces the in-memory handler for this request."""
    request.upload_handlers = [ImportUploadHandler(request)]


def stage(*, user, uploaded: UploadedFile) -> dict:
    """Keep an upload under MEDIA_ROOT/imports/<user id>/, after checking what kind of file it is.

    Raises ImportRejected (a 400 for the client) for an empty file, a known non-export type, or a
    zip whose member paths or sizes are unsafe.
    """
    temporary = Path(uploaded.temporary_file_path())
    kind = sniff(temporary)
    if kind == "zip":
        open_zip(temporary, zip_limits()).close()
    token = uuid.uuid4().hex
    suffix = Path(uploaded.name or "").suffix.lower()[:8]
    relative = Path("imports") / str(user.pk) / f"{token}{suffix}"
    target = settings.MEDIA_ROOT / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(temporary, target)
    return {
        "token": token,
        "file_path": str(relative),
        "size_bytes": uploaded.size,
        "sha256": uploaded.sha256,
        "original_name": (uploaded.name or "upload")[:255],
    }


def staged_path(*, user, token: str) -> Path | None:
    """The staged file of this user with this token, if it exists (another user's token finds nothing)."""
    if not token.isalnum() or len(token) != 32:
        return None
    folder = settings.MEDIA_ROOT / "imports" / str(user.pk)
    return next(folder.glob(f"{token}*"), None) if folder.exists() else None
