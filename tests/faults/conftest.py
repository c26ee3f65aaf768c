"""Fault tests: the app in real processes (gunicorn, PostgreSQL, Redis, an S3 API) that the tests kill or stop.

Every test in this folder is marked `faults` (`pytest -m faults` runs them alone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import build_app, make_account, make_token
from tests.helpers import Account
from tests.photos import deepface_home
from webapp.extensions import db

FAULTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FAULTS_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


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


def staff_with_token(app: Flask) -> tuple[Account, str]:
    account = make_account(app, "sam@example.com", "Sam Staff", "staff")
    return account, make_token(app, account, "faults")
