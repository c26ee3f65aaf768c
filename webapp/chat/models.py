"""Conversations and their messages: every message is kept, whatever became of its reply."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    DDL,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    literal_column,
)
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
# SQLite's full-text index of message text: an FTS5 table over `messages`, kept in step by triggers.
SQLITE_SEARCH_TABLE = "messages_fts"


def _search_vector(column: str):
    return func.to_tsvector(literal_column(f"'{SEARCH_CONFIG}'"), literal_column(column))


class Conversation(db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        # The chat page's sidebar and the dashboard: a user's conversations by last activity.
        Index("ix_conversations_user_id_updated_at", "user_id", "updated_at"),
        # The history page's order (pinned first, then newest activity), so a page is read, not sorted.
        Index("ix_conversations_user_id_pinned_updated_at_id", "user_id", "pinned", "updated_at", "id"),
        # The admins' review: everyone's conversations, newest activity first.
        Index("ix_conversations_updated_at_id", "updated_at", "id"),
        # A project's page: its conversations by last activity (webapp/projects).
        Index("ix_conversations_project_id_updated_at", "project_id", "updated_at"),
        # Title search on PostgreSQL (SQLite compares the few titles of one user with LIKE).
        Index("ix_conversations_title_search", _search_vector("title"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        # A substring of the title (search's `ILIKE '%word%'`) on PostgreSQL: trigrams (pg_trgm, made before the
        # table, see below), so the admins' search over everyone does not test every title in turn.
        Index(
            "ix_conversations_title_trigrams",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        # The model filter of the admins' review lists everyone's (provider, model) pairs: read from this index one
        # pair at a time on PostgreSQL (history.models_used), not by a DISTINCT over every conversation.
        Index("ix_conversations_provider_model", "provider", "model").ddl_if(dialect="postgresql"),
        # An imported conversation is there once per user: importing the same export again finds it by this.
        # (Conversations started here have no source: NULLs are never equal, so they never collide.)
        UniqueConstraint("user_id", "import_source", "import_source_id", name="uq_conversations_import_source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # The model the conversation uses now (each reply also records the model that wrote it).
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last message of the branch shown now: `service.thread()` reads the conversation back from it. A plain
    # integer, not a foreign key: conversations and messages would then refer to each other, a cycle that makes
    # every insert and delete order matter and that SQLite cannot add to an existing table.
    current_message_id: Mapped[int | None] = mapped_column(Integer)
    # The project (a folder with its own instructions) the conversation is in; a deleted project's conversations
    # move out (webapp/projects/service.py sets this to NULL: SQLite does not enforce ON DELETE by itself).
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    # "chat" (the chat page, /api/chat) or "gateway" (a call through /v1, kept as the caller's API conversation).
    origin: Mapped[str] = mapped_column(String(16), default="chat")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Imported conversations (webapp/imports): the tool they came from ("chatgpt", "openwebui", "workbench")
    # and their id there.
    import_source: Mapped[str | None] = mapped_column(String(16))
    import_source_id: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship("User")
    # Every message of every branch, by id. What the conversation shows, exports or sends to a model is the current
    # branch alone: `webapp.chat.service.thread(conversation)`.
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
        # Full-text search over message text on PostgreSQL (SQLite has the FTS5 table below).
        Index("ix_messages_content_search", _search_vector("content"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        # The dashboard's activity chart counts everyone's messages of the last days (admins).
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    # The message this one follows in its branch (None for a first message). An edited question or a regenerated
    # reply gets the same parent as the version it replaces: both are kept, as branches (`service.Tree`). Indexed
    # for the foreign key: a deleted message's children are looked up through it.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
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


# PostgreSQL: the trigram operators of the title index above come with the pg_trgm extension (migration 0021
# creates it too). A trusted extension: the database's owner may create it.
event.listen(
    Conversation.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)


# SQLite: the FTS5 index of message text (porter stemming, as PostgreSQL's English configuration stems). It reads
# the text from `messages` itself (external content), so the triggers only keep the index in step. The migration
# that introduced it has its own copy of these statements, as migrations keep what they did.
SQLITE_SEARCH_INDEX = (
    f"CREATE VIRTUAL TABLE {SQLITE_SEARCH_TABLE} USING fts5(content, content='messages', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER {SQLITE_SEARCH_TABLE}_insert AFTER INSERT ON messages BEGIN "
    f"INSERT INTO {SQLITE_SEARCH_TABLE}(rowid, content) VALUES (new.id, new.content); END",
    f"CREATE TRIGGER {SQLITE_SEARCH_TABLE}_delete AFTER DELETE ON messages BEGIN "
    f"INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}, rowid, content) VALUES ('delete', old.id, old.content); "
    "END",
    f"CREATE TRIGGER {SQLITE_SEARCH_TABLE}_update AFTER UPDATE OF content ON messages BEGIN "
    f"INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}, rowid, content) VALUES ('delete', old.id, old.content); "
    f"INSERT INTO {SQLITE_SEARCH_TABLE}(rowid, content) VALUES (new.id, new.content); END",
)

for _statement in SQLITE_SEARCH_INDEX:
    event.listen(Message.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
# The triggers go with the table; the FTS5 table (and its shadow tables) must be dropped by name.
event.listen(
    Message.__table__, "before_drop", DDL(f"DROP TABLE IF EXISTS {SQLITE_SEARCH_TABLE}").execute_if(dialect="sqlite")
)


def is_search_index_table(name: str) -> bool:
    """FTS5's tables (messages_fts and its shadow tables): made by DDL, not described by the models."""
    return name == SQLITE_SEARCH_TABLE or name.startswith(SQLITE_SEARCH_TABLE + "_")
