"""Chat provider for OpenAI and OpenAI-compatible servers (Ollama, llama.cpp, vLLM).

Uses the official `openai` client. The client is built once per provider and
is safe to share between threads; its own retry loop (with backoff, honouring
Retry-After) handles 429 and 5xx answers and connection failures before any
error reaches us.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import httpx2
import openai

from . import failures
from .base import ChatTurn, Chunk, ProviderError, SamplingOptions, quote_service_message, unknown_model_error

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# OpenAI-compatible local servers accept any key, but the client refuses to
# start without one.
PLACEHOLDER_API_KEY = "not-needed"


class OpenAIProvider:
    """Streams chat replies from an OpenAI-compatible `/chat/completions` endpoint."""

    name = "openai"

    def __init__(
        self,
        *,
        models: list[str],
        api_key: str | None = None,
        base_url: str | None = None,
        label: str = "OpenAI",
        connect_timeout: float,
        read_timeout: float,
        max_retries: int,
    ) -> None:
        """Build the client once; no network traffic happens here."""
        if not models:
            raise ValueError("OpenAIProvider needs at least one model name.")
        self.label = label
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._models = list(models)
        # The read timeout bounds each wait for bytes, so a slow but steady
        # stream is fine while a silent server is caught after read_timeout.
        self._client = openai.OpenAI(
            api_key=api_key or PLACEHOLDER_API_KEY,
            base_url=self.base_url,
            timeout=openai.Timeout(read_timeout, connect=connect_timeout),
            max_retries=max_retries,
        )

    def models(self) -> list[str]:
        """Return the configured model names, the default first."""
        return list(self._models)

    def stream(self, turns: list[ChatTurn], model: str, options: SamplingOptions | None = None) -> Iterator[Chunk]:
        """Stream a reply from `/chat/completions` (see `ChatProvider.stream`); the request is sent when iteration
        starts, and closing the iterator early closes the HTTP response."""
        if model not in self._models:
            raise unknown_model_error(self.label, model, self._models)
        body = {
            "model": model,
            "messages": [{"role": turn.role, "content": _content(turn)} for turn in turns],
            "stream": True,
            "stream_options": {"include_usage": True},
            **_sampling(options),
        }
        try:
            # The client's own POST (its retries, its errors for a refused request), read here as server-sent
            # events: the client's own stream stops at [DONE] and drops the connection with the body's end unread,
            # so every reply would open a new one (a TLS handshake to a remote service), and it builds a typed
            # object of every event that nothing here uses.
            response = self._client.post("/chat/completions", body=body, cast_to=httpx2.Response, stream=True)
        except openai.OpenAIError as error:
            raise self._translate(error, model, mid_stream=False) from error

        finish_reason: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        try:
            for event in _events(response.iter_lines()):
                if _field(event, "error"):
                    raise self._stream_error(event["error"])
                usage = _field(event, "usage")
                if usage:
                    prompt_tokens = _whole(_field(usage, "prompt_tokens"))
                    completion_tokens = _whole(_field(usage, "completion_tokens"))
                for choice in _field(event, "choices") or ():
                    content = _field(_field(choice, "delta"), "content")
                    if isinstance(content, str) and content:
                        yield Chunk.delta(content)
                    reason = _field(choice, "finish_reason")
                    if isinstance(reason, str) and reason:
                        finish_reason = reason
        except httpx2.TimeoutException:
            raise failures.read_timed_out(self.read_timeout, mid_stream=True) from None
        except httpx2.TransportError:
            raise failures.connection_broke_off() from None
        finally:
            response.close()  # read to its end, the connection goes back to the pool; else it is closed

        # A server that closes a close-delimited response early ends the
        # stream "cleanly"; only the missing finish reason shows it was cut.
        if finish_reason is None:
            raise failures.reply_cut_short()
        yield Chunk.end(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
        )

    def _stream_error(self, error: object) -> ProviderError:
        """An error event inside an otherwise healthy stream (vLLM and others send `data: {"error": ...}`)."""
        detail = _service_message(error, self.base_url) or "An error occurred during streaming"
        return ProviderError("unavailable", f"The model service reported an error: {detail}", mid_stream=True)

    def _translate(self, error: openai.OpenAIError, model: str, *, mid_stream: bool) -> ProviderError:
        """Turn an openai exception into a ProviderError with a sentence for people."""
        if isinstance(error, openai.APITimeoutError):
            if _caused_by_connect_timeout(error):
                return failures.connect_timed_out(self.base_url, self.connect_timeout, error)
            return failures.read_timed_out(self.read_timeout, mid_stream=mid_stream)
        if isinstance(error, openai.APIConnectionError):
            return failures.connection_broke_off() if mid_stream else failures.cannot_connect(self.base_url, error)
        if isinstance(error, openai.APIStatusError):
            return self._translate_status(error, model)
        if isinstance(error, openai.APIError):
            # An error event inside an otherwise healthy stream (vLLM and
            # others send `data: {"error": ...}`), or an unreadable answer.
            detail = _service_message(error.body, self.base_url) or quote_service_message(
                error.message, address=self.base_url
            )
            return ProviderError(
                "unavailable",
                f"The model service reported an error: {detail}",
                mid_stream=mid_stream,
            )
        return failures.service_unusable(error, self.base_url)

    def _translate_status(self, error: openai.APIStatusError, model: str) -> ProviderError:
        status = error.status_code
        if status in (401, 403):
            return failures.credentials_refused(status, "the API key")
        if status == 429:
            # OpenAI also answers 429 when the account has no credit left;
            # waiting does not help there, so say what does.
            if getattr(error, "code", None) == "insufficient_quota":
                return ProviderError(
                    "rate_limit",
                    "The model service account has run out of quota (429). "
                    "An administrator needs to check the billing.",
                    status=status,
                )
            return failures.service_busy(status)
        if status == 404:
            return failures.model_unknown_to_service(model, status)
        if 400 <= status < 500:
            return failures.request_rejected(status, _service_message(error.body, self.base_url), self.base_url)
        return failures.service_not_working(status)


def _sampling(options: SamplingOptions | None) -> dict[str, Any]:
    """The sampling settings the caller chose, under OpenAI's own names and as they were sent (`stop` a string or
    a list, `max_tokens` or `max_completion_tokens`); those not chosen are left out, for the server's defaults."""
    if options is None:
        return {}
    chosen: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "max_tokens": options.max_tokens,
        "max_completion_tokens": options.max_completion_tokens,
        "stop": options.stop if isinstance(options.stop, str) or options.stop is None else list(options.stop),
    }
    return {name: value for name, value in chosen.items() if value is not None}


def _events(lines: Iterator[str]) -> Iterator[object]:
    """The JSON of each server-sent event up to [DONE]; a line that is not an event's data (a comment, `event:`,
    `id:`) is passed over."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
        elif not line and data:
            payload, data = "\n".join(data), []
            if payload.startswith("[DONE]"):
                _read_to_the_end(lines)
                return
            yield _parsed(payload)
    if data and not data[0].startswith("[DONE]"):  # the body ended without the blank line after the last event
        yield _parsed("\n".join(data))


def _read_to_the_end(lines: Iterator[str]) -> None:
    """Read what follows [DONE] (the body's end), so that the connection goes back to the client's pool. The reply
    is whole by now: a server that then breaks off costs the connection, not the reply."""
    with suppress(httpx2.TransportError):
        for _ in lines:
            pass


def _parsed(payload: str) -> object:
    try:
        return json.loads(payload)
    except ValueError:
        raise ProviderError(
            "unavailable", "The model service sent a part of its reply that is not JSON.", mid_stream=True
        ) from None


def _field(event: object, name: str) -> Any:
    """`event[name]` of a streamed event's JSON, None where the event is not an object (a server's odd event)."""
    return event.get(name) if isinstance(event, dict) else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _content(turn: ChatTurn) -> str | list[dict[str, Any]]:
    """A turn's text, or with images its content parts: the text, then each image as a data URL."""
    if not turn.images:
        return turn.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": turn.content}]
    for image in turn.images:
        url = "data:image/jpeg;base64," + base64.b64encode(image).decode("ascii")
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def _service_message(body: object, address: str) -> str | None:
    """Return the human part of an error body: OpenAI's `message` or Ollama's plain string."""
    message: object = body.get("message") if isinstance(body, dict) else body
    if isinstance(message, str) and message.strip():
        return quote_service_message(message, address=address)
    return None


def _caused_by_connect_timeout(error: BaseException) -> bool:
    """Tell a connect timeout from a read timeout; openai wraps both as APITimeoutError."""
    # Matched by name because the transport is `httpx` in older openai
    # releases and `httpx2` in newer ones.
    cause = error.__cause__
    while cause is not None:
        if type(cause).__name__ == "ConnectTimeout":
            return True
        cause = cause.__cause__
    return False
