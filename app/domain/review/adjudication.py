"""A lead settles an error: the final causes and label-error verdict, overriding the vote.

An adjudication is an annotation of its own kind, saved through the one write path, so
it is versioned, recorded as events and announced to open sheets like any other save.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import NotFound
from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run
from app.domain.review.annotations import AnnotationState, Draft, save
from app.i18n import gettext as _
from app.models import Annotation, AnnotationKind, AnnotationStatus, Prediction, Sample, User


@dataclass(frozen=True)
class Adjudicated:
    external_id: str
    state: AnnotationState


def adjudicate(
    session: Session,
    access: ProjectAccess,
    run_name: str,
    prediction_id: int,
    draft: Draft,
    *,
    expected_version: int,
) -> Adjudicated:
    access.require_lead()
    run = resolve_run(session, access.project, run_name)
    prediction = session.get(Prediction, prediction_id)
    if (
        prediction is None
        or prediction.run_id != run.id
        or prediction.project_id != access.project.id
        or not prediction.in_review
    ):
        raise NotFound(_("No such error under review in this run."))
    # An error has at most one adjudication: a second lead revises it rather than adding one.
    owner_id = session.scalar(
        select(Annotation.annotator_id).where(
            Annotation.prediction_id == prediction.id,
            Annotation.kind == AnnotationKind.ADJUDICATION,
        )
    )
    owner = session.get(User, owner_id) if owner_id is not None else None
    # Only a finished adjudication overrides the vote; saving one here is that decision.
    result = save(
        session,
        access,
        prediction,
        replace(draft, status=AnnotationStatus.DONE, skip_reason=""),
        expected_version=expected_version,
        kind=AnnotationKind.ADJUDICATION,
        action="adjudicate",
        annotator=owner,
    )
    sample = session.get(Sample, prediction.sample_id)
    return Adjudicated(external_id=sample.external_id if sample else "", state=result.state)
