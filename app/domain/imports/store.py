"""Where stored images live: one small interface, a local folder or an S3 bucket behind it.

Everything is addressed by a key, the same on both: `originals/ab/<sha256>.<ext>`,
`thumbs/ab/<sha256>.png` and `archives/ab/<sha256>.json` (what an imported archive held).
Files are content-addressed, so a key's bytes never change and nothing is ever deleted:
writing a key that exists is a no-op, unless the caller replaces it on purpose (the
archive index grows when a later manifest names more of an archive).

Import jobs and staging always stay on the local disk, in the store's `folder`: the
image workers write their checked files there, and confirming an import moves them in
(a rename for the local store, an upload for S3).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from app.config import Settings
from app.domain.errors import Unavailable
from app.i18n import gettext as _

ORIGINALS = "originals"
THUMBNAILS = "thumbs"
ARCHIVES = "archives"
# The store's own content: a backup copies these folders and nothing else.
STORED_FOLDERS = (ORIGINALS, THUMBNAILS, ARCHIVES)
CHUNK_BYTES = 64 * 1024
# Content-addressed: a key's bytes never change. Private: only members may see them.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def original_key(sha256: str, extension: str) -> str:
    return f"{ORIGINALS}/{sha256[:2]}/{sha256}.{extension}"


def thumbnail_key(sha256: str) -> str:
    return f"{THUMBNAILS}/{sha256[:2]}/{sha256}.png"


def archive_key(digest: str) -> str:
    return f"{ARCHIVES}/{digest[:2]}/{digest}.json"


def store_unavailable(reason: str) -> Unavailable:
    """The refusal when the store itself fails (a missing bucket, refused credentials, an
    endpoint that does not answer): the reader learns it is not their doing and that
    trying later may work; `reason` names the cause for the log and the operator."""
    return Unavailable(
        _(
            "The media store cannot be used right now (%(reason)s). Try again later; "
            "if it lasts, tell whoever runs Eyeball.",
            reason=reason,
        ),
        reason=reason,
    )


def folder_problem(folder: Path) -> str | None:
    """Why the local media folder cannot take files, or None (two system calls)."""
    if not os.path.isdir(folder):
        return "media store: the folder is missing"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "media store: the folder is not writable"
    return None


@dataclass(frozen=True)
class StoredFile:
    """A stored file being read: its size and its bytes, a chunk at a time."""

    size: int
    chunks: Iterator[bytes]


class MediaStore(Protocol):
    @property
    def folder(self) -> Path:
        """The local media folder: import jobs and staging (and, for the local store,
        the files themselves)."""
        ...

    @property
    def local_root(self) -> Path | None:
        """Where the keys are files on this disk, or None when they are elsewhere."""
        ...

    def exists(self, key: str) -> bool: ...

    def missing(self, keys: list[str]) -> set[str]:
        """Those of the keys the store does not hold."""
        ...

    def read(self, key: str) -> bytes | None:
        """The whole file, or None when there is none."""
        ...

    def write(self, key: str, data: bytes, *, replace: bool = False) -> None:
        """Store the bytes (atomically: a reader sees the old file or the new one)."""
        ...

    def put_file(self, key: str, source: Path) -> None:
        """Bring a staged file in (it may be moved away); nothing when the key exists."""
        ...

    def open(self, key: str) -> StoredFile | None:
        """The file for streaming, or None when there is none."""
        ...

    def signed_url(self, key: str, content_type: str, seconds: int) -> str | None:
        """A URL that serves the file for `seconds` without asking Eyeball, or None
        when the store cannot give one (the local folder)."""
        ...

    def not_ready(self) -> str | None:
        """Why the store cannot serve now, or None: one cheap look, for /readyz."""
        ...


class LocalMediaStore:
    """The media folder on this disk (the default)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        # Folders known to exist: thousands of images into a few hundred folders.
        self._made: set[str] = set()

    @property
    def folder(self) -> Path:
        return self._folder

    @property
    def local_root(self) -> Path:
        return self._folder

    def _path(self, key: str) -> str:
        # Plain strings: for a re-import of thousands of images, pathlib's parsing showed.
        return os.path.join(self._folder, key)

    def _parent(self, path: str) -> None:
        parent = os.path.dirname(path)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)

    def exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def missing(self, keys: list[str]) -> set[str]:
        return {key for key in keys if not os.path.exists(self._path(key))}

    def read(self, key: str) -> bytes | None:
        try:
            return Path(self._path(key)).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes, *, replace: bool = False) -> None:
        path = self._path(key)
        if not replace and os.path.exists(path):
            return  # content-addressed: same name, same bytes
        self._parent(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, source: Path) -> None:
        path = self._path(key)
        if os.path.exists(path):
            return  # content-addressed: already there from an earlier import
        self._parent(path)
        # The staging folder sits inside the media folder, so this is an atomic rename.
        os.replace(source, path)

    def open(self, key: str) -> StoredFile | None:
        path = self._path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed by the generator below)
        except FileNotFoundError:
            return None

        def chunks() -> Iterator[bytes]:
            with f:
                while chunk := f.read(CHUNK_BYTES):
                    yield chunk

        return StoredFile(size=os.fstat(f.fileno()).st_size, chunks=chunks())

    def signed_url(self, key: str, content_type: str, seconds: int) -> str | None:
        return None

    def not_ready(self) -> str | None:
        return folder_problem(self._folder)


def files_in(folder: Path) -> Iterator[Path]:
    """The stored files of a local media folder (not import jobs or staging), by key."""
    for top in STORED_FOLDERS:
        root = folder / top
        if root.is_dir():
            # Not a write under way (`.incoming-`): it is renamed into place when done.
            yield from sorted(
                p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
            )


def media_store(settings: Settings) -> MediaStore:
    """The store the settings name (one client per configuration, shared by requests)."""
    if settings.media_backend == "local":
        return LocalMediaStore(settings.media_path)
    return _s3_store(
        settings.media_path,
        settings.s3_bucket,
        settings.s3_endpoint_url,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_region,
    )


@lru_cache(maxsize=8)
def _s3_store(
    folder: Path, bucket: str, endpoint_url: str, key_id: str, secret: str, region: str
) -> MediaStore:
    # Imported here: boto3 takes a while to import, and a local installation never needs it.
    from app.domain.imports.s3 import S3MediaStore

    return S3MediaStore(
        folder,
        bucket=bucket,
        endpoint_url=endpoint_url or None,
        access_key_id=key_id or None,
        secret_access_key=secret or None,
        region=region or None,
    )
