"""What the app writes to disk (the SQLite database, uploads, their folders and temp files) is its owner's only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import development_secret_key
from tests.support.apps import build_app
from tests.support.factories import make_user
from tests.support.files import upload
from tests.support.samples import jpeg
from tests.support.settings import s3_settings
from tests.support.web import login
from webapp.extensions import db
from webapp.files.models import StoredFile
from webapp.files.uploads import IncomingFile


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most machines run with (0022), under which SQLite and mkdir would make files others can read."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_upload_folders_of_a_new_instance_are_the_owners_only(tmp_path: Path):
    instance = tmp_path / "instance"
    development_secret_key(instance)  # what makes instance/ on a first `make run`
    app = build_app(
        tmp_path,
        f"sqlite:///{instance / 'workbench.db'}",
        {"INSTANCE_DIR": instance, "UPLOAD_DIR": instance / "uploads"},
    )
    with app.app_context():
        db.create_all()
    staff = make_user(app, email="sam@example.com", name="Sam Staff")
    client = app.test_client()
    login(client, staff.email, staff.password)

    assert upload(client, ("photo.jpg", jpeg())).status_code == 201

    assert mode(instance) == 0o700 and mode(instance / "secret_key") == 0o600
    assert mode(instance / "workbench.db") == 0o600
    uploads = instance / "uploads"
    with app.app_context():
        stored = db.session.scalars(db.select(StoredFile)).one()
        kept = [uploads / stored.storage_key, uploads / stored.thumbnail_key]
    folders = {uploads, uploads / ".tmp"} | {
        parent for path in kept for parent in path.parents if uploads in parent.parents
    }
    assert {folder: mode(folder) for folder in folders} == {folder: 0o700 for folder in folders}
    assert {path: mode(path) for path in kept} == {path: 0o600 for path in kept}


def test_the_spool_folder_of_uploads_bound_for_s3_is_the_owners_only(tmp_path: Path, moto_endpoint: str):
    spool = tmp_path / "instance" / "upload-tmp"
    app = build_app(
        tmp_path, f"sqlite:///{tmp_path / 'workbench.db'}", {**s3_settings(moto_endpoint), "UPLOAD_TEMP_DIR": spool}
    )

    incoming = IncomingFile(app.extensions["upload_temp_dir"], limit=None)
    incoming.write(b"part of an upload")

    assert mode(tmp_path / "instance") == mode(spool) == 0o700
    assert mode(incoming.path) == 0o600
    incoming.close()
