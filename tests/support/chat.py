"""What the chat tests share: the fake model services (one per module), settings pointing the app at them, and a
client that talks to the chat pages the way htmx and EventSource do.

A pytest plugin (named in tests/conftest.py), so its fixtures are there for every module that asks. The servers
start once per module; each module's `app_overrides` calls `reset` so no test sees another's delays or errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from tests.support.servers.bedrock_server import BedrockServer
from tests.support.servers.openai_server import OpenAIServer
from tests.support.web import csrf_token
from webapp.chat.models import Conversation, Message
from webapp.extensions import db

OPENAI_MODELS = ["gpt-4o-mini", "gpt-4o"]
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
STREAM_URL = re.compile(r'sse-connect="/chat/messages/(\d+)/stream"')


@pytest.fixture(scope="module")
def aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy static credentials, and nothing from this machine's own AWS set-up."""
    folder = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-credentials"))
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(models=OPENAI_MODELS) as server:
        yield server


@pytest.fixture(scope="module")
def bedrock_server(aws_credentials: None) -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        yield server


def reset(server: OpenAIServer | BedrockServer) -> None:
    """Back to a healthy, instant service with no recorded requests."""
    server.reply = None
    server.first_token_delay = server.token_delay = server.header_delay = 0.0
    server.error_status = server.error_times = None
    server.cut_after_chunks = server.stream_error_after_chunks = None
    if isinstance(server, OpenAIServer):
        server.finish_reason, server.retry_after_ms, server.error_code = "stop", 10, None
    else:
        server.stop_reason, server.error_type, server.stream_error_type = "end_turn", None, "modelStreamErrorException"
    with server._lock:
        server.requests.clear()


def chat_settings(
    openai_server: OpenAIServer, bedrock_server: BedrockServer | None = None, **extra: Any
) -> dict[str, Any]:
    """Settings that point the app at the fake services, with short timeouts and no retries."""
    settings: dict[str, Any] = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": openai_server.base_url,
        "OPENAI_MODELS": ",".join(OPENAI_MODELS),
        "CHAT_CONNECT_TIMEOUT": 1.0,
        "CHAT_READ_TIMEOUT": 1.0,
        "CHAT_MAX_RETRIES": 0,
    }
    if bedrock_server is not None:
        settings.update(
            BEDROCK_MODELS=BEDROCK_MODEL, BEDROCK_REGION="us-east-1", BEDROCK_ENDPOINT_URL=bedrock_server.endpoint_url
        )
    settings.update(extra)
    return settings


@dataclass
class SSEEvent:
    name: str
    data: str


def parse_sse(body: str) -> list[SSEEvent]:
    """Events of a text/event-stream body, as EventSource delivers them (comments dropped, data lines joined)."""
    events = []
    for block in body.split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                value = line[len("data:") :]
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            events.append(SSEEvent(name, "\n".join(data)))
    return events


class ChatClient:
    """A signed-in test client that posts like htmx (CSRF header, HX-Request) and reads reply streams."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.client, "/chat")
        return self._token

    def post(self, url: str, data: dict[str, Any] | None = None, htmx: bool = True) -> TestResponse:
        headers = {"X-CSRFToken": self.token}
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=data or {}, headers=headers)

    def start(
        self, message: str, model: str | None = None, system: str | None = None, project_id: int | None = None
    ) -> tuple[int, int]:
        """Start a conversation (in the project `project_id`, if given); return (conversation id, pending reply id)."""
        data = {"message": message}
        if model:
            data["model"] = model
        if system:
            data["system_prompt"] = system
        if project_id is not None:
            data["project_id"] = str(project_id)
        response = self.post("/chat", data)
        assert response.status_code == 201, response.get_data(as_text=True)
        conversation_id = int(response.headers["HX-Push-Url"].rsplit("/", 1)[1])
        return conversation_id, reply_id(response)

    def send(self, conversation_id: int, message: str, model: str | None = None) -> int:
        """Send a message to a conversation; return the pending reply's id."""
        data = {"message": message}
        if model:
            data["model"] = model
        response = self.post(f"/chat/{conversation_id}/messages", data)
        assert response.status_code == 201, response.get_data(as_text=True)
        return reply_id(response)

    def stream(self, message_id: int) -> list[SSEEvent]:
        response = self.client.get(f"/chat/messages/{message_id}/stream")
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        return parse_sse(response.get_data(as_text=True))

    def chat(self, message: str, **options: Any) -> tuple[int, Message]:
        """Start a conversation and stream its reply to the end; return (conversation id, reply as stored)."""
        conversation_id, message_id = self.start(message, **options)
        self.stream(message_id)
        return conversation_id, stored_message(self.client.application, message_id)


def reply_id(response: TestResponse) -> int:
    match = STREAM_URL.findall(response.get_data(as_text=True))
    assert match, "no streaming reply in the response"
    return int(match[-1])


def stored_message(app: Flask, message_id: int) -> Message:
    with app.app_context():
        message = db.session.get(Message, message_id)
        assert message is not None
        db.session.expunge(message)
        return message


def stored_conversation(app: Flask, conversation_id: int) -> Conversation | None:
    with app.app_context():
        conversation = db.session.get(Conversation, conversation_id)
        if conversation is not None:
            list(conversation.messages)  # load them before the session goes
            db.session.expunge_all()
        return conversation


def stored_counts(app: Flask) -> tuple[int, int]:
    """How many conversations and messages are stored (to show that a refused request kept nothing)."""
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Conversation.id))),
            db.session.scalar(select(func.count(Message.id))),
        )


def deltas(events: list[SSEEvent]) -> str:
    return "".join(event.data for event in events if event.name == "delta")
