"""The face engine: decode photos, find faces, embed them, compare embeddings, analyse attributes.

One :class:`FaceEngine` per process (kept on ``app.extensions`` by the app and
built by the Celery worker) serves every thread. Plain values in and out: bytes
and numpy arrays in; dataclasses out (``webapp.faces.schemas`` writes them as JSON). No Flask here.

Settings come from config.py as an :class:`EngineSettings`; its defaults come from
``bench/FACES_NOTES.md``: DeepFace's ``Dlib`` model with the ``dlib`` detector on
photos downscaled to 640 px on their longest side was right on every
same/different pair of the test photos, where ``opencv`` was not.

DeepFace specifics this module relies on (deepface 0.0.103):

* DeepFace takes its settings only from the environment: ``DEEPFACE_HOME`` is
  read each time a model is built (``deepface.commons.folder_utils.get_deepface_home``),
  ``DEEPFACE_BACKEND_ENGINE`` and ``DEEPFACE_LOG_LEVEL`` at import, and importing
  ``deepface.DeepFace`` creates ``$DEEPFACE_HOME/.deepface/weights``; built
  models are cached process-wide in ``deepface.modules.modeling``. So the
  engine writes its settings there once per process, before the import, and a
  second engine asking for another home or backend in the same process is refused.
* A ``str`` argument is a path or a URL to DeepFace (it would read files or
  fetch URLs), so only decoded numpy arrays are ever passed to it.
* Weight files missing from the home would be downloaded; the engine checks
  first and raises :class:`EngineUnavailable` naming the file instead.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from webapp.faces.analyzers import (
    ANALYZER_NAMES,
    Analyzer,
    Box,
    DeepFaceAnalyzer,
    DetectedFace,
    FaceAttributes,
    OfflineAnalyzer,
)
from webapp.faces.errors import EngineUnavailable, ImageDecodeError
from webapp.faces.weights import missing_message, missing_weights, required_files

DEFAULT_METRIC = "cosine"
# FACE_ANALYZER's choices: an analyser, or "auto" (DeepFace's when its weights are present, else the offline one).
ANALYZER_CHOICES = (*ANALYZER_NAMES, "auto")

# Formats decode() accepts. Limiting them keeps Pillow's riskier parsers (EPS
# shells out to Ghostscript, among others) away from user uploads. The JPEG
# opener also reads the multi-picture JPEGs many cameras write (format "MPO").
IMAGE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

T = TypeVar("T")


def accepted_formats() -> tuple[str, ...]:
    """IMAGE_FORMATS, plus HEIF (iPhone photos) once pillow-heif has registered its opener with Pillow."""
    Image.init()
    return IMAGE_FORMATS + (("HEIF",) if "HEIF" in Image.OPEN else ())


# dlib objects are not safe to use from several threads at once (dlib's author:
# "Unless otherwise documented, it's not safe to touch dlib objects from
# multiple threads at the same time", davisking/dlib#998), and DeepFace keeps
# ONE cached detector and model per process, shared by every FaceEngine. So a
# single process-wide lock serialises every DeepFace call. On 2 cores little
# parallelism is lost: dlib's HOG detector and ResNet run on one core each call.
_DEEPFACE_LOCK = threading.RLock()
# Guards the one-time process set-up (environment variables, the import).
_PROCESS_LOCK = threading.Lock()
_process_setup: tuple[Path, str] | None = None
_deepface_module: Any = None


def _bind_process(deepface_home: Path, backend: str) -> Any:
    """Point DeepFace at ``deepface_home`` and ``backend`` for this process and import it once.

    Returns the ``deepface.DeepFace`` module. Raises :class:`EngineUnavailable`
    if this process already bound DeepFace to another home or backend.
    """
    global _process_setup, _deepface_module
    setup = (Path(deepface_home).resolve(), backend)
    with _PROCESS_LOCK:
        if _process_setup is not None and _process_setup != setup:
            home, engine = _process_setup
            raise EngineUnavailable(
                f"DeepFace is already set up with DEEPFACE_HOME={home} and the {engine} backend in this "
                f"process; it cannot switch to {setup[0]} and {backend} (its models are cached per process)"
            )
        if _deepface_module is None:
            # Written, never read: DeepFace takes these from the environment only (see the module's docstring).
            os.environ["DEEPFACE_HOME"] = str(setup[0])  # noqa: TID251
            # Pinned: with TensorFlow or torch installed by some other package, DeepFace would switch to them
            # and want other weight files than the ones the analyser checks for.
            os.environ["DEEPFACE_BACKEND_ENGINE"] = backend  # noqa: TID251
            # DeepFace prints INFO lines to stdout; keep warnings and errors unless the operator asked otherwise.
            os.environ.setdefault("DEEPFACE_LOG_LEVEL", "30")  # noqa: TID251
            from deepface import DeepFace

            _deepface_module = DeepFace
            _process_setup = setup
        return _deepface_module


@dataclass(frozen=True)
class EngineSettings:
    """The face engine's settings, parsed and defaulted by config.py (FACE_*, DEEPFACE_HOME, MAX_IMAGE_PIXELS).

    Hashable, so a process keeps one engine per distinct settings."""

    model: str
    detector: str
    max_side: int  # 0: photos keep their full size
    threshold: float | None  # None: DeepFace's pre-tuned threshold for the model
    deepface_home: Path
    analyzer: str  # "offline" or "deepface"
    max_pixels: int
    backend: str  # DeepFace's backend engine (DEEPFACE_BACKEND_ENGINE)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EngineSettings:
        """Raises ValueError for an analyser this engine does not know; "auto" is decided here, once."""
        analyzer = config["FACE_ANALYZER"]
        if analyzer not in ANALYZER_CHOICES:
            raise ValueError(f"FACE_ANALYZER must be one of {', '.join(ANALYZER_CHOICES)}, not {analyzer!r}")
        home = Path(config["DEEPFACE_HOME"]).resolve()
        backend = config["DEEPFACE_BACKEND_ENGINE"]
        if analyzer == "auto":
            # DeepFace's own analyser when an operator has put its weights in place, else the offline one.
            deepface = DeepFaceAnalyzer(home, config["FACE_DETECTOR"], backend, lambda function: None)
            analyzer = "deepface" if not deepface.missing_weights() else "offline"
        return cls(
            model=config["FACE_MODEL"],
            detector=config["FACE_DETECTOR"],
            max_side=config["FACE_MAX_SIDE"],
            threshold=config["FACE_THRESHOLD"],
            deepface_home=home,
            analyzer=analyzer,
            max_pixels=config["MAX_IMAGE_PIXELS"],
            backend=backend,
        )


@dataclass(frozen=True)
class DecodedImage:
    """A photo decoded for the engine.

    ``pixels`` is a C-contiguous BGR ``uint8`` array (OpenCV/DeepFace order),
    upright (EXIF orientation applied) and downscaled so its longest side is at
    most the engine's ``max_side``. ``scale`` is ``pixels`` size / original
    size (1.0 when not downscaled); ``width`` and ``height`` are the upright
    original's, the frame every returned box is expressed in.
    """

    pixels: np.ndarray
    scale: float
    width: int
    height: int


@dataclass(frozen=True)
class Face:
    """One detected face: box in original-photo pixels, detector confidence in [0, 1], embedding."""

    box: Box
    confidence: float
    embedding: list[float]


@dataclass(frozen=True)
class Verdict:
    """Whether two embeddings are the same person, as DeepFace.verify would decide.

    ``verified`` is ``distance <= threshold``; ``confidence`` is DeepFace's
    0-100 estimate that the decision is right.
    """

    verified: bool
    distance: float
    threshold: float
    metric: str
    model: str
    confidence: float


ImageInput = DecodedImage | np.ndarray


class FaceEngine:
    """Face detection, embedding, verification and attribute analysis over DeepFace.

    Thread-safe: build one per process and share it. Nothing heavy happens in
    the constructor; DeepFace is imported and its models loaded on first use
    or by :meth:`warm_up`. All methods take and return plain values.
    """

    def __init__(
        self,
        settings: EngineSettings,
        *,
        metric: str = DEFAULT_METRIC,
        analyzer: Analyzer | None = None,
    ) -> None:
        """Configure the engine; raises ValueError for an unknown model, detector or analyser.

        ``analyzer`` replaces the one ``settings.analyzer`` names (``offline`` or ``deepface``).
        """
        required_files(settings.model, settings.detector)  # ValueError for unknown names, before any use
        if metric not in ("cosine", "euclidean", "euclidean_l2", "angular"):
            raise ValueError(f"unsupported distance metric {metric!r}")
        self.settings = settings
        self.model = settings.model
        self.detector = settings.detector
        self.max_side = settings.max_side or None
        self.threshold = settings.threshold
        self.metric = metric
        self.max_pixels = settings.max_pixels
        self.deepface_home = settings.deepface_home
        self._ready = False
        self._ready_lock = threading.Lock()
        if analyzer is not None:
            self.analyzer: Analyzer = analyzer
        elif settings.analyzer == "offline":
            self.analyzer = OfflineAnalyzer(self._detect_pixels)
        elif settings.analyzer == "deepface":
            self.analyzer = DeepFaceAnalyzer(self.deepface_home, self.detector, settings.backend, self._call_deepface)
        else:
            raise ValueError(f"unknown face analyser {settings.analyzer!r}; choose one of {', '.join(ANALYZER_NAMES)}")

    # ----------------------------------------------------------------- set-up

    def missing_weights(self) -> list[str]:
        """Name the weight files DeepFace needs for this model and detector and lacks."""
        return missing_weights(self.deepface_home, self.model, self.detector)

    def _deepface(self) -> Any:
        """Return the DeepFace module, bound to this engine's home (no weight check)."""
        return _bind_process(self.deepface_home, self.settings.backend)

    def _ensure_ready(self) -> Any:
        """Check the weights, then return DeepFace; raises EngineUnavailable naming missing files."""
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    missing = self.missing_weights()
                    if missing:
                        raise EngineUnavailable(missing_message(self.deepface_home, missing))
                    self._deepface()
                    self._ready = True
        return self._deepface()

    def _call_deepface(self, function: Callable[[Any], T]) -> T:
        """Run ``function(DeepFace)`` under the process-wide DeepFace lock, weights checked."""
        deepface = self._ensure_ready()
        with _DEEPFACE_LOCK:
            return function(deepface)

    def warm_up(self, analyzer: bool = True) -> None:
        """Load the detector and recognition model (and the analyser's models) now.

        Call at worker start so the first request does not pay ~1 s of loading.
        Raises :class:`EngineUnavailable` if weights are missing.
        """

        def build(deepface: Any) -> None:
            deepface.build_model(model_name=self.model, task="facial_recognition")
            deepface.build_model(model_name=self.detector, task="face_detector")

        self._call_deepface(build)
        # One real pass on a blank image initialises what lazy loading left.
        self.detect_and_embed(np.zeros((64, 64, 3), dtype=np.uint8))
        if analyzer:
            self.analyzer.warm_up()

    # ----------------------------------------------------------------- decode

    def decode(self, image_bytes: bytes) -> DecodedImage:
        """Decode an uploaded photo into upright, downscaled BGR pixels.

        Applies the EXIF orientation, drops alpha, converts to BGR and shrinks
        the longest side to ``max_side``. Raises :class:`ImageDecodeError` for
        bytes that are not one of :data:`IMAGE_FORMATS` Pillow can read, or a
        photo larger than ``max_pixels``.
        """
        try:
            image: Image.Image = Image.open(io.BytesIO(image_bytes), formats=accepted_formats())
            width, height = image.size
            if width * height > self.max_pixels:
                raise ImageDecodeError(f"image is {width}x{height} pixels, more than the {self.max_pixels} allowed")
            if self.max_side and image.format in ("JPEG", "MPO"):
                # Let libjpeg decode at 1/2, 1/4 or 1/8 size when that still
                # leaves at least twice max_side: much faster on phone photos,
                # and the LANCZOS resize below does the final, sharp step.
                image.draft("RGB", (2 * self.max_side, 2 * self.max_side))
            drafted = image.size
            image = ImageOps.exif_transpose(image)
            swapped = image.size != drafted
            original_width, original_height = (height, width) if swapped else (width, height)
            if image.mode != "RGB":
                image = image.convert("RGB")
            if self.max_side and max(image.size) > self.max_side:
                factor = self.max_side / max(image.size)
                size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
                image = image.resize(size, Image.Resampling.LANCZOS)
            rgb = np.asarray(image, dtype=np.uint8)
        except ImageDecodeError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise ImageDecodeError(f"not a readable image: {error}") from error
        except Exception as error:
            # Pillow's parsers also raise SyntaxError, struct.error, IndexError... on
            # malformed uploads; any of them means "not an image we can use" (422), not a 500.
            raise ImageDecodeError(f"not a readable image: {type(error).__name__}") from error
        pixels = np.ascontiguousarray(rgb[:, :, ::-1])
        scale = pixels.shape[1] / original_width
        return DecodedImage(pixels=pixels, scale=scale, width=original_width, height=original_height)

    @staticmethod
    def _as_decoded(image: ImageInput) -> DecodedImage:
        """Accept a DecodedImage or a bare BGR uint8 array (then scale 1)."""
        if isinstance(image, DecodedImage):
            return image
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            # Never let anything else reach DeepFace: a str would be read as a path or URL.
            raise TypeError("expected a DecodedImage or an H x W x 3 BGR uint8 numpy array")
        pixels = np.ascontiguousarray(image, dtype=np.uint8)
        return DecodedImage(pixels=pixels, scale=1.0, width=pixels.shape[1], height=pixels.shape[0])

    @staticmethod
    def _to_original(box: Box, image: DecodedImage) -> Box:
        return box.scaled(image.scale, image.width, image.height)

    # --------------------------------------------------------- detect / embed

    def detect_and_embed(self, image: ImageInput) -> list[Face]:
        """Find every face and compute its embedding, in one detection pass.

        Returns [] when DeepFace finds no face (the caller answers 422). Boxes
        are in original-photo pixels. Raises :class:`EngineUnavailable` when
        weights are missing.
        """
        decoded = self._as_decoded(image)
        from deepface.modules.exceptions import FaceNotDetected, ImgNotFound

        def run(deepface: Any) -> list[dict[str, Any]]:
            try:
                return list(
                    deepface.represent(
                        img_path=decoded.pixels,
                        model_name=self.model,
                        detector_backend=self.detector,
                        enforce_detection=True,
                        align=True,
                    )
                )
            # Only "no face" means an empty answer: DeepFace also raises
            # ValueError for failed downloads, which must not look like "no face".
            except (FaceNotDetected, ImgNotFound):
                return []

        faces: list[Face] = []
        for item in self._call_deepface(run):
            area = item["facial_area"]
            box = Box(int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"]))
            faces.append(
                Face(
                    box=self._to_original(box, decoded),
                    confidence=float(item["face_confidence"]),
                    embedding=[float(value) for value in item["embedding"]],
                )
            )
        return faces

    def _detect_pixels(self, pixels: np.ndarray) -> list[DetectedFace]:
        """Detect faces in ``pixels`` (boxes in those pixels), for the offline analyser."""
        from deepface.modules.exceptions import FaceNotDetected, ImgNotFound

        def run(deepface: Any) -> list[dict[str, Any]]:
            try:
                return list(
                    deepface.extract_faces(
                        img_path=pixels,
                        detector_backend=self.detector,
                        enforce_detection=True,
                        align=True,
                    )
                )
            except (FaceNotDetected, ImgNotFound):
                return []

        detected: list[DetectedFace] = []
        for item in self._call_deepface(run):
            area = item["facial_area"]
            detected.append(
                DetectedFace(
                    box=Box(int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])),
                    confidence=float(item["confidence"]),
                )
            )
        return detected

    # ---------------------------------------------------------------- compare

    def compare(self, embedding_a: Sequence[float], embedding_b: Sequence[float]) -> Verdict:
        """Decide whether two embeddings show the same person, exactly as DeepFace.verify does.

        Uses DeepFace's own ``find_distance`` (rounded to 6 decimals, as verify
        does), ``find_threshold`` (unless the engine has a threshold override)
        and ``find_confidence``. Needs no weights. Raises ValueError when the
        embeddings' lengths differ.
        """
        if len(embedding_a) != len(embedding_b) or not embedding_a:
            raise ValueError(f"embeddings differ in length ({len(embedding_a)} vs {len(embedding_b)})")
        self._deepface()
        from deepface.modules import verification

        distance = float(verification.find_distance(list(embedding_a), list(embedding_b), self.metric))
        threshold = (
            float(self.threshold)
            if self.threshold is not None
            else float(verification.find_threshold(self.model, self.metric))
        )
        verified = distance <= threshold
        confidence = float(
            verification.find_confidence(
                distance=distance, model_name=self.model, verified=verified, distance_metric=self.metric
            )
        )
        return Verdict(
            verified=verified,
            distance=distance,
            threshold=threshold,
            metric=self.metric,
            model=self.model,
            confidence=confidence,
        )

    # ---------------------------------------------------------------- analyse

    def analyze(self, image: ImageInput) -> list[FaceAttributes]:
        """Estimate age, gender and emotion of every face; boxes in original-photo pixels.

        Returns [] when no face is found. Raises :class:`EngineUnavailable`
        when the analyser's (or the detector's) weights are missing.
        """
        decoded = self._as_decoded(image)
        # The detector's weights first, then the analyser checks its own files.
        self._ensure_ready()
        return [
            result.with_box(self._to_original(result.box, decoded)) for result in self.analyzer.analyze(decoded.pixels)
        ]
