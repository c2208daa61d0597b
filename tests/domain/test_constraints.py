"""The database itself refuses what would corrupt an error analysis."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain import integrity
from app.models import Annotation, Cause, Prediction, Sample
from tests.factories import (
    default_group,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def refused(session: Session, row: object) -> str:
    """Insert the row, expect the database to refuse it, return the message for people."""
    savepoint = session.begin_nested()
    session.add(row)
    with pytest.raises(IntegrityError) as caught:
        session.flush()
    savepoint.rollback()
    return integrity.describe(caught.value)


def test_duplicate_external_id_in_a_project_is_refused(session: Session) -> None:
    project = make_project(session)
    make_sample(session, project, external_id="img-1")
    message = refused(session, Sample(project_id=project.id, external_id="img-1", label="cat"))
    assert message == "The project already has a sample with that id."


def test_same_external_id_in_another_project_is_fine(session: Session) -> None:
    make_sample(session, make_project(session), external_id="img-1")
    make_sample(session, make_project(session), external_id="img-1")


def test_duplicate_cause_name_is_refused(session: Session) -> None:
    project = make_project(session)
    make_cause(session, project, "blurry")
    group = default_group(session, project)
    message = refused(session, Cause(project_id=project.id, group_id=group.id, name="blurry"))
    assert message == "The project already has a cause with that name."


def test_duplicate_cause_key_is_refused_but_many_causes_have_no_key(session: Session) -> None:
    project = make_project(session)
    make_cause(session, project, "a", key="1")
    make_cause(session, project, "b")
    make_cause(session, project, "c")
    group = default_group(session, project)
    message = refused(session, Cause(project_id=project.id, group_id=group.id, name="d", key="1"))
    assert message == "Another cause already uses that key."


def test_prediction_for_a_sample_of_another_project_is_refused(session: Session) -> None:
    project, other = make_project(session), make_project(session)
    run = make_run(session, project)
    foreign_sample = make_sample(session, other)
    row = Prediction(
        project_id=project.id,
        run_id=run.id,
        sample_id=foreign_sample.id,
        label="dog",
        is_error=True,
    )
    message = refused(session, row)
    assert "sample of its own project" in message or "belongs to another project" in message


def test_annotation_by_a_non_member_is_refused(session: Session) -> None:
    project = make_project(session)
    prediction = make_prediction(session, make_run(session, project), make_sample(session, project))
    outsider = make_user(session)
    row = Annotation(project_id=project.id, prediction_id=prediction.id, annotator_id=outsider.id)
    message = refused(session, row)
    assert "members of the project" in message or "non-member" in message


def test_annotation_by_a_member_is_accepted(session: Session) -> None:
    annotator = make_user(session)
    project = make_project(session, annotators=[annotator])
    prediction = make_prediction(session, make_run(session, project), make_sample(session, project))
    session.add(
        Annotation(project_id=project.id, prediction_id=prediction.id, annotator_id=annotator.id)
    )
    session.flush()


def test_confidence_outside_zero_one_is_refused(session: Session) -> None:
    project = make_project(session)
    run, sample = make_run(session, project), make_sample(session, project)
    row = Prediction(
        project_id=project.id,
        run_id=run.id,
        sample_id=sample.id,
        label="dog",
        is_error=True,
        confidence=1.5,
    )
    assert refused(session, row) == integrity.GENERIC
