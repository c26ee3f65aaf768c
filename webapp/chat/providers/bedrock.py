"""Chat provider for Amazon Bedrock through the Converse streaming API.

Uses boto3's `bedrock-runtime` client, built once per provider (boto3 clients
are safe to share between threads). Credentials come from boto3's default
chain: environment, shared files, instance or task role. botocore's
"standard" retry mode retries throttling, 5xx answers and connection failures
with backoff before any error reaches us.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import ReadTimeoutError as TransportReadTimeoutError

from . import failures
from .base import ChatTurn, Chunk, ProviderError, SamplingOptions, quote_service_message, unknown_model_error

# Bedrock's stop reasons in the vocabulary Chunk.finish_reason promises.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
    "tool_use": "tool_calls",
}

_AUTH_CODES = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
}
_RATE_LIMIT_CODES = {"ThrottlingException", "TooManyRequestsException"}
_BAD_REQUEST_CODES = {"ValidationException", "ResourceNotFoundException"}


class BedrockProvider:
    """Streams chat replies from Amazon Bedrock models with `converse_stream`."""

    name = "bedrock"

    def __init__(
        self,
        *,
        models: list[str],
        region: str | None = None,
        endpoint_url: str | None = None,
        label: str = "Amazon Bedrock",
        connect_timeout: float,
        read_timeout: float,
        max_retries: int,
    ) -> None:
        """Build the client once; no network traffic happens here.

        Raises ValueError when no AWS region is configured anywhere.
        """
        if not models:
            raise ValueError("BedrockProvider needs at least one model id.")
        self.label = label
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._models = list(models)
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # botocore's max_attempts counts retries, not the first attempt.
            retries={"max_attempts": max_retries, "mode": "standard"},
            # A stream holds its connection for the whole reply, so concurrent
            # chats need more than botocore's default pool of 10.
            max_pool_connections=50,
        )
        # A session of our own: boto3's shared default session is not safe to
        # create clients from in several threads.
        session = boto3.session.Session(region_name=region or None)
        try:
            self._client: Any = session.client("bedrock-runtime", endpoint_url=endpoint_url, config=config)
        except NoRegionError as error:
            raise ValueError(
                "BEDROCK_MODELS is set but no AWS region is configured; set BEDROCK_REGION or AWS_REGION."
            ) from error
        self.endpoint_url: str = self._client.meta.endpoint_url

    def models(self) -> list[str]:
        """Return the configured model ids, the default first."""
        return list(self._models)

    def stream(self, turns: list[ChatTurn], model: str, options: SamplingOptions | None = None) -> Iterator[Chunk]:
        """Stream a reply with Bedrock's `converse_stream` (see `ChatProvider.stream`); the request is sent when
        iteration starts, and closing the iterator early closes the HTTP response."""
        if model not in self._models:
            raise unknown_model_error(self.label, model, self._models)
        system, messages = _converse_messages(turns)
        request: dict[str, Any] = {"modelId": model, "messages": messages}
        if system:
            request["system"] = system
        inference = _inference_config(options)
        if inference:
            request["inferenceConfig"] = inference
        try:
            response = self._client.converse_stream(**request)
        except (ClientError, BotoCoreError) as error:
            raise self._translate(error, model, mid_stream=False) from error

        events = response["stream"]
        stop_reason: str | None = None
        usage: dict[str, Any] = {}
        try:
            for event in events:
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        yield Chunk.delta(text)
                elif "messageStop" in event:
                    stop_reason = event["messageStop"].get("stopReason")
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
        # botocore hands the raw urllib3 body to the event-stream reader, so a
        # cut or stalled stream raises urllib3's errors rather than botocore's.
        except (ClientError, BotoCoreError, TransportError) as error:
            raise self._translate(error, model, mid_stream=True) from error
        finally:
            events.close()

        if stop_reason is None:
            raise failures.reply_cut_short()
        yield Chunk.end(
            prompt_tokens=usage.get("inputTokens"),
            completion_tokens=usage.get("outputTokens"),
            finish_reason=_FINISH_REASONS.get(stop_reason, stop_reason),
        )

    def _translate(self, error: Exception, model: str, *, mid_stream: bool) -> ProviderError:
        """Turn a botocore or urllib3 exception into a ProviderError with a sentence for people."""
        if isinstance(error, ClientError):
            return self._translate_client_error(error, model, mid_stream=mid_stream)
        if isinstance(error, (ReadTimeoutError, TransportReadTimeoutError)):
            return failures.read_timed_out(self.read_timeout, mid_stream=mid_stream)
        if isinstance(error, ConnectTimeoutError):
            return failures.connect_timed_out(self.endpoint_url, self.connect_timeout, error)
        if isinstance(error, EndpointConnectionError):
            return failures.cannot_connect(self.endpoint_url, error)
        if isinstance(error, (HTTPClientError, TransportError)):
            if mid_stream:
                return failures.connection_broke_off()
            return ProviderError("connection", "The model service closed the connection without answering.")
        if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
            return ProviderError(
                "auth",
                "No usable AWS credentials were found for the model service. An administrator needs to configure them.",
            )
        if isinstance(error, ParamValidationError):
            detail = quote_service_message(str(error), address=self.endpoint_url)
            return ProviderError("bad_request", f"The request for the model service was invalid: {detail}")
        return failures.service_unusable(error, self.endpoint_url, mid_stream=mid_stream)

    def _translate_client_error(self, error: ClientError, model: str, *, mid_stream: bool) -> ProviderError:
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        # Errors inside the event stream use camelCase member names
        # ("throttlingException"); HTTP errors use the type name.
        code = code[:1].upper() + code[1:]
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if mid_stream:
            status = None  # the HTTP status of a stream that failed later was 200
        shown_status = f" ({status})" if status else ""
        service_message = str(details.get("Message") or "")

        if code in _RATE_LIMIT_CODES:
            return failures.service_busy(status, mid_stream=mid_stream)
        if code in _AUTH_CODES:
            return failures.credentials_refused(
                status, "the AWS credentials and the access to this model", mid_stream=mid_stream
            )
        if code == "ResourceNotFoundException":
            return failures.model_unknown_to_service(model, status, mid_stream=mid_stream)
        if code in _BAD_REQUEST_CODES:
            return failures.request_rejected(status, service_message, self.endpoint_url, mid_stream=mid_stream)
        if code == "ModelTimeoutException":
            return ProviderError(
                "timeout",
                f"The model took too long to answer{shown_status}; try again later or with a shorter conversation.",
                status=status,
                mid_stream=mid_stream,
            )
        if code == "ModelNotReadyException":
            return ProviderError(
                "unavailable",
                f"The model is still starting up{shown_status}; try again in a moment.",
                status=status,
                mid_stream=mid_stream,
            )
        if mid_stream:
            return ProviderError(
                "unavailable",
                "The model service failed in the middle of the reply; try again later.",
                mid_stream=True,
            )
        if status is not None and 400 <= status < 500:
            return failures.request_rejected(status, service_message, self.endpoint_url)
        return failures.service_not_working(status)


def _inference_config(options: SamplingOptions | None) -> dict[str, Any]:
    """The sampling settings as Converse's `inferenceConfig`; those not chosen are left out, for the model's defaults.

    Passed on as chosen: Bedrock's models take a temperature up to 1 (not OpenAI's 2), and Bedrock's own refusal
    of more (a ValidationException) reaches the caller as a 400 with Bedrock's sentence, not a silent change."""
    if options is None:
        return {}
    chosen: dict[str, Any] = {
        "maxTokens": options.token_limit,
        "temperature": options.temperature,
        "topP": options.top_p,
        "stopSequences": options.stop_sequences or None,
    }
    return {name: value for name, value in chosen.items() if value is not None}


def _converse_messages(turns: list[ChatTurn]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Split turns into Converse's `system` blocks and alternating `messages`.

    Converse rejects blank text blocks and two messages of the same role in a
    row, both of which a chat history can contain (an empty assistant reply
    after an error, a question asked again), so blanks are dropped and
    neighbours of the same role are merged into one message.
    """
    system = [{"text": turn.content} for turn in turns if turn.role == "system" and turn.content.strip()]
    messages: list[dict[str, Any]] = []
    for turn in turns:
        if turn.role == "system" or not turn.content.strip():
            continue
        # Images as Converse image blocks, after the text they go with.
        blocks = [{"text": turn.content}] + [
            {"image": {"format": "jpeg", "source": {"bytes": image}}} for image in turn.images
        ]
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": turn.role, "content": blocks})
    return system, messages
