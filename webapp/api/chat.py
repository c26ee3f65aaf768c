"""Chat over the JSON API: the same service as the pages, answered in one piece instead of streamed."""

from __future__ import annotations

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.chat import history, service, temporary
from webapp.chat.models import COMPLETE
from webapp.chat.schemas import (
    ChatFailure,
    ChatReply,
    ChatRequest,
    Conversation,
    ConversationPage,
    ConversationQuery,
    EditRequest,
    RegenerateRequest,
)
from webapp.errors import Refused, Unavailable
from webapp.governance.schemas import OverBudget


@bp.post("/chat")
@operation(
    "chat",
    (200, ChatReply, "The reply."),
    400,
    (
        403,
        "Your groups do not allow that model (`allowed_models` names those you may use), or temporary chats are "
        "turned off here (CHAT_TEMPORARY_ALLOWED).",
    ),
    404,
    (409, "The previous reply of this conversation is still being written."),
    413,
    (
        429,
        OverBudget,
        "A monthly limit is reached: nothing was sent; `limit` and `resets_at` say which and when. Your message is "
        "kept (not in a temporary chat): POST to `retry` (or send it again) once the limit allows; it is not stored "
        "twice.",
    ),
    (
        503,
        ChatFailure,
        "The model service failed: your message is kept (not in a temporary chat); the failed reply is `message_id`.",
    ),
    json=ChatRequest,
)
def chat(json: ChatRequest) -> ChatReply:
    """Send a message and wait for the whole reply

    Saves your message first; the reply comes back whole (the pages stream it). With `"temporary": true` nothing
    is stored: send the earlier turns in `turns`; the answer's ids are null."""
    user = api_user()
    if json.temporary:
        if json.file_ids:
            raise Refused("Files cannot be attached to a temporary chat: nothing of it is kept.", field="file_ids")
        return temporary_chat(user, json)
    if json.turns:
        raise Refused("'turns' are for temporary chats only: a saved conversation keeps its own.", field="turns")
    exchange = service.send_message(
        user,
        json.message,
        json.conversation_id,
        json.model,
        json.system,
        project_id=json.project_id,
        file_ids=json.file_ids,
    )
    return ChatReply.of(service.complete_reply(user, exchange.reply.id), exchange=exchange)


def temporary_chat(user, json: ChatRequest) -> ChatReply:
    if json.conversation_id is not None:
        raise Refused(
            "A temporary chat cannot continue a saved conversation: leave out 'conversation_id'.",
            field="conversation_id",
        )
    turns = [(turn.role, turn.content) for turn in json.turns]
    outcome = temporary.prepare(user, json.message, turns, json.model, json.system, json.project_id).run()
    if outcome.status != COMPLETE:
        raise Unavailable(outcome.error or "The reply was interrupted before it was complete.")
    return ChatReply.of_temporary(outcome)


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


@bp.post("/messages/<int:message_id>/edit")
@operation(
    "chat",
    (200, ChatReply, "The reply to the edited message."),
    400,
    404,
    (409, "Not a message you sent, or a reply of this conversation is still being written."),
    413,
    (429, OverBudget, "A monthly limit is reached: nothing was sent or stored; `resets_at` says when it resets."),
    (503, ChatFailure, "The model service failed: the edited message is kept; the failed reply is `message_id`."),
    json=EditRequest,
)
def edit_message(message_id: int, json: EditRequest) -> ChatReply:
    """Edit a message you sent and wait for the new reply

    The edited text becomes a new version of the message, with a new reply, and its branch is shown from now on;
    the earlier version and what followed it are kept (see `versions` in the conversation)."""
    user = api_user()
    exchange = service.edit_message(user, message_id, json.message, json.model)
    return ChatReply.of(service.complete_reply(user, exchange.reply.id), exchange=exchange)


@bp.post("/messages/<int:message_id>/regenerate")
@operation(
    "chat",
    (200, ChatReply, "The new version of the reply."),
    400,
    404,
    (409, "Not a reply, or a reply of this conversation is still being written."),
    (429, OverBudget, "A monthly limit is reached: nothing was sent or stored; `retry` asks again later."),
    (503, ChatFailure, "The model service failed: the failed new version is `message_id`."),
    json=RegenerateRequest,
)
def regenerate_reply(message_id: int, json: RegenerateRequest) -> ChatReply:
    """Regenerate a reply and wait for it

    A new version of the reply to the same question (the earlier one is kept), shown from now on. Also how a
    failed or stopped reply is tried again, and how a message kept over a monthly limit is answered (the 429's
    `retry`)."""
    user = api_user()
    exchange = service.regenerate(user, message_id, json.model)
    return ChatReply.of(service.complete_reply(user, exchange.reply.id), exchange=exchange)


@bp.post("/messages/<int:message_id>/select")
@operation(
    "chat",
    (200, Conversation, "The conversation, showing the chosen version's branch."),
    404,
    (409, "A reply of this conversation is still being written."),
)
def select_version(message_id: int) -> Conversation:
    """Show another version of a message

    The conversation shows the branch through this message (one of a message's `versions`) down to its newest
    message; sending continues that branch."""
    return Conversation.of(service.select_version(api_user(), message_id))
