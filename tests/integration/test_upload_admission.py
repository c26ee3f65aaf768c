"""An upload earns its way to disk: the body is read only after the size, the sign-in and the CSRF token are
checked (issue 10, point 3). Each body here is handed to the app as a server would, in chunks, noting how much
of it the app read and whether an upload temp file appeared while it did."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.files import (  # noqa: F401  (fixtures)
    app_overrides,
    backend,
    bucket,
    row_count,
    temp_files,
)
from tests.support.samples import jpeg
from tests.support.web import bearer, csrf_token
from webapp.errors import CSRF_MESSAGE

MEGABYTE = 1024 * 1024
UPLOAD_ROUTES = ["/files/upload", "/faces/compare", "/faces/analyze", "/import"]


class WatchedBody(io.RawIOBase):
    """A multipart body (form fields, then one file part of `file_size` bytes) produced as it is read."""

    def __init__(self, fields: list[tuple[str, str]], file_size: int, temp_dir: Path, file_field: str = "file"):
        super().__init__()
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields
        )
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        self._parts = [head, file_size, f"\r\n--{self.boundary}--\r\n".encode()]
        self.length = len(head) + file_size + len(self._parts[2])
        self.temp_dir = temp_dir
        self.bytes_read = 0
        self.saw_temp_file = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        self.saw_temp_file = self.saw_temp_file or any(path.is_file() for path in self.temp_dir.iterdir())
        while self._parts:
            part = self._parts[0]
            if isinstance(part, int):
                size = min(part, len(buffer))
                if size:
                    buffer[:size] = b"x" * size
                    self._parts[0] = part - size
                    self.bytes_read += size
                    return size
            elif part:
                size = min(len(part), len(buffer))
                buffer[:size] = part[:size]
                self._parts[0] = part[size:]
                self.bytes_read += size
                return size
            self._parts.pop(0)
        return 0

    def post(self, client: FlaskClient, url: str, **headers: str):
        # Put in place as the server's wsgi.input (the test client would seek an input_stream to measure it).
        environ = {
            "wsgi.input": self,
            "CONTENT_LENGTH": str(self.length),
            "CONTENT_TYPE": f"multipart/form-data; boundary={self.boundary}",
        }
        return client.post(url, headers=headers, environ_overrides=environ)


def temp_dir(app: Flask) -> Path:
    return Path(app.extensions["upload_temp_dir"])


@pytest.mark.parametrize("url", [*UPLOAD_ROUTES, "/api/upload", "/login"])
def test_sixty_megabytes_from_someone_signed_out_are_refused_before_a_byte_is_read(app: Flask, client, url):
    body = WatchedBody([], 60 * MEGABYTE, temp_dir(app))

    response = body.post(client, url)

    # The API asks for its token first; everything else is over the limit anyone signed out gets (one file's worth).
    assert response.status_code == (401 if url.startswith("/api/") else 413)
    assert body.bytes_read == 0
    assert temp_files(app) == [] and row_count(app) == 0


@pytest.mark.parametrize("url", UPLOAD_ROUTES)
def test_a_small_upload_from_someone_signed_out_is_sent_to_sign_in_unread(app: Flask, client, url):
    # A visitor has a session and a valid token from the sign-in page, but is not signed in.
    body = WatchedBody([("csrf_token", csrf_token(client, "/login"))], 2 * MEGABYTE, temp_dir(app))

    response = body.post(client, url)

    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert body.bytes_read == 0 and not body.saw_temp_file
    assert row_count(app) == 0


@pytest.mark.parametrize("url", UPLOAD_ROUTES)
def test_an_upload_with_a_wrong_csrf_token_writes_nothing(app: Flask, staff_client: FlaskClient, url):
    file_field = "file_a" if url.startswith("/faces/") else "file"
    wrong_field = WatchedBody([("csrf_token", "not-the-token")], 5 * MEGABYTE, temp_dir(app), file_field)
    wrong_header = WatchedBody([], 5 * MEGABYTE, temp_dir(app), file_field)
    files_first = WatchedBody([], 5 * MEGABYTE, temp_dir(app), file_field)

    answers = [
        wrong_field.post(staff_client, url),
        wrong_header.post(staff_client, url, **{"X-CSRFToken": "not-the-token"}),
        files_first.post(staff_client, url),  # the token (if any) after the files is not waited for
    ]

    for response in answers:
        assert response.status_code == 400
        assert CSRF_MESSAGE in response.get_data(as_text=True)
    # Only the start of the body was read to look for the token, and no file part reached the disk.
    assert wrong_field.bytes_read <= 64 * 1024 and wrong_header.bytes_read == 0 and files_first.bytes_read <= 64 * 1024
    assert not any(body.saw_temp_file for body in (wrong_field, wrong_header, files_first))
    assert temp_files(app) == [] and row_count(app) == 0


def test_the_token_in_the_header_alone_or_ahead_of_the_files_lets_the_upload_land(app: Flask, staff_client):
    token = csrf_token(staff_client, "/files/upload")
    in_header = staff_client.post(
        "/files/upload",
        data={"file": (io.BytesIO(jpeg()), "header.jpg")},
        content_type="multipart/form-data",
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    ahead_of_files = staff_client.post(
        "/files/upload",
        data={"csrf_token": token, "note": "a field between", "file": (io.BytesIO(jpeg()), "field.jpg")},
        content_type="multipart/form-data",
    )

    assert (in_header.status_code, ahead_of_files.status_code) == (201, 201)
    assert row_count(app) == 2


def test_a_signed_in_upload_may_be_larger_than_what_anyone_else_may_send(app: Flask, staff_client, staff_token):
    """Over one file's worth (MAX_CONTENT_LENGTH) yet within MAX_UPLOAD_REQUEST_BYTES: taken from a signed-in user."""
    app.config["MAX_CONTENT_LENGTH"] = MEGABYTE
    token = csrf_token(staff_client, "/files/upload")
    page = WatchedBody([("csrf_token", token)], 2 * MEGABYTE, temp_dir(app))
    api = WatchedBody([], 2 * MEGABYTE, temp_dir(app))

    assert page.post(staff_client, "/files/upload").status_code == 201
    assert api.post(staff_client, "/api/upload", **bearer(staff_token)).status_code == 201
    assert page.saw_temp_file and api.saw_temp_file  # streamed to disk, as uploads are
    assert row_count(app) == 2


def test_file_parts_sent_to_a_route_that_takes_no_files_are_dropped_unwritten(app: Flask, staff_client):
    body = WatchedBody([("csrf_token", csrf_token(staff_client, "/account")), ("name", "Sam")], MEGABYTE, temp_dir(app))

    response = body.post(staff_client, "/account")

    assert response.status_code < 500
    assert body.bytes_read == body.length and not body.saw_temp_file
    assert temp_files(app) == []
