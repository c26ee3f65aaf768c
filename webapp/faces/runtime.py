"""The face engine as the app sees it: one engine per process, built from typed settings on first use.

`init_app` builds the engine's settings from app.config (a wrong FACE_MODEL, FACE_DETECTOR or FACE_ANALYZER
stops the start with one line) and puts a `FacesRuntime` on `app.extensions["faces"]`. Nothing heavy happens
there, and no weight file is looked at: every `flask` command builds the app, and `make run` upgrades the
database before `make weights` has put the weights in place. The weights are checked, and the models loaded
when FACE_WARMUP=1, by `prepare_worker`, called where the app starts serving: gunicorn's `post_worker_init`
hook and Celery's `worker_process_init` signal (in each worker process after the fork, never in a preloading
master). A face job without its weights still answers 503 naming the missing file.

Engines are cached per process by their settings, so the many apps a test session builds share one engine
(and DeepFace caches its models per process anyway).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, current_app

from config import ConfigError
from webapp.faces.engine import EngineSettings, FaceEngine
from webapp.faces.weights import missing_message

log = logging.getLogger("webapp.faces")

__all__ = ["EngineSettings", "FacesRuntime", "engine_for", "init_app", "prepare_worker", "runtime"]

_engines: dict[EngineSettings, FaceEngine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: EngineSettings) -> FaceEngine:
    """The process's engine for these settings, built (cheaply, nothing loaded) on first request."""
    with _engines_lock:
        engine = _engines.get(settings)
        if engine is None:
            engine = FaceEngine(settings)
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
        engine_for(settings)  # validates model and detector names (no loading, no file looked at)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    app.extensions["faces"] = FacesRuntime(settings)


def runtime() -> FacesRuntime:
    return current_app.extensions["faces"]


def prepare_worker(app: Flask) -> None:
    """In a process about to serve: name any missing weight file (a warning), then load the models if
    FACE_WARMUP is on (a weight missing then is logged by name, not raised)."""
    faces: FacesRuntime = app.extensions["faces"]
    if faces.missing_weights():
        log.warning("faces: %s", faces.missing_message())
    if not app.config["FACE_WARMUP"]:
        return
    from webapp.faces.errors import EngineUnavailable

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
