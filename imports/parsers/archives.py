"""Telling file kinds apart by their first bytes, and opening zip archives without trusting them."""

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from imports.parsers.base import ImportRejected

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
KNOWN_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip file",
    b"GIF8": "a GIF image",
}


@dataclass(frozen=True)
class ZipLimits:
    """What a trustworthy export archive looks like; anything beyond is refused before reading."""

    max_uncompressed_bytes: int = 64 * 1024**3
    max_ratio: float = 200.0
    max_members: int = 100_000


def sniff(path: Path) -> str:
    """Name the container by magic bytes: "zip", "xml", "text" (CSV and the like) or raise."""
    with open(path, "rb") as file:
        head = file.read(4096)
    if not head:
        raise ImportRejected(
            "The file is empty. Export the data again and upload the new file.", "empty_file"
        )
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return "zip"
    for magic, name in KNOWN_BINARY_MAGIC.items():
        if head.startswith(magic):
            raise ImportRejected(
                f"The file is {name}, not a health export. Upload the export.zip, export.xml or a CSV file.",
                "unsupported_type",
            )
    text = head.removeprefix(UTF8_BOM).lstrip()
    if text.startswith(b"<"):
        return "xml"
    if head.startswith(UTF16_BOMS) or b"\x00" not in head:
        return "text"
    raise ImportRejected(
        "The file is binary data of an unknown kind. Upload the export.zip, export.xml or a CSV file.",
        "unsupported_type",
    )


def open_zip(path: Path, limits: ZipLimits | None = None) -> zipfile.ZipFile:
    """Open an archive after checking every member's path and the declared sizes (zip bombs)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ImportRejected(
            f"The zip archive is damaged ({error}). Download or export it again.", "bad_zip"
        ) from None
    try:
        _check_members(archive.infolist(), limits or ZipLimits())
    except ImportRejected:
        archive.close()
        raise
    return archive


def _check_members(members: list[zipfile.ZipInfo], limits: ZipLimits) -> None:
    if len(members) > limits.max_members:
        raise ImportRejected(f"The archive holds more than {limits.max_members} files.", "zip_bomb")
    total = 0
    for member in members:
        _check_member_path(member.filename)
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024**2 and ratio > limits.max_ratio:
            raise ImportRejected(
                f"The archive member {member.filename!r} expands {ratio:.0f} times; it looks like a zip bomb "
                "and was not opened.",
                "zip_bomb",
            )
    if total > limits.max_uncompressed_bytes:
        raise ImportRejected(
            f"The archive expands to {total / 1024**3:.1f} GB, over the "
            f"{limits.max_uncompressed_bytes / 1024**3:.0f} GB limit; it was not opened.",
            "zip_bomb",
        )


def _check_member_path(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ImportRejected(
            f"The archive contains an unsafe path ({name!r}); it was not opened.", "unsafe_zip_path"
        )


def damaged_zip(error: Exception) -> ImportRejected:
    """The archive's directory was sound at upload, but a member's data is damaged: retrying cannot help."""
    return ImportRejected(f"The zip archive is damaged ({error}). Download or export it again.", "bad_zip")
