"""Streaming a CSV file (or every CSV of a zip, as MyFitnessPal and Google Takeout ship them) into items.

Each table is sniffed first (encoding, delimiter, decimal mark, date formats), then read row by row
through its preset's converter or the user's mapping. A row that cannot be read is rejected with its
line number and reason; the rest of the file goes on.
"""

import io
from collections.abc import Callable, Iterator
from datetime import tzinfo
from pathlib import Path
from typing import BinaryIO

from imports.parsers.archives import ZipLimits, open_zip, sniff
from imports.parsers.base import ImportRejected, Item, ParseReport
from imports.parsers.csv.mapping import Context, CsvMapping, MappingConverter, MappingError
from imports.parsers.csv.presets import Preset, by_name, detect
from imports.parsers.csv.sniff import Table, guarded_rows, read_table, text_lines
from imports.parsers.csv.values import CellError

Opener = Callable[[], BinaryIO]


class _Counting(io.RawIOBase):
    """A binary stream that counts the bytes read through it, for progress."""

    def __init__(self, stream: BinaryIO, counter: list[int]) -> None:
        self.stream = stream
        self.counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        self.counter[0] += len(data)
        return len(data)


def csv_tables(path: Path, limits: ZipLimits | None = None) -> tuple[list[tuple[str, Opener, int]], int]:
    """(name, opener, size) of each CSV in the file or zip, and the count of other members skipped."""
    if sniff(path) == "zip":
        archive = open_zip(path, limits)
        members = [m for m in archive.infolist() if not m.is_dir()]
        tables = [
            (m.filename, (lambda m=m: archive.open(m)), m.file_size)
            for m in members
            if m.filename.lower().endswith((".csv", ".txt"))
        ]
        if not tables:
            raise ImportRejected("The archive holds no CSV file.", "wrong_kind")
        return tables, len(members) - len(tables)
    return [(path.name, lambda: open(path, "rb"), path.stat().st_size)], 0


def preview(path: Path, limits: ZipLimits | None = None) -> list[dict]:
    """Each table's sniffed shape, first rows and detected preset, for the mapping step."""
    found = []
    for name, opener, _ in csv_tables(path, limits)[0]:
        with opener() as stream:
            table = read_table(stream, name)
        preset = detect(table.header, name)
        found.append({**table.as_dict(), "preset": preset.name if preset else ""})
    return found


class CsvParser:
    """Iterate the items of a CSV upload; `report`, `source` and `fraction_done` follow along."""

    _rows_read = 0

    def __init__(
        self,
        path: Path,
        *,
        zone: tzinfo,
        mapping: CsvMapping | None = None,
        preset: str = "",
        weight_unit: str = "kg",
        limits: ZipLimits | None = None,
    ) -> None:
        self.path = path
        self.zone = zone
        self.mapping = mapping
        self.preset_name = preset
        self.weight_unit = weight_unit
        self.limits = limits
        self.report = ParseReport()
        self.source = ""
        self.presets: list[str] = []
        self.counter = [0]
        self.total_bytes = 1

    @property
    def fraction_done(self) -> float:
        return min(self.counter[0] / self.total_bytes, 1.0)

    def __iter__(self) -> Iterator[Item]:
        tables, skipped = csv_tables(self.path, self.limits)
        if skipped:
            self.report.skipped["files in the archive that are not CSV"] += skipped
        self.total_bytes = max(sum(size for _, _, size in tables), 1)
        produced = rows = 0
        for name, opener, _ in tables:
            for item in self._table(name, opener):
                produced += 1
                yield item
            rows += self._rows_read
        if produced == 0:
            raise ImportRejected(self._nothing_readable(rows), "no_valid_rows")

    def _table(self, name: str, opener: Opener) -> Iterator[Item]:
        self._rows_read = 0
        with opener() as stream:
            table = read_table(stream, name)
        converter, source = self._converter(table, name)
        if converter is None:
            return
        if self.source and source != self.source:
            self.report.skipped[f"{name}: a {source} file in a {self.source} import"] += 1
            return
        self.source = source
        with opener() as stream:
            lines = text_lines(io.BufferedReader(_Counting(stream, self.counter)), table.encoding)
            next(lines, None)
            for line, cells in guarded_rows(lines, table.delimiter):
                if not any(cell.strip() for cell in cells):
                    continue
                self._rows_read += 1
                row = dict(zip(table.header, cells, strict=False))
                try:
                    yield from converter.convert(row, line)
                except (CellError, ValueError) as error:
                    self.report.reject_row(line, str(error), table.delimiter.join(cells))
        yield from converter.finish()

    def _converter(self, table: Table, name: str) -> tuple[object | None, str]:
        context = Context(
            zone=self.zone,
            decimal=table.decimal,
            date_formats=table.date_formats,
            weight_unit=self.weight_unit,
        )
        if self.mapping is not None:
            problems = self.mapping.problems(table.header)
            if problems:
                raise ImportRejected(
                    f"The mapping does not fit {name}: {'; '.join(problems)}.", "bad_mapping"
                )
            try:
                context.zone = self.mapping.zone(self.zone)
            except MappingError as error:
                raise ImportRejected(str(error), "bad_mapping") from None
            return MappingConverter(self.mapping, context), "csv"
        preset = self._preset(table, name)
        if preset is None:
            self.report.skipped[f"{name}: no known layout, map its columns"] += 1
            return None, ""
        self.presets.append(preset.name)
        return preset.converter(context, table.header, name), preset.source

    def _preset(self, table: Table, name: str) -> Preset | None:
        if self.preset_name:
            chosen = by_name(self.preset_name)
            if chosen is None:
                raise ImportRejected(f"{self.preset_name!r} is not a known CSV layout.", "bad_mapping")
            return chosen
        return detect(table.header, name)

    def _nothing_readable(self, rows: int) -> str:
        if rows == 0 and self.report.skipped:
            return (
                "No table in the file has a layout the import knows. Preview it and map its columns "
                f"({'; '.join(self.report.skipped)})."
            )
        if rows == 0:
            return "The file has a header but no data rows."
        first = self.report.rejected_rows[0] if self.report.rejected_rows else {"line": "?", "reason": "?"}
        return (
            f"None of the {rows} rows could be imported; line {first['line']}: {first['reason']}. "
            "Download the report of rejected rows, fix the mapping or the file, and try again."
        )
