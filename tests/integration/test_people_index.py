"""The face index and search by face, with real photos, the real engine and the real file library.

Indexing runs on the app's background thread here (no broker; tests/integration/test_people_queue.py runs it on
a Celery worker); `indexed(app)` waits until it has done every photo handed to it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.apps import build_app
from tests.support.faces import HTMX, gradient_png, group_photo, photo_bytes
from tests.support.factories import make_file
from tests.support.people import add_photo, indexed
from tests.support.web import Account, bearer, csrf_token
from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.faces.models import FaceSearch
from webapp.people.models import Face, FaceLibraryVersion, IndexedPhoto


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"FACE_INDEX_ON_UPLOAD": True}


def face_rows(app: Flask) -> list[tuple[int, int, int, bytes]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(select(Face.file_id, Face.face_index, Face.user_id, Face.embedding)).all()
        ]


def search(client: FlaskClient, token: str, query: str = "", **fields: Any):
    """POST /api/face/search: JSON when `file_id` is given without an image, else multipart."""
    if "image" in fields:
        name, content = fields.pop("image")
        data = {"image": (io.BytesIO(content), name), **{key: str(value) for key, value in fields.items()}}
        return client.post(
            f"/api/face/search{query}", data=data, headers=bearer(token), content_type="multipart/form-data"
        )
    return client.post(f"/api/face/search{query}", json=fields, headers=bearer(token))


@pytest.mark.both_databases
def test_each_stored_photo_is_indexed_in_the_background_and_the_api_counts_the_library(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str, other_staff: Account, db_backend: str
):
    obama = add_photo(app, staff, "obama.jpg")
    group = add_photo(app, staff, "group.jpg", group_photo())
    add_photo(app, staff, "gradient.png", gradient_png())
    make_file(app, staff)  # a text file: not a photo, never indexed
    add_photo(app, other_staff, "biden.jpg")
    indexed(app)

    answer = client.get("/api/face/index", headers=bearer(staff_token))
    assert answer.status_code == 200
    assert answer.get_json() == {"indexed": 3, "pending": 0, "failed": 0}
    rows = face_rows(app)
    assert sorted((file_id, index) for file_id, index, user_id, _ in rows if user_id == staff.id) == [
        (obama, 0),
        (group, 0),
        (group, 1),
    ]
    # One float32 per dimension of the Dlib embedding, as bytes; the group photo's largest face first.
    assert {len(embedding) for *_, embedding in rows} == {128 * 4}
    with app.app_context():
        group_faces = db.session.scalars(select(Face).where(Face.file_id == group).order_by(Face.face_index)).all()
        assert group_faces[0].w * group_faces[0].h > group_faces[1].w * group_faces[1].h
        assert db.session.get(FaceLibraryVersion, staff.id).version == 2  # one change per photo with faces


def test_the_index_command_indexes_existing_photos_with_a_progress_bar_and_resumes(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str
):
    app.config["FACE_INDEX_ON_UPLOAD"] = False  # photos stored before the feature existed
    first = add_photo(app, staff, "obama.jpg")
    add_photo(app, staff, "obama2.jpg")
    assert client.get("/api/face/index", headers=bearer(staff_token)).get_json() == {
        "indexed": 0,
        "pending": 2,
        "failed": 0,
    }
    # A run stopped after its first photo left that one indexed: the next run does only the other.
    from webapp.people import service

    with app.app_context():
        service.index_photo(first)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["faces", "index"])
    assert result.exit_code == 0, result.output
    assert "Indexing 1 photos" in result.output and "Indexed 1 photos (1 faces); failed: 0." in result.output
    again = runner.invoke(args=["faces", "index"])
    assert again.exit_code == 0 and "Every photo is indexed." in again.output
    assert client.get("/api/face/index", headers=bearer(staff_token)).get_json() == {
        "indexed": 2,
        "pending": 0,
        "failed": 0,
    }


def test_a_photo_that_cannot_be_read_counts_as_failed_and_can_be_retried(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str
):
    photo = add_photo(app, staff, "obama.jpg")
    indexed(app)
    with app.app_context():
        # As if the engine had failed on it: the row says so, and --retry-failed tries again.
        row = db.session.get(IndexedPhoto, photo)
        row.status, row.error = "failed", "“obama.jpg” could not be read as a photo (damaged)."
        db.session.query(Face).delete()
        db.session.commit()
    assert client.get("/api/face/index", headers=bearer(staff_token)).get_json()["failed"] == 1
    result = app.test_cli_runner().invoke(args=["faces", "index", "--retry-failed"])
    assert result.exit_code == 0 and "Indexed 1 photos (1 faces)" in result.output
    assert client.get("/api/face/index", headers=bearer(staff_token)).get_json() == {
        "indexed": 1,
        "pending": 0,
        "failed": 0,
    }


@pytest.mark.both_databases
def test_search_lists_the_photos_with_that_person_best_first_and_only_matches_unless_all(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str, db_backend: str
):
    obama, obama2 = add_photo(app, staff, "obama.jpg"), add_photo(app, staff, "obama2.jpg")
    biden = add_photo(app, staff, "biden.jpg")
    group = add_photo(app, staff, "group.jpg", group_photo())
    indexed(app)

    answer = search(client, staff_token, image=("obama3.jpg", photo_bytes("obama3.jpg")))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["faces_found"] == 1 and set(body["face"]) == {"x", "y", "w", "h"}
    assert body["searched"] == 5  # obama, obama2, biden and the group's two faces
    matches = body["matches"]
    assert {match["file_id"] for match in matches} == {obama, obama2, group}
    assert [match["distance"] for match in matches] == sorted(match["distance"] for match in matches)
    assert all(match["same_person"] and match["person"] is None for match in matches)
    assert set(matches[0]) == {"file_id", "face_id", "box", "distance", "same_person", "person"}
    group_match = next(match for match in matches if match["file_id"] == group)
    with app.app_context():
        obama_in_group = db.session.scalar(select(Face.id).where(Face.file_id == group, Face.face_index == 0))
    assert group_match["face_id"] == obama_in_group  # the larger face of the group photo is Obama's

    everyone = search(client, staff_token, "?all=true", image=("obama3.jpg", photo_bytes("obama3.jpg")))
    assert everyone.status_code == 200
    beyond = [match for match in everyone.get_json()["matches"] if not match["same_person"]]
    assert {match["file_id"] for match in beyond} >= {biden}
    # The first search's photo is in the library now, indexed by the search itself: it is found too.
    assert len(everyone.get_json()["matches"]) == 6

    # A photo of the library by id, another of its faces chosen (largest first): Biden, in biden.jpg only.
    by_id = search(client, staff_token, file_id=group, face=1, limit=5)
    assert by_id.status_code == 200
    assert [match["file_id"] for match in by_id.get_json()["matches"]] == [biden]
    with app.app_context():
        kept = db.session.scalars(select(FaceSearch).order_by(FaceSearch.id)).all()
        assert [(row.status, row.scope, row.face) for row in kept] == [("done", "own", 0)] * 2 + [("done", "own", 1)]


def test_search_refuses_a_photo_without_a_face_with_422_and_keeps_it_in_the_history(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, staff_token: str
):
    answer = search(client, staff_token, image=("gradient.png", gradient_png()))
    assert answer.status_code == 422
    assert "No face was found in “gradient.png”" in answer.get_json()["error"]
    too_far = search(client, staff_token, image=("obama.jpg", photo_bytes("obama.jpg")), face=3)
    assert too_far.status_code == 400 and "no face number 4: 1 found" in too_far.get_json()["error"]
    history = staff_client.get("/faces/history?verdict=search").get_data(as_text=True)
    assert history.count('data-kind="search"') == 2 and "Failed: No face was found" in history


def test_another_users_photos_are_never_searched_nor_found_and_their_ids_are_404(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str, other_staff: Account, other_token: str
):
    theirs = add_photo(app, other_staff, "obama.jpg")
    mine = add_photo(app, staff, "obama2.jpg")
    indexed(app)
    assert search(client, staff_token, file_id=theirs).status_code == 404
    answer = search(client, staff_token, image=("obama3.jpg", photo_bytes("obama3.jpg")), all="true")
    assert [match["file_id"] for match in answer.get_json()["matches"]] == [mine]
    assert answer.get_json()["searched"] == 1
    assert search(client, other_token, file_id=mine).status_code == 404


def test_staff_cannot_search_everyones_photos_and_an_admins_search_of_them_is_audited(
    app: Flask, client: FlaskClient, admin: Account, staff: Account, staff_token: str
):
    from tests.support.factories import make_token

    theirs = add_photo(app, staff, "obama.jpg")
    indexed(app)
    refused = search(client, staff_token, image=("obama2.jpg", photo_bytes("obama2.jpg")), scope="all")
    assert refused.status_code == 403 and "Only administrators" in refused.get_json()["error"]

    admin_token = make_token(app, admin, "admin")
    own = search(client, admin_token, image=("obama2.jpg", photo_bytes("obama2.jpg")))
    assert own.status_code == 200 and own.get_json()["matches"] == []
    everyone = client.post(
        "/api/face/search",
        json={"file_id": own_file(app, admin), "scope": "all"},
        headers=bearer(admin_token),
    )
    assert everyone.status_code == 200
    assert [match["file_id"] for match in everyone.get_json()["matches"]] == [theirs]
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "face.search.everyone")).all()
        assert len(events) == 1 and events[0].user_id == admin.id and events[0].detail == "obama2.jpg"


def own_file(app: Flask, owner: Account) -> int:
    from webapp.files.models import StoredFile

    with app.app_context():
        return db.session.scalar(select(StoredFile.id).where(StoredFile.user_id == owner.id))


def test_deleting_a_photo_deletes_its_faces_and_another_server_stops_finding_it(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str, tmp_path, database_url: str
):
    photo = add_photo(app, staff, "obama.jpg")
    kept = add_photo(app, staff, "obama2.jpg")
    indexed(app)
    # A second app server on the same database, with its own process cache of the matrices.
    other_server = build_app(tmp_path, database_url, {"FACE_INDEX_ON_UPLOAD": True})
    other_client = other_server.test_client()
    first = search(other_client, staff_token, file_id=kept)
    assert [match["file_id"] for match in first.get_json()["matches"]] == [photo]

    deleted = client.delete(f"/api/files/{photo}", headers=bearer(staff_token))
    assert deleted.status_code == 204
    with app.app_context():
        assert db.session.scalar(select(func.count(Face.id)).where(Face.file_id == photo)) == 0
        assert db.session.get(IndexedPhoto, photo) is None
    again = search(other_client, staff_token, file_id=kept)
    assert again.get_json()["matches"] == [] and again.get_json()["searched"] == 1
    assert client.get("/api/face/index", headers=bearer(staff_token)).get_json()["indexed"] == 1


def test_the_search_page_boxes_every_face_lists_the_matches_and_lets_another_face_be_chosen(
    app: Flask, staff_client: FlaskClient, staff: Account
):
    biden = add_photo(app, staff, "biden.jpg")
    group = add_photo(app, staff, "group.jpg", group_photo())
    indexed(app)
    page = staff_client.get("/faces/search")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Faces indexed in 2 of 2 photos" in html and 'aria-current="page">Search' in html

    token = csrf_token(staff_client, "/faces/search")
    answer = staff_client.post(
        "/faces/search",
        data={"csrf_token": token, "file": str(group)},
        headers=HTMX,
        content_type="multipart/form-data",
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    assert html.count('<rect class="face-box"') == 2 + 0  # the group's two faces; Obama has no other photo
    assert "0 photos with this person" in html and "Face 2" in html
    other = staff_client.post(
        "/faces/search",
        data={"csrf_token": token, "file": str(group), "face": "1"},
        headers=HTMX,
        content_type="multipart/form-data",
    )
    html = other.get_data(as_text=True)
    assert "1 photo with this person" in html and f'data-file="{biden}"' in html
    assert "against the threshold <strong>0.0700</strong>" in html
    with app.app_context():
        latest = db.session.scalar(select(FaceSearch.id).order_by(FaceSearch.id.desc()))
    detail = staff_client.get(f"/faces/searches/{latest}")
    assert detail.status_code == 200 and "1 photo with this person" in detail.get_data(as_text=True)
    # A plain form post (no htmx) lands on the search's own page.
    plain = staff_client.post(
        "/faces/search", data={"csrf_token": token, "file": str(biden)}, content_type="multipart/form-data"
    )
    assert plain.status_code == 303 and "/faces/searches/" in plain.headers["Location"]


def test_the_index_progress_polls_while_photos_wait(app: Flask, staff_client: FlaskClient, staff: Account):
    app.config["FACE_INDEX_ON_UPLOAD"] = False
    add_photo(app, staff, "obama.jpg")
    html = staff_client.get("/faces/index").get_data(as_text=True)
    assert "Faces indexed in 0 of 1 photo; 1 waiting." in html and 'hx-trigger="every 3s"' in html


def test_float32_search_agrees_with_deepfaces_own_distance(app: Flask, staff: Account):
    from deepface.modules import verification

    from webapp.people.matrix import FaceRows, from_bytes

    add_photo(app, staff, "obama.jpg")
    add_photo(app, staff, "biden.jpg")
    indexed(app)
    rows = face_rows(app)
    vectors = [from_bytes(embedding) for *_, embedding in rows]
    matrix = FaceRows(2)
    matrix.add((number, number, None, embedding) for number, (*_, embedding) in enumerate(rows, start=1))
    ((_, distance),) = matrix.build(1).nearest(vectors[0], None, 2)[1:]
    expected = verification.find_distance(vectors[0].astype(np.float64), vectors[1].astype(np.float64), "cosine")
    assert distance == pytest.approx(float(expected), abs=2e-6)


def test_the_openapi_document_lists_the_index_and_search_operations(client: FlaskClient):
    document = client.get("/api/openapi.json").get_json()
    assert "get" in document["paths"]["/api/face/index"]
    search = document["paths"]["/api/face/search"]["post"]
    assert {"200", "403", "404", "422"} <= set(search["responses"])
    assert {"application/json", "multipart/form-data"} <= set(search["requestBody"]["content"])
    assert any(parameter["name"] == "all" for parameter in search["parameters"])


def test_a_photo_indexed_in_this_process_joins_its_cached_matrix_without_a_reload(app: Flask, staff: Account):
    from webapp.people import service

    first = add_photo(app, staff, "obama.jpg")
    indexed(app)
    cache = app.extensions["face_matrices"]
    with app.app_context():
        before = service.owner_faces(staff.id)
        loads = cache.loads
    add_photo(app, staff, "obama2.jpg")
    indexed(app)
    with app.app_context():
        after = service.owner_faces(staff.id)
        assert cache.loads == loads  # appended, not read again
        assert after.version == before.version + 1 and len(after) == 2
        fresh = service._load(staff.id, after.version)
    assert sorted(after.face_ids.tolist()) == sorted(fresh.face_ids.tolist())
    assert np.allclose(after.vectors[np.argsort(after.face_ids)], fresh.vectors[np.argsort(fresh.face_ids)])
    assert first in after.file_ids.tolist()
