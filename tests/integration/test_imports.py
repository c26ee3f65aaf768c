"""Importing conversations (issue 12, point 6): ChatGPT's, Open WebUI's and Workbench's exports through the API and
the page, on SQLite and PostgreSQL; once only; all or nothing; size-limited like every upload."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.support.exports import (
    as_bytes,
    chatgpt_branched,
    chatgpt_linear,
    chatgpt_zip,
    openwebui_chat,
    workbench_conversation,
    workbench_export,
)
from tests.support.factories import make_conversation
from tests.support.files import temp_files
from tests.support.web import bearer, csrf_token
from webapp.audit.models import AuditEvent
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.imports import service
from webapp.imports.formats import IMAGE_PLACEHOLDER

EXPECTED = "Expected ChatGPT's export (conversations.json, or the whole export .zip)"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Small limits, so the size tests stay small: a file upload 1 MB, an import 3 MB."""
    return {"MAX_UPLOAD_MB": 1, "CHAT_IMPORT_MAX_MB": 3}


def post_import(client: FlaskClient, token: str, data: bytes, name: str = "conversations.json"):
    return client.post(
        "/api/conversations/import",
        headers=bearer(token),
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), name)},
    )


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Conversation.id))),
            db.session.scalar(select(func.count(Message.id))),
        )


def imported(app: Flask, source_id: str) -> tuple[Conversation, list[Message]]:
    with app.app_context():
        conversation = db.session.scalars(select(Conversation).where(Conversation.import_source_id == source_id)).one()
        messages = list(conversation.messages)
        db.session.expunge_all()
        return conversation, messages


def as_utc_naive(moment: Any):
    return moment.replace(tzinfo=None)


@pytest.mark.both_databases
def test_chatgpt_whole_export_zip_is_imported_with_titles_times_models_and_current_branch(
    app: Flask, client: FlaskClient, staff_token: str, db_backend: str, tmp_path: Path
):
    export = chatgpt_zip(tmp_path / "export.zip", [chatgpt_branched(), chatgpt_linear("c-2", "Second talk", 2)])

    response = post_import(client, staff_token, export.read_bytes(), "export.zip")

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"imported": 2, "skipped": 0, "failed": []}
    conversation, messages = imported(app, "67a1c0de-0000-4000-8000-000000000001")
    assert (conversation.title, conversation.provider, conversation.model) == ("Monads explained", "openai", "gpt-4o")
    assert conversation.import_source == "chatgpt"
    assert as_utc_naive(conversation.created_at).isoformat() == "2024-06-01T12:00:00"
    assert as_utc_naive(conversation.updated_at).isoformat() == "2024-06-01T12:00:23"
    contents = [message.content for message in messages]
    assert "Here it is: `Just(1)`." in contents and "A value in a context." in contents
    last = next(message for message in messages if message.content == "Here it is: `Just(1)`.")
    assert (last.role, last.status, last.provider, last.model) == ("assistant", "complete", "openai", "gpt-4o")
    assert as_utc_naive(last.created_at).isoformat() == "2024-06-01T12:00:23"


needs_tree = pytest.mark.skipif(not service.HAS_TREE, reason="the message tree (issue 12 point 4) is not merged yet")


def tree_of(app: Flask, source_id: str) -> tuple[list[str], dict[str, str | None], int]:
    """The current branch's texts, each message's parent's text, and how many messages there are."""
    from webapp.chat.branches import thread

    with app.app_context():
        conversation = db.session.scalars(select(Conversation).where(Conversation.import_source_id == source_id)).one()
        by_id = {message.id: message for message in conversation.messages}
        parents = {
            message.content: by_id[message.parent_id].content if message.parent_id else None
            for message in by_id.values()
        }
        assert by_id[conversation.current_message_id] == thread(conversation)[-1]
        return [message.content for message in thread(conversation)], parents, len(by_id)


@needs_tree
@pytest.mark.both_databases
def test_every_branch_is_kept_and_the_one_the_tool_showed_is_current(
    app: Flask, client: FlaskClient, staff_token: str, db_backend: str
):
    data = as_bytes([chatgpt_branched(), openwebui_chat(), workbench_conversation(42, branched=True)])

    assert post_import(client, staff_token, data).get_json() == {"imported": 3, "skipped": 0, "failed": []}

    shown, parents, count = tree_of(app, "67a1c0de-0000-4000-8000-000000000001")
    image_and_question = f"{IMAGE_PLACEHOLDER}\n\nShow it in Python"
    assert shown == ["What is a monad, simply?", "A value in a context.", image_and_question, "Here it is: `Just(1)`."]
    assert count == 7
    assert parents == {
        "What is a monad?": None,
        "A monad is a monoid…": "What is a monad?",
        "What is a monad, simply?": None,
        "A box with rules.": "What is a monad, simply?",
        "A value in a context.": "What is a monad, simply?",
        image_and_question: "A value in a context.",
        "Here it is: `Just(1)`.": image_and_question,  # the tool call and its output between them are left out
    }
    shown, parents, count = tree_of(app, "8d3f4c2e-1b2a-4c5d-9e8f-0a1b2c3d4e5f")
    assert shown == ["Name a prime.", "13", "Another?", "17"]
    assert count == 5 and parents["7"] == parents["13"] == "Name a prime."
    shown, parents, count = tree_of(app, "42")
    assert shown == ["Plan a picnic.", "Bring cheese."]
    assert count == 5 and parents["Bring bread."] == parents["Bring cheese."] == "Plan a picnic."


@pytest.mark.both_databases
def test_importing_the_same_file_again_imports_nothing_new(
    app: Flask, client: FlaskClient, staff_token: str, db_backend: str
):
    data = as_bytes([chatgpt_branched(), openwebui_chat(), chatgpt_linear("c-3", "Third", 1)])
    first = post_import(client, staff_token, data)
    before = counts(app)

    again = post_import(client, staff_token, data)

    assert first.get_json() == {"imported": 3, "skipped": 0, "failed": []}
    assert again.status_code == 200 and again.get_json() == {"imported": 0, "skipped": 3, "failed": []}
    assert counts(app) == before
    # A longer export later (the same conversations and a new one): only the new one is imported.
    later = post_import(client, staff_token, as_bytes([chatgpt_branched(), chatgpt_linear("c-4", "Fourth", 1)]))
    assert later.get_json() == {"imported": 1, "skipped": 1, "failed": []}


@pytest.mark.both_databases
def test_the_same_conversation_twice_in_one_file_is_imported_once(
    app: Flask, client: FlaskClient, staff_token: str, db_backend: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service, "BATCH_CONVERSATIONS", 2)  # the twin lands in a later batch, and in the same one
    twin = chatgpt_linear("c-9", "Twice", 1)
    data = as_bytes([twin, twin, chatgpt_linear("c-10", "Once", 1), twin])

    response = post_import(client, staff_token, data)

    assert response.get_json() == {"imported": 2, "skipped": 2, "failed": []}
    assert counts(app) == (2, 4)


def test_each_user_imports_their_own_copy(app: Flask, client: FlaskClient, staff_token: str, other_token: str):
    data = as_bytes([chatgpt_branched()])
    assert post_import(client, staff_token, data).get_json()["imported"] == 1
    assert post_import(client, other_token, data).get_json()["imported"] == 1
    assert counts(app)[0] == 2


@pytest.mark.both_databases
def test_open_webui_and_workbench_exports_are_imported(
    app: Flask, client: FlaskClient, staff_token: str, db_backend: str
):
    webui = post_import(client, staff_token, as_bytes([openwebui_chat()]), "chat-export-1717243200000.json")
    own = post_import(
        client, staff_token, as_bytes(workbench_export([workbench_conversation(41)])), "workbench-conversations.json"
    )

    assert webui.get_json() == {"imported": 1, "skipped": 0, "failed": []}
    assert own.get_json() == {"imported": 1, "skipped": 0, "failed": []}
    primes, messages = imported(app, "8d3f4c2e-1b2a-4c5d-9e8f-0a1b2c3d4e5f")
    assert (primes.title, primes.provider, primes.model, primes.system_prompt) == (
        "Primes",
        "openwebui",
        "llama3.1:8b",
        "Answer with one number.",
    )
    assert "17" in [message.content for message in messages]
    picnic, messages = imported(app, "41")
    assert (picnic.title, picnic.model, picnic.import_source) == ("Picnic", "gpt-4o-mini", "workbench")
    assert [(message.role, message.content, message.status) for message in messages] == [
        ("user", "Plan a picnic.", "complete"),
        ("assistant", "Bring bread.", "complete"),
        ("user", "And to drink?", "complete"),
        ("assistant", "Lemonade.", "interrupted"),
    ]
    assert messages[-1].error == "Stopped."


@pytest.mark.both_databases
def test_workbench_export_of_everything_imports_into_another_account_as_it_was(
    app: Flask, staff, staff_client: FlaskClient, other_token: str, client: FlaskClient, db_backend: str
):
    make_conversation(app, staff, [("user", "Plan a picnic."), ("assistant", "Bring bread.")], title="Picnic")
    make_conversation(app, staff, 4, title="Numbers", system_prompt="Count.")
    export = staff_client.get("/history/export.json")
    assert export.status_code == 200

    response = post_import(client, other_token, export.get_data(), "workbench-conversations.json")

    assert response.get_json() == {"imported": 2, "skipped": 0, "failed": []}
    with app.app_context():
        copies = db.session.scalars(select(Conversation).where(Conversation.import_source == "workbench")).all()
        originals = db.session.scalars(select(Conversation).where(Conversation.import_source.is_(None))).all()

        def shown(conversations: list[Conversation]) -> dict:
            return {
                c.title: (c.provider, c.model, c.system_prompt, [(m.role, m.content) for m in c.messages])
                for c in conversations
            }

        assert shown(copies) == shown(originals)
        assert {c.import_source_id for c in copies} == {str(c.id) for c in originals}


@pytest.mark.both_databases
def test_a_file_damaged_half_way_imports_nothing_at_all(
    app: Flask, client: FlaskClient, staff_token: str, db_backend: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(service, "BATCH_CONVERSATIONS", 1)  # the first conversations are written before the fault
    data = as_bytes([chatgpt_linear(f"c-{n}", f"Talk {n}", 2) for n in range(5)])

    response = post_import(client, staff_token, data[: len(data) - 200])

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "The file is cut short" in error and EXPECTED in error and "Nothing was imported." in error
    assert counts(app) == (0, 0)
    assert temp_files(app) == []


@pytest.mark.parametrize(
    "data, name, sentence",
    [
        (b"Title,Date\nHello,2024-01-01\n", "history.csv", "The file is neither a .zip archive nor JSON."),
        (b'{"name": "a settings file"}', "settings.json", "The file is JSON, but not an export Workbench knows."),
        (b"PK\x03\x04 not really a zip", "export.zip", "The .zip archive is damaged"),
    ],
)
def test_an_unknown_or_corrupt_file_is_a_400_naming_what_was_expected(
    app: Flask, client: FlaskClient, staff_token: str, data: bytes, name: str, sentence: str
):
    response = post_import(client, staff_token, data, name)

    assert response.status_code == 400
    answer = response.get_json()
    assert answer["status"] == 400 and sentence in answer["error"] and EXPECTED in answer["error"]
    assert counts(app) == (0, 0)


def test_no_file_or_an_empty_one_is_a_400(client: FlaskClient, staff_token: str):
    missing = client.post(
        "/api/conversations/import", headers=bearer(staff_token), data={}, content_type="multipart/form-data"
    )
    empty = post_import(client, staff_token, b"", "")

    assert missing.status_code == 400 and missing.get_json()["error"] == "Choose an export file to import."
    assert empty.status_code == 400


def test_conversations_that_cannot_be_read_are_listed_and_the_rest_imported(
    app: Flask, client: FlaskClient, staff_token: str
):
    app.config["CHAT_MAX_MESSAGE_CHARS"] = 1000
    huge = chatgpt_linear("c-huge", "Pasted a book", 1, text_size=5000)
    data = as_bytes([chatgpt_branched(), chatgpt_linear("c-empty", "Nothing said", 0), huge])

    response = post_import(client, staff_token, data)

    assert response.status_code == 200
    assert response.get_json() == {
        "imported": 1,
        "skipped": 0,
        "failed": [
            {"title": "Nothing said", "source_id": "c-empty", "error": "It has no messages to import."},
            {
                "title": "Pasted a book",
                "source_id": "c-huge",
                "error": "Message 2 is 5,000 characters long; messages here can be at most 1,000 "
                "(CHAT_MAX_MESSAGE_CHARS).",
            },
        ],
    }


def test_an_import_that_meets_another_of_the_same_conversations_rolls_back_and_says_try_again(
    app: Flask, client: FlaskClient, staff_token: str, monkeypatch: pytest.MonkeyPatch
):
    data = as_bytes([chatgpt_branched(), chatgpt_linear("c-2", "Second", 1)])
    post_import(client, staff_token, as_bytes([chatgpt_linear("c-2", "Second", 1)]))
    # As if another import had written "c-2" between this one's look and its insert.
    monkeypatch.setattr(service._Writer, "_not_yet_imported", lambda self, batch: batch)

    response = post_import(client, staff_token, data)

    assert response.status_code == 409
    assert "import it again" in response.get_json()["error"]
    assert counts(app) == (1, 2)


def test_an_import_is_audited(app: Flask, client: FlaskClient, staff_token: str):
    post_import(client, staff_token, as_bytes([chatgpt_branched()]))
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "chat.import")).one()
        assert event.detail == "ChatGPT: 1 imported, 0 already there, 0 unreadable"


# --- size: streamed to disk and limited like every upload, with its own limit ------------------------------------


def padded_export(megabytes: float) -> bytes:
    conversations, size = [], 0
    while size < megabytes * 1024 * 1024:
        item = chatgpt_linear(f"c-{len(conversations)}", f"Talk {len(conversations)}", 3, text_size=20_000)
        conversations.append(item)
        size += len(as_bytes(item))
    return as_bytes(conversations)


def test_an_export_larger_than_a_file_upload_but_within_chat_import_max_mb_is_imported(
    app: Flask, client: FlaskClient, staff_token: str
):
    data = padded_export(2)  # over MAX_UPLOAD_MB (1), within CHAT_IMPORT_MAX_MB (3)

    response = post_import(client, staff_token, data)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["imported"] == counts(app)[0] > 0
    assert temp_files(app) == []


def test_an_export_over_chat_import_max_mb_is_a_413_naming_the_limit(app: Flask, client: FlaskClient, staff_token: str):
    response = post_import(client, staff_token, padded_export(4))

    assert response.status_code == 413
    assert "3 MB" in response.get_json()["error"]
    assert counts(app) == (0, 0) and temp_files(app) == []


# --- the page ----------------------------------------------------------------------------------------------------


def test_the_import_page_shows_the_outcome_of_an_upload(app: Flask, staff_client: FlaskClient):
    page = staff_client.get("/import")
    assert page.status_code == 200 and "Import conversations" in page.get_data(as_text=True)
    token = csrf_token(staff_client, "/import")

    fragment = staff_client.post(
        "/import",
        data={"file": (io.BytesIO(as_bytes([chatgpt_branched(), openwebui_chat()])), "conversations.json")},
        content_type="multipart/form-data",
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    again = staff_client.post(
        "/import",
        data={"csrf_token": token, "file": (io.BytesIO(as_bytes([chatgpt_branched()])), "conversations.json")},
        content_type="multipart/form-data",
    )

    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert "Imported 2 conversations from ChatGPT and Open WebUI." in html and "<html" not in html
    assert again.status_code == 200
    assert "No new conversations imported." in again.get_data(as_text=True)
    assert "1 was already here from an earlier import." in again.get_data(as_text=True)


def test_the_import_page_shows_a_refusal_beside_the_file_field(app: Flask, staff_client: FlaskClient):
    token = csrf_token(staff_client, "/import")

    response = staff_client.post(
        "/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"just some text"), "notes.txt")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="file-error"' in html and "The file is neither a .zip archive nor JSON." in html
    assert 'aria-invalid="true"' in html


def test_the_api_document_lists_the_import_with_its_file_and_answers(client: FlaskClient):
    document = client.get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/conversations/import"]["post"]
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert form["properties"]["file"]["contentMediaType"] == "application/octet-stream"
    assert set(operation["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "409",
        "413",
    }  # 403: a token without the chat scope
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(document["components"]["schemas"][answer]["required"]) == {"imported", "skipped", "failed"}
