"""Files: the rules for keeping, finding, serving and deleting what people upload.

The only module that touches StoredFile rows and the file store together; the pages, the JSON API and other
features (Faces) call these functions. Promises:

- An upload is stored under a generated key and its row committed, or neither remains: a store failure
  leaves no row (503), a database failure removes the objects already written (503).
- Same-content uploads are *not* de-duplicated: each row owns its own object and thumbnail, so deleting
  one person's file can never break another's (the sha256 is recorded, not used as a key).
- A delete first hides the row (`deleted_at`), then removes the thumbnail and the object, then the row.
  If the store is down the hidden row still records what must go, and `purge_deleted` finishes later:
  never a row pointing nowhere, never an object nobody owns.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from typing import Any, BinaryIO

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import FileStorage

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import is_database_id, page_number, without_nul
from webapp.errors import NotFound, Refused, ServiceError, Unavailable
from webapp.extensions import db
from webapp.files.images import THUMBNAIL_CONTENT_TYPE, make_thumbnail
from webapp.files.inspection import FILE_TYPES, FileInfo, inspect_file, supported_types
from webapp.files.models import StoredFile
from webapp.files.storage import ObjectNotFound, Storage, StorageUnavailable, new_key
from webapp.files.uploads import IncomingFile, spool
from webapp.security import owned_or_404, require_owner
from webapp.timeutil import utc_day, utcnow

log = logging.getLogger("webapp.files")

MAX_NAME_LENGTH = 255
TEXT_PREVIEW_BYTES = 64 * 1024
KINDS = ("image", "document")

NO_FILE_MESSAGE = "No file was sent. Choose a file to upload."
NO_NAME_MESSAGE = "The file has no name. Choose a file to upload."
EMPTY_MESSAGE = "This file is empty (0 bytes); there is nothing to keep."
TOO_LARGE_MESSAGE = "This file is larger than the {limit} MB limit."
TOO_MANY_MESSAGE = "Only {limit} files can be uploaded at once; upload this one again."
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable right now; nothing was saved. Try again in a minute."
DELETE_PENDING_MESSAGE = (
    "The file store is unavailable right now. The file is removed from your library, and its contents "
    "will be deleted as soon as the store is back."
)
NAME_REQUIRED_MESSAGE = "Give the file a name."
NAME_TOO_LONG_MESSAGE = f"A file name can be at most {MAX_NAME_LENGTH} characters."
NO_SUCH_FILE_MESSAGE = "There is no such file, or it is not yours."
LINK_EXPIRED_MESSAGE = "This download link has expired or is not valid. Ask for a new one."


@dataclass
class UploadOutcome:
    """One file of a multi-file upload: stored, or refused with a sentence and a status."""

    name: str
    file: StoredFile | None = None
    error: str | None = None
    status: int = 201
    retry_after: int | None = None  # seconds, when the server was too busy to take it (503)

    @property
    def stored(self) -> bool:
        return self.file is not None


@dataclass(frozen=True)
class Usage:
    count: int
    total_size: int


# --- names ---


def clean_name(filename: str | None, shorten: bool = True) -> str:
    """The name to show for an upload: no folder part, no control or invisible format characters.

    A name longer than 255 characters is shortened keeping its extension (`shorten=True`, uploads: the
    person cannot fix it mid-upload) or refused (`shorten=False`, renames: they can). A name that is empty
    once cleaned is refused.
    """
    raw = filename or ""
    # Old browsers and scripts send "C:\\Users\\…\\photo.jpg" or "../../x": only the last part is a name.
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    # Category C: NUL and other controls, and format characters such as the right-to-left override that
    # can disguise "gpj.exe" as "exe.jpg".
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C")
    name = unicodedata.normalize("NFC", name).strip()
    if not name.strip("."):
        raise Refused(NO_NAME_MESSAGE if shorten else NAME_REQUIRED_MESSAGE, field="name")
    if len(name) > MAX_NAME_LENGTH:
        if not shorten:
            raise Refused(NAME_TOO_LONG_MESSAGE, field="name")
        stem, dot, extension = name.rpartition(".")
        if not dot or not stem or len(extension) > 16:
            stem, extension = name, ""
        suffix = f".{extension}" if extension else ""
        name = stem[: MAX_NAME_LENGTH - len(suffix) - 1].rstrip() + "…" + suffix
    return name


def download_name(stored: StoredFile) -> str:
    """The stored name, with the type's usual extension added when the name has none that fits."""
    extension = FILE_TYPES[stored.content_type].extension if stored.content_type in FILE_TYPES else ""
    name = stored.original_name
    if extension and not name.lower().endswith(_extensions_for(stored.content_type)):
        name += extension
    return name


def _extensions_for(content_type: str) -> tuple[str, ...]:
    aliases = {
        "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
        "image/heic": (".heic", ".heif"),
        "image/heif": (".heif", ".heic"),
        "text/plain": (".txt", ".text", ".log", ".md"),
    }
    return aliases.get(content_type, (FILE_TYPES[content_type].extension,))


# --- uploading ---


def allowed_types() -> frozenset[str]:
    return frozenset(current_app.config["ALLOWED_UPLOAD_TYPES"]) & supported_types()


def allowed_labels() -> list[str]:
    labels: list[str] = []
    for content_type in sorted(allowed_types(), key=list(FILE_TYPES).index):
        if FILE_TYPES[content_type].label not in labels:
            labels.append(FILE_TYPES[content_type].label)
    return labels


def store_uploads(user: User, uploads: Sequence[FileStorage]) -> list[UploadOutcome]:
    """Store each file on its own: one refused or failed file never stops the others.

    Raises Refused only when nothing was sent at all; every other problem is reported per file.
    """
    if not uploads:
        raise Refused(NO_FILE_MESSAGE)
    limit = current_app.config["MAX_FILES_PER_UPLOAD"]
    outcomes: list[UploadOutcome] = []
    for index, upload in enumerate(uploads):
        shown = _shown_name(upload.filename)
        if index >= limit:
            upload.close()
            outcomes.append(UploadOutcome(shown, error=TOO_MANY_MESSAGE.format(limit=limit), status=400))
            continue
        try:
            stored = store_upload(user, upload)
        except ServiceError as error:
            retry_after = getattr(error, "retry_after", None)
            outcomes.append(UploadOutcome(shown, error=error.message, status=error.status, retry_after=retry_after))
        else:
            outcomes.append(UploadOutcome(stored.original_name, file=stored))
    return outcomes


def _shown_name(filename: str | None) -> str:
    try:
        return clean_name(filename)
    except Refused:
        return "(no name)"


def store_upload(user: User, upload: FileStorage | None, name: str | None = None, announce: bool = True) -> StoredFile:
    """Check, store and record one uploaded file; return its committed row.

    `upload` is a werkzeug FileStorage: from `request.files` (already streamed to disk by our request
    class), or one wrapping any binary stream (it is copied to a temp file first). `name` replaces the
    upload's own file name for display; `announce=False` does not tell the "stored" listeners. The content
    decides the type (never the name); images are decoded fully, limited in pixels, and get a thumbnail. Raises
    Refused (400/413/422) for what cannot be kept, Unavailable (503) when the store or the database is down; in
    every failure nothing of this file remains.
    """
    if upload is None:
        raise Refused(NO_FILE_MESSAGE)
    try:
        name = clean_name(name or upload.filename)
        incoming = _incoming(upload)
    except BaseException:
        upload.close()
        raise
    with incoming:
        if incoming.over_limit:
            raise Refused(TOO_LARGE_MESSAGE.format(limit=current_app.config["MAX_UPLOAD_MB"]), status=413)
        if incoming.size == 0:
            raise Refused(EMPTY_MESSAGE)
        incoming.finish()
        info = inspect_file(
            incoming.path, allowed_types(), current_app.config["MAX_IMAGE_PIXELS"], name, decode_slot=decode_slot
        )
        thumbnail = _thumbnail(incoming.path, info)
        stored = _persist(user, name, incoming, info, thumbnail)
    if announce:
        _tell("stored", stored)
    return stored


def _incoming(upload: FileStorage) -> IncomingFile:
    """The upload as an IncomingFile: the one our request parser streamed it into, or a spooled copy."""
    stream = upload.stream
    if isinstance(stream, IncomingFile):
        return stream
    return spool(stream, current_app.extensions["upload_temp_dir"], current_app.config["MAX_UPLOAD_BYTES"])


def decode_slot() -> AbstractContextManager[None]:
    """One of the process's slots for a full image decode (Faces takes them too), for a `with` block.

    A request that has to wait for its turn first ends its database transaction, which gives its connection
    back to the pool: 32 requests waiting with one each would empty it, and everyone else would get 503.
    Nothing is pending at the places that decode, and the rows they hold reload when next read.
    """
    return current_app.extensions["image_decodes"].slot(before_waiting=db.session.commit)


def _thumbnail(path: Any, info: FileInfo) -> bytes | None:
    if info.kind != "image":
        return None
    try:
        with decode_slot(), open(path, "rb") as source:
            return make_thumbnail(source, current_app.config["THUMBNAIL_SIZE"])
    except (MemoryError, ServiceError):
        raise
    except Exception:
        log.exception("thumbnail failed for an accepted %s", info.content_type)
        return None


def thumbnail_key_for(key: str) -> str:
    stem = key.rsplit(".", 1)[0] if "." in key.rsplit("/", 1)[-1] else key
    return f"{stem}-thumb.webp"


def _persist(user: User, name: str, incoming: IncomingFile, info: FileInfo, thumbnail: bytes | None) -> StoredFile:
    store = storage()
    key = new_key(info.extension)
    thumbnail_key = thumbnail_key_for(key) if thumbnail is not None else None
    saved = store.store_file(key, incoming.path, info.content_type, known=incoming.saved())
    written = [key]
    try:
        if thumbnail_key is not None:
            store.save(thumbnail_key, io.BytesIO(thumbnail), THUMBNAIL_CONTENT_TYPE)  # type: ignore[arg-type]
            written.append(thumbnail_key)
        stored = StoredFile(
            user_id=user.id,
            original_name=name,
            storage_backend=store.name,
            storage_key=key,
            content_type=info.content_type,
            kind=info.kind,
            size=saved.size,
            sha256=saved.sha256,
            width=info.width,
            height=info.height,
            thumbnail_key=thumbnail_key,
        )
        db.session.add(stored)
        db.session.flush()
        audit.record("file.upload", user, stored, detail=f"{name} ({info.content_type}, {saved.size} bytes)")
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        log.error("file row not saved, removing its objects: %s", error.__class__.__name__)
        _remove_objects(written)
        raise Unavailable(DATABASE_UNAVAILABLE_MESSAGE) from error
    except BaseException:
        db.session.rollback()
        _remove_objects(written)
        raise
    log.info("stored file %s for user %s (%s, %d bytes)", stored.id, user.id, info.content_type, saved.size)
    return stored


# --- other features following the library (People indexes each new photo's faces, and drops a deleted one's) ---

EVENTS = ("stored", "deleting")


def listen(app: Any, event: str, listener: Callable[[StoredFile], None]) -> None:
    """Call `listener(stored)` on `event`: "stored" after an upload's row is committed (a listener must not slow
    the upload: it queues its work; what it raises is logged, never the upload's failure); "deleting" when a
    delete hides the row, inside that transaction (what it changes commits with the delete)."""
    if event not in EVENTS:
        raise ValueError(f"{event!r} is not one of the files events {EVENTS}")
    app.extensions.setdefault("files.listeners", {}).setdefault(event, []).append(listener)


@dataclass(frozen=True)
class LibraryFilter:
    """What a feature's filter of the library page found in the request: the file ids to keep (a statement, or
    None when it does not narrow), the query arguments that keep it on other links, and its form part."""

    within: Any
    arguments: dict[str, Any]
    template: str
    context: dict[str, Any]


def add_library_filter(app: Any, build: Callable[[User, Any], LibraryFilter]) -> None:
    """A filter of the library page: `build(user, request.args)` is called on each visit."""
    app.extensions.setdefault("files.library_filters", []).append(build)


def library_filters(user: User, arguments: Any) -> list[LibraryFilter]:
    return [build(user, arguments) for build in current_app.extensions.get("files.library_filters", ())]


def _tell(event: str, stored: StoredFile) -> None:
    for listener in current_app.extensions.get("files.listeners", {}).get(event, ()):
        if event == "deleting":
            listener(stored)
            continue
        try:
            listener(stored)
        except Exception:
            log.exception("a listener of new files failed for file %s; the upload itself is kept", stored.id)


def _remove_objects(keys: Iterable[str]) -> None:
    """Best effort after a failure; what cannot be removed now is logged with its key for an operator."""
    store = storage()
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            log.exception("could not remove object %s after a failed upload; it is orphaned", key)


# --- finding ---


def storage() -> Storage:
    return current_app.extensions["storage"]


def _visible():
    return select(StoredFile).where(StoredFile.deleted_at.is_(None))


def get_owned(user: User, file_id: int) -> StoredFile:
    """The user's file, or NotFound (404) for anyone else's, so ids are never confirmed to strangers."""
    stored = owned_or_404(StoredFile, file_id, user, NO_SUCH_FILE_MESSAGE)
    if stored.deleted_at is not None:
        raise NotFound(NO_SUCH_FILE_MESSAGE)
    return stored


def get_any(file_id: int) -> StoredFile:
    """Any user's file, for admin views only."""
    stored = db.session.get(StoredFile, file_id) if is_database_id(file_id) else None
    if stored is None or stored.deleted_at is not None:
        raise NotFound(NO_SUCH_FILE_MESSAGE)
    return stored


def _filtered(query, search: str = "", kind: str | None = None):
    search = without_nul(search or "").strip()
    if search:
        query = query.where(func.lower(StoredFile.original_name).contains(search.lower(), autoescape=True))
    if kind in KINDS:
        query = query.where(StoredFile.kind == kind)
    return query.order_by(StoredFile.created_at.desc(), StoredFile.id.desc())


def list_files(
    user: User,
    search: str = "",
    kind: str | None = None,
    page: int = 1,
    per_page: int | None = None,
    within: Sequence[Any] = (),
):
    """The user's files, newest first, as a Flask-SQLAlchemy pagination; `within`: statements selecting file ids
    the files must be among (each of them), from the library's filters other features add (People)."""
    query = _visible().where(StoredFile.user_id == user.id)
    for ids in within:
        query = query.where(StoredFile.id.in_(ids))
    query = _filtered(query, search, kind)
    per_page = per_page or current_app.config["FILES_PAGE_SIZE"]
    return db.paginate(query, page=page_number(page), per_page=min(max(per_page, 1), 100), error_out=False)


def list_all_files(owner_id: int | None = None, search: str = "", kind: str | None = None, page: int = 1):
    """Everyone's files (or one owner's), for the admin review."""
    query = _visible().options(joinedload(StoredFile.user))  # the owner's name on every row
    if owner_id:
        query = query.where(StoredFile.user_id == owner_id)
    query = _filtered(query, search, kind)
    return db.paginate(query, page=page_number(page), per_page=current_app.config["PAGE_SIZE"], error_out=False)


def list_images(user: User, limit: int = 60) -> list[StoredFile]:
    """The user's latest images, for photo pickers (Faces) and the dashboard card."""
    return list(db.session.scalars(_latest_images(), {"user_id": user.id, "limit": limit}))


@cache
def _latest_images() -> Select:
    # Built once (the dashboard card and every picker ask): building a statement costs more than running it.
    query = _filtered(_visible().where(StoredFile.user_id == bindparam("user_id")), kind="image")
    return query.limit(bindparam("limit"))


def usage(user: User) -> Usage:
    count, total = db.session.execute(_usage(), {"user_id": user.id}).one()
    return Usage(count=int(count), total_size=int(total))


@cache
def _usage() -> Select:
    # Built once: the dashboard card asks on every visit.
    return select(func.count(StoredFile.id), func.coalesce(func.sum(StoredFile.size), 0)).where(
        StoredFile.user_id == bindparam("user_id"), StoredFile.deleted_at.is_(None)
    )


@cache
def uploads_per_day(one_user: bool) -> Select:
    """Files uploaded (and still kept) per UTC day from `:since`, of `:user_id` when `one_user`; built once."""
    day = utc_day(StoredFile.created_at)
    query = select(day, func.count()).where(
        StoredFile.created_at >= bindparam("since"), StoredFile.deleted_at.is_(None)
    )
    if one_user:
        query = query.where(StoredFile.user_id == bindparam("user_id"))
    return query.group_by(day)


# --- reading ---


def open_original(stored: StoredFile) -> BinaryIO:
    """A readable stream of the file's bytes (the caller closes it). Raises NotFound or Unavailable."""
    return storage().open(stored.storage_key)


def open_thumbnail(stored: StoredFile) -> BinaryIO | None:
    """The WebP thumbnail's bytes as a stream, or None when the file has none (documents)."""
    if not stored.thumbnail_key:
        return None
    try:
        return storage().open(stored.thumbnail_key)
    except ObjectNotFound:
        log.warning("thumbnail of file %s is missing from the store", stored.id)
        return None


def shows_inline(stored: StoredFile) -> bool:
    """Images and PDFs open in the browser; everything else downloads (text is never rendered as a page)."""
    return stored.kind == "image" or stored.content_type == "application/pdf"


def presigned_url(stored: StoredFile, inline: bool) -> str | None:
    """A direct, short-lived URL from the store (S3), or None: stream it through the app."""
    return storage().download_url(stored.storage_key, download_name(stored), stored.content_type, inline)


def text_preview(stored: StoredFile, limit: int = TEXT_PREVIEW_BYTES) -> tuple[str, bool]:
    """The start of a text file (at most `limit` bytes) and whether there is more."""
    with open_original(stored) as stream:
        data = stream.read(limit + 1)
    truncated = len(data) > limit
    return data[:limit].decode("utf-8", errors="replace"), truncated


# --- links that work without a session (API clients; local store) ---


def _link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="files.download-link")


def link_seconds() -> int:
    return current_app.config["S3_PRESIGN_SECONDS"]


def sign_link(stored: StoredFile) -> str:
    """A token naming this file for `link_seconds`: its id and a digest of its storage key.

    The payload of a signed token is readable by whoever holds the link, so it carries no storage key (where
    the bytes live is the server's business); the digest still binds the link to this very object, so an id
    SQLite hands out again after a delete never matches an old link.
    """
    return _link_serializer().dumps([stored.id, _key_digest(stored.storage_key)])


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def file_for_link(token: str) -> StoredFile:
    """The file a signed link names, while the link is fresh, the file kept and its owner's account active."""
    try:
        file_id, digest = _link_serializer().loads(token, max_age=link_seconds())
    except (BadSignature, ValueError, TypeError):
        raise NotFound(LINK_EXPIRED_MESSAGE) from None
    stored = db.session.get(StoredFile, file_id) if is_database_id(file_id) else None
    if (
        stored is None
        or stored.deleted_at is not None
        or not hmac.compare_digest(_key_digest(stored.storage_key), str(digest))
        # A deactivated account's files are no longer handed out, as its tokens and sessions no longer work.
        or not stored.user.is_active
    ):
        raise NotFound(LINK_EXPIRED_MESSAGE)
    return stored


# --- changing ---


def rename(user: User, stored: StoredFile, new_name: str) -> StoredFile:
    require_owner(stored, user, NO_SUCH_FILE_MESSAGE)
    name = clean_name(new_name, shorten=False)
    if name != stored.original_name:
        old = stored.original_name
        stored.original_name = name
        audit.record("file.rename", user, stored, detail=f"{old} → {name}")
        db.session.commit()
    return stored


def delete_file(user: User, stored: StoredFile) -> None:
    """Delete the file's object, thumbnail and row. Raises Unavailable (503) if the store is down: the
    file is then hidden and removed later by `purge_deleted`."""
    require_owner(stored, user, NO_SUCH_FILE_MESSAGE)
    # 1. Hide it and keep the record of what to remove, before touching the store.
    stored.deleted_at = utcnow()
    audit.record("file.delete", user, stored, detail=stored.original_name)
    _tell("deleting", stored)
    db.session.commit()
    # 2. Remove the objects, then the row.
    try:
        _purge(stored)
    except StorageUnavailable as error:
        log.warning("file %s hidden; its objects will be removed by `flask files cleanup`", stored.id)
        raise Unavailable(DELETE_PENDING_MESSAGE) from error


def _purge(stored: StoredFile) -> None:
    store = storage()
    # Thumbnail first: if the store fails between the two, the original (what matters) is still there.
    if stored.thumbnail_key:
        store.delete(stored.thumbnail_key)
    store.delete(stored.storage_key)
    db.session.delete(stored)
    db.session.commit()


def purge_deleted(limit: int = 500) -> tuple[int, int]:
    """Finish deletes the store could not complete; returns (removed, still pending)."""
    pending = list(
        db.session.scalars(
            select(StoredFile).where(StoredFile.deleted_at.is_not(None)).order_by(StoredFile.id).limit(limit)
        )
    )
    removed = 0
    for stored in pending:
        try:
            _purge(stored)
        except StorageUnavailable:
            db.session.rollback()
            break  # the store is still down: the rest would fail the same way
        removed += 1
    return removed, len(pending) - removed


__all__ = [
    "StoredFile",
    "UploadOutcome",
    "Usage",
    "clean_name",
    "delete_file",
    "download_name",
    "get_any",
    "get_owned",
    "list_all_files",
    "list_files",
    "add_library_filter",
    "library_filters",
    "list_images",
    "listen",
    "open_original",
    "open_thumbnail",
    "purge_deleted",
    "rename",
    "store_upload",
    "store_uploads",
    "uploads_per_day",
    "usage",
]
