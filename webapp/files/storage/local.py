"""Local-disk storage: one file per key under a root folder, written atomically."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from .base import (
    CHUNK_SIZE,
    READ_UNAVAILABLE_MESSAGE,
    InvalidKey,
    ObjectNotFound,
    SavedObject,
    Storage,
    StorageUnavailable,
    copy_stream,
    private_directory,
    validate_key,
)

log = logging.getLogger("webapp.files.storage")

# Errors that mean "the disk cannot take this now", the local equivalent of an unreachable S3: a person can
# only wait while someone frees space or fixes permissions. Anything else is a bug and propagates.
_UNAVAILABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}

TEMP_FOLDER = ".tmp"


class LocalStorage(Storage):
    """Files under `root`; temp files live in `root/.tmp` so a rename into place never crosses filesystems."""

    name = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).resolve()
        self._temp_dir = self._root / TEMP_FOLDER
        private_directory(self._temp_dir)

    @property
    def root(self) -> Path:
        return self._root

    @property
    def temp_dir(self) -> Path:
        """Where to write a file that `adopt` will move into place (same filesystem as every key)."""
        return self._temp_dir

    def path_for(self, key: str) -> Path:
        """The absolute path of `key`; raises InvalidKey if it is unsafe or would resolve outside the root."""
        validate_key(key)
        path = self._root.joinpath(*key.split("/"))
        # validate_key already rules out '..'; this also catches a symlinked folder pointing elsewhere.
        if not path.parent.resolve().is_relative_to(self._root):
            raise InvalidKey(f"the storage key {key!r} resolves outside the upload folder")
        return path

    def save(self, key: str, stream: BinaryIO, content_type: str) -> SavedObject:
        target = self.path_for(key)
        handle, temp_name = self._new_temp_file()
        try:
            with os.fdopen(handle, "wb") as output:
                saved = copy_stream(stream, lambda chunk: self._write(output, chunk))
                self._sync(output)
            self._move_into_place(Path(temp_name), target)
        except BaseException:
            # Whatever went wrong (a full disk, a client that hung up), leave no half-written file behind.
            Path(temp_name).unlink(missing_ok=True)
            raise
        return saved

    def adopt(self, key: str, temp_path: str | os.PathLike[str], known: SavedObject | None = None) -> SavedObject:
        """Move a complete file already written inside `temp_dir` to `key`, without copying its bytes.

        For uploads streamed straight to disk: the file is flushed to disk, then renamed into place. Unless
        the caller passes the size and hash it computed while writing (`known`), the file is read once to
        count and hash it. On success the temp file no longer exists; on failure it is left for the caller
        to delete.
        """
        target = self.path_for(key)
        source = Path(temp_path).resolve()
        if source.parent != self._temp_dir:
            raise ValueError(f"adopt only takes files directly inside {self._temp_dir}, not {source}")
        with open(source, "rb") as handle:
            saved = known if known is not None else copy_stream(handle, lambda chunk: None)
            self._sync(handle)  # fsync works on a descriptor opened for reading too
        self._move_into_place(source, target)
        return saved

    def store_file(
        self, key: str, path: str | os.PathLike[str], content_type: str, known: SavedObject | None = None
    ) -> SavedObject:
        # A file in our temp folder is renamed into place; anything else is copied.
        if Path(path).resolve().parent == self._temp_dir:
            return self.adopt(key, path, known)
        return super().store_file(key, path, content_type, known)

    def open(self, key: str) -> BinaryIO:
        path = self.path_for(key)
        try:
            return open(path, "rb", buffering=CHUNK_SIZE)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as error:
            raise self._unavailable(error, READ_UNAVAILABLE_MESSAGE) from error

    def download_url(self, key: str, filename: str, content_type: str, inline: bool) -> str | None:
        # The app streams local files itself, after its own permission check.
        validate_key(key)
        return None

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        # Empty fan-out folders are left in place on purpose: removing them could race with a `save`
        # that has just created the folder and is about to rename its file into it.
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            if error.errno in _UNAVAILABLE_ERRNOS:
                raise self._unavailable(error, READ_UNAVAILABLE_MESSAGE) from error
            raise

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    # --- internals ---

    def _new_temp_file(self) -> tuple[int, str]:
        try:
            return tempfile.mkstemp(dir=self._temp_dir, prefix="save-")
        except OSError as error:
            if error.errno in _UNAVAILABLE_ERRNOS:
                raise self._unavailable(error) from error
            raise

    def _write(self, output: BinaryIO, chunk: bytes) -> None:
        try:
            output.write(chunk)
        except OSError as error:
            if error.errno in _UNAVAILABLE_ERRNOS:
                raise self._unavailable(error) from error
            raise

    def _sync(self, output: BinaryIO) -> None:
        # fsync before the rename: after a crash the key holds either nothing or the complete file.
        try:
            output.flush()
            os.fsync(output.fileno())
        except OSError as error:
            if error.errno in _UNAVAILABLE_ERRNOS:
                raise self._unavailable(error) from error
            raise

    def _move_into_place(self, source: Path, target: Path) -> None:
        try:
            private_directory(target.parent)
            os.replace(source, target)
        except OSError as error:
            if error.errno in _UNAVAILABLE_ERRNOS:
                raise self._unavailable(error) from error
            raise

    @staticmethod
    def _unavailable(error: OSError, message: str | None = None) -> StorageUnavailable:
        log.warning("local file store unavailable: %s", error)
        return StorageUnavailable(message) if message else StorageUnavailable()
