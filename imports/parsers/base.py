"""What every parser shares: the readable failure and the running report of what was skipped."""

from collections import Counter
from dataclasses import dataclass, field

from healthdata.normalized import RecordIn, SessionIn, TimedRecord

Item = RecordIn | SessionIn | TimedRecord  # TimedRecord: an Apple Health parser in timed mode


class ImportRejected(Exception):
    """The file cannot be imported; the message tells a person what is wrong and what to do."""

    def __init__(self, reason: str, code: str = "invalid_file") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class ParseReport:
    """Counts a parser keeps while streaming: unknown types, skipped values, rejected rows."""

    unknown_types: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    rejected_rows: list[dict] = field(default_factory=list)
    rejected_count: int = 0
    max_rejected_rows: int = 1000

    def reject_row(self, line: int, reason: str, raw: str = "") -> None:
        self.rejected_count += 1
        if len(self.rejected_rows) < self.max_rejected_rows:
            self.rejected_rows.append({"line": line, "reason": reason, "raw": raw[:200]})

    def as_dict(self) -> dict:
        return {
            "unknown_types": dict(self.unknown_types),
            "skipped": dict(self.skipped),
            "rejected_count": self.rejected_count,
        }
