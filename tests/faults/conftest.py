"""Fault tests: the app in real processes (gunicorn, PostgreSQL, Redis, an S3 API) that the tests kill or stop.

Every test in this folder is marked `faults` (`pytest -m faults` runs them alone).
"""

from __future__ import annotations

from pathlib import Path

import pytest

FAULTS_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FAULTS_DIR in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)
