"""The OpenAI-compatible gateway (/v1), driven by the official `openai` Python client pointed at the app served
on a free port, with a Workbench API token as its key: the models, a completion streamed and not, each call in
the caller's history as an API conversation, or only counted with a token that keeps no history; the sampling
settings as the OpenAI and Bedrock services receive them; OpenAI's error shape for every path under /v1."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import openai
import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.support.chat import BEDROCK_MODEL, OPENAI_MODELS, chat_settings, reset
from tests.support.factories import make_token
from tests.support.web import PASSWORD, bearer, post_form
from webapp.chat.models import Conversation, Message
from webapp.extensions import db
from webapp.usage.models import UsageEvent


@pytest.fixture
def app_overrides(openai_server, bedrock_server):
    reset(openai_server)
    reset(bedrock_server)
    return chat_settings(openai_server, bedrock_server)


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The test's app (its database, SQLite or PostgreSQL) on a free port: the openai client speaks real HTTP."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    thread.join(timeout=5)


def client_for(base_url: str, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=10)


def stored(app) -> tuple[list[Conversation], list[Message], list[UsageEvent]]:
    with app.app_context():
        conversations = list(db.session.scalars(select(Conversation).order_by(Conversation.id)))
        messages = list(db.session.scalars(select(Message).order_by(Message.id)))
        usage = list(db.session.scalars(select(UsageEvent).order_by(UsageEvent.id)))
        db.session.expunge_all()
    return conversations, messages, usage


def test_the_models_are_listed_in_openais_shape(app, served, staff):
    models = client_for(served, make_token(app, staff)).models.list()
    assert [model.id for model in models.data] == [*OPENAI_MODELS, BEDROCK_MODEL]
    assert [model.owned_by for model in models.data] == ["openai", "openai", "bedrock"]


@pytest.mark.both_databases
def test_a_completion_is_answered_whole_and_kept_as_an_api_conversation(app, served, staff, openai_server, db_backend):
    client = client_for(served, make_token(app, staff))
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": [{"type": "text", "text": "What is the gateway?"}]},
        ],
        temperature=0.2,
    )
    assert answer.choices[0].message.content == "You said: What is the gateway?"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "gpt-4o-mini"
    assert answer.usage.completion_tokens == 6 and answer.usage.total_tokens == answer.usage.prompt_tokens + 6
    # The messages went to the model as sent: nothing trimmed, nothing added.
    sent = openai_server.last_request.body["messages"]
    assert [message["role"] for message in sent] == ["system", "user", "assistant", "user"]

    (conversation,), messages, (usage,) = stored(app)
    assert (conversation.origin, conversation.user_id, conversation.title) == ("gateway", staff.id, "Hello there")
    assert conversation.system_prompt == "Be brief."
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "Hello there", "complete"),
        ("assistant", "Hi.", "complete"),
        ("user", "What is the gateway?", "complete"),
        ("assistant", "You said: What is the gateway?", "complete"),
    ]
    assert messages[-1].completion_tokens == 6 and messages[-1].model == "gpt-4o-mini"
    assert (usage.user_id, usage.source, usage.completion_tokens) == (staff.id, "gateway", 6)
    assert usage.prompt_tokens == answer.usage.prompt_tokens


@pytest.mark.both_databases
def test_a_streamed_completion_arrives_in_chunks_with_usage_and_is_kept(app, served, staff, openai_server, db_backend):
    openai_server.reply = "Tides come from the Moon's gravity."
    client = client_for(served, make_token(app, staff))
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Why tides?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Tides come from the Moon's gravity."
    assert len([chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]) > 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert len({chunk.id for chunk in chunks}) == 1

    (conversation,), messages, (usage,) = stored(app)
    assert conversation.origin == "gateway" and messages[-1].content == text and messages[-1].status == "complete"
    assert (usage.source, usage.completion_tokens) == ("gateway", 6)
    # Without include_usage, no usage chunk (as OpenAI does).
    plain = list(
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True)
    )
    assert all(chunk.choices for chunk in plain) and all(chunk.usage is None for chunk in plain)


@pytest.mark.both_databases
def test_a_token_that_keeps_no_history_is_only_counted_in_both_modes(app, served, staff, db_backend):
    with app.app_context():
        from webapp.auth import service as users

        _, token = users.create_token(users.get_user(staff.id), "editor plugin", keep_history=False)
    client = client_for(served, token)
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Secret plan"}])
    streamed = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Secret plan"}], stream=True
    )
    assert whole.choices[0].message.content == "You said: Secret plan"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == "You said: Secret plan"

    conversations, messages, usage = stored(app)
    assert conversations == [] and messages == []
    assert [(event.source, event.user_id, event.completion_tokens) for event in usage] == [
        ("gateway", staff.id, 4),
        ("gateway", staff.id, 4),
    ]


def test_the_tokens_page_and_the_cli_make_a_token_that_keeps_no_history(app, staff_client, staff):
    data = {"name": "plugin", "current_password": PASSWORD, "scopes": ["chat"]}  # the box left unticked
    assert post_form(staff_client, "/account/tokens", data, page="/account/tokens").status_code == 201
    assert "(gateway history not kept)" in staff_client.get("/account/tokens").get_data(as_text=True)
    result = app.test_cli_runner().invoke(
        args=["tokens", "create", staff.email, "--name", "ci", "--scope", "chat", "--no-history"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        from webapp.auth.models import ApiToken

        assert set(db.session.scalars(select(ApiToken.keep_history))) == {False}


def test_the_history_page_marks_api_conversations(app, served, staff, staff_client):
    client_for(served, make_token(app, staff)).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "From my script"}]
    )
    html = staff_client.get("/history").get_data(as_text=True)
    assert 'From my script</a> <small class="origin-mark">API</small>' in html


def test_refusals_are_openais_errors_with_a_sentence(app, served, staff, openai_server):
    token = make_token(app, staff)
    with pytest.raises(openai.AuthenticationError) as error:
        client_for(served, "wb_not-a-token").models.list()
    assert error.value.status_code == 401 and "API token is required" in error.value.message

    files_only = client_for(served, make_token(app, staff, "files", scopes=("files",)))
    with pytest.raises(openai.PermissionDeniedError) as error:
        files_only.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert "it needs the scope “chat”" in error.value.message
    read_only = client_for(served, make_token(app, staff, "reader", scopes=("read-only",)))
    assert [model.id for model in read_only.models.list().data] == [*OPENAI_MODELS, BEDROCK_MODEL]
    with pytest.raises(openai.PermissionDeniedError):
        read_only.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])

    client = client_for(served, token)
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-5-turbo", messages=[{"role": "user", "content": "Hi"}])
    assert error.value.code == "model_not_found" and "gpt-4o-mini" in error.value.message
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert "'messages'" in error.value.message
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "system", "content": "Only rules"}])
    assert "role 'user'" in error.value.message
    assert stored(app) == ([], [], [])  # nothing refused was stored or counted


def test_a_provider_failure_is_an_error_status_and_the_call_is_kept_as_failed(app, served, staff, openai_server):
    client = client_for(served, make_token(app, staff))
    openai_server.error_status = 503
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as error:
            answer = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=stream
            )
            list(answer) if stream else None
        assert error.value.status_code == 503
    _, messages, usage = stored(app)
    assert [message.status for message in messages if message.role == "assistant"] == ["error", "error"]
    assert len(usage) == 2  # sent to the model, so counted (with the tokens it reported: none)


def test_the_gateway_takes_no_cookies_and_answers_json_to_a_bad_body(app, client, staff_client, staff):
    assert staff_client.get("/v1/models").status_code == 401  # a signed-in browser is not a token
    token = make_token(app, staff)
    response = client.post("/v1/chat/completions", data="not json", headers=bearer(token))
    assert response.status_code == 400
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    with app.app_context():
        assert db.session.scalar(select(func.count(UsageEvent.id))) == 0


def test_a_path_or_method_the_gateway_does_not_offer_is_an_openai_error_naming_what_it_offers(
    app, served, client, staff
):
    token = make_token(app, staff)
    openai_client = client_for(served, token)
    offered = "POST /v1/chat/completions and GET /v1/models"
    with pytest.raises(openai.NotFoundError) as error:
        openai_client.embeddings.create(model="gpt-4o-mini", input="Hello")
    assert error.value.body == {
        "message": f"POST /v1/embeddings is not offered by this gateway, which answers {offered}.",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.NotFoundError) as error:
        openai_client.completions.create(model="gpt-4o-mini", prompt="Hello")
    assert "POST /v1/completions is not offered" in error.value.message

    for headers in (bearer(token), {}):  # no route, so nothing to authenticate: the same answer without a token
        response = client.get("/v1/embeddings", headers=headers)
        assert (response.status_code, response.mimetype) == (404, "application/json")
        assert response.get_json() == {
            "error": {
                "message": f"GET /v1/embeddings is not offered by this gateway, which answers {offered}.",
                "type": "not_found_error",
                "param": None,
                "code": None,
            }
        }
    assert client.get("/v1", headers=bearer(token)).get_json()["error"]["type"] == "not_found_error"

    wrong_method = client.get("/v1/chat/completions", headers=bearer(token))
    assert wrong_method.status_code == 405 and set(wrong_method.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert wrong_method.get_json()["error"] == {
        "message": "GET /v1/chat/completions is not supported: /v1/chat/completions takes POST.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert "takes GET." in client.delete("/v1/models", headers=bearer(token)).get_json()["error"]["message"]
    # Only /v1 itself and what is under it: /api keeps its own shape, pages their HTML.
    assert client.get("/api/nothing-here", headers=bearer(token)).get_json()["status"] == 404
    assert client.get("/v1nothing").mimetype == "text/html"


SENT_AS_IS = {"model", "messages", "stream", "stream_options"}


@pytest.mark.both_databases
def test_sampling_settings_reach_openai_as_sent_and_bedrock_as_its_inference_config(
    app, served, staff, openai_server, bedrock_server, db_backend
):
    client = client_for(served, make_token(app, staff))
    question = [{"role": "user", "content": "Hi"}]
    chosen = {"temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 50, "stop": ["\n\n", "END"]}

    client.chat.completions.create(model="gpt-4o-mini", messages=question, seed=7, **chosen)
    sent = openai_server.last_request.body
    assert {name: sent[name] for name in set(sent) - SENT_AS_IS} == chosen  # seed is not among those passed on
    list(client.chat.completions.create(model="gpt-4o", messages=question, stream=True, max_tokens=20, stop="END"))
    sent = openai_server.last_request.body
    assert {name: sent[name] for name in set(sent) - SENT_AS_IS} == {"max_tokens": 20, "stop": "END"}
    client.chat.completions.create(model="gpt-4o-mini", messages=question)
    assert set(openai_server.last_request.body) == SENT_AS_IS  # none chosen, none sent: the model's defaults

    client.chat.completions.create(model=BEDROCK_MODEL, messages=question, **chosen)
    sent = bedrock_server.last_request.body
    assert set(sent) == {"messages", "inferenceConfig"}
    assert sent["inferenceConfig"] == {
        "maxTokens": 50,
        "temperature": 0.3,
        "topP": 0.9,
        "stopSequences": ["\n\n", "END"],
    }
    list(client.chat.completions.create(model=BEDROCK_MODEL, messages=question, stream=True, max_tokens=20, stop="END"))
    assert bedrock_server.last_request.body["inferenceConfig"] == {"maxTokens": 20, "stopSequences": ["END"]}
    client.chat.completions.create(model=BEDROCK_MODEL, messages=question, temperature=0, top_p=1)
    assert bedrock_server.last_request.body["inferenceConfig"] == {"temperature": 0, "topP": 1}
    client.chat.completions.create(model=BEDROCK_MODEL, messages=question)
    assert "inferenceConfig" not in bedrock_server.last_request.body


@pytest.mark.parametrize(
    ("settings", "param", "sentence"),
    [
        ({"temperature": 2.5}, "temperature", "'temperature' must be 2 or less."),
        ({"temperature": -0.1}, "temperature", "'temperature' must be 0 or more."),
        ({"temperature": "0.5"}, "temperature", "'temperature' must be a number."),
        ({"top_p": 1.5}, "top_p", "'top_p' must be 1 or less."),
        ({"max_tokens": 0}, "max_tokens", "'max_tokens' must be 1 or more."),
        ({"max_completion_tokens": 2.5}, "max_completion_tokens", "'max_completion_tokens' must be a whole number."),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "'stop' must be a non-empty string or a list of at most 4"),
        ({"stop": ""}, "stop", "'stop' must be a non-empty string"),
        (
            {"max_tokens": 10, "max_completion_tokens": 20},
            "max_completion_tokens",
            "'max_tokens' and 'max_completion_tokens' are one limit under its old and new name",
        ),
    ],
)
def test_sampling_settings_out_of_range_are_a_400_naming_the_setting(
    app, served, staff, openai_server, settings, param, sentence
):
    client = client_for(served, make_token(app, staff))
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], **settings)
    assert error.value.body["message"].startswith(sentence) and error.value.param == param
    assert error.value.type == "invalid_request_error"
    assert openai_server.requests == [] and stored(app) == ([], [], [])  # nothing sent, stored or counted


@pytest.mark.parametrize("model", ["gpt-4o-mini", BEDROCK_MODEL])
def test_a_reply_cut_by_the_token_limit_finishes_with_length_in_both_modes(
    app, served, staff, openai_server, bedrock_server, model
):
    openai_server.finish_reason = "length"
    bedrock_server.stop_reason = "max_tokens"
    client = client_for(served, make_token(app, staff))
    question = [{"role": "user", "content": "Tell me everything"}]

    whole = client.chat.completions.create(model=model, messages=question, max_tokens=3)
    chunks = list(client.chat.completions.create(model=model, messages=question, max_tokens=3, stream=True))

    assert whole.choices[0].finish_reason == "length"
    assert [chunk.choices[0].finish_reason for chunk in chunks][-1] == "length"
    _, messages, _ = stored(app)
    assert [message.finish_reason for message in messages if message.role == "assistant"] == ["length", "length"]
