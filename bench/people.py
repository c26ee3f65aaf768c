"""People benchmark: search by face at scale, a whole search against DeepFace.represent, and accuracy, in one run.

    python bench/people.py [--sizes 10000,100000] [--queries 300] [--whole-runs 10] [--database-url URL]

(a) Scale. For each N, one owner's library is seeded with N faces: the real embeddings of the test photos (below)
    and synthetic ones around them (each a real one plus a random direction of 10-80 % of its length, so a share
    of them fall within the threshold, as a person's other photos would). Prints the time to read the owner's
    matrix from the database once, the matching step's p50/p95 over `--queries` searches (the owner's version
    read from the database, then the exact search of every face: what each search pays once the matrix is
    cached; aim p95 < 50 ms at 100k), and the process's memory growth for the matrix (RSS after minus before,
    and the peak while reading it; aim < 80 MB at 100k).
(b) A whole search (POST /api/face/search with the photo uploaded: stored, thumbnailed, detected, embedded,
    matched, kept in the history and indexed) against a direct `DeepFace.represent` of the same photo bytes,
    decoded the way the app decodes them, alternating run by run, in this process; on the smallest N's library.
    Prints both medians and the ratio (aim <= 1.2).
(c) Accuracy. One photo per person of the test photos is enrolled in an empty library (face_recognition's
    obama.jpg and biden.jpg; scikit-image's astronaut and camera; Pillow's hopper; insightface's Tom Hanks and the
    six faces of its t1.jpg), then every other photo of an enrolled person is searched for (obama2, obama3, the
    two partial faces, 32bit.png and the Obama/Biden group photo's two faces). Prints rank-1 identification
    accuracy, and the false-match rate at the threshold: of every (query, enrolled face of someone else) pair,
    the share at or under it.

Photos come from PyPI packages into the test cache (tests/support/photos.py); SQLite in a temporary folder unless
`--database-url` names a PostgreSQL database (emptied first).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import PeakSampler, rss_kib  # noqa: E402
from tests.support.apps import build_app  # noqa: E402
from tests.support.faces import group_photo  # noqa: E402
from tests.support.factories import make_token, make_user  # noqa: E402
from tests.support.photos import extra_photo, test_photo  # noqa: E402

ENROLLED = {
    "Obama": ("obama.jpg", test_photo),
    "Biden": ("biden.jpg", test_photo),
    "Eileen Collins": ("astronaut.png", extra_photo),
    "The cameraman": ("camera.png", extra_photo),
    "Grace Hopper": ("hopper.png", extra_photo),
    "Tom Hanks": ("Tom_Hanks_54745.png", extra_photo),
}
QUERIES = {
    "obama2.jpg": "Obama",
    "obama3.jpg": "Obama",
    "obama_partial_face.jpg": "Obama",
    "obama_partial_face2.jpg": "Obama",
    "32bit.png": "Obama",
}
PER_FILE = 4  # faces per seeded photo


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def embed(engine, data: bytes):
    return engine.detect_and_embed(engine.decode(data))


def real_embeddings(engine) -> np.ndarray:
    photos = [test_photo(name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]
    photos += [extra_photo(name).read_bytes() for name in ("astronaut.png", "camera.png", "hopper.png", "t1.jpg")]
    vectors = [face.embedding for data in photos for face in embed(engine, data)]
    return np.asarray(vectors, dtype=np.float32)


def synthetic(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    anchors = real[np.arange(count) % len(real)]
    directions = rng.standard_normal(anchors.shape).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    lengths = rng.uniform(0.1, 0.8, size=(count, 1)).astype(np.float32) * np.linalg.norm(anchors, axis=1, keepdims=True)
    vectors = anchors + directions * lengths
    vectors[: len(real)] = real[: min(len(real), count)]
    return vectors


def seed(app, owner_id: int, vectors: np.ndarray) -> None:
    """N faces for one owner, PER_FILE to a photo row, written with bulk INSERTs (no store objects: search reads
    only the database)."""
    from sqlalchemy import insert

    from webapp.extensions import db
    from webapp.files.models import StoredFile
    from webapp.people import service
    from webapp.people.models import Face, IndexedPhoto
    from webapp.timeutil import utcnow

    now = utcnow()
    with app.app_context():
        files = (len(vectors) + PER_FILE - 1) // PER_FILE
        first = (db.session.query(db.func.max(StoredFile.id)).scalar() or 0) + 1
        for start in range(0, files, 5000):
            ids = range(first + start, first + min(files, start + 5000))
            db.session.execute(
                insert(StoredFile),
                [
                    {
                        "id": file_id,
                        "user_id": owner_id,
                        "original_name": f"seed-{file_id}.jpg",
                        "storage_backend": "local",
                        "storage_key": f"seed/{file_id}.jpg",
                        "content_type": "image/jpeg",
                        "kind": "image",
                        "size": 1,
                        "sha256": "0" * 64,
                        "width": 640,
                        "height": 480,
                        "created_at": now,
                    }
                    for file_id in ids
                ],
            )
            db.session.execute(
                insert(IndexedPhoto),
                [
                    {
                        "file_id": file_id,
                        "user_id": owner_id,
                        "status": "indexed",
                        "faces": PER_FILE,
                        "width": 640,
                        "height": 480,
                        "indexed_at": now,
                    }
                    for file_id in ids
                ],
            )
        for start in range(0, len(vectors), 10_000):
            db.session.execute(
                insert(Face),
                [
                    {
                        "user_id": owner_id,
                        "file_id": first + number // PER_FILE,
                        "face_index": number % PER_FILE,
                        "x": 10,
                        "y": 10,
                        "w": 100,
                        "h": 100,
                        "confidence": 1.0,
                        "embedding": vectors[number].astype("<f4").tobytes(),
                        "created_at": now,
                    }
                    for number in range(start, min(len(vectors), start + 10_000))
                ],
            )
        service.bump(owner_id)
        db.session.commit()


def scale(app, owner_id: int, size: int, real: np.ndarray, queries: int, rng: np.random.Generator) -> dict:
    from webapp.extensions import db
    from webapp.people import service

    seed(app, owner_id, synthetic(real, size, rng))
    asked = synthetic(real, queries, rng)
    with app.app_context():
        threshold = service.threshold()
        service.library_version(owner_id)  # the connection and statement warm
        gc.collect()
        before = rss_kib(os.getpid())
        with PeakSampler(os.getpid()) as sampler:
            started = time.perf_counter()
            library = service.owner_faces(owner_id)
            load_ms = (time.perf_counter() - started) * 1000
        gc.collect()
        after = rss_kib(os.getpid())
        assert len(library) == size, (len(library), size)
        steps, products = [], []
        for query in asked:
            started = time.perf_counter()
            service.owner_faces(owner_id).nearest(query, threshold, 20)
            steps.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            library.nearest(query, threshold, 20)
            products.append((time.perf_counter() - started) * 1000)
        db.session.remove()
    return {
        "size": size,
        "load_ms": load_ms,
        "p50": percentile(steps, 0.5),
        "p95": percentile(steps, 0.95),
        "search_p50": percentile(products, 0.5),
        "growth_mb": (after - before) / 1024,
        "peak_mb": (sampler.peak - before) / 1024,
        "matrix_mb": library.nbytes / 2**20,
    }


def whole_search(app, token: str, engine, runs: int) -> tuple[float, float]:
    photo = test_photo("obama2.jpg").read_bytes()
    client = app.test_client()
    deepface = engine._deepface()

    def search() -> float:
        started = time.perf_counter()
        answer = client.post(
            "/api/face/search",
            data={"image": (io.BytesIO(photo), "obama2.jpg")},
            headers={"Authorization": f"Bearer {token}"},
            content_type="multipart/form-data",
        )
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200, answer.get_json()
        return elapsed

    def represent() -> float:
        started = time.perf_counter()
        deepface.represent(img_path=engine.decode(photo).pixels, model_name="Dlib", detector_backend="dlib", align=True)
        return time.perf_counter() - started

    search(), represent()  # warm: the first of each loads models and the library's matrix
    searches, represents = [], []
    for _ in range(runs):
        searches.append(search())
        represents.append(represent())
    return statistics.median(searches) * 1000, statistics.median(represents) * 1000


def accuracy(app, engine) -> dict:
    from tests.support.factories import make_file
    from webapp.auth import service as users
    from webapp.extensions import db
    from webapp.files.models import StoredFile
    from webapp.people import service

    owner = make_user(app, email="accuracy@example.com", name="Accuracy")
    person_of_file: dict[int, str] = {}
    for person, (name, source) in ENROLLED.items():
        person_of_file[make_file(app, owner, name=name, content=source(name).read_bytes()).id] = person
    friends = make_file(app, owner, name="t1.jpg", content=extra_photo("t1.jpg").read_bytes()).id
    with app.app_context():
        for file_id in [*person_of_file, friends]:
            service.index_photo(file_id)
        limit = service.threshold()
    queries = [(test_photo(name).read_bytes(), name, 0, person) for name, person in QUERIES.items()]
    queries += [(group_photo(), "group.jpg", 0, "Obama"), (group_photo(), "group.jpg", 1, "Biden")]
    right = impostors = false_matches = 0
    misses = []
    for data, name, face, person in queries:
        with app.app_context():
            user = users.get_user(owner.id)
            from werkzeug.datastructures import FileStorage

            from webapp.files import service as files

            photo = files.store_upload(user, FileStorage(io.BytesIO(data), name), announce=False)
            row = service.search(user, photo, face=face, limit=100, include_all=True)
            matches = list(row.matches)
            # The search indexes its own photo afterwards: take it out again, so the library stays the enrolled one.
            db.session.delete(db.session.get(StoredFile, photo.id))
            service.bump(owner.id)
            db.session.commit()
        best = matches[0] if matches else None
        if best is not None and person_of_file.get(best["file_id"]) == person:
            right += 1
        else:
            misses.append(f"{name} face {face + 1}")
        for match in matches:
            if person_of_file.get(match["file_id"]) != person:
                impostors += 1
                false_matches += match["distance"] <= limit
    return {
        "queries": len(queries),
        "rank1": right / len(queries),
        "misses": misses,
        "impostor_pairs": impostors,
        "false_matches": false_matches,
        "threshold": limit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--whole-runs", type=int, default=10)
    parser.add_argument("--database-url", default="")
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    rng = np.random.default_rng(11)

    with tempfile.TemporaryDirectory(prefix="bench-people-") as folder:
        tmp = Path(folder)
        url = options.database_url or f"sqlite:///{tmp / 'people.db'}"
        app = build_app(tmp, url, {"FACE_INDEX_ON_UPLOAD": False})
        from webapp.extensions import db

        with app.app_context():
            db.drop_all()
            db.create_all()
        engine = app.extensions["faces"].engine
        engine.warm_up(analyzer=False)
        print(f"people bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, {url.split(':')[0]}")

        result = accuracy(app, engine)
        print(
            f"(c) accuracy: rank-1 {result['rank1']:.0%} of {result['queries']} searches"
            f" (missed: {', '.join(result['misses']) or 'none'}); false matches at the threshold"
            f" {result['threshold']:.2f}: {result['false_matches']} of {result['impostor_pairs']} impostor pairs"
        )

        real = real_embeddings(engine)
        for number, size in enumerate(sizes):
            owner = make_user(app, email=f"owner{size}@example.com", name=f"Owner {size}")
            figures = scale(app, owner.id, size, real, options.queries, rng)
            print(
                f"(a) N={size:,}: matrix read in {figures['load_ms']:.0f} ms ({figures['matrix_mb']:.1f} MB);"
                f" matching step p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms (the exact search alone"
                f" p50 {figures['search_p50']:.1f} ms); memory growth {figures['growth_mb']:.1f} MB"
                f" (peak while reading {figures['peak_mb']:.1f} MB)"
            )
            if number == 0:
                token = make_token(app, owner, "bench")
                whole, direct = whole_search(app, token, engine, options.whole_runs)
                print(
                    f"(b) N={size:,}: whole search {whole:.0f} ms, DeepFace.represent {direct:.0f} ms"
                    f" (medians of {options.whole_runs}): ratio {whole / direct:.2f}"
                )


if __name__ == "__main__":
    main()
