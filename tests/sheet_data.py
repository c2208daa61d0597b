"""A small run with known answers, shared by the sheet's domain, web and API tests.

Overlap 2: the lead and two annotators; three causes; six errors under review.

    error  ann   bob   lead   adjudication     consensus            status
    e1     A     A     -      -                A                    done
    e2     A,B   A     -      -                A (B tied, no lead)  done, differ
    e3     B     -     C      -                C (ties: the lead)   done, differ
    e4     A+LE  -     -      -                -                    partial
    e5     A     B     -      C, label error   C + label error      adjudicated
    e6     -     -     -      -                -                    queued
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.domain.projects.access import get_access
from app.domain.review.annotations import Draft, find_annotation, save
from app.models import AnnotationKind, AnnotationStatus, Cause, Prediction, Project, Run, User
from tests.factories import (
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)

DONE = AnnotationStatus.DONE


@dataclass
class Fixture:
    project: Project
    run: Run
    lead: User
    ann: User
    bob: User
    a: Cause
    b: Cause
    c: Cause
    errors: dict[str, Prediction]


def build(session: Session, *, evaluated: int | None = 60) -> Fixture:
    lead, ann, bob = (
        make_user(session, "lead"),
        make_user(session, "ann"),
        make_user(session, "bob"),
    )
    project = make_project(session, lead, annotators=[ann, bob], name="Pets", overlap=2)
    run = make_run(session, project, name="v1", evaluated=evaluated)
    a, b, c = (make_cause(session, project, name) for name in ("blurry", "dark", "tiny"))
    errors = {}
    for i in range(1, 7):
        sample = make_sample(
            session,
            project,
            external_id=f"e{i}",
            label="cat",
            meta={"time": "night" if i % 2 else "day"},
        )
        errors[f"e{i}"] = make_prediction(
            session, run, sample, label="dog", review_order=i, confidence=i / 10
        )
    # A correct prediction: part of the error rate's denominator only.
    make_prediction(session, run, make_sample(session, project, external_id="ok"), label="cat")

    def mark(
        user: User,
        key: str,
        *causes: Cause,
        label_error: bool = False,
        status: AnnotationStatus = DONE,
        kind: AnnotationKind = AnnotationKind.REVIEW,
    ) -> None:
        access = get_access(session, user, project.id)
        save(
            session,
            access,
            errors[key],
            Draft(
                frozenset(x.id for x in causes),
                label_error=label_error,
                suggested_label="fox" if label_error else None,
                status=status,
            ),
            expected_version=0,
            kind=kind,
        )

    mark(ann, "e1", a)
    mark(bob, "e1", a)
    mark(ann, "e2", a, b)
    mark(bob, "e2", a)
    mark(ann, "e3", b)
    mark(lead, "e3", c)
    mark(ann, "e4", a, label_error=True)
    mark(ann, "e5", a)
    mark(bob, "e5", b)
    mark(lead, "e5", c, label_error=True, kind=AnnotationKind.ADJUDICATION)
    session.flush()
    return Fixture(project, run, lead, ann, bob, a, b, c, errors)


# What only ann wrote on e3, for the blind-review tests: no one else may read it before
# finishing their own review of e3.
NOTE = "peeked-note"
SUGGESTED = "peekfox"


def build_with_secrets(session: Session) -> Fixture:
    """`build`, with ann's e3 saying more: a note and a label error with a suggestion."""
    f = build(session)
    mine = find_annotation(session, f.errors["e3"].id, f.ann.id)
    assert mine is not None
    save(
        session,
        get_access(session, f.ann, f.project.id),
        f.errors["e3"],
        Draft(
            frozenset({f.b.id}),
            label_error=True,
            suggested_label=SUGGESTED,
            note=NOTE,
            status=AnnotationStatus.DONE,
        ),
        expected_version=mine.version,
    )
    session.flush()
    return f
