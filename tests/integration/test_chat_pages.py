"""The chat pages: a message is kept at once, the reply streams in and is stored with its usage, whatever happens.

The model services are the local fake servers (tests/support/servers) reached by the real openai and boto3 clients.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from tests.support.chat import (
    BEDROCK_MODEL,
    ChatClient,
    chat_settings,
    deltas,
    reset,
    stored_conversation,
    stored_message,
)
from webapp.chat.models import Message
from webapp.extensions import db


@pytest.fixture
def app_overrides(openai_server, bedrock_server):
    reset(openai_server)
    reset(bedrock_server)
    return chat_settings(openai_server, bedrock_server)


@pytest.fixture
def chat(staff_client) -> ChatClient:
    return ChatClient(staff_client)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# -- the page ------------------------------------------------------------------------------------------------


def test_chat_page_offers_every_configured_model_default_first(staff_client):
    page = staff_client.get("/chat").get_data(as_text=True)
    assert "<textarea" in page and 'data-enter-sends="true"' in page
    options = re.findall(r'<option( selected)? value="([^"]+)"', page)
    assert [value for _, value in options] == ["openai:gpt-4o-mini", "openai:gpt-4o", f"bedrock:{BEDROCK_MODEL}"]
    assert options[0][0] == " selected"
    assert "js/chat.js" in page and "htmx-ext-sse" in page


# -- sending and streaming -----------------------------------------------------------------------------------


def test_message_and_pending_reply_are_committed_before_the_model_is_called(app, chat, openai_server):
    conversation_id, reply_id = chat.start("What is a monad, in one line?")

    assert openai_server.requests == []
    conversation = stored_conversation(app, conversation_id)
    assert conversation.title == "What is a monad, in one line?"
    question, reply = conversation.messages
    assert (question.role, question.status, question.content) == ("user", "complete", "What is a monad, in one line?")
    assert (reply.id, reply.role, reply.status, reply.content) == (reply_id, "assistant", "pending", "")
    assert (reply.provider, reply.model) == ("openai", "gpt-4o-mini")


def test_reply_streams_word_by_word_and_is_stored_with_usage_latency_provider_and_model(app, chat, openai_server):
    openai_server.reply = "A monad is **a monoid** in the category of endofunctors."
    conversation_id, reply_id = chat.start("What is a monad?")

    events = chat.stream(reply_id)

    words = [event.data for event in events if event.name == "delta"]
    assert len(words) == 10 and words[0] == "A " and "".join(words) == html.escape(openai_server.reply, quote=True)
    assert events[-1].name == "done"
    assert "<strong>a monoid</strong>" in events[-1].data and 'data-status="complete"' in events[-1].data
    reply = stored_message(app, reply_id)
    assert reply.status == "complete" and reply.content == openai_server.reply
    assert (reply.provider, reply.model, reply.finish_reason) == ("openai", "gpt-4o-mini", "stop")
    assert reply.prompt_tokens == 4 and reply.completion_tokens == 10
    assert reply.latency_ms is not None and reply.latency_ms >= 0 and reply.completed_at is not None
    assert openai_server.last_request.body["stream"] is True


def test_bedrock_model_streams_through_converse_stream(app, chat, bedrock_server, openai_server):
    _, reply = chat.chat("Hello Bedrock", model=f"bedrock:{BEDROCK_MODEL}")

    assert reply.status == "complete" and reply.content == "You said: Hello Bedrock"
    assert (reply.provider, reply.model) == ("bedrock", BEDROCK_MODEL)
    assert (reply.prompt_tokens, reply.completion_tokens) == (2, 4)
    assert bedrock_server.last_request.extra["operation"] == "converse-stream"
    assert openai_server.requests == []


def test_continuing_sends_the_history_and_the_system_prompt(app, chat, openai_server):
    conversation_id, reply_id = chat.start("First question", system="Answer like a pirate.")
    chat.stream(reply_id)
    chat.stream(chat.send(conversation_id, "Second question"))

    sent = openai_server.last_request.body["messages"]
    assert sent == [
        {"role": "system", "content": "Answer like a pirate."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "You said: First question"},
        {"role": "user", "content": "Second question"},
    ]
    assert [m.status for m in stored_conversation(app, conversation_id).messages] == ["complete"] * 4


def test_the_oldest_turns_are_dropped_beyond_the_context_budget(app, chat, openai_server):
    app.config["CHAT_CONTEXT_CHARS"] = 200
    conversation_id, reply_id = chat.start("A" * 80, system="Be brief.")
    chat.stream(reply_id)
    chat.stream(chat.send(conversation_id, "B" * 80))

    sent = openai_server.last_request.body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert [m["content"] for m in sent[1:]] == ["B" * 80]
    assert sum(len(m["content"]) for m in sent) <= 200


def test_a_second_window_follows_the_stream_instead_of_asking_again(app, chat, openai_server):
    conversation_id, reply_id = chat.start("Once only")
    first = chat.stream(reply_id)
    again = chat.stream(reply_id)

    assert len(openai_server.requests) == 1
    assert deltas(first) == "You said: Once only"
    assert [event.name for event in again] == ["done"] and "You said: Once only" in again[0].data


def test_sending_while_a_reply_is_pending_is_refused_and_keeps_nothing_twice(app, chat):
    conversation_id, _ = chat.start("First")
    response = chat.post(f"/chat/{conversation_id}/messages", {"message": "Too soon"})

    assert response.status_code == 409
    assert "still being written" in response.get_data(as_text=True)
    assert count(app, Message) == 2


def test_plain_form_posts_without_javascript_redirect_to_the_conversation(app, chat):
    response = chat.post("/chat", {"message": "No htmx here"}, htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/chat/")
    page = chat.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "No htmx here" in page and "sse-connect" in page


# -- stop, disconnect, retry -----------------------------------------------------------------------------------


def test_stop_ends_a_running_stream_and_keeps_the_partial_text(app, chat, openai_server):
    openai_server.reply = " ".join(f"word{index}" for index in range(200))
    openai_server.token_delay = 0.01
    _, reply_id = chat.start("Tell me a long story")

    response = chat.client.get(f"/chat/messages/{reply_id}/stream", buffered=False)
    chunks = iter(response.response)
    received = [next(chunks) for _ in range(3)]
    # The Stop button is another request (possibly another worker): it only sets a flag in the database.
    assert chat.post(f"/chat/messages/{reply_id}/stop").status_code == 202
    received += list(chunks)
    response.close()

    body = b"".join(received).decode()
    reply = stored_message(app, reply_id)
    assert reply.status == "interrupted" and reply.stop_requested
    assert reply.content.startswith("word0 word1 word2") and len(reply.content) < len(openai_server.reply)
    assert 'data-status="interrupted"' in body and "event: done" in body


def test_closing_the_page_mid_stream_leaves_the_reply_interrupted_with_its_text(app, chat, openai_server):
    openai_server.reply = " ".join(f"word{index}" for index in range(200))
    openai_server.token_delay = 0.01
    _, reply_id = chat.start("Tell me a long story")

    response = chat.client.get(f"/chat/messages/{reply_id}/stream", buffered=False)
    chunks = iter(response.response)
    for _ in range(4):
        next(chunks)
    response.close()  # what the server sees when the browser goes away

    reply = stored_message(app, reply_id)
    assert reply.status == "interrupted"
    assert reply.content.startswith("word0 word1 word2 word3")


def test_stop_before_the_stream_begins_interrupts_at_once(app, chat, openai_server):
    _, reply_id = chat.start("Never mind")
    assert chat.post(f"/chat/messages/{reply_id}/stop").status_code == 202

    events = chat.stream(reply_id)
    assert [event.name for event in events] == ["done"] and 'data-status="interrupted"' in events[0].data
    assert openai_server.requests == []
    assert stored_message(app, reply_id).status == "interrupted"


def make_silent_since(app, reply_id: int, seconds: float, content: str = "") -> None:
    """As if the reply's stream began, saved `content`, then fell silent `seconds` ago (its worker was killed)."""
    from datetime import timedelta

    from webapp.timeutil import utcnow

    with app.app_context():
        message = db.session.get(Message, reply_id)
        message.started_at = message.heartbeat_at = utcnow() - timedelta(seconds=seconds)
        message.content = content
        db.session.commit()


def test_the_conversation_page_and_the_api_show_a_dead_reply_as_interrupted(app, chat, staff_token):
    from tests.support.web import bearer

    conversation_id, reply_id = chat.start("Hello")
    make_silent_since(app, reply_id, 3600, "Saved before the crash")

    page = chat.client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert 'data-status="interrupted"' in page and "Saved before the crash" in page and "sse-connect" not in page
    assert stored_message(app, reply_id).status == "interrupted"
    api = app.test_client().get(f"/api/conversations/{conversation_id}", headers=bearer(staff_token))
    assert [message["status"] for message in api.get_json()["messages"]] == ["complete", "interrupted"]


def test_a_streaming_reply_between_two_heartbeats_is_not_taken_for_dead(app, chat):
    """Even with short model timeouts, the silence between two progress saves is not death."""
    from webapp.chat.service import CHECKPOINT_SECONDS

    app.config.update(CHAT_CONNECT_TIMEOUT=1, CHAT_READ_TIMEOUT=1, CHAT_MAX_RETRIES=0, CHAT_STALE_GRACE_SECONDS=0)
    conversation_id, reply_id = chat.start("Hello")
    make_silent_since(app, reply_id, CHECKPOINT_SECONDS + 0.5, "Still arriving")

    page = chat.client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert 'data-status="pending"' in page and stored_message(app, reply_id).status == "pending"


def test_a_reply_whose_worker_died_is_shown_interrupted_with_its_saved_text(app, chat, openai_server):
    _, reply_id = chat.start("Hello")
    make_silent_since(app, reply_id, 3600, "Saved before the crash")

    events = chat.stream(reply_id)
    reply = stored_message(app, reply_id)
    assert reply.status == "interrupted" and reply.content == "Saved before the crash"
    assert "went away" in reply.error and "Retry" in events[-1].data
    assert openai_server.requests == []
