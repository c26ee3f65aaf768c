"""A message refused over a monthly limit is kept (issue 14, point 3): the chat page shows it once, with why and when
the limit resets, and an empty composer; asking again (Retry, the same text sent again, or the API's regenerate)
answers the kept message instead of storing it twice. A model the user's groups refuse keeps nothing, so what they
typed stays in the box. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from tests.support.chat import ChatClient, chat_settings, reset, stored_counts
from tests.support.web import bearer
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.usage.service import current_month, next_month_start


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


def cli(app: Flask, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def questions(app: Flask, user_id: int, text: str) -> int:
    """How many stored questions of the user say `text`."""
    with app.app_context():
        return len(
            db.session.scalars(
                select(Message.id)
                .join(Conversation)
                .where(Conversation.user_id == user_id, Message.role == "user", Message.content == text)
            ).all()
        )


def upstream_user_turns(openai_server) -> list[list[str]]:
    """The user turns of each request the model service received."""
    with openai_server._lock:
        return [
            [turn["content"] for turn in request.body["messages"] if turn["role"] == "user"]
            for request in openai_server.requests
            if request.body and "messages" in request.body
        ]


def shown(page: str, text: str) -> int:
    """How many questions of the page say `text`."""
    return page.count(f'<div class="message-text plain-text">{text}</div>')


def composer_text(page: str) -> str:
    match = re.search(r'<textarea[^>]*id="message"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no composer in the page"
    return match.group(1).strip()


def over_the_limit(app: Flask, email: str) -> None:
    """The user has used their one request this month."""
    cli(app, "usage", "limit", email, "--monthly-requests", "1")


RESETS = f"resets on {next_month_start(current_month()):%-d %B %Y} at 00:00 UTC"


@pytest.mark.both_databases
def test_a_send_over_the_limit_shows_the_kept_message_once_with_why_and_an_empty_box_and_retry_answers_it(
    app, staff, staff_client, openai_server
):
    chat = ChatClient(staff_client)
    conversation_id, reply_id = chat.start("First question")
    chat.stream(reply_id)
    over_the_limit(app, staff.email)

    refused = chat.post(f"/chat/{conversation_id}/messages", {"message": "One too many"})

    assert refused.status_code == 429
    # The whole chat section comes back: the kept message in the conversation, once, and a fresh composer.
    assert (refused.headers.get("HX-Retarget"), refused.headers.get("HX-Reswap")) == ("#chat", "outerHTML")
    page = refused.get_data(as_text=True)
    assert shown(page, "One too many") == 1
    assert composer_text(page) == ""
    assert "1 of the 1 requests that your own monthly limit allows" in page and RESETS in page
    kept_reply = int(re.findall(r'hx-post="/chat/messages/(\d+)/regenerate"', page)[-1])
    assert 'class="reply-error"' in page and "Your message is kept" in page

    cli(app, "usage", "limit", staff.email)  # an administrator lifts the limit
    retried = chat.post(f"/chat/messages/{kept_reply}/regenerate")
    assert retried.status_code == 201
    chat.stream(int(re.findall(r'sse-connect="/chat/messages/(\d+)/stream"', retried.get_data(as_text=True))[-1]))

    assert questions(app, staff.id, "One too many") == 1
    assert upstream_user_turns(openai_server)[-1] == ["First question", "One too many"]


@pytest.mark.both_databases
def test_sending_the_same_message_again_answers_the_kept_one_instead_of_storing_it_twice(
    app, staff, staff_client, openai_server
):
    chat = ChatClient(staff_client)
    conversation_id, reply_id = chat.start("First question")
    chat.stream(reply_id)
    over_the_limit(app, staff.email)
    assert chat.post(f"/chat/{conversation_id}/messages", {"message": "One too many"}).status_code == 429
    assert chat.post(f"/chat/{conversation_id}/messages", {"message": "One too many"}).status_code == 429
    assert questions(app, staff.id, "One too many") == 1  # still over: refused again, nothing stored twice

    cli(app, "usage", "limit", staff.email)
    again = chat.post(f"/chat/{conversation_id}/messages", {"message": "  One too many\r\n"})

    assert again.status_code == 201
    # The messages shown are swapped whole: the kept question is already on the page.
    assert (again.headers.get("HX-Retarget"), again.headers.get("HX-Reswap")) == ("#messages", "outerHTML")
    assert shown(again.get_data(as_text=True), "One too many") == 1
    chat.stream(int(re.findall(r'sse-connect="/chat/messages/(\d+)/stream"', again.get_data(as_text=True))[-1]))
    assert questions(app, staff.id, "One too many") == 1
    assert upstream_user_turns(openai_server)[-1] == ["First question", "One too many"]


@pytest.mark.both_databases
def test_a_new_conversation_refused_over_the_limit_opens_with_its_kept_message(app, staff, staff_client):
    cli(app, "usage", "limit", staff.email, "--monthly-requests", "0")
    chat = ChatClient(staff_client)

    refused = chat.post("/chat", {"message": "Hello there"})

    assert refused.status_code == 429
    assert (refused.headers.get("HX-Retarget"), refused.headers.get("HX-Reswap")) == ("#chat", "outerHTML")
    with app.app_context():
        conversation_id = db.session.scalar(select(Conversation.id).where(Conversation.user_id == staff.id))
    assert refused.headers["HX-Push-Url"] == f"/chat/{conversation_id}"
    page = refused.get_data(as_text=True)
    assert shown(page, "Hello there") == 1
    assert f'action="/chat/{conversation_id}/messages"' in page and composer_text(page) == ""
    assert "0 of the 0 requests" in page and RESETS in page

    # Without the page's script: the same, as a whole page, still a 429.
    plain = chat.post("/chat", {"message": "Without a script"}, htmx=False)
    assert plain.status_code == 429
    page = plain.get_data(as_text=True)
    assert shown(page, "Without a script") == 1 and RESETS in page and "Your message is kept" in page
    assert composer_text(page) == ""


@pytest.mark.both_databases
def test_the_api_429_names_the_regenerate_operation_and_asking_again_never_stores_the_message_twice(
    app, staff, staff_token, client, openai_server
):
    first = client.post("/api/chat", json={"message": "First question"}, headers=bearer(staff_token)).get_json()
    over_the_limit(app, staff.email)
    asked = {"message": "One too many", "conversation_id": first["conversation_id"]}

    refused = client.post("/api/chat", json=asked, headers=bearer(staff_token))

    assert refused.status_code == 429
    body = refused.get_json()
    assert body["retry"] == f"/api/messages/{body['message_id']}/regenerate"
    again = client.post("/api/chat", json=asked, headers=bearer(staff_token))
    assert again.status_code == 429 and again.get_json()["message_id"] == body["message_id"]
    assert questions(app, staff.id, "One too many") == 1

    cli(app, "usage", "limit", staff.email)
    answered = client.post(body["retry"], json={}, headers=bearer(staff_token))
    assert answered.status_code == 200 and answered.get_json()["reply"] == "You said: One too many"
    resent = client.post("/api/chat", json=asked, headers=bearer(staff_token))
    assert resent.status_code == 200  # the kept message was answered: sending it again is a new question
    assert questions(app, staff.id, "One too many") == 2


def test_a_model_the_groups_refuse_keeps_nothing_and_the_text_stays_for_an_allowed_model(
    app, staff, staff_client, openai_server
):
    cli(app, "groups", "create", "Interns")
    cli(app, "groups", "add", "Interns", staff.email)
    cli(app, "groups", "models", "Interns", "openai:gpt-4o-mini")
    chat = ChatClient(staff_client)
    before = stored_counts(app)

    refused = chat.post("/chat", {"message": "Which model?", "model": "openai:gpt-4o"})

    assert refused.status_code == 403 and "openai:gpt-4o-mini" in refused.get_data(as_text=True)
    assert "HX-Retarget" not in refused.headers  # shown beside the composer, which keeps what was typed
    assert stored_counts(app) == before
    chat.start("Which model?", model="openai:gpt-4o-mini")
    assert questions(app, staff.id, "Which model?") == 1
