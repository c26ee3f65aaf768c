"""Under gunicorn (what `make run` serves with), a body refused as too large is still read, so the client
gets the 413 message instead of a connection reset half-way through sending."""

from __future__ import annotations

import uuid
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.factories import make_token, make_user
from tests.support.processes import app_environment, gunicorn_process
from webapp import create_app
from webapp.extensions import db


def test_oversized_upload_gets_its_413_answer_from_gunicorn(tmp_path: Path):
    env = app_environment(tmp_path, MAX_UPLOAD_MB="2", MAX_FILES_PER_UPLOAD="1")
    setup = create_app("testing", {"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "UPLOAD_DIR": tmp_path / "uploads"})
    with setup.app_context():
        db.create_all()
    token = make_token(setup, make_user(setup), "big uploads")
    with setup.app_context():
        db.engine.dispose()
    boundary = uuid.uuid4().hex
    # 5.5 MB: over the 3 MB this route accepts (2 MB file + 1 MB for the form), more than loopback socket
    # buffers absorb unread, and under the 6 MB the app reads to answer properly.
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'.encode()
        + b"x" * (11 * 512 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )

    with gunicorn_process("wsgi:app", env, 1, 2, tmp_path / "gunicorn.log", health_path="/api/health") as (url, _):
        address = urlsplit(url)
        connection = HTTPConnection(address.hostname, address.port, timeout=30)
        # Sent as a browser sends it: the whole body, without waiting for an early answer.
        connection.request(
            "POST",
            "/api/upload",
            body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {token}"},
        )
        response = connection.getresponse()
        assert response.status == 413
        assert response.read() == b'{"error":"The file is larger than the 2 MB limit.","status":413}\n'
        connection.close()
