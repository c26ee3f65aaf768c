"""API tokens end when what they stand for ends: a password change, an admin's reset, a deactivation, their
expiry (API_TOKEN_DAYS) or a revoke by the owner or an admin. Making one asks for the current password."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.support.factories import make_token
from tests.support.web import PASSWORD, bearer, post_form
from webapp.audit.models import AuditEvent
from webapp.auth import service as users
from webapp.auth.models import ApiToken
from webapp.extensions import db
from webapp.timeutil import as_utc, utcnow

NEW_PASSWORD = "a brand new password"


def answers(app, token: str) -> int:
    return app.test_client().get("/api/me", headers=bearer(token)).status_code


def create_on_page(client, name: str, password: str | None):
    # The scopes a browser sends as the page offers them: every area ticked.
    data = {"name": name, "scopes": ["chat", "files", "faces"]}
    if password is not None:
        data["current_password"] = password
    return post_form(client, "/account/tokens", data, page="/account/tokens")


def only_token(app, account) -> ApiToken:
    with app.app_context():
        tokens = users.list_tokens(users.get_user(account.id))
        assert len(tokens) == 1
        db.session.expunge(tokens[0])
        return tokens[0]


def test_a_password_change_revokes_the_users_tokens(app, staff_client, staff, staff_token):
    data = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert post_form(staff_client, "/account/password", data, page="/account").status_code == 302
    assert answers(app, staff_token) == 401
    assert "Revoked" in staff_client.get("/account/tokens").get_data(as_text=True)


def test_an_admin_password_reset_revokes_the_users_tokens(app, admin_client, staff, staff_token):
    response = post_form(admin_client, f"/admin/users/{staff.id}/password", {"new_password": NEW_PASSWORD}, page="/")
    assert response.status_code == 302
    assert answers(app, staff_token) == 401


def test_deactivating_revokes_tokens_so_reactivating_leaves_them_dead(app, admin_client, staff, staff_token):
    assert post_form(admin_client, f"/admin/users/{staff.id}/deactivate", page="/").status_code == 302
    assert post_form(admin_client, f"/admin/users/{staff.id}/reactivate", page="/").status_code == 302
    assert answers(app, staff_token) == 401
    assert answers(app, make_token(app, staff, "after reactivation")) == 200


def test_creating_a_token_asks_for_the_current_password(app, staff_client, staff):
    missing = create_on_page(staff_client, "nightly export", None)
    assert missing.status_code == 400 and 'id="current_password-error"' in missing.get_data(as_text=True)
    wrong = create_on_page(staff_client, "nightly export", "not my password")
    assert wrong.status_code == 400
    assert "current password is not right" in wrong.get_data(as_text=True)
    with app.app_context():
        assert users.list_tokens(users.get_user(staff.id)) == []
    assert create_on_page(staff_client, "nightly export", PASSWORD).status_code == 201


def test_password_guesses_at_token_creation_are_throttled(staff_client):
    statuses = [create_on_page(staff_client, "x", f"guess {attempt}").status_code for attempt in range(11)]
    assert statuses == [400] * 10 + [429]
    assert create_on_page(staff_client, "x", PASSWORD).status_code == 429


@pytest.mark.parametrize("app_overrides", [{"API_TOKEN_DAYS": 30}])
def test_tokens_expire_after_api_token_days(app, staff, staff_token):
    token = only_token(app, staff)
    assert abs(as_utc(token.expires_at) - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert answers(app, staff_token) == 200
    with app.app_context():  # 30 days later
        db.session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert answers(app, staff_token) == 401


def test_the_tokens_page_shows_expiry_and_last_use(app, staff_client, staff, staff_token):
    answers(app, staff_token)
    token = only_token(app, staff)
    html = staff_client.get("/account/tokens").get_data(as_text=True)
    assert "Expires" in html and as_utc(token.expires_at).strftime("%Y-%m-%d %H:%M") in html
    assert "Last used" in html and as_utc(token.last_used_at).strftime("%Y-%m-%d %H:%M") in html


def test_the_admins_user_page_lists_and_revokes_that_users_tokens_audited(app, admin_client, admin, staff, staff_token):
    token = only_token(app, staff)
    html = admin_client.get(f"/admin/users/{staff.id}").get_data(as_text=True)
    assert token.name in html and token.prefix in html
    response = post_form(admin_client, f"/admin/tokens/{token.id}/revoke", page=f"/admin/users/{staff.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/users/{staff.id}"
    assert answers(app, staff_token) == 401
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.revoked"))
        assert (event.user_id, event.target_id) == (admin.id, str(token.id))


def test_staff_cannot_revoke_through_the_admin_route(app, other_client, staff, staff_token):
    token = only_token(app, staff)
    assert post_form(other_client, f"/admin/tokens/{token.id}/revoke", page="/").status_code == 403
    assert answers(app, staff_token) == 200


def test_the_cli_makes_a_token_with_the_expiry_asked_for(app, staff):
    result = app.test_cli_runner().invoke(args=["tokens", "create", staff.email, "--name", "backup", "--days", "7"])
    assert result.exit_code == 0, result.output
    assert answers(app, result.output.strip()) == 200
    token = only_token(app, staff)
    assert abs(as_utc(token.expires_at) - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
