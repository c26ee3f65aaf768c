"""Admin review with a reason: an admin opening someone else's conversation, file or face result is asked why first
(a short form); the reason is kept in the audit row; the owner sees on their history page that an administrator
opened it, when and why, unless ADMIN_REVIEW_NOTIFY is off."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from tests.support.factories import make_conversation, make_face_result, make_file, make_user
from tests.support.web import REASON, give_reason, login, post_form
from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.review.models import AdminReview


def reason_rows(app) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "review.reason")))
        db.session.expunge_all()
        return rows


def asked_for(response) -> dict[str, list[str]]:
    """The reason form's query (kind, id, next) a response sends the admin to."""
    assert response.status_code == 302, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/admin/review"
    return parse_qs(location.query)


@pytest.mark.both_databases
def test_an_admin_gives_a_reason_before_opening_someones_conversation_and_it_is_audited(
    app, admin_client, admin, staff, db_backend
):
    conversation = make_conversation(app, staff, [("user", "My private question")], title="Salary talk")
    url = f"/admin/history/{conversation.id}"
    query = asked_for(admin_client.get(url))
    assert query == {"kind": ["conversation"], "id": [str(conversation.id)], "next": [url]}

    form = admin_client.get(f"/admin/review?kind=conversation&id={conversation.id}&next={url}")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "Why are you opening it?" in html
    assert "Sam Staff" in html and "Salary talk" in html and "My private question" not in html
    assert "will see on" in html  # ADMIN_REVIEW_NOTIFY is on by default

    short = post_form(
        admin_client,
        "/admin/review",
        {"kind": "conversation", "id": conversation.id, "next": url, "reason": "because"},
        page="/admin/users",
    )
    assert short.status_code == 400 and 'id="reason-error"' in short.get_data(as_text=True)
    assert "because</textarea>" in short.get_data(as_text=True)  # nothing typed is lost
    assert reason_rows(app) == []

    given = give_reason(admin_client, "conversation", conversation.id)
    assert given.status_code == 303 and given.headers["Location"] == url
    page = admin_client.get(url)
    assert page.status_code == 200 and "My private question" in page.get_data(as_text=True)
    assert admin_client.get(url).status_code == 200  # not asked again within the half hour

    (row,) = reason_rows(app)
    assert row.user_id == admin.id and (row.target_type, row.target_id) == ("conversation", str(conversation.id))
    assert REASON in row.detail and staff.email in row.detail

    # Another admin has not said why: asked again.
    other_admin = make_user(app, "admin")
    other = app.test_client()
    login(other, other_admin.email, other_admin.password)
    asked_for(other.get(url))


def test_an_admin_opening_a_file_or_a_face_result_is_asked_why_first(app, admin_client, admin, staff):
    photo = make_file(app, staff, photo=True)
    comparison = make_face_result(app, staff, file=photo)
    analysis = make_face_result(app, staff, "analysis", file=photo)
    asked = {
        f"/admin/files/{photo.id}/download": ("file", photo.id),
        f"/faces/comparisons/{comparison.id}": ("comparison", comparison.id),
        f"/faces/comparisons/{comparison.id}/result": ("comparison", comparison.id),
        f"/faces/comparisons/{comparison.id}/photo/a": ("comparison", comparison.id),
        f"/faces/analyses/{analysis.id}": ("analysis", analysis.id),
        f"/faces/analyses/{analysis.id}/photo/photo": ("analysis", analysis.id),
    }
    for url, (kind, target_id) in asked.items():
        assert asked_for(admin_client.get(url)) == {"kind": [kind], "id": [str(target_id)], "next": [url]}, url
    # Listings and their thumbnails are audited without asking.
    assert admin_client.get(f"/admin/files/{photo.id}/thumbnail").status_code == 200
    assert admin_client.get(f"/faces/comparisons/{comparison.id}/thumbnail/a").status_code == 200
    # A poll from htmx is told to open the form as a page.
    polled = admin_client.get(f"/faces/comparisons/{comparison.id}/result", headers={"HX-Request": "true"})
    assert polled.status_code == 204 and polled.headers["HX-Redirect"].startswith("/admin/review?kind=comparison")

    for kind, target_id in {("file", photo.id), ("comparison", comparison.id), ("analysis", analysis.id)}:
        give_reason(admin_client, kind, target_id)
    download = admin_client.get(f"/admin/files/{photo.id}/download")
    assert download.status_code == 200 and download.data[:2] == b"\xff\xd8"
    for url in asked:
        assert admin_client.get(url).status_code in (200, 422), url
    assert sorted(row.target_type for row in reason_rows(app)) == ["faceanalysis", "facecomparison", "storedfile"]


def test_the_owner_sees_on_the_history_page_that_an_administrator_opened_it_when_and_why(
    app, admin_client, staff_client, staff, other_staff
):
    conversation = make_conversation(app, staff, title="Salary talk")
    photo = make_file(app, staff, photo=True, name="passport.jpg")
    assert "Opened by an administrator" not in staff_client.get("/history").get_data(as_text=True)
    give_reason(admin_client, "conversation", conversation.id)
    give_reason(admin_client, "file", photo.id, "Virus scanner flagged this upload")

    html = staff_client.get("/history").get_data(as_text=True)
    assert "Opened by an administrator" in html
    assert "An administrator opened your conversation “Salary talk” on " in html
    assert f"Reason given: “{REASON}”" in html
    assert "An administrator opened your file “passport.jpg”" in html and "Virus scanner flagged" in html
    assert "Ada Admin" not in html  # an administrator, not which one
    with app.app_context():
        when = db.session.scalar(select(AdminReview.created_at).order_by(AdminReview.id))
    assert when.strftime("%Y-%m-%d %H:%M") in html
    # Only the owner's.
    other = app.test_client()
    login(other, other_staff.email, other_staff.password)
    assert "Opened by an administrator" not in other.get("/history").get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"ADMIN_REVIEW_NOTIFY": "off"}])
def test_with_admin_review_notify_off_the_reason_is_still_asked_and_audited_but_not_shown(
    app, admin_client, staff_client, staff
):
    conversation = make_conversation(app, staff, title="Salary talk")
    asked_for(admin_client.get(f"/admin/history/{conversation.id}"))
    form = admin_client.get(f"/admin/review?kind=conversation&id={conversation.id}").get_data(as_text=True)
    assert "kept in the audit log" in form and "will see on" not in form
    give_reason(admin_client, "conversation", conversation.id)
    assert len(reason_rows(app)) == 1
    assert "Opened by an administrator" not in staff_client.get("/history").get_data(as_text=True)


def test_an_admin_opens_their_own_things_without_a_reason(app, admin_client, admin):
    conversation = make_conversation(app, admin, title="Mine")
    assert admin_client.get(f"/admin/history/{conversation.id}").status_code == 200
    photo = make_file(app, admin, photo=True)
    assert admin_client.get(f"/admin/files/{photo.id}/download").status_code == 200
    assert reason_rows(app) == []


def test_staff_cannot_reach_the_reason_form_and_strangers_still_get_404(app, staff_client, other_staff, staff):
    conversation = make_conversation(app, other_staff)
    assert staff_client.get(f"/admin/review?kind=conversation&id={conversation.id}").status_code == 403
    data = {"kind": "conversation", "id": conversation.id, "reason": REASON}
    assert post_form(staff_client, "/admin/review", data, page="/history").status_code == 403
    result = make_face_result(app, other_staff)
    assert staff_client.get(f"/faces/comparisons/{result.id}").status_code == 404


def test_the_reason_form_refuses_unknown_kinds_and_ids_and_only_returns_to_this_site(app, admin_client, staff):
    assert admin_client.get("/admin/review?kind=password&id=1").status_code == 404
    assert admin_client.get("/admin/review?kind=conversation&id=99999").status_code == 404
    assert admin_client.get("/admin/review?kind=conversation&id=x").status_code == 404
    conversation = make_conversation(app, staff)
    data = {"kind": "conversation", "id": conversation.id, "reason": REASON, "next": "https://evil.example/"}
    response = post_form(admin_client, "/admin/review", data, page="/admin/users")
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/history/{conversation.id}"
