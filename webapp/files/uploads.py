"""Uploads streamed from the request body straight to a temp file, hashed on the way, never held in memory.

werkzeug's form parser asks the request for a place to write each file part (`_get_file_stream`). Ours hands
it an `IncomingFile`: a temp file in the store's own temp folder (so the local store can rename it into place
without copying) that counts and hashes every byte as it is written, and stops writing past the per-file
limit. The parser reads the body in 64 KiB chunks, so memory stays flat whatever the file's size.

Nothing is written to disk before the request has earned it. Upload routes (`accepts_uploads`) accept a larger
request than the rest of the app (several files at once), but only from someone signed in; and before the
first byte of a file part is parsed, the request must be signed in (a session, or a bearer token on the API)
and, for a session, carry a valid CSRF token in the X-CSRFToken header (htmx, upload.js) or in a form field
ahead of the files (a plain form post: the hidden field comes first). Everything else, and anyone not signed
in, keeps MAX_CONTENT_LENGTH and gets its 413 from the Content-Length before the body is read; file parts sent
to a route that takes no files are read and dropped, never written.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from flask import Flask, Request, current_app, g
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge, Unauthorized
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from wtforms import ValidationError

from webapp.files.storage import SavedObject
from webapp.files.storage.base import private_directory
from webapp.units import MEGABYTE

log = logging.getLogger("webapp.files.uploads")

F = TypeVar("F", bound=Callable[..., Any])
READ_BUFFER_BYTES = MEGABYTE
SYNC_AHEAD_BYTES = 32 * MEGABYTE
# How far into a multipart body the CSRF field is looked for, ahead of the first file part.
FIELDS_AHEAD_BYTES = 64 * 1024


def accepts_uploads(view: F) -> F:
    """Mark a view as taking file uploads: its requests may be as large as MAX_UPLOAD_REQUEST_BYTES."""
    view.accepts_uploads = True  # type: ignore[attr-defined]
    return view


def accepts_upload_up_to(limit_key: str) -> Callable[[F], F]:
    """Mark a view as taking one file of up to `app.config[limit_key]` bytes (instead of MAX_UPLOAD_MB a file,
    MAX_FILES_PER_UPLOAD at once): the same streaming to disk and the same checks before the first byte."""

    def mark(view: F) -> F:
        view.upload_limit_key = limit_key  # type: ignore[attr-defined]
        return accepts_uploads(view)

    return mark


def signed_in() -> bool:
    """Whether the request comes from someone signed in: a bearer token (the API sets `g.api_user`) or a session."""
    return g.get("api_user") is not None or current_user.is_authenticated


class IncomingFile:
    """A temp file that werkzeug writes one uploaded file into, counting and hashing as it goes.

    Past `limit` bytes it stops writing (the rest of the part is read and dropped), so an oversized file uses
    at most `limit` bytes of disk and the service can refuse it by name while the other files land.
    The temp file is removed on `close()` unless the store adopted (moved) it first.
    """

    def __init__(self, directory: str | os.PathLike[str], limit: int | None, sync_ahead: bool = False) -> None:
        private_directory(directory)
        handle, name = tempfile.mkstemp(dir=directory, prefix="upload-")  # 0600
        self.path = Path(name)
        self._file: IO[bytes] = os.fdopen(handle, "w+b")
        self._digest = hashlib.sha256()
        self._limit = limit
        self.size = 0  # every byte received, including those dropped past the limit
        self.over_limit = False
        # The local store fsyncs the file before renaming it into place. Flushing to disk in the background
        # while the rest arrives means that final fsync has little left to do (a large upload finishes
        # about when its last byte arrives instead of a disk-flush later).
        self._sync_ahead = sync_ahead
        self._unsynced = 0
        self._sync_thread: threading.Thread | None = None

    # --- what werkzeug's parser calls while streaming ---

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self._limit is not None and self.size > self._limit:
            self.over_limit = True
            return len(data)
        self._digest.update(data)
        written = self._file.write(data)
        if self._sync_ahead:
            self._unsynced += len(data)
            if self._unsynced >= SYNC_AHEAD_BYTES and not (self._sync_thread and self._sync_thread.is_alive()):
                self._file.flush()
                self._unsynced = 0
                self._sync_thread = threading.Thread(target=self._sync_quietly, name="upload-sync", daemon=True)
                self._sync_thread.start()
        return written

    def _sync_quietly(self) -> None:
        try:
            os.fdatasync(self._file.fileno())
        except (OSError, ValueError):
            pass  # only a head start: the store's own fsync before the rename reports real failures

    def _wait_for_sync(self) -> None:
        if self._sync_thread is not None:
            self._sync_thread.join()
            self._sync_thread = None

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._file.readline(size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def flush(self) -> None:
        self._file.flush()

    def __iter__(self):
        return iter(self._file)

    # --- what the files service uses ---

    @property
    def closed(self) -> bool:
        return self._file.closed

    def saved(self) -> SavedObject:
        """Size and SHA-256 of what was written (only meaningful when not `over_limit`)."""
        return SavedObject(size=self.size, sha256=self._digest.hexdigest())

    def finish(self) -> None:
        """Flush to the OS, so the file can be read by path (inspection, thumbnails, upload to S3)."""
        self._wait_for_sync()
        self._file.flush()

    def close(self) -> None:
        """Close and remove the temp file; a file the local store adopted is already gone, which is fine."""
        try:
            self._wait_for_sync()
            self._file.close()
        finally:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as error:  # a stale temp file is swept later by `flask files cleanup`
                log.warning("could not remove temp upload %s: %s", self.path, error)

    def __enter__(self) -> IncomingFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def spool(
    source: IO[bytes], directory: str | os.PathLike[str], limit: int | None, chunk_size: int = MEGABYTE
) -> IncomingFile:
    """Copy a stream that did not come through our parser (tests, other services) into an IncomingFile."""
    incoming = IncomingFile(directory, limit)
    try:
        while chunk := source.read(chunk_size):
            incoming.write(chunk)
    except BaseException:
        incoming.close()
        raise
    return incoming


class _RawReader(io.RawIOBase):
    """Any stream with read(n), as a raw stream that io.BufferedReader can sit on; `ahead` (bytes already read
    from it) is handed out first."""

    def __init__(self, stream: IO[bytes], ahead: bytes = b"") -> None:
        super().__init__()
        self._stream = stream
        self._ahead = memoryview(ahead)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._ahead:
            size = min(len(buffer), len(self._ahead))
            buffer[:size] = self._ahead[:size]
            self._ahead = self._ahead[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _DroppedPart(io.BytesIO):
    """Where a file part sent to a route that takes no files goes: read from the body and dropped."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return len(data)


class UploadRequest(Request):
    """Flask's request, streaming file parts into IncomingFiles once the request is cleared to send them."""

    _fields_ahead = b""  # the start of the body, read to find the CSRF field; the parser reads it again
    _cleared_for_files = False

    @property
    def _view(self) -> Any:
        return current_app.view_functions.get(self.url_rule.endpoint) if self.url_rule else None

    @property
    def takes_uploads(self) -> bool:
        """Whether this request's view is marked `accepts_uploads`."""
        return getattr(self._view, "accepts_uploads", False)

    @property
    def file_limit_bytes(self) -> int:
        """The most one file may be here: MAX_UPLOAD_BYTES, or the view's own (`accepts_upload_up_to`)."""
        key = getattr(self._view, "upload_limit_key", None)
        return current_app.config[key or "MAX_UPLOAD_BYTES"]

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self._max_content_length is not None or not current_app:
            return super().max_content_length
        if self.takes_uploads and signed_in():
            if getattr(self._view, "upload_limit_key", None):
                return self.file_limit_bytes + MEGABYTE  # one file, with its form fields and multipart framing
            return current_app.config["MAX_UPLOAD_REQUEST_BYTES"]
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def _load_form_data(self) -> None:
        # Whoever reads the form first (CSRFProtect, a view, a form class), the checks come before the files.
        if "form" not in self.__dict__ and current_app and self.takes_uploads:
            self._clear_for_files()
        super()._load_form_data()

    def _clear_for_files(self) -> None:
        """Refuse, before any file part is read, an upload that is too large, signed out, or without its CSRF token."""
        limit = self.max_content_length
        if self.content_length is not None and limit is not None and self.content_length > limit:
            raise RequestEntityTooLarge()
        if g.get("api_user") is not None:
            self._cleared_for_files = True  # a bearer token: a script, which CSRF does not concern
            return
        if not current_user.is_authenticated:
            raise Unauthorized()
        if self.mimetype == "multipart/form-data" and current_app.config.get("WTF_CSRF_ENABLED", True):
            try:
                validate_csrf(self._csrf_token_ahead_of_files())
            except ValidationError as error:
                raise CSRFError(error.args[0]) from None
        # CSRFProtect still runs its own complete check (the Referer on HTTPS too) once the form is parsed.
        self._cleared_for_files = True

    def _csrf_token_ahead_of_files(self) -> str | None:
        """The CSRF token from a header, or from a form field that comes before the first file part."""
        for header in current_app.config["WTF_CSRF_HEADERS"]:
            if token := self.headers.get(header):
                return token
        boundary = self.mimetype_params.get("boundary", "").encode("latin-1")
        if not boundary:
            return None
        wanted = current_app.config["WTF_CSRF_FIELD_NAME"]
        decoder = MultipartDecoder(boundary)
        ahead: list[bytes] = []
        name: str | None = None
        value: list[bytes] = []
        try:
            while True:
                event = decoder.next_event()
                if isinstance(event, NeedData):
                    read = sum(len(chunk) for chunk in ahead)
                    chunk = self.stream.read(FIELDS_AHEAD_BYTES - read) if read < FIELDS_AHEAD_BYTES else b""
                    if not chunk:
                        return None  # the body (or the look-ahead) ended before the token
                    ahead.append(chunk)
                    decoder.receive_data(chunk)
                elif isinstance(event, File):
                    return None  # a file part before the token
                elif isinstance(event, Field):
                    name, value = event.name, []
                elif isinstance(event, Data) and name == wanted:
                    value.append(event.data)
                    if not event.more_data:
                        return b"".join(value).decode("utf-8", "replace")
                elif isinstance(event, Epilogue):
                    return None  # the end of the body
        except ValueError:
            return None  # not a well-formed multipart body
        finally:
            self._fields_ahead = b"".join(ahead)

    def _get_stream_for_parsing(self) -> IO[bytes]:
        # werkzeug's parser reads 64 KiB at a time, and servers answer small reads expensively (gunicorn
        # copies its whole read-ahead buffer on each one). One 1 MiB read from the server, handed out in
        # slices from memory, makes uploads several times faster for 1 MiB of memory.
        stream = super()._get_stream_for_parsing()
        if self._fields_ahead or not isinstance(stream, io.RawIOBase):
            stream = _RawReader(stream, self._fields_ahead)
        return io.BufferedReader(stream, buffer_size=READ_BUFFER_BYTES)  # type: ignore[arg-type]

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if not self._cleared_for_files:
            return _DroppedPart()  # a route that takes no files: nothing of them is kept, in memory or on disk
        # Files in the local store's temp folder are renamed into place after an fsync: sync ahead for those.
        storage = current_app.extensions["storage"]
        incoming = IncomingFile(
            current_app.extensions["upload_temp_dir"],
            self.file_limit_bytes,
            sync_ahead=getattr(storage, "temp_dir", None) is not None,
        )
        # Kept here too: if parsing fails half-way, werkzeug never lists the part in `files`, yet it must go.
        self.__dict__.setdefault("_incoming_files", []).append(incoming)
        return incoming  # type: ignore[return-value]

    def close(self) -> None:
        try:
            super().close()
        finally:
            for incoming in self.__dict__.get("_incoming_files", ()):
                incoming.close()


def upload_temp_dir(app: Flask, storage: Any) -> Path:
    """Where uploads are spooled: the local store's temp folder (same filesystem: a rename, not a copy),
    else UPLOAD_TEMP_DIR (default instance/upload-tmp; not /tmp, which may be memory-backed tmpfs)."""
    local_temp = getattr(storage, "temp_dir", None)
    if local_temp is not None:
        return Path(local_temp)
    return private_directory(app.config["UPLOAD_TEMP_DIR"])


def remove_stale_files(directory: str | os.PathLike[str], older_than_seconds: float) -> int:
    """Delete temp files left by uploads a crash interrupted; returns how many. For `flask files cleanup`."""
    cutoff = time.time() - older_than_seconds
    removed = 0
    for entry in Path(directory).iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # finished or swept by another process meanwhile
    return removed


def drain_refused_body(request: Request, most: int) -> None:
    """Read and drop the body of a request refused as too large from its Content-Length alone.

    Answering before the client has finished sending makes gunicorn close the connection under it, and a
    browser then shows "connection reset" instead of our 413 page. So a body up to `most` bytes is read
    (and dropped, 1 MiB at a time) first; a larger one is not worth the wait.
    """
    length = request.content_length
    limit = request.max_content_length
    if length is None or limit is None or length <= limit or length > most:
        return  # refused mid-stream (part of the body is already read) or too large to be worth reading
    stream = request.environ["wsgi.input"]
    remaining = length
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, MEGABYTE))
            if not chunk:
                break
            remaining -= len(chunk)
    except OSError:
        pass  # the client gave up: nobody is left to answer
