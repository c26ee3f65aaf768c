"""The chat JSON API: the same service as the pages, one reply per call, and the same rules for bad input."""

from __future__ import annotations

import pytest

from tests.support.chat import BEDROCK_MODEL, ChatClient, chat_settings, reset, stored_conversation, stored_counts
from tests.support.web import bearer


@pytest.fixture
def app_overrides(openai_server, bedrock_server):
    reset(openai_server)
    reset(bedrock_server)
    return chat_settings(openai_server, bedrock_server)


@pytest.fixture
def api(client, staff_token):
    def call(method: str, url: str, **kwargs):
        return client.open(url, method=method, headers=bearer(staff_token), **kwargs)

    return call


def test_post_chat_answers_and_keeps_both_messages(app, api, openai_server):
    response = api("POST", "/api/chat", json={"message": "Hello API", "system": "Be kind."})

    assert response.status_code == 200
    body = response.get_json()
    assert body["reply"] == "You said: Hello API"
    assert body["model"] == "gpt-4o-mini" and body["provider"] == "openai"
    assert body["usage"]["prompt_tokens"] == 4 and body["usage"]["completion_tokens"] == 4
    conversation = stored_conversation(app, body["conversation_id"])
    assert conversation.system_prompt == "Be kind." and conversation.title == "Hello API"
    assert [(m.role, m.status) for m in conversation.messages] == [("user", "complete"), ("assistant", "complete")]
    assert conversation.messages[1].id == body["message_id"]
    assert openai_server.last_request.body["messages"][0] == {"role": "system", "content": "Be kind."}


def test_post_chat_continues_a_conversation_with_another_model(app, api, bedrock_server):
    first = api("POST", "/api/chat", json={"message": "One"}).get_json()
    second = api(
        "POST",
        "/api/chat",
        json={
            "message": "Two",
            "conversation_id": first["conversation_id"],
            "model": f"bedrock:{BEDROCK_MODEL}",
        },
    )

    assert second.status_code == 200
    assert (
        second.get_json()["model"] == BEDROCK_MODEL and second.get_json()["conversation_id"] == first["conversation_id"]
    )
    sent = bedrock_server.last_request.body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert len(stored_conversation(app, first["conversation_id"]).messages) == 4


def test_a_bare_model_name_is_accepted(api):
    response = api("POST", "/api/chat", json={"message": "Hi", "model": "gpt-4o"})
    assert response.status_code == 200 and response.get_json()["model"] == "gpt-4o"


@pytest.mark.parametrize("body", [{}, {"message": ""}, {"message": "   \n\t "}, {"message": None}])
def test_missing_or_empty_message_is_400_and_nothing_is_stored(app, api, openai_server, body):
    response = api("POST", "/api/chat", json=body)
    assert response.status_code == 400
    assert "Type a message" in response.get_json()["error"]
    assert stored_counts(app) == (0, 0) and openai_server.requests == []


@pytest.mark.parametrize(
    "body, words",
    [
        ("not json", "Send a JSON object"),
        ({"message": 12}, "'message' must be a string"),
        ({"message": "Hi", "conversation_id": "3"}, "'conversation_id' must be a whole number"),
    ],
)
def test_malformed_requests_are_400(app, api, body, words):
    kwargs = {"data": body, "content_type": "text/plain"} if isinstance(body, str) else {"json": body}
    response = api("POST", "/api/chat", **kwargs)
    assert response.status_code == 400 and words in response.get_json()["error"]
    assert stored_counts(app) == (0, 0)


def test_unknown_model_is_400_naming_the_choices(app, api, openai_server):
    response = api("POST", "/api/chat", json={"message": "Hi", "model": "openai:gpt-99"})
    assert response.status_code == 400
    assert "'openai:gpt-99' is not available" in response.get_json()["error"]
    assert "openai:gpt-4o-mini" in response.get_json()["error"]
    assert stored_counts(app) == (0, 0) and openai_server.requests == []


def test_list_search_read_and_delete_conversations(app, api):
    ids = [
        api("POST", "/api/chat", json={"message": text}).get_json()["conversation_id"]
        for text in ("About penguins", "About volcanoes", "More penguins please")
    ]

    listing = api("GET", "/api/conversations").get_json()
    assert [item["id"] for item in listing["conversations"]] == ids[::-1]
    assert listing["total"] == 3 and listing["page"] == 1 and "messages" not in listing["conversations"][0]

    found = api("GET", "/api/conversations?q=penguins").get_json()
    assert sorted(item["id"] for item in found["conversations"]) == sorted([ids[0], ids[2]])

    paged = api("GET", "/api/conversations?per_page=2&page=2").get_json()
    assert [item["id"] for item in paged["conversations"]] == [ids[0]] and paged["pages"] == 2

    one = api("GET", f"/api/conversations/{ids[1]}").get_json()
    assert one["title"] == "About volcanoes"
    assert [(m["role"], m["content"]) for m in one["messages"]] == [
        ("user", "About volcanoes"),
        ("assistant", "You said: About volcanoes"),
    ]

    assert api("DELETE", f"/api/conversations/{ids[1]}").status_code == 204
    assert api("GET", f"/api/conversations/{ids[1]}").status_code == 404
    assert stored_counts(app) == (2, 4)


def test_another_users_conversation_is_404_on_every_api_route(app, api, other_client, other_staff):
    other = ChatClient(other_client)
    conversation_id, _ = other.chat("Mine, not yours")

    assert api("GET", f"/api/conversations/{conversation_id}").status_code == 404
    assert api("DELETE", f"/api/conversations/{conversation_id}").status_code == 404
    response = api("POST", "/api/chat", json={"message": "Sneaky", "conversation_id": conversation_id})
    assert response.status_code == 404
    assert api("GET", "/api/conversations").get_json()["total"] == 0
    assert len(stored_conversation(app, conversation_id).messages) == 2


def test_the_api_needs_a_token(client):
    assert client.post("/api/chat", json={"message": "Hi"}).status_code == 401
    assert client.get("/api/conversations").status_code == 401


def test_the_json_export_writes_a_conversation_as_the_api_answers_it(api, staff_client):
    conversation_id = api("POST", "/api/chat", json={"message": "One schema", "system": "Be „brief“."}).get_json()[
        "conversation_id"
    ]
    answered = api("GET", f"/api/conversations/{conversation_id}").get_json()
    exported = staff_client.get(f"/history/{conversation_id}/export.json").get_json()
    assert exported == answered
    assert [message["role"] for message in exported["messages"]] == ["user", "assistant"]
    assert answered["created_at"].endswith("+00:00")  # UTC, written as it was before the schemas
