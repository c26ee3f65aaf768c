"""/v1/models and /v1/chat/completions in the OpenAI wire format, for the official clients and anything like them.

Errors are OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so clients raise their usual
exceptions with our sentence as the message: webapp/errors.py answers so for every path under /v1 (a refusal, a
path or method the gateway does not offer, an unexpected failure); the views build it only for what is not an
exception (no token, a provider's failure). A stream's first bytes wait for the model's first text: a failure
before it is still an HTTP error status, not a 200 that breaks off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, g, jsonify, request, stream_with_context
from pydantic import ValidationError

from webapp.api.auth import bearer_token, require_scope
from webapp.auth.models import CHAT
from webapp.chat.providers import ProviderError
from webapp.errors import Refused, openai_error
from webapp.gateway import bp, service
from webapp.gateway.schemas import CompletionRequest
from webapp.schemas import explain

NO_TOKEN = "A Workbench API token is required: send 'Authorization: Bearer <token>' (the OpenAI clients' api_key)."


@bp.before_request
def require_token() -> Response | None:
    token = bearer_token()
    if token is None:
        response = openai_error(401, NO_TOKEN, "invalid_api_key")
        response.headers["WWW-Authenticate"] = 'Bearer realm="workbench"'
        return response
    require_scope(token, CHAT)
    g.api_token, g.api_user = token, token.user
    return None


@bp.get("/models")
def list_models() -> Response:
    """The models the caller may use, in OpenAI's list shape."""
    data = [
        {"id": model.id, "object": "model", "created": 0, "owned_by": model.choice.provider}
        for model in service.models(g.api_user)
    ]
    return jsonify({"object": "list", "data": data})


@bp.post("/chat/completions")
def chat_completions() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused("Send a JSON object with 'model' and 'messages', with Content-Type: application/json.")
    try:
        parsed = CompletionRequest.model_validate(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]["loc"]
        raise Refused(explain(error), field=".".join(str(part) for part in first) or None) from None
    call = service.start(g.api_user, g.api_token, parsed)
    if not parsed.stream:
        try:
            for _ in call.stream():
                pass
        except ProviderError as failure:
            return openai_error(service.failure_status(failure), failure.message, failure.kind)
        return jsonify(completion(call))
    include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
    deltas = call.stream()
    try:
        first = next(deltas, None)  # the model's first text (or its whole empty reply): the status is known now
    except ProviderError as failure:
        return openai_error(service.failure_status(failure), failure.message, failure.kind)
    response = Response(stream_with_context(events(call, first, deltas, include_usage)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must pass each event on as it comes
    return response


def completion(call: service.Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "object": "chat.completion",
        "created": call.created,
        "model": call.model_id,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": call.text, "refusal": None},
                "logprobs": None,
                "finish_reason": call.finish_reason or "stop",
            }
        ],
        "usage": call.usage,
    }


def events(call: service.Call, first: str | None, deltas: Iterator[str], include_usage: bool) -> Iterator[str]:
    """The reply as OpenAI's server-sent events: a chunk per delta (the first carries the role), a last chunk with
    the finish reason, the usage chunk when the client asked for it, then [DONE]."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
        payload = {
            "id": call.id,
            "object": "chat.completion.chunk",
            "created": call.created,
            "model": call.model_id,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            **extra,
        }
        if include_usage:
            payload.setdefault("usage", None)
        return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"

    try:
        yield chunk({"role": "assistant", "content": first or ""})
        for text in deltas:
            yield chunk({"content": text})
    except ProviderError as failure:
        current_app.logger.info("gateway stream %s failed mid-way: %s", call.id, failure.kind)
        error = {"message": failure.message, "type": "api_error", "param": None, "code": failure.kind}
        yield f"data: {json.dumps({'error': error}, separators=(',', ':'))}\n\n"
        return
    finally:
        # The client may leave mid-way: end the model's stream now, while the request's context still stands, so
        # its outcome (interrupted, with the text so far) is written.
        deltas.close()
    yield chunk({}, call.finish_reason or "stop")
    if include_usage:
        usage_chunk = {
            "id": call.id,
            "object": "chat.completion.chunk",
            "created": call.created,
            "model": call.model_id,
            "system_fingerprint": None,
            "choices": [],
            "usage": call.usage,
        }
        yield f"data: {json.dumps(usage_chunk, separators=(',', ':'))}\n\n"
    yield "data: [DONE]\n\n"
