"""A fake OpenAI-compatible server: `POST /v1/chat/completions` (JSON and SSE), `GET /v1/models`.

Usable in tests as a context manager, or standalone for benchmarks:

    python -m tests.support.servers.openai_server --port 8001 --first-token-delay 0.2 --token-rate 50

which prints the base URL to put in OPENAI_BASE_URL.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.support.servers.common import (
    Exchange,
    FakeModelServer,
    RecordedRequest,
    count_words,
    run_command,
    split_tokens,
)

# (type, code, message) of OpenAI's error bodies, by HTTP status.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class OpenAIServer(FakeModelServer):
    """Fake OpenAI chat completions server; see FakeModelServer for the behaviour knobs.

    Extra knobs: `models` (listed by GET /v1/models), `finish_reason`,
    `retry_after_ms` (sent with 429 answers so client retries stay quick;
    None sends no hint), `error_code` (overrides the error body's `code`).
    """

    description = "Fake OpenAI-compatible chat server for tests and benchmarks."

    def __init__(self, *, models: list[str] | None = None, **behaviour: Any) -> None:
        super().__init__(**behaviour)
        self.models = list(models) if models else ["gpt-4o-mini"]
        self.finish_reason = "stop"
        self.retry_after_ms: int | None = 10
        self.error_code: str | None = None
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        """The value for OPENAI_BASE_URL."""
        return f"{self.url}/v1"

    @property
    def cli_url(self) -> str:
        return self.base_url

    def describe(self, recorded: RecordedRequest) -> None:
        if isinstance(recorded.body, dict):
            model = recorded.body.get("model")
            recorded.model = model if isinstance(model, str) else None

    def send_error_status(self, exchange: Exchange, recorded: RecordedRequest, status: int) -> None:
        error_type, code, message = _ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}.")
        )
        headers = {"x-request-id": f"req_{next(self._ids)}"}
        if status == 429 and self.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.retry_after_ms)
        body = {"error": {"message": message, "type": error_type, "param": None, "code": self.error_code or code}}
        exchange.send_json(status, body, headers)

    def route(self, exchange: Exchange, recorded: RecordedRequest) -> None:
        if recorded.method == "GET" and recorded.path == "/v1/models":
            exchange.send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in self.models
                    ],
                },
            )
        elif recorded.method == "POST" and recorded.path == "/v1/chat/completions":
            self._chat(exchange, recorded)
        else:
            body = {
                "error": {
                    "message": f"Unknown request URL: {recorded.method} {recorded.path}.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "unknown_url",
                }
            }
            exchange.send_json(404, body)

    def _chat(self, exchange: Exchange, recorded: RecordedRequest) -> None:
        body = recorded.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            exchange.send_json(
                400,
                {
                    "error": {
                        "message": "'model' and 'messages' are required.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
            return
        messages = [message for message in body["messages"] if isinstance(message, dict)]
        user_texts = [str(message.get("content", "")) for message in messages if message.get("role") == "user"]
        tokens = split_tokens(self.reply_text(user_texts[-1] if user_texts else ""))
        usage = {
            "prompt_tokens": count_words([str(message.get("content", "")) for message in messages]),
            "completion_tokens": len(tokens),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        completion_id = f"chatcmpl-{next(self._ids)}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(exchange, completion_id, body["model"], tokens, usage if include_usage else None)
        else:
            # Spend the time a real model would, so benchmarks see it too.
            if not self.pause(self.first_token_delay + self.token_delay * max(len(tokens) - 1, 0)):
                exchange.cut()
                return
            exchange.send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(tokens)},
                            "logprobs": None,
                            "finish_reason": self.finish_reason,
                        }
                    ],
                    "usage": usage,
                },
            )

    def _stream(
        self,
        exchange: Exchange,
        completion_id: str,
        model: str,
        tokens: list[str],
        usage: dict[str, int] | None,
    ) -> None:
        created = int(time.time())

        def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            event: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": choices,
            }
            # With include_usage every chunk carries "usage": null until the last.
            if usage is not None:
                event["usage"] = None
            event.update(extra)
            exchange.write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")

        def delta(content: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}]

        exchange.begin_chunked("text/event-stream; charset=utf-8", {"x-request-id": f"req_{completion_id}"})
        send(delta({"role": "assistant", "content": ""}))
        if not self.pause(self.first_token_delay):
            exchange.cut()
            return
        for index, token in enumerate(tokens):
            if self.cut_after_chunks is not None and index >= self.cut_after_chunks:
                exchange.cut()
                return
            if self.stream_error_after_chunks is not None and index >= self.stream_error_after_chunks:
                # vLLM and others report a failure mid-stream as an error event.
                error = {
                    "error": {
                        "message": "The model failed while generating.",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
                exchange.write_chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
                exchange.end_chunked()
                return
            if index > 0 and not self.pause(self.token_delay):
                exchange.cut()
                return
            send(delta({"content": token}))
        if self.cut_after_chunks is not None and self.cut_after_chunks <= len(tokens):
            exchange.cut()
            return
        send(delta({}, self.finish_reason))
        if usage is not None:
            send([], usage=usage)
        exchange.write_chunk(b"data: [DONE]\n\n")
        exchange.end_chunked()


if __name__ == "__main__":
    run_command(OpenAIServer)
