"""Looking at a CSV before importing it: encoding, delimiter, header, decimal mark, date formats.

Reading is guarded: a line longer than `MAX_LINE_CHARS` or a row with more than `MAX_COLUMNS` cells
stops the file with a readable reason instead of holding a million cells in memory.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from imports.parsers.base import ImportRejected
from imports.parsers.csv.values import detect_decimal, infer_date_format

MAX_LINE_CHARS = 1_000_000
MAX_COLUMNS = 1_000
PREVIEW_ROWS = 50
SCAN_ROWS = 100_000
DELIMITERS = (",", ";", "\t", "|")
DATE_HINTS = ("date", "day", "time", "timestamp", "start", "end", "from", "to")

csv.field_size_limit(MAX_LINE_CHARS)


@dataclass
class Table:
    """What a preview shows and what the mapping step starts from."""

    encoding: str
    delimiter: str
    decimal: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    date_formats: dict[str, str] = field(default_factory=dict)
    ambiguous_dates: list[str] = field(default_factory=list)
    name: str = ""

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "header": self.header,
            "rows": self.rows,
            "date_formats": self.date_formats,
            "ambiguous_dates": self.ambiguous_dates,
        }


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if error.start < len(head) - 3:
            return "latin-1"
    return "utf-8"


def text_lines(stream: BinaryIO, encoding: str) -> Iterator[str]:
    """Decoded lines, refusing any longer than MAX_LINE_CHARS."""
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ImportRejected(
                f"Line {number} is longer than {MAX_LINE_CHARS:,} characters; this is not a table the import "
                "can read. Check that the file is a CSV export.",
                "line_too_long",
            )
        yield line


def detect_delimiter(first_line: str) -> str:
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def guarded_rows(lines: Iterator[str], delimiter: str, skipped: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(line number in the file, cells) for every row after the `skipped` header lines.

    Rows with more than MAX_COLUMNS cells stop the file.
    """
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        for row in reader:
            if len(row) > MAX_COLUMNS:
                raise ImportRejected(
                    f"Line {reader.line_num + skipped} has {len(row):,} columns; the limit is "
                    f"{MAX_COLUMNS:,}.",
                    "too_many_columns",
                )
            yield reader.line_num + skipped, row
    except csv.Error as error:
        raise ImportRejected(
            f"Line {reader.line_num + skipped} cannot be read as CSV: {error}.", "bad_csv"
        ) from None


def read_table(stream: BinaryIO, name: str = "") -> Table:
    """Sniff a CSV stream: encoding, delimiter, header, first rows, decimal mark and each date column."""
    head = stream.read(64 * 1024)
    if not head.strip():
        raise ImportRejected(
            "The file is empty. Export the data again and upload the new file.", "empty_file"
        )
    encoding = detect_encoding(head)
    lines = text_lines(rewound(head, stream), encoding)
    first = next(lines, "")
    delimiter = detect_delimiter(first)
    header = _clean_header(next(csv.reader([first], delimiter=delimiter), []))
    columns: list[list[str]] = [[] for _ in header]
    table = Table(encoding=encoding, delimiter=delimiter, decimal=".", header=header, name=name)
    for count, (_, row) in enumerate(guarded_rows(lines, delimiter)):
        if count >= SCAN_ROWS:
            break
        if count < PREVIEW_ROWS:
            table.rows.append(row)
        for position, cell in enumerate(row[: len(header)]):
            columns[position].append(cell)
    _describe_columns(table, columns)
    return table


def _describe_columns(table: Table, columns: list[list[str]]) -> None:
    table.decimal = detect_decimal(cell for column in columns for cell in column[:PREVIEW_ROWS])
    for name, values in zip(table.header, columns, strict=True):
        is_named_like_time = any(hint in name.lower() for hint in DATE_HINTS)
        date_format, ambiguous = infer_date_format(values, allow_epoch=is_named_like_time)
        if date_format:
            table.date_formats[name] = date_format
        if ambiguous:
            table.ambiguous_dates.append(name)


def _clean_header(cells: list[str]) -> list[str]:
    """Trim names, drop empty trailing ones, and number duplicates (`Weight`, `Weight_2`)."""
    names = [cell.strip().lstrip("\ufeff") for cell in cells]
    while names and not names[-1]:
        names.pop()
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


class _Rewound(io.RawIOBase):
    """A stream whose first bytes were already read for sniffing: serve them again, then the rest."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def rewound(head: bytes, rest: BinaryIO) -> BinaryIO:
    return io.BufferedReader(_Rewound(head, rest))
