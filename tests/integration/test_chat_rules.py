"""Bad input and hostile output on the chat pages: clear refusals that store nothing, strangers get 404, no model
configured is said plainly, and whatever HTML a model sends is rendered inert."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.support.chat import ChatClient, chat_settings, reset, stored_conversation, stored_counts
from webapp.chat.models import Message
from webapp.extensions import db


@pytest.fixture
def app_overrides(request, openai_server):
    reset(openai_server)
    settings = chat_settings(openai_server)
    settings.update(getattr(request, "param", {}))
    return settings


NO_PROVIDER = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}


@pytest.fixture
def chat(staff_client) -> ChatClient:
    return ChatClient(staff_client)


# -- what the user sends -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \r\n"])
def test_empty_or_blank_message_is_400_and_nothing_is_stored(app, chat, openai_server, text):
    response = chat.post("/chat", {"message": text})
    assert response.status_code == 400
    assert "Type a message before sending it." in response.get_data(as_text=True)
    assert stored_counts(app) == (0, 0) and openai_server.requests == []


def test_a_100_kb_message_is_accepted_whole_and_reaches_the_model(app, chat, openai_server):
    text = ("All work and no play. " * 5000)[:100_000]
    openai_server.reply = "Received."  # not an echo: 100 kB streamed back word by word would only cost time
    conversation_id, reply_id = chat.start(text)
    chat.stream(reply_id)

    conversation = stored_conversation(app, conversation_id)
    assert conversation.messages[0].content == text.strip()
    assert conversation.messages[1].status == "complete"
    assert openai_server.last_request.body["messages"][-1]["content"] == text.strip()
    assert len(conversation.title) <= 80


def test_a_message_over_the_limit_is_413_naming_the_limit(app, chat, openai_server):
    app.config["CHAT_MAX_MESSAGE_CHARS"] = 50_000
    response = chat.post("/chat", {"message": "x" * 50_001})
    assert response.status_code == 413
    assert "the limit is 50,000 characters" in response.get_data(as_text=True)
    assert stored_counts(app) == (0, 0) and openai_server.requests == []


def test_a_form_too_large_to_parse_still_gets_413_naming_the_limit(app, chat):
    app.config["CHAT_MAX_MESSAGE_CHARS"] = 1000
    app.config["MAX_FORM_MEMORY_SIZE"] = 10_000
    response = chat.post("/chat", {"message": "z" * 20_000})
    assert response.status_code == 413
    assert "the limit is 1,000 characters" in response.get_data(as_text=True)
    assert stored_counts(app) == (0, 0)


def test_the_api_names_the_limit_too(app, client, staff_token):
    app.config["CHAT_MAX_MESSAGE_CHARS"] = 1000
    response = client.post(
        "/api/chat", json={"message": "y" * 1001}, headers={"Authorization": f"Bearer {staff_token}"}
    )
    assert response.status_code == 413
    assert response.get_json()["limit"] == 1000 and "1,000 characters" in response.get_json()["error"]


def test_unknown_model_is_400_and_nothing_is_stored(app, chat, openai_server):
    response = chat.post("/chat", {"message": "Hello", "model": "openai:not-a-model"})
    assert response.status_code == 400
    assert "is not available here" in response.get_data(as_text=True)
    assert stored_counts(app) == (0, 0) and openai_server.requests == []


def test_rename_and_system_prompt_are_saved_and_an_empty_title_refused(app, chat, openai_server):
    conversation_id, reply_id = chat.start("Name me")
    chat.stream(reply_id)

    response = chat.post(f"/chat/{conversation_id}/settings", {"title": "  Better   title ", "system_prompt": "Rhyme."})
    assert response.status_code == 200 and "Better title" in response.get_data(as_text=True)
    assert chat.post(f"/chat/{conversation_id}/settings", {"title": "  "}).status_code == 400

    chat.stream(chat.send(conversation_id, "Next"))
    conversation = stored_conversation(app, conversation_id)
    assert (conversation.title, conversation.system_prompt) == ("Better title", "Rhyme.")
    assert openai_server.last_request.body["messages"][0] == {"role": "system", "content": "Rhyme."}


def test_the_title_comes_from_the_first_message_cut_at_a_word(app, chat):
    long_question = "Could you please explain " + "very " * 30 + "carefully how tides work?"
    conversation_id, _ = chat.start(long_question)
    title = stored_conversation(app, conversation_id).title
    assert title.startswith("Could you please explain very") and title.endswith("…") and len(title) <= 80
    assert not title.endswith(" …")


# -- strangers ---------------------------------------------------------------------------------------------------

PAGE_ROUTES = [
    ("GET", "/chat/{conversation}"),
    ("POST", "/chat/{conversation}/messages"),
    ("POST", "/chat/{conversation}/settings"),
    ("GET", "/chat/messages/{reply}/stream"),
    ("POST", "/chat/messages/{reply}/stop"),
    ("POST", "/chat/messages/{reply}/regenerate"),
    ("POST", "/chat/messages/{question}/edit"),
    ("POST", "/chat/messages/{reply}/select"),
    ("POST", "/history/{conversation}/pin"),
    ("POST", "/history/{conversation}/unpin"),
    ("POST", "/history/{conversation}/rename"),
    ("POST", "/history/{conversation}/delete"),
    ("GET", "/history/{conversation}/export.md"),
    ("GET", "/history/{conversation}/export.json"),
]


def test_another_users_conversation_is_404_on_every_page_route(app, chat, other_client):
    conversation_id, reply_id = chat.start("Private matters")
    with app.app_context():  # a failed reply, so that Retry would otherwise be allowed
        db.session.get(Message, reply_id).status = "error"
        db.session.commit()
    stranger = ChatClient(other_client)

    for method, route in PAGE_ROUTES:
        url = route.format(conversation=conversation_id, reply=reply_id, question=reply_id - 1)
        if method == "GET":
            response = other_client.get(url)
        else:
            response = stranger.post(url, {"message": "hi", "title": "mine now"})
        assert response.status_code == 404, (method, url, response.status_code)

    conversation = stored_conversation(app, conversation_id)
    assert conversation.title == "Private matters" and not conversation.pinned
    assert [m.status for m in conversation.messages] == ["complete", "error"]
    assert not conversation.messages[1].stop_requested


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for url in ("/chat", "/chat/1", "/history", "/history/export.json"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# -- no model configured -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_overrides", [NO_PROVIDER], indirect=True)
def test_without_a_model_the_chat_page_says_how_to_configure_one(app, staff_client):
    assert app.extensions["chat_providers"] == {}
    page = staff_client.get("/chat").get_data(as_text=True)
    assert "No model is configured." in page
    for setting in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "BEDROCK_MODELS", "AWS_REGION"):
        assert setting in page
    assert 'id="composer"' not in page


@pytest.mark.parametrize("app_overrides", [NO_PROVIDER], indirect=True)
def test_without_a_model_sending_is_503_with_the_explanation_and_no_fake_reply(app, chat, client, staff_token):
    response = chat.post("/chat", {"message": "Hello?"})
    assert response.status_code == 503 and "No model is configured" in response.get_data(as_text=True)
    api = client.post("/api/chat", json={"message": "Hello?"}, headers={"Authorization": f"Bearer {staff_token}"})
    assert api.status_code == 503 and "No model is configured" in api.get_json()["error"]
    assert stored_counts(app) == (0, 0)


# -- what the model sends ----------------------------------------------------------------------------------------

HOSTILE_REPLY = (
    "Here you go: <script>alert('x')</script> <img src=x onerror=\"alert(1)\"> "
    '[click me](javascript:alert(2)) <a href="javascript:alert(3)" onclick="alert(4)">link</a> '
    '<iframe src="https://evil.example"></iframe> [fine](https://example.com)\n\n```html\n<script>ok()</script>\n```'
)


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(fragment: str) -> None:
    collector = TagCollector()
    collector.feed(fragment)
    for tag, attrs in collector.tags:
        assert tag not in {"script", "iframe", "img", "object", "embed"}, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src"):
            assert not (attrs.get(name) or "").strip().lower().startswith("javascript:"), (tag, attrs)


def test_script_event_handlers_and_javascript_links_in_a_reply_are_inert(app, chat, openai_server):
    openai_server.reply = HOSTILE_REPLY
    conversation_id, reply_id = chat.start("<script>alert('me')</script> please")
    events = chat.stream(reply_id)

    for event in events:
        assert_inert(event.data)
    done = events[-1].data
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">fine</a>' in done
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in done or "&lt;script&gt;alert('x')&lt;/script&gt;" in done
    )
    assert '<code class="language-html">' in done

    page = chat.client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    main = page[page.index("<main") : page.index("</main>")]
    assert_inert(main)
    assert "&lt;script&gt;alert(&#39;me&#39;)&lt;/script&gt; please" in main
