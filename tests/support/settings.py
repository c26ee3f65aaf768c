"""Settings for tests: an environment production accepts, and the S3 backend on moto's server."""

from __future__ import annotations

import secrets
import uuid

import pytest

# A PostgreSQL URL for production settings in tests: building the app opens no connection, so it need not exist.
PRODUCTION_DATABASE_URL = "postgresql://workbench@db.invalid:5432/workbench"
# Settings production checks before it starts (config.ProductionConfig.validate), cleared by production_environment.
PRODUCTION_CHECKED = (
    "WORKBENCH_SERVERS",
    "STORAGE_BACKEND",
    "S3_BUCKET_NAME",
    "RATELIMIT_STORAGE_URI",
    "ALLOW_SQLITE_IN_PRODUCTION",
    "WEB_CONCURRENCY",
)


def production_environment(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """An environment production accepts (random SECRET_KEY, PostgreSQL, one server), with `env` on top."""
    for name in PRODUCTION_CHECKED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_DATABASE_URL)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def s3_settings(endpoint: str, **overrides: object) -> dict[str, object]:
    """Settings for the S3 backend on moto's server: a fresh bucket each time (moto keeps state)."""
    settings: dict[str, object] = {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET_NAME": f"workbench-{uuid.uuid4().hex[:12]}",
        "S3_REGION": "eu-west-1",
        "S3_ENDPOINT_URL": endpoint,
        "S3_MULTIPART_THRESHOLD_MB": 5,
        "S3_CONNECT_TIMEOUT": 2,
        "S3_READ_TIMEOUT": 10,
        "S3_MAX_ATTEMPTS": 1,
    }
    settings.update(overrides)
    return settings
