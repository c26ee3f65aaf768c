"""File storage: pick a backend from typed settings once per app; everything else talks to `Storage`.

storage = build_storage(StorageSettings.from_config(app.config))   # at startup; kept on app.extensions["storage"]
key = new_key(".jpg")
saved = storage.save(key, stream, "image/jpeg")  # SavedObject(size, sha256)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    "StorageSettings",
    "StorageUnavailable",
    "build_storage",
    "content_disposition",
    "new_key",
    "validate_key",
]

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class StorageSettings:
    """Where files are kept and how S3 is reached, already parsed and checked by config.py.

    AWS credentials are not here: boto3 finds them itself (environment, ~/.aws, the instance or task role)."""

    backend: str  # "local" or "s3"
    upload_dir: Path
    s3_bucket: str
    s3_region: str | None  # None: boto3's own chain
    s3_endpoint_url: str  # empty: AWS's
    presign_seconds: int
    multipart_threshold_bytes: int
    connect_timeout: float
    read_timeout: float
    max_attempts: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StorageSettings:
        return cls(
            backend=config["STORAGE_BACKEND"],
            upload_dir=Path(config["UPLOAD_DIR"]),
            s3_bucket=config["S3_BUCKET_NAME"],
            s3_region=config["S3_REGION"],
            s3_endpoint_url=config["S3_ENDPOINT_URL"],
            presign_seconds=config["S3_PRESIGN_SECONDS"],
            multipart_threshold_bytes=config["S3_MULTIPART_THRESHOLD_MB"] * MEGABYTE,
            connect_timeout=config["S3_CONNECT_TIMEOUT"],
            read_timeout=config["S3_READ_TIMEOUT"],
            max_attempts=config["S3_MAX_ATTEMPTS"],
        )


def build_storage(settings: StorageSettings) -> Storage:
    """Build the backend the settings name: "local" (files under upload_dir) or "s3". Does not contact S3."""
    if settings.backend == "local":
        from .local import LocalStorage

        return LocalStorage(settings.upload_dir)
    if settings.backend == "s3":
        # Imported here so a local-disk deployment does not need boto3 installed.
        from .s3 import S3Storage

        return S3Storage(
            settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url or None,
            presign_seconds=settings.presign_seconds,
            multipart_threshold_bytes=settings.multipart_threshold_bytes,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_attempts=settings.max_attempts,
        )
    # config.py refuses any other name; this guards a settings object built by hand.
    raise ValueError(f"STORAGE_BACKEND must be 'local' or 's3', not {settings.backend!r}")
