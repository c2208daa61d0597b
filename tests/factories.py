"""Typed factory functions: the smallest valid row, with overrides."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.accounts.users import create_user
from app.domain.analysis.label_suspects import p_label
from app.domain.imports.media import prepare_image, store_image
from app.domain.imports.store import MediaStore
from app.domain.projects.settings import create_project
from app.domain.projects.team import add_member
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationKind,
    AnnotationStatus,
    Cause,
    CauseGroup,
    MediaBlob,
    Prediction,
    Project,
    ProjectRole,
    Run,
    Sample,
    SampleKind,
    User,
)

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def make_user(session: Session, username: str | None = None, **overrides: Any) -> User:
    return create_user(
        session,
        username or f"user{_n()}",
        overrides.pop("password", PASSWORD),
        **overrides,
    )


def make_project(
    session: Session,
    lead: User | None = None,
    *,
    annotators: list[User] | None = None,
    **overrides: Any,
) -> Project:
    values: dict[str, Any] = {"name": f"Project {_n()}", "kind": SampleKind.IMAGE}
    values.update(overrides)
    project = create_project(session, lead or make_user(session), **values)
    for user in annotators or []:
        add_member(session, project, user, ProjectRole.ANNOTATOR)
    return project


def make_run(session: Session, project: Project, **overrides: Any) -> Run:
    values: dict[str, Any] = {"name": f"run-{_n()}", "evaluated": 100}
    values.update(overrides)
    run = Run(project_id=project.id, **values)
    session.add(run)
    session.flush()
    return run


def make_sample(session: Session, project: Project, **overrides: Any) -> Sample:
    values: dict[str, Any] = {"external_id": f"s{_n()}", "label": "cat", "text": "a sample"}
    values.update(overrides)
    sample = Sample(project_id=project.id, **values)
    session.add(sample)
    session.flush()
    return sample


def make_prediction(
    session: Session, run: Run, sample: Sample, label: str = "dog", **overrides: Any
) -> Prediction:
    values: dict[str, Any] = {
        "confidence": 0.9,
        "is_error": label != sample.label,
        "in_review": label != sample.label,
    }
    values.update(overrides)
    values.setdefault("p_label", p_label(values.get("probs"), sample.label))  # as imports do
    prediction = Prediction(
        project_id=run.project_id, run_id=run.id, sample_id=sample.id, label=label, **values
    )
    session.add(prediction)
    session.flush()
    verdicts.recount_errors(session, [run.id])  # as the import does, written past it
    verdicts.recount_facets(session, [run.id])
    return prediction


def default_group(session: Session, project: Project) -> CauseGroup:
    from sqlalchemy import select

    group = session.scalars(select(CauseGroup).where(CauseGroup.project_id == project.id)).first()
    assert group is not None, "every project starts with a cause group"
    return group


def make_cause(
    session: Session, project: Project, name: str | None = None, **overrides: Any
) -> Cause:
    group = overrides.pop("group", None) or default_group(session, project)
    cause = Cause(
        project_id=project.id, group_id=group.id, name=name or f"cause {_n()}", **overrides
    )
    session.add(cause)
    session.flush()
    return cause


def make_annotation(
    session: Session,
    prediction: Prediction,
    annotator: User,
    *,
    causes: Iterable[Cause] = (),
    **overrides: Any,
) -> Annotation:
    annotation = Annotation(
        project_id=prediction.project_id,
        prediction_id=prediction.id,
        annotator_id=annotator.id,
        **overrides,
    )
    session.add(annotation)
    session.flush()
    marked = [c.id for c in causes]
    session.add_all(AnnotationCause(annotation_id=annotation.id, cause_id=c) for c in marked)
    session.flush()
    # Written past `annotations.save`, so the stored sums are kept here as save keeps them.
    verdicts.refresh(session, [prediction.id])
    if annotation.kind is AnnotationKind.REVIEW:
        counted = verdicts.ReviewCount(
            annotation.status is AnnotationStatus.DONE,
            annotation.label_error,
            frozenset(marked),
        )
        verdicts.count_review(session, prediction.run_id, annotator.id, None, counted)
    return annotation


def bearer(session: Session, user: User | str) -> dict[str, str]:
    """Headers of an API call made with a fresh token of `user` (a User or a username)."""
    from app.domain.accounts.users import create_token, get_user_by_username

    owner = get_user_by_username(session, user) if isinstance(user, str) else user
    assert owner is not None
    return {"Authorization": f"Bearer {create_token(session, owner, 'test').secret}"}


def make_image(
    session: Session, store: MediaStore, size: tuple[int, int] = (300, 150)
) -> MediaBlob:
    """An image stored as an import leaves it: its row, the original and the thumbnail."""
    out = io.BytesIO()
    Image.new("RGB", size, "orange").save(out, format="PNG")
    return store_image(session, store, prepare_image(out.getvalue()))
