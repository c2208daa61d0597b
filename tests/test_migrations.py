"""The revisions build the schema the models describe, and undo it, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Engine, column, func, insert, inspect, select, table, update
from sqlalchemy.orm import Session

from app import schema
from app.db import Base, make_engine
from app.domain import verdicts
from app.domain.analysis.sheet import load_run
from app.domain.analysis.views import Filters, tally
from app.domain.projects.access import get_access
from app.domain.projects.settings import delete_project
from app.domain.review.status import error_counts
from app.domain.review.visibility import everything
from app.models import (
    Annotation,
    AnnotationCause,
    AnnotationStatus,
    Cause,
    CauseGroup,
    GroupKind,
    Membership,
    Pipeline,
    PipelineModule,
    Prediction,
    Project,
    ProjectRole,
    Run,
    SampleKind,
    User,
    utcnow,
)
from tests.factories import make_cause, make_sample, make_user
from tests.oracle import every_row, matches, tally_rows
from tests.sheet_data import build as build_pets


def _user_0001(session: Session, username: str) -> User:
    """A user as revision 0001 stored it (past the model, which knows later columns);
    returned as a transient `User` that carries only its id."""
    fields = ["username", "display_name", "password_hash", "role", "is_active"]
    fields += ["session_epoch", "must_change_password", "created_at"]
    user_0001 = table("user_account", column("id"), *(column(c) for c in fields))
    user_id = session.execute(
        insert(user_0001)
        .values(
            username=username,
            display_name="",
            password_hash="x",
            role="member",
            is_active=True,
            session_epoch=0,
            must_change_password=False,
            created_at=utcnow(),
        )
        .returning(user_0001.c.id)
    ).scalar_one()
    return User(id=user_id)


def _project_0001(session: Session, lead: User, *, annotators: list[User], overlap: int) -> Project:
    """A project as revision 0001 stored it (past the model, which knows later columns);
    returned as a transient `Project` that carries only its id, for the factories."""
    fields = ["id", "name", "description", "kind", "labels", "overlap", "queue_seed"]
    fields += ["annotators_may_add_causes", "created_at"]
    project_0001 = table("project", *(column(c) for c in fields))
    project_id = session.execute(
        insert(project_0001)
        .values(
            name="Migrated",
            description="",
            kind=SampleKind.TEXT.value,
            labels="[]",
            overlap=overlap,
            annotators_may_add_causes=False,
            queue_seed=1,
            created_at=utcnow(),
        )
        .returning(project_0001.c.id)
    ).scalar_one()
    session.add(Membership(project_id=project_id, user_id=lead.id, role=ProjectRole.LEAD))
    for person in annotators:
        session.add(
            Membership(project_id=project_id, user_id=person.id, role=ProjectRole.ANNOTATOR)
        )
    session.add(CauseGroup(project_id=project_id, name="Causes", kind=GroupKind.MULTI, position=0))
    session.flush()
    return Project(id=project_id)


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


def _cause_0001(session: Session, project: Project, name: str) -> Cause:
    """A cause as revision 0001 stored it (past the model, which knows later columns);
    returned as a transient `Cause` that carries only its id."""
    fields = ("id", "project_id", "group_id", "name", "description", "position", "created_at")
    cause_0001 = table("cause", *(column(c) for c in fields))
    group_id = session.scalar(select(CauseGroup.id).where(CauseGroup.project_id == project.id))
    cause_id = session.execute(
        insert(cause_0001)
        .values(
            project_id=project.id,
            group_id=group_id,
            name=name,
            description="",
            position=0,
            created_at=utcnow(),
        )
        .returning(cause_0001.c.id)
    ).scalar_one()
    return Cause(id=cause_id)


def test_the_stored_verdicts_revisions_backfill_existing_runs_and_downgrade_cleanly(
    empty_database_url: str,
) -> None:
    """0002 stores each annotated error's verdict by the sheet's own rule, 0003 each
    annotator's sums, 0004 each run's error counts; downgrading drops them and keeps
    every annotation."""
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine, "0001")
        with Session(engine) as session, session.begin():
            lead, ann, bob = (_user_0001(session, name) for name in ("lead", "ann", "bob"))
            project = _project_0001(session, lead, annotators=[ann, bob], overlap=2)
            # Runs and predictions past the models, which know columns 0001 lacks.
            fields = ("id", "project_id", "name", "description", "created_at", "is_default")
            run_0001 = table("run", *(column(c) for c in fields))
            run_id = session.execute(
                insert(run_0001)
                .values(
                    project_id=project.id,
                    name="v1",
                    description="",
                    created_at=utcnow(),
                    is_default=False,
                )
                .returning(run_0001.c.id)
            ).scalar_one()
            blurry, dark = (
                _cause_0001(session, project, "blurry"),
                _cause_0001(session, project, "dark"),
            )
            samples = [make_sample(session, project, label="cat") for _ in range(3)]
            ids = [
                session.execute(
                    insert(Prediction)
                    .values(
                        project_id=project.id,
                        run_id=run_id,
                        sample_id=sample.id,
                        label="dog",
                        is_error=True,
                        in_review=True,
                    )
                    .returning(Prediction.id)
                ).scalar_one()
                for sample in samples
            ]
            # Annotations as revision 0001 knew them: past the domain, which now stores
            # verdicts in tables this schema does not have yet.
            marks = [
                (ids[0], ann, AnnotationStatus.DONE, [blurry]),
                (ids[0], bob, AnnotationStatus.DONE, [blurry, dark]),
                (ids[1], ann, AnnotationStatus.DONE, [dark]),
            ]
            for prediction_id, person, status, causes in marks:
                annotation_id = session.execute(
                    insert(Annotation)
                    .values(
                        project_id=project.id,
                        prediction_id=prediction_id,
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
            first, second = ids[0], ids[1]
            prediction_0001 = table("prediction", column("id"), column("probs", JSON()))
            session.execute(
                update(prediction_0001)
                .where(prediction_0001.c.id == first)
                .values(probs={"cat": 0.25, "dog": 0.75})
            )
            blurry_id, dark_id = blurry.id, dark.id
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
            # 0004: the run's errors counted onto the run.
            assert error_counts(session, run_id) == (3, 3)

            # 0005: the project's data version starts at 0.
            assert session.scalar(select(Project.data_version)) == 0
            # 0006: each prediction's probability of its given label, from its probs;
            # the review order random; no label audit yet.
            p_labels = dict(session.execute(select(Prediction.id, Prediction.p_label)).all())
            assert p_labels == {first: 0.25, second: None, ids[2]: None}
            assert session.scalar(select(Project.review_order)) == "random"

        schema.downgrade(engine, "0005")
        assert "label_check" not in inspect(engine).get_table_names()
        assert "p_label" not in {c["name"] for c in inspect(engine).get_columns("prediction")}
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(table("prediction"))) == 3

        schema.downgrade(engine, "0004")
        with Session(engine) as session:  # the project is kept
            assert session.scalar(select(func.count()).select_from(table("project"))) == 1

        schema.downgrade(engine, "0003")
        with Session(engine) as session:  # the downgrade kept the run and its errors
            assert session.scalar(select(func.count()).select_from(Prediction)) == 3

        schema.downgrade(engine, "0002")
        assert "run_annotator_verdicts" not in inspect(engine).get_table_names()
        schema.downgrade(engine, "0001")
        tables = set(inspect(engine).get_table_names())
        assert not {"error_verdict", "verdict_cause", "run_annotator_cause_verdicts"} & tables
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Annotation)) == 3
    finally:
        engine.dispose()


def test_the_pipeline_revision_adds_its_tables_and_its_downgrade_keeps_the_causes(
    empty_database_url: str,
) -> None:
    """0007 adds the pipeline and its modules; going back drops them and nothing else:
    the blame causes stay causes, with the annotations that mark them."""
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine)
        with Session(engine) as session, session.begin():
            lead = make_user(session)
            project = _project_0001(session, lead, annotators=[], overlap=1)
            group = CauseGroup(project_id=project.id, name="Module to blame", position=1)
            session.add(group)
            session.flush()
            detector = make_cause(session, project, "detector", group=group)
            design = make_cause(session, project, "Pipeline design", group=group)
            session.add(
                Pipeline(project_id=project.id, group_id=group.id, design_cause_id=design.id)
            )
            session.flush()
            session.add(
                PipelineModule(
                    project_id=project.id,
                    cause_id=detector.id,
                    position=0,
                    accuracy=0.97,
                    human_accuracy=0.975,
                )
            )
        with Session(engine) as session:
            stored = session.scalars(select(PipelineModule)).one()
            assert (stored.accuracy, stored.human_accuracy) == (0.97, 0.975)

        schema.downgrade(engine, "0006")
        tables = set(inspect(engine).get_table_names())
        assert not {"pipeline", "pipeline_module"} & tables
        with Session(engine) as session:
            names: set[str] = set(
                session.scalars(select(column("name")).select_from(table("cause")))
            )
            assert names == {"detector", "Pipeline design"}

        schema.upgrade(engine)  # and up again over the data left behind
        assert {"pipeline", "pipeline_module"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0009_adds_the_sign_in_failures_and_takes_them_away(empty_database_url: str) -> None:
    from app.domain.accounts import throttle

    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine, "0008")
        assert "sign_in_failure" not in inspect(engine).get_table_names()
        schema.upgrade(engine, "0009")
        with Session(engine) as session, session.begin():
            attempt = throttle.Attempt("ada", "10.0.0.1")
            for _ in range(throttle.PER_ACCOUNT):
                throttle.record_failure(session, attempt)
        with Session(engine) as session, pytest.raises(throttle.TooManySignIns):
            throttle.check(session, attempt)

        schema.downgrade(engine, "0008")
        assert "sign_in_failure" not in inspect(engine).get_table_names()
        schema.upgrade(engine)  # and up again: the downgrade left nothing behind
        assert "sign_in_failure" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_0011_gives_unused_one_time_passwords_an_end_and_takes_it_away(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    user_0009 = table("user_account", column("id"), column("must_change_password"))
    try:
        schema.upgrade(engine, "0009")
        ids = {}
        with Session(engine) as session, session.begin():
            for name in ("waiting", "settled"):
                ids[name] = _user_0001(session, name).id
            session.execute(
                update(user_0009)
                .where(user_0009.c.id == ids["waiting"])
                .values(must_change_password=True)
            )
        schema.upgrade(engine, "0011")
        user_0011 = table("user_account", column("id"), column("one_time_password_expires_at"))
        with Session(engine) as session:
            given = dict(
                session.execute(
                    select(user_0011.c.id, user_0011.c.one_time_password_expires_at)
                ).all()
            )
        assert given[ids["waiting"]] is not None  # a one-time password given before now ends
        assert given[ids["settled"]] is None

        schema.downgrade(engine, "0009")
        assert "one_time_password_expires_at" not in {
            c["name"] for c in inspect(engine).get_columns("user_account")
        }
        with Session(engine) as session:  # the users stay (no table rebuilt under them)
            assert session.scalar(select(func.count()).select_from(user_0009)) == 2
        schema.upgrade(engine)  # and up again: the downgrade left nothing behind
    finally:
        engine.dispose()


def test_0010_puts_every_project_under_blind_review_and_its_downgrade_keeps_them(
    empty_database_url: str,
) -> None:
    """0010 adds the blind-review settings: an existing project comes out blind, showing
    the consensus only once an annotator finished; going back drops the two columns and
    nothing else."""
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine, "0009")
        with Session(engine) as session, session.begin():
            _project_0001(session, _user_0001(session, "lead"), annotators=[], overlap=2)
        schema.upgrade(engine, "0010")
        project_0010 = table("project", column("blind_review"), column("reveal_marks"))
        with Session(engine) as session:
            settings = session.execute(
                select(project_0010.c.blind_review, project_0010.c.reveal_marks)
            ).one()
            assert tuple(settings) == (True, False)
        schema.downgrade(engine, "0009")
        columns = {c["name"] for c in inspect(engine).get_columns("project")}
        assert not {"blind_review", "reveal_marks"} & columns
        with Session(engine) as session:
            names: list[str] = list(
                session.scalars(select(column("name")).select_from(table("project")))
            )
            assert names == ["Migrated"]
        schema.upgrade(engine)  # and up again over the data left behind
    finally:
        engine.dispose()


def test_0012_adds_each_persons_language_and_takes_it_away(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    user_0012 = table("user_account", column("id"), column("language"))
    try:
        schema.upgrade(engine, "0011")
        with Session(engine) as session, session.begin():
            ada = _user_0001(session, "ada").id
        schema.upgrade(engine, "0012")
        with Session(engine) as session, session.begin():
            assert session.scalar(select(user_0012.c.language)) is None  # follows the browser
            session.execute(update(user_0012).where(user_0012.c.id == ada).values(language="zh_CN"))
        schema.downgrade(engine, "0011")
        assert "language" not in {c["name"] for c in inspect(engine).get_columns("user_account")}
        with Session(engine) as session:  # the users stay (no table rebuilt under them)
            assert session.scalar(select(func.count()).select_from(user_0012)) == 1
        schema.upgrade(engine)  # and up again: the downgrade left nothing behind
    finally:
        engine.dispose()


def test_0013_counts_each_facet_of_the_annotated_runs_and_takes_them_away(
    empty_database_url: str,
) -> None:
    """The facet sums appear counted from the stored verdicts (the footer of one metadata
    value or label reads the same as the count over its rows), and go again, keeping
    every annotation."""
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine)
        with Session(engine) as session, session.begin():
            pets = build_pets(session)  # annotated through the domain, at head
            project_id, run_id = pets.project.id, pets.run.id
        schema.downgrade(engine, "0012")
        tables = set(inspect(engine).get_table_names())
        assert not {"run_facet_verdicts", "run_facet_cause_verdicts"} & tables
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Annotation)) == 10

        schema.upgrade(engine)
        with Session(engine) as session:
            project = session.get(Project, project_id)
            run = session.get(Run, run_id)
            assert project is not None
            assert run is not None
            data = load_run(session, project, run, seen_by=everything())
            every = every_row(session, data)
            for filters in (
                Filters(meta_key="time", meta_value="night"),
                Filters(meta_key="time", meta_value="day"),
                Filters(label="cat"),
                Filters(predicted="dog"),
            ):
                assert filters.facet is not None  # read from the stored sums
                kept = [r for r in every if matches(filters, r)]
                assert tally(session, data, filters) == tally_rows(data, every, kept, filtered=True)
            night = verdicts.facet_sums(session, run_id, ("meta", "time", "night"))
            assert night.errors == 3
            assert night.sums.examined == 3
    finally:
        engine.dispose()


def test_0014_gives_runs_no_last_import_and_takes_it_away(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    fields = ("id", "project_id", "name", "description", "created_at", "is_default")
    run_0014 = table("run", *(column(c) for c in fields), column("last_import_key"))
    try:
        schema.upgrade(engine, "0013")
        with Session(engine) as session, session.begin():
            lead = _user_0001(session, "lead")
            project = _project_0001(session, lead, annotators=[], overlap=1)
            session.execute(
                insert(table("run", *(column(c) for c in fields))).values(
                    project_id=project.id,
                    name="v1",
                    description="",
                    created_at=utcnow(),
                    is_default=False,
                )
            )
        schema.upgrade(engine, "0014")
        with Session(engine) as session:
            # Its next import is read in full, and then remembered.
            assert session.scalar(select(run_0014.c.last_import_key)) is None
        schema.downgrade(engine, "0013")
        columns = {c["name"] for c in inspect(engine).get_columns("run")}
        assert not columns & {"last_import_key", "last_import_rows"}
        with Session(engine) as session:  # the run stays (no table rebuilt under it)
            assert session.scalar(select(func.count()).select_from(table("run"))) == 1
        schema.upgrade(engine)
    finally:
        engine.dispose()


def _rows_of_every_table(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.scalar(select(func.count()).select_from(table(name))) or 0
            for name in Base.metadata.tables
        }


def _prediction_keys(engine: Engine) -> set[str | None]:
    return {key["name"] for key in inspect(engine).get_foreign_keys("prediction")}


def test_0015_drops_the_predictions_second_key_to_their_project_keeping_every_row(
    empty_database_url: str,
) -> None:
    """On SQLite both ways rebuild `prediction`, which annotations, verdicts and leases
    point at: with foreign keys on, dropping the old table would have deleted them."""
    engine = make_engine(empty_database_url)
    try:
        schema.upgrade(engine)
        with Session(engine) as session, session.begin():
            pets = build_pets(session)  # annotated through the domain, at head
            project_id = pets.project.id
            session.expunge_all()
        rows = _rows_of_every_table(engine)
        assert rows["annotation"] == 10
        assert rows["error_verdict"] > 0
        assert "fk_prediction_project_id_project" not in _prediction_keys(engine)

        schema.downgrade(engine, "0014")
        assert "fk_prediction_project_id_project" in _prediction_keys(engine)
        assert _rows_of_every_table(engine) == rows

        schema.upgrade(engine)
        assert _prediction_keys(engine) == {
            "fk_prediction_run_project",
            "fk_prediction_sample_project",
        }
        assert _rows_of_every_table(engine) == rows

        # The project's predictions still go with it, through its runs and samples.
        with Session(engine) as session, session.begin():
            admin = make_user(session, admin=True)
            access = get_access(session, admin, project_id)
            delete_project(session, access, access.project.name)
        after = _rows_of_every_table(engine)
        assert (after["prediction"], after["annotation"], after["error_verdict"]) == (0, 0, 0)
    finally:
        engine.dispose()


def test_a_revision_that_leaves_rows_pointing_nowhere_on_sqlite_is_refused(
    tmp_path: Path,
) -> None:
    """Foreign keys are off while SQLite's revisions run (so table rebuilds keep their
    rows), and checked before the revisions commit."""
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    try:
        schema.upgrade(engine)
        with (
            engine.connect() as connection,
            schema.tables_rebuilt_safely(connection),
            connection.begin() as transaction,
        ):
            connection.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            connection.exec_driver_sql(
                "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))"
            )
            connection.exec_driver_sql("INSERT INTO child VALUES (404)")
            with pytest.raises(schema.BrokenForeignKeys, match="child"):
                schema.check_foreign_keys(connection)
            transaction.rollback()
        with engine.connect() as connection:  # and on again for the app's connections
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
