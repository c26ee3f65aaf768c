"""People: naming, listing, renaming, merging, splitting, deleting, suggested groups, "do not recognise" and the
retention purge, through the JSON API and the pages, with real photos and the real engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.support.faces import group_photo
from tests.support.people import add_photo, indexed
from tests.support.web import Account, bearer, csrf_token
from webapp.extensions import db
from webapp.faces.models import FaceEmbedding
from webapp.people.models import Face, Person
from webapp.timeutil import utcnow


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"FACE_INDEX_ON_UPLOAD": True}


@pytest.fixture
def library(app: Flask, staff: Account) -> dict[str, int]:
    """Three photos of Obama, one of Biden and the two of them together, indexed."""
    photos = {name: add_photo(app, staff, name) for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")}
    photos["group.jpg"] = add_photo(app, staff, "group.jpg", group_photo())
    indexed(app)
    return photos


def person_of(app: Flask, face_id: int) -> int | None:
    with app.app_context():
        return db.session.get(Face, face_id).person_id


def faces_of(app: Flask, file_id: int) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Face.id).where(Face.file_id == file_id).order_by(Face.face_index)))


@pytest.mark.both_databases
def test_a_person_named_from_one_photo_gets_their_other_faces_and_the_api_reads_renames_and_deletes_them(
    app: Flask, client: FlaskClient, staff_token: str, library: dict[str, int], db_backend: str
):
    created = client.post(
        "/api/people",
        json={"name": "  Barack  Obama ", "file_ids": [library["obama.jpg"]]},
        headers=bearer(staff_token),
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    # Every Obama face of the library is within the threshold of the one named: all four are his at once.
    assert body == {"id": body["id"], "name": "Barack Obama", "faces": 4, "photos": 4, "do_not_recognise": False}
    assert created.headers["Location"].endswith(f"/api/people/{body['id']}")
    obama = body["id"]
    assert person_of(app, faces_of(app, library["biden.jpg"])[0]) is None

    one = client.get(f"/api/people/{obama}", headers=bearer(staff_token)).get_json()
    expected = sorted(library[name] for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "group.jpg"))
    assert sorted(one["file_ids"]) == expected

    renamed = client.patch(f"/api/people/{obama}", json={"name": "Obama"}, headers=bearer(staff_token))
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Obama"
    listed = client.get("/api/people", headers=bearer(staff_token)).get_json()
    assert listed == {"items": [{"id": obama, "name": "Obama", "faces": 4, "photos": 4, "do_not_recognise": False}]}

    assert client.delete(f"/api/people/{obama}", headers=bearer(staff_token)).status_code == 204
    assert client.get(f"/api/people/{obama}", headers=bearer(staff_token)).status_code == 404
    assert person_of(app, faces_of(app, library["obama.jpg"])[0]) is None  # the faces stay, unnamed


def test_new_photos_of_a_named_person_are_assigned_to_them_when_indexed(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str
):
    first = add_photo(app, staff, "obama.jpg")
    indexed(app)
    person = client.post("/api/people", json={"name": "Obama", "file_ids": [first]}, headers=bearer(staff_token))
    later = add_photo(app, staff, "obama2.jpg")
    other = add_photo(app, staff, "biden.jpg")
    indexed(app)
    assert person_of(app, faces_of(app, later)[0]) == person.get_json()["id"]
    assert person_of(app, faces_of(app, other)[0]) is None


def test_a_photo_without_exactly_one_face_is_refused_naming_it_and_another_users_ids_are_404(
    app: Flask, client: FlaskClient, staff_token: str, other_staff: Account, other_token: str, library: dict[str, int]
):
    refused = client.post(
        "/api/people", json={"name": "Both", "file_ids": [library["group.jpg"]]}, headers=bearer(staff_token)
    )
    assert refused.status_code == 422
    assert "“group.jpg” shows 2 faces" in refused.get_json()["error"]
    theirs = add_photo(app, other_staff, "obama.jpg")
    indexed(app)
    assert (
        client.post("/api/people", json={"name": "X", "file_ids": [theirs]}, headers=bearer(staff_token)).status_code
        == 404
    )
    their_face = faces_of(app, theirs)[0]
    assert (
        client.post(
            "/api/people", json={"name": "X", "face_ids": [their_face]}, headers=bearer(staff_token)
        ).status_code
        == 404
    )
    mine = client.post(
        "/api/people", json={"name": "Biden", "file_ids": [library["biden.jpg"]]}, headers=bearer(staff_token)
    ).get_json()["id"]
    for method, url, body in (
        ("get", f"/api/people/{mine}", None),
        ("patch", f"/api/people/{mine}", {"name": "Taken"}),
        ("delete", f"/api/people/{mine}", None),
        ("post", f"/api/people/{mine}/split", {"face_ids": [faces_of(app, library["biden.jpg"])[0]]}),
    ):
        assert getattr(client, method)(url, json=body, headers=bearer(other_token)).status_code == 404
    other_person = client.post(
        "/api/people", json={"name": "Theirs", "file_ids": [theirs]}, headers=bearer(other_token)
    ).get_json()["id"]
    merge = client.post(f"/api/people/{mine}/merge", json={"into": other_person}, headers=bearer(staff_token))
    assert merge.status_code == 404
    assert [item["name"] for item in client.get("/api/people", headers=bearer(staff_token)).get_json()["items"]] == [
        "Biden"
    ]


def test_merge_moves_every_face_and_split_takes_one_away(
    app: Flask, client: FlaskClient, staff_token: str, library: dict[str, int]
):
    group_faces = faces_of(app, library["group.jpg"])
    # Named from faces: the group's Biden, and (wrongly) Obama's face of obama.jpg under another name.
    biden = client.post(
        "/api/people", json={"name": "Biden", "face_ids": [group_faces[1]]}, headers=bearer(staff_token)
    ).get_json()
    assert biden["faces"] == 2  # biden.jpg's face joined him
    wrong = client.post(
        "/api/people", json={"name": "Joe", "file_ids": [library["obama.jpg"]]}, headers=bearer(staff_token)
    ).get_json()
    merged = client.post(f"/api/people/{wrong['id']}/merge", json={"into": biden["id"]}, headers=bearer(staff_token))
    assert merged.status_code == 200 and merged.get_json()["faces"] == 2 + wrong["faces"]
    assert client.get(f"/api/people/{wrong['id']}", headers=bearer(staff_token)).status_code == 404
    itself = client.post(f"/api/people/{biden['id']}/merge", json={"into": biden["id"]}, headers=bearer(staff_token))
    assert itself.status_code == 400

    obama_face = faces_of(app, library["obama.jpg"])[0]
    split = client.post(
        f"/api/people/{biden['id']}/split",
        json={"face_ids": [obama_face], "name": "Obama"},
        headers=bearer(staff_token),
    )
    assert split.status_code == 200
    body = split.get_json()
    assert body["new_person"]["name"] == "Obama" and body["new_person"]["faces"] == 1
    assert body["person"]["faces"] == merged.get_json()["faces"] - 1
    assert person_of(app, obama_face) == body["new_person"]["id"]
    not_theirs = client.post(
        f"/api/people/{biden['id']}/split", json={"face_ids": [obama_face]}, headers=bearer(staff_token)
    )
    assert not_theirs.status_code == 400


def test_unnamed_faces_are_grouped_and_a_group_is_named_in_one_step_on_the_pages(
    app: Flask, staff_client: FlaskClient, library: dict[str, int]
):
    page = staff_client.get("/people/unnamed")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # Obama's four faces in one suggested group, Biden's two in another, largest first.
    assert "Suggested person 1: 4 faces" in html and "Suggested person 2: 2 faces" in html
    token = csrf_token(staff_client, "/people/unnamed")
    obama_faces = [faces_of(app, library[name])[0] for name in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    named = staff_client.post(
        "/people/unnamed",
        data={"csrf_token": token, "name": "Barack", "face_ids": [str(face) for face in obama_faces]},
    )
    assert named.status_code == 303
    person_page = staff_client.get(named.headers["Location"]).get_data(as_text=True)
    assert "<h1>Barack</h1>" in person_page and "4 photos, 4 faces." in person_page
    people_page = staff_client.get("/people/").get_data(as_text=True)
    assert "Barack" in people_page and 'class="face-crop"' in people_page
    assert "Suggested person 2" not in staff_client.get("/people/unnamed").get_data(as_text=True)

    with app.app_context():
        person_id = db.session.scalar(select(Person.id))
    not_them = staff_client.post(
        f"/people/{person_id}/split", data={"csrf_token": token, "face_id": str(obama_faces[0])}
    )
    assert not_them.status_code == 303
    assert "3 photos, 3 faces." in staff_client.get(f"/people/{person_id}").get_data(as_text=True)


def test_do_not_recognise_deletes_their_faces_and_keeps_new_photos_of_them_out(
    app: Flask, client: FlaskClient, staff: Account, staff_token: str, library: dict[str, int]
):
    obama = client.post(
        "/api/people", json={"name": "Obama", "file_ids": [library["obama.jpg"]]}, headers=bearer(staff_token)
    ).get_json()["id"]
    changed = client.patch(f"/api/people/{obama}", json={"do_not_recognise": True}, headers=bearer(staff_token))
    assert changed.status_code == 200
    assert changed.get_json() | {"file_ids": []} == {
        "id": obama,
        "name": "Obama",
        "faces": 0,
        "photos": 0,
        "do_not_recognise": True,
        "file_ids": [],
    }
    with app.app_context():
        remaining = db.session.scalars(select(Face.file_id)).all()
        person = db.session.get(Person, obama)
        assert len(person.exclusion) == 128 * 4  # the one vector kept for the exclusion
    assert sorted(remaining) == sorted([library["biden.jpg"], library["group.jpg"]])  # Biden's faces only

    # A new photo of him is indexed without his face, and a search with his photo finds nothing.
    later = add_photo(app, staff, "obama_partial_face.jpg")
    indexed(app)
    assert faces_of(app, later) == []
    search = client.post(
        "/api/face/search?all=true", json={"file_id": library["obama2.jpg"]}, headers=bearer(staff_token)
    )
    assert search.status_code == 200 and search.get_json()["matches"] == []
    biden = client.post("/api/face/search", json={"file_id": library["biden.jpg"]}, headers=bearer(staff_token))
    assert [match["file_id"] for match in biden.get_json()["matches"]] == [library["group.jpg"]]


def test_the_purge_deletes_embeddings_older_than_the_retention(
    app: Flask, client: FlaskClient, staff_token: str, library: dict[str, int]
):
    with app.app_context():
        old = utcnow() - timedelta(days=40)
        db.session.execute(update(Face).where(Face.file_id == library["obama.jpg"]).values(created_at=old))
        db.session.add(
            FaceEmbedding(
                file_id=library["biden.jpg"],
                model="Dlib",
                detector="dlib",
                max_side=640,
                face_index=0,
                box={"x": 1, "y": 1, "w": 2, "h": 2},
                confidence=1.0,
                image_width=10,
                image_height=10,
                vector=[0.1] * 128,
                created_at=old,
            )
        )
        db.session.commit()
    runner = app.test_cli_runner()
    unset = runner.invoke(args=["faces", "purge"])
    assert unset.exit_code == 0 and "embeddings are kept" in unset.output
    app.config["FACE_EMBEDDING_RETENTION_DAYS"] = 30
    purged = runner.invoke(args=["faces", "purge"])
    assert purged.exit_code == 0 and "older than 30 days deleted: 2." in purged.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Face.id)).where(Face.embedding.is_(None))) == 1
        assert db.session.scalar(select(func.count(FaceEmbedding.id))) == 0
    found = client.post("/api/face/search", json={"file_id": library["obama2.jpg"]}, headers=bearer(staff_token))
    assert library["obama.jpg"] not in [match["file_id"] for match in found.get_json()["matches"]]


def test_the_library_shows_only_the_photos_with_every_chosen_person_or_with_nobody_recognised(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, staff_token: str, library: dict[str, int]
):
    def shown(query: str) -> set[str]:
        html = staff_client.get(f"/files/?view=list{query}").get_data(as_text=True)
        on_the_page = {name for name in library if f">{name}<" in html}
        listed = client.get(f"/api/files?per_page=100{query}", headers=bearer(staff_token)).get_json()["items"]
        assert {item["name"] for item in listed} == on_the_page  # the API filters as the page does
        return on_the_page

    obama = client.post(
        "/api/people", json={"name": "Obama", "file_ids": [library["obama.jpg"]]}, headers=bearer(staff_token)
    ).get_json()["id"]
    biden = client.post(
        "/api/people", json={"name": "Biden", "file_ids": [library["biden.jpg"]]}, headers=bearer(staff_token)
    ).get_json()["id"]
    assert shown(f"&person={obama}") == {"obama.jpg", "obama2.jpg", "obama3.jpg", "group.jpg"}
    assert shown(f"&person={obama}&person={biden}") == {"group.jpg"}
    assert shown("") == set(library)
    page = staff_client.get(f"/files/?person={obama}").get_data(as_text=True)
    assert f'value="{obama}" checked' in page and "Nobody recognised" in page
    client.post(
        f"/api/people/{biden}/split",
        json={"face_ids": faces_of(app, library["biden.jpg"])},
        headers=bearer(staff_token),
    )
    assert shown("&person=none") == {"biden.jpg"}


def test_odd_ids_in_the_people_filter_and_the_naming_form_are_refused_without_an_error(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, staff_token: str
):
    # "²" is a digit to str.isdigit but not a number to int(): never a 500.
    assert staff_client.get("/files/?person=%C2%B2&person=99999999999999999999").status_code == 200
    refused = client.get("/api/files?person=%C2%B2", headers=bearer(staff_token))
    assert refused.status_code == 400 and "person" in refused.get_json()["error"]
    token = csrf_token(staff_client, "/people/unnamed")
    named = staff_client.post("/people/unnamed", data={"csrf_token": token, "name": "X", "face_ids": ["²", "-1"]})
    assert named.status_code == 400 and "Choose at least one photo or face" in named.get_data(as_text=True)
    merged = staff_client.post("/people/1/merge", data={"csrf_token": token, "into": "²"})
    assert merged.status_code == 404
