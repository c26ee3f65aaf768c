"""Every way a model service fails, on both providers, through the page and the API: the user's message is
kept, the reply says what went wrong in a sentence, its status is right, Retry works, and nothing answers 500.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.support import processes
from tests.support.chat import (
    BEDROCK_MODEL,
    ChatClient,
    chat_settings,
    deltas,
    reset,
    stored_conversation,
    stored_message,
)
from tests.support.servers.bedrock_server import BedrockServer
from tests.support.servers.openai_server import OpenAIServer
from tests.support.web import bearer

# Server behaviour for each fault, and words the stored error must contain.
FAULTS = {
    "401": (dict(error_status=401), r"refused our credentials \(401\)"),
    "429": (dict(error_status=429), r"busy \(429\)"),
    "500": (dict(error_status=500), r"not working right now \(500\)"),
    "timeout": (dict(header_delay=1.5), r"did not answer in 1 s"),
    "refused": ({}, r"Could not connect to the model service\. An administrator can check that it is running\."),
    "cut": (dict(reply="one two three four five six", cut_after_chunks=3), r"broke off|ended the reply"),
}


@pytest.fixture(params=["openai", "bedrock"])
def provider(request) -> str:
    return request.param


@pytest.fixture(params=list(FAULTS))
def fault(request) -> str:
    return request.param


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (until the test starts a server there)."""
    return processes.closed_port()


@pytest.fixture
def app_overrides(openai_server, bedrock_server, provider, fault, closed_port):
    reset(openai_server)
    reset(bedrock_server)
    settings = chat_settings(openai_server, bedrock_server)
    if fault == "refused":
        if provider == "openai":
            settings["OPENAI_BASE_URL"] = f"http://127.0.0.1:{closed_port}/v1"
        else:
            settings["BEDROCK_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port}"
    return settings


def break_service(server, fault: str) -> None:
    for name, value in FAULTS[fault][0].items():
        setattr(server, name, value)


def test_fault_keeps_the_message_explains_it_and_retry_works(
    app, staff_client, staff_token, openai_server, bedrock_server, provider, fault, closed_port
):
    server = openai_server if provider == "openai" else bedrock_server
    model = "openai:gpt-4o-mini" if provider == "openai" else f"bedrock:{BEDROCK_MODEL}"
    words = FAULTS[fault][1]
    chat = ChatClient(staff_client)
    break_service(server, fault)

    # The page: the reply fails in place, with the sentence and a Retry button.
    conversation_id, reply_id = chat.start("Please answer", model=model)
    events = chat.stream(reply_id)

    reply = stored_message(app, reply_id)
    assert reply.status == "error" and re.search(words, reply.error), reply.error
    # Where the model server lives is for the operator's log, never in a sentence users read.
    assert "127.0.0.1" not in reply.error
    done = events[-1]
    assert done.name == "done" and 'class="reply-error"' in done.data and ">Retry</button>" in done.data
    assert html.escape(reply.error, quote=True) in done.data
    if fault == "cut":
        assert reply.content == "one two three " and deltas(events) == "one two three "
    assert stored_conversation(app, conversation_id).messages[0].content == "Please answer"

    # The API: 503 with the same sentence, and the user's message kept.
    response = staff_client.post(
        "/api/chat", json={"message": "Via the API", "model": model}, headers=bearer(staff_token)
    )
    assert response.status_code == 503
    body = response.get_json()
    assert re.search(words, body["error"]) and body["status"] == 503
    assert "127.0.0.1" not in body["error"]
    kept = stored_conversation(app, body["conversation_id"])
    assert [(m.role, m.content, m.status) for m in kept.messages][0] == ("user", "Via the API", "complete")
    assert kept.messages[1].status == "error"

    # The service recovers (or appears where it was refused): Retry gets the answer.
    reset(server)
    revived = None
    if fault == "refused":
        revived = (OpenAIServer if provider == "openai" else BedrockServer)(port=closed_port).start()
    try:
        response = chat.post(f"/chat/messages/{reply_id}/regenerate")
        assert response.status_code == 201
        html_text = response.get_data(as_text=True)
        retried = int(re.findall(r'sse-connect="/chat/messages/(\d+)/stream"', html_text)[0])
        # The new attempt is a second version of the reply, shown in the failed one's place (‹ 2/2 ›).
        assert f'id="message-{reply_id}"' not in html_text and ">Retry</button>" not in html_text
        assert "Version 2 of 2" in html_text
        chat.stream(retried)
    finally:
        if revived is not None:
            revived.stop()
    assert stored_message(app, retried).status == "complete"
    assert stored_message(app, retried).content == "You said: Please answer"
    assert stored_message(app, reply_id).status == "error"  # the failed attempt stays on record
