"""Importing ChatGPT exports of 20 MB and 200 MB: the worker's peak memory growth and the time, at each size.

For each size given (`--megabytes 20 200`) a ChatGPT `conversations.json` of about that size is written (real
shape: `mapping` trees with `current_node`; 20 turns a conversation, replies of 1.5 KB), then sent as
`POST /api/conversations/import` (multipart, bearer token, streamed from disk) to the app under gunicorn with
production settings (one gthread worker; SQLite, or with `--database-url` a PostgreSQL database of its own made on
that server). Each size gets a fresh app and database, warmed up with a small import first. Reported per size:
the conversations and messages imported, the worker's RSS before, its peak growth during the import (VmHWM after
resetting it, else sampled every 10 ms), and the wall time from the first byte sent to the answer.

Flat memory means the growth does not follow the size: the file is streamed to disk by the upload, read one
conversation at a time (ijson) and written in batches (SQLAlchemy Core), so the 200 MB import should grow the
worker about as much as the 20 MB one. The baseline measured in the same run: `json.load` of the same file in a
fresh process (what reading the export whole would cost), printed beside each size.

Usage: .venv/bin/python bench/importer.py [--megabytes 20 200] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PeakSampler, bench_user_token, post_file, reset_peak_rss, rss_kib
from tests.support.databases import create_database, drop_database
from tests.support.exports import as_bytes, chatgpt_linear, write_chatgpt_export
from tests.support.processes import BIN, app_environment, child_pids, gunicorn_process

TURNS, REPLY_CHARS = 20, 1500


def post_import(base: str, token: str, path: Path) -> tuple[float, dict]:
    return post_file(base, token, "/api/conversations/import", path, "application/json", status=200, timeout=1800)


def json_load_growth_mb(path: Path) -> float:
    """The baseline: a fresh Python reading the whole file with json.load; its peak RSS growth in MB."""
    script = (
        "import json, resource, sys\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "data = json.load(open(sys.argv[1], 'rb'))\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n"
    )
    result = subprocess.run([str(BIN / "python"), "-c", script, str(path)], capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


def run(folder: Path, megabytes: float, server_url: str | None) -> dict:
    export = folder / f"conversations-{megabytes:g}mb.json"
    conversations = write_chatgpt_export(export, megabytes, TURNS, REPLY_CHARS)
    workdir = folder / f"app-{megabytes:g}mb"
    workdir.mkdir()
    extra = {"CHAT_IMPORT_MAX_MB": str(int(megabytes * 1.2) + 16)}
    database = f"workbench_import_bench_{os.getpid()}_{int(megabytes)}"
    if server_url:
        extra["DATABASE_URL"] = create_database(server_url, database, fresh=True)  # a database of its own
    try:
        return measure(export, conversations, workdir, app_environment(workdir, **extra))
    finally:
        if server_url:
            drop_database(server_url, database)


def measure(export: Path, conversations: int, workdir: Path, env: dict[str, str]) -> dict:
    token = bench_user_token(env)
    warm = workdir / "warm-up.json"
    warm.write_bytes(as_bytes([chatgpt_linear(str(uuid.uuid4()), "Warm-up", 2)]))
    log = workdir / "gunicorn.log"
    with gunicorn_process("wsgi:app", env, 1, 4, log, health_path="/api/health") as (base, master):
        (worker,) = child_pids(master.pid)
        post_import(base, token, warm)  # imports, the database connection, the first statements
        idle = rss_kib(worker)
        exact = reset_peak_rss(worker)
        with PeakSampler(worker) as sampler:
            seconds, answer = post_import(base, token, export)
        peak = sampler.peak
        if exact:
            peak = max(peak, rss_kib(worker, "VmHWM"))
    if answer["imported"] != conversations or answer["failed"]:
        raise RuntimeError(f"expected {conversations} conversations imported, the answer was {answer}")
    return {
        "megabytes": export.stat().st_size / 1024 / 1024,
        "conversations": conversations,
        "messages": conversations * TURNS * 2,
        "idle_mb": idle / 1024,
        "growth_mb": (peak - idle) / 1024,
        "seconds": seconds,
        "exact_peak": exact,
        "json_load_mb": json_load_growth_mb(export),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, nargs="+", default=[20, 200])
    parser.add_argument(
        "--database-url", help="a PostgreSQL server: each size imports into a database of its own made there"
    )
    args = parser.parse_args()
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"ChatGPT exports, {TURNS} turns a conversation, {REPLY_CHARS}-character replies; {where}, one gunicorn worker"
    )
    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        results = [run(Path(folder), megabytes, args.database_url) for megabytes in args.megabytes]
    for result in results:
        note = "" if result["exact_peak"] else " (peak sampled every 10 ms)"
        print(
            f"{result['megabytes']:6.0f} MB: {result['conversations']:,} conversations, {result['messages']:,} "
            f"messages in {result['seconds']:.1f} s ({result['megabytes'] / result['seconds']:.1f} MB/s); "
            f"worker {result['idle_mb']:.0f} MB idle, peak growth {result['growth_mb']:.1f} MB{note}; "
            f"json.load of the same file: +{result['json_load_mb']:.0f} MB"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(
            f"size x{large['megabytes'] / small['megabytes']:.1f}: memory growth "
            f"x{max(large['growth_mb'], 0.1) / max(small['growth_mb'], 0.1):.2f}, "
            f"time x{large['seconds'] / small['seconds']:.1f}"
        )


if __name__ == "__main__":
    main()
