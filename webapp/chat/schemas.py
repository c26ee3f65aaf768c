"""Chat's JSON bodies: what POST /api/chat takes and answers, a conversation as the API and the exports write it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field

from webapp.attachments.schemas import AttachedFile, Source
from webapp.chat.branches import tree
from webapp.chat.temporary import MAX_TURNS
from webapp.schemas import (
    BlankIsNone,
    DatabaseId,
    ErrorBody,
    JsonRequest,
    PageFields,
    QueryParameters,
    Schema,
    Timestamp,
)


class Turn(JsonRequest):
    """One earlier turn of a temporary chat, as its page (or script) kept it."""

    role: Literal["user", "assistant"]
    content: str


class ChatRequest(JsonRequest):
    """A message to send: to a new conversation, or to `conversation_id`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"message": "Hello"}]})

    message: str | None = Field(default=None, description="Your message; blank or missing is refused (400).")
    conversation_id: DatabaseId | None = Field(
        default=None, description="Continue this conversation (one of yours); omit to start a new one."
    )
    model: str | None = Field(default=None, description="`provider:model` as in the picker, or a bare model name.")
    system: str | None = Field(default=None, description="A system prompt for a new conversation.")
    file_ids: list[DatabaseId] = Field(
        default_factory=list,
        max_length=10,
        description="Files of your library to attach (`GET /api/files`); another user's file is a 404.",
    )
    project_id: DatabaseId | None = Field(
        default=None,
        description="Start the new conversation in this project of yours: its instructions come before the system "
        "prompt, and its default model applies unless `model` names one.",
    )
    temporary: bool = Field(
        default=False,
        description="A temporary chat: nothing of it is stored or logged (the answer's `conversation_id` is null); "
        "only its token counts are. Send its earlier turns in `turns`. 403 when an administrator turned them off.",
    )
    turns: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_TURNS,
        description="Temporary chats only: the earlier turns, oldest first (the model gets the newest that fit).",
    )


class EditRequest(JsonRequest):
    """The new text of a message you sent: it becomes a new version of it, with a new reply."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"message": "Hello again"}]})

    message: str | None = Field(default=None, description="The edited message; blank or missing is refused (400).")
    model: str | None = Field(default=None, description="`provider:model` for the new reply (default: as before).")


class RegenerateRequest(JsonRequest):
    """Which model writes the new version of the reply (send `{}` for the conversation's)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    model: str | None = Field(default=None, description="`provider:model` for the new reply (default: as before).")


class Usage(Schema):
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int | None


class ChatReply(Schema):
    """The whole reply to a message, and where both are kept (null ids: a temporary chat, kept nowhere)."""

    reply: str
    conversation_id: DatabaseId | None
    message_id: DatabaseId | None
    question_id: DatabaseId | None
    provider: str | None
    model: str | None
    usage: Usage
    sources: list[Source] = Field(default_factory=list, description="The excerpts of attached files it was given.")

    @classmethod
    def of(cls, source: Any, *, exchange: Any) -> Self:  # type: ignore[override]
        """`source` is the finished reply message; `exchange` the service's (conversation, question) it answers."""
        return cls(
            reply=source.content,
            conversation_id=exchange.conversation.id,
            message_id=source.id,
            question_id=exchange.question.id,
            provider=source.provider,
            model=source.model,
            usage=Usage.of(source),
            sources=[Source.of(item) for item in getattr(source, "sources", [])],
        )

    @classmethod
    def of_temporary(cls, outcome: Any) -> Self:
        """`outcome` is a temporary chat's finished reply (webapp.chat.temporary.Outcome)."""
        return cls(
            reply=outcome.text,
            conversation_id=None,
            message_id=None,
            question_id=None,
            provider=outcome.provider,
            model=outcome.model,
            usage=Usage.of(outcome),
        )


class ChatFailure(ErrorBody):
    """The model service failed: your message is kept; the failed reply is `message_id`."""

    conversation_id: DatabaseId | None = None
    message_id: DatabaseId | None = None


class Message(Schema):
    id: DatabaseId
    parent_id: DatabaseId | None = Field(description="The message this one follows (null for the first).")
    role: Literal["user", "assistant"]
    content: str
    status: Literal["pending", "complete", "error", "interrupted"]
    error: str | None
    provider: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int | None
    finish_reason: str | None
    created_at: Timestamp
    completed_at: Timestamp | None
    files: list[AttachedFile] = Field(default_factory=list, validation_alias="attachments")
    sources: list[Source] = Field(default_factory=list)
    versions: list[DatabaseId] = Field(
        default_factory=list,
        description="Every version of this message (edits of a question, regenerations of a reply), oldest first; "
        "POST /api/messages/<id>/select shows another one's branch.",
    )


class ConversationSummary(Schema):
    id: DatabaseId
    title: str
    provider: str
    model: str
    system_prompt: str | None
    pinned: bool
    project_id: DatabaseId | None = Field(default=None, description="The project it is in (null: none).")
    created_at: Timestamp
    updated_at: Timestamp


class Conversation(ConversationSummary):
    """A conversation with the messages of its current branch, as GET /api/conversations/<id> and the JSON exports
    write it. Edited messages and regenerated replies make other branches; `branches` says how many there are."""

    messages: list[Message] = Field(description="The current branch, in order.")
    branches: int = Field(ge=1, description="How many branches the conversation has (1: never edited or regenerated).")

    @classmethod
    def of(cls, source: Any) -> Self:
        """`source` is a conversation row: its current branch, and the number of its branches."""
        branches = tree(source)
        return cls(
            **ConversationSummary.of(source).model_dump(),
            messages=[
                Message.of(message).model_copy(update={"versions": [other.id for other in branches.siblings(message)]})
                for message in branches.thread
            ],
            branches=branches.branch_count,
        )


class ConversationPage(PageFields):
    conversations: list[ConversationSummary]

    @classmethod
    def of(cls, source: Any) -> Self:
        """`source` is a pagination of conversations."""
        return cls(conversations=[ConversationSummary.of(item) for item in source.items], **cls.of_pagination(source))


OptionalDay = Annotated[date | None, BlankIsNone]


class ConversationQuery(QueryParameters):
    q: str = Field(default="", description="Search titles and message text.")
    model: str = Field(default="", description="Only conversations with this model (`provider:model`).")
    date_from: OptionalDay = Field(default=None, alias="from", description="Updated on or after this day.")
    date_to: OptionalDay = Field(default=None, alias="to", description="Updated on or before this day.")
    page: int = Field(default=1, ge=1, description="Page number, from 1 (past the last page: no items).")
    per_page: int | None = Field(default=None, ge=1, le=100, description="Items a page (at most 100).")
