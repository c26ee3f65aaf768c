"""Chat over the JSON API: the same service as the pages, answered in one piece instead of streamed."""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.chat import history, service
from webapp.chat.schemas import (
    ChatFailure,
    ChatReply,
    ChatRequest,
    Conversation,
    ConversationPage,
    ConversationQuery,
)


@bp.post("/chat")
@operation(
    "chat",
    (200, ChatReply, "The reply."),
    400,
    404,
    (409, "The previous reply of this conversation is still being written."),
    413,
    (503, ChatFailure, "The model service failed: your message is kept; the failed reply is `message_id`."),
    json=ChatRequest,
)
def chat(json: ChatRequest) -> ChatReply:
    """Send a message and wait for the whole reply

    Saves your message first; the reply comes back whole (the pages stream it)."""
    user = api_user()
    exchange = service.send_message(
        user, json.message, json.conversation_id, json.model, json.system, file_ids=json.file_ids
    )
    return ChatReply.of(service.complete_reply(user, exchange.reply.id), exchange=exchange)


@bp.get("/conversations")
@operation("chat", (200, ConversationPage, "One page of conversations."), 400, query=ConversationQuery)
def conversations(query: ConversationQuery) -> ConversationPage:
    """Your conversations, newest first

    `q` searches titles and messages, `model`, `from` and `to` filter, `page` and `per_page` page."""
    filters = history.HistoryFilter(
        query=query.q.strip(), model=query.model.strip(), date_from=query.date_from, date_to=query.date_to
    )
    return ConversationPage.of(history.search(api_user(), filters, page=query.page, per_page=query.per_page))


@bp.get("/conversations/<int:conversation_id>")
@operation("chat", (200, Conversation, "The conversation."), 404)
def conversation(conversation_id: int) -> Conversation:
    """One conversation with its messages"""
    return Conversation.of(service.get_conversation(api_user(), conversation_id))


@bp.delete("/conversations/<int:conversation_id>")
@operation("chat", (204, "Deleted."), 404)
def delete_conversation(conversation_id: int):
    """Delete a conversation and its messages"""
    service.delete_conversation(api_user(), conversation_id)
    return "", 204
