from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.orm import Session

from app.domain.imports.media import ImageRejected, prepare_image, store_image, thumbnail_path
from app.domain.imports.store import LocalMediaStore


def encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_allowed_formats_are_accepted(fmt: str) -> None:
    prepared = prepare_image(encode(Image.new("RGB", (40, 30), "red"), fmt))
    assert (prepared.width, prepared.height) == (40, 30)
    assert len(prepared.sha256) == 64


def test_not_an_image_is_refused() -> None:
    with pytest.raises(ImageRejected, match="not a readable image"):
        prepare_image(b"hello, I am text")


def test_truncated_image_is_refused() -> None:
    data = encode(Image.new("RGB", (64, 64), "blue"), "PNG")
    with pytest.raises(ImageRejected):
        prepare_image(data[: len(data) // 2])


def test_decompression_bombs_are_refused_before_decoding() -> None:
    with pytest.raises(ImageRejected, match="over the limit"):
        prepare_image(encode(Image.new("L", (2000, 2000)), "PNG"), max_pixels=1_000_000)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (60, 20), "green")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    prepared = prepare_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert (prepared.width, prepared.height) == (20, 60)


def test_animated_gif_keeps_the_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    prepared = prepare_image(out.getvalue())
    assert prepared.content_type == "image/png"
    with Image.open(io.BytesIO(prepared.data)) as stored:
        assert getattr(stored, "n_frames", 1) == 1


def test_thumbnails_are_bounded_and_tiny_images_are_not_blown_up() -> None:
    big = prepare_image(encode(Image.new("RGB", (1024, 512)), "PNG"))
    with Image.open(io.BytesIO(big.thumbnail)) as thumb:
        assert thumb.size == (256, 128)
    tiny = prepare_image(encode(Image.new("L", (8, 8)), "PNG"))
    with Image.open(io.BytesIO(tiny.thumbnail)) as thumb:
        assert thumb.size == (8, 8)


def test_identical_images_are_stored_once(session: Session, tmp_path: Path) -> None:
    data = encode(Image.new("RGB", (16, 16), "purple"), "PNG")
    first = store_image(session, LocalMediaStore(tmp_path), prepare_image(data))
    second = store_image(session, LocalMediaStore(tmp_path), prepare_image(data))
    assert first is second
    originals = list((tmp_path / "originals").rglob("*.png"))
    assert len(originals) == 1
    assert originals[0].read_bytes() == data
    assert thumbnail_path(tmp_path, first.sha256).exists()


def test_two_imports_storing_the_same_image_at_once_both_land(empty_database_url: str) -> None:
    """Two imports of the same pictures (two runs of one data set, sent together) each
    store the image's row outside their write; the second meets the first's row, not
    yet committed when it looked. It once failed with a 500 (a unique violation)."""
    import threading
    from contextlib import ExitStack

    from sqlalchemy import func, select, text

    from app import schema
    from app.db import Database
    from app.domain.imports.media import StagedImage, store_staged
    from app.models import MediaBlob

    database = Database.from_url(empty_database_url)
    schema.upgrade(database.engine)
    image = StagedImage(
        sha256="ab" * 32,
        content_type="image/png",
        extension="png",
        width=8,
        height=8,
        byte_size=100,
        original=Path("staged.png"),
        thumbnail=None,
    )
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with database.transaction() as session:
                store_staged(session, [image])
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    try:
        with ExitStack() as first:
            session = first.enter_context(database.transaction())
            store_staged(session, [image])  # not committed yet
            other = threading.Thread(target=second)
            other.start()
            if not database.is_sqlite:
                # Wait until the second insert waits on the first's row (PostgreSQL);
                # SQLite's second writer waits for the write lock before it looks at all.
                with database.engine.connect() as watcher:
                    for _ in range(600):
                        waiting = watcher.scalar(
                            text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                        )
                        if waiting:
                            break
                        watcher.rollback()
                        threading.Event().wait(0.05)
                    assert waiting, "the second import never reached the first's row"
        other.join(timeout=60)
        assert not other.is_alive()
        assert failures == []
        with database.transaction(read_only=True) as session:
            assert session.scalar(select(func.count()).select_from(MediaBlob)) == 1
    finally:
        database.dispose()
