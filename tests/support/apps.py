"""Apps for tests: the testing app on a database and folders of the test's own, and the app a test builds in its
own process to look at what a served app (gunicorn, in tests/faults/) left in the same database and store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from tests.support.photos import deepface_home
from webapp import create_app
from webapp.extensions import db


def build_app(tmp_path: Path, database_url: str, overrides: dict[str, Any] | None = None) -> Flask:
    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": tmp_path / "uploads",
        "UPLOAD_TEMP_DIR": tmp_path / "upload-tmp",
        # One DeepFace home per process (tests/support/photos.py); the engine itself is cached per process.
        "DEEPFACE_HOME": deepface_home(),
    }
    settings.update(overrides or {})
    return create_app("testing", settings)


def served_settings(tmp_path: Path, database_url: str, **extra: Any) -> dict[str, Any]:
    """Settings shared by the served app (gunicorn) and the test's own app that looks at the same data."""
    return {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": tmp_path / "uploads",
        "UPLOAD_TEMP_DIR": tmp_path / "upload-tmp",
        "DEEPFACE_HOME": deepface_home(),
        **extra,
    }


def inspecting_app(tmp_path: Path, settings: dict[str, Any]) -> Flask:
    """An app in the test's own process on these settings' database and store, with its tables created: to look at
    the rows a served app left, or to drive the app with the test client."""
    overrides = {name: value for name, value in settings.items() if name != "DATABASE_URL"}
    app = build_app(tmp_path, settings["DATABASE_URL"], overrides)
    with app.app_context():
        db.create_all()
    return app
