"""Sharing a conversation: a read-only snapshot behind a link that only signed-in users open, with an expiry, a
view count and the list of who opened it; revocable by its owner and by admins (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from config import ConfigError
from tests.support.apps import build_app
from tests.support.factories import make_conversation, make_token, make_user
from tests.support.web import bearer, login, post_form
from webapp.audit.models import AuditEvent
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.sharing.models import ConversationShare, SharedMessage, ShareView
from webapp.timeutil import as_utc, utcnow

QUESTION, REPLY = "How do tides work?", "The **Moon** pulls the oceans."


@pytest.fixture
def conversation(app: Flask, staff) -> Conversation:
    return make_conversation(app, staff, [("user", QUESTION), ("assistant", REPLY)], title="Tides")


def share(client: FlaskClient, token: str, conversation_id: int, **body) -> tuple[int, dict]:
    response = client.post(f"/api/conversations/{conversation_id}/share", json=body or None, headers=bearer(token))
    return response.status_code, response.get_json()


def path_of(url: str) -> str:
    return urlsplit(url).path


def add_message(app: Flask, conversation_id: int, role: str, content: str, status: str = "complete") -> None:
    with app.app_context():
        db.session.add(Message(conversation_id=conversation_id, role=role, content=content, status=status))
        db.session.commit()


def shares(app: Flask) -> list[ConversationShare]:
    with app.app_context():
        rows = db.session.scalars(select(ConversationShare)).all()
        db.session.expunge_all()
        return list(rows)


@pytest.mark.both_databases
def test_sharing_answers_the_link_and_its_expiry_and_keeps_only_the_links_hash(
    app, client, staff_token, conversation, db_backend
):
    before = utcnow()
    status, body = share(client, staff_token, conversation.id)
    assert status == 201, body
    assert set(body) == {"url", "expires_at"}
    path = path_of(body["url"])
    assert path.startswith("/shared/")
    token = path.removeprefix("/shared/")
    assert len(token) == 43
    expires = as_utc(datetime.fromisoformat(body["expires_at"]))
    assert before + timedelta(days=30) <= expires <= utcnow() + timedelta(days=30)
    (row,) = shares(app)
    stored_text = repr([getattr(row, column.name) for column in ConversationShare.__table__.columns])
    assert token not in stored_text  # neither the token nor anything that is it; only its SHA-256 and a nonce


@pytest.mark.both_databases
def test_a_colleague_sees_the_snapshot_and_later_messages_only_once_the_owner_updates_it(
    app, client, staff_token, conversation, other_client, db_backend
):
    _, body = share(client, staff_token, conversation.id, days=7)
    add_message(app, conversation.id, "user", "And the Sun?")
    add_message(app, conversation.id, "assistant", "Half as strong.")
    add_message(app, conversation.id, "assistant", "", status="pending")

    page = other_client.get(path_of(body["url"]))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert QUESTION in text and "<strong>Moon</strong>" in text and "Sam Staff" in text
    assert "And the Sun?" not in text
    assert "<form" not in text.split('id="main"')[1].split("</main>")[0]  # read-only: nothing to send

    status, again = share(client, staff_token, conversation.id)
    assert status == 201 and again["url"] == body["url"]  # the same link, a new snapshot and expiry
    text = other_client.get(path_of(body["url"])).get_data(as_text=True)
    assert "And the Sun?" in text and "Half as strong." in text
    with app.app_context():
        contents = db.session.scalars(select(SharedMessage.content).order_by(SharedMessage.position)).all()
    assert contents == [QUESTION, REPLY, "And the Sun?", "Half as strong."]  # not the reply still being written


def test_someone_signed_out_goes_to_sign_in_and_comes_back_to_the_link(
    app, client, staff_token, conversation, other_staff
):
    _, body = share(client, staff_token, conversation.id)
    path = path_of(body["url"])
    visitor = app.test_client()
    response = visitor.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/shared/")
    response = login(visitor, other_staff.email, other_staff.password, next_url=path)
    assert response.status_code == 302 and response.headers["Location"] == path
    assert QUESTION in visitor.get(path).get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({"days": 366}, "A link can last at most 365 days here (SHARE_MAX_DAYS); 366 is too many."),
        ({"days": 0}, "'days' must be 1 or more."),
        ({"days": "7"}, "'days' must be a whole number."),
    ],
)
def test_asking_for_a_link_longer_than_the_admins_maximum_is_a_clear_400(
    app, client, staff_token, conversation, body, sentence
):
    status, answer = share(client, staff_token, conversation.id, **body)
    assert status == 400
    assert answer["error"] == sentence
    assert shares(app) == []


def test_the_maximum_and_the_default_are_the_admins_settings(tmp_path):
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", {"SHARE_DEFAULT_DAYS": 3, "SHARE_MAX_DAYS": 5})
    with app.app_context():
        db.create_all()
    staff = make_user(app)
    conversation = make_conversation(app, staff)
    client = app.test_client()
    token = make_token(app, staff)
    status, body = share(client, token, conversation.id)
    expires = datetime.fromisoformat(body["expires_at"])
    assert status == 201 and timedelta(days=2) < as_utc(expires) - utcnow() <= timedelta(days=3)
    assert share(client, token, conversation.id, days=6)[0] == 400
    assert share(client, token, conversation.id, days=5)[0] == 201
    with pytest.raises(ConfigError, match="SHARE_DEFAULT_DAYS"):
        build_app(tmp_path, "sqlite://", {"SHARE_DEFAULT_DAYS": 31, "SHARE_MAX_DAYS": 30})


@pytest.mark.both_databases
def test_after_the_owner_stops_sharing_the_link_answers_404(
    app, client, staff_token, conversation, other_client, db_backend
):
    _, body = share(client, staff_token, conversation.id)
    response = client.delete(f"/api/conversations/{conversation.id}/share", headers=bearer(staff_token))
    assert response.status_code == 204 and response.data == b""
    assert other_client.get(path_of(body["url"])).status_code == 404
    response = client.delete(f"/api/conversations/{conversation.id}/share", headers=bearer(staff_token))
    assert response.status_code == 404
    assert response.get_json()["error"] == "This conversation is not shared."
    with app.app_context():
        assert db.session.scalars(select(SharedMessage)).all() == []
    # Shared again: a new link; the revoked one stays dead.
    _, again = share(client, staff_token, conversation.id)
    assert again["url"] != body["url"]
    assert other_client.get(path_of(body["url"])).status_code == 404
    assert other_client.get(path_of(again["url"])).status_code == 200


@pytest.mark.both_databases
def test_an_expired_link_answers_404_and_sharing_again_makes_a_new_one(
    app, client, staff_token, conversation, other_client, db_backend
):
    _, body = share(client, staff_token, conversation.id)
    with app.app_context():
        db.session.execute(update(ConversationShare).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = other_client.get(path_of(body["url"]))
    assert response.status_code == 404
    assert "has expired or was revoked" in response.get_data(as_text=True)
    _, again = share(client, staff_token, conversation.id)
    assert again["url"] != body["url"]
    assert other_client.get(path_of(body["url"])).status_code == 404
    assert len(shares(app)) == 1


def test_a_made_up_or_mangled_link_is_a_404(app, client, staff_token, conversation, other_client):
    _, body = share(client, staff_token, conversation.id)
    path = path_of(body["url"])
    for wrong in (path[:-1] + ("A" if path[-1] != "A" else "B"), path[:-1], "/shared/" + "x" * 43, path + "x"):
        assert other_client.get(wrong).status_code == 404, wrong


@pytest.mark.both_databases
def test_each_open_counts_and_the_owner_sees_who_opened_it_and_the_audit_log_has_it(
    app, client, staff, staff_client, staff_token, conversation, other_client, other_staff, admin_client, db_backend
):
    _, body = share(client, staff_token, conversation.id)
    path = path_of(body["url"])
    for reader in (other_client, other_client, admin_client, staff_client):  # the owner's own look is not counted
        assert reader.get(path).status_code == 200
    (row,) = shares(app)
    assert row.view_count == 3
    with app.app_context():
        opens = {view.user_id: view.opens for view in db.session.scalars(select(ShareView))}
        audited = db.session.scalars(select(AuditEvent.user_id).where(AuditEvent.action == "share.open")).all()
    assert opens[other_staff.id] == 2 and staff.id not in opens and len(opens) == 2
    assert sorted(set(audited)) == sorted(set(opens))

    page = staff_client.get(f"/chat/{conversation.id}/share").get_data(as_text=True)
    assert "Opened 3 times by 2 people." in page
    assert "Olga Other (olga@example.com)" in page and "Ada Admin (ada@example.com)" in page
    assert body["url"] in page  # the owner sees the link again


@pytest.mark.both_databases
def test_opens_at_the_same_moment_all_count(app, client, staff_token, conversation, other_staff, db_backend):
    _, body = share(client, staff_token, conversation.id)
    path = path_of(body["url"])
    readers = []
    for _ in range(4):
        reader = app.test_client()
        login(reader, other_staff.email, other_staff.password)
        readers.append(reader)
    start = threading.Barrier(len(readers))
    statuses: list[int] = []

    def open_link(reader: FlaskClient) -> None:
        start.wait()
        statuses.append(reader.get(path).status_code)

    threads = [threading.Thread(target=open_link, args=(reader,)) for reader in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 4
    (row,) = shares(app)
    assert row.view_count == 4
    with app.app_context():
        (view,) = db.session.scalars(select(ShareView)).all()
    assert view.opens == 4


@pytest.mark.both_databases
def test_deleting_the_conversation_ends_its_share(app, client, staff_token, conversation, other_client, db_backend):
    _, body = share(client, staff_token, conversation.id)
    other_client.get(path_of(body["url"]))
    assert client.delete(f"/api/conversations/{conversation.id}", headers=bearer(staff_token)).status_code == 204
    assert other_client.get(path_of(body["url"])).status_code == 404
    with app.app_context():
        for model in (ConversationShare, SharedMessage, ShareView):
            assert db.session.scalars(select(model)).all() == [], model.__name__


def test_a_stranger_can_neither_share_nor_unshare_someone_elses_conversation(
    app, client, other_token, staff_token, conversation
):
    assert share(client, other_token, conversation.id)[0] == 404
    share(client, staff_token, conversation.id)
    response = client.delete(f"/api/conversations/{conversation.id}/share", headers=bearer(other_token))
    assert response.status_code == 404
    assert len(shares(app)) == 1


# --- the pages -----------------------------------------------------------------------------------------------


def test_the_owner_shares_updates_and_stops_sharing_from_the_share_page(
    app, staff_client: FlaskClient, conversation, other_client
):
    chat = staff_client.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert f'href="/chat/{conversation.id}/share"' in chat
    page = staff_client.get(f"/chat/{conversation.id}/share").get_data(as_text=True)
    assert "Create link" in page and 'value="30"' in page

    url = f"/chat/{conversation.id}/share"
    response = post_form(staff_client, url, {"days": "400"}, page=url)
    assert response.status_code == 400
    assert "A link can last at most 365 days here" in response.get_data(as_text=True)
    assert shares(app) == []

    response = post_form(staff_client, url, {"days": "2"}, page=url, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "The link is ready" in text and "Update the snapshot" in text
    (row,) = shares(app)
    assert timedelta(days=1) < as_utc(row.expires_at) - utcnow() <= timedelta(days=2)
    link = text.split('id="share-url" type="text" readonly value="')[1].split('"')[0]
    assert other_client.get(path_of(link)).status_code == 200

    response = post_form(staff_client, f"{url}/revoke", page=url, follow_redirects=True)
    assert "Sharing stopped" in response.get_data(as_text=True)
    assert other_client.get(path_of(link)).status_code == 404


def test_an_admin_lists_every_live_share_and_revokes_any_audited(
    app, client, staff_token, other_token, conversation, other_staff, admin_client, admin, other_client
):
    other_conversation = make_conversation(app, other_staff, title="Budget")
    expired_conversation = make_conversation(app, other_staff, title="Old plans")
    _, tides = share(client, staff_token, conversation.id)
    share(client, other_token, other_conversation.id)
    share(client, other_token, expired_conversation.id)
    with app.app_context():
        db.session.execute(
            update(ConversationShare)
            .where(ConversationShare.conversation_id == expired_conversation.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()

    page = admin_client.get("/admin/shares").get_data(as_text=True)
    assert "Tides" in page and "Budget" in page and "Old plans" not in page
    assert "sam@example.com" in page
    (tides_share,) = [row for row in shares(app) if row.conversation_id == conversation.id]
    response = post_form(
        admin_client, f"/admin/shares/{tides_share.id}/revoke", page="/admin/shares", follow_redirects=True
    )
    assert "Sharing stopped: “Tides” shared by Sam Staff no longer opens." in response.get_data(as_text=True)
    assert other_client.get(path_of(tides["url"])).status_code == 404
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.user_id == admin.id)).all()
    assert "share.review_list" in actions and "share.revoke" in actions
    staff_page = other_client.get("/admin/shares")
    assert staff_page.status_code == 403
