"""Conversations and their messages: every message is kept, whatever became of its reply."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.timeutil import utcnow

if TYPE_CHECKING:
    from webapp.auth.models import User

# Message.status values. A reply is `pending` from the moment the user's message is saved until its stream ends.
PENDING, COMPLETE, ERROR, INTERRUPTED = "pending", "complete", "error", "interrupted"
STATUSES = (PENDING, COMPLETE, ERROR, INTERRUPTED)
# The text search configuration of PostgreSQL's full-text search; the migration's index uses the same one.
SEARCH_CONFIG = "english"


class Conversation(db.Model):
    __tablename__ = "conversations"
    # The history page lists a user's conversations by last activity.
    __table_args__ = (Index("ix_conversations_user_id_updated_at", "user_id", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # The model the conversation uses now (each reply also records the model that wrote it).
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship("User")
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        order_by="Message.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Conversation {self.id} of user {self.user_id}: {self.title!r}>"


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # Full-text search over message text on PostgreSQL (SQLite searches with LIKE instead).
        Index(
            "ix_messages_content_search",
            func.to_tsvector(literal_column(f"'{SEARCH_CONFIG}'"), literal_column("content")),
            postgresql_using="gin",
        ).ddl_if(dialect="postgresql"),
        # The dashboard's activity chart counts everyone's messages of the last days (admins).
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=COMPLETE)
    # The sentence shown to the user when the reply failed.
    error: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    # Set by the Stop button; the stream checks it between chunks, in whichever worker process it runs.
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # When a stream took this reply on, and when it last saved progress: a reply whose worker died stays
    # `pending` with an old heartbeat, and is then shown as interrupted with the text saved so far.
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    conversation: Mapped[Conversation] = relationship(back_populates="messages")

    @property
    def failed(self) -> bool:
        return self.status in (ERROR, INTERRUPTED)

    def __repr__(self) -> str:
        return f"<Message {self.id} {self.role} {self.status}>"
