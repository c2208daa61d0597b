"""Images: verified with Pillow, stored once by content hash, thumbnailed once.

Layout in the media store (a folder or a bucket, see `store`):
    originals/ab/abcdef....<ext>    the image as shown (EXIF orientation applied)
    thumbs/ab/abcdef....png         at most THUMBNAIL_SIZE pixels on the long side
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import re
import select as io_select
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import i18n
from app.domain.errors import NotFound
from app.domain.imports.bulk import insert_new_rows, insert_rows
from app.domain.imports.store import MediaStore, archive_key, original_key, thumbnail_key
from app.i18n import format_number
from app.i18n import gettext as _
from app.models import MediaBlob, Membership, Sample, User

THUMBNAIL_SIZE = 256
DEFAULT_MAX_PIXELS = 50_000_000
EXIF_ORIENTATION = 0x0112

# Pillow format name -> (content type, file extension)
ALLOWED_FORMATS: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tiff"),
}


class ImageRejected(ValueError):
    """The bytes are not an image Eyeball accepts; the message says why."""


@dataclass(frozen=True)
class PreparedImage:
    sha256: str
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes


def prepare_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedImage:
    """Check and normalise an image without touching the disk or the database."""
    try:
        with warnings.catch_warnings():
            # Pillow warns before it refuses; the size check below gives the message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if fmt not in ALLOWED_FORMATS:
                    raise ImageRejected(
                        _(
                            "format %(format)s is not accepted (use %(formats)s)",
                            format=fmt or _("unknown"),
                            formats=", ".join(sorted(ALLOWED_FORMATS)),
                        )
                    )
                if width * height > max_pixels:
                    raise ImageRejected(
                        _(
                            "%(width)s×%(height)s pixels is over the limit of %(most)s pixels",
                            width=width,
                            height=height,
                            most=format_number(max_pixels),
                        )
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)  # animated GIF/WebP: the first frame
                image.load()
                oriented = ImageOps.exif_transpose(image)
                turned = image.getexif().get(EXIF_ORIENTATION, 1) != 1
                if turned or getattr(image, "n_frames", 1) > 1:
                    # Store what people should see: one frame, upright.
                    data = _encode_png(oriented)
                    fmt = "PNG"
                small = max(oriented.size) <= THUMBNAIL_SIZE
                if fmt == "PNG" and small and oriented.mode in {"RGB", "RGBA", "L", "LA"}:
                    # Its own thumbnail: encoding it again would give the same picture
                    # and cost most of a small image's import.
                    thumbnail = data
                else:
                    thumbnail = _thumbnail(oriented)
                width, height = oriented.size
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageRejected(_("not a readable image")) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(_("damaged image (%(why)s)", why=exc)) from exc
    content_type, extension = ALLOWED_FORMATS[fmt]
    return PreparedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        thumbnail=thumbnail,
    )


# --- many images at once ---------------------------------------------------------------
#
# Decoding, turning and thumbnailing is CPU work that Python threads cannot share out, so
# a large import prepares its images in worker processes, one per core. The pool is
# started once per server process ("forkserver": forking a process that runs threads can
# copy a lock held by another thread) and only for imports large enough to repay it.

PARALLEL_FROM = 64  # images; fewer are prepared in the process itself
K = TypeVar("K")
# Images go to a worker in batches: each task costs the server process a future, a
# pickling and a wake-up (a fifth of its time on 10,000 small images one by one).
_BATCH_IMAGES = 16
_BATCH_BYTES = 4 * 1024**2
_IN_FLIGHT_PER_WORKER = 3  # batches handed out but not yet back: what bounds memory
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            context = multiprocessing.get_context("forkserver")
            # The workers fork from a process that has imported what they run (this
            # module, and with it the models): each importing it for itself spent 1-2 s
            # of CPU, at the first image import after a start, on every core at once,
            # the cores that annotators' saves were waiting for.
            context.set_forkserver_preload([__name__])
            _pool = ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return _pool


def _forget_workers() -> None:
    global _pool
    with _pool_lock:
        _pool = None


def stop_workers() -> None:
    """End the worker processes, if any (the server's shutdown)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


# How much lower than the server's the workers' CPU priority is. An import is batch
# work; saves are someone waiting at a key. With one worker per core, the workers took
# the cores from the server's request threads, and saves during an image import waited
# for CPU (p95 over 100 ms). Niced, they still get every core nobody else wants.
WORKER_NICENESS = 10


def _start_worker(server_pid: int) -> None:
    """In each worker: yield the CPU to the server's requests, and leave with it."""
    # A system that refuses it: the worker runs at the server's priority.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    _leave_with(server_pid)


def _leave_with(server_pid: int) -> None:
    """Exit when the server process does. A pool's workers outlive a
    killed server otherwise, waiting for work that never comes (each restart of a
    killed server left two processes behind)."""

    def watch() -> None:
        try:
            # Linux: a descriptor that becomes readable when the process ends.
            ended = os.pidfd_open(server_pid)
        except ProcessLookupError:
            os._exit(0)
        except (AttributeError, OSError):
            while True:  # elsewhere: look now and then
                time.sleep(2)
                try:
                    os.kill(server_pid, 0)
                except ProcessLookupError:
                    os._exit(0)
        io_select.select([ended], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="leave-with-server", daemon=True).start()


def _staged_or_refused(
    data: bytes, max_pixels: int, staging_dir: Path, media_dir: Path | None
) -> StagedImage | str:
    """Prepare and stage one image (in a worker: the files are written there too), or
    say why it is refused. `media_dir`: the local store's folder, if the store is one."""
    try:
        prepared = prepare_image(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        return str(exc)
    return stage_image(staging_dir, prepared, media_dir)


def _staged_or_refused_in(
    language: str,
    images: list[bytes],
    max_pixels: int,
    staging_dir: Path,
    media_dir: Path | None,
) -> list[StagedImage | str]:
    """In a worker process, which does not share the reader's language: a batch of
    images, each staged or its refusal in `language`."""
    with i18n.speaking(language):
        return [_staged_or_refused(data, max_pixels, staging_dir, media_dir) for data in images]


def _batches(
    items: Iterable[tuple[K, bytes]],
) -> Iterator[list[tuple[K, bytes]]]:
    """The images a few at a time, at most `_BATCH_IMAGES` of them or `_BATCH_BYTES`
    (one larger image goes alone)."""
    batch: list[tuple[K, bytes]] = []
    size = 0
    for key, data in items:
        if batch and (len(batch) >= _BATCH_IMAGES or size + len(data) > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((key, data))
        size += len(data)
    if batch:
        yield batch


def stage_images(
    items: Iterable[tuple[K, bytes]],
    *,
    staging_dir: Path,
    media_dir: Path | None,
    max_pixels: int,
    parallel: bool,
) -> Iterator[tuple[K, StagedImage | str]]:
    """Each image checked and staged, or the reason it is refused, in the order given: in
    worker processes when `parallel`, a batch of images at a time, with a few batches
    per worker in flight."""

    language = i18n.current_language()

    def here(data: bytes) -> StagedImage | str:
        return _staged_or_refused(data, max_pixels, staging_dir, media_dir)

    if not parallel:
        for key, data in items:
            yield key, here(data)
        return
    pool = _workers()
    window = _IN_FLIGHT_PER_WORKER * (os.cpu_count() or 1)
    in_flight: deque[tuple[list[tuple[K, bytes]], Future[list[StagedImage | str]]]] = deque()

    def results(
        batch: list[tuple[K, bytes]], future: Future[list[StagedImage | str]]
    ) -> Iterator[tuple[K, StagedImage | str]]:
        try:
            done = future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start afresh next time, and finish
            # this import's images here.
            _forget_workers()
            done = [here(data) for _, data in batch]
        return zip((key for key, _ in batch), done, strict=True)

    for batch in _batches(items):
        job = pool.submit(
            _staged_or_refused_in,
            language,
            [data for _, data in batch],
            max_pixels,
            staging_dir,
            media_dir,
        )
        in_flight.append((batch, job))
        if len(in_flight) >= window:
            yield from results(*in_flight.popleft())
    while in_flight:
        yield from results(*in_flight.popleft())


def _encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    thumb = image.copy()
    if thumb.mode not in {"RGB", "RGBA", "L", "LA"}:
        thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
    # Tiny images (e.g. 8×8 digits) stay as they are: the browser scales them pixelated.
    thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    return _encode_png(thumb)


def _extension(content_type: str) -> str:
    return next(ext for ct, ext in ALLOWED_FORMATS.values() if ct == content_type)


def blob_original_key(blob: MediaBlob) -> str:
    return original_key(blob.sha256, _extension(blob.content_type))


def thumbnail_path(media_dir: Path, sha256: str) -> Path:
    """A thumbnail's file in a local media folder."""
    return media_dir / thumbnail_key(sha256)


def store_image(session: Session, store: MediaStore, image: PreparedImage) -> MediaBlob:
    """Write the files (once per content) and return the blob row for them."""
    blob = session.get(MediaBlob, image.sha256)
    if blob is None:
        blob = MediaBlob(
            sha256=image.sha256,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            byte_size=len(image.data),
        )
        session.add(blob)
    store.write(original_key(image.sha256, image.extension), image.data)
    store.write(thumbnail_key(image.sha256), image.thumbnail)
    return blob


SHA256 = re.compile(r"^[0-9a-f]{64}$")


def blob_visible_to(session: Session, user: User, sha256: str) -> MediaBlob:
    """The blob if the user may see a sample that shows it; NotFound otherwise.

    Blobs are shared between projects (same content, stored once), so access is
    granted through any project of the user's that uses the image.
    """
    # Any other name is no image, and never reaches the database (PostgreSQL refuses
    # a NUL in text with an error, not an empty answer).
    if not SHA256.match(sha256):
        raise NotFound("No such image.")
    blob = session.get(MediaBlob, sha256)
    if blob is None:
        raise NotFound("No such image.")
    if user.is_admin:
        return blob
    visible = session.scalar(
        select(Sample.id)
        .join(
            Membership,
            (Membership.project_id == Sample.project_id)
            & (Membership.user_id == user.id)
            & Membership.removed_at.is_(None),
        )
        .where(Sample.image_sha256 == sha256)
        .limit(1)
    )
    if visible is None:
        raise NotFound("No such image.")
    return blob


@dataclass(frozen=True)
class StagedImage:
    """A checked image waiting in a staging folder until its import is confirmed.

    Only the facts the database needs stay in memory; the bytes wait on disk, so a
    large import never holds all its images at once.
    """

    sha256: str
    content_type: str
    extension: str
    width: int
    height: int
    byte_size: int
    # In the staging folder; None when the media store holds its files already.
    original: Path | None
    thumbnail: Path | None

    @property
    def in_store(self) -> bool:
        return self.original is None


# Staging folders this process made: an import stages thousands of images into one.
_made_folders: set[Path] = set()


def stage_image(
    staging_dir: Path, image: PreparedImage, media_dir: Path | None = None
) -> StagedImage:
    if staging_dir not in _made_folders:  # (each import's folder has a name of its own)
        staging_dir.mkdir(parents=True, exist_ok=True)
        _made_folders.add(staging_dir)
    original = staging_dir / f"{image.sha256}.{image.extension}"
    thumbnail = staging_dir / f"{image.sha256}.thumb.png"
    stored = media_dir is not None and (
        os.path.exists(media_dir / original_key(image.sha256, image.extension))
        and os.path.exists(media_dir / thumbnail_key(image.sha256))
    )
    # Content-addressed: an image stored by an earlier import needs no second copy.
    if not stored and not os.path.exists(original):
        original.write_bytes(image.data)
        _write_thumbnail(thumbnail, image, original)
    return StagedImage(
        sha256=image.sha256,
        content_type=image.content_type,
        extension=image.extension,
        width=image.width,
        height=image.height,
        byte_size=len(image.data),
        original=original,
        thumbnail=thumbnail,
    )


def _write_thumbnail(path: Path, image: PreparedImage, original: Path) -> None:
    """A small PNG is its own thumbnail (`prepare_image`): then a second name for the
    staged original, not a second file (writing a file is most of staging's cost here:
    about 0.3 ms an `open` on this machine's disk; a link takes half)."""
    if image.thumbnail is image.data:
        try:
            os.link(original, path)
            return
        except OSError:  # a file system without hard links: written, as any other
            pass
    path.write_bytes(image.thumbnail)


@dataclass(frozen=True)
class KnownImage:
    """An image the media store holds already (a `MediaBlob`), as an import needs it."""

    sha256: str
    content_type: str
    width: int
    height: int
    byte_size: int


# Given sha-256 digests, the images among them the store holds.
KnownImages = Callable[[list[str]], dict[str, KnownImage]]


def known_images(session: Session, digests: list[str]) -> dict[str, KnownImage]:
    found: dict[str, KnownImage] = {}
    for start in range(0, len(digests), 500):
        for b in session.execute(
            select(
                MediaBlob.sha256,
                MediaBlob.content_type,
                MediaBlob.width,
                MediaBlob.height,
                MediaBlob.byte_size,
            ).where(MediaBlob.sha256.in_(digests[start : start + 500]))
        ):
            found[b.sha256] = KnownImage(b.sha256, b.content_type, b.width, b.height, b.byte_size)
    return found


def known_keys(image: KnownImage) -> tuple[str, str]:
    """The keys of a stored image's original and thumbnail."""
    return original_key(image.sha256, _extension(image.content_type)), thumbnail_key(image.sha256)


def stage_known(image: KnownImage, missing: set[str]) -> StagedImage | None:
    """A stored image as if staged, without decoding it again; None when its files are
    `missing` from the store (then it is checked and staged anew)."""
    if any(key in missing for key in known_keys(image)):
        return None
    extension = _extension(image.content_type)
    return StagedImage(
        sha256=image.sha256,
        content_type=image.content_type,
        extension=extension,
        width=image.width,
        height=image.height,
        byte_size=image.byte_size,
        original=None,
        thumbnail=None,
    )


# What an uploaded archive held, by its sha-256: each image's path and the sha-256 of its
# bytes. A pure fact about those bytes (so shared by all projects), written once an
# import of the archive is accepted; the same archive again then reads no image.
_SHA256 = re.compile(r"[0-9a-f]{64}")


def archive_images(store: MediaStore, digest: str) -> dict[str, str]:
    """The images (path -> sha-256) of the archive with this sha-256, as recorded by an
    earlier import; empty when none was, or the record is unreadable."""
    if not _SHA256.fullmatch(digest):
        return {}
    try:
        kept = store.read(archive_key(digest))
        recorded = json.loads(kept) if kept is not None else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {
        path: sha
        for path, sha in recorded.items()
        if isinstance(path, str) and isinstance(sha, str) and _SHA256.fullmatch(sha)
    }


def record_archive(store: MediaStore, digest: str, images: dict[str, str]) -> None:
    """Keep what the archive with this sha-256 holds (path -> image sha-256)."""
    if not _SHA256.fullmatch(digest) or not images:
        return
    known = archive_images(store, digest)
    if images.items() <= known.items():
        return
    # Replaced whole: a later manifest may name more of the archive's images.
    merged = json.dumps({**known, **images}, sort_keys=True).encode()
    store.write(archive_key(digest), merged, replace=True)


def place_staged(store: MediaStore, images: Iterable[StagedImage]) -> None:
    """Move staged images into the media store (renames, or uploads to a bucket). Before
    the import's write transaction: content-addressed files are harmless if it then
    fails, and thousands of renames or uploads must not hold the database's write lock.
    Before the media rows too: a row never names a file the store does not hold yet,
    which is what lets a backup copy the files after its database snapshot."""
    done: set[str] = set()
    for image in images:
        if image.original is None or image.thumbnail is None or image.sha256 in done:
            continue  # in the store already
        done.add(image.sha256)
        store.put_file(original_key(image.sha256, image.extension), image.original)
        store.put_file(thumbnail_key(image.sha256), image.thumbnail)


def store_staged(session: Session, images: Iterable[StagedImage]) -> int:
    """The media rows of images placed in the store (`place_staged`); returns how many
    are new."""
    by_hash = {image.sha256: image for image in images if not image.in_store}
    hashes = sorted(by_hash)
    known: set[str] = set()
    for start in range(0, len(hashes), 500):  # one query per 500, not one per image
        chunk = hashes[start : start + 500]
        known.update(session.scalars(select(MediaBlob.sha256).where(MediaBlob.sha256.in_(chunk))))
    new = [
        {
            "sha256": sha256,
            "content_type": image.content_type,
            "width": image.width,
            "height": image.height,
            "byte_size": image.byte_size,
        }
        for sha256, image in by_hash.items()
        if sha256 not in known
    ]
    table = cast(Table, MediaBlob.__table__)
    try:
        with session.begin_nested():
            insert_rows(session.connection(), table, new)
    except IntegrityError:
        # Another import stored some of the same content since the check above (which
        # cannot see a row not yet committed): the same bytes, so its row stands.
        insert_new_rows(session.connection(), table, new, "sha256")
    return len(new)
