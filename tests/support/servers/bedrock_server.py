"""A fake Amazon Bedrock runtime: `POST /model/{modelId}/converse` and `/converse-stream`.

The streaming answer is a real `application/vnd.amazon.eventstream` body,
encoded here, so boto3's own event-stream reader parses it. Usable in tests as
a context manager, or standalone for benchmarks:

    python -m tests.support.servers.bedrock_server --port 8002 --first-token-delay 0.2 --token-rate 50

which prints the URL to put in BEDROCK_ENDPOINT_URL.
"""

from __future__ import annotations

import itertools
import json
import struct
import time
import zlib
from typing import Any
from urllib.parse import unquote

from tests.support.servers.common import (
    Exchange,
    FakeModelServer,
    RecordedRequest,
    count_words,
    run_command,
    split_tokens,
)

# Bedrock's error type and message, by HTTP status.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
    401: ("UnrecognizedClientException", "The security token included in the request is invalid."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: ("ResourceNotFoundException", "Could not resolve the foundation model from the provided model identifier."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
    424: ("ModelErrorException", "The model returned an error."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error while processing the request."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}
_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_STRING_HEADER = 7


def encode_event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """Encode one AWS event-stream message with string headers.

    Layout: total length (4 bytes), headers length (4 bytes), CRC32 of those
    8 bytes, headers (name length byte, name, type 7, 2-byte value length,
    value), payload, then CRC32 of everything before it. All big-endian.
    """
    encoded_headers = b"".join(
        struct.pack(">B", len(name.encode()))
        + name.encode()
        + struct.pack(">BH", _STRING_HEADER, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total_length = 4 + 4 + 4 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """Encode an event such as contentBlockDelta with its JSON payload."""
    return encode_event_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload).encode(),
    )


def exception_message(exception_type: str, message: str) -> bytes:
    """Encode an error embedded in the stream, such as modelStreamErrorException."""
    return encode_event_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )


class BedrockServer(FakeModelServer):
    """Fake Bedrock runtime; see FakeModelServer for the behaviour knobs.

    Extra knobs: `stop_reason` (messageStop's value), `error_type` (overrides
    the error type chosen from the status), `stream_error_type` (the exception
    event sent by `stream_error_after_chunks`).
    """

    description = "Fake Amazon Bedrock runtime (Converse API) for tests and benchmarks."

    def __init__(self, **behaviour: Any) -> None:
        super().__init__(**behaviour)
        self.stop_reason = "end_turn"
        self.error_type: str | None = None
        self.stream_error_type = "modelStreamErrorException"
        self._ids = itertools.count(1)

    @property
    def endpoint_url(self) -> str:
        """The value for BEDROCK_ENDPOINT_URL."""
        return self.url

    def describe(self, recorded: RecordedRequest) -> None:
        # Split before decoding: an ARN model id carries encoded slashes.
        parts = recorded.path.split("/")
        if len(parts) == 4 and parts[1] == "model":
            recorded.model = unquote(parts[2])
            recorded.extra["operation"] = parts[3]

    def send_error_status(self, exchange: Exchange, recorded: RecordedRequest, status: int) -> None:
        error_type, message = _ERRORS.get(
            status, ("InternalServerException" if status >= 500 else "ValidationException", f"Error {status}.")
        )
        error_type = self.error_type or error_type
        exchange.send_json(
            status,
            {"message": message},
            {"x-amzn-errortype": f"{error_type}:{_ERROR_NAMESPACE}", "x-amzn-requestid": self._request_id()},
        )

    def route(self, exchange: Exchange, recorded: RecordedRequest) -> None:
        operation = recorded.extra.get("operation")
        if recorded.method != "POST" or recorded.model is None or operation not in ("converse", "converse-stream"):
            exchange.send_json(
                404,
                {"message": f"Unknown operation {recorded.method} {recorded.path}."},
                {"x-amzn-errortype": f"UnknownOperationException:{_ERROR_NAMESPACE}"},
            )
            return
        body = recorded.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            exchange.send_json(
                400,
                {"message": "messages is required."},
                {"x-amzn-errortype": f"ValidationException:{_ERROR_NAMESPACE}"},
            )
            return
        prompt_texts = [_text_of(block) for block in body.get("system") or []]
        user_text = ""
        for message in body["messages"]:
            text = "".join(_text_of(block) for block in message.get("content") or [])
            prompt_texts.append(text)
            if message.get("role") == "user":
                user_text = text
        tokens = split_tokens(self.reply_text(user_text))
        usage = {"inputTokens": count_words(prompt_texts), "outputTokens": len(tokens)}
        usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
        if operation == "converse-stream":
            self._stream(exchange, tokens, usage)
            return
        started = time.monotonic()
        if not self.pause(self.first_token_delay + self.token_delay * max(len(tokens) - 1, 0)):
            exchange.cut()
            return
        exchange.send_json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "".join(tokens)}]}},
                "stopReason": self.stop_reason,
                "usage": usage,
                "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
            },
            {"x-amzn-requestid": self._request_id()},
        )

    def _stream(self, exchange: Exchange, tokens: list[str], usage: dict[str, int]) -> None:
        started = time.monotonic()
        exchange.begin_chunked("application/vnd.amazon.eventstream", {"x-amzn-requestid": self._request_id()})
        exchange.write_chunk(event_message("messageStart", {"role": "assistant"}))
        if not self.pause(self.first_token_delay):
            exchange.cut()
            return
        for index, token in enumerate(tokens):
            if self.cut_after_chunks is not None and index >= self.cut_after_chunks:
                exchange.cut()
                return
            if self.stream_error_after_chunks is not None and index >= self.stream_error_after_chunks:
                exchange.write_chunk(exception_message(self.stream_error_type, "The model failed while generating."))
                exchange.end_chunked()
                return
            if index > 0 and not self.pause(self.token_delay):
                exchange.cut()
                return
            exchange.write_chunk(event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}}))
        if self.cut_after_chunks is not None and self.cut_after_chunks <= len(tokens):
            exchange.cut()
            return
        exchange.write_chunk(event_message("contentBlockStop", {"contentBlockIndex": 0}))
        exchange.write_chunk(event_message("messageStop", {"stopReason": self.stop_reason}))
        latency = int((time.monotonic() - started) * 1000)
        exchange.write_chunk(event_message("metadata", {"usage": usage, "metrics": {"latencyMs": latency}}))
        exchange.end_chunked()

    def _request_id(self) -> str:
        return f"00000000-0000-0000-0000-{next(self._ids):012d}"


def _text_of(block: Any) -> str:
    """The text of a Converse content or system block; other blocks count as empty."""
    return str(block.get("text", "")) if isinstance(block, dict) else ""


if __name__ == "__main__":
    run_command(BedrockServer)
