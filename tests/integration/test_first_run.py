"""A clean first run: the commands `make run` runs on a fresh clone, in its order, print no warning.

`make run` upgrades the database (a `flask` command, so the app is built) before `make weights` puts the face
weights in place, then creates the first admin and starts gunicorn. Each step runs here as a subprocess on an
empty instance folder, as on a fresh clone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.faces.weights import PACKAGED_FILES, weights_dir

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


def run(arguments: list[str], instance: Path) -> subprocess.CompletedProcess:
    """Run a command of `make run` with a fresh clone's settings: nothing set but where the instance folder is."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("WORKBENCH_", "DATABASE_", "FACE_", "DEEPFACE_", "SECRET_KEY", "PYTHONWARNINGS"))
    }
    env.update(
        INSTANCE_DIR=str(instance),
        DEEPFACE_HOME=str(instance / "deepface"),  # what the Makefile exports
        WORKBENCH_DOTENV=os.devnull,
        ADMIN_PASSWORD="first-run-password",
    )
    return subprocess.run(arguments, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def warnings_in(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if "warning" in line.lower()]


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


def test_make_runs_commands_on_a_fresh_clone_print_no_warning(instance: Path) -> None:
    upgrade = run([str(FLASK), "--app", "wsgi", "db", "upgrade"], instance)
    assert upgrade.returncode == 0, upgrade.stderr
    assert warnings_in(upgrade) == []  # the face weights are not there yet, and that is no news at this step

    weights = run(
        [sys.executable, "-m", "webapp.faces.install_weights", "--home", str(instance / "deepface")], instance
    )
    assert weights.returncode == 0, weights.stderr
    assert weights.stderr == ""  # runpy's RuntimeWarning went there
    assert sorted(path.name for path in weights_dir(instance / "deepface").iterdir()) == sorted(PACKAGED_FILES)

    admin = run([str(FLASK), "--app", "wsgi", "users", "ensure-admin"], instance)
    assert admin.returncode == 0, admin.stderr
    assert warnings_in(admin) == []


def test_the_weights_command_fills_the_apps_own_deepface_home_by_default(instance: Path) -> None:
    result = run([sys.executable, "-m", "webapp.faces.install_weights"], instance)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sorted(path.name for path in weights_dir(instance / "deepface").iterdir()) == sorted(PACKAGED_FILES)
