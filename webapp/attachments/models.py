"""Files in chat: the text read from a stored file (once), its passages, the files attached to a message, and the
sources a reply was given (its citations).

Every row points at a file or a message with ON DELETE CASCADE (or SET NULL for a citation, which keeps the file's
name when the file is gone); SQLite does not enforce those, so the services delete what goes with a file or a
conversation themselves, and searches join the files still kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, DateTime, ForeignKey, Index, Integer, String, Text, event, literal_column
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from webapp.attachments.extraction import FAILED, NO_TEXT
from webapp.chat.models import Message
from webapp.extensions import db
from webapp.files.models import StoredFile
from webapp.timeutil import utcnow

# The text search configuration of PostgreSQL (the same as chat history's); SQLite has the FTS5 table below.
SEARCH_CONFIG = "english"
SQLITE_PASSAGE_TABLE = "file_passages_fts"


class FileText(db.Model):
    """What reading a file gave, once: the unit its passages count in, and a sentence when it gave nothing."""

    __tablename__ = "file_texts"

    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    # What a passage's `first`/`last` count: "page" (PDF), "row" (CSV), "paragraph" (Word), "line" (text).
    unit: Mapped[str] = mapped_column(String(16), default="")
    # For a person: why there is no text, or that only the start of a very long file was read.
    note: Mapped[str | None] = mapped_column(Text)
    chars: Mapped[int] = mapped_column(Integer, default=0)
    passages: Mapped[int] = mapped_column(Integer, default=0)
    extracted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FilePassage(db.Model):
    """A stretch of a file's text (a few pages, rows or paragraphs) that is ranked and sent on its own."""

    __tablename__ = "file_passages"
    __table_args__ = (
        Index("ix_file_passages_file_id_position", "file_id", "position"),
        # PostgreSQL only (SQLite has the FTS5 table below); an expression, so SQLite's migration check skips it.
        Index("ix_file_passages_search", literal_column("search_vector"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    first: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # PostgreSQL: the passage's lexemes, written with the passage, so ranking reads them instead of parsing the
    # text again for every question (the GIN index finds the passages, ts_rank orders them). Unused on SQLite.
    search_vector: Mapped[str | None] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"), deferred=True)


class MessageFile(db.Model):
    """A file attached to a user's message; `note` says why its text could not go to the model, if so."""

    __tablename__ = "message_files"
    # A file's deletion finds the messages it was attached to.
    __table_args__ = (Index("ix_message_files_file_id", "file_id"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The name as it was when attached, so the chip still reads right once the file is renamed or deleted.
    file_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))

    # `message.attachments`, in the order attached (defined here, so chat's models need not know about files).
    message: Mapped[Message] = relationship(
        backref=backref(
            "attachments",
            order_by="MessageFile.position",
            cascade="all, delete-orphan",
            passive_deletes=True,
            # Pages, exports and the API read a batch of messages at once: one more query a batch, not one a message.
            lazy="selectin",
        )
    )
    stored: Mapped[StoredFile | None] = relationship(lazy="joined", viewonly=True)
    text: Mapped[FileText | None] = relationship(
        primaryjoin="foreign(MessageFile.file_id) == FileText.file_id", lazy="joined", viewonly=True
    )

    @property
    def kept(self) -> bool:
        """False once the file is deleted from the library: the chip stays, without its link."""
        return self.stored is not None and self.stored.deleted_at is None

    @property
    def problem(self) -> str | None:
        """Why the file's text could not go to the model, for its chip."""
        if self.text is not None and self.text.status in (NO_TEXT, FAILED):
            return self.text.note
        return None


class MessageSource(db.Model):
    """A passage a reply was given, by the number the model was told to cite it with."""

    __tablename__ = "message_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    # "page 3", "pages 3–4", "rows 2–41": where in the file the passage is.
    locator: Mapped[str] = mapped_column(String(64))
    excerpt: Mapped[str] = mapped_column(Text)

    # `message.sources`, by number.
    message: Mapped[Message] = relationship(
        backref=backref(
            "sources",
            order_by="MessageSource.number",
            cascade="all, delete-orphan",
            passive_deletes=True,
            lazy="selectin",
        )
    )


class ProjectFile(db.Model):
    """A file of the library attached to a project: searched for every conversation of the project."""

    __tablename__ = "project_files"
    # A file's deletion finds the projects it was in.
    __table_args__ = (Index("ix_project_files_file_id", "file_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# SQLite: FTS5 over the passages' text (porter stemming, as PostgreSQL's English configuration stems), reading the
# text from `file_passages` itself; triggers keep it in step. The migration keeps its own copy of these statements.
SQLITE_PASSAGE_INDEX = (
    f"CREATE VIRTUAL TABLE {SQLITE_PASSAGE_TABLE} USING fts5(text, content='file_passages', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER {SQLITE_PASSAGE_TABLE}_insert AFTER INSERT ON file_passages BEGIN "
    f"INSERT INTO {SQLITE_PASSAGE_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER {SQLITE_PASSAGE_TABLE}_delete AFTER DELETE ON file_passages BEGIN "
    f"INSERT INTO {SQLITE_PASSAGE_TABLE}({SQLITE_PASSAGE_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
    "END",
)

for _statement in SQLITE_PASSAGE_INDEX:
    event.listen(FilePassage.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
event.listen(
    FilePassage.__table__,
    "before_drop",
    DDL(f"DROP TABLE IF EXISTS {SQLITE_PASSAGE_TABLE}").execute_if(dialect="sqlite"),
)


def is_passage_index_table(name: str) -> bool:
    """FTS5's tables for passages (made by DDL, not described by the models)."""
    return name == SQLITE_PASSAGE_TABLE or name.startswith(SQLITE_PASSAGE_TABLE + "_")
