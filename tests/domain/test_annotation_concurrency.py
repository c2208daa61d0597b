"""20 threads saving at once through real sessions on a real database file or server.

Not the rolled-back test session: each thread commits its own transactions on a
freshly migrated database, as workers do. Afterwards every save is either what is
stored (or was overwritten by a later accepted save) or was refused with a conflict,
and the event log accounts for exactly the accepted saves, in version order.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from app import schema
from app.db import Database
from app.domain.projects.access import get_access
from app.domain.review import annotations as ann
from app.domain.review import queue
from app.models import Annotation, AnnotationEvent, Prediction, Run, User
from tests.factories import (
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)

THREADS = 20
SAVES_PER_THREAD = 6


@dataclass(frozen=True)
class Accepted:
    prediction_id: int
    user_id: int
    version: int
    note: str
    causes: tuple[int, ...]


def fresh_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'concurrency.db'}"
    else:
        url = request.getfixturevalue("postgres").create()
    database = Database.from_url(url)
    schema.upgrade(database.engine)
    return database


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_concurrent_saves_are_applied_or_refused_and_all_logged(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = fresh_database(backend_name, request, tmp_path)
    try:
        with database.transaction() as session:
            lead = make_user(session)
            users = [make_user(session) for _ in range(4)]
            project = make_project(session, lead, annotators=users)
            run = make_run(session, project)
            errors = [
                make_prediction(session, run, make_sample(session, project, label="cat"), "dog")
                for _ in range(2)
            ]
            cause_ids = [make_cause(session, project).id for _ in range(4)]
            project_id = project.id
            user_ids = [u.id for u in users]
            error_ids = [e.id for e in errors]

        accepted: list[Accepted] = []
        refused = 0
        failures: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def work(index: int) -> None:
            nonlocal refused
            # Threads share (user, error) pairs: 5 threads on each of the 4 rows of one
            # error... and the two errors interleave, so both same-row and different-row
            # saves race.
            user_id = user_ids[index % len(user_ids)]
            prediction_id = error_ids[index % len(error_ids)]
            rng = random.Random(index)
            start.wait()
            for n in range(SAVES_PER_THREAD):
                note = f"thread {index} save {n}"
                causes = tuple(sorted(rng.sample(cause_ids, rng.randint(0, 3))))
                try:
                    # Like a page: the version is read in one request, the save is another.
                    with database.transaction(read_only=True) as session:
                        current = ann.find_annotation(session, prediction_id, user_id)
                        seen = current.version if current else 0
                    with database.transaction() as session:
                        user = session.get(User, user_id)
                        prediction = session.get(Prediction, prediction_id)
                        assert user is not None
                        assert prediction is not None
                        access = get_access(session, user, project_id)
                        result = ann.save(
                            session,
                            access,
                            prediction,
                            ann.Draft(cause_ids=frozenset(causes), note=note),
                            expected_version=seen,
                        )
                        version = result.annotation.version
                    with lock:
                        accepted.append(Accepted(prediction_id, user_id, version, note, causes))
                except ann.StaleAnnotation:
                    with lock:
                        refused += 1
                except BaseException as exc:  # reported below: a thread must not die silently
                    with lock:
                        failures.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert len(accepted) + refused == THREADS * SAVES_PER_THREAD
        assert accepted, "some saves must go through"
        assert refused, "the race must have happened for the test to mean anything"

        by_row: dict[tuple[int, int], list[Accepted]] = defaultdict(list)
        for save in accepted:
            by_row[(save.prediction_id, save.user_id)].append(save)
        with database.transaction(read_only=True) as session:
            annotations = session.scalars(select(Annotation)).all()
            assert len(annotations) == len(by_row)
            for annotation in annotations:
                saves = sorted(
                    by_row[(annotation.prediction_id, annotation.annotator_id)],
                    key=lambda s: s.version,
                )
                # Each accepted save got its own version: none was silently merged.
                assert [s.version for s in saves] == list(range(1, len(saves) + 1))
                events = session.scalars(
                    select(AnnotationEvent)
                    .where(AnnotationEvent.annotation_id == annotation.id)
                    .order_by(AnnotationEvent.version)
                ).all()
                assert [(e.version, e.after["note"], tuple(e.after["causes"])) for e in events] == [
                    (s.version, s.note, s.causes) for s in saves
                ]
                # Each event's "before" is the previous accepted save: nothing overwritten blindly.
                for earlier, later in itertools.pairwise(events):
                    assert later.before == earlier.after
                final = ann.state_of(session, annotation)
                assert (final.note, final.cause_ids) == (saves[-1].note, saves[-1].causes)
                assert annotation.version == saves[-1].version
    finally:
        database.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_simultaneous_next_requests_never_share_an_error(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = fresh_database(backend_name, request, tmp_path)
    try:
        with database.transaction() as session:
            lead = make_user(session)
            users = [make_user(session) for _ in range(THREADS)]
            project = make_project(session, lead, annotators=users)
            run = make_run(session, project)
            for i in range(THREADS + 5):
                make_prediction(
                    session, run, make_sample(session, project, label="cat"), "dog", review_order=i
                )
            project_id, run_id = project.id, run.id
            user_ids = [u.id for u in users]

        served: list[int] = []
        failures: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def ask(user_id: int) -> None:
            start.wait()
            try:
                with database.transaction() as session:
                    user = session.get(User, user_id)
                    run_row = session.get(Run, run_id)
                    assert user is not None
                    assert run_row is not None
                    offer = queue.next_error(
                        session, get_access(session, user, project_id), run_row
                    )
                    assert offer is not None
                    with lock:
                        served.append(offer.prediction.id)
            except BaseException as exc:
                with lock:
                    failures.append(exc)

        threads = [threading.Thread(target=ask, args=(u,)) for u in user_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert len(served) == THREADS
        assert len(set(served)) == THREADS
    finally:
        database.dispose()
