"""Importing conversations from an export file: every conversation or none, each one once.

The page, the API and the bench call `import_export(user, upload)`. The export is read as a stream
(`formats.read_export`, one conversation in memory at a time) and written in batches with SQLAlchemy Core
(executemany INSERTs, no ORM objects kept), all in the request's one transaction: a file that
turns out damaged half-way (or any failure) is rolled back whole, and the user is told nothing was imported.

Each imported conversation keeps where it came from (`import_source`, `import_source_id`, unique per user):
a conversation already imported is skipped, so importing the same file again imports nothing new. Two imports
of the same file at once cannot both write a conversation: the unique constraint refuses the second, which is
rolled back and told to try again (it will then skip what the first imported).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import without_nul
from webapp.chat.models import COMPLETE, Conversation, Message
from webapp.chat.service import MAX_TITLE_LENGTH, title_from
from webapp.errors import Refused
from webapp.extensions import db
from webapp.imports import formats
from webapp.imports.formats import ImportedConversation, ImportedMessage, Unreadable
from webapp.timeutil import utcnow
from webapp.units import MEGABYTE

log = logging.getLogger(__name__)

# A batch is written when it holds this many messages or conversations: a few statements per batch, and
# memory bounded by the batch, not by the file.
BATCH_MESSAGES = 2000
BATCH_CONVERSATIONS = 200
# Failures listed one by one in the answer; past this many, one more line counts the rest.
MAX_FAILURES_LISTED = 500
NO_FILE_MESSAGE = "Choose an export file to import."
UNTITLED = "Imported conversation"
NOTHING_IMPORTED = "Nothing was imported."
BUSY_MESSAGE = (
    "Another import of some of the same conversations was running at the same time. Nothing was imported from "
    "this file; import it again: what the other import added is skipped."
)

CONVERSATIONS = Conversation.__table__
MESSAGES = Message.__table__
# The message tree (edit and regenerate) when the schema has it; without it, only each conversation's current
# branch is imported, in order.
HAS_TREE = "parent_id" in MESSAGES.c and "current_message_id" in CONVERSATIONS.c


@dataclass(frozen=True)
class Failure:
    title: str | None
    source_id: str | None
    error: str


@dataclass
class ImportOutcome:
    imported: int = 0
    skipped: int = 0
    failed: list[Failure] = field(default_factory=list)
    messages: int = 0
    sources: set[str] = field(default_factory=set)  # the formats found, e.g. {"chatgpt"}
    unlisted_failures: int = 0

    @property
    def source_names(self) -> str:
        return " and ".join(sorted(formats.FORMAT_NAMES.get(source, source) for source in self.sources))

    def fail(self, failure: Failure) -> None:
        if len(self.failed) < MAX_FAILURES_LISTED:
            self.failed.append(failure)
        else:
            self.unlisted_failures += 1

    def finish(self) -> None:
        if self.unlisted_failures:
            self.failed.append(
                Failure(None, None, f"{self.unlisted_failures:,} more conversations could not be read either.")
            )
            self.unlisted_failures = 0


def import_limit_bytes() -> int:
    return current_app.config["CHAT_IMPORT_MAX_MB"] * MEGABYTE


def import_export(user: User, upload: Any) -> ImportOutcome:
    """Import every conversation of `upload` (a werkzeug FileStorage, streamed to disk by the upload request,
    or any object with a seekable binary `stream`) for `user`, in one transaction."""
    stream = getattr(upload, "stream", None)
    if upload is None or stream is None or (not getattr(upload, "filename", "") and _size(stream) == 0):
        raise Refused(NO_FILE_MESSAGE, field="file")
    limit = import_limit_bytes()
    if getattr(stream, "over_limit", False) or _size(stream) > limit:
        raise Refused(
            f"The file is larger than the {current_app.config['CHAT_IMPORT_MAX_MB']} MB an import can be.",
            status=413,
            field="file",
        )
    try:
        outcome = _import(user, stream, limit)
        audit.record(
            "chat.import",
            user=user,
            detail=f"{outcome.source_names or 'empty export'}: {outcome.imported} imported, "
            f"{outcome.skipped} already there, {len(outcome.failed)} unreadable",
        )
        db.session.commit()
    except formats.ExportError as error:
        db.session.rollback()
        raise Refused(f"{error} {NOTHING_IMPORTED}", field="file") from None
    except IntegrityError:
        db.session.rollback()
        raise Refused(BUSY_MESSAGE, status=409, field="file") from None
    except BaseException:
        db.session.rollback()
        raise
    return outcome


def _size(stream: IO[bytes]) -> int:
    size = getattr(stream, "size", None)
    if isinstance(size, int):
        return size
    position = stream.tell()
    end = stream.seek(0, 2)
    stream.seek(position)
    return end


def _import(user: User, stream: IO[bytes], limit: int) -> ImportOutcome:
    outcome = ImportOutcome()
    writer = _Writer(user.id, outcome)
    for record in formats.read_export(stream, max_member_bytes=limit):
        if isinstance(record, Unreadable):
            outcome.fail(Failure(record.title, record.source_id, record.reason))
            continue
        outcome.sources.add(record.source)
        writer.add(record)
    writer.flush()
    outcome.finish()
    return outcome


@dataclass
class _Prepared:
    """One conversation's rows, ready to insert (ids are known only once inserted)."""

    record: ImportedConversation
    row: dict[str, Any]
    messages: list[dict[str, Any]]  # in the record's order: parents first
    parents: list[int | None]  # for each message, the index of its parent in `messages`
    current: int | None  # the index of the current branch's last message


class _Writer:
    def __init__(self, user_id: int, outcome: ImportOutcome) -> None:
        self.user_id = user_id
        self.outcome = outcome
        self.batch: list[_Prepared] = []
        self.batch_messages = 0
        self.max_chars = current_app.config["CHAT_MAX_MESSAGE_CHARS"]

    def add(self, record: ImportedConversation) -> None:
        try:
            prepared = self._prepare(record)
        except _TooLong as error:
            self.outcome.fail(Failure(_clean_title(record.title) or None, record.source_id, str(error)))
            return
        self.batch.append(prepared)
        self.batch_messages += len(prepared.messages)
        if self.batch_messages >= BATCH_MESSAGES or len(self.batch) >= BATCH_CONVERSATIONS:
            self.flush()

    def _prepare(self, record: ImportedConversation) -> _Prepared:
        chosen = record.messages if HAS_TREE else record.branch()
        now = utcnow()
        created = record.created_at or now
        index: dict[str, int] = {}
        rows: list[dict[str, Any]] = []
        parents: list[int | None] = []
        for position, message in enumerate(chosen):
            parent = index.get(message.parent) if HAS_TREE and message.parent is not None else None
            if not HAS_TREE and position:
                parent = position - 1
            at = message.created_at or (rows[parent]["created_at"] if parent is not None else created)
            rows.append(self._message_row(message, at, position))
            parents.append(parent)
            index[message.key] = position
        title = _clean_title(record.title)
        if not title:
            first = next((message for message in record.branch() if message.role == "user"), None)
            title = _clean_title(title_from(first.content)) if first else ""
        system = self._text(record.system_prompt, "The system prompt") if record.system_prompt else None
        row = {
            "user_id": self.user_id,
            "title": title or UNTITLED,
            "provider": (record.provider or "imported")[:32],
            "model": (record.model or "unknown")[:200],
            "system_prompt": system or None,
            "pinned": False,
            "created_at": created,
            "updated_at": record.updated_at or created,
            "import_source": record.source,
            "import_source_id": record.source_id,
        }
        current = index.get(record.current) if record.current is not None else None
        if current is None and rows:
            current = len(rows) - 1
        return _Prepared(record, row, rows, parents, current)

    def _message_row(self, message: ImportedMessage, at: datetime, position: int) -> dict[str, Any]:
        content = self._text(message.content, f"Message {position + 1}")
        assistant = message.role == "assistant"
        return {
            "role": message.role,
            "content": content,
            "status": message.status if assistant else COMPLETE,
            "error": message.error if assistant else None,
            "provider": (message.provider or "")[:32] or None if assistant else None,
            "model": (message.model or "")[:200] or None if assistant else None,
            "created_at": at,
            "completed_at": at,
        }

    def _text(self, text: str, what: str) -> str:
        text = without_nul(text).replace("\r\n", "\n").strip()
        if len(text) > self.max_chars:
            raise _TooLong(
                f"{what} is {len(text):,} characters long; messages here can be at most {self.max_chars:,} "
                "(CHAT_MAX_MESSAGE_CHARS)."
            )
        return text

    def flush(self) -> None:
        batch, self.batch, self.batch_messages = self.batch, [], 0
        if not batch:
            return
        fresh = self._not_yet_imported(batch)
        self.outcome.skipped += len(batch) - len(fresh)
        if not fresh:
            return
        # Plain executemany INSERTs (batched by SQLAlchemy, no RETURNING: with it, SQLite would write one row a
        # statement), then the new ids read back. Conversations are found by their source id (unique per user).
        db.session.execute(insert(CONVERSATIONS), [prepared.row for prepared in fresh])
        conversation_ids = self._ids_of(fresh)
        message_rows = [
            {**row, "conversation_id": conversation_id}
            for prepared, conversation_id in zip(fresh, conversation_ids, strict=True)
            for row in prepared.messages
        ]
        if message_rows:
            db.session.execute(insert(MESSAGES), message_rows)
        if HAS_TREE:
            self._link(fresh, conversation_ids)
        self.outcome.imported += len(fresh)
        self.outcome.messages += len(message_rows)

    def _ids_of(self, fresh: list[_Prepared]) -> list[int]:
        """The ids of the conversations just inserted, in the batch's order."""
        found: dict[tuple[str, str], int] = {}
        for source in {prepared.record.source for prepared in fresh}:
            ids = [prepared.record.source_id for prepared in fresh if prepared.record.source == source]
            rows = db.session.execute(
                select(CONVERSATIONS.c.id, CONVERSATIONS.c.import_source_id).where(
                    CONVERSATIONS.c.user_id == self.user_id,
                    CONVERSATIONS.c.import_source == source,
                    CONVERSATIONS.c.import_source_id.in_(ids),
                )
            )
            found.update(((source, source_id), id_) for id_, source_id in rows)
        return [found[(prepared.record.source, prepared.record.source_id)] for prepared in fresh]

    def _link(self, fresh: list[_Prepared], conversation_ids: list[int]) -> None:
        """Each message's parent and each conversation's current message, now that their ids are known.

        A conversation's messages were inserted in the order of its rows, and ids grow in insertion order (the
        whole app orders messages by id), so its ids read back in order are its rows' ids."""
        message_ids: dict[int, list[int]] = {}
        for id_, conversation_id in db.session.execute(
            select(MESSAGES.c.id, MESSAGES.c.conversation_id)
            .where(MESSAGES.c.conversation_id.in_(conversation_ids))
            .order_by(MESSAGES.c.conversation_id, MESSAGES.c.id)
        ):
            message_ids.setdefault(conversation_id, []).append(id_)
        parent_links: list[dict[str, int]] = []
        current_links: list[dict[str, int]] = []
        for prepared, conversation_id in zip(fresh, conversation_ids, strict=True):
            ids = message_ids.get(conversation_id, [])
            parent_links.extend(
                {"row_id": ids[position], "parent": ids[parent]}
                for position, parent in enumerate(prepared.parents)
                if parent is not None
            )
            if prepared.current is not None:
                current_links.append({"row_id": conversation_id, "current": ids[prepared.current]})
        if parent_links:
            db.session.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == bindparam("row_id"))
                .values(parent_id=bindparam("parent"))
                .execution_options(synchronize_session=False),
                parent_links,
            )
        if current_links:
            db.session.execute(
                update(CONVERSATIONS)
                .where(CONVERSATIONS.c.id == bindparam("row_id"))
                .values(current_message_id=bindparam("current"))
                .execution_options(synchronize_session=False),
                current_links,
            )

    def _not_yet_imported(self, batch: list[_Prepared]) -> list[_Prepared]:
        """The batch without the conversations this user already has (earlier imports, earlier in this file)."""
        wanted: dict[str, set[str]] = {}
        for prepared in batch:
            wanted.setdefault(prepared.record.source, set()).add(prepared.record.source_id)
        known: set[tuple[str, str]] = set()
        for source, ids in wanted.items():
            found = db.session.execute(
                select(CONVERSATIONS.c.import_source_id).where(
                    CONVERSATIONS.c.user_id == self.user_id,
                    CONVERSATIONS.c.import_source == source,
                    CONVERSATIONS.c.import_source_id.in_(ids),
                )
            ).scalars()
            known.update((source, source_id) for source_id in found)
        fresh: list[_Prepared] = []
        for prepared in batch:
            key = (prepared.record.source, prepared.record.source_id)
            if key not in known:
                known.add(key)  # the same conversation twice in one file is imported once
                fresh.append(prepared)
        return fresh


class _TooLong(Exception):
    pass


def _clean_title(title: str | None) -> str:
    title = " ".join(without_nul(title or "").split())
    return title[: MAX_TITLE_LENGTH - 1] + "…" if len(title) > MAX_TITLE_LENGTH else title
