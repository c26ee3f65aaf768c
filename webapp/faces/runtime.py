"""The face engine as the app sees it: one engine per process, built from settings on first use.

`init_app` checks the settings (a wrong FACE_MODEL, FACE_DETECTOR or FACE_ANALYZER stops the start with one
line), logs a warning naming any missing weight file, and puts a `FacesRuntime` on `app.extensions["faces"]`.
Nothing heavy happens there: DeepFace is imported and its models loaded by the first face job, or by
`warm_up_app` when FACE_WARMUP=1 (called from gunicorn's `post_worker_init` hook and Celery's
`worker_process_init` signal, i.e. in each worker process after the fork, never in a preloading master).

Engines are cached per process by their settings, so the many apps a test session builds share one engine
(and DeepFace caches its models per process anyway).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from config import ConfigError
from webapp.faces.analyzers import ANALYZER_NAMES, DeepFaceAnalyzer
from webapp.faces.engine import FaceEngine
from webapp.faces.weights import missing_message

log = logging.getLogger("webapp.faces")

ANALYZER_CHOICES = (*ANALYZER_NAMES, "auto")


@dataclass(frozen=True)
class EngineSettings:
    model: str
    detector: str
    max_side: int | None
    threshold: float | None
    deepface_home: Path
    analyzer: str
    max_pixels: int

    @classmethod
    def from_config(cls, config: Any) -> EngineSettings:
        analyzer = str(config["FACE_ANALYZER"]).lower()
        if analyzer not in ANALYZER_CHOICES:
            raise ConfigError(f"FACE_ANALYZER must be one of {', '.join(ANALYZER_CHOICES)}, not {analyzer!r}")
        home = Path(config["DEEPFACE_HOME"]).resolve()
        if analyzer == "auto":
            # DeepFace's own analyser when an operator has put its weights in place, else the offline one.
            deepface = DeepFaceAnalyzer(home, config["FACE_DETECTOR"], lambda function: None)
            analyzer = "deepface" if not deepface.missing_weights() else "offline"
        return cls(
            model=config["FACE_MODEL"],
            detector=config["FACE_DETECTOR"],
            max_side=int(config["FACE_MAX_SIDE"]) or None,
            threshold=config.get("FACE_THRESHOLD"),
            deepface_home=home,
            analyzer=analyzer,
            max_pixels=int(config.get("MAX_IMAGE_PIXELS") or 50_000_000),
        )


_engines: dict[EngineSettings, FaceEngine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: EngineSettings) -> FaceEngine:
    """The process's engine for these settings, built (cheaply, nothing loaded) on first request."""
    with _engines_lock:
        engine = _engines.get(settings)
        if engine is None:
            engine = FaceEngine(
                model=settings.model,
                detector=settings.detector,
                max_side=settings.max_side,
                threshold=settings.threshold,
                deepface_home=settings.deepface_home,
                analyzer=settings.analyzer,
                max_pixels=settings.max_pixels,
            )
            _engines[settings] = engine
        return engine


class FacesRuntime:
    """What the faces service needs from the app: the engine (lazily) and its settings."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    @property
    def engine(self) -> FaceEngine:
        return engine_for(self.settings)

    def missing_weights(self) -> list[str]:
        """Weight files the recognition model and detector need and lack (empty when ready)."""
        return self.engine.missing_weights()

    def missing_message(self) -> str:
        return missing_message(self.settings.deepface_home, self.missing_weights())


def init_app(app: Flask) -> None:
    try:
        settings = EngineSettings.from_config(app.config)
        runtime = FacesRuntime(settings)
        engine = runtime.engine  # validates model and detector names (no loading)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    app.extensions["faces"] = runtime
    missing = engine.missing_weights()
    if missing:
        log.warning("faces: %s", runtime.missing_message())


def runtime() -> FacesRuntime:
    return current_app.extensions["faces"]


def warm_up_app(app: Flask) -> None:
    """Load the models now if FACE_WARMUP is on; a missing weight is logged by name, not raised."""
    if not app.config.get("FACE_WARMUP"):
        return
    from webapp.faces.errors import EngineUnavailable

    faces: FacesRuntime = app.extensions["faces"]
    try:
        faces.engine.warm_up()
    except EngineUnavailable as error:
        log.error("faces: warm-up skipped: %s", error.message)
    else:
        log.info(
            "faces: engine warmed up (%s, %s, %s px)",
            faces.settings.model,
            faces.settings.detector,
            faces.settings.max_side,
        )
