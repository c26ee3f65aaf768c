"""S3 (or MinIO, or any S3-compatible store) through one boto3 client built at startup."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from .base import (
    READ_UNAVAILABLE_MESSAGE,
    SAVE_UNAVAILABLE_MESSAGE,
    DigestingReader,
    ObjectNotFound,
    SavedObject,
    Storage,
    StorageUnavailable,
    content_disposition,
    copy_stream,
    validate_key,
)

log = logging.getLogger("webapp.files.storage")

MEGABYTE = 1024 * 1024
# S3 refuses multipart parts under 5 MiB (except the last), whatever the threshold is set to.
MINIMUM_PART_SIZE = 5 * MEGABYTE

# Failures of the network, the credentials or the bucket itself: a person can only wait (or an operator
# must act). Other errors, such as a malformed request, are bugs and propagate unchanged.
_TRANSPORT_ERRORS = (
    BotocoreConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError
    HTTPClientError,  # ReadTimeoutError, ConnectionClosedError
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    TokenRetrievalError,
)
_UNAVAILABLE_CODES = {
    "NoSuchBucket",
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "RequestTimeTooSkewed",
    "RequestTimeout",
    "SlowDown",
}


class S3Storage(Storage):
    """Objects in one bucket. The boto3 client is thread-safe and shared by all requests."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None,
        endpoint_url: str | None,
        presign_seconds: int,
        multipart_threshold_bytes: int,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
    ) -> None:
        """`region` None leaves it to boto3's own chain (~/.aws/config, else us-east-1 for S3). Credentials come
        from boto3's chain too: environment, ~/.aws, the instance or task role."""
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.bucket = bucket
        self.presign_seconds = presign_seconds
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": max_attempts},
            signature_version="s3v4",
            # MinIO and moto live at one host name; virtual-host style would put the bucket in the host.
            s3={"addressing_style": "path"} if endpoint_url else {},
        )
        # A session of our own: boto3's default session is not safe to create clients from in many threads.
        session = boto3.session.Session(region_name=region)
        self._client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        # The region the requests are signed for, whichever link of the chain chose it.
        self.region: str = self._client.meta.region_name
        part_size = max(multipart_threshold_bytes, MINIMUM_PART_SIZE)
        self._transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold_bytes,
            multipart_chunksize=part_size,
            max_concurrency=4,
            # The classic manager reads our DigestingReader once, in order; the optional CRT one might not.
            preferred_transfer_client="classic",
        )
        # A stream that cannot seek is buffered part by part, so memory per upload is about
        # max_in_memory_upload_chunks x part_size (default 10). boto3's constructor does not take this
        # s3transfer setting, but its TransferConfig inherits and honours the attribute.
        self._transfer_config.max_in_memory_upload_chunks = 4

    @property
    def client(self):  # -> botocore S3 client; untyped because boto3 ships no static types
        return self._client

    def save(self, key: str, stream: BinaryIO, content_type: str) -> SavedObject:
        validate_key(key)
        reader = DigestingReader(stream)
        with self._translate_errors(SAVE_UNAVAILABLE_MESSAGE):
            # upload_fileobj sends one PUT below the threshold and a multipart upload above it; a multipart
            # upload that fails is aborted by s3transfer, so no partial object becomes visible.
            self._client.upload_fileobj(
                reader,
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer_config,
            )
        return reader.result()

    def store_file(
        self, key: str, path: str | os.PathLike[str], content_type: str, known: SavedObject | None = None
    ) -> SavedObject:
        validate_key(key)
        if known is None:
            with open(path, "rb") as handle:
                known = copy_stream(handle, lambda chunk: None)
        with self._translate_errors(SAVE_UNAVAILABLE_MESSAGE):
            # From a file name, s3transfer reads each part from disk as it sends it (no part buffered in
            # memory), with parts going up in parallel; a failed multipart upload is aborted.
            self._client.upload_file(
                os.fspath(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer_config,
            )
        return known

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._translate_errors(READ_UNAVAILABLE_MESSAGE, missing_key=key):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        # botocore's StreamingBody is an io.IOBase with read()/iter_chunks(); errors while reading it later
        # (the connection dropping mid-download) surface as botocore errors to the code streaming it.
        return response["Body"]

    def download_url(self, key: str, filename: str, content_type: str, inline: bool) -> str | None:
        validate_key(key)
        with self._translate_errors(READ_UNAVAILABLE_MESSAGE):
            # Signing happens locally (no request is sent); it fails only without credentials.
            return self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(filename, inline),
                    "ResponseContentType": content_type,
                },
                ExpiresIn=self.presign_seconds,
            )

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._translate_errors(READ_UNAVAILABLE_MESSAGE):
            # S3 answers 204 whether or not the key existed, so this is idempotent by itself.
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            with self._translate_errors(READ_UNAVAILABLE_MESSAGE, missing_key=key):
                self._client.head_object(Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return False
        return True

    def abort_stale_uploads(self, older_than_seconds: float) -> int:
        """Abort multipart uploads started before the cutoff and never finished: a process killed while sending
        a file leaves its parts stored (and billed) but invisible. Needs s3:ListBucketMultipartUploads."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        aborted = 0
        with self._translate_errors(READ_UNAVAILABLE_MESSAGE):
            for page in self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (for development, tests and first deployments)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as error:
            if _status(error) != 404:
                raise self._unavailable(error, READ_UNAVAILABLE_MESSAGE) from error
        except _TRANSPORT_ERRORS as error:
            raise self._unavailable(error, READ_UNAVAILABLE_MESSAGE) from error
        arguments = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            # us-east-1 is the one region that must not be named as a location constraint.
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**arguments)
        except ClientError as error:
            if _code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise self._unavailable(error, READ_UNAVAILABLE_MESSAGE) from error
        except _TRANSPORT_ERRORS as error:
            raise self._unavailable(error, READ_UNAVAILABLE_MESSAGE) from error

    # --- internals ---

    @contextmanager
    def _translate_errors(self, message: str, missing_key: str | None = None) -> Iterator[None]:
        """Turn backend failures into StorageUnavailable and a missing key into ObjectNotFound."""
        try:
            yield
        except ClientError as error:
            code = _code(error)
            if missing_key is not None and code in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectNotFound(missing_key) from None
            if code in _UNAVAILABLE_CODES or _status(error) == 403 or _status(error) >= 500:
                raise self._unavailable(error, message) from error
            raise
        except S3UploadFailedError as error:
            # boto3 wraps ClientErrors from some upload paths in this; every one of them means nothing was stored.
            raise self._unavailable(error, message) from error
        except _TRANSPORT_ERRORS as error:
            raise self._unavailable(error, message) from error

    def _unavailable(self, error: Exception, message: str) -> StorageUnavailable:
        log.warning("S3 file store unavailable (bucket %s): %s", self.bucket, error)
        return StorageUnavailable(message)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
