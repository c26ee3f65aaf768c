"""A 500 MB upload through the app to each backend, against a direct write of the same bytes, same run.

For each backend (local disk, S3 through a moto server on loopback) the app runs under gunicorn (production
settings, one gthread worker) and receives the file as `POST /api/upload` (multipart, bearer token) from a
client that streams it from disk. Reported per backend:

- the worker's peak RSS growth during the upload (VmHWM after resetting it, minus VmRSS before; aim < 32 MB),
- throughput through the app against a direct write of the same bytes to the same backend (aim >= 0.7),
  both made by the bench process, without HTTP: through the backend's own write (local: `LocalStorage.save`,
  which writes, hashes, fsyncs and renames; s3: `S3Storage.store_file`, which hashes then uploads in parts
  with `upload_file`), and, stricter, as a raw write without hashing (local: write + fsync into UPLOAD_DIR;
  s3: boto3 `upload_file` with the app's part size and concurrency).

The stored object's size and SHA-256 are checked against the source, so a fast wrong upload cannot pass.
Each backend gets 3 rounds (direct writes, then the upload through the app) and the medians are printed:
the two cores are shared, and a local fsync is sometimes absorbed by the host's cache (1 GB/s) and sometimes
not (200 MB/s), so single runs swing widely.
Usage: .venv/bin/python bench/upload.py [--megabytes 500] [--backend local|s3|both] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CHUNK, PeakSampler, bench_user_token, post_file, reset_peak_rss, rss_kib
from tests.support.processes import app_environment, child_pids, gunicorn_process, start_moto
from webapp.units import MEGABYTE

PART_MB = 8  # the app's default S3_MULTIPART_THRESHOLD_MB, also its part size


def make_pdf(path: Path, megabytes: int) -> str:
    """A `megabytes` MB file that passes the PDF check (header, %%EOF at the end); returns its SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(MEGABYTE)
    with open(path, "wb") as output:
        for index in range(megabytes):
            # Vary each megabyte so nothing downstream can compress or de-duplicate the repetition.
            chunk = index.to_bytes(8, "big") + block[8:]
            if index == 0:
                chunk = b"%PDF-1.7\n" + chunk[9:]
            if index == megabytes - 1:
                chunk = chunk[:-7] + b"\n%%EOF\n"
            digest.update(chunk)
            output.write(chunk)
    return digest.hexdigest()


def upload_through_app(base: str, token: str, path: Path) -> tuple[float, dict]:
    return post_file(base, token, "/api/upload", path, "application/pdf", status=201, timeout=600)


def small_upload(base: str, token: str, folder: Path) -> None:
    """Warm the worker up (imports, database connection) before measuring."""
    warm = folder / "warm-up.pdf"
    make_pdf(warm, 1)
    upload_through_app(base, token, warm)


def measure(
    env: dict[str, str],
    workdir: Path,
    source: Path,
    expected_sha256: str,
    direct_writes: Callable[[], dict[str, float]],
    rounds: int,
) -> list[dict]:
    """Alternate the direct writes and an upload through the app, `rounds` times, on one gunicorn worker."""
    token = bench_user_token(env)
    results = []
    with gunicorn_process("wsgi:app", env, 1, 4, workdir / "gunicorn.log", health_path="/api/health") as (base, master):
        small_upload(base, token, workdir)
        (worker,) = child_pids(master.pid)
        for _ in range(rounds):
            direct = direct_writes()
            before = rss_kib(worker)
            exact = reset_peak_rss(worker)
            with PeakSampler(worker) as sampler:
                seconds, stored = upload_through_app(base, token, source)
            peak = rss_kib(worker, "VmHWM") if exact else sampler.peak
            if stored["sha256"] != expected_sha256 or stored["size"] != source.stat().st_size:
                raise RuntimeError(f"the app stored different bytes: {stored}")
            results.append(
                {
                    **direct,
                    "seconds": seconds,
                    "rss_growth_mb": (peak - before) / 1024,
                    "sampled_growth_mb": (sampler.peak - before) / 1024,
                    "exact_peak": exact,
                }
            )
    return results


def direct_local_writes(source: Path, upload_dir: Path) -> dict[str, float]:
    """The same bytes into the same folder, without the app: through the local backend's own `save`
    (write, SHA-256, fsync, rename: what "save a stream under a key, return size and sha256" costs), and
    as a raw write (write, fsync: no hash), the stricter figure."""
    from webapp.files.storage import new_key
    from webapp.files.storage.local import LocalStorage

    storage = LocalStorage(upload_dir)
    key = new_key(".pdf")
    started = time.perf_counter()
    with open(source, "rb") as reader:
        storage.save(key, reader, "application/pdf")
    backend = time.perf_counter() - started
    storage.delete(key)

    target = upload_dir / f"direct-{uuid.uuid4().hex}.bin"
    started = time.perf_counter()
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    raw = time.perf_counter() - started
    target.unlink()
    return {"backend_seconds": backend, "raw_seconds": raw}


def run_local(workdir: Path, source: Path, sha256: str, megabytes: int, rounds: int) -> list[dict]:
    folder = workdir / "local"
    folder.mkdir()
    env = app_environment(folder, STORAGE_BACKEND="local", MAX_UPLOAD_MB=str(megabytes + 10))
    return measure(env, folder, source, sha256, lambda: direct_local_writes(source, folder / "uploads"), rounds)


def run_s3(workdir: Path, source: Path, sha256: str, megabytes: int, rounds: int) -> list[dict]:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    folder = workdir / "s3"
    folder.mkdir()
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update(credentials)
    moto, endpoint = start_moto(folder)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        client = boto3.session.Session(region_name="us-east-1").client(
            "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
        )
        client.create_bucket(Bucket=bucket)
        transfer = TransferConfig(
            multipart_threshold=PART_MB * MEGABYTE,
            multipart_chunksize=PART_MB * MEGABYTE,
            max_concurrency=4,
            preferred_transfer_client="classic",
        )

        from config import app_settings
        from webapp.files.storage import StorageSettings, build_storage, new_key

        settings = app_settings(
            "testing",
            {
                "STORAGE_BACKEND": "s3",
                "S3_BUCKET_NAME": bucket,
                "S3_REGION": "us-east-1",
                "S3_ENDPOINT_URL": endpoint,
                "S3_MULTIPART_THRESHOLD_MB": PART_MB,
            },
        )
        backend_storage = build_storage(StorageSettings.from_config(settings))

        def direct_writes() -> dict[str, float]:
            # The S3 backend's own store_file (SHA-256, then upload_file in parts), as the app does after
            # receiving; and boto3's upload_file alone (no hash), the stricter figure.
            key = new_key(".pdf")
            started = time.perf_counter()
            backend_storage.store_file(key, source, "application/pdf")
            backend = time.perf_counter() - started
            backend_storage.delete(key)
            started = time.perf_counter()
            client.upload_file(str(source), bucket, "direct.bin", Config=transfer)
            raw = time.perf_counter() - started
            client.delete_object(Bucket=bucket, Key="direct.bin")
            return {"backend_seconds": backend, "raw_seconds": raw}

        env = app_environment(
            folder,
            STORAGE_BACKEND="s3",
            S3_BUCKET_NAME=bucket,
            S3_ENDPOINT_URL=endpoint,
            AWS_REGION="us-east-1",
            MAX_UPLOAD_MB=str(megabytes + 10),
            **credentials,
        )
        results = measure(env, folder, source, sha256, direct_writes, rounds)
        sizes = [item["Size"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if sizes.count(source.stat().st_size) != rounds:
            raise RuntimeError(f"expected {rounds} objects of the upload's size in the bucket, found: {sizes}")
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    return results


def report(name: str, results: list[dict], megabytes: int) -> None:
    def rate(seconds: float) -> str:
        return f"{megabytes / seconds:6.1f} MB/s"

    for index, result in enumerate(results, start=1):
        print(
            f"[{name}] round {index}: through the app {rate(result['seconds'])}; direct via the backend "
            f"{rate(result['backend_seconds'])}, raw {rate(result['raw_seconds'])}; "
            f"peak RSS growth {result['rss_growth_mb']:.1f} MB"
        )
    backend = statistics.median(result["backend_seconds"] / result["seconds"] for result in results)
    raw = statistics.median(result["raw_seconds"] / result["seconds"] for result in results)
    growth = max(result["rss_growth_mb"] for result in results)
    sampled = max(result["sampled_growth_mb"] for result in results)
    how = "VmHWM" if all(result["exact_peak"] for result in results) else "sampled every 10 ms"
    print(
        f"[{name}] throughput ratio, app / direct write through the backend (median of {len(results)}): "
        f"{backend:.2f}   (aim: at least 0.70)"
    )
    print(f"[{name}] throughput ratio, app / raw write without hashing (median of {len(results)}):     {raw:.2f}")
    print(
        f"[{name}] worker peak RSS growth (largest): {growth:.1f} MB ({how}; sampled: {sampled:.1f} MB)"
        f"   (aim: under 32 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--backend", choices=["local", "s3", "both"], default="both")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="direct/app pairs per backend (the median is reported: the two cores are shared, single runs are noisy)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-bench-upload-") as folder:
        workdir = Path(folder)
        source = workdir / "large-scan.pdf"
        sha256 = make_pdf(source, args.megabytes)
        print(
            f"{args.megabytes} MB upload, gunicorn 1 worker x 4 threads (gthread), production settings, "
            f"{args.rounds} rounds per backend"
        )
        if args.backend in ("local", "both"):
            report("local", run_local(workdir, source, sha256, args.megabytes, args.rounds), args.megabytes)
        if args.backend in ("s3", "both"):
            report("s3", run_s3(workdir, source, sha256, args.megabytes, args.rounds), args.megabytes)


if __name__ == "__main__":
    main()
