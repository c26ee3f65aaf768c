"""Chat over the JSON API: the same service as the pages, answered in one piece instead of streamed."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.bounds import is_database_id
from webapp.chat import history, service
from webapp.errors import Refused


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused('Send a JSON object, e.g. {"message": "Hello"}, with Content-Type: application/json.')
    return body


def optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise Refused(f"'{name}' must be a string.")
    return value


@bp.post("/chat")
def chat():
    """Send a message (to a new conversation, or to `conversation_id`) and wait for the whole reply."""
    body = json_body()
    conversation_id = body.get("conversation_id")
    if conversation_id is not None and not is_database_id(conversation_id):
        raise Refused("'conversation_id' must be a whole number, the id of one of your conversations.")
    user = api_user()
    exchange = service.send_message(
        user,
        optional_text(body, "message"),
        conversation_id,
        optional_text(body, "model"),
        optional_text(body, "system"),
    )
    reply = service.complete_reply(user, exchange.reply.id)
    return jsonify(
        {
            "reply": reply.content,
            "conversation_id": exchange.conversation.id,
            "message_id": reply.id,
            "question_id": exchange.question.id,
            "provider": reply.provider,
            "model": reply.model,
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "latency_ms": reply.latency_ms,
            },
        }
    )


@bp.get("/conversations")
def conversations():
    """The token owner's conversations, newest first; `q` searches titles and messages, `page`/`per_page` page."""
    filters = history.HistoryFilter(
        query=request.args.get("q", "").strip(),
        model=request.args.get("model", "").strip(),
        date_from=history.parse_date(request.args.get("from"), "'from'"),
        date_to=history.parse_date(request.args.get("to"), "'to'"),
    )
    page = history.search(
        api_user(),
        filters,
        page=request.args.get("page", 1, type=int),
        per_page=request.args.get("per_page", type=int),
    )
    return jsonify(
        {
            "conversations": [history.conversation_dict(item, with_messages=False) for item in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "pages": page.pages,
            "total": page.total,
        }
    )


@bp.get("/conversations/<int:conversation_id>")
def conversation(conversation_id: int):
    return jsonify(history.conversation_dict(service.get_conversation(api_user(), conversation_id)))


@bp.delete("/conversations/<int:conversation_id>")
def delete_conversation(conversation_id: int):
    service.delete_conversation(api_user(), conversation_id)
    return "", 204
