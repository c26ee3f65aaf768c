"""What the files tests share: uploading through the real form or API, and looking at what was written."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from tests.support.settings import s3_settings
from tests.support.web import csrf_token
from webapp.extensions import db
from webapp.files.models import StoredFile


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "local" unless a test asks for both with @both_backends."""
    return getattr(request, "param", "local")


both_backends = pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)


@pytest.fixture
def app_overrides(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The backend's settings, plus what a test passes with parametrize("app_overrides", [...], indirect=True)."""
    settings: dict[str, Any] = {}
    if backend == "s3":
        settings.update(s3_settings(request.getfixturevalue("moto_endpoint")))
    settings.update(getattr(request, "param", {}))
    return settings


@pytest.fixture(autouse=True)
def bucket(app: Flask, backend: str) -> None:
    if backend == "s3":
        app.extensions["storage"].ensure_bucket()


def upload(client: FlaskClient, *files: tuple[str, bytes], htmx: bool = False) -> TestResponse:
    """Post files through the upload page's form, as a browser does (htmx=True: as upload.js does)."""
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/files/upload")}
    if files:
        data["file"] = [(io.BytesIO(content), name) for name, content in files]
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post("/files/upload", data=data, content_type="multipart/form-data", headers=headers)


def api_upload(client: FlaskClient, token: str, name: str, content: bytes) -> TestResponse:
    return client.post(
        "/api/upload",
        data={"file": (io.BytesIO(content), name)},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


def rows(app: Flask) -> list[StoredFile]:
    with app.app_context():
        files = list(db.session.scalars(select(StoredFile).order_by(StoredFile.id)))
        db.session.expunge_all()
        return files


def row_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(StoredFile.id)))


def stored_keys(app: Flask) -> set[str]:
    """Every object in the store (temp files excluded)."""
    storage = app.extensions["storage"]
    if storage.name == "s3":
        listing = storage.client.list_objects_v2(Bucket=storage.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}
    root = storage.root
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] != ".tmp"
    }


def temp_files(app: Flask) -> list[Path]:
    return [path for path in Path(app.extensions["upload_temp_dir"]).iterdir() if path.is_file()]


def read_object(app: Flask, key: str) -> bytes:
    with app.extensions["storage"].open(key) as stream:
        return stream.read()


def assert_nothing_written(app: Flask) -> None:
    assert row_count(app) == 0
    assert stored_keys(app) == set()
    assert temp_files(app) == []
