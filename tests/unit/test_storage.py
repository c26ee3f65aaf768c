"""File storage: the local-disk and S3 backends pass the same tests.

S3 is moto's real HTTP server on a free loopback port, reached by boto3 over HTTP with dummy credentials,
so signing, multipart uploads and presigned URLs are exercised as they would be against AWS or MinIO.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote

import pytest

from config import ConfigError, app_settings
from tests.support.processes import closed_port
from tests.support.settings import s3_settings
from webapp.files.storage import (
    InvalidKey,
    ObjectNotFound,
    SavedObject,
    Storage,
    StorageSettings,
    StorageUnavailable,
    build_storage,
    content_disposition,
    new_key,
)
from webapp.files.storage.base import READ_UNAVAILABLE_MESSAGE, SAVE_UNAVAILABLE_MESSAGE
from webapp.files.storage.local import LocalStorage
from webapp.files.uploads import remove_stale_files
from webapp.units import MEGABYTE


def storage_for(settings: dict[str, object]) -> Storage:
    """The backend the app builds from these settings: config.py reads them, its defaults fill in the rest."""
    return build_storage(StorageSettings.from_config(app_settings("testing", settings)))


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return storage_for({"STORAGE_BACKEND": "local", "UPLOAD_DIR": str(tmp_path / "uploads")})
    built = storage_for(s3_settings(request.getfixturevalue("moto_endpoint")))
    built.ensure_bucket()
    return built


@pytest.fixture
def s3_storage(moto_endpoint: str) -> Storage:
    built = storage_for(s3_settings(moto_endpoint))
    built.ensure_bucket()
    return built


class PatternStream:
    """`size` deterministic bytes handed out at most 1 MiB per read, recording every size asked for.

    Short reads on purpose, like a network stream; the record shows whether anyone asked for everything.
    """

    def __init__(self, size: int, fail_after: int | None = None) -> None:
        self.size = size
        self.position = 0
        self.fail_after = fail_after
        self.requested: list[int] = []
        self._block = hashlib.sha256(b"pattern").digest() * (MEGABYTE // 32)

    def read(self, size: int = -1) -> bytes:
        self.requested.append(size)
        if self.fail_after is not None and self.position >= self.fail_after:
            raise OSError("the client went away")
        remaining = self.size - self.position
        amount = remaining if size is None or size < 0 else min(size, remaining)
        amount = min(amount, MEGABYTE)
        start = self.position % MEGABYTE
        data = (self._block[start:] + self._block)[:amount]
        self.position += len(data)
        return data

    @staticmethod
    def expected(size: int) -> SavedObject:
        digest = hashlib.sha256()
        source = PatternStream(size)
        while chunk := source.read(MEGABYTE):
            digest.update(chunk)
        return SavedObject(size=size, sha256=digest.hexdigest())


def filename_from_disposition(value: str) -> str | None:
    """The name a browser would use, per RFC 6266: `filename*` (RFC 5987) wins over `filename`.

    Python's email package is not used because it returns the plain `filename` when both are present.
    """
    extended = re.search(r"filename\*=UTF-8''([^;\s]+)", value, re.IGNORECASE)
    if extended:
        return unquote(extended.group(1), encoding="utf-8", errors="strict")
    plain = re.search(r'filename="([^"]*)"', value)
    return plain.group(1) if plain else None


def read_all(stream: io.IOBase) -> bytes:
    with stream:
        return stream.read()


# --- the same behaviour from both backends ---


def test_save_open_delete_round_trip(storage: Storage) -> None:
    data = os.urandom(300_000)
    key = new_key(".bin")

    saved = storage.save(key, io.BytesIO(data), "application/octet-stream")

    assert saved == SavedObject(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert storage.exists(key)
    assert read_all(storage.open(key)) == data
    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(ObjectNotFound):
        storage.open(key)
    storage.delete(key)  # a second delete is not an error


def test_saving_again_replaces_the_object(storage: Storage) -> None:
    key = new_key()
    storage.save(key, io.BytesIO(b"first version"), "text/plain")
    saved = storage.save(key, io.BytesIO(b"second"), "text/plain")
    assert saved.size == 6
    assert read_all(storage.open(key)) == b"second"


def test_empty_stream_is_stored_as_empty_object(storage: Storage) -> None:
    key = new_key()
    saved = storage.save(key, io.BytesIO(b""), "text/plain")
    assert saved == SavedObject(size=0, sha256=hashlib.sha256(b"").hexdigest())
    assert read_all(storage.open(key)) == b""


def test_large_stream_is_saved_in_parts_without_reading_it_whole(storage: Storage) -> None:
    size = 20 * MEGABYTE
    stream = PatternStream(size)
    key = new_key(".bin")

    saved = storage.save(key, stream, "application/octet-stream")

    assert saved == PatternStream.expected(size)
    # Nobody asked the stream for "everything" or for more than one part (5 MiB here) at a time.
    assert all(0 < requested <= 5 * MEGABYTE for requested in stream.requested), set(stream.requested)
    digest = hashlib.sha256()
    with storage.open(key) as stored:
        while chunk := stored.read(MEGABYTE):
            digest.update(chunk)
    assert digest.hexdigest() == saved.sha256
    if isinstance(storage, LocalStorage):
        assert storage.path_for(key).stat().st_size == size
    else:
        head = storage.client.head_object(Bucket=storage.bucket, Key=key)
        assert head["ContentLength"] == size
        assert head["ETag"].strip('"').endswith("-4")  # a multipart upload of four 5 MiB parts


def test_store_file_stores_a_complete_file_from_disk(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(6 * MEGABYTE)  # over the S3 threshold here (5 MiB): a multipart upload from the file
    source = tmp_path / "elsewhere.bin"
    source.write_bytes(data)
    key = new_key(".bin")

    saved = storage.store_file(key, source, "application/octet-stream")

    assert saved == SavedObject(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert read_all(storage.open(key)) == data
    assert source.exists()  # a file outside the local temp folder is copied, not taken


def test_local_store_file_renames_from_the_temp_folder_trusting_a_known_hash(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    temp = storage.temp_dir / "upload-1"
    temp.write_bytes(b"streamed already")
    known = SavedObject(size=16, sha256="0" * 64)  # what the uploader computed while writing

    assert storage.store_file("aa/bb/streamed.txt", temp, "text/plain", known=known) is known
    assert not temp.exists()
    assert read_all(storage.open("aa/bb/streamed.txt")) == b"streamed already"


def test_failed_save_leaves_nothing_behind(storage: Storage) -> None:
    key = new_key()
    with pytest.raises(OSError, match="client went away"):
        storage.save(key, PatternStream(12 * MEGABYTE, fail_after=6 * MEGABYTE), "application/octet-stream")
    assert not storage.exists(key)
    if isinstance(storage, LocalStorage):
        assert list(storage.temp_dir.iterdir()) == []
    else:
        # The first 5 MiB part had gone up; the multipart upload must have been aborted, not left pending.
        assert storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "a/../../outside",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "a\x00b",
        "",
        "a//b",
        "a\\b",
        ".tmp/x",
        "a/./b",
    ],
)
def test_keys_that_could_escape_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidKey):
        storage.save(key, io.BytesIO(b"data"), "text/plain")
    for operation in (storage.open, storage.exists, storage.delete):
        with pytest.raises(InvalidKey):
            operation(key)


# --- local disk ---


def test_local_save_writes_under_root_only(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    key = new_key(".txt")
    storage.save(key, io.BytesIO(b"hello"), "text/plain")
    path = storage.path_for(key)
    assert path.read_bytes() == b"hello"
    assert path.is_relative_to(tmp_path / "uploads")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]
    assert list(storage.temp_dir.iterdir()) == []


def test_local_refuses_a_folder_symlinked_outside_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    outside = tmp_path / "outside"
    outside.mkdir()
    (storage.root / "ab").symlink_to(outside)
    with pytest.raises(InvalidKey):
        storage.save("ab/file.txt", io.BytesIO(b"data"), "text/plain")
    assert list(outside.iterdir()) == []


def test_local_adopt_moves_a_temp_file_into_place(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    data = os.urandom(70_000)
    temp_file = storage.temp_dir / "upload-1"
    temp_file.write_bytes(data)
    key = new_key(".bin")

    saved = storage.adopt(key, temp_file)

    assert saved == SavedObject(len(data), hashlib.sha256(data).hexdigest())
    assert not temp_file.exists()
    assert read_all(storage.open(key)) == data


def test_local_adopt_refuses_files_outside_the_temp_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"data")
    with pytest.raises(ValueError):
        storage.adopt(new_key(), elsewhere)
    assert elsewhere.exists()


def test_local_download_url_means_stream_through_the_app(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    key = new_key()
    storage.save(key, io.BytesIO(b"data"), "text/plain")
    assert storage.download_url(key, "notes.txt", "text/plain", inline=False) is None


def test_local_stale_temp_files_are_removed(tmp_path: Path) -> None:
    # `flask files cleanup` sweeps the local store's temp folder: uploads are spooled there (upload_temp_dir).
    storage = LocalStorage(tmp_path / "uploads")
    old = storage.temp_dir / "old"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = storage.temp_dir / "fresh"
    fresh.write_bytes(b"x")
    assert remove_stale_files(storage.temp_dir, older_than_seconds=3600) == 1
    assert not old.exists() and fresh.exists()


# --- S3 ---


def test_s3_unfinished_multipart_uploads_are_aborted_once_old_enough(s3_storage: Storage) -> None:
    """What a process killed mid-upload leaves in the bucket: parts stored (and billed) but no object."""
    client, bucket, key = s3_storage.client, s3_storage.bucket, "ab/cd/killed.bin"
    started = client.create_multipart_upload(Bucket=bucket, Key=key)
    client.upload_part(Bucket=bucket, Key=key, UploadId=started["UploadId"], PartNumber=1, Body=b"x" * 1024)

    # moto reports every upload as initiated in 2010, so only the sweep itself is checked here, not the age rule.
    assert s3_storage.abort_stale_uploads(older_than_seconds=3600) == 1
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert not s3_storage.exists(key)


def test_presigned_url_serves_the_bytes_under_the_original_name(s3_storage: Storage) -> None:
    data = b"%PDF-1.4 pretend"
    key = new_key(".pdf")
    s3_storage.save(key, io.BytesIO(data), "application/pdf")
    original_name = "Résumé “final” 2024.pdf"

    url = s3_storage.download_url(key, original_name, "application/pdf", inline=False)

    assert url is not None and url.startswith("http://127.0.0.1:")
    assert original_name not in url and key in url  # the key addresses the object, never the name
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        content_type = response.headers["Content-Type"]
        disposition = response.headers["Content-Disposition"]
    assert body == data
    assert content_type == "application/pdf"
    assert disposition.startswith("attachment;")
    assert filename_from_disposition(disposition) == original_name
    assert 'filename="Resume final 2024.pdf"' in disposition  # for clients that ignore filename*


def test_presigned_url_can_ask_for_inline_display(s3_storage: Storage) -> None:
    key = new_key(".png")
    s3_storage.save(key, io.BytesIO(b"png bytes"), "image/png")
    url = s3_storage.download_url(key, "photo.png", "image/png", inline=True)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Disposition"] == 'inline; filename="photo.png"'
        assert response.headers["Content-Type"] == "image/png"


def test_saved_object_keeps_its_content_type(s3_storage: Storage) -> None:
    key = new_key(".csv")
    s3_storage.save(key, io.BytesIO(b"a,b\n1,2\n"), "text/csv")
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=key)
    assert head["ContentType"] == "text/csv"


def test_unreachable_endpoint_is_reported_in_words(aws_environment: None) -> None:
    storage = storage_for(s3_settings(f"http://127.0.0.1:{closed_port()}", S3_CONNECT_TIMEOUT=1, S3_READ_TIMEOUT=1))
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as caught:
        storage.save(new_key(), io.BytesIO(b"data"), "text/plain")
    assert caught.value.message == SAVE_UNAVAILABLE_MESSAGE
    assert caught.value.message == "The file store is unavailable right now; nothing was saved. Try again in a minute."
    assert caught.value.status == 503
    with pytest.raises(StorageUnavailable) as caught:
        storage.open(new_key())
    assert caught.value.message == READ_UNAVAILABLE_MESSAGE
    with pytest.raises(StorageUnavailable):
        storage.exists(new_key())
    with pytest.raises(StorageUnavailable):
        storage.delete(new_key())
    assert time.monotonic() - started < 10  # no retries, no long waits


def test_missing_bucket_is_reported_in_words(moto_endpoint: str) -> None:
    storage = storage_for(s3_settings(moto_endpoint))  # no ensure_bucket()
    with pytest.raises(StorageUnavailable, match="nothing was saved"):
        storage.save(new_key(), io.BytesIO(b"data"), "text/plain")
    with pytest.raises(StorageUnavailable):
        storage.open(new_key())


def test_missing_credentials_are_reported_in_words(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = storage_for(s3_settings(moto_endpoint))
    with pytest.raises(StorageUnavailable, match="nothing was saved"):
        storage.save(new_key(), io.BytesIO(b"data"), "text/plain")
    with pytest.raises(StorageUnavailable):
        storage.download_url(new_key(), "a.txt", "text/plain", inline=False)


# --- keys, headers and settings ---


def test_new_keys_are_random_and_fanned_out() -> None:
    keys = {new_key(".jpg") for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        first, second, name = key.split("/")
        assert name.startswith(first + second) and name.endswith(".jpg") and len(name) == 36
    with pytest.raises(ValueError):
        new_key("/../../etc")
    with pytest.raises(ValueError):
        new_key(".tar.gz")


@pytest.mark.parametrize(
    ("filename", "inline", "expected"),
    [
        ("report.pdf", False, 'attachment; filename="report.pdf"'),
        ("photo.png", True, 'inline; filename="photo.png"'),
        ("été.txt", False, "attachment; filename=\"ete.txt\"; filename*=UTF-8''%C3%A9t%C3%A9.txt"),
        ("資料.pdf", False, "attachment; filename=\"download.pdf\"; filename*=UTF-8''%E8%B3%87%E6%96%99.pdf"),
        ('say "hi".txt', False, "attachment; filename=\"say 'hi'.txt\"; filename*=UTF-8''say%20%22hi%22.txt"),
        # Line breaks would end the header: they become spaces. Folders become underscores.
        ("a\r\nSet-Cookie: x.txt", False, 'attachment; filename="a  Set-Cookie: x.txt"'),
        ("../../etc/passwd", False, 'attachment; filename="_.._etc_passwd"'),
    ],
)
def test_content_disposition(filename: str, inline: bool, expected: str) -> None:
    assert content_disposition(filename, inline) == expected


def test_incomplete_storage_settings_are_refused_by_config(tmp_path: Path) -> None:
    assert isinstance(storage_for({"UPLOAD_DIR": str(tmp_path)}), LocalStorage)  # local is the default
    with pytest.raises(ConfigError, match="S3_BUCKET_NAME must be set"):
        storage_for({"STORAGE_BACKEND": "s3"})
    with pytest.raises(ConfigError, match="S3_PRESIGN_SECONDS must be a whole number"):
        storage_for({"STORAGE_BACKEND": "s3", "S3_BUCKET_NAME": "b", "S3_PRESIGN_SECONDS": "soon"})
    with pytest.raises(ConfigError, match="S3_CONNECT_TIMEOUT must be more than 0"):
        storage_for({"STORAGE_BACKEND": "s3", "S3_BUCKET_NAME": "b", "S3_CONNECT_TIMEOUT": "0"})
    with pytest.raises(ConfigError, match="STORAGE_BACKEND must be 'local' or 's3', not 'ftp'"):
        storage_for({"STORAGE_BACKEND": "ftp"})
