"""NUL characters in account text (found by the security scan: on PostgreSQL, which refuses NUL even in a lookup,
a sign-in with `%00` in the email answered 500, as did such a name or token name). As in messages and searches
(test_api_contract), they are dropped, on both databases."""

from __future__ import annotations

import pytest

from tests.support.web import PASSWORD, login, post_form
from webapp.auth import service as users
from webapp.auth.models import ApiToken, User
from webapp.extensions import db

pytestmark = pytest.mark.both_databases


def test_sign_in_with_nul_in_the_email_is_an_ordinary_attempt(client, staff):
    assert login(client, staff.email + "\x00", "wrong password").status_code == 200
    assert login(client, staff.email[:3] + "\x00" + staff.email[3:], PASSWORD).status_code == 302


def test_nul_is_dropped_from_names_and_token_names(app, staff, staff_client, admin_client):
    assert post_form(staff_client, "/account", {"name": "Sam\x00 Staff"}, page="/account").status_code == 302
    assert (
        post_form(
            staff_client,
            "/account/tokens",
            {"name": "ci\x00 job", "current_password": PASSWORD, "scopes": "chat"},
            page="/account/tokens",
        ).status_code
        == 201
    )
    created = {"email": "nu\x00l@example.com", "name": "Nu\x00l", "password": PASSWORD, "role": "staff"}
    assert post_form(admin_client, "/admin/users", created, page="/admin/users").status_code == 302
    with app.app_context():
        assert users.get_user(staff.id).name == "Sam Staff"
        assert db.session.scalar(db.select(ApiToken.name).where(ApiToken.user_id == staff.id)) == "ci job"
        assert db.session.scalar(db.select(User.name).where(User.email == "nul@example.com")) == "Nul"
