"""Files in chat: text read once and kept, files attached to messages, the excerpts a reply is given and cites.

The chat service calls `owned_files` and `refuse_images_unseen` before it stores a message (another user's file is
a 404, an image for a model that cannot see is refused before anything is sent), `attach` while it does, and
`reply_context` when a reply is about to be asked for: the excerpts that fit, numbered, stored as the reply's
sources.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select, update

from webapp.attachments.extraction import FAILED, NO_TEXT, READY, Extracted, Limits, extract, locator
from webapp.attachments.models import SEARCH_CONFIG, FilePassage, FileText, MessageFile, MessageSource, ProjectFile
from webapp.attachments.search import among, rank
from webapp.auth.models import User
from webapp.errors import Refused
from webapp.extensions import db
from webapp.files import service as files
from webapp.files.models import StoredFile
from webapp.timeutil import utcnow
from webapp.units import MEGABYTE

log = logging.getLogger("webapp.attachments")

# Files the composer's picker lists (the newest; older ones are found on the files page).
PICKER_SIZE = 50
# What may be attached to one message.
MAX_FILES_PER_MESSAGE = 10
# Newest images sent with a question (those of earlier questions of the conversation included).
MAX_IMAGES = 8
# A short file goes in whole, whatever the question; longer ones give their best-ranked passages.
SHORT_FILE_SHARE = 8  # a file is short when it fits in 1/8 of what the files may take
# The files' excerpts take at most this share of CHAT_CONTEXT_CHARS, so the conversation keeps the rest.
FILES_SHARE = 0.75
EXCERPT_CHARS = 240
TOO_MANY_FILES = f"At most {MAX_FILES_PER_MESSAGE} files can be attached to one message."
CITE_INSTRUCTIONS = (
    "The user attached files; excerpts from them follow, each with a number in square brackets. Answer from them "
    "where they help, and cite every excerpt you use by its number in square brackets, like [1] or [2][3]. "
    "Say so when the excerpts do not answer the question."
)


# -- reading a file's text, once ---------------------------------------------------------------------------------


def limits() -> Limits:
    config = current_app.config
    return Limits(
        seconds=config["CHAT_EXTRACT_SECONDS"],
        memory_mb=config["CHAT_EXTRACT_MEMORY_MB"],
        max_pages=config["CHAT_EXTRACT_MAX_PAGES"],
        max_chars=config["CHAT_EXTRACT_MAX_CHARS"],
    )


def has_text(stored: StoredFile) -> bool:
    """Documents have text to read; images are looked at, not read."""
    return stored.kind == "document"


def text_of(stored: StoredFile) -> FileText:
    """The file's text as read when it was stored; read now (and kept) for a file stored before this existed."""
    known = db.session.get(FileText, stored.id)
    if known is not None:
        return known
    return read_and_keep(stored)


def read_and_keep(stored: StoredFile) -> FileText:
    """Read the file's text in a bounded child process and keep it with its passages (committed)."""
    extracted = _extract(stored)
    return keep(stored.id, extracted)


def _extract(stored: StoredFile) -> Extracted:
    store = files.storage()
    if hasattr(store, "path_for"):  # the local store: read the file where it is
        return extract(store.path_for(stored.storage_key), stored.content_type, limits())
    folder = current_app.extensions.get("upload_temp_dir") or tempfile.gettempdir()
    handle, path = tempfile.mkstemp(prefix="extract-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as copy, files.open_original(stored) as original:
            shutil.copyfileobj(original, copy, MEGABYTE)
        return extract(path, stored.content_type, limits())
    finally:
        os.unlink(path)


def keep(file_id: int, extracted: Extracted) -> FileText:
    """Store what reading gave (replacing an earlier reading) and commit."""
    db.session.execute(delete(FilePassage).where(FilePassage.file_id == file_id))
    db.session.execute(delete(FileText).where(FileText.file_id == file_id))
    if extracted.passages:
        statement = insert(FilePassage.__table__)
        if db.session.get_bind().dialect.name == "postgresql":
            # The lexemes written with the row, not by an UPDATE after: that left a dead copy of every passage,
            # twice the table for ranking to read until autovacuum came by.
            passage_text = bindparam("passage_text")
            statement = statement.values(text=passage_text, search_vector=_to_tsvector(passage_text))
        else:
            statement = statement.values(text=bindparam("passage_text"))
        db.session.execute(
            statement,
            [
                {"file_id": file_id, "position": index, "first": p.first, "last": p.last, "passage_text": p.text}
                for index, p in enumerate(extracted.passages)
            ],
        )
    text = FileText(
        file_id=file_id,
        status=extracted.status,
        unit=extracted.unit,
        note=extracted.note,
        chars=extracted.chars,
        passages=len(extracted.passages),
        extracted_at=utcnow(),
    )
    db.session.add(text)
    db.session.commit()
    return text


def _to_tsvector(column):
    from sqlalchemy import func, literal_column

    return func.to_tsvector(literal_column(f"'{SEARCH_CONFIG}'"), column)


def on_file_stored(stored: StoredFile) -> None:
    """The files service's hook: read a document's text as soon as it is kept. A failure here never fails the
    upload: the file is kept, and its text is read again when it is first attached."""
    if not has_text(stored):
        return
    try:
        read_and_keep(stored)
    except Exception:
        db.session.rollback()
        log.exception("reading the text of file %s failed; it will be tried again when attached", stored.id)


def on_file_purged(stored: StoredFile) -> None:
    """The files service's hook, as a file's row goes: its text goes too, and its citations keep only its name
    (PostgreSQL's foreign keys would do this; SQLite does not enforce them, and reuses a deleted row's id)."""
    db.session.execute(delete(FilePassage).where(FilePassage.file_id == stored.id))
    db.session.execute(delete(FileText).where(FileText.file_id == stored.id))
    db.session.execute(delete(MessageFile).where(MessageFile.file_id == stored.id))
    db.session.execute(delete(ProjectFile).where(ProjectFile.file_id == stored.id))
    db.session.execute(update(MessageSource).where(MessageSource.file_id == stored.id).values(file_id=None))


# -- attaching files to a message --------------------------------------------------------------------------------


def vision_models(provider: str) -> tuple[str, ...]:
    config = current_app.config
    return tuple(
        {"openai": config["OPENAI_VISION_MODELS"], "bedrock": config["BEDROCK_VISION_MODELS"]}.get(provider, ())
    )


def sees_images(provider: str, model: str) -> bool:
    return model in vision_models(provider)


def owned_files(user: User, file_ids: Sequence[int] | None) -> list[StoredFile]:
    """The files to attach, the user's own (another's, or a deleted one, is a 404), before anything is stored."""
    if not file_ids:
        return []
    unique = list(dict.fromkeys(file_ids))
    if len(unique) > MAX_FILES_PER_MESSAGE:
        raise Refused(TOO_MANY_FILES, field="file_ids")
    return [files.get_owned(user, file_id) for file_id in unique]


def refuse_images_unseen(chosen: Sequence[StoredFile], provider: str, model: str) -> None:
    """Images need a model that accepts them: for any other the message is refused, naming the models that do."""
    if any(stored.is_image for stored in chosen) and not sees_images(provider, model):
        offered = {choice.value for choice in _choices()}
        seeing = [
            f"{name}:{seeing_model}"
            for name in ("openai", "bedrock")
            for seeing_model in vision_models(name)
            if f"{name}:{seeing_model}" in offered
        ]
        which = f"Choose one that does: {', '.join(seeing)}." if seeing else "None of the models here accepts images."
        raise Refused(f"The model {model} does not accept images, so nothing was sent. {which}", field="file_ids")


def _choices():
    from webapp.chat.service import model_choices

    return model_choices()


def attach(message_id: int, chosen: Sequence[StoredFile]) -> None:
    """Record the files on the (flushed) message, in the order given; committed with the message."""
    for position, stored in enumerate(chosen):
        db.session.add(
            MessageFile(
                message_id=message_id,
                file_id=stored.id,
                position=position,
                file_name=stored.original_name,
                kind=stored.kind,
            )
        )


@dataclass(frozen=True)
class Chip:
    """A file on a message, as its chip shows it."""

    file_id: int
    name: str
    kind: str
    note: str | None  # why its text could not go to the model
    kept: bool  # False when the file has been deleted since


def chips(message_ids: Sequence[int]) -> dict[int, list[Chip]]:
    """The files of each message, in the order attached, with what became of their text."""
    if not message_ids:
        return {}
    rows = db.session.execute(
        select(MessageFile, FileText.status, FileText.note, StoredFile.id, StoredFile.deleted_at)
        .outerjoin(FileText, FileText.file_id == MessageFile.file_id)
        .outerjoin(StoredFile, StoredFile.id == MessageFile.file_id)
        .where(MessageFile.message_id.in_(list(message_ids)))
        .order_by(MessageFile.message_id, MessageFile.position)
    )
    found: dict[int, list[Chip]] = {}
    for attached, status, note, stored_id, deleted_at in rows:
        problem = note if status in (NO_TEXT, FAILED) else None
        found.setdefault(attached.message_id, []).append(
            Chip(attached.file_id, attached.file_name, attached.kind, problem, stored_id is not None and not deleted_at)
        )
    return found


# -- what a reply is given ---------------------------------------------------------------------------------------


@dataclass
class Source:
    number: int
    file_id: int
    file_name: str
    locator: str
    text: str


@dataclass
class FileContext:
    """The excerpts for one reply (numbered sources), the notes on files that gave none, and the images."""

    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)
    image_note: str | None = None

    def block(self) -> str:
        """The text the model is given with the system prompt: instructions, then the numbered excerpts."""
        if not self.sources and not self.notes:
            return ""
        parts = [CITE_INSTRUCTIONS] if self.sources else []
        parts += [f"[{source.number}] {source.file_name}, {source.locator}:\n{source.text}" for source in self.sources]
        parts += self.notes
        return "\n\n".join(parts)


def conversation_files(conversation_id: int, before_message_id: int) -> list[StoredFile]:
    """The files attached to the conversation's messages before `before_message_id` (the reply), newest question's
    first, each once; files deleted since are left out."""
    from webapp.chat.models import Message

    rows = db.session.scalars(
        select(StoredFile)
        .join(MessageFile, MessageFile.file_id == StoredFile.id)
        .join(Message, Message.id == MessageFile.message_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.id < before_message_id,
            StoredFile.deleted_at.is_(None),
        )
        .order_by(Message.id.desc(), MessageFile.position)
    )
    return list(dict.fromkeys(rows))


def build_context(
    documents: Sequence[StoredFile], question: str, budget: int, images: Sequence[StoredFile] = ()
) -> FileContext:
    """The excerpts of `documents` that fit in `budget` characters: everything when it all fits; otherwise short
    files whole, then the passages of the longer ones that rank best for `question` (their openings when no word
    of the question is in them), in file order."""
    context = FileContext()
    # (file id, name, what reading it gave) of the files with text, in the order given. Plain values, read once:
    # over a large library, a thousand FileText objects and their attributes a question cost more than the ranking.
    texts: list[tuple[int, str, Any]] = []
    ids = [stored.id for stored in documents]
    columns = (FileText.file_id, FileText.status, FileText.unit, FileText.note, FileText.chars, FileText.passages)
    known = {row.file_id: row for row in db.session.execute(select(*columns).where(among(FileText.file_id, ids)))}
    for file_id, stored in zip(ids, documents, strict=True):
        text = known.get(file_id) or read_and_keep(stored)
        if text.status == READY:
            texts.append((file_id, stored.original_name, text))
        else:
            context.notes.append(f"(The file {stored.original_name} was attached but cannot be read: {text.note})")
    chosen: dict[int, list[FilePassage]] = {}
    total = sum(text.chars for _, _, text in texts)
    overhead = lambda passage: len(passage.text) + 40  # noqa: E731  the "[n] name, pages a–b:" line
    if total + 40 * sum(text.passages for _, _, text in texts) <= budget:
        for file_id, _, _ in texts:
            chosen[file_id] = _passages_of(file_id)
    else:
        used = 0
        for file_id, _, text in texts:
            if text.chars <= budget // SHORT_FILE_SHARE:  # a short file, whole if it fits
                passages = _passages_of(file_id)
                cost = sum(overhead(passage) for passage in passages)
                if used + cost <= budget:
                    chosen[file_id] = passages
                    used += cost
        long_ids = [file_id for file_id, _, _ in texts if file_id not in chosen]
        in_long = sum(text.passages for file_id, _, text in texts if file_id not in chosen)
        ranked = rank(long_ids, question, limit=max(1, budget // 500), passages=in_long)
        picked = _by_id(ranked) if ranked else _openings(long_ids, budget)
        for passage in picked:
            cost = overhead(passage)
            if used + cost > budget:
                continue
            chosen.setdefault(passage.file_id, []).append(passage)
            used += cost
    number = 0
    for file_id, name, text in texts:
        for passage in sorted(chosen.get(file_id, []), key=lambda item: item.position):
            number += 1
            context.sources.append(
                Source(number, file_id, name, locator(text.unit, passage.first, passage.last), passage.text)
            )
    context.images = [image_bytes for image_bytes in (_downscaled(stored) for stored in images) if image_bytes]
    return context


def _passages_of(file_id: int) -> list[FilePassage]:
    return list(
        db.session.scalars(select(FilePassage).where(FilePassage.file_id == file_id).order_by(FilePassage.position))
    )


def _by_id(ids: list[int]) -> list[FilePassage]:
    found = {passage.id: passage for passage in db.session.scalars(select(FilePassage).where(FilePassage.id.in_(ids)))}
    return [found[passage_id] for passage_id in ids if passage_id in found]


def _openings(file_ids: list[int], budget: int) -> list[FilePassage]:
    """The first passages of each file, in turn: what a question with no word in common with them gets."""
    if not file_ids:
        return []
    per_file = max(1, budget // 1500 // len(file_ids) + 1)
    rows = db.session.scalars(
        select(FilePassage)
        .where(among(FilePassage.file_id, file_ids), FilePassage.position < per_file)
        .order_by(FilePassage.position, FilePassage.file_id)
    )
    return list(rows)


def _downscaled(stored: StoredFile) -> bytes | None:
    """The image as a JPEG no longer than CHAT_IMAGE_MAX_SIDE on either side, upright (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    side = current_app.config["CHAT_IMAGE_MAX_SIDE"]
    try:
        with files.decode_slot(), files.open_original(stored) as original, Image.open(original) as image:
            image = ImageOps.exif_transpose(image)
            image.thumbnail((side, side))
            if image.mode != "RGB":
                image = image.convert("RGB")
            output = io.BytesIO()
            image.save(output, "JPEG", quality=85)
            return output.getvalue()
    except Exception:
        log.exception("could not prepare image %s for the model", stored.id)
        return None


def save_sources(reply_id: int, context: FileContext) -> None:
    """Keep the numbered excerpts a reply was given with it (in the caller's transaction)."""
    db.session.execute(delete(MessageSource).where(MessageSource.message_id == reply_id))
    for source in context.sources:
        db.session.add(
            MessageSource(
                message_id=reply_id,
                number=source.number,
                file_id=source.file_id,
                file_name=source.file_name,
                locator=source.locator,
                excerpt=excerpt(source.text),
            )
        )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    cut = words[: limit - 1]
    return cut[: cut.rfind(" ")] + "…" if " " in cut[limit // 2 :] else cut + "…"


def sources_of(message_ids: Sequence[int]) -> dict[int, list[MessageSource]]:
    if not message_ids:
        return {}
    found: dict[int, list[MessageSource]] = {}
    for source in db.session.scalars(
        select(MessageSource)
        .where(MessageSource.message_id.in_(list(message_ids)))
        .order_by(MessageSource.message_id, MessageSource.number)
    ):
        found.setdefault(source.message_id, []).append(source)
    return found


def forget_conversations(conversation_ids: Sequence[int]) -> None:
    """What goes with deleted conversations' messages (SQLite does not enforce the cascade); in the caller's
    transaction, before the messages go."""
    from webapp.chat.models import Message

    messages = select(Message.id).where(Message.conversation_id.in_(list(conversation_ids)))
    db.session.execute(delete(MessageFile).where(MessageFile.message_id.in_(messages)))
    db.session.execute(delete(MessageSource).where(MessageSource.message_id.in_(messages)))


def reply_context(
    conversation: Any, reply_id: int, question: str, system_prompt: str | None, provider: str, model: str
) -> FileContext:
    """The files' part of what the model is given for a reply, saved as the reply's sources (not committed): the
    files attached to the conversation's messages, then those of its project."""
    attached = conversation_files(conversation.id, reply_id)
    if conversation.project_id is not None:
        attached = list(dict.fromkeys(attached + project_files(conversation.project_id, conversation.user_id)))
    if not attached:
        return FileContext()
    budget = current_app.config["CHAT_CONTEXT_CHARS"]
    room = min(int(budget * FILES_SHARE), budget - len(system_prompt or "") - len(question))
    documents = [stored for stored in attached if has_text(stored)]
    images = [stored for stored in attached if stored.is_image][:MAX_IMAGES]
    seeing = sees_images(provider, model)
    context = build_context(documents, question, max(room, 0), images if seeing else ())
    if images and not seeing:
        context.notes.append(f"(Images attached earlier in this conversation are not shown to {model}.)")
    save_sources(reply_id, context)
    return context


# -- files of a project ------------------------------------------------------------------------------------------


def project_files(project_id: int, owner_id: int) -> list[StoredFile]:
    """The files attached to a project, oldest first; only the owner's own, kept files (SQLite does not enforce the
    foreign keys, and may give a deleted project's id to a new one)."""
    return list(
        db.session.scalars(
            select(StoredFile)
            .join(ProjectFile, ProjectFile.file_id == StoredFile.id)
            .where(
                ProjectFile.project_id == project_id,
                StoredFile.user_id == owner_id,
                StoredFile.deleted_at.is_(None),
            )
            .order_by(ProjectFile.added_at, StoredFile.id)
        )
    )


def add_project_files(user: User, project_id: int, file_ids: Sequence[int]) -> int:
    """Attach files of the user's library to the user's project (404 for anyone else's); returns how many were new.
    Their text is read now if it never was, so the first question does not wait for it."""
    from webapp.projects.service import get_project

    project = get_project(user, project_id)
    chosen = [files.get_owned(user, file_id) for file_id in dict.fromkeys(file_ids)]
    present = set(db.session.scalars(select(ProjectFile.file_id).where(ProjectFile.project_id == project.id)))
    added = [stored for stored in chosen if stored.id not in present]
    for stored in added:
        db.session.add(ProjectFile(project_id=project.id, file_id=stored.id, added_at=utcnow()))
    db.session.commit()
    for stored in added:
        if has_text(stored):
            text_of(stored)
    return len(added)


def remove_project_file(user: User, project_id: int, file_id: int) -> None:
    """Take a file out of the user's project (the file stays in the library)."""
    from webapp.projects.service import get_project

    project = get_project(user, project_id)
    db.session.execute(delete(ProjectFile).where(ProjectFile.project_id == project.id, ProjectFile.file_id == file_id))
    db.session.commit()
