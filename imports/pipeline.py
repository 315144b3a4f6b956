"""Reading an Apple Health export into batches ready to write, in a thread or in a parser process.

Parsing and preparing (validation, conversion, quality: `healthdata.prepare`) and encoding for COPY
(`healthdata.copy_encoding`) need no database, so they run apart from the writer, which only sends
each batch's bytes to PostgreSQL and moves the job's checkpoint in the same transaction
(imports/services.py). In a thread they share the writer's interpreter lock; in a process of their
own they use the second core, which is what makes a large import fast (docs/imports.md).

The parser process is this module run with `python -m imports.pipeline SETTINGS_JSON`. It imports
no Django and touches no database. It writes frames to its standard output: a 4-byte length and a
pickled header, then a 4-byte length and the batch's COPY bytes. The last frame says how it ended:
done (with the parse report), rejected (a reason a person can act on) or crashed. The writer reads
frames in a read-ahead thread, so that it can report progress while the parser is busy and the
parser can go on while the writer is busy; when the writer goes away the parser process is killed
with it.
"""

import ctypes
import gc
import json
import os
import pickle  # nosec B403 # frames between a worker and the parser process it started, over a private pipe
import signal
import subprocess  # nosec B404 # the parser process: this interpreter, this module, no shell
import sys
import time
import traceback
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, KeysView
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from healthdata.copy_encoding import Batch as CopyBatch
from healthdata.copy_encoding import Encoded, encode
from healthdata.normalized import SessionIn
from healthdata.prepare import Preparer
from imports.parsers.apple_health import AppleHealthParser, open_export
from imports.parsers.archives import ZipLimits, damaged_zip
from imports.parsers.base import ImportRejected

BASE_DIR = Path(__file__).resolve().parent.parent
_LENGTH = 4


@dataclass
class Batch:
    """Items read from the file, cut where the writer commits."""

    position: int  # items read from the file up to the end of this batch: the checkpoint once committed
    items: list
    fraction_done: float
    source: str


def batches(parser, skip: int, size: int, seconds: float) -> Iterator[Batch]:
    """Cut the parser's items into batches of `size`, or fewer when `seconds` have passed.

    A parser that counts the `detail` its items carry (an HRV sample's heartbeats, a sleep
    session's stages) has it counted against `size` too, so that a batch of such items stays as
    small in memory, and as quick to write, as any other.
    """
    position, items, flushed = 0, [], time.monotonic()
    weighs = hasattr(parser, "detail")
    detail_before = parser.detail if weighs else 0
    for item in parser:
        position += 1
        if position <= skip:
            continue
        items.append(item)
        detail = parser.detail - detail_before if weighs else 0
        if len(items) + detail >= size or time.monotonic() - flushed >= seconds:
            yield Batch(position, items, parser.fraction_done, getattr(parser, "source", ""))
            items, flushed = [], time.monotonic()
            detail_before = parser.detail if weighs else 0
    yield Batch(position, items, parser.fraction_done, getattr(parser, "source", ""))


@dataclass(frozen=True)
class Plan:
    """What reading one job's export needs; travels to the parser process as JSON."""

    path: str
    max_uncompressed_bytes: int
    skip: int
    user_id: int
    zone: str
    source: str
    job_id: int
    batch_items: int
    progress_seconds: float


@dataclass
class ReadyBatch:
    """A batch prepared and encoded: the writer sends `encoded` and ingests `sessions` as usual."""

    position: int
    fraction_done: float
    sessions: list[SessionIn]
    encoded: Encoded
    accepted: int
    rejected: Counter = field(default_factory=Counter)
    # Shares a source key with the batch before it, or carries sessions: the writer writes it with
    # no other batch in flight (imports.services.WriterLanes).
    alone: bool = False


@dataclass
class Finished:
    """The end of the export: what the parser skipped and how long reading took."""

    report: dict
    parse_seconds: float


def ready_batches(plan: Plan) -> Iterator[ReadyBatch | Finished]:
    """Open, parse, prepare and encode the export of `plan`; raises ImportRejected for a bad file."""
    began = time.monotonic()
    stream, size = open_export(Path(plan.path), ZipLimits(max_uncompressed_bytes=plan.max_uncompressed_bytes))
    with stream:
        parser = AppleHealthParser(stream, size, timed=True)
        preparer = Preparer(plan.source, ZoneInfo(plan.zone))
        keys_before: KeysView[str] = {}.keys()
        for batch in batches(parser, plan.skip, plan.batch_items, plan.progress_seconds):
            records, sessions = [], []
            for item in batch.items:
                (sessions if type(item) is SessionIn else records).append(item)
            prepared = preparer.prepare(records)
            copy_batch = CopyBatch(plan.user_id, plan.source, "import", plan.job_id, datetime.now(UTC))
            yield ReadyBatch(
                position=batch.position,
                fraction_done=batch.fraction_done,
                sessions=sessions,
                encoded=encode(copy_batch, prepared.rows),
                accepted=prepared.accepted,
                rejected=prepared.rejected,
                alone=bool(sessions) or not prepared.keys.isdisjoint(keys_before),
            )
            keys_before = prepared.keys
    yield Finished(report=parser.report.as_dict(), parse_seconds=time.monotonic() - began)


class ParserCrashed(RuntimeError):
    """The parser process ended without saying how, or said it crashed."""


class ParserProcess:
    """The parser process of one job: `start` it, then iterate for ReadyBatch items and Finished.

    Reads block: the writer iterates it in a read-ahead thread (imports.services.ReadAhead), which
    keeps a few batches in hand so that the parser goes on while the writer is busy.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.process: subprocess.Popen | None = None

    def start(self) -> "ParserProcess":
        self.process = subprocess.Popen(  # noqa: S603 # nosec B603 # this interpreter and module, no shell
            [sys.executable, "-m", "imports.pipeline", json.dumps(self.plan.__dict__), str(os.getpid())],
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        return self

    def __iter__(self) -> Iterator[ReadyBatch | Finished]:
        while True:
            header = self._frame()
            if header is None:
                raise self._stopped()
            kind = header.pop("kind")
            if kind == "batch":
                encoded = header.pop("encoded")
                encoded.payload = self._frame(raw=True)
                if encoded.payload is None:
                    raise self._stopped()
                yield ReadyBatch(encoded=encoded, **header)
            elif kind == "finished":
                yield Finished(**header)
                return
            elif kind == "rejected":
                raise ImportRejected(header["reason"], header["code"])
            else:
                raise ParserCrashed(f"The parser process failed: {header.get('error', 'unknown error')}.")

    def _stopped(self) -> "ParserCrashed":
        return ParserCrashed(f"The parser process stopped (exit status {self.process.wait()}).")

    def close(self) -> None:
        """Stop the process if it still runs (the writer stopped early) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()

    def _frame(self, raw: bool = False):
        length = self._read(_LENGTH)
        if length is None:
            return None
        data = self._read(int.from_bytes(length, "big"))
        if data is None:
            return None
        return data if raw else pickle.loads(data)  # noqa: S301 # nosec B301 # our own parser process

    def _read(self, size: int) -> bytearray | None:
        data = bytearray(size)
        view, done = memoryview(data), 0
        while done < size:
            try:
                count = self.process.stdout.readinto(view[done:])
            except (OSError, ValueError):  # closed by close() from the writer's thread
                return None
            if not count:
                return None
            done += count
        return data


def _send(out, header: dict, payload: bytes | None = None) -> None:
    data = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(_LENGTH, "big") + data)
    if payload is not None:
        out.write(len(payload).to_bytes(_LENGTH, "big"))
        out.write(payload)
    out.flush()


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when the worker that started it dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere a dead worker is noticed on the next write to the closed pipe
    if os.getppid() != parent:
        os._exit(1)


def _collect_garbage_rarely() -> None:
    """Reading makes millions of short-lived objects that form no cycles (attribute dicts, tuples):
    at the collector's default thresholds it walks the batches in hand again and again for nothing.
    What importing the modules left is set aside for good, and the young are collected rarely.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 1_000)


def main(arguments: list[str]) -> int:
    plan = Plan(**json.loads(arguments[0]))
    _die_with(int(arguments[1]))
    _collect_garbage_rarely()
    out = sys.stdout.buffer
    try:
        for ready in ready_batches(plan):
            if isinstance(ready, Finished):
                _send(out, {"kind": "finished", **ready.__dict__})
                continue
            encoded, payload = ready.encoded, ready.encoded.payload
            encoded.payload = b""
            header = {**ready.__dict__, "kind": "batch"}
            _send(out, header, payload)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        rejected = damaged_zip(error)
        _send(out, {"kind": "rejected", "code": rejected.code, "reason": rejected.reason})
        return 0
    except ImportRejected as rejected:
        _send(out, {"kind": "rejected", "code": rejected.code, "reason": rejected.reason})
        return 0
    except BrokenPipeError:
        return 1  # the worker went away
    except Exception as error:  # told to the worker, which hands the job back for another attempt
        traceback.print_exc()
        _send(out, {"kind": "crashed", "error": type(error).__name__})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
