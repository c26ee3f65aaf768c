"""File storage: pick a backend from settings once per app; everything else talks to `Storage`.

storage = build_storage(app.config)          # at startup; keep it on app.extensions["storage"]
key = new_key(".jpg")
saved = storage.save(key, stream, "image/jpeg")  # SavedObject(size, sha256)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webapp.units import MEGABYTE

from .base import (
    InvalidKey,
    ObjectNotFound,
    SavedObject,
    Storage,
    StorageUnavailable,
    content_disposition,
    new_key,
    validate_key,
)

__all__ = [
    "InvalidKey",
    "ObjectNotFound",
    "SavedObject",
    "Storage",
    "StorageUnavailable",
    "build_storage",
    "content_disposition",
    "new_key",
    "validate_key",
]


def build_storage(settings: Mapping[str, Any]) -> Storage:
    """Build the backend named by STORAGE_BACKEND ("local", the default, or "s3") from plain settings.

    local: UPLOAD_DIR (required).
    s3: S3_BUCKET_NAME (required), AWS_REGION, S3_ENDPOINT_URL (MinIO or a test server), S3_PRESIGN_SECONDS
    (300), S3_MULTIPART_THRESHOLD_MB (8), S3_CONNECT_TIMEOUT (5 s), S3_READ_TIMEOUT (30 s), S3_MAX_ATTEMPTS (3),
    and optionally AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; without them boto3's usual
    chain (environment, ~/.aws, instance role) supplies credentials.
    Raises ValueError naming the setting when one is missing or malformed. Does not contact S3.
    """
    backend = str(settings.get("STORAGE_BACKEND") or "local").strip().lower()
    if backend == "local":
        from .local import LocalStorage

        upload_dir = settings.get("UPLOAD_DIR")
        if not upload_dir:
            raise ValueError("UPLOAD_DIR must be set when STORAGE_BACKEND is local")
        return LocalStorage(upload_dir)
    if backend == "s3":
        # Imported here so a local-disk deployment does not need boto3 installed.
        from .s3 import S3Storage

        bucket = str(settings.get("S3_BUCKET_NAME") or "").strip()
        if not bucket:
            raise ValueError("S3_BUCKET_NAME must be set when STORAGE_BACKEND is s3")
        return S3Storage(
            bucket,
            region=_text(settings, "AWS_REGION"),
            endpoint_url=_text(settings, "S3_ENDPOINT_URL"),
            presign_seconds=int(_number(settings, "S3_PRESIGN_SECONDS", 300)),
            multipart_threshold_bytes=int(_number(settings, "S3_MULTIPART_THRESHOLD_MB", 8) * MEGABYTE),
            connect_timeout=_number(settings, "S3_CONNECT_TIMEOUT", 5),
            read_timeout=_number(settings, "S3_READ_TIMEOUT", 30),
            max_attempts=int(_number(settings, "S3_MAX_ATTEMPTS", 3)),
            access_key_id=_text(settings, "AWS_ACCESS_KEY_ID"),
            secret_access_key=_text(settings, "AWS_SECRET_ACCESS_KEY"),
            session_token=_text(settings, "AWS_SESSION_TOKEN"),
        )
    raise ValueError(f"STORAGE_BACKEND must be 'local' or 's3', not {backend!r}")


def _text(settings: Mapping[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value is None:
        return None
    return str(value).strip() or None


def _number(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name)
    if value is None or value == "":
        return float(default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be greater than zero, not {value!r}")
    return number
