"""Faces through the pages and the JSON API, with real photos, the real engine and the real file library.

The engine is built once per process (webapp/faces/runtime.py), so each test pays only for the photos it
embeds (~0.35 s each at 640 px).
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.faces import (
    HTMX,
    analyze,
    compare,
    face_boxes,
    gradient_png,
    group_photo,
    heic_photo,
    photo_bytes,
    result_id,
    upload,
)
from tests.support.files import upload as upload_files
from tests.support.samples import jpeg
from tests.support.web import bearer, csrf_token, give_reason
from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.faces.models import FaceAnalysis, FaceComparison, FaceEmbedding
from webapp.files.models import StoredFile


def comparison(app: Flask, row_id: int) -> FaceComparison:
    with app.app_context():
        row = db.session.get(FaceComparison, row_id)
        db.session.expunge(row)
        return row


def embedding_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(FaceEmbedding.id)))


@pytest.mark.both_databases
def test_same_person_is_verified_with_every_face_boxed(app: Flask, staff_client: FlaskClient, db_backend: str):
    response = compare(staff_client, upload("obama.jpg"), upload("obama2.jpg"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "Same person" in html
    assert face_boxes(html) == 2 and html.count("face-compared") == 2
    assert html.count('class="face-crop"') == 2
    assert re.search(r"Distance <strong>0\.0\d+</strong> against the threshold <strong>0\.0700</strong>", html)
    assert "Model Dlib, detector dlib" in html and " ms" in html
    row = comparison(app, result_id(html))
    assert (row.status, row.verified, row.model, row.detector) == ("done", True, "Dlib", "dlib")
    assert row.distance < row.threshold == pytest.approx(0.07)
    assert row.cached is False
    # Both photos are now in the user's library, and the result page shows them through the faces routes.
    with app.app_context():
        names = sorted(db.session.scalars(select(StoredFile.original_name)))
    assert names == ["obama.jpg", "obama2.jpg"]
    photo = staff_client.get(f"/faces/comparisons/{row.id}/photo/a")
    assert photo.status_code == 200 and photo.data == photo_bytes("obama.jpg")


def test_recompare_from_the_library_reuses_embeddings_and_equals_deepface_verify(app: Flask, staff_client: FlaskClient):
    from deepface import DeepFace

    first = comparison(
        app, result_id(compare(staff_client, upload("obama.jpg"), upload("biden.jpg")).get_data(as_text=True))
    )
    assert (first.status, first.verified, first.cached) == ("done", False, False)
    assert first.distance > first.threshold
    stored_embeddings = embedding_count(app)
    assert stored_embeddings == 2

    again = compare(staff_client, first.file_a_id, first.file_b_id)
    assert again.status_code == 200 and "Different people" in again.get_data(as_text=True)
    second = comparison(app, result_id(again.get_data(as_text=True)))
    assert second.id != first.id and second.cached is True
    assert (second.verified, second.distance, second.threshold) == (first.verified, first.distance, first.threshold)
    assert embedding_count(app) == stored_embeddings  # nothing was embedded again

    # The same verdict as a fresh DeepFace.verify on the same photos, decoded the way the engine does.
    engine = app.extensions["faces"].engine
    expected = DeepFace.verify(
        img1_path=engine.decode(photo_bytes("obama.jpg")).pixels,
        img2_path=engine.decode(photo_bytes("biden.jpg")).pixels,
        model_name="Dlib",
        detector_backend="dlib",
        distance_metric="cosine",
        align=True,
        silent=True,
    )
    assert second.verified == expected["verified"]
    assert second.distance == pytest.approx(expected["distance"], abs=1e-6)
    assert second.threshold == expected["threshold"]
    assert second.confidence == pytest.approx(expected["confidence"], abs=1e-6)


def test_group_photo_boxes_every_face_compares_the_largest_and_another_can_be_chosen(
    app: Flask, staff_client: FlaskClient
):
    response = compare(staff_client, upload("group.jpg", group_photo()), upload("obama2.jpg"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    row = comparison(app, result_id(html))
    assert len(row.faces_a["faces"]) == 2 and len(row.faces_b["faces"]) == 1
    assert face_boxes(html) == 3
    largest = max(range(2), key=lambda index: row.faces_a["faces"][index]["box"]["w"])
    assert row.face_a == largest and row.verified is True  # Obama, the larger face, against Obama
    assert "Click another box" in html

    other = 1 - largest
    chosen = staff_client.post(
        f"/faces/comparisons/{row.id}/faces",
        data={"face_a": str(other)},
        headers={**HTMX, "X-CSRFToken": csrf_token(staff_client, "/faces/compare")},
    )
    assert chosen.status_code == 200 and "Different people" in chosen.get_data(as_text=True)
    after = comparison(app, row.id)
    assert (after.face_a, after.verified, after.cached) == (other, False, True)

    out_of_range = staff_client.post(
        f"/faces/comparisons/{row.id}/faces",
        data={"face_b": "5"},
        headers={**HTMX, "X-CSRFToken": csrf_token(staff_client, "/faces/compare")},
    )
    assert out_of_range.status_code == 400 and "no face number 6" in out_of_range.get_data(as_text=True)


def test_photo_without_a_face_gives_422_with_the_photo_shown(app: Flask, staff_client: FlaskClient):
    response = compare(staff_client, upload("gradient.png", gradient_png()), upload("obama.jpg"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert "No face was found in “gradient.png”" in html
    row = comparison(app, result_id(html))
    assert row.status == "failed" and row.faces_a["faces"] == [] and len(row.faces_b["faces"]) == 1
    assert f'href="/faces/comparisons/{row.id}/photo/a"' in html
    # A plain form post (no htmx) lands on the result page, with the same status.
    plain = compare(staff_client, row.file_a_id, row.file_b_id, htmx=False)
    assert plain.status_code == 303
    page = staff_client.get(plain.headers["Location"])
    assert page.status_code == 422 and "No face was found" in page.get_data(as_text=True)


def test_not_an_image_or_no_photo_gives_400_with_the_reason(app: Flask, staff_client: FlaskClient):
    text_upload = compare(staff_client, (io.BytesIO(b"just some words\n"), "notes.jpg"), upload("obama.jpg"))
    assert text_upload.status_code in (400, 415, 422)
    assert text_upload.status_code == 400, text_upload.get_data(as_text=True)
    missing = compare(staff_client, upload("obama.jpg"), None)
    assert missing.status_code == 400
    assert "Choose the second photo" in missing.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(FaceComparison.id))) == 0


def test_a_library_document_is_refused_as_a_photo(app: Flask, staff_client: FlaskClient):
    stored = staff_client.post(
        "/files/upload",
        data={
            "csrf_token": csrf_token(staff_client, "/files/upload"),
            "file": (io.BytesIO(b"name,count\nanna,3\n"), "list.csv"),
        },
        content_type="multipart/form-data",
        headers=HTMX,
    )
    assert stored.status_code == 201, stored.get_data(as_text=True)
    with app.app_context():
        document_id = db.session.scalar(select(StoredFile.id))
    response = compare(staff_client, document_id, upload("obama.jpg"))
    assert response.status_code == 400 and "is not a photo" in response.get_data(as_text=True)


def test_analyse_labels_every_face_and_refuses_a_photo_without_one(app: Flask, staff_client: FlaskClient):
    response = analyze(staff_client, upload("obama.jpg"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert "1 face found" in html and face_boxes(html) == 1
    assert re.search(r"\d+ male \w+</text>", html)
    assert re.search(r"<td>male <small class=\"muted\">\(\d+%\)</small></td>", html)
    with app.app_context():
        row = db.session.scalar(select(FaceAnalysis))
        face = row.faces["faces"][0]
    assert face["gender"] == "male" and 25 <= face["age"] <= 70 and face["emotion"]
    none = analyze(staff_client, upload("gradient.png", gradient_png()))
    assert none.status_code == 422 and "No face was found" in none.get_data(as_text=True)
    assert "/photo/photo" in none.get_data(as_text=True)


def test_missing_weights_give_a_503_naming_the_file(tmp_path: Path, staff: object, app: Flask):
    from webapp.faces.runtime import EngineSettings, FacesRuntime

    app.extensions["faces"] = FacesRuntime(EngineSettings.from_config({**app.config, "DEEPFACE_HOME": tmp_path}))
    client = app.test_client()
    from tests.support.web import login

    login(client, "sam@example.com", "correct horse battery staple")
    response = compare(client, upload("obama.jpg"), upload("obama2.jpg"))
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html
    assert "dlib_face_recognition_resnet_model_v1.dat" in html and "make weights" in html
    assert not (tmp_path / ".deepface").exists()  # nothing was downloaded, nothing attempted


def test_history_lists_filters_paginates_and_deletes(app: Flask, staff_client: FlaskClient):
    same = result_id(compare(staff_client, upload("obama.jpg"), upload("obama2.jpg")).get_data(as_text=True))
    first = comparison(app, same)
    different = result_id(compare(staff_client, first.file_a_id, upload("biden.jpg")).get_data(as_text=True))
    analysis = result_id(analyze(staff_client, first.file_a_id).get_data(as_text=True), "analysis")

    page = staff_client.get("/faces/history").get_data(as_text=True)
    assert page.count('class="history-row"') == 3
    assert "Same person" in page and "Different people" in page and "Analysis: 1 face" in page
    assert f"/faces/comparisons/{same}/thumbnail/a" in page
    assert staff_client.get(f"/faces/comparisons/{same}/thumbnail/a").headers["Content-Type"] == "image/webp"

    only_same = staff_client.get("/faces/history?verdict=same").get_data(as_text=True)
    assert only_same.count('class="history-row"') == 1 and f"/faces/comparisons/{same}" in only_same
    only_different = staff_client.get("/faces/history?verdict=different").get_data(as_text=True)
    assert only_different.count('class="history-row"') == 1 and f"/faces/comparisons/{different}" in only_different
    analyses = staff_client.get("/faces/history?verdict=analysis").get_data(as_text=True)
    assert analyses.count('class="history-row"') == 1 and f"/faces/analyses/{analysis}" in analyses

    app.config["PAGE_SIZE"] = 2
    first_page = staff_client.get("/faces/history").get_data(as_text=True)
    second_page = staff_client.get("/faces/history?page=2").get_data(as_text=True)
    assert first_page.count('class="history-row"') == 2 and "Page 1 of 2" in first_page
    assert second_page.count('class="history-row"') == 1 and f'/faces/comparisons/{same}"' in second_page

    detail = staff_client.get(f"/faces/comparisons/{same}")
    assert detail.status_code == 200 and "Same person" in detail.get_data(as_text=True)
    deleted = staff_client.post(
        f"/faces/comparisons/{same}/delete", data={"csrf_token": csrf_token(staff_client, "/faces/history")}
    )
    assert deleted.status_code == 303
    assert staff_client.get(f"/faces/comparisons/{same}").status_code == 404
    with app.app_context():  # the photos stay in the library
        assert db.session.scalar(select(func.count(StoredFile.id))) == 3

    card = staff_client.get("/").get_data(as_text=True)
    assert "Different people" in card and "1 face(s) analysed" in card


def test_other_users_get_404_on_every_route_and_admins_review_everyone(
    app: Flask,
    staff_client: FlaskClient,
    other_client: FlaskClient,
    admin_client: FlaskClient,
    staff_token: str,
    other_staff,
    other_token: str,
):
    html = compare(staff_client, upload("obama.jpg"), upload("obama2.jpg")).get_data(as_text=True)
    row = comparison(app, result_id(html))
    analysis = result_id(analyze(staff_client, row.file_a_id).get_data(as_text=True), "analysis")
    token = csrf_token(other_client, "/faces/compare")

    gets = [
        f"/faces/comparisons/{row.id}",
        f"/faces/comparisons/{row.id}/result",
        f"/faces/comparisons/{row.id}/photo/a",
        f"/faces/comparisons/{row.id}/thumbnail/b",
        f"/faces/analyses/{analysis}",
        f"/faces/analyses/{analysis}/result",
        f"/faces/analyses/{analysis}/photo/photo",
        f"/faces/analyses/{analysis}/thumbnail/photo",
    ]
    for url in gets:
        assert other_client.get(url).status_code == 404, url
    posts = [
        (f"/faces/comparisons/{row.id}/faces", {"face_a": "0"}),
        (f"/faces/comparisons/{row.id}/delete", {}),
        (f"/faces/analyses/{analysis}/delete", {}),
    ]
    for url, data in posts:
        assert other_client.post(url, data={"csrf_token": token, **data}).status_code == 404, url
    # Someone else's library file cannot be picked.
    picked = compare(other_client, row.file_a_id, upload("obama.jpg"))
    assert picked.status_code == 404
    assert "history-row" not in other_client.get("/faces/history").get_data(as_text=True)

    for url in (f"/api/face/verify/{row.id}", f"/api/face/analyze/{analysis}"):
        assert app.test_client().get(url, headers=bearer(other_token)).status_code == 404
        assert app.test_client().get(url, headers=bearer(staff_token)).status_code == 200
    body = app.test_client().post(
        "/api/face/verify", json={"image1": row.file_a_id, "image2": row.file_b_id}, headers=bearer(other_token)
    )
    assert body.status_code == 404

    # Admins see everyone's, can filter by owner and open the result with its photos.
    review = admin_client.get("/faces/history").get_data(as_text=True)
    assert review.count('class="history-row"') == 2 and "Sam Staff" in review
    assert (
        admin_client.get(f"/faces/history?owner={other_staff.id}").get_data(as_text=True).count('class="history-row"')
        == 0
    )
    give_reason(admin_client, "comparison", row.id)
    give_reason(admin_client, "analysis", analysis)
    assert admin_client.get(f"/faces/comparisons/{row.id}").status_code == 200
    assert admin_client.get(f"/faces/comparisons/{row.id}/photo/a").status_code == 200
    assert admin_client.get(f"/faces/analyses/{analysis}").status_code == 200
    # Each review of someone else's result page is in the audit log; the owner's own views are not.
    with app.app_context():
        reviews = db.session.execute(
            select(AuditEvent.action, AuditEvent.target_id)
            .where(AuditEvent.action.like("face.%.review_view"))
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(r) for r in reviews] == [
        ("face.comparison.review_view", str(row.id)),
        ("face.analysis.review_view", str(analysis)),
    ]


@pytest.mark.both_databases
def test_deleting_a_file_deletes_its_embeddings_and_keeps_the_result(
    app: Flask, staff_client: FlaskClient, db_backend: str
):
    html = compare(staff_client, upload("obama.jpg"), upload("obama2.jpg")).get_data(as_text=True)
    row = comparison(app, result_id(html))
    assert embedding_count(app) == 2
    deleted = staff_client.post(
        f"/files/{row.file_a_id}/delete", data={"csrf_token": csrf_token(staff_client, "/files/")}
    )
    assert deleted.status_code in (302, 303)
    with app.app_context():
        remaining = list(db.session.scalars(select(FaceEmbedding.file_id)))
        kept = db.session.get(FaceComparison, row.id)
        assert remaining == [row.file_b_id]
        assert kept.file_a_id is None and kept.verified is True and kept.name_a == "obama.jpg"
    page = staff_client.get(f"/faces/comparisons/{row.id}").get_data(as_text=True)
    assert "obama.jpg (deleted from your files)" in page


def test_api_verify_and_analyze(app: Flask, staff_token: str):
    client = app.test_client()
    # image1 is an iPhone-style HEIC photo: the engine decodes it through pillow-heif.
    response = client.post(
        "/api/face/verify",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image1": upload("obama.heic", heic_photo("obama.jpg")), "image2": upload("obama2.jpg")},
    )
    body = response.get_json()
    assert response.status_code == 200, body
    for key in ("verified", "distance", "threshold", "model", "detector", "similarity_metric", "faces", "time_ms"):
        assert key in body, key
    assert body["verified"] is True and body["similarity_metric"] == "cosine" and body["model"] == "Dlib"
    assert len(body["faces"]["image1"]) == 1 and set(body["faces"]["image1"][0]["box"]) == {"x", "y", "w", "h"}

    by_id = client.post(
        "/api/face/verify",
        headers=bearer(staff_token),
        json={"image1": body["files"]["image1"], "image2": body["files"]["image2"]},
    )
    again = by_id.get_json()
    assert by_id.status_code == 200 and again["cached"] is True
    assert (again["verified"], again["distance"]) == (body["verified"], body["distance"])

    analysed = client.post(
        "/api/face/analyze",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image": upload("obama.jpg")},
    )
    faces = analysed.get_json()["faces"]
    assert analysed.status_code == 200 and len(faces) == 1
    assert {"box", "confidence", "age", "gender", "gender_confidence", "emotion", "emotion_confidence"} <= set(faces[0])


def test_api_errors_are_json(app: Flask, staff_token: str):
    client = app.test_client()
    no_face = client.post(
        "/api/face/verify",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image1": upload("gradient.png", gradient_png()), "image2": upload("obama.jpg")},
    )
    assert no_face.status_code == 422 and "No face" in no_face.get_json()["error"]
    assert no_face.get_json()["status"] == 422
    not_image = client.post(
        "/api/face/analyze",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image": (io.BytesIO(b"%PDF-not really"), "x.jpg")},
    )
    assert not_image.status_code == 400 and not_image.get_json()["error"]
    bad_json = client.post("/api/face/verify", headers=bearer(staff_token), json={"image1": "seven"})
    assert bad_json.status_code == 400 and "whole number" in bad_json.get_json()["error"]
    missing = client.post("/api/face/verify", headers=bearer(staff_token), json={"image1": 1})
    assert missing.status_code in (400, 404)
    # One photo over the per-file limit: 413 naming the limit; a whole request over the request limit: 413 too.
    app.config["MAX_UPLOAD_BYTES"] = 100_000
    too_large = client.post(
        "/api/face/verify",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image1": upload("obama.jpg"), "image2": upload("obama2.jpg")},
    )
    assert too_large.status_code == 413 and too_large.get_json()["status"] == 413
    assert "MB limit" in too_large.get_json()["error"]
    app.config["MAX_UPLOAD_REQUEST_BYTES"] = 200_000
    whole = client.post(
        "/api/face/verify",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image1": upload("obama.jpg"), "image2": upload("obama2.jpg")},
    )
    assert whole.status_code == 413 and whole.get_json()["status"] == 413
    assert client.post("/api/face/verify", data={}).status_code == 401


def test_every_admin_look_at_someone_elses_result_and_photos_is_audited_once_a_minute(
    app: Flask, staff_client: FlaskClient, admin_client: FlaskClient, staff, admin
):
    sent = upload_files(staff_client, ("a.jpg", jpeg()), ("b.jpg", jpeg()), htmx=True)
    assert sent.status_code == 201
    with app.app_context():
        file_a, file_b = db.session.scalars(select(StoredFile.id).order_by(StoredFile.id))
        row = FaceComparison(
            user_id=staff.id,
            file_a_id=file_a,
            file_b_id=file_b,
            name_a="a.jpg",
            name_b="b.jpg",
            model="Dlib",
            detector="dlib",
            status="failed",
            error="No face was found in “a.jpg”.",
            error_status=422,
        )
        db.session.add(row)
        db.session.commit()
        row_id = row.id
    embedded = [f"/faces/comparisons/{row_id}/{path}" for path in ("photo/a", "photo/b", "thumbnail/a", "result")]

    def reviews() -> list[tuple[int, str, str]]:
        with app.app_context():
            return [
                tuple(event)
                for event in db.session.execute(
                    select(AuditEvent.user_id, AuditEvent.action, AuditEvent.target_id).where(
                        AuditEvent.action.like("face.%.review_view")
                    )
                )
            ]

    # The owner's own looks are not reviews.
    for url in embedded:
        assert staff_client.get(url).status_code in (200, 422), url
    assert reviews() == []

    # The admin (having given a reason) opens the photos, thumbnail and result without the page: one row covers them.
    give_reason(admin_client, "comparison", row_id)
    for url in embedded:
        assert admin_client.get(url).status_code in (200, 422), url
    assert reviews() == [(admin.id, "face.comparison.review_view", str(row_id))]

    # A minute later the photo alone is a new look; the page itself is one row per view.
    with app.app_context():
        for event in db.session.scalars(select(AuditEvent)):
            event.created_at -= timedelta(minutes=2)
        db.session.commit()
    admin_client.get(embedded[0])
    admin_client.get(f"/faces/comparisons/{row_id}")
    assert reviews() == [(admin.id, "face.comparison.review_view", str(row_id))] * 3
