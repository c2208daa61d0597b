"""The media store in any S3-compatible bucket (AWS S3, MinIO, Ceph, ...), through boto3."""

from __future__ import annotations

import mimetypes
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ReadTimeoutError
from botocore.exceptions import ConnectionError as ConnectionFailed

from app.domain.errors import Unavailable
from app.domain.imports.store import (
    CACHE_CONTROL,
    CHUNK_BYTES,
    StoredFile,
    folder_problem,
    store_unavailable,
)

# What S3 answers for a key that is not there: NoSuchKey, or for a HEAD (which has no
# body) only its status, 404. A GET or PUT into a bucket that is not there is a 404 too,
# but NoSuchBucket: a misconfiguration to report, never an image to import again. (A
# HEAD cannot tell the two apart; the write that follows then fails with NoSuchBucket.)
_MISSING = {"404", "NoSuchKey", "NotFound"}
# What the failures S3 answers without a body (HEAD) mean.
_HEAD_CODES = {"301": "PermanentRedirect", "403": "AccessDenied"}
# Everything the client raises when the store, not the key, is at fault.
_FAULTS = (ClientError, BotoCoreError, S3UploadFailedError)
# boto3's connection pool holds 10 connections by default: more would only queue.
_LOOKUPS_AT_ONCE = 10
# An endpoint that does not answer fails a request in seconds (two tries), rather than
# after botocore's 60-second timeouts and 5 tries, each holding a worker thread.
_CLIENT_LIMITS = {
    "connect_timeout": 3,
    "read_timeout": 10,
    "retries": {"total_max_attempts": 2, "mode": "standard"},
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def _missing(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and _code(exc) in _MISSING


def _fault(exc: Exception) -> str:
    """The short cause of a failure of the store: S3's error code, or what went wrong on
    the way."""
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__  # boto3's upload names the failed PUT only in its text
    if isinstance(exc, ClientError):
        code = _code(exc)
        return _HEAD_CODES.get(code, code)
    if isinstance(exc, ConnectionFailed | ReadTimeoutError):  # refused, no such host, silent
        return "unreachable"
    if isinstance(exc, NoCredentialsError):
        return "no credentials"
    return exc.__class__.__name__


def _unavailable(exc: Exception) -> Unavailable:
    return store_unavailable(_fault(exc))


class S3MediaStore:
    def __init__(
        self,
        folder: Path,
        *,
        bucket: str,
        endpoint_url: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str | None,
    ) -> None:
        self._folder = folder
        self.bucket = bucket
        # A client is thread-safe (a session is not): one per store, shared by requests.
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
            # Path-style addressing: MinIO and most self-hosted stores have no
            # per-bucket host names. SigV4: what every current store accepts.
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, **_CLIENT_LIMITS
            ),
        )

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def local_root(self) -> None:
        return None

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except _FAULTS as exc:
            if _missing(exc):
                return False
            raise _unavailable(exc) from exc
        return True

    def missing(self, keys: list[str]) -> set[str]:
        # One HEAD per key, several at a time: a re-import of thousands of stored images
        # would otherwise wait for each round trip in turn.
        if not keys:
            return set()
        with ThreadPoolExecutor(max_workers=_LOOKUPS_AT_ONCE) as pool:
            found = pool.map(self.exists, keys)
            return {key for key, there in zip(keys, found, strict=True) if not there}

    def _get(self, key: str) -> Any:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)
        except _FAULTS as exc:
            if _missing(exc):
                return None
            raise _unavailable(exc) from exc

    def read(self, key: str) -> bytes | None:
        answer = self._get(key)
        if answer is None:
            return None
        body = answer["Body"]
        with body:
            data: bytes = body.read()
        return data

    def write(self, key: str, data: bytes, *, replace: bool = False) -> None:
        if not replace and self.exists(key):
            return  # content-addressed: same name, same bytes
        # One PUT is atomic in S3: a reader gets the old object or the new one.
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=_content_type(key)
            )
        except _FAULTS as exc:
            raise _unavailable(exc) from exc

    def put_file(self, key: str, source: Path) -> None:
        if self.exists(key):
            return  # the same sha-256 is not stored again
        try:
            self._client.upload_file(
                str(source), self.bucket, key, ExtraArgs={"ContentType": _content_type(key)}
            )
        except _FAULTS as exc:
            raise _unavailable(exc) from exc

    def open(self, key: str) -> StoredFile | None:
        answer = self._get(key)
        if answer is None:
            return None
        body = answer["Body"]

        def chunks() -> Any:
            with body:
                yield from body.iter_chunks(CHUNK_BYTES)

        return StoredFile(size=int(answer["ContentLength"]), chunks=chunks())

    def signed_url(self, key: str, content_type: str, seconds: int) -> str | None:
        # Signed here, without asking the store: a missing bucket shows only when the
        # browser follows the URL (/readyz is what reports it).
        try:
            url: str = self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentType": content_type,
                    # Content-addressed, like Eyeball's own answers: kept by the browser.
                    "ResponseCacheControl": CACHE_CONTROL,
                },
                ExpiresIn=seconds,
            )
        except _FAULTS as exc:  # no credentials to sign with
            raise _unavailable(exc) from exc
        return url

    def not_ready(self) -> str | None:
        # One HEAD of the bucket: it answers whether the bucket is there, the credentials
        # are accepted and the endpoint answers, without listing or reading anything.
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except _FAULTS as exc:
            if _missing(exc):  # a 404 to the HEAD of the bucket: it is not there
                return "media store: NoSuchBucket"
            cause = _fault(exc)
            return "media store unreachable" if cause == "unreachable" else f"media store: {cause}"
        # Imports stage their files on the local disk before uploading them.
        return folder_problem(self._folder)


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
