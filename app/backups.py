"""`eyeball backup` and `eyeball restore`: a consistent snapshot of an installation, taken
while it serves, and brought back into an empty one.

A backup is a folder:
    manifest.json       eyeball version, Alembic revision, database kind, time, media
    database.sqlite3    SQLite: a copy made with SQLite's online backup API
    database.dump       PostgreSQL: `pg_dump --format=custom`
    media/              the local media folder's originals/, thumbs/ and archives/

The database is copied first, the media files after it. Files are content-addressed,
never changed or deleted, and an import puts its files in place before it writes their
rows (`place_staged`), so every image the snapshot names is in the store by the time
its files are copied: the copy may hold a few files no row names yet (harmless), never
a row without its file. With the s3 backend only the database (which holds the media
index, `media_blob`) is in the backup: the bucket is backed up by the store's own means.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from app import schema
from app.config import Settings
from app.db import Database
from app.domain.imports.store import files_in, media_store
from app.i18n import gettext as _

MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"
MEDIA_FOLDER = "media"
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Outcome:
    manifest: dict[str, Any]
    media_files: int


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError(_("An in-memory SQLite database cannot be backed up or restored."))
    return Path(url.database)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump and pg_restore, and the environment that carries the password
    (kept out of the command line, which other users of the machine can read)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], missing: str) -> None:
    """`missing` says what is wrong when the command is not installed."""
    try:
        # pg_dump or pg_restore, with arguments from our own settings.
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BackupError(missing) from None
    if done.returncode != 0:
        raise BackupError(
            _("%(command)s failed: %(reason)s", command=command[0], reason=done.stderr.strip())
        )


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while other connections write."""
    if not source.is_file():
        raise BackupError(_("There is no SQLite database at %(path)s.", path=str(source)))
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            # All pages in one step, under one read transaction: a write that commits
            # meanwhile (WAL mode) is simply not in the copy.
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def backup(settings: Settings, path: Path) -> Outcome:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(
            _("%(path)s is not an empty folder: back up into a new one.", path=str(path))
        )
    url = make_url(settings.database_url)
    if settings.is_sqlite and not _sqlite_file(url).is_file():
        raise BackupError(
            _("There is no SQLite database at %(path)s.", path=str(_sqlite_file(url)))
        )
    revision, _tables = _revision_and_tables(settings)
    if revision is None:
        raise BackupError(_("The database has no Eyeball schema: there is nothing to back up."))
    path.mkdir(parents=True, exist_ok=True)
    taken = datetime.now(UTC)
    if settings.is_sqlite:
        _copy_sqlite(_sqlite_file(url), path / SQLITE_FILE)
        kind = "sqlite"
    else:
        target, env = _libpq(url)
        # One transaction (repeatable read) for the whole dump: a consistent snapshot.
        _run(
            ["pg_dump", "--format=custom", "--file", str(path / POSTGRES_FILE), target],
            env,
            _(
                "pg_dump is not installed: backing up a PostgreSQL database needs the "
                "PostgreSQL client tools of the server's major version."
            ),
        )
        kind = "postgresql"
    # After the database (see the module's docstring).
    copied = 0
    if settings.media_backend == "local":
        media = {"backend": "local", "included": True}
        for source in files_in(settings.media_path):
            target_file = path / MEDIA_FOLDER / source.relative_to(settings.media_path)
            target_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target_file)
            copied += 1
    else:
        media = {
            "backend": "s3",
            "included": False,
            "bucket": settings.s3_bucket,
            "endpoint_url": settings.s3_endpoint_url,
        }
    manifest = {
        "format": FORMAT,
        "eyeball_version": _version(),
        "alembic_revision": revision,
        "database": kind,
        "created_at": taken.isoformat(timespec="seconds"),
        "media": {**media, "files": copied},
    }
    # Written last: a folder with a manifest is a complete backup.
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return Outcome(manifest, copied)


def _version() -> str:
    try:
        return version("eyeball")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(
            _(
                "%(path)s holds no %(manifest)s: it is not a backup, or an unfinished one.",
                path=str(path),
                manifest=MANIFEST,
            )
        ) from None
    except ValueError:
        raise BackupError(_("%(path)s is damaged (not JSON).", path=str(path / MANIFEST))) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(
            _("%(path)s is not a backup this Eyeball can read.", path=str(path / MANIFEST))
        )
    return manifest


def _revision_and_tables(settings: Settings) -> tuple[str | None, list[str]]:
    database = Database.from_url(settings.database_url)
    try:
        return schema.current_revision(database.engine), inspect(database.engine).get_table_names()
    except OperationalError as exc:
        raise BackupError(
            _("The database cannot be reached: %(reason)s", reason=str(exc.orig))
        ) from None
    finally:
        database.dispose()


def _refuse_unless_empty(settings: Settings) -> None:
    _revision, tables = _revision_and_tables(settings)
    if tables:
        raise BackupError(
            _("The database is not empty (it has tables): restore into a new, empty database.")
        )
    stored = next(files_in(settings.media_path), None)
    if stored is not None:
        raise BackupError(
            _(
                "The media folder %(path)s holds files already: restore into an empty one.",
                path=str(settings.media_path),
            )
        )


def restore(settings: Settings, path: Path) -> Outcome:
    manifest = read_manifest(path)
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest["database"] != kind:
        raise BackupError(
            _(
                "This is a backup of a %(backed_up)s database; the configured "
                "database is %(configured)s. Restore it into the same kind.",
                backed_up=manifest["database"],
                configured=kind,
            )
        )
    settings.ensure_dirs()
    _refuse_unless_empty(settings)
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        target = _sqlite_file(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(path / SQLITE_FILE, target)
    else:
        target_url, env = _libpq(url)
        _run(
            [
                "pg_restore",
                "--exit-on-error",
                "--single-transaction",
                # The restoring role owns what it creates; the original's roles may not exist.
                "--no-owner",
                "--no-privileges",
                "--dbname",
                target_url,
                str(path / POSTGRES_FILE),
            ],
            env,
            _(
                "pg_restore is not installed: restoring a PostgreSQL database needs the "
                "PostgreSQL client tools of the server's major version."
            ),
        )
    store = media_store(settings)
    media = path / MEDIA_FOLDER
    restored = 0
    # Into whichever store is configured now: a local backup may move into a bucket.
    for source in files_in(media):
        store.write(source.relative_to(media).as_posix(), source.read_bytes())
        restored += 1
    return Outcome(manifest, restored)
