"""What an import did, or why it imported nothing (a manifest, or pushed predictions)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ImportSummaryOut(BaseModel):
    """What an import did. `error_rate` is null when the evaluated count is unknown."""

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
