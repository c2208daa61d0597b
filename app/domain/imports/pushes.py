"""Predictions pushed from memory (a notebook's DataFrame) instead of a manifest file.

The samples are written out as the lines of a JSONL manifest, and the images as an
in-memory image source, then go through the file import's own pipeline
(`run_import`): one set of rules, so the two ways in cannot drift apart. Problems are
numbered by the sample's position, from 1, which is also the line it takes in that
manifest.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db import Database
from app.domain.errors import NotFound
from app.domain.imports.manifests import KNOWN_COLUMNS, MEDIA_COLUMN, Limits, Problem
from app.domain.imports.pipeline import (
    ImportOptions,
    ImportRefused,
    ImportSummary,
    Upload,
    run_import,
)
from app.domain.imports.store import MediaStore
from app.domain.projects.runs import LATEST, resolve_run
from app.models import Project, SampleKind

MANIFEST_NAME = "pushed.jsonl"
# Fields of a pushed sample that hold its media, by the kind of project that takes them.
MEDIA_FIELD = {
    SampleKind.IMAGE: "image_base64",
    SampleKind.TEXT: "text",
    SampleKind.RECORD: "record",
}
KIND_NAME = {SampleKind.IMAGE: "an image", SampleKind.TEXT: "a text", SampleKind.RECORD: "a record"}
SAMPLE_FIELDS = frozenset({*KNOWN_COLUMNS, *MEDIA_FIELD.values(), "metadata"})
# Metadata may not reuse a manifest column's name: it would be read as that column.
RESERVED_METADATA = frozenset({*KNOWN_COLUMNS, *MEDIA_COLUMN.values()})
# A body is held in memory (a zip is streamed to disk), so it gets a ceiling of its
# own below the images-zip limit; larger sets are pushed in batches into one run.
MAX_BODY_BYTES = 256 * 1024**2


def body_limit(max_zip_bytes: int) -> int:
    return min(max_zip_bytes, MAX_BODY_BYTES)


class InlineMedia:
    """Images sent inside the request, by the name their manifest line refers to."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def add(self, name: str, data: bytes) -> None:
        self._files[name] = data

    def problems(self) -> list[Problem]:
        return []

    def digest(self) -> str | None:
        return None

    def read(self, name: str) -> bytes | None:
        return self._files.get(name)


@dataclass
class _Translation:
    """A pushed request as a manifest, and what only the pushed form can get wrong."""

    lines: list[str]
    media: InlineMedia | None
    problems: list[Problem]
    image_names: dict[str, int]  # generated image name -> the sample's position
    image_problem_at: set[int]  # positions whose image_base64 is already reported


def _image_name(position: int) -> str:
    return f"sample-{position}"


def _decode(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        # validate=True: stray characters are refused rather than skipped in silence.
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _translate(samples: list[dict[str, Any]], kind: SampleKind) -> _Translation:
    media = InlineMedia() if kind is SampleKind.IMAGE else None
    out = _Translation([], media, [], {}, set())
    own_field = MEDIA_FIELD[kind]
    for position, sample in enumerate(samples, start=1):
        line: dict[str, Any] = {}
        extra = {k: v for k, v in sample.items() if k not in SAMPLE_FIELDS}
        metadata = sample.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            out.problems.append(
                Problem(position, "metadata", "give an object of extra fields, or leave it out")
            )
            metadata = None
        # Fields the model does not name are metadata, as a manifest's extra columns are,
        # so `df.to_dict("records")` can be sent as it is.
        for key, value in {**extra, **(metadata or {})}.items():
            if key in RESERVED_METADATA:
                out.problems.append(
                    Problem(
                        position,
                        "metadata",
                        f"{key!r} is not metadata: "
                        + (
                            f"send the sample's media as {own_field}"
                            if key in MEDIA_COLUMN.values()
                            else f"give it as the sample's {key!r} field"
                        ),
                    )
                )
            else:
                line[key] = value
        for column in KNOWN_COLUMNS:
            line[column] = sample.get(column)
        for other_kind, field in MEDIA_FIELD.items():
            if other_kind is not kind and sample.get(field) is not None:
                out.problems.append(
                    Problem(
                        position,
                        field,
                        f"this is {KIND_NAME[kind]} project: send the sample's {own_field}, "
                        f"not {field}",
                    )
                )
        if kind is SampleKind.IMAGE:
            assert media is not None
            name = _image_name(position)
            out.image_names[name] = position
            line["image"] = name
            encoded = sample.get("image_base64")
            if encoded is None or encoded == "":
                out.problems.append(
                    Problem(position, "image_base64", "the image is missing (base64 of its file)")
                )
                out.image_problem_at.add(position)
            else:
                data = _decode(encoded)
                if data is None:
                    out.problems.append(
                        Problem(position, "image_base64", "not valid base64 text of an image file")
                    )
                    out.image_problem_at.add(position)
                else:
                    media.add(name, data)
        else:
            line[MEDIA_COLUMN[kind]] = sample.get(own_field)
        out.lines.append(json.dumps(line))
    return out


def _pushed_problem(problem: Problem, translation: _Translation) -> Problem | None:
    """A manifest's problem in the pushed request's terms; None when reported already."""
    if problem.column != "image":
        return problem
    if problem.line in translation.image_problem_at:
        return None
    message = problem.message
    for name in translation.image_names:
        message = message.removeprefix(f"{name!r}: ")
    return Problem(problem.line, "image_base64", message)


def run_to_push(session: Session, project: Project, run: str) -> str:
    """The run a push goes to: a new or existing name, or `latest` (the newest run)."""
    if run != LATEST:
        return run
    try:
        return resolve_run(session, project, LATEST).name
    except NotFound:
        raise NotFound("The project has no runs yet: name the new run instead.") from None


def push_predictions(
    database: Database,
    project_id: int,
    samples: list[dict[str, Any]],
    options: ImportOptions,
    store: MediaStore,
    *,
    limits: Limits = Limits(),
) -> ImportSummary:
    """Check every sample like a manifest line, then import all of them or none."""
    if not samples:
        raise ImportRefused([Problem(None, "samples", "send at least one sample")])
    if len(samples) > limits.max_entries:
        raise ImportRefused(
            [
                Problem(
                    None,
                    "samples",
                    f"{len(samples):,} samples, over the limit of {limits.max_entries:,} "
                    "per request: push them in batches into the same run",
                )
            ]
        )
    with database.transaction(read_only=True) as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound("No such project.")
        kind = project.kind
    translation = _translate(samples, kind)
    manifest = ("\n".join(translation.lines) + "\n").encode()

    def in_push_terms(problems: list[Problem]) -> list[Problem]:
        translated = (_pushed_problem(p, translation) for p in problems)
        return sorted(
            [*translation.problems, *(p for p in translated if p is not None)],
            key=lambda p: (p.line or 0, p.column or ""),
        )

    return run_import(
        database,
        project_id,
        Upload(io.BytesIO(manifest), MANIFEST_NAME, translation.media),
        options,
        store,
        limits=limits,
        problems_of=in_push_terms,
    )
