"""Chat providers against local fake services, through the real openai and boto3 clients over HTTP.

Nothing of ours is mocked: each test starts a real HTTP server on 127.0.0.1
(tests/support/servers), points a provider at it and checks what arrives on both
sides. Timeouts are about a second so that failures are quick.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, app_settings
from tests.support.processes import closed_port
from tests.support.servers.bedrock_server import BedrockServer
from tests.support.servers.common import FakeModelServer
from tests.support.servers.openai_server import OpenAIServer
from webapp.chat.providers import (
    ChatProvider,
    ChatTurn,
    Chunk,
    ProviderError,
    ProviderSettings,
    SamplingOptions,
    build_providers,
)
from webapp.chat.providers.base import quote_service_message
from webapp.chat.providers.bedrock import BedrockProvider
from webapp.chat.providers.openai_provider import OpenAIProvider

BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
OPENAI_MODEL = "gpt-4o-mini"
QUESTION = [ChatTurn("system", "Answer briefly."), ChatTurn("user", "how are you today")]
EXPECTED_TOKENS = ["You ", "said: ", "how ", "are ", "you ", "today"]
# config.py's default timeouts (10 s, 60 s), and no retries: a failure shows at once.
NO_RETRIES: dict[str, Any] = {"connect_timeout": 10.0, "read_timeout": 60.0, "max_retries": 0}


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy static credentials, and nothing else from this machine's AWS set-up."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Backend:
    """A running fake service and a way to build a provider pointed at it."""

    name: str
    server: FakeModelServer
    model: str
    make_provider: Callable[..., ChatProvider]


@pytest.fixture(params=["openai", "bedrock"])
def backend(request: pytest.FixtureRequest, aws_environment: None) -> Iterator[Backend]:
    """Each provider with its fake service; timeouts of 1 s and no retries unless a test asks."""
    if request.param == "openai":
        with OpenAIServer() as openai_server:

            def make_openai(**options: Any) -> ChatProvider:
                settings: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "max_retries": 0}
                settings.update(options)
                return OpenAIProvider(
                    models=[OPENAI_MODEL], api_key="test-key", base_url=openai_server.base_url, **settings
                )

            yield Backend("openai", openai_server, OPENAI_MODEL, make_openai)
    else:
        with BedrockServer() as bedrock_server:

            def make_bedrock(**options: Any) -> ChatProvider:
                settings: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "max_retries": 0}
                settings.update(options)
                return BedrockProvider(
                    models=[BEDROCK_MODEL], region="us-east-1", endpoint_url=bedrock_server.endpoint_url, **settings
                )

            yield Backend("bedrock", bedrock_server, BEDROCK_MODEL, make_bedrock)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def bedrock_server(aws_environment: None) -> Iterator[BedrockServer]:
    with BedrockServer() as server:
        yield server


def bedrock_provider(server: BedrockServer, **options: Any) -> BedrockProvider:
    settings: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "max_retries": 0}
    settings.update(options)
    return BedrockProvider(models=[BEDROCK_MODEL], region="us-east-1", endpoint_url=server.endpoint_url, **settings)


def openai_provider(server: OpenAIServer, **options: Any) -> OpenAIProvider:
    settings: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "max_retries": 0}
    settings.update(options)
    return OpenAIProvider(models=[OPENAI_MODEL], api_key="test-key", base_url=server.base_url, **settings)


def read_until_error(chunks: Iterator[Chunk]) -> tuple[list[str], ProviderError]:
    """Consume a stream that must fail; return the texts received before the error, and the error."""
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        for chunk in chunks:
            assert not chunk.final, "the stream ended normally instead of failing"
            texts.append(chunk.text)
    return texts, caught.value


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A local port whose connection queue is full, so a new connection attempt hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        # Never accepted: these fill the queue, and Linux then drops further SYNs.
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


# -- behaviour shared by both providers -------------------------------------


def test_stream_yields_text_in_order_then_usage(backend: Backend) -> None:
    provider = backend.make_provider()

    chunks = list(provider.stream(QUESTION, backend.model))

    assert [chunk.text for chunk in chunks[:-1]] == EXPECTED_TOKENS
    assert not any(chunk.final for chunk in chunks[:-1])
    final = chunks[-1]
    assert final.final and final.text == ""
    # The fake counts words: "Answer briefly." + "how are you today" = 6; six tokens out.
    assert (final.prompt_tokens, final.completion_tokens, final.finish_reason) == (6, 6, "stop")
    assert backend.server.last_request.model == backend.model


def test_provider_satisfies_protocol_and_lists_models(backend: Backend) -> None:
    provider = backend.make_provider()

    assert isinstance(provider, ChatProvider)
    assert provider.name == backend.name
    assert provider.models() == [backend.model]


def test_unknown_model_is_refused_without_a_request(backend: Backend) -> None:
    provider = backend.make_provider()

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(QUESTION, "some-other-model"))

    assert caught.value.kind == "bad_request"
    assert "some-other-model" in caught.value.message
    assert backend.server.requests == []


def test_rejected_credentials_give_an_auth_error(backend: Backend) -> None:
    backend.server.error_status = 401
    provider = backend.make_provider()

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(QUESTION, backend.model))

    assert caught.value.kind == "auth"
    assert caught.value.message.startswith("The model service refused our credentials (401).")
    assert "administrator" in caught.value.message


def test_rate_limit_is_retried_by_the_client_then_reported(backend: Backend) -> None:
    backend.server.error_status = 429
    provider = backend.make_provider(max_retries=1)

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(QUESTION, backend.model))

    assert caught.value.kind == "rate_limit"
    assert caught.value.message == "The model service is busy (429); try again in a moment."
    assert len(backend.server.requests) == 2, "one attempt and one retry"


def test_a_single_rate_limit_is_retried_transparently(backend: Backend) -> None:
    backend.server.error_status = 429
    backend.server.error_times = 1
    provider = backend.make_provider(max_retries=1)

    chunks = list(provider.stream(QUESTION, backend.model))

    assert "".join(chunk.text for chunk in chunks) == "".join(EXPECTED_TOKENS)
    assert chunks[-1].final
    assert len(backend.server.requests) == 2


def test_server_error_is_reported_as_unavailable(backend: Backend) -> None:
    backend.server.error_status = 500
    provider = backend.make_provider()

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(QUESTION, backend.model))

    assert caught.value.kind == "unavailable"
    assert caught.value.status == 500
    assert "(500)" in caught.value.message
    assert len(backend.server.requests) == 1


def test_silent_service_gives_a_timeout_naming_the_seconds(backend: Backend) -> None:
    backend.server.header_delay = 3.0
    provider = backend.make_provider(read_timeout=0.5)

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(QUESTION, backend.model))

    assert caught.value.kind == "timeout"
    assert caught.value.message == "The model service did not answer in 0.5 s."
    assert not caught.value.mid_stream


def test_stall_in_the_middle_of_a_reply_gives_a_timeout_after_the_partial_text(backend: Backend) -> None:
    backend.server.token_delay = 3.0
    provider = backend.make_provider(read_timeout=0.5)

    texts, error = read_until_error(provider.stream(QUESTION, backend.model))

    assert texts == EXPECTED_TOKENS[:1]
    assert error.kind == "timeout"
    assert error.mid_stream
    assert "0.5 s" in error.message


def test_closed_port_gives_a_connection_error_without_the_address(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    if backend.name == "openai":
        provider: ChatProvider = OpenAIProvider(
            models=[OPENAI_MODEL], base_url=f"http://127.0.0.1:{port}/v1", api_key="k", **NO_RETRIES
        )
    else:
        provider = BedrockProvider(
            models=[BEDROCK_MODEL], region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}", **NO_RETRIES
        )

    with pytest.raises(ProviderError) as caught:
        list(provider.stream(QUESTION, backend.model))

    assert caught.value.kind == "connection"
    assert (
        caught.value.message == "Could not connect to the model service. An administrator can check that it is running."
    )
    # The address is for the operator, in the log.
    assert f"127.0.0.1:{port}" in caplog.text


def test_connect_timeout_names_the_seconds_but_not_the_address(backend: Backend) -> None:
    with unanswered_port() as port:
        if backend.name == "openai":
            provider: ChatProvider = OpenAIProvider(
                models=[OPENAI_MODEL], base_url=f"http://127.0.0.1:{port}/v1", **{**NO_RETRIES, "connect_timeout": 0.3}
            )
        else:
            provider = BedrockProvider(
                models=[BEDROCK_MODEL],
                region="us-east-1",
                endpoint_url=f"http://127.0.0.1:{port}",
                **{**NO_RETRIES, "connect_timeout": 0.3},
            )

        with pytest.raises(ProviderError) as caught:
            list(provider.stream(QUESTION, backend.model))

    assert caught.value.kind == "timeout"
    assert "127.0.0.1" not in caught.value.message and str(port) not in caught.value.message
    assert caught.value.message == "Could not connect to the model service within 0.3 s."


def test_stream_cut_halfway_keeps_received_text_then_raises(backend: Backend) -> None:
    backend.server.cut_after_chunks = 2
    provider = backend.make_provider()

    texts, error = read_until_error(provider.stream(QUESTION, backend.model))

    assert texts == EXPECTED_TOKENS[:2]
    assert error.kind == "connection"
    assert error.mid_stream


def test_stream_cut_just_before_its_end_is_not_taken_for_a_complete_reply(backend: Backend) -> None:
    backend.server.cut_after_chunks = len(EXPECTED_TOKENS)
    provider = backend.make_provider()

    texts, error = read_until_error(provider.stream(QUESTION, backend.model))

    assert texts == EXPECTED_TOKENS
    assert error.kind == "connection"


def test_error_event_inside_the_stream_is_raised_after_the_partial_text(backend: Backend) -> None:
    backend.server.stream_error_after_chunks = 3
    provider = backend.make_provider()

    texts, error = read_until_error(provider.stream(QUESTION, backend.model))

    assert texts == EXPECTED_TOKENS[:3]
    assert error.kind == "unavailable"
    assert error.mid_stream


def test_first_token_delay_within_the_read_timeout_is_fine(backend: Backend) -> None:
    backend.server.first_token_delay = 0.3
    backend.server.token_delay = 0.05
    provider = backend.make_provider(read_timeout=1.0)

    chunks = list(provider.stream(QUESTION, backend.model))

    assert [chunk.text for chunk in chunks if not chunk.final] == EXPECTED_TOKENS


# -- OpenAI specifics -------------------------------------------------------


def test_openai_receives_system_prompt_history_key_and_stream_options(openai_server: OpenAIServer) -> None:
    provider = openai_provider(openai_server)
    turns = [
        ChatTurn("system", "Answer briefly."),
        ChatTurn("user", "first question"),
        ChatTurn("assistant", "first answer"),
        ChatTurn("user", "second question"),
    ]

    chunks = list(provider.stream(turns, OPENAI_MODEL))

    request = openai_server.last_request
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert "".join(chunk.text for chunk in chunks) == "You said: second question"


SAMPLING_NAMES = {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop"}


def test_openai_receives_the_sampling_settings_under_their_own_names_and_none_without_options(
    openai_server: OpenAIServer,
) -> None:
    provider = openai_provider(openai_server)

    list(provider.stream(QUESTION, OPENAI_MODEL, SamplingOptions(temperature=1.2, max_tokens=5, stop=("x", "y"))))
    body = openai_server.last_request.body
    assert {name: body[name] for name in SAMPLING_NAMES & set(body)} == {
        "temperature": 1.2,
        "max_tokens": 5,
        "stop": ["x", "y"],
    }
    list(provider.stream(QUESTION, OPENAI_MODEL))  # as the chat pages call it
    assert not SAMPLING_NAMES & set(openai_server.last_request.body)


def test_openai_reply_cut_by_the_token_limit_ends_with_length(openai_server: OpenAIServer) -> None:
    openai_server.finish_reason = "length"

    chunks = list(openai_provider(openai_server).stream(QUESTION, OPENAI_MODEL))

    assert chunks[-1].finish_reason == "length"


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (400, "bad_request", "rejected the request (400): Invalid request."),
        (403, "auth", "refused our credentials (403)"),
        (404, "bad_request", "does not know the model 'gpt-4o-mini' (404)"),
        (503, "unavailable", "not working right now (503)"),
    ],
)
def test_openai_status_errors_are_explained(openai_server: OpenAIServer, status: int, kind: str, words: str) -> None:
    openai_server.error_status = status

    with pytest.raises(ProviderError) as caught:
        list(openai_provider(openai_server).stream(QUESTION, OPENAI_MODEL))

    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert words in caught.value.message


def test_openai_exhausted_quota_is_not_called_busy(openai_server: OpenAIServer) -> None:
    openai_server.error_status = 429
    openai_server.error_code = "insufficient_quota"

    with pytest.raises(ProviderError) as caught:
        list(openai_provider(openai_server).stream(QUESTION, OPENAI_MODEL))

    assert caught.value.kind == "rate_limit"
    assert "quota" in caught.value.message


def test_openai_server_lists_its_models(openai_server: OpenAIServer) -> None:
    import openai

    client = openai.OpenAI(api_key="k", base_url=openai_server.base_url, max_retries=0)

    assert [model.id for model in client.models.list()] == ["gpt-4o-mini"]


# -- Bedrock specifics ------------------------------------------------------


def test_bedrock_receives_system_apart_and_a_sigv4_signature(bedrock_server: BedrockServer) -> None:
    provider = bedrock_provider(bedrock_server)

    list(provider.stream(QUESTION, BEDROCK_MODEL))

    request = bedrock_server.last_request
    # The ':' of the model id travels URL-encoded and is decoded by the server.
    assert request.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    assert request.model == BEDROCK_MODEL
    assert request.body["system"] == [{"text": "Answer briefly."}]
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "how are you today"}]}]
    authorization = request.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert "/us-east-1/bedrock/aws4_request" in authorization
    assert "Signature=" in authorization


def test_bedrock_history_is_made_to_alternate(bedrock_server: BedrockServer) -> None:
    turns = [
        ChatTurn("user", "first"),
        ChatTurn("assistant", "   "),  # an empty reply left by an earlier failure
        ChatTurn("user", "second"),
        ChatTurn("assistant", "answer"),
        ChatTurn("user", "third"),
    ]

    list(bedrock_provider(bedrock_server).stream(turns, BEDROCK_MODEL))

    assert "system" not in bedrock_server.last_request.body
    assert bedrock_server.last_request.body["messages"] == [
        {"role": "user", "content": [{"text": "first"}, {"text": "second"}]},
        {"role": "assistant", "content": [{"text": "answer"}]},
        {"role": "user", "content": [{"text": "third"}]},
    ]


def test_bedrock_receives_the_sampling_settings_as_its_inference_config(bedrock_server: BedrockServer) -> None:
    provider = bedrock_provider(bedrock_server)

    list(provider.stream(QUESTION, BEDROCK_MODEL, SamplingOptions(max_completion_tokens=7, top_p=0.5, stop="x")))
    assert bedrock_server.last_request.body["inferenceConfig"] == {"maxTokens": 7, "topP": 0.5, "stopSequences": ["x"]}
    list(provider.stream(QUESTION, BEDROCK_MODEL, SamplingOptions(max_tokens=9, temperature=0.0)))
    assert bedrock_server.last_request.body["inferenceConfig"] == {"maxTokens": 9, "temperature": 0.0}
    list(provider.stream(QUESTION, BEDROCK_MODEL))  # as the chat pages call it
    assert "inferenceConfig" not in bedrock_server.last_request.body


def test_bedrock_stop_reason_is_normalised(bedrock_server: BedrockServer) -> None:
    bedrock_server.stop_reason = "max_tokens"

    chunks = list(bedrock_provider(bedrock_server).stream(QUESTION, BEDROCK_MODEL))

    assert chunks[-1].finish_reason == "length"


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (400, "bad_request", "rejected the request (400): Malformed input request"),
        (403, "auth", "refused our credentials (403)"),
        (404, "bad_request", f"does not know the model '{BEDROCK_MODEL}' (404)"),
        (408, "timeout", "took too long to answer (408)"),
        (503, "unavailable", "not working right now (503)"),
    ],
)
def test_bedrock_status_errors_are_explained(bedrock_server: BedrockServer, status: int, kind: str, words: str) -> None:
    bedrock_server.error_status = status

    with pytest.raises(ProviderError) as caught:
        list(bedrock_provider(bedrock_server).stream(QUESTION, BEDROCK_MODEL))

    assert (caught.value.kind, caught.value.status) == (kind, status)
    assert words in caught.value.message


def test_bedrock_throttling_inside_the_stream_is_a_rate_limit(bedrock_server: BedrockServer) -> None:
    bedrock_server.stream_error_after_chunks = 1
    bedrock_server.stream_error_type = "throttlingException"

    texts, error = read_until_error(bedrock_provider(bedrock_server).stream(QUESTION, BEDROCK_MODEL))

    assert texts == EXPECTED_TOKENS[:1]
    assert error.kind == "rate_limit"
    assert error.mid_stream


def test_bedrock_without_credentials_gives_an_auth_error(
    bedrock_server: BedrockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(ProviderError) as caught:
        list(bedrock_provider(bedrock_server).stream(QUESTION, BEDROCK_MODEL))

    assert caught.value.kind == "auth"
    assert bedrock_server.requests == []


def test_bedrock_server_answers_the_plain_converse_call(bedrock_server: BedrockServer) -> None:
    import boto3

    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=bedrock_server.endpoint_url)

    answer = client.converse(modelId=BEDROCK_MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])

    assert answer["output"]["message"]["content"] == [{"text": "You said: hi"}]
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["outputTokens"] == 3


# -- build_providers --------------------------------------------------------


def providers_for(settings: dict[str, str]) -> dict[str, ChatProvider]:
    """The providers the app builds from these settings: config.py reads them, its defaults fill in the rest."""
    return build_providers(ProviderSettings.from_config(app_settings("testing", settings)))


def test_nothing_configured_builds_no_provider() -> None:
    assert providers_for({}) == {}
    assert providers_for({"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "  ", "BEDROCK_MODELS": " , "}) == {}


def test_api_key_alone_builds_openai_with_the_default_model() -> None:
    providers = providers_for({"OPENAI_API_KEY": "sk-test"})

    assert list(providers) == ["openai"]
    openai_provider = providers["openai"]
    assert isinstance(openai_provider, OpenAIProvider)
    assert openai_provider.label == "OpenAI"
    assert openai_provider.base_url == "https://api.openai.com/v1"
    assert openai_provider.models() == ["gpt-4o-mini"]


def test_local_base_url_without_key_works_with_a_placeholder_key(openai_server: OpenAIServer) -> None:
    providers = providers_for(
        {"OPENAI_BASE_URL": openai_server.base_url, "OPENAI_MODELS": "llama3.2, qwen2.5,,llama3.2"}
    )

    provider = providers["openai"]
    assert provider.label == "Local"
    assert provider.models() == ["llama3.2", "qwen2.5"]
    chunks = list(provider.stream([ChatTurn("user", "hi")], "llama3.2"))
    assert chunks[-1].final
    assert openai_server.last_request.headers["authorization"] == "Bearer not-needed"
    assert openai_server.last_request.model == "llama3.2"


def test_label_setting_wins() -> None:
    providers = providers_for({"OPENAI_BASE_URL": "http://gpu-box:8000/v1", "OPENAI_PROVIDER_LABEL": "Lab vLLM"})

    assert providers["openai"].label == "Lab vLLM"
    assert providers_for({"OPENAI_BASE_URL": "http://gpu-box:8000/v1"})["openai"].label == "OpenAI"


def test_both_services_configured(aws_environment: None) -> None:
    providers = providers_for(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_MODELS": "gpt-4o,gpt-4o-mini",
            "BEDROCK_MODELS": f"{BEDROCK_MODEL}, amazon.nova-lite-v1:0",
            "BEDROCK_REGION": "eu-west-1",
        }
    )

    assert sorted(providers) == ["bedrock", "openai"]
    assert providers["openai"].models() == ["gpt-4o", "gpt-4o-mini"]
    bedrock = providers["bedrock"]
    assert isinstance(bedrock, BedrockProvider)
    assert bedrock.models() == [BEDROCK_MODEL, "amazon.nova-lite-v1:0"]
    assert bedrock.label == "Amazon Bedrock"
    assert bedrock.endpoint_url == "https://bedrock-runtime.eu-west-1.amazonaws.com"


def test_timeout_and_retry_settings_reach_the_clients(openai_server: OpenAIServer) -> None:
    openai_server.header_delay = 3.0
    providers = providers_for(
        {"OPENAI_BASE_URL": openai_server.base_url, "CHAT_READ_TIMEOUT": "0.5", "CHAT_MAX_RETRIES": "0"}
    )

    with pytest.raises(ProviderError) as caught:
        list(providers["openai"].stream(QUESTION, OPENAI_MODEL))

    assert caught.value.message == "The model service did not answer in 0.5 s."
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"OPENAI_API_KEY": "k", "CHAT_READ_TIMEOUT": "soon"},
        {"OPENAI_API_KEY": "k", "CHAT_CONNECT_TIMEOUT": "0"},
        {"OPENAI_API_KEY": "k", "CHAT_MAX_RETRIES": "-1"},
    ],
)
def test_malformed_settings_stop_start_up(settings: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        providers_for(settings)


def test_a_service_message_quoting_the_address_is_shown_without_it() -> None:
    message = (
        "HTTPConnectionPool(host='models.internal', port=8443): Max retries exceeded with url: "
        "https://models.internal:8443/v1/chat/completions (Caused by refused)"
    )

    quoted = quote_service_message(message, address="https://models.internal:8443/v1")

    assert "models.internal" not in quoted
    assert quoted.endswith("with url: the model service/chat/completions (Caused by refused).")
