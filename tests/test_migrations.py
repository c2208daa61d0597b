"""The revisions build the schema the models describe, and undo it, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session

from app import schema
from app.db import Base, make_engine
from app.domain import verdicts
from app.models import Annotation, AnnotationCause, AnnotationStatus, utcnow
from tests.factories import (
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def test_upgrade_to_head_matches_models_and_downgrades_to_empty(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations differ: {diff}"

        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        leftover = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert leftover == set()

        schema.upgrade(engine)  # and back up again: the downgrade left nothing behind
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_stored_verdicts_revisions_backfill_existing_runs_and_downgrade_cleanly(
    empty_database_url: str,
) -> None:
    """0002 stores each annotated error's verdict by the sheet's own rule, 0003 each
    annotator's sums; downgrading drops them and keeps every annotation."""
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine, "0001")
        with Session(engine) as session, session.begin():
            lead, ann, bob = (make_user(session) for _ in range(3))
            project = make_project(session, lead, annotators=[ann, bob], overlap=2)
            run = make_run(session, project)
            blurry, dark = make_cause(session, project), make_cause(session, project)
            errors = [
                make_prediction(session, run, make_sample(session, project)) for _ in range(3)
            ]
            # Annotations as revision 0001 knew them: past the domain, which now stores
            # verdicts in tables this schema does not have yet.
            marks = [
                (errors[0], ann, AnnotationStatus.DONE, [blurry]),
                (errors[0], bob, AnnotationStatus.DONE, [blurry, dark]),
                (errors[1], ann, AnnotationStatus.DONE, [dark]),
            ]
            for prediction, person, status, causes in marks:
                annotation_id = session.execute(
                    insert(Annotation)
                    .values(
                        project_id=project.id,
                        prediction_id=prediction.id,
                        annotator_id=person.id,
                        status=status,
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                    .returning(Annotation.id)
                ).scalar_one()
                session.execute(
                    insert(AnnotationCause),
                    [{"annotation_id": annotation_id, "cause_id": c.id} for c in causes],
                )
            ids = [e.id for e in errors]
            first, second = ids[0], ids[1]
            blurry_id, dark_id, run_id = blurry.id, dark.id, run.id
            ann_id, bob_id = ann.id, bob.id

        schema.upgrade(engine)
        with Session(engine) as session:
            stored = verdicts.stored(session, ids)
            assert stored == verdicts.recompute(session, ids)
            assert set(stored) == {first, second}  # nobody annotated the third
            assert stored[first].status is verdicts.ErrorStatus.DONE
            assert stored[first].chosen == {blurry_id}  # dark: 1 of 2, no lead voted
            assert stored[first].disagreement
            assert stored[second].status is verdicts.ErrorStatus.PARTIAL
            annotators = verdicts.annotator_sums(session, run_id)
            assert annotators == verdicts.recount_annotators(session, run_id)
            assert annotators[ann_id] == verdicts.AnnotatorSums(2, 2, 0, {blurry_id: 1, dark_id: 1})
            assert annotators[bob_id].marks == {blurry_id: 1, dark_id: 1}

        schema.downgrade(engine, "0002")
        assert "run_annotator_verdicts" not in inspect(engine).get_table_names()
        schema.downgrade(engine, "0001")
        tables = set(inspect(engine).get_table_names())
        assert not {"error_verdict", "verdict_cause", "run_annotator_cause_verdicts"} & tables
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Annotation)) == 3
    finally:
        engine.dispose()
