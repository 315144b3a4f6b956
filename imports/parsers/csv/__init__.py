"""CSV imports: sniffing, previews, user mappings and the presets of known exports."""

from imports.parsers.csv.mapping import ColumnMap, CsvMapping, MappingError
from imports.parsers.csv.reader import CsvParser, preview

__all__ = ["ColumnMap", "CsvMapping", "CsvParser", "MappingError", "preview"]
