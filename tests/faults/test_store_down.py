"""The S3 API stopped while the app runs on it: uploads are a 503 with a clear message and leave no row, no object
and no temp file; every page still renders; once the store is back, uploads work again without a restart.

The store is moto's S3 server of this test's own (other tests share the session's one), stopped and started
again on the same port; moto keeps its buckets in the test process, so the bucket survives the restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.support.apps import inspecting_app
from tests.support.factories import make_token, make_user
from tests.support.files import api_upload, row_count, rows, stored_keys, temp_files
from tests.support.processes import free_port, port_open
from tests.support.samples import jpeg
from tests.support.settings import s3_settings
from tests.support.web import login
from webapp.extensions import db

STORE_DOWN = "The file store is unavailable right now"
PAGES = [
    "/",
    "/files/",
    "/files/{id}",
    "/files/upload",
    "/faces/compare",
    "/faces/history",
    "/chat",
    "/history",
    "/account",
]


class StoppableS3:
    """moto's S3 server on a fixed free port, so it can come back where the app expects it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def s3(aws_environment: None) -> Iterator[StoppableS3]:
    store = StoppableS3()
    store.start()
    yield store
    store.stop()


def test_s3_unreachable_uploads_are_503_and_pages_still_render(tmp_path: Path, s3: StoppableS3):
    app = inspecting_app(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", **s3_settings(s3.endpoint)})
    app.extensions["storage"].ensure_bucket()
    staff = make_user(app)
    token = make_token(app, staff)
    client = app.test_client()
    login(client, staff.email, staff.password)
    kept = api_upload(client, token, "before.jpg", jpeg())
    assert kept.status_code == 201
    file_id = kept.get_json()["id"]
    objects_before = stored_keys(app)

    s3.stop()
    assert not port_open(s3.port)
    refused = api_upload(client, token, "during.jpg", jpeg())
    assert refused.status_code == 503 and STORE_DOWN in refused.get_json()["error"]
    assert [row.original_name for row in rows(app)] == ["before.jpg"] and temp_files(app) == []
    for path in PAGES:
        page = client.get(path.format(id=file_id))
        assert page.status_code == 200, f"{path}: {page.status_code}"
    thumbnail = client.get(f"/files/{file_id}/thumbnail")
    assert thumbnail.status_code == 503 and STORE_DOWN in thumbnail.get_data(as_text=True)

    s3.start()
    assert stored_keys(app) == objects_before  # nothing of the refused upload reached the bucket
    again = api_upload(client, token, "after.jpg", jpeg())
    assert again.status_code == 201, again.get_data(as_text=True)
    assert row_count(app) == 2 and client.get(f"/files/{file_id}/thumbnail").status_code == 200
    with app.app_context():
        db.engine.dispose()
