"""Faces benchmark: the app's compare against a direct DeepFace.verify, in one run, on one photo pair.

    python bench/faces.py [--runs 10] [--memory-compares 50]

(a) an in-process DeepFace.verify with the app's model (Dlib), detector (dlib) and image size (the engine's
    decode: EXIF, downscale to FACE_MAX_SIDE), photo bytes decoded in the loop as the app does;
(b) the same compare through the app over HTTP (POST /api/face/verify, both photos uploaded: stored in the
    library, thumbnailed, embedded, the result saved), gunicorn with 1 gthread worker, production settings;
(c) a re-compare of the same two library photos by id (cached embeddings, no detection).
(a) and (b) alternate run by run. Prints each median, b/a (aim <= 1.10) and c/a (aim <= 0.2), then the worker's
resident memory after warm-up and after each block of compares (aim: no growth after warm-up).
Photos: face_recognition 1.3.0's obama.jpg and obama2.jpg, fetched once into the test cache (tests/support/photos.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402  (a deepface dependency, so always installed with the app)

from bench.common import flask_cli  # noqa: E402
from tests.support.photos import cache_dir, test_photo  # noqa: E402
from tests.support.processes import BIN, app_environment, free_port, wait_until_up  # noqa: E402

FIRST, SECOND = "obama.jpg", "obama2.jpg"


def direct_verifier(home: Path, max_side: int):
    """(a): a callable running DeepFace.verify in this process on the engine's decoded pixels, warmed up."""
    os.environ["DEEPFACE_HOME"] = str(home)
    from config import app_settings
    from webapp.faces.engine import EngineSettings, FaceEngine

    settings = app_settings("testing", {"DEEPFACE_HOME": home, "FACE_MAX_SIDE": max_side})
    engine = FaceEngine(EngineSettings.from_config(settings))
    engine.warm_up(analyzer=False)
    deepface = engine._deepface()
    first, second = test_photo(FIRST).read_bytes(), test_photo(SECOND).read_bytes()

    def verify() -> float:
        started = time.perf_counter()
        result = deepface.verify(
            img1_path=engine.decode(first).pixels,
            img2_path=engine.decode(second).pixels,
            model_name="Dlib",
            detector_backend="dlib",
            distance_metric="cosine",
            align=True,
            silent=True,
        )
        elapsed = time.perf_counter() - started
        assert result["verified"] is True
        return elapsed

    verify()  # the first run pays for lazy initialisation
    return verify


def worker_rss_mib(master_pid: int) -> float:
    """Resident memory of gunicorn's one worker (the master's only child)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    assert len(children) == 1, f"expected one worker, found {children}"
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--memory-compares", type=int, default=50)
    arguments = parser.parse_args()
    home = Path(os.environ.get("DEEPFACE_HOME") or cache_dir() / "deepface-home").resolve()
    from webapp.faces.weights import install_weights

    install_weights(home)
    max_side = 640

    verify_directly = direct_verifier(home, max_side)
    direct: list[float] = []

    with tempfile.TemporaryDirectory(prefix="faces-bench-") as work:
        workdir = Path(work)
        env = app_environment(
            workdir,
            DEEPFACE_HOME=str(home),
            FACE_WARMUP="1",
            FACE_MAX_SIDE=str(max_side),
            CELERY_BROKER_URL="",
            LOG_LEVEL="WARNING",
        )
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "users", "create", "bench@example.com", "--name", "Bench", "--password", "bench password 1")
        token = flask_cli(env, "tokens", "create", "bench@example.com", "--name", "bench").strip().split()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        port = free_port()
        log = open(workdir / "gunicorn.log", "ab")  # noqa: SIM115  (gunicorn writes to it until stopped)
        server = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base + "/api/health", timeout=60)
            session = requests.Session()
            photos = {name: test_photo(name).read_bytes() for name in (FIRST, SECOND)}

            def upload_compare() -> dict:
                response = session.post(
                    base + "/api/face/verify",
                    headers=headers,
                    files={
                        "image1": (FIRST, photos[FIRST], "image/jpeg"),
                        "image2": (SECOND, photos[SECOND], "image/jpeg"),
                    },
                )
                assert response.status_code == 200, response.text
                return response.json()

            warm = upload_compare()  # the worker warmed up at start; this also fills the connection pool
            rss_warm = worker_rss_mib(server.pid)
            # (a) and (b) alternate, so both see the same machine (other work on these 2 cores comes and goes).
            over_http = []
            for _ in range(arguments.runs):
                direct.append(verify_directly())
                started = time.perf_counter()
                body = upload_compare()
                over_http.append(time.perf_counter() - started)
                assert body["verified"] is True and body["cached"] is False

            ids = {"image1": warm["files"]["image1"], "image2": warm["files"]["image2"]}
            cached = []
            for _ in range(arguments.runs):
                started = time.perf_counter()
                response = session.post(base + "/api/face/verify", headers=headers, json=ids)
                cached.append(time.perf_counter() - started)
                body = response.json()
                assert response.status_code == 200 and body["cached"] is True
                assert (body["verified"], body["distance"]) == (warm["verified"], warm["distance"])

            rss_after = [rss_warm]
            done = 0
            block = max(1, arguments.memory_compares // 5)
            while done < arguments.memory_compares:
                for _ in range(min(block, arguments.memory_compares - done)):
                    upload_compare()
                    done += 1
                rss_after.append(worker_rss_mib(server.pid))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            log.close()

    a, b, c = statistics.median(direct), statistics.median(over_http), statistics.median(cached)
    print(f"photos: {FIRST} + {SECOND}; Dlib model, dlib detector, {max_side} px; {arguments.runs} runs each")
    print(f"(a) direct DeepFace.verify in process      median {a * 1000:8.1f} ms")
    print(f"(b) compare through the app over HTTP      median {b * 1000:8.1f} ms   b/a = {b / a:.2f} (aim <= 1.10)")
    print(f"(c) re-compare from cached embeddings      median {c * 1000:8.1f} ms   c/a = {c / a:.3f} (aim <= 0.2)")
    print(
        f"worker RSS after warm-up and 1 compare: {rss_warm:.0f} MiB; after each block of compares "
        f"(total {arguments.memory_compares}): " + ", ".join(f"{value:.0f}" for value in rss_after[1:]) + " MiB; "
        f"growth {rss_after[-1] - rss_after[1]:+.0f} MiB after the first block"
    )


if __name__ == "__main__":
    main()
