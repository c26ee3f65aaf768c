"""A gunicorn worker killed (SIGKILL) while an upload's body is arriving: no row without its object, no object
without its row; the temp file the dead worker left is removed by `flask files cleanup`.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.support.apps import inspecting_app, served_settings
from tests.support.factories import make_token, make_user
from tests.support.files import rows, stored_keys, temp_files
from tests.support.processes import flask_command, run_gunicorn
from tests.support.samples import jpeg
from tests.support.settings import s3_settings
from tests.support.waiting import wait_for
from tests.support.web import bearer

BOUNDARY = "workbench-fault-boundary"
FILE_BYTES = 20 * 1024 * 1024
SENT_BEFORE_KILL = 4 * 1024 * 1024


def start_slow_upload(url: str, token: str) -> socket.socket:
    """Open POST /api/upload for a 20 MB file and send only its first 4 MB (the client then pauses)."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(head) + FILE_BYTES + len(tail)
    request = (
        f"POST /api/upload HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    connection = socket.create_connection((host, int(port)), timeout=10)
    connection.sendall(request + head + b"line of text\n" * (SENT_BEFORE_KILL // 13))
    return connection


def answer_after_kill(connection: socket.socket) -> bytes:
    """What the client got once the worker died: the connection closes (or resets) without an answer."""
    try:
        return connection.recv(65536)
    except ConnectionResetError:
        return b""
    finally:
        connection.close()


def consistent(app: Flask) -> bool:
    """Every row has its objects in the store and every object in the store belongs to a row."""
    expected = set()
    for row in rows(app):
        expected |= {row.storage_key} | ({row.thumbnail_key} if row.thumbnail_key else set())
    return stored_keys(app) == expected


def unfinished_uploads(app: Flask) -> list[dict]:
    """Multipart uploads begun in the bucket and never completed (their parts are stored but no object)."""
    storage = app.extensions["storage"]
    if storage.name != "s3":
        return []
    return storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    if request.param == "s3":
        return s3_settings(request.getfixturevalue("moto_endpoint"))
    return {"STORAGE_BACKEND": "local"}


def test_worker_killed_mid_upload_leaves_no_row_and_no_object(tmp_path: Path, storage_settings: dict[str, object]):
    settings = served_settings(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", **storage_settings)
    app = inspecting_app(tmp_path, settings)
    if storage_settings["STORAGE_BACKEND"] == "s3":
        app.extensions["storage"].ensure_bucket()
    token = make_token(app, make_user(app))

    with run_gunicorn(tmp_path, settings) as server:
        connection = start_slow_upload(server.url, token)
        # The worker is streaming the body to a temp file when it is killed.
        wait_for(lambda: any(path.stat().st_size >= 1024 * 1024 for path in temp_files(app)), timeout=15)
        old_worker = server.kill_worker()
        assert answer_after_kill(connection) == b""
        server.wait_for_new_worker(old_worker)

        assert rows(app) == [] and stored_keys(app) == set() and unfinished_uploads(app) == []
        # SIGKILL runs no cleanup: the part received stays as a temp file, outside the store, until the sweep.
        assert len(temp_files(app)) == 1
        swept = flask_command(tmp_path, settings, "files", "cleanup", "--temp-age-hours", "0")
        assert swept.returncode == 0, swept.stderr
        assert "Stale temp uploads removed: 1." in swept.stdout
        assert "Unfinished uploads in the store aborted: 0." in swept.stdout
        assert temp_files(app) == []

        # The replacement worker takes the next upload whole.
        response = requests.post(
            server.url + "/api/upload",
            headers=bearer(token),
            timeout=30,
            files={"file": ("photo.jpg", jpeg(), "application/octet-stream")},
        )
        assert response.status_code == 201, response.text
        assert [row.original_name for row in rows(app)] == ["photo.jpg"]
        assert consistent(app) and temp_files(app) == []
