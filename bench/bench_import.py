"""Benchmark: a generated Apple Health export through upload → Celery worker → ingestion → database.

    .venv/bin/python bench/bench_import.py [--records 1000000] [--keep]

Prints, in one run on one machine: the bare parse rate of the same file (the shared parse_bench.py,
stdlib ElementTree from the zip), then the import's records/s, wall time and the worker's peak
memory (the VmHWM of the process that ran the task plus that of its parser process), and the ratio
of the two rates. Uses the database, cache and broker of the environment (DATABASE_URL /
REDIS_URL); run it on PostgreSQL.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
SHARED_BENCH = Path(os.environ.get("SHARED_BENCH_DIR", BASE_DIR.parent / "shared" / "bench"))
WORK_DIR = BASE_DIR / "var" / "bench"
BENCH_EMAIL = "bench-import@example.com"


def main() -> None:
    arguments = _arguments()
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    export = _generate(arguments.records, arguments.seed)
    parse = _bare_parse_rate(export)
    print(json.dumps({"step": "bare_parse", **parse}), flush=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=BASE_DIR, check=True
    )
    worker = _start_worker()
    try:
        result = _import_through_worker(export, worker)
    finally:
        _stop(worker)
    # The machines are noisy: the bare parse runs again right after, and the two are averaged.
    after = _bare_parse_rate(export)
    print(json.dumps({"step": "bare_parse_after", **after}), flush=True)
    parse["records_per_s"] = round((parse["records_per_s"] + after["records_per_s"]) / 2)
    # Rates count the export's top-level <Record> elements, as the bare parse does (the job's items
    # differ: sleep stages fold into sessions, unknown types are counted and skipped).
    result["records_in_export"] = arguments.records
    result["records_per_s"] = round(arguments.records / result["import_seconds"])
    result["end_to_end_records_per_s"] = round(arguments.records / result["wall_seconds"])
    result["bare_parse_records_per_s"] = parse["records_per_s"]
    result["ratio_to_bare_parse"] = round(result["records_per_s"] / parse["records_per_s"], 3)
    print(json.dumps({"step": "import", **result}), flush=True)
    _print_summary(result)
    if not arguments.keep:
        _clean_up()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="Keep the bench user's records afterwards.")
    return parser.parse_args()


def _generate(records: int, seed: int) -> Path:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    export = WORK_DIR / f"export-{records}-{seed}.zip"
    if not export.exists():
        subprocess.run(  # noqa: S603 - a fixed command line
            [
                sys.executable,
                str(SHARED_BENCH / "make_apple_health_export.py"),
                "--records",
                str(records),
                "--out",
                str(export),
                "--seed",
                str(seed),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return export


def _bare_parse_rate(export: Path) -> dict:
    output = subprocess.run(  # noqa: S603 - a fixed command line
        [sys.executable, str(SHARED_BENCH / "parse_bench.py"), "et_zip", str(export)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _start_worker() -> subprocess.Popen:
    command = [
        str(BASE_DIR / ".venv" / "bin" / "celery"),
        "-A",
        "config",
        "worker",
        "-Q",
        "imports",
        "--concurrency",
        "1",
        "--pool",
        "prefork",
        "--loglevel",
        "WARNING",
        "-n",
        f"bench-import-{os.getpid()}@%h",
    ]
    worker = subprocess.Popen(command, cwd=BASE_DIR, start_new_session=True)  # noqa: S603 - fixed
    time.sleep(6)  # the worker forks its child and connects to the broker
    return worker


def _import_through_worker(export: Path, worker: subprocess.Popen) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from imports.models import ImportJob

    user, _ = get_user_model().objects.get_or_create(
        email=BENCH_EMAIL, defaults={"timezone": "Europe/Berlin"}
    )
    _delete_previous_data(user)
    client = Client()
    client.force_login(user)
    began = time.monotonic()
    with open(export, "rb") as file:
        response = client.post("/api/v1/imports/", {"file": file, "kind": "apple_health"})
    if response.status_code != 201:
        raise SystemExit(f"upload failed: {response.status_code} {response.content[:500]!r}")
    uploaded = time.monotonic() - began
    job_id = response.json()["id"]
    peaks: dict[int, int] = {}
    while True:
        job = ImportJob.objects.get(pk=job_id)
        _read_peaks(worker.pid, peaks)
        if not job.is_active:
            break
        time.sleep(1)  # VmHWM keeps the peak; polling more often would take CPU from the import
    wall = time.monotonic() - began
    if job.status != "succeeded":
        raise SystemExit(f"import {job.status}: {job.error_message}")
    seconds = job.duration_seconds
    return {
        "status": job.status,
        "items": job.checkpoint,
        "created": job.created_count,
        "rejected": job.rejected,
        "upload_seconds": round(uploaded, 2),
        "import_seconds": round(seconds, 2),
        "wall_seconds": round(wall, 2),
        "parse_seconds": job.parse_seconds,
        "write_seconds": job.write_seconds,
        # The pool process that ran the task and its parser process together; the main process
        # (which only hands out tasks) is smaller than either.
        "worker_peak_mb": round(sum(kb for pid, kb in peaks.items() if pid != worker.pid) / 1024, 1),
        "peak_mb_by_process": [round(kb / 1024, 1) for pid, kb in sorted(peaks.items()) if pid != worker.pid],
    }


def _delete_previous_data(user) -> None:
    from healthdata.models import DailyRollup, Record, Session
    from imports.models import ImportJob

    for model in (Record, Session, DailyRollup, ImportJob):
        model.objects.filter(user=user).delete()
    # A previous run's rows, once deleted, stay in the indexes until vacuumed, under the very keys
    # this run writes: each insert would check them. A first import meets a clean table.
    from django.db import connection

    with connection.cursor() as cursor:
        for model in (Record, Session, DailyRollup):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def _read_peaks(main_pid: int, peaks: dict[int, int]) -> None:
    """The largest VmHWM seen so far of the worker and every process below it, by process id."""
    for pid in [main_pid, *_descendants(main_pid)]:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]))


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _stop(worker: subprocess.Popen) -> None:
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)


def _clean_up() -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(email=BENCH_EMAIL).first()
    if user is not None:
        _delete_previous_data(user)


TARGETS = {"ratio": 0.5, "records_per_s": 50_000, "peak_mb": 200.0}


def _print_summary(result: dict) -> None:
    ratio, rate, peak = result["ratio_to_bare_parse"], result["records_per_s"], result["worker_peak_mb"]
    print(
        f"\nbare parse (et_zip):  {result['bare_parse_records_per_s']:>10,} records/s\n"
        f"import (worker):      {rate:>10,} records/s (target {TARGETS['records_per_s']:,}: "
        f"{_verdict(rate >= TARGETS['records_per_s'])}), {ratio:.2f} of the bare parse "
        f"(target {TARGETS['ratio']}: {_verdict(ratio >= TARGETS['ratio'])})\n"
        f"import wall time:     {result['import_seconds']:>10} s (upload {result['upload_seconds']} s, "
        f"end to end {result['wall_seconds']} s)\n"
        f"worker peak memory:   {peak:>10} MB (VmHWM, task and parser processes together; target "
        f"{TARGETS['peak_mb']:.0f}: {_verdict(peak <= TARGETS['peak_mb'])})"
    )


def _verdict(met: bool) -> str:
    return "OK" if met else "BELOW TARGET"


if __name__ == "__main__":
    main()
