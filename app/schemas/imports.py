"""What an import did, or why it imported nothing (a manifest, or pushed predictions)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class PhaseOut(BaseModel):
    """One phase of an import, as its progress reported it: `reading` (the manifest's
    rows, each checked), `checking_images` (verified, thumbnailed, staged), `saving`
    (images placed and rows written), with how many items it went through."""

    phase: str
    items: int
    seconds: float


class ImportSummaryOut(BaseModel):
    """What an import did. `error_rate` is null when the evaluated count is unknown.
    `phases` are the import's progress, the same the import page and the command line
    show while it runs; empty when the same upload was answered without reading it."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run": "resnet50-v2",
                "rows": 1000,
                "samples_created": 1000,
                "samples_updated": 0,
                "predictions_created": 1000,
                "errors": 114,
                "evaluated": 1000,
                "error_rate": 0.114,
                "queued_for_review": 100,
                "seed": 7,
                "phases": [
                    {"phase": "reading", "items": 1000, "seconds": 0.052},
                    {"phase": "checking_images", "items": 1000, "seconds": 1.31},
                    {"phase": "saving", "items": 1000, "seconds": 0.094},
                ],
            }
        }
    )

    run: str
    rows: int
    samples_created: int
    samples_updated: int
    predictions_created: int
    errors: int
    evaluated: int | None
    error_rate: float | None
    queued_for_review: int
    seed: int | None
    phases: list[PhaseOut] = []


class ProblemOut(BaseModel):
    line: int | None
    column: str | None
    message: str


class RefusedImportOut(BaseModel):
    """Nothing was imported. `problems` lists every reason: `line` is the manifest's
    line, or for pushed predictions the sample's position in `samples`, from 1 (null:
    the request as a whole). A request that is not in the documented shape at all gets
    only a `detail`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "detail": "Nothing was imported: 2 problems to fix first.",
                "problems": [
                    {"line": 2, "column": "confidence", "message": "2 is outside 0..1"},
                    {
                        "line": 4,
                        "column": "image_base64",
                        "message": "not valid base64 text of an image file",
                    },
                ],
            }
        }
    )

    detail: str
    problems: list[ProblemOut] | None = None


def _optional_integer(description: str) -> dict[str, Any]:
    return {
        "anyOf": [{"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, {"type": "null"}],
        "description": description,
    }


# The import's multipart body, written out: the route reads the form itself, after the
# caller's token is checked, so FastAPI has no File() parameters to document it from.
IMPORT_FORM: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "title": "ImportForm",
                "type": "object",
                "required": ["manifest"],
                "properties": {
                    "manifest": {
                        "type": "string",
                        "format": "binary",
                        "description": "CSV or JSONL manifest",
                    },
                    "images": {
                        "type": "string",
                        "format": "binary",
                        "description": "Zip of the images (image projects)",
                    },
                    "run": {
                        "type": "string",
                        "default": "",
                        "description": "Run name; default: the manifest's file name",
                        "example": "resnet50-v2",
                    },
                    "evaluated": _optional_integer(
                        "Samples evaluated, when only errors are listed"
                    ),
                    "sample_errors": _optional_integer(
                        "Review a random sample of this many errors"
                    ),
                    "seed": _optional_integer("Seed of that sample"),
                },
            }
        }
    },
}
