"""Temporary chats: the reply streams (to the page) or comes back whole (the API) like any other, and nothing of
the conversation is written anywhere: no row of any table and no log line holds its words, and the API answers
`"conversation_id": null`. Only its token count reaches the usage ledger. CHAT_TEMPORARY_ALLOWED=false refuses it."""

from __future__ import annotations

import html
import json
import logging

import pytest
from sqlalchemy import inspect, select, text

from tests.support.chat import BEDROCK_MODEL, ChatClient, chat_settings, reset, stored_counts
from tests.support.factories import make_conversation, make_project
from tests.support.web import bearer, csrf_token
from webapp.extensions import db
from webapp.usage.models import UsageEvent

SECRET = "heliotrope-5b1e"


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of the app, the server and the model clients, at DEBUG."""
    for name in (None, "webapp", "werkzeug", "openai", "httpx", "httpcore", "botocore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def everything_stored(app) -> str:
    """Every row of every table in the database (SQLite's full-text index tables included), as text."""
    with app.app_context(), db.engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        assert "conversations" in tables and "usage_events" in tables
        return "\n".join(repr(row) for table in tables for row in connection.execute(text(f'SELECT * FROM "{table}"')))


def usage_rows(app) -> list[tuple]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(UsageEvent.source, UsageEvent.model, UsageEvent.prompt_tokens, UsageEvent.completion_tokens)
            )
        ]


def page_post(client, body: dict, token: str | None):
    headers = {"X-CSRFToken": token} if token else {}
    return client.post("/chat/temporary", json=body, headers={**headers, "HX-Request": "true"})


def ndjson(response) -> list[dict]:
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line]


@pytest.mark.both_databases
def test_a_temporary_chat_is_written_to_no_table_and_no_log_and_only_its_tokens_are_counted(
    app, client, staff, staff_client, staff_token, openai_server, captured, db_backend
):
    make_conversation(app, staff, 2, title="A saved one")
    before = stored_counts(app)
    token = csrf_token(staff_client, "/chat")

    first = page_post(staff_client, {"message": f"My plan is {SECRET}", "system": f"Keep {SECRET} quiet"}, token)
    assert first.status_code == 200 and first.mimetype == "application/x-ndjson"
    events = ndjson(first)
    streamed = "".join(event.get("delta", "") for event in events)
    assert streamed == f"You said: My plan is {SECRET}"
    assert events[-1]["done"] is True and events[-1]["status"] == "complete"
    assert f"You said: My plan is {SECRET}" in events[-1]["html"]

    turns = [{"role": "user", "content": f"My plan is {SECRET}"}, {"role": "assistant", "content": streamed}]
    second = page_post(staff_client, {"message": "And then?", "turns": turns}, token)
    assert ndjson(second)[-1]["status"] == "complete"
    assert [(m["role"], m["content"]) for m in openai_server.last_request.body["messages"]] == [
        ("user", f"My plan is {SECRET}"),
        ("assistant", streamed),
        ("user", "And then?"),
    ]

    api = client.post(
        "/api/chat",
        json={"message": f"Again {SECRET}", "temporary": True, "turns": turns},
        headers=bearer(staff_token),
    )
    assert api.status_code == 200, api.get_json()
    answer = api.get_json()
    assert answer["reply"] == f"You said: Again {SECRET}"
    assert answer["conversation_id"] is None and answer["message_id"] is None and answer["question_id"] is None
    assert answer["usage"]["completion_tokens"] == 4

    assert stored_counts(app) == before
    stored = everything_stored(app)
    assert SECRET not in stored and "And then?" not in stored
    logged = "\n".join(record.getMessage() for record in captured.records) + captured.text
    assert "POST /chat/temporary 200" in logged, "the request log line is there, with the path only"
    assert SECRET not in logged and "And then?" not in logged
    counted = usage_rows(app)
    assert [row[:2] for row in counted] == [("temporary", "gpt-4o-mini")] * 3
    assert all(prompt > 0 and completion > 0 for _, _, prompt, completion in counted)


def test_a_temporary_chat_in_a_project_gets_its_instructions_and_model_without_storing_anything(
    app, staff, staff_client, openai_server
):
    project = make_project(app, staff, "Formal", instructions="Be formal.", model="openai:gpt-4o")
    token = csrf_token(staff_client, "/chat")
    response = page_post(staff_client, {"message": "Hi", "system": "Be brief.", "project_id": project.id}, token)
    assert ndjson(response)[-1]["status"] == "complete"
    sent = openai_server.last_request.body
    assert sent["model"] == "gpt-4o"
    assert sent["messages"][0] == {"role": "system", "content": "Be formal.\n\nBe brief."}
    assert stored_counts(app) == (0, 0)


def test_a_failed_temporary_reply_says_why_and_still_counts_the_request(
    app, staff_client, client, staff_token, openai_server
):
    openai_server.error_status = 500
    token = csrf_token(staff_client, "/chat")
    events = ndjson(page_post(staff_client, {"message": "Are you there?"}, token))
    assert events[-1]["status"] == "error"
    assert "The reply failed." in events[-1]["html"] and "(500)" in events[-1]["html"]
    api = client.post("/api/chat", json={"message": "Hello", "temporary": True}, headers=bearer(staff_token))
    assert api.status_code == 503 and "(500)" in api.get_json()["error"]
    assert api.get_json().get("conversation_id") is None
    assert [row[0] for row in usage_rows(app)] == ["temporary", "temporary"]
    assert stored_counts(app) == (0, 0)


def test_the_page_needs_its_csrf_token_and_a_signed_in_user(app, staff_client, client):
    refused = page_post(staff_client, {"message": "Hello"}, None)
    assert refused.status_code == 400
    assert "expired" in refused.get_data(as_text=True)
    anonymous = client.post("/chat/temporary", json={"message": "Hello"})
    assert anonymous.status_code in (302, 400)
    assert usage_rows(app) == []


@pytest.mark.parametrize(
    "body, status, sentence",
    [
        ({"message": " "}, 400, "Type a message before sending it."),
        ({"message": "Hi", "conversation_id": 1}, 400, "cannot continue a saved conversation"),
        ({"message": "Hi", "turns": [{"role": "system", "content": "x"}]}, 400, "'turns.0.role' must be one of"),
        ({"message": "Hi", "turns": [{"role": "user", "content": "x" * 200_001}]}, 413, "the limit is 200,000"),
        ({"message": "Hi", "model": "gpt-9"}, 400, "The model 'gpt-9' is not available here."),
        ({"message": "Hi", "project_id": 999}, 404, "There is no such project"),
    ],
)
def test_a_refused_temporary_message_says_why_and_nothing_is_sent(
    app, staff_client, openai_server, body, status, sentence
):
    token = csrf_token(staff_client, "/chat")
    response = page_post(staff_client, body, token)
    assert response.status_code == status, response.get_data(as_text=True)
    assert sentence in html.unescape(response.get_data(as_text=True))
    assert openai_server.requests == []


def test_the_api_refuses_turns_without_temporary_and_temporary_with_a_conversation(app, client, staff, staff_token):
    conversation = make_conversation(app, staff, 2)
    for body, sentence in [
        ({"message": "Hi", "turns": [{"role": "user", "content": "x"}]}, "'turns' are for temporary chats only"),
        ({"message": "Hi", "temporary": True, "conversation_id": conversation.id}, "cannot continue a saved"),
    ]:
        response = client.post("/api/chat", json=body, headers=bearer(staff_token))
        assert response.status_code == 400 and sentence in response.get_json()["error"]


def test_a_form_post_with_the_toggle_on_stores_nothing(app, staff_client):
    """The page's script sends temporary chats; if it did not run, the composer's own POST must not store one."""
    response = ChatClient(staff_client).post("/chat", {"message": f"Hello {SECRET}", "temporary": "1"})
    assert response.status_code == 400
    assert stored_counts(app) == (0, 0)


class TestTurnedOff:
    @pytest.fixture
    def app_overrides(self, openai_server):
        reset(openai_server)
        return chat_settings(openai_server, CHAT_TEMPORARY_ALLOWED="false")

    def test_temporary_chats_are_refused_with_a_reason_and_the_toggle_is_gone(
        self, app, client, staff_client, staff_token, openai_server
    ):
        assert 'id="temporary"' not in staff_client.get("/chat").get_data(as_text=True)
        page = page_post(staff_client, {"message": "Hello"}, csrf_token(staff_client, "/chat"))
        api = client.post("/api/chat", json={"message": "Hello", "temporary": True}, headers=bearer(staff_token))
        for response in (page, api):
            assert response.status_code == 403
            assert "Temporary chats are turned off on this Workbench" in response.get_data(as_text=True)
        assert openai_server.requests == [] and usage_rows(app) == []
        saved = client.post("/api/chat", json={"message": "Hello"}, headers=bearer(staff_token))
        assert saved.status_code == 200 and saved.get_json()["conversation_id"] is not None


def test_the_chat_page_offers_the_toggle_for_a_new_conversation_only(app, staff, staff_client):
    page = staff_client.get("/chat").get_data(as_text=True)
    assert 'id="temporary"' in page and 'data-temporary-url="/chat/temporary"' in page
    assert "js/temporary.js" in page
    conversation = make_conversation(app, staff, 2)
    assert 'id="temporary"' not in staff_client.get(f"/chat/{conversation.id}").get_data(as_text=True)


class TestBedrock:
    @pytest.fixture
    def app_overrides(self, openai_server, bedrock_server):
        reset(openai_server)
        reset(bedrock_server)
        return chat_settings(openai_server, bedrock_server)

    def test_a_temporary_chat_on_bedrock_leaves_no_words_in_the_log_even_at_debug(
        self, app, client, staff_token, captured
    ):
        response = client.post(
            "/api/chat",
            json={"message": f"Plan {SECRET}", "temporary": True, "model": f"bedrock:{BEDROCK_MODEL}"},
            headers=bearer(staff_token),
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["reply"] == f"You said: Plan {SECRET}"
        assert any(record.name.startswith("botocore") for record in captured.records), "botocore's log was captured"
        leaking = sorted({record.name for record in captured.records if SECRET in record.getMessage()})
        assert leaking == []
        assert SECRET not in everything_stored(app)
