"""The files JSON API: the same service as the pages, bearer tokens, JSON errors."""

from __future__ import annotations

import hashlib
import io
import urllib.request
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.support.files import (  # noqa: F401  (fixtures)
    api_upload,
    app_overrides,
    assert_nothing_written,
    backend,
    both_backends,
    bucket,
    row_count,
    rows,
    stored_keys,
)
from tests.support.samples import EXECUTABLE, jpeg
from tests.support.web import bearer
from webapp.auth import service as users
from webapp.extensions import db
from webapp.files.models import StoredFile


def fetch(client, url: str) -> bytes:
    """What a script does with the returned URL: presigned S3 over the network, or the app's signed link."""
    if url.startswith("http://localhost/"):
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200
        return response.data
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@both_backends
def test_upload_list_get_url_and_delete(app, client, staff_token):
    content = jpeg()

    created = api_upload(client, staff_token, "api.jpg", content)

    assert created.status_code == 201
    body = created.get_json()
    assert {key: body[key] for key in ("name", "size", "content_type", "sha256")} == {
        "name": "api.jpg",
        "size": len(content),
        "content_type": "image/jpeg",
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert created.headers["Location"].endswith(f"/api/files/{body['id']}")
    assert fetch(client, body["url"]) == content

    listing = client.get("/api/files?per_page=1", headers=bearer(staff_token)).get_json()
    assert listing["total"] == 1 and listing["pages"] == 1 and listing["items"][0]["id"] == body["id"]
    one = client.get(f"/api/files/{body['id']}", headers=bearer(staff_token)).get_json()
    assert one["sha256"] == body["sha256"] and (one["width"], one["height"]) == (64, 48)
    link = client.get(f"/api/files/{body['id']}/url", headers=bearer(staff_token)).get_json()
    assert set(link) == {"url", "expires_in"} and link["expires_in"] == 300
    assert fetch(client, link["url"]) == content

    deleted = client.delete(f"/api/files/{body['id']}", headers=bearer(staff_token))
    assert deleted.status_code == 204 and deleted.data == b""
    assert client.get(f"/api/files/{body['id']}", headers=bearer(staff_token)).status_code == 404
    assert row_count(app) == 0 and stored_keys(app) == set()


def test_listing_is_paginated_and_filtered(app, client, staff_token):
    for index in range(3):
        api_upload(client, staff_token, f"note-{index}.txt", f"note {index}\n".encode())
    api_upload(client, staff_token, "photo.jpg", jpeg())

    first = client.get("/api/files?per_page=2", headers=bearer(staff_token)).get_json()
    second = client.get("/api/files?per_page=2&page=2", headers=bearer(staff_token)).get_json()
    assert (first["total"], first["pages"], len(first["items"]), len(second["items"])) == (4, 2, 2, 2)
    assert first["items"][0]["name"] == "photo.jpg"  # newest first
    images = client.get("/api/files?kind=image", headers=bearer(staff_token)).get_json()
    assert [item["name"] for item in images["items"]] == ["photo.jpg"]
    searched = client.get("/api/files?q=note-1", headers=bearer(staff_token)).get_json()
    assert [item["name"] for item in searched["items"]] == ["note-1.txt"]


@pytest.mark.parametrize("app_overrides", [{"MAX_UPLOAD_MB": 1, "MAX_FILES_PER_UPLOAD": 1}], indirect=True)
def test_errors_are_json_with_a_message_and_nothing_written(app, client, staff_token):
    cases = [
        (
            client.post("/api/upload", data={}, headers=bearer(staff_token), content_type="multipart/form-data"),
            400,
            "No file was sent. Choose a file to upload.",
        ),
        (
            api_upload(client, staff_token, "", b"a file without a name"),
            400,
            "The file has no name. Choose a file to upload.",
        ),
        (
            api_upload(client, staff_token, "empty.txt", b""),
            400,
            "This file is empty (0 bytes); there is nothing to keep.",
        ),
        (
            api_upload(client, staff_token, "setup.jpg", EXECUTABLE),
            422,
            "This file is not an allowed type (it looks like a Windows executable). "
            "Allowed: JPEG, PNG, WebP, GIF, HEIC, HEIF, PDF, plain text, CSV, Word.",
        ),
        (
            api_upload(client, staff_token, "big.txt", b"x" * (1024 * 1024 + 1)),
            413,
            "This file is larger than the 1 MB limit.",
        ),
        (
            api_upload(client, staff_token, "huge.txt", b"x" * (3 * 1024 * 1024)),
            413,
            "The file is larger than the 1 MB limit.",
        ),
        (
            client.post("/api/upload", data={"file": (io.BytesIO(b"x"), "x.txt")}, content_type="multipart/form-data"),
            401,
            "A valid API token is required: send 'Authorization: Bearer <token>'.",
        ),
    ]
    for response, status, message in cases:
        assert response.status_code == status
        assert response.get_json() == {"error": message, "status": status}
    assert_nothing_written(app)


def link_token(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def test_a_signed_link_names_the_file_without_its_storage_key(app, client, staff_token):
    content = jpeg()
    body = api_upload(client, staff_token, "api.jpg", content).get_json()
    key = rows(app)[0].storage_key

    # Whoever holds a link can read its payload without the secret key, as anyone can.
    readable, payload = URLSafeTimedSerializer("not the app's key").loads_unsafe(link_token(body["url"]))

    assert not readable and payload[0] == body["id"]
    stem = key.rsplit("/", 1)[-1].split(".")[0]
    assert key not in repr(payload) and stem not in repr(payload)
    assert fetch(client, body["url"]) == content


def test_a_signed_link_stops_working_when_its_owner_is_deactivated(app, client, admin, staff, staff_token):
    body = api_upload(client, staff_token, "api.jpg", jpeg()).get_json()
    link = urlsplit(body["url"]).path
    assert client.get(link).status_code == 200

    with app.app_context():
        users.set_active(users.get_user(staff.id), False, actor=users.get_user(admin.id))

    refused = client.get(link)
    assert refused.status_code == 404
    assert "This download link has expired or is not valid." in refused.get_data(as_text=True)


def test_a_signed_link_of_a_file_replaced_under_the_same_id_is_refused(app, client, staff_token):
    body = api_upload(client, staff_token, "api.jpg", jpeg()).get_json()
    link = urlsplit(body["url"]).path
    with app.app_context():
        stored = db.session.get(StoredFile, body["id"])
        stored.storage_key = stored.storage_key.replace(stored.storage_key[-12:-4], "00000000")
        db.session.commit()

    assert client.get(link).status_code == 404
