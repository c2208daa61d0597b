"""A project's runs and their review progress."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.domain.review.status import RunProgress
from app.models import METRIC_FIELDS


class RunIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "resnet50-v3",
                "description": "More augmentation of night-time images",
                "evaluated": 1000,
                "metrics": {"human_error": 0.01, "training_error": 0.02, "blackbox_error": 0.09},
            }
        },
    )

    name: str
    description: str = ""
    evaluated: int | None = Field(None, description="Samples the run was evaluated on")
    metrics: dict[str, float | None] = Field(
        default_factory=dict,
        description="Error rates as fractions: " + ", ".join(METRIC_FIELDS),
    )


class RunOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 5,
                "name": "resnet50-v3",
                "description": "",
                "evaluated": 1000,
                "errors": 114,
                "in_review": 100,
                "done": 40,
                "error_rate": 0.114,
                "metrics": {"human_error": 0.01, "training_error": 0.02},
                "created_at": "2026-11-30T09:12:00Z",
                "last_import_at": "2026-11-30T09:13:05Z",
                "default": False,
            }
        }
    )

    id: int
    name: str
    description: str
    evaluated: int | None
    errors: int = Field(description="Misclassified samples imported")
    in_review: int = Field(description="Errors in the sample under review")
    done: int = Field(
        description="Errors under review that are examined: finished by as many annotators "
        "as the project's overlap asks, or settled by a lead"
    )
    error_rate: float | None
    metrics: dict[str, float | None]
    created_at: datetime
    last_import_at: datetime | None
    default: bool = Field(description="The run the project page opens on")

    @classmethod
    def of(cls, progress: RunProgress) -> RunOut:
        run = progress.run
        return cls(
            id=run.id,
            name=run.name,
            description=run.description,
            evaluated=run.evaluated,
            errors=progress.errors,
            in_review=progress.in_review,
            done=progress.done,
            error_rate=progress.error_rate,
            metrics={metric: getattr(run, metric) for metric in METRIC_FIELDS},
            created_at=run.created_at,
            last_import_at=run.last_import_at,
            default=run.is_default,
        )
