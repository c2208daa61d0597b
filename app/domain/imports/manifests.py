"""Reading an import: the manifest (CSV or JSONL) and its images (a zip or a folder).

Nothing here touches the database: `read_manifest` turns the files into checked
rows and a list of problems, and stages the images in a folder of the caller's
choosing. `app.domain.imports` then decides what the rows mean for the project.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from app.config import Settings
from app.domain.imports.media import (
    DEFAULT_MAX_PIXELS,
    PARALLEL_FROM,
    KnownImages,
    StagedImage,
    archive_images,
    known_keys,
    stage_images,
    stage_known,
)
from app.domain.imports.progress import READ_REPORT_EVERY, Phase, Progress
from app.domain.imports.store import MediaStore
from app.domain.inputs import (
    JsonRefused,
    has_text_problem,
    json_problem,
    json_texts,
    load_json,
    parse_json,
    text_problem,
)
from app.i18n import format_number
from app.i18n import gettext as _
from app.models import SampleKind

REQUIRED_COLUMNS = ("id", "label", "prediction")
MEDIA_COLUMN = {SampleKind.IMAGE: "image", SampleKind.TEXT: "text", SampleKind.RECORD: "record"}
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "confidence", "probs")
MAX_TEXT_LENGTH = 255  # ids and labels: the columns' size in the schema
# Probabilities written by notebooks are rounded; 1% slack accepts 4-decimal rounding of
# a thousand classes while still catching logits or percentages passed by mistake.
PROBS_TOLERANCE = 0.01
DEFAULT_MAX_ZIP_ENTRIES = 100_000
DEFAULT_MAX_ZIP_BYTES = 4 * 1024**3
DEFAULT_MAX_ENTRY_BYTES = 256 * 1024**2
DEFAULT_MAX_ROWS = 200_000
DEFAULT_MAX_LINE_CHARS = 1_000_000
# Python's CSV reader refuses a longer field by itself (csv.field_size_limit).
MOST_FIELD_CHARS = 131_072
DEFAULT_MAX_FIELD_CHARS = 100_000
_INFLATE_CHUNK = 1 << 20
PREVIEW_ROWS = 10
# Longer runs of digits stay text (an id, say): a number has at most 18 digits.
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_LONG_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|-?\.[0-9]+([eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input. `line` is the manifest line (None: the file as a whole)."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class Limits:
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    max_entries: int = DEFAULT_MAX_ZIP_ENTRIES
    max_bytes: int = DEFAULT_MAX_ZIP_BYTES
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_image_pixels=settings.max_image_pixels,
            max_entries=settings.max_zip_entries,
            max_bytes=settings.max_zip_bytes,
            max_entry_bytes=settings.max_zip_entry_bytes,
            max_rows=settings.max_manifest_rows,
            max_line_chars=settings.max_manifest_line_chars,
            max_field_chars=settings.max_manifest_field_chars,
        )


class MediaRefused(ValueError):
    """An image file that cannot be read as given (too large once inflated, encrypted,
    damaged); the message says why, for the manifest line that names it."""


@dataclass(slots=True)  # a large import holds one per row
class ManifestRow:
    line: int
    external_id: str
    label: str
    prediction: str
    confidence: float | None = None
    probs: dict[str, float] | None = None
    image_path: str | None = None
    image: StagedImage | None = None
    text: str | None = None
    record: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # as read; the first rows only

    @property
    def is_error(self) -> bool:
        return self.label != self.prediction


@dataclass
class Manifest:
    format: str  # "csv" or "jsonl"
    columns: list[str]
    rows: list[ManifestRow]
    problems: list[Problem]
    media_digest: str | None = None  # the images' archive's (`MediaSource.digest`)

    @property
    def errors(self) -> int:
        return sum(row.is_error for row in self.rows)

    @property
    def lists_correct_samples(self) -> bool:
        return any(not row.is_error for row in self.rows)

    def column_roles(self, kind: SampleKind) -> list[tuple[str, str]]:
        media = MEDIA_COLUMN[kind]
        return [
            (name, name if name in KNOWN_COLUMNS or name == media else "metadata")
            for name in self.columns
        ]


# --- images: where the manifest's `image` paths are looked up --------------------------


class MediaSource(Protocol):
    def problems(self) -> list[Problem]: ...

    def digest(self) -> str | None:
        """The sha-256 of the images as uploaded, when they come as one file (a zip):
        a re-import of the same file then reads none of its images."""

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when there is no such file; `MediaRefused` when it
        cannot be read as given (over a limit once inflated, encrypted, damaged)."""


# Parts that start with a letter, digit or "_", joined by single slashes: a path in
# canonical form already (no "." or ".." part, nothing absolute), as most are.
_PLAIN_PATH = re.compile(r"[\w-][\w.-]*(?:/[\w-][\w.-]*)*", re.ASCII)


def safe_relative_path(name: str) -> str | None:
    """The path in canonical form, or None if it could point outside its folder."""
    if _PLAIN_PATH.fullmatch(name):
        return name
    if not name or "\\" in name or "\x00" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in path.parts if p != "."]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _single_top_folder(names: list[str]) -> str | None:
    """Zips made by "compress this folder" put everything under one folder: allow for it."""
    tops = {name.split("/", 1)[0] for name in names if "/" in name}
    if len(tops) == 1 and all("/" in name for name in names):
        return tops.pop() + "/"
    return None


class ZipMedia:
    """Images read one entry at a time from a zip; nothing is extracted by name."""

    def __init__(self, file: str | Path | IO[bytes], limits: Limits) -> None:
        self._file = file
        self._limits = limits
        self._inflated = 0  # bytes inflated so far, against `max_bytes`
        self._problems: list[Problem] = []
        self._entries: dict[str, zipfile.ZipInfo] = {}
        self._prefix: str | None = None
        self._digest: str | None = None
        self._zip: zipfile.ZipFile | None = None
        # The directory is read when first needed: an import known to change nothing
        # (the same upload again) needs only the file's sha-256, and reading 10,000
        # entries and checking their names was a fifth of its time.
        self._opened = False

    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        file, limits = self._file, self._limits
        try:
            self._zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, EOFError):
            self._zip = None
            self._problems.append(
                Problem(None, "images", _("the images file is not a zip archive"))
            )
            return
        infos = self._zip.infolist()
        if len(infos) > limits.max_entries:
            self._refuse(
                _(
                    "the zip holds %(count)s entries, over the limit of %(most)s",
                    count=format_number(len(infos)),
                    most=format_number(limits.max_entries),
                )
            )
            return
        total = sum(info.file_size for info in infos)
        if total > limits.max_bytes:
            self._refuse(
                _(
                    "the zip unpacks to %(size)s bytes, over the limit of %(most)s",
                    size=format_number(total),
                    most=format_number(limits.max_bytes),
                )
            )
            return
        for info in infos:
            if info.is_dir():
                continue
            name = safe_relative_path(info.filename)
            if name is None:
                self._refuse(
                    _(
                        "zip entry %(name)s points outside the archive's folder",
                        name=repr(info.filename),
                    )
                )
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                self._refuse(
                    _(
                        "zip entry %(name)s is a link; links are not accepted",
                        name=repr(info.filename),
                    )
                )
                continue
            if name in self._entries:
                # Which one would win is the zip tool's accident: neither is taken.
                self._refuse(
                    _("the zip holds %(name)s twice; give each file one name", name=repr(name))
                )
                continue
            self._entries[name] = info
        self._prefix = _single_top_folder(list(self._entries))

    def _refuse(self, message: str) -> None:
        self._problems.append(Problem(None, "images", message))

    def problems(self) -> list[Problem]:
        self._open()
        return list(self._problems)

    def digest(self) -> str | None:
        # Of the bytes as sent, whatever they hold: a zip with problems is refused
        # before anything is looked up by its digest.
        if self._digest is None:  # asked twice by an import: its fingerprint, its check
            if isinstance(self._file, str | Path):
                with open(self._file, "rb") as f:
                    self._digest = _sha256_of(f)
            else:
                # The zip reader seeks to each entry itself, so the position can be moved.
                self._file.seek(0)
                self._digest = _sha256_of(self._file)
        return self._digest

    def read(self, name: str) -> bytes | None:
        self._open()
        if self._zip is None or self._problems:
            return None
        info = self._entries.get(name)
        if info is None and self._prefix is not None:
            info = self._entries.get(self._prefix + name)
        if info is None:
            return None
        # The sizes in a zip's headers are the sender's word: the limits are counted on
        # what actually inflates, a chunk at a time, so a lying entry stops at the limit.
        limit = min(self._limits.max_entry_bytes, self._limits.max_bytes - self._inflated)
        chunks: list[bytes] = []
        size = 0
        try:
            with self._zip.open(info) as entry:
                while chunk := entry.read(_INFLATE_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise MediaRefused(_too_large(size, self._limits))
                    chunks.append(chunk)
        except RuntimeError as exc:  # zipfile's word for an encrypted entry
            raise MediaRefused(_("the zip entry is encrypted; send it without a password")) from exc
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise MediaRefused(
                _("the zip entry is damaged or cannot be unpacked (%(why)s)", why=exc)
            ) from exc
        finally:
            self._inflated += size
        return b"".join(chunks)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _too_large(size: int, limits: Limits) -> str:
    return _(
        "unpacks to more than %(size)s bytes, over the limit of %(most)s per file or "
        "%(total)s for the whole zip",
        size=format_number(min(size, limits.max_entry_bytes)),
        most=format_number(limits.max_entry_bytes),
        total=format_number(limits.max_bytes),
    )


def _sha256_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


class FolderMedia:
    """Images in a folder on this machine (the CLI, or an uploaded folder)."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self._root = root.resolve()
        self._limits = limits
        self._problems: list[Problem] = []
        if not self._root.is_dir():
            self._problems.append(
                Problem(None, "images", _("%(folder)s is not a folder", folder=root))
            )

    def problems(self) -> list[Problem]:
        return list(self._problems)

    def digest(self) -> str | None:
        return None  # a folder's files may change under the same names

    def read(self, name: str) -> bytes | None:
        if self._problems:
            return None
        path = self._root / name
        # No links: a link could reach any file the server can read.
        if path.is_symlink() or not path.is_file():
            return None
        if not path.resolve().is_relative_to(self._root):
            return None
        if path.stat().st_size > min(self._limits.max_bytes, self._limits.max_entry_bytes):
            raise MediaRefused(_too_large(path.stat().st_size, self._limits))
        return path.read_bytes()


# --- the manifest ----------------------------------------------------------------------


def _detect_format(filename: str, head: bytes) -> str:
    lower = filename.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def _csv_value(value: str) -> Any:
    """Numbers stay numbers; other text stays text; an empty cell is no value."""
    return _short_csv_value(value) if len(value) <= _SHORT_CELL else _converted(value)


# Metadata columns repeat a few short values down thousands of rows (a source, a split,
# a camera): each is converted once. Only short ones are kept (at most 4096 × 64
# characters); the answers are immutable (a number, or the text itself).
_SHORT_CELL = 64


@functools.lru_cache(maxsize=4096)
def _short_csv_value(value: str) -> Any:
    return _converted(value)


def _converted(value: str) -> Any:
    text = value.strip()
    if text == "":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _LONG_INT.fullmatch(text):
        return value  # a serial number, say: as a float it would lose its digits
    if _FLOAT.fullmatch(text):
        number = float(text)
        if math.isfinite(number):
            return number
    return value


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _lines(text: IO[str], most: int) -> Iterator[str]:
    """The manifest's lines, none held longer than `most` characters: a longer one
    stops the reading (`_LineTooLong`) before it is read whole."""
    number = 0
    while line := text.readline(most + 1):
        number += 1
        if len(line.rstrip("\r\n")) > most:
            raise _LineTooLong(number)
        yield line


def _records(
    stream: IO[bytes], fmt: str, problems: list[Problem], limits: Limits
) -> Iterator[tuple[int, dict[str, Any]]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    lines = _lines(text, limits.max_line_chars)
    try:
        if fmt == "jsonl":
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    value = parse_json(line)
                except JsonRefused as exc:
                    problems.append(Problem(number, None, str(exc)))
                    continue
                if not isinstance(value, dict):
                    problems.append(Problem(number, None, _("each line must be a JSON object")))
                    continue
                yield number, value
            return
        # strict: a quote that is never closed is an error, not a field that swallows
        # every line after it.
        reader = csv.reader(lines, strict=True)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            problems.append(
                Problem(1, None, _("repeated column names: %(names)s", names=", ".join(duplicates)))
            )
            return
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                problems.append(Problem(start, None, _csv_problem(exc, start)))
                continue
            if not "".join(cells).strip():  # a blank line (a generator per row costs more)
                continue
            if len(cells) != len(header):
                problems.append(
                    Problem(
                        reader.line_num,
                        None,
                        _(
                            "%(cells)s cells where the header has %(columns)s columns",
                            cells=len(cells),
                            columns=len(header),
                        ),
                    )
                )
                continue
            yield reader.line_num, dict(zip(header, cells, strict=True))
    except _LineTooLong as exc:
        problems.append(
            Problem(
                exc.line,
                None,
                _(
                    "the line is longer than %(most)s characters; nothing after it was read",
                    most=format_number(limits.max_line_chars),
                ),
            )
        )
    except UnicodeDecodeError:
        problems.append(Problem(None, None, _("the manifest is not UTF-8 text")))
    except csv.Error as exc:
        problems.append(Problem(None, None, _("the CSV cannot be read (%(why)s)", why=exc)))
    finally:
        text.detach()


def _csv_problem(exc: csv.Error, start: int) -> str:
    if "unexpected end of data" in str(exc):
        return _(
            "a quote opened on line %(line)s is never closed (it would take in every line "
            "after it)",
            line=start,
        )
    if "field larger than field limit" in str(exc):
        return _("a field is longer than %(most)s characters", most=format_number(MOST_FIELD_CHARS))
    return _("the CSV cannot be read (%(why)s)", why=exc)


@functools.lru_cache(maxsize=1024)
def _column_name_problem(column: str) -> str | None:
    # Every row of a manifest repeats the same few column names: each is checked once.
    return text_problem(str(column))


def _plain_text_cells(values: dict[str, Any], limits: Limits) -> bool:
    """Whether every column name and cell passes the input rule and the length limit:
    the names and text cells in one search over them joined rather than one a cell (a
    fifth of a text import's row check), other JSON values by `json_texts` (half of a
    JSONL row's check was walking them with their paths). Only a row that fails is
    looked at cell by cell, to say what is wrong where."""
    cells = list(values.values())
    try:
        joined = "".join([*values, *cells])
    except TypeError:  # not all text (a JSONL row)
        texts = list(map(str, values))
        strings = []
        for cell in cells:
            if isinstance(cell, str):
                strings.append(cell)
            elif not json_texts(cell, texts):
                return False
        cells, joined = strings, "".join([*texts, *strings])
    return max(map(len, cells), default=0) <= limits.max_field_chars and not has_text_problem(
        joined
    )


def _field_problems(line: int, values: dict[str, Any], limits: Limits) -> list[Problem]:
    """The shared input rule (`app.domain.inputs`) and the field length, by column."""
    if _plain_text_cells(values, limits):
        return []
    problems = []
    for column, value in values.items():
        key_problem = _column_name_problem(column)
        if key_problem is not None:
            problems.append(
                Problem(line, None, _("a column name %(problem)s", problem=key_problem))
            )
            continue
        if isinstance(value, str) and len(value) > limits.max_field_chars:
            problems.append(
                Problem(
                    line,
                    column,
                    _(
                        "longer than %(most)s characters",
                        most=format_number(limits.max_field_chars),
                    ),
                )
            )
            continue
        found = json_problem(value)
        if found is not None:
            where, what = found
            problems.append(Problem(line, column, f"{where}: {what}" if where else what))
    return problems


def _text(value: Any) -> str:
    if type(value) is str:  # every CSV cell: no further test
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class _RowChecker:
    def __init__(self, kind: SampleKind, labels: list[str], fmt: str) -> None:
        self.kind = kind
        self.labels = labels
        self.vocabulary = set(labels)
        self.fmt = fmt
        self.problems: list[Problem] = []
        self.media_column = MEDIA_COLUMN[kind]
        self.not_meta = frozenset((*KNOWN_COLUMNS, self.media_column))

    def _problem(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(line, column, message))

    def _label(self, line: int, column: str, value: Any) -> str:
        text = _text(value)
        if not text:
            self._problem(line, column, _("the %(column)s is missing", column=column))
        elif len(text) > MAX_TEXT_LENGTH:
            self._problem(line, column, _("longer than %(most)s characters", most=MAX_TEXT_LENGTH))
        elif self.vocabulary and column != "id" and text not in self.vocabulary:
            self._problem(
                line,
                column,
                _(
                    "%(label)s is not one of the project's labels (%(labels)s)",
                    label=repr(text),
                    labels=_listed(self.labels),
                ),
            )
        return text

    def _confidence(self, line: int, value: Any) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        number = _number(value)
        if number is None or not math.isfinite(number):
            self._problem(line, "confidence", _("%(value)s is not a number", value=repr(value)))
            return None
        if not 0 <= number <= 1:
            self._problem(
                line, "confidence", _("%(value)s is outside 0..1", value=format(number, "g"))
            )
            return None
        return number

    def _probs(self, line: int, value: Any) -> dict[str, float] | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            try:
                value = load_json(value)
            except JsonRefused as exc:
                why = _("not valid JSON") if exc.syntax else str(exc)
                self._problem(
                    line, "probs", _("%(why)s (give an object label→probability)", why=why)
                )
                return None
        if isinstance(value, list):
            if not self.labels:
                self._problem(
                    line,
                    "probs",
                    _(
                        "a list needs the project's labels to be set; give an object "
                        "label→probability"
                    ),
                )
                return None
            if len(value) != len(self.labels):
                self._problem(
                    line,
                    "probs",
                    _(
                        "%(count)s probabilities for the project's %(labels)s labels",
                        count=len(value),
                        labels=len(self.labels),
                    ),
                )
                return None
            value = dict(zip(self.labels, value, strict=True))
        if not isinstance(value, dict) or not value:
            self._problem(line, "probs", _("give an object label→probability, or a list"))
            return None
        probs: dict[str, float] = {}
        for key, raw in value.items():
            number = _number(raw) if not isinstance(raw, str) else None
            if number is None or not math.isfinite(number) or not 0 <= number <= 1:
                self._problem(
                    line,
                    "probs",
                    _("the probability of %(label)s is not a number in 0..1", label=repr(key)),
                )
                return None
            if self.vocabulary and str(key) not in self.vocabulary:
                self._problem(
                    line,
                    "probs",
                    _("%(label)s is not one of the project's labels", label=repr(key)),
                )
                return None
            probs[str(key)] = number
        total = sum(probs.values())
        if abs(total - 1) > PROBS_TOLERANCE:
            self._problem(
                line,
                "probs",
                _("the probabilities add up to %(total)s, not 1", total=format(total, ".4g")),
            )
            return None
        return probs

    def _record(self, line: int, value: Any) -> dict[str, Any] | None:
        if isinstance(value, str) and value.strip():
            try:
                value = load_json(value)
            except JsonRefused as exc:
                self._problem(line, "record", _("not valid JSON") if exc.syntax else str(exc))
                return None
        if not isinstance(value, dict):
            self._problem(line, "record", _("the record is missing (give a JSON object)"))
            return None
        return value

    def row(self, line: int, values: dict[str, Any]) -> ManifestRow:
        media_column = self.media_column
        row = ManifestRow(
            line=line,
            external_id=self._label(line, "id", values.get("id")),
            label=self._label(line, "label", values.get("label")),
            prediction=self._label(line, "prediction", values.get("prediction")),
            confidence=self._confidence(line, values.get("confidence")),
            probs=self._probs(line, values.get("probs")),
            raw=values,
        )
        media = values.get(media_column)
        if self.kind is SampleKind.IMAGE:
            path = safe_relative_path(_text(media))
            if not _text(media):
                self._problem(line, "image", _("the image path is missing"))
            elif path is None:
                self._problem(
                    line,
                    "image",
                    _("%(path)s must be a path inside the images folder", path=repr(media)),
                )
            row.image_path = path
        elif self.kind is SampleKind.TEXT:
            if media is None or not str(media).strip():
                self._problem(line, "text", _("the text is missing"))
            row.text = None if media is None else str(media)
        else:
            row.record = self._record(line, media)
        not_meta, meta = self.not_meta, row.meta
        for name, value in values.items():
            if name not in not_meta:
                meta[name] = _csv_value(value) if isinstance(value, str) else value
        return row


def _listed(labels: list[str], most: int = 12) -> str:
    shown = ", ".join(labels[:most])
    return shown + (", …" if len(labels) > most else "")


def read_manifest(
    stream: IO[bytes],
    filename: str,
    *,
    kind: SampleKind,
    labels: list[str],
    media: MediaSource | None,
    staging_dir: Path,
    store: MediaStore | None = None,
    limits: Limits = Limits(),
    progress: Progress | None = None,
    known: KnownImages | None = None,
) -> Manifest:
    """Every row checked and every image verified and staged; problems listed, none raised.

    `known` says which images the media store holds already: those are not decoded again.
    """
    head = stream.read(64)
    stream.seek(0)
    fmt = _detect_format(filename, head)
    problems: list[Problem] = []
    checker = _RowChecker(kind, labels, fmt)
    rows: list[ManifestRow] = []
    columns: dict[str, None] = {}
    first_line: dict[str, int] = {}
    seen = 0  # rows read, refused ones included: the limit bounds the problems too
    for line, values in _records(stream, fmt, problems, limits):
        seen += 1
        if progress is not None and seen % READ_REPORT_EVERY == 0:
            progress(Phase.READING, seen, 0)
        if seen > limits.max_rows:
            # Stop reading: every row is held until the import is written.
            problems.append(
                Problem(
                    line,
                    None,
                    _(
                        "the manifest has more than %(most)s rows; import it in several parts "
                        "into the same run",
                        most=format_number(limits.max_rows),
                    ),
                )
            )
            break
        refused = _field_problems(line, values, limits)
        if refused:
            # Such a row is not read further: no part of it may reach the database.
            problems.extend(refused)
            continue
        if not columns.keys() >= values.keys():  # a CSV's rows all have its header's
            for name in values:
                columns.setdefault(name, None)
        row = checker.row(line, values)
        if len(rows) >= PREVIEW_ROWS:
            row.raw = {}  # only the preview shows the values as read
        if row.external_id:
            if row.external_id in first_line:
                checker.problems.append(
                    Problem(
                        line,
                        "id",
                        _(
                            "the id %(id)s is repeated (first on line %(line)s)",
                            id=repr(row.external_id),
                            line=first_line[row.external_id],
                        ),
                    )
                )
            else:
                first_line[row.external_id] = line
        rows.append(row)

    if progress is not None:
        progress(Phase.READING, seen, seen)
    media_column = MEDIA_COLUMN[kind]
    missing = [c for c in (*REQUIRED_COLUMNS, media_column) if c not in columns]
    if rows and missing:
        # One clear message rather than the same one on every line.
        problems.append(
            Problem(1, None, _("missing columns: %(columns)s", columns=", ".join(missing)))
        )
        checker.problems = [p for p in checker.problems if p.column not in missing]
    if not rows and not problems:
        problems.append(Problem(None, None, _("the manifest has no rows")))
    problems.extend(checker.problems)

    digest = None
    if kind is SampleKind.IMAGE and rows and "image" in columns:
        digest = media.digest() if media is not None else None
        problems.extend(
            _stage_images(rows, media, staging_dir, store, limits, progress, known, digest)
        )
    problems.sort(key=lambda p: (p.line or 0, p.column or ""))
    return Manifest(
        format=fmt,
        columns=list(columns),
        rows=rows,
        problems=problems,
        media_digest=digest,
    )


def _stage_images(
    rows: list[ManifestRow],
    media: MediaSource | None,
    staging_dir: Path,
    store: MediaStore | None,
    limits: Limits,
    progress: Progress | None,
    known: KnownImages | None,
    digest: str | None,
) -> list[Problem]:
    if media is None:
        needed = _("this is an image project: add the images (zip or folder)")
        return [Problem(None, "images", needed)]
    problems = media.problems()
    if problems:
        return problems
    first_line: dict[str, int] = {}
    for row in rows:
        if row.image_path is not None:
            first_line.setdefault(row.image_path, row.line)
    paths = list(first_line)
    staged: dict[str, StagedImage | None] = {}
    total = len(paths)

    def report() -> None:
        if progress is not None and (len(staged) % 50 == 0 or len(staged) == total):
            progress(Phase.CHECKING_IMAGES, len(staged), total)

    # An archive imported before: its images' digests are known without reading them.
    recorded = archive_images(store, digest) if store is not None and digest else {}

    def unknown() -> Iterator[tuple[str, bytes]]:
        """The images to decode: those the store does not hold already, looked up a
        batch at a time (a re-import of the same file decodes none, and reads none when
        it is the same archive)."""
        for start in range(0, total, _KNOWN_BATCH):
            batch: list[tuple[str, bytes | None, str]] = []
            for path in paths[start : start + _KNOWN_BATCH]:
                if path in recorded:
                    batch.append((path, None, recorded[path]))
                    continue
                try:
                    data = media.read(path)
                except MediaRefused as exc:
                    refused(path, str(exc))
                    continue
                if data is None:
                    missing(path)
                    continue
                batch.append((path, data, hashlib.sha256(data).hexdigest()))
            held = known([d for _, _, d in batch]) if known and store else {}
            # Looked up together: a bucket answers many at once faster than one by one.
            absent = (
                store.missing([k for image in held.values() for k in known_keys(image)])
                if store is not None
                else set()
            )
            for path, read, sha in batch:
                image = held.get(sha)
                done = stage_known(image, absent) if image else None
                if done is not None:
                    staged[path] = done
                    report()
                    continue
                try:
                    data = read if read is not None else media.read(path)
                except MediaRefused as exc:
                    refused(path, str(exc))
                    continue
                if data is None:
                    missing(path)
                else:
                    yield path, data

    def refused(path: str, why: str) -> None:
        problems.append(Problem(first_line[path], "image", f"{path!r}: {why}"))
        staged[path] = None
        report()

    def missing(path: str) -> None:
        problems.append(
            Problem(first_line[path], "image", _("no file %(path)s in the images", path=repr(path)))
        )
        staged[path] = None
        report()

    checked = stage_images(
        unknown(),
        staging_dir=staging_dir,
        media_dir=store.local_root if store is not None else None,
        max_pixels=limits.max_image_pixels,
        parallel=total >= PARALLEL_FROM,
    )
    for path, image in checked:
        if isinstance(image, str):
            problems.append(Problem(first_line[path], "image", f"{path!r}: {image}"))
            staged[path] = None
        else:
            staged[path] = image
        report()
    for row in rows:
        if row.image_path is not None:
            row.image = staged.get(row.image_path)
    return problems


_KNOWN_BATCH = 256  # images read and looked up in the store at a time
