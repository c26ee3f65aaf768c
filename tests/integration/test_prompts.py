"""Saved prompts: a personal library with a /command each, and the prompts admins share with everyone, through the
library page, the chat page's picker and the JSON API (SQLite and PostgreSQL where the database decides)."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.support.chat import chat_settings, reset
from tests.support.factories import make_token
from tests.support.web import bearer, post_form
from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.prompts import service
from webapp.prompts.models import SavedPrompt


@pytest.fixture
def app_overrides(openai_server):
    """A model to chat with: the chat page's message box (and its picker) is shown only when there is one."""
    reset(openai_server)
    return chat_settings(openai_server)


SUMMARIZE = {"command": "/Summarize", "title": "Summarize", "text": "Summarize this in three bullets:"}


def create(client: FlaskClient, token: str, **body) -> tuple[int, dict]:
    response = client.post("/api/prompts", json={**SUMMARIZE, **body}, headers=bearer(token))
    return response.status_code, response.get_json()


def stored(app: Flask) -> list[tuple[int, str, str, bool]]:
    with app.app_context():
        return [
            (row.user_id, row.command, row.title, row.shared)
            for row in db.session.scalars(select(SavedPrompt).order_by(SavedPrompt.id))
        ]


# --- the API -------------------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_a_saved_prompt_keeps_its_command_without_the_slash_in_lower_case(client, staff, staff_token, db_backend):
    status, body = create(client, staff_token)
    assert status == 201, body
    assert (body["command"], body["title"], body["text"]) == ("summarize", "Summarize", SUMMARIZE["text"])
    assert body["mine"] is True and body["shared"] is False

    listed = client.get("/api/prompts", headers=bearer(staff_token)).get_json()["prompts"]
    assert [prompt["id"] for prompt in listed] == [body["id"]]


@pytest.mark.both_databases
def test_a_command_taken_by_the_same_user_is_a_409_but_another_user_may_take_it(
    app, client, staff_token, other_token, db_backend
):
    assert create(client, staff_token)[0] == 201
    status, body = create(client, staff_token, command="summarize", title="Again")
    assert status == 409
    assert body["error"] == "You already have a prompt /summarize; choose another command."
    assert create(client, other_token)[0] == 201
    assert [row[1] for row in stored(app)] == ["summarize", "summarize"]


@pytest.mark.both_databases
def test_two_saves_of_one_command_at_once_leave_one_prompt_and_answer_409_to_the_other(
    app, client, staff_token, db_backend, monkeypatch
):
    # Both requests passed the friendly check before either committed: the unique constraint decides.
    monkeypatch.setattr(service, "refuse_taken_command", lambda user, command: None)
    assert create(client, staff_token)[0] == 201
    status, body = create(client, staff_token, title="Second")
    assert status == 409 and "/summarize" in body["error"]
    assert [row[2] for row in stored(app)] == ["Summarize"]
    # The session is usable again after the refused commit.
    assert create(client, staff_token, command="brief")[0] == 201


@pytest.mark.parametrize(
    ("body", "field", "sentence"),
    [
        ({"command": "two words"}, "command", "A command is one word"),
        ({"command": "/"}, "command", "Give the prompt a command"),
        ({"command": "-dash"}, "command", "starting with a letter or digit"),
        ({"command": "x" * 33}, "command", "at most 32"),
        ({"title": "  "}, "title", "Give the prompt a title."),
        ({"title": "t" * 121}, "title", "the limit is 120"),
        ({"text": "\x00 "}, "text", "Write the prompt's text."),
    ],
)
def test_a_prompt_the_rules_refuse_is_a_400_with_a_sentence(client, staff_token, body, field, sentence):
    status, answer = create(client, staff_token, **body)
    assert status == 400, answer
    assert sentence in answer["error"]


def test_a_prompt_longer_than_a_message_is_a_413_naming_the_limit(app, client, staff_token):
    app.config["CHAT_MAX_MESSAGE_CHARS"] = 50
    status, answer = create(client, staff_token, text="x" * 51)
    assert status == 413
    assert answer["error"] == "The prompt is 51 characters long; the limit is 50 characters (a message's)."


def test_only_an_admin_shares_a_prompt_with_everyone_and_it_is_audited(
    app, client, admin, staff, staff_token, other_token
):
    status, answer = create(client, staff_token, shared=True)
    assert (status, answer["error"]) == (403, "Only an administrator can share a prompt with everyone.")
    assert stored(app) == []

    admin_token = make_token(app, admin)
    status, shared = create(
        client, admin_token, command="tone", title="Our tone", text="Write in our house style.", shared=True
    )
    assert status == 201 and shared["shared"] is True
    listed = client.get("/api/prompts", headers=bearer(other_token)).get_json()["prompts"]
    assert [(prompt["command"], prompt["mine"]) for prompt in listed] == [("tone", False)]
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.user_id == admin.id)).all()
    assert "prompt.share" in actions

    # Staff cannot share theirs afterwards either.
    _, own = create(client, staff_token)
    response = client.patch(f"/api/prompts/{own['id']}", json={"shared": True}, headers=bearer(staff_token))
    assert response.status_code == 403


@pytest.mark.both_databases
def test_another_users_prompt_cannot_be_changed_or_deleted_even_when_shared(
    app, client, admin, staff_token, db_backend
):
    admin_token = make_token(app, admin)
    _, shared = create(client, admin_token, shared=True)
    for method, body in (("PATCH", {"title": "Mine now"}), ("DELETE", None)):
        response = client.open(f"/api/prompts/{shared['id']}", method=method, json=body, headers=bearer(staff_token))
        assert response.status_code == 404
        assert response.get_json()["error"] == "There is no such prompt, or it is not yours."
    assert stored(app)[0][2] == "Summarize"


def test_a_change_takes_only_what_is_given_and_a_refused_change_changes_nothing(app, client, staff_token):
    _, prompt = create(client, staff_token)
    _, other = create(client, staff_token, command="brief", title="Brief")
    url = f"/api/prompts/{prompt['id']}"
    response = client.patch(url, json={"title": "Summarize briefly"}, headers=bearer(staff_token))
    assert response.status_code == 200
    assert (response.get_json()["title"], response.get_json()["command"]) == ("Summarize briefly", "summarize")

    response = client.patch(url, json={"title": "Lost", "command": "brief"}, headers=bearer(staff_token))
    assert response.status_code == 409
    response = client.patch(url, json={"title": "Lost", "command": "bad command"}, headers=bearer(staff_token))
    assert response.status_code == 400
    assert [row[1:3] for row in stored(app)] == [("summarize", "Summarize briefly"), ("brief", "Brief")]

    assert client.delete(f"/api/prompts/{other['id']}", headers=bearer(staff_token)).status_code == 204
    assert client.delete(f"/api/prompts/{other['id']}", headers=bearer(staff_token)).status_code == 404


# --- the pages -----------------------------------------------------------------------------------------------


def test_the_library_page_saves_lists_edits_and_deletes_a_prompt(app, staff_client: FlaskClient):
    page = staff_client.get("/prompts")
    assert page.status_code == 200 and "You have no saved prompts yet." in page.get_data(as_text=True)
    response = post_form(staff_client, "/prompts", {**SUMMARIZE}, page="/prompts", follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "The prompt /summarize is saved" in text and "Summarize this in three bullets:" in text
    assert "Share with everyone" not in text  # staff are not offered it

    (prompt_id,) = [row.id for row in _rows(app)]
    edit = staff_client.get(f"/prompts/{prompt_id}/edit").get_data(as_text=True)
    assert 'value="/summarize"' in edit
    response = post_form(
        staff_client,
        f"/prompts/{prompt_id}/edit",
        {"command": "sum", "title": "Sum up", "text": "Sum it up:"},
        page="/prompts",
        follow_redirects=True,
    )
    assert "The prompt /sum is saved." in response.get_data(as_text=True)
    assert stored(app)[0][1:3] == ("sum", "Sum up")

    response = post_form(staff_client, f"/prompts/{prompt_id}/delete", page="/prompts", follow_redirects=True)
    assert "The prompt /sum is deleted." in response.get_data(as_text=True)
    assert stored(app) == []


def test_a_refused_form_keeps_what_was_typed_and_says_why_beside_the_field(app, staff_client: FlaskClient):
    post_form(staff_client, "/prompts", {**SUMMARIZE}, page="/prompts")
    response = post_form(
        staff_client, "/prompts", {"command": "summarize", "title": "Again", "text": "Kept text"}, page="/prompts"
    )
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert 'id="command-error"' in text and "You already have a prompt /summarize" in text
    assert 'aria-invalid="true"' in text and "Kept text" in text and 'value="Again"' in text
    assert len(stored(app)) == 1


def test_an_admin_shares_a_prompt_from_the_library_page(app, admin_client: FlaskClient, staff_client: FlaskClient):
    assert "Share with everyone" in admin_client.get("/prompts").get_data(as_text=True)
    post_form(admin_client, "/prompts", {**SUMMARIZE, "shared": "y"}, page="/prompts")
    text = staff_client.get("/prompts").get_data(as_text=True)
    assert "Shared with everyone" in text and "Ada Admin" in text and "/summarize" in text


def test_the_chat_page_offers_the_users_prompts_and_the_shared_ones_but_not_other_users_own(
    app, client, admin, staff, staff_client, staff_token, other_token
):
    create(client, staff_token, command="mine", title="Mine", text="My <b>own</b> prompt & more")
    create(client, other_token, command="theirs", title="Theirs", text="Not for Sam")
    create(client, make_token(app, admin), command="tone", title="House tone", text="Our style", shared=True)
    create(client, make_token(app, admin), command="mine", title="Shared mine", text="Loses to Sam's", shared=True)

    page = staff_client.get("/chat").get_data(as_text=True)
    assert 'aria-controls="prompt-options"' in page and 'aria-autocomplete="list"' in page
    assert 'role="listbox"' in page and "js/prompts.js" in page
    assert 'data-command="mine"' in page and 'data-command="tone"' in page
    assert "Not for Sam" not in page and "Loses to Sam" not in page
    # Text goes into an attribute escaped: markup in a prompt is never markup in the page.
    assert f'data-text="{html.escape("My <b>own</b> prompt & more")}"' in page


def test_a_stranger_gets_404_for_someone_elses_prompt_pages(app, client, staff_token, other_client: FlaskClient):
    _, prompt = create(client, staff_token)
    assert other_client.get(f"/prompts/{prompt['id']}/edit").status_code == 404
    response = post_form(other_client, f"/prompts/{prompt['id']}/delete", page="/prompts")
    assert response.status_code == 404
    assert len(stored(app)) == 1


def _rows(app: Flask) -> list[SavedPrompt]:
    with app.app_context():
        rows = db.session.scalars(select(SavedPrompt)).all()
        db.session.expunge_all()
        return list(rows)


def test_saved_prompts_need_a_token_with_the_chat_scope_and_a_read_only_one_lists_them(app, client, staff):
    files_only = make_token(app, staff, "files", scopes=("files",))
    response = client.post("/api/prompts", json=SUMMARIZE, headers=bearer(files_only))
    assert response.status_code == 403 and "chat" in response.get_json()["error"]
    assert stored(app) == []
    read_only = make_token(app, staff, "report", scopes=("read-only",))
    assert client.get("/api/prompts", headers=bearer(read_only)).status_code == 200
    assert client.post("/api/prompts", json=SUMMARIZE, headers=bearer(read_only)).status_code == 403
