"""32 small PNGs of 7000 x 7000 pixels uploaded at once: the worker's peak memory with decodes bounded.

A 156 KB PNG of one colour decodes to 147 MB of pixels, and its thumbnail briefly holds two such copies, so
32 of them arriving together on one gunicorn worker (32 threads, `make run`'s default) would cost gigabytes
without a bound. The app lets IMAGE_DECODE_CONCURRENCY decodes run at once per process; the others wait up
to IMAGE_DECODE_WAIT_SECONDS and are then refused with 503 and Retry-After.

For each setting given (`--concurrency 2 32`: the default, then effectively unbounded for 32 uploads) the app
runs under gunicorn with production settings (one gthread worker, 32 threads, SQLite, local disk), is warmed up
with one small upload, then receives `--uploads` POST /api/upload at once (bearer token). Reported: the idle
worker's RSS (the baseline), its peak during the burst (VmHWM after resetting it, else sampled every 10 ms),
how many were answered 201, 503 or anything else, and the wall time. Aim: peak under 1.5 GB, all answered.

A safety valve stops a run whose worker passes `--abort-above-mb` (default 8000), so the unbounded run
cannot take the machine's memory from everything else on it.
Usage: .venv/bin/python bench/decode_pressure.py [--concurrency 2 32] [--uploads 32] [--wait-seconds 60]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PeakSampler, flask_cli, reset_peak_rss, rss_kib
from tests.support.processes import app_environment, child_pids, gunicorn_process

EMAIL, PASSWORD = "bench@example.com", "bench password 123"
SIDE = 7000
THREADS = 32


def large_png(side: int = SIDE) -> bytes:
    """One colour and one dot, `side` x `side`: about 156 KB of PNG for 147 MB of RGB pixels."""
    from PIL import Image

    image = Image.new("RGB", (side, side), (200, 120, 40))
    image.putpixel((side // 2, side // 2), (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def post_upload(base: str, token: str, name: str, content: bytes) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host, port = base.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=600)
    try:
        connection.request(
            "POST",
            "/api/upload",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as error:
        return 0, str(error).encode()  # no answer at all (the connection was dropped)
    finally:
        connection.close()


def run(workdir: Path, concurrency: int, uploads: int, wait_seconds: float, abort_mb: int, png: bytes) -> dict:
    folder = workdir / f"concurrency-{concurrency}"
    folder.mkdir()
    env = app_environment(
        folder,
        STORAGE_BACKEND="local",
        IMAGE_DECODE_CONCURRENCY=str(concurrency),
        IMAGE_DECODE_WAIT_SECONDS=str(wait_seconds),
    )
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "users", "create", EMAIL, "--name", "Bench", "--password", PASSWORD)
    token = flask_cli(env, "tokens", "create", EMAIL, "--name", "bench").strip().split()[-1]
    log = folder / "gunicorn.log"
    with gunicorn_process("wsgi:app", env, 1, THREADS, log, health_path="/api/health") as (base, master):
        (worker,) = child_pids(master.pid)
        # Warm up: imports, the database connection, Pillow's PNG plugin.
        if post_upload(base, token, "warm-up.png", large_png(64))[0] != 201:
            raise RuntimeError(f"the warm-up upload failed; see {log}")
        idle = rss_kib(worker)
        exact = reset_peak_rss(worker)
        statuses: list[int] = []
        refusals: Counter[bytes] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(uploads)

        def one(index: int) -> None:
            start.wait()
            status, body = post_upload(base, token, f"large-{index}.png", png)
            with lock:
                statuses.append(status)
                if status != 201:
                    refusals[body[:300]] += 1

        started = time.perf_counter()
        with PeakSampler(worker, abort_kib=abort_mb * 1024, abort_group=master.pid) as sampler:
            threads = [threading.Thread(target=one, args=(index,)) for index in range(uploads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        seconds = time.perf_counter() - started
        peak = sampler.peak
        if exact and not sampler.aborted:
            peak = max(peak, rss_kib(worker, "VmHWM"))
    counts = Counter(statuses)
    return {
        "concurrency": concurrency,
        "idle_mb": idle / 1024,
        "peak_mb": peak / 1024,
        "created": counts.pop(201, 0),
        "busy": counts.pop(503, 0),
        "other": dict(counts),
        "seconds": seconds,
        "exact_peak": exact,
        "aborted": sampler.aborted,
        "refusals": refusals,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 32], help="IMAGE_DECODE_CONCURRENCY values")
    parser.add_argument("--uploads", type=int, default=32)
    parser.add_argument("--wait-seconds", type=float, default=60.0, help="IMAGE_DECODE_WAIT_SECONDS")
    parser.add_argument("--abort-above-mb", type=int, default=8000)
    args = parser.parse_args()

    png = large_png()
    print(f"{args.uploads} uploads at once of a {len(png) / 1024:.0f} KB PNG of {SIDE} x {SIDE} pixels")
    print(
        f"one gunicorn worker x {THREADS} threads, production settings, IMAGE_DECODE_WAIT_SECONDS={args.wait_seconds:g}"
    )
    with tempfile.TemporaryDirectory(prefix="decode-pressure-") as folder:
        for concurrency in args.concurrency:
            result = run(Path(folder), concurrency, args.uploads, args.wait_seconds, args.abort_above_mb, png)
            note = " (ABORTED: over the safety valve)" if result["aborted"] else ""
            note += "" if result["exact_peak"] else " (peak sampled every 10 ms)"
            print(
                f"IMAGE_DECODE_CONCURRENCY={concurrency:>2}: idle worker {result['idle_mb']:.0f} MB, "
                f"peak {result['peak_mb']:.0f} MB; answered 201: {result['created']}, 503: {result['busy']}, "
                f"other: {result['other'] or 0}; {result['seconds']:.1f} s{note}"
            )
            for body, count in result["refusals"].most_common():
                print(f"  {count} x {body.decode(errors='replace')}")


if __name__ == "__main__":
    main()
