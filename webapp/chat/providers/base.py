"""Shared types for chat providers: conversation turns, stream chunks, errors.

Nothing here knows about HTTP, Flask or a particular vendor; the provider
modules translate their client library's objects into these types so that the
web layer only ever handles `Chunk` and `ProviderError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

Role = Literal["system", "user", "assistant"]

# Where the service lives is for the operator's log (providers log it), not for every user's screen.
CONNECT_FAILED_MESSAGE = "Could not connect to the model service. An administrator can check that it is running."

ErrorKind = Literal["timeout", "auth", "rate_limit", "unavailable", "bad_request", "connection"]


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation, as sent to the model."""

    role: Role
    content: str
    # JPEG images that go with a user's turn, for models that accept images (already downscaled).
    images: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class SamplingOptions:
    """How the model should sample a reply, as a caller of the /v1 gateway chose it; None leaves a setting to the
    model's own default. The chat pages send none (they pass no options at all).

    In OpenAI's words, already checked (`temperature` 0 to 2, `top_p` 0 to 1, token limits 1 or more); each provider
    translates them into its own request. `max_tokens` and `max_completion_tokens` are the same limit under its old
    and new name: OpenAI-compatible servers get whichever the client sent, other services the limit.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | tuple[str, ...] | None = None

    @property
    def token_limit(self) -> int | None:
        """The most tokens the reply may have, whichever name the client used."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    @property
    def stop_sequences(self) -> list[str]:
        """The stop sequences as a list (OpenAI accepts one string or several)."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


@dataclass(frozen=True)
class Chunk:
    """One item of a streamed reply.

    A stream yields any number of text deltas (`final` is False, `text` holds
    the new text) and ends with exactly one final item (`final` is True,
    `text` is empty) carrying the token counts and the finish reason when the
    service reported them. Use `Chunk.delta()` and `Chunk.end()` to build them.
    """

    text: str = ""
    final: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # Normalised to OpenAI's words where a mapping exists: "stop", "length",
    # "content_filter", "tool_calls"; other values are passed through as-is.
    finish_reason: str | None = None

    @classmethod
    def delta(cls, text: str) -> Chunk:
        """Return a text delta chunk."""
        return cls(text=text)

    @classmethod
    def end(
        cls,
        *,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        finish_reason: str | None,
    ) -> Chunk:
        """Return the final chunk of a stream, carrying usage and finish reason."""
        return cls(
            final=True,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
        )


class ProviderError(Exception):
    """A failure talking to a model service, explained for a person.

    `kind` is one of "timeout", "auth", "rate_limit", "unavailable",
    "bad_request", "connection"; `message` is a full sentence that can be shown
    to the user as-is. `status` is the HTTP status when the service sent one.
    `mid_stream` is True when the failure happened after the reply had started
    streaming, so the caller may keep the text it already received.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        mid_stream: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status
        self.mid_stream = mid_stream

    def __repr__(self) -> str:
        return f"ProviderError(kind={self.kind!r}, message={self.message!r}, status={self.status!r})"


@runtime_checkable
class ChatProvider(Protocol):
    """A configured model service that can stream chat replies.

    `name` is the stable identifier used in URLs and the database ("openai",
    "bedrock"); `label` is the display name. `models()` lists the models an
    administrator configured, the first being the default. `stream()` yields
    text deltas and then one final chunk; every failure, including one in the
    middle of the stream, is raised as `ProviderError`. `options` are sampling
    settings to pass on; None sends none (the model's defaults).
    """

    name: str
    label: str

    def models(self) -> list[str]: ...

    def stream(self, turns: list[ChatTurn], model: str, options: SamplingOptions | None = None) -> Iterator[Chunk]: ...


def format_seconds(seconds: float) -> str:
    """Return seconds for a sentence: 60.0 -> "60 s", 0.5 -> "0.5 s"."""
    return f"{seconds:g} s"


def quote_service_message(text: str, limit: int = 300, address: str | None = None) -> str:
    """Return a service's own error text trimmed to `limit` and ending like a sentence.

    `address` (the service's URL) is taken out wherever it appears: these sentences are shown to people, and
    where the model server lives is for the operator's log, not for every user to read.
    """
    text = " ".join(hide_address(text, address).split()) if address else " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def hide_address(text: str, address: str) -> str:
    """`text` with the URL `address`, its origin and its host:port replaced by "the model service"."""
    parts = urlsplit(address)
    forms = {address, address.rstrip("/"), f"{parts.scheme}://{parts.netloc}", parts.netloc, parts.hostname or ""}
    for form in sorted((form for form in forms if form and form != "://"), key=len, reverse=True):
        text = text.replace(form, "the model service")
    return text


def unknown_model_error(provider_label: str, model: str, offered: list[str]) -> ProviderError:
    """Return the error for a model that the administrator did not configure."""
    return ProviderError(
        "bad_request",
        f"The model {model!r} is not offered by {provider_label}; choose one of: {', '.join(offered)}.",
    )
