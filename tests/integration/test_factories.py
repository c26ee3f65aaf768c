"""The factories of tests/support/factories.py make, in one line each, what the app then serves as its own."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from tests.support.factories import make_conversation, make_face_result, make_file, make_token, make_user
from tests.support.web import Account, bearer, login


def test_make_user_makes_people_who_sign_in_with_their_role(app: Flask) -> None:
    staff, admin = make_user(app), make_user(app, "admin")

    assert staff.email != admin.email and (staff.role, admin.role) == ("staff", "admin")
    for account, admin_page in ((staff, 403), (admin, 200)):
        client = app.test_client()
        assert login(client, account.email, account.password).status_code == 302
        assert client.get("/admin/users").status_code == admin_page


def test_make_token_gives_a_token_the_api_accepts(app: Flask) -> None:
    token = make_token(app, make_user(app))

    assert app.test_client().get("/api/files", headers=bearer(token)).status_code == 200
    assert app.test_client().get("/api/files", headers=bearer(token + "x")).status_code == 401


def test_make_conversation_alternates_questions_and_replies(
    app: Flask, staff: Account, staff_client: FlaskClient
) -> None:
    conversation = make_conversation(app, staff, messages=3, title="Trip to Lisbon")

    assert [(message.role, message.content) for message in conversation.messages] == [
        ("user", "Question 1"),
        ("assistant", "Reply 1"),
        ("user", "Question 2"),
    ]
    page = staff_client.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert "Trip to Lisbon" in page and "Reply 1" in page and "Question 2" in page


def test_make_file_stores_a_photo_or_a_text_file_in_the_library(
    app: Flask, staff: Account, staff_client: FlaskClient
) -> None:
    photo = make_file(app, staff, photo=True)
    notes = make_file(app, staff, at=datetime(2026, 1, 2, tzinfo=UTC))

    download = staff_client.get(f"/files/{photo.id}/download")
    assert download.status_code == 200 and download.mimetype == "image/jpeg"
    assert staff_client.get(f"/files/{notes.id}/download").data == b"Notes for the meeting\n"
    assert notes.created_at.date().isoformat() == "2026-01-02"


def test_make_face_result_shows_a_finished_comparison_and_analysis(
    app: Flask, staff: Account, staff_client: FlaskClient
) -> None:
    photo = make_file(app, staff, photo=True)
    comparison = make_face_result(app, staff, file=photo)
    analysis = make_face_result(app, staff, "analysis")

    assert comparison.status == "done" and comparison.verified and comparison.file_a_id == photo.id
    assert analysis.status == "done" and analysis.file_id is None
    for url in (f"/faces/comparisons/{comparison.id}", f"/faces/analyses/{analysis.id}"):
        response = staff_client.get(url)
        assert response.status_code == 200 and "photo.jpg" in response.get_data(as_text=True), url
