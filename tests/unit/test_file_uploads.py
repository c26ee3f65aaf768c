"""Upload plumbing: cleaning names, and the temp file that streams, counts and hashes each uploaded file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from webapp.errors import Refused
from webapp.files.service import clean_name, thumbnail_key_for
from webapp.files.storage import SavedObject
from webapp.files.uploads import IncomingFile, spool


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("photo.jpg", "photo.jpg"),
        ("  spaced name.pdf  ", "spaced name.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\sam\\Desktop\\report.pdf", "report.pdf"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("new\nline\r.txt", "newline.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override disguising the extension
        (".bashrc", ".bashrc"),
        ("e\u0301te\u0301.txt", "été.txt"),  # decomposed accents become the usual characters (NFC)
    ],
)
def test_names_lose_folders_and_invisible_characters(raw: str, cleaned: str) -> None:
    assert clean_name(raw) == cleaned


@pytest.mark.parametrize("raw", [None, "", "   ", "..", "../", "folder/", "\x00\x01"])
def test_names_that_clean_to_nothing_are_refused(raw: str | None) -> None:
    with pytest.raises(Refused) as refused:
        clean_name(raw)
    assert refused.value.message == "The file has no name. Choose a file to upload."


def test_long_upload_names_are_shortened_keeping_the_extension() -> None:
    name = clean_name("b" * 296 + ".jpeg")
    assert len(name) == 255 and name.endswith("….jpeg")
    without_extension = clean_name("c" * 300)
    assert len(without_extension) == 255 and without_extension.endswith("…")


def test_long_names_are_refused_when_renaming() -> None:
    with pytest.raises(Refused) as refused:
        clean_name("d" * 256, shorten=False)
    assert refused.value.message == "A file name can be at most 255 characters."
    assert clean_name("d" * 255, shorten=False) == "d" * 255


def test_thumbnail_key_sits_beside_the_original() -> None:
    assert thumbnail_key_for("ab/cd/abcd1234.jpg") == "ab/cd/abcd1234-thumb.webp"
    assert thumbnail_key_for("ab/cd/abcd1234") == "ab/cd/abcd1234-thumb.webp"


def test_incoming_file_hashes_as_it_writes_and_removes_itself(tmp_path: Path) -> None:
    incoming = IncomingFile(tmp_path, limit=100)
    incoming.write(b"hello ")
    incoming.write(b"world")
    incoming.seek(0)
    assert incoming.read() == b"hello world"
    assert incoming.saved() == SavedObject(11, hashlib.sha256(b"hello world").hexdigest())
    assert not incoming.over_limit
    incoming.close()
    assert list(tmp_path.iterdir()) == []


def test_incoming_file_stops_writing_past_its_limit(tmp_path: Path) -> None:
    with IncomingFile(tmp_path, limit=10) as incoming:
        for _ in range(100):
            incoming.write(b"0123456789")
        assert incoming.over_limit and incoming.size == 1000
        incoming.finish()
        assert incoming.path.stat().st_size == 10  # the rest was read and dropped, never stored
    assert list(tmp_path.iterdir()) == []


def test_spool_copies_any_stream(tmp_path: Path) -> None:
    data = b"x" * (3 * 1024 * 1024 + 5)
    with spool(io.BytesIO(data), tmp_path, limit=None) as incoming:
        assert incoming.saved() == SavedObject(len(data), hashlib.sha256(data).hexdigest())


def test_syncing_ahead_keeps_every_byte_in_order(tmp_path: Path) -> None:
    block = bytes(range(256)) * 256  # 64 KiB, as werkzeug's parser writes
    digest = hashlib.sha256()
    with IncomingFile(tmp_path, limit=None, sync_ahead=True) as incoming:
        for index in range(600):  # 37.5 MiB: at least one background flush on the way
            chunk = index.to_bytes(4, "big") + block[4:]
            digest.update(chunk)
            incoming.write(chunk)
        incoming.finish()
        assert incoming.saved() == SavedObject(600 * len(block), digest.hexdigest())
        assert hashlib.sha256(incoming.path.read_bytes()).hexdigest() == digest.hexdigest()


def test_stale_temp_uploads_are_swept_and_fresh_ones_kept(tmp_path: Path) -> None:
    import os
    import time

    from webapp.files.uploads import remove_stale_files

    stale, fresh = tmp_path / "upload-old", tmp_path / "upload-new"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"arriving now")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))

    assert remove_stale_files(tmp_path, older_than_seconds=24 * 3600) == 1
    assert not stale.exists() and fresh.exists()
