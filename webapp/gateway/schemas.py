"""The OpenAI chat-completions request, as far as the gateway reads it (other fields are accepted and ignored)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

# OpenAI takes up to four stop sequences.
MAX_STOP_SEQUENCES = 4


def _stop(value: Any) -> str | list[str] | None:
    if value is None or (isinstance(value, str) and value):
        return value
    if isinstance(value, list) and len(value) <= MAX_STOP_SEQUENCES and all(isinstance(s, str) and s for s in value):
        return value
    raise PydanticCustomError(
        "stop", f"must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} non-empty strings"
    )


# Numbers as JSON has them: "0.5" is not a temperature, true is not a token limit.
Temperature = Annotated[float, Field(ge=0, le=2, strict=True, allow_inf_nan=False)]
TopP = Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]
TokenLimit = Annotated[int, Field(ge=1, strict=True)]
# One stop sequence or several (passed on as sent: OpenAI-compatible servers take either).
Stop = Annotated[str | list[str] | None, PlainValidator(_stop)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class CompletionRequest(BaseModel):
    """POST /v1/chat/completions. The common sampling settings (`temperature`, `top_p`, `max_tokens` or
    `max_completion_tokens`, `stop`) are checked and passed on to the provider; others (`seed`,
    `frequency_penalty`, ...) are accepted so every client works, and left to the provider's defaults."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=300)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: TokenLimit | None = None
    max_completion_tokens: TokenLimit | None = None
    stop: Stop = None
