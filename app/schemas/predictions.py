"""Predictions pushed from memory (a notebook's samples, no manifest file).

What the push answers lives in `app.schemas.imports`: it is an import like any other.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SkipValidation


class PushedSampleIn(BaseModel):
    """One sample and the run's prediction for it.

    The values are checked like the cells of a manifest, with every problem numbered
    by the sample's position, so pydantic only documents their types here.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "required": ["id", "label", "prediction"],
            "example": {
                "id": "cat-001",
                "label": "cat",
                "prediction": "dog",
                "confidence": 0.81,
                "probs": {"cat": 0.19, "dog": 0.81},
                "text": "a grey cat on a sofa",
                "metadata": {"camera": "front"},
            },
        },
    )

    id: SkipValidation[str | int | None] = Field(
        None, description="Your id of the sample, unique in the project (at most 255 characters)"
    )
    label: SkipValidation[str | int | None] = Field(None, description="The ground-truth label")
    prediction: SkipValidation[str | int | None] = Field(
        None, description="The model's prediction; the sample is an error when it differs"
    )
    confidence: SkipValidation[float | None] = Field(None, description="From 0 to 1")
    probs: SkipValidation[dict[str, float] | list[float] | None] = Field(
        None,
        description="Label → probability, or a list in the order of the project's labels; "
        "adds up to 1",
    )
    text: SkipValidation[str | None] = Field(None, description="Text projects: the text")
    record: SkipValidation[dict[str, Any] | None] = Field(
        None, description="Record projects: the record"
    )
    image_base64: SkipValidation[str | None] = Field(
        None, description="Image projects: the image file (PNG, JPEG, ...) in base64"
    )
    metadata: SkipValidation[dict[str, Any] | None] = Field(
        None,
        description="Kept with the sample and offered as a filter; any field not named "
        "here is kept as metadata too",
    )

    def fields(self) -> dict[str, Any]:
        """The fields as sent (extra ones included), without serialising unchecked values."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        return {**(self.model_extra or {}), **sent}


class PredictionsIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "evaluated": 1000,
                "samples": [
                    {
                        "id": "cat-001",
                        "label": "cat",
                        "prediction": "dog",
                        "confidence": 0.81,
                        "text": "a grey cat on a sofa",
                        "metadata": {"camera": "front"},
                    },
                    {"id": "cat-002", "label": "cat", "prediction": "cat", "text": "a kitten"},
                ],
                "sample_errors": 100,
                "seed": 7,
            }
        }
    )

    evaluated: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Samples the run was evaluated on, when only its errors are sent",
    )
    samples: list[PushedSampleIn] = Field(description="The samples, at most one per id")
    sample_errors: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Review a random sample of this many errors"
    )
    seed: int | None = Field(None, description="Seed of that sample; drawn when not given")
