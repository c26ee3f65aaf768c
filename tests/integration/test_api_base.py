"""The API's base: health without auth, bearer tokens for everything else, JSON errors."""

import pytest

from tests.support.web import PASSWORD, bearer, post_form
from webapp.auth import service as users


@pytest.mark.both_databases
def test_health_reports_the_database(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_down(tmp_path):
    from tests.support.apps import build_app

    app = build_app(
        tmp_path,
        "postgresql+psycopg://nobody@127.0.0.1:9/none",
        {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}}},
    )
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    assert response.get_json() == {"error": "The database does not answer.", "status": 503, "database": "unavailable"}


def test_a_valid_token_authenticates(client, staff, staff_token):
    response = client.get("/api/me", headers=bearer(staff_token))
    assert response.status_code == 200
    assert response.get_json()["email"] == staff.email
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wb_not-a-real-token", "Basic dXNlcjpwYXNz", "Token x"])
def test_missing_or_wrong_tokens_get_json_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert body["status"] == 401 and "Bearer" in body["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401(app, client, staff, staff_token):
    with app.app_context():
        token = users.list_tokens(users.get_user(staff.id))[0]
        users.revoke_token(users.get_user(staff.id), token.id)
    assert client.get("/api/me", headers=bearer(staff_token)).status_code == 401


def test_a_deactivated_users_token_gets_401(app, client, staff, admin, staff_token):
    with app.app_context():
        users.set_active(users.get_user(staff.id), False, actor=users.get_user(admin.id))
    assert client.get("/api/me", headers=bearer(staff_token)).status_code == 401


def test_a_browser_session_does_not_authenticate_the_api(staff_client):
    """The API is exempt from CSRF, so it must not accept cookies."""
    assert staff_client.get("/api/me").status_code == 401


def test_tokens_page_shows_a_new_token_once_and_stores_only_its_hash(app, staff_client, staff):
    data = {"name": "nightly export", "current_password": PASSWORD, "scopes": ["chat", "files", "faces"]}
    response = post_form(staff_client, "/account/tokens", data, page="/account/tokens")
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    plain = html.split('id="new-token" type="text" readonly value="')[1].split('"')[0]
    assert plain.startswith("wb_") and len(plain) > 40
    assert plain not in staff_client.get("/account/tokens").get_data(as_text=True)
    with app.app_context():
        token = users.list_tokens(users.get_user(staff.id))[0]
        assert token.token_hash != plain and plain not in token.token_hash
    assert app.test_client().get("/api/me", headers=bearer(plain)).status_code == 200


def test_revoking_from_the_tokens_page(app, staff_client, staff, staff_token):
    with app.app_context():
        token_id = users.list_tokens(users.get_user(staff.id))[0].id
    response = post_form(staff_client, f"/account/tokens/{token_id}/revoke", page="/account/tokens")
    assert response.status_code == 302
    assert app.test_client().get("/api/me", headers=bearer(staff_token)).status_code == 401


def test_another_users_token_cannot_be_revoked(app, other_client, staff, staff_token):
    with app.app_context():
        token_id = users.list_tokens(users.get_user(staff.id))[0].id
    response = post_form(other_client, f"/account/tokens/{token_id}/revoke", page="/account/tokens")
    assert response.status_code == 404
    assert app.test_client().get("/api/me", headers=bearer(staff_token)).status_code == 200


def test_token_last_use_is_recorded(app, client, staff, staff_token):
    client.get("/api/me", headers=bearer(staff_token))
    with app.app_context():
        assert users.list_tokens(users.get_user(staff.id))[0].last_used_at is not None
