"""API tokens with scopes: each token is made for chosen scopes (chat, files, faces, read-only); a route outside
them answers 403 naming the scope it needs and changes nothing; tokens made before scopes keep full access; the
tokens page shows scopes, expiry and last use."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import select, text

from tests.support.chat import chat_settings, reset
from tests.support.factories import make_conversation, make_file, make_token
from tests.support.web import PASSWORD, bearer, post_form
from webapp.api.spec import TAG_SCOPES
from webapp.audit.models import AuditEvent
from webapp.auth.models import ApiToken
from webapp.extensions import db
from webapp.files.models import StoredFile


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def refusal(response, scope: str) -> str:
    assert response.status_code == 403, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == 403 and body["scope"] == scope
    return body["error"]


@pytest.mark.both_databases
def test_a_files_token_uses_files_and_is_refused_chat_naming_the_scope(app, client, staff, db_backend):
    token = make_token(app, staff, "uploader", scopes=("files",))
    make_file(app, staff)
    assert client.get("/api/files", headers=bearer(token)).status_code == 200

    error = refusal(client.post("/api/chat", json={"message": "Hello"}, headers=bearer(token)), "chat")
    assert "it needs the scope “chat”" in error and "(files)" in error
    error = refusal(client.get("/api/conversations", headers=bearer(token)), "chat")
    assert "“chat” or “read-only”" in error
    refusal(client.post("/api/face/analyze", json={"image": 1}, headers=bearer(token)), "faces")
    with app.app_context():  # refused before anything was read or written
        assert db.session.execute(text("SELECT count(*) FROM conversations")).scalar() == 0


@pytest.mark.both_databases
def test_a_read_only_token_reads_every_area_and_changes_nothing(app, client, staff, db_backend):
    token = make_token(app, staff, "report", scopes=("read-only",))
    stored = make_file(app, staff)
    conversation = make_conversation(app, staff)
    assert client.get("/api/files", headers=bearer(token)).status_code == 200
    assert client.get(f"/api/files/{stored.id}/url", headers=bearer(token)).status_code == 200
    assert client.get(f"/api/conversations/{conversation.id}", headers=bearer(token)).status_code == 200
    assert client.get("/api/face/verify/1", headers=bearer(token)).status_code == 404  # read, found nothing

    error = refusal(client.delete(f"/api/files/{stored.id}", headers=bearer(token)), "files")
    assert "it needs the scope “files”" in error and "read-only" in error
    refusal(client.delete(f"/api/conversations/{conversation.id}", headers=bearer(token)), "chat")
    with app.app_context():
        assert db.session.get(StoredFile, stored.id).deleted_at is None
    assert client.get(f"/api/conversations/{conversation.id}", headers=bearer(token)).status_code == 200


def test_scopes_add_up_and_the_token_itself_needs_none(app, client, staff):
    token = make_token(app, staff, "mixed", scopes=("files", "read-only"))
    stored = make_file(app, staff)
    assert client.get("/api/conversations", headers=bearer(token)).status_code == 200
    assert client.delete(f"/api/files/{stored.id}", headers=bearer(token)).status_code == 204
    refusal(client.post("/api/chat", json={"message": "Hi"}, headers=bearer(token)), "chat")
    for scopes in (("faces",), ("read-only",), ("chat", "files", "faces")):
        assert client.get("/api/me", headers=bearer(make_token(app, staff, "me", scopes=scopes))).status_code == 200


def test_a_token_with_full_access_reaches_every_area(app, client, staff):
    token = make_token(app, staff)
    assert client.post("/api/chat", json={"message": "Hello"}, headers=bearer(token)).status_code == 200
    assert client.get("/api/files", headers=bearer(token)).status_code == 200
    assert client.get("/api/face/analyze/1", headers=bearer(token)).status_code == 404


def test_the_openapi_document_lists_the_403_of_every_scoped_operation(client):
    document = client.get("/api/openapi.json").get_json()
    assert set(TAG_SCOPES) >= {"chat", "projects", "prompts", "files", "faces"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            scoped = operation["tags"][0] in TAG_SCOPES
            assert ("403" in operation["responses"]) == scoped, (method, path)


def test_the_tokens_page_makes_a_token_for_the_scopes_ticked_and_shows_scopes_expiry_and_last_use(
    app, staff_client, staff
):
    data = {"name": "photo sync", "current_password": PASSWORD, "scopes": ["files", "read-only"]}
    response = post_form(staff_client, "/account/tokens", data, page="/account/tokens")
    assert response.status_code == 201
    plain = response.get_data(as_text=True).split('id="new-token" type="text" readonly value="')[1].split('"')[0]
    assert app.test_client().get("/api/files", headers=bearer(plain)).status_code == 200
    assert app.test_client().post("/api/chat", json={"message": "x"}, headers=bearer(plain)).status_code == 403

    html = staff_client.get("/account/tokens").get_data(as_text=True)
    with app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == staff.id))
        assert token.scopes == "files,read-only"
        assert token.last_used_at is not None
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.created"))
        assert "scopes files,read-only" in event.detail
    assert '<th scope="col">Scopes</th>' in html and "files, read-only" in html
    assert token.expires_at.strftime("%Y-%m-%d") in html and "Last used" in html
    # The form offers every scope, the areas ticked by default.
    page = staff_client.get("/account/tokens").get_data(as_text=True)
    ticked = re.findall(r'<input checked id="scopes-\d" name="scopes" type="checkbox" value="([^"]+)">', page)
    assert ticked == ["chat", "files", "faces"] and 'value="read-only"' in page


def test_a_token_with_no_scope_is_refused_beside_the_field_and_nothing_typed_is_lost(app, staff_client, staff):
    data = {"name": "nothing at all", "current_password": PASSWORD}
    response = post_form(staff_client, "/account/tokens", data, page="/account/tokens")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="scopes-error"' in html and "Choose at least one scope" in html
    assert 'value="nothing at all"' in html
    with app.app_context():
        assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == staff.id)) is None


def test_the_cli_makes_a_token_for_the_scopes_named_and_full_access_by_default(app, staff):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tokens", "create", staff.email, "--name", "faces job", "--scope", "faces"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["tokens", "create", staff.email, "--name", "everything"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["tokens", "create", staff.email, "--name", "bad", "--scope", "admin"])
    assert result.exit_code != 0 and "admin" in result.output
    with app.app_context():
        scopes = dict(db.session.execute(select(ApiToken.name, ApiToken.scopes)).all())
    assert scopes == {"faces job": "faces", "everything": "chat,files,faces"}


@pytest.mark.both_databases
def test_tokens_made_before_scopes_keep_full_access(app, client, db_backend):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(revision="0010")  # the schema before scopes
        now = datetime.now(UTC)
        values = {"now": now, "true": True}
        db.session.execute(
            text(
                "INSERT INTO users (email, name, password_hash, role, is_active, session_version, created_at) "
                "VALUES ('old@example.com', 'Old', '!', 'staff', :true, 1, :now)"
            ),
            values,
        )
        owner = db.session.scalar(text("SELECT id FROM users WHERE email = 'old@example.com'"))
        db.session.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) "
                "VALUES (:owner, 'old script', :hash, 'wb_old', :now, :later)"
            ),
            values | {"owner": owner, "hash": "0" * 64, "later": now.replace(year=now.year + 1)},
        )
        db.session.commit()
        upgrade()
        token = db.session.scalar(select(ApiToken))
        assert token.scope_list == ["chat", "files", "faces"]
        assert all(token.allows(area, changes=True) for area in ("chat", "files", "faces"))
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()
