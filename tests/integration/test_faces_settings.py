"""Face settings: validated at start-up, one engine per process shared by every app with the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError
from tests.support.apps import build_app
from webapp.faces.runtime import prepare_worker
from webapp.faces.weights import DLIB_RECOGNITION_FILE


def test_apps_with_the_same_settings_share_one_engine(tmp_path: Path):
    first = build_app(tmp_path / "one", f"sqlite:///{tmp_path / 'one.db'}")
    second = build_app(tmp_path / "two", f"sqlite:///{tmp_path / 'two.db'}")
    assert first.extensions["faces"].engine is second.extensions["faces"].engine
    other = build_app(tmp_path / "three", f"sqlite:///{tmp_path / 'three.db'}", {"FACE_MAX_SIDE": 800})
    assert other.extensions["faces"].engine is not first.extensions["faces"].engine
    assert other.extensions["faces"].engine.max_side == 800


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("FACE_ANALYZER", "magic", "FACE_ANALYZER must be one of"),
        ("FACE_DETECTOR", "retinaface", "unsupported face detector"),
        ("FACE_MODEL", "VGG-Face", "unsupported face model"),
    ],
)
def test_a_wrong_face_setting_stops_the_start_with_one_line(tmp_path: Path, setting: str, value: str, message: str):
    with pytest.raises(ConfigError, match=message):
        build_app(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {setting: value})


def test_face_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from config import load_config

    monkeypatch.setenv("FACE_THRESHOLD", "0.05")
    monkeypatch.setenv("FACE_MAX_SIDE", "800")
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    settings = load_config("testing")
    assert (0.05, 800, tmp_path) == (settings.FACE_THRESHOLD, settings.FACE_MAX_SIDE, settings.DEEPFACE_HOME)
    monkeypatch.setenv("FACE_THRESHOLD", "")
    assert load_config("testing").FACE_THRESHOLD is None
    assert (load_config("testing").FACE_MODEL, load_config("testing").FACE_DETECTOR) == ("Dlib", "dlib")


def test_missing_weights_are_named_when_a_worker_starts_not_when_the_app_is_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # Every `flask` command builds the app, `flask db upgrade` among them, before `make weights` has run.
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"DEEPFACE_HOME": tmp_path / "empty"})
    assert DLIB_RECOGNITION_FILE not in caplog.text
    assert app.extensions["faces"].missing_weights()
    prepare_worker(app)  # what gunicorn's post_worker_init and Celery's worker_process_init call
    assert DLIB_RECOGNITION_FILE in caplog.text and "make weights" in caplog.text


def test_auto_analyzer_falls_back_to_offline_without_deepface_weights(tmp_path: Path):
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"FACE_ANALYZER": "auto"})
    assert app.extensions["faces"].settings.analyzer == "offline"
