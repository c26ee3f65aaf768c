"""User management and the audit log: admins only, and the last admin always stays."""

import pytest
from sqlalchemy import select

from tests.support.web import login, post_form
from webapp.audit import service as audit
from webapp.audit.models import AuditEvent
from webapp.auth import service as users
from webapp.extensions import db

ADMIN_PAGES = ["/admin/users", "/admin/audit", "/admin/users/1"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_get_403_on_admin_pages(staff_client, admin, path):
    response = staff_client.get(path)
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


def test_staff_cannot_post_admin_actions(staff_client, admin, staff):
    response = post_form(staff_client, f"/admin/users/{staff.id}/role", {"role": "admin"}, page="/")
    assert response.status_code == 403


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_admin_creates_a_staff_user_who_can_sign_in(app, admin_client):
    response = post_form(
        admin_client,
        "/admin/users",
        {
            "email": "New.Person@Example.com",
            "name": "New Person",
            "password": "first password 1",
            "role": "staff",
        },
        page="/admin/users",
    )
    assert response.status_code == 302
    assert "new.person@example.com" in admin_client.get("/admin/users").get_data(as_text=True)
    assert login(app.test_client(), "new.person@example.com", "first password 1").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.created")) is not None


def test_duplicate_email_is_refused_beside_the_field(admin_client, staff):
    response = post_form(
        admin_client,
        "/admin/users",
        {
            "email": staff.email.upper(),
            "name": "Copy",
            "password": "first password 1",
            "role": "staff",
        },
        page="/admin/users",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and "already exists" in html


def test_admin_changes_a_role(app, admin_client, staff):
    response = post_form(admin_client, f"/admin/users/{staff.id}/role", {"role": "admin"}, page="/admin/users")
    assert response.status_code == 302
    with app.app_context():
        assert users.get_user(staff.id).role == "admin"


def test_the_last_active_admin_cannot_be_demoted(app, admin_client, admin):
    response = post_form(
        admin_client, f"/admin/users/{admin.id}/role", {"role": "staff"}, page="/admin/users", follow_redirects=True
    )
    assert response.status_code == 400
    assert "last active admin" in response.get_data(as_text=True)
    with app.app_context():
        assert users.get_user(admin.id).role == "admin"


def test_the_last_active_admin_cannot_be_deactivated(app, admin_client, admin):
    response = post_form(admin_client, f"/admin/users/{admin.id}/deactivate", page="/admin/users")
    assert response.status_code == 400
    assert "last active admin" in response.get_data(as_text=True)
    with app.app_context():
        assert users.get_user(admin.id).is_active


def test_an_admin_can_step_down_when_another_admin_is_active(app, admin_client, admin, staff):
    post_form(admin_client, f"/admin/users/{staff.id}/role", {"role": "admin"}, page="/admin/users")
    response = post_form(admin_client, f"/admin/users/{admin.id}/role", {"role": "staff"}, page="/admin/users")
    assert response.status_code == 302
    with app.app_context():
        assert users.get_user(admin.id).role == "staff"


def test_deactivating_ends_the_users_sessions_and_reactivating_lets_them_back(app, admin_client, staff_client, staff):
    assert staff_client.get("/").status_code == 200
    assert post_form(admin_client, f"/admin/users/{staff.id}/deactivate", page="/admin/users").status_code == 302
    assert staff_client.get("/").status_code == 302
    assert login(app.test_client(), staff.email, staff.password).status_code == 200
    assert post_form(admin_client, f"/admin/users/{staff.id}/reactivate", page="/admin/users").status_code == 302
    assert login(app.test_client(), staff.email, staff.password).status_code == 302


def test_password_reset_ends_sessions_and_sets_the_new_password(app, admin_client, staff_client, staff):
    response = post_form(
        admin_client, f"/admin/users/{staff.id}/password", {"new_password": "reset by admin 1"}, page="/admin/users"
    )
    assert response.status_code == 302
    assert staff_client.get("/").status_code == 302
    assert login(app.test_client(), staff.email, "reset by admin 1").status_code == 302


def test_unknown_user_id_is_404(admin_client):
    assert admin_client.get("/admin/users/9999").status_code == 404


def test_audit_log_lists_newest_first_and_filters_by_user(app, admin_client, admin, staff):
    login(app.test_client(), staff.email, "wrong password")
    login(app.test_client(), staff.email, staff.password)
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    assert html.index("auth.login<") < html.index("auth.login_failed")
    filtered = admin_client.get(f"/admin/audit?user={staff.id}").get_data(as_text=True)
    assert "sam@example.com" in filtered and "user.created" in filtered
    assert "ada@example.com" not in filtered.split("<tbody>")[1]


def test_audit_log_is_paginated(app, admin_client, admin):
    with app.app_context():
        for number in range(120):
            audit.record("test.event", detail=f"event number {number}")
        db.session.commit()
    first = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "event number 119" in first and "event number 60" not in first
    assert "Page 1 of 3" in first
    second = admin_client.get("/admin/audit?page=2").get_data(as_text=True)
    assert "event number 60" in second


def test_audit_log_pages_follow_the_page_size_setting(app, admin_client, admin):
    app.config["PAGE_SIZE"] = 10  # like every other list (it had 50 of its own)
    with app.app_context():
        for number in range(25):
            audit.record("test.event", detail=f"event number {number}")
        db.session.commit()
    first = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "event number 24" in first and "event number 15" in first and "event number 14" not in first
