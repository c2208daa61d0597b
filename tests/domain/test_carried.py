"""An error that stayed wrong comes with the earlier run's consensus, as a suggestion."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.review.carried import Carried, carried_verdict
from app.domain.review.visibility import everything
from app.models import AnnotationStatus, Prediction, utcnow
from tests.factories import (
    make_annotation,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def test_the_latest_examined_consensus_of_an_earlier_run_is_carried(session: Session) -> None:
    annotator = make_user(session)
    project = make_project(session, annotators=[annotator], overlap=1)
    blurry, dark, old = (make_cause(session, project, n) for n in ("blurry", "dark", "old"))
    v1, v2, v3 = (make_run(session, project, name=n) for n in ("v1", "v2", "v3"))
    stayed, fresh, open_one = (
        make_sample(session, project, external_id=n, label="cat") for n in ("a", "b", "c")
    )
    for run in (v1, v2, v3):
        make_prediction(session, run, stayed, label="dog")
    make_prediction(session, v3, fresh, label="dog")
    done = AnnotationStatus.DONE
    first = make_prediction(session, v1, open_one, label="dog")
    make_prediction(session, v3, open_one, label="dog")
    make_annotation(session, first, annotator, status=AnnotationStatus.IN_PROGRESS, causes=[dark])

    def error_of(run_id: int, sample_id: int) -> Prediction:
        found = session.scalar(
            select(Prediction).where(Prediction.run_id == run_id, Prediction.sample_id == sample_id)
        )
        assert found is not None
        return found

    v1_error, stayed_prediction = error_of(v1.id, stayed.id), error_of(v2.id, stayed.id)
    make_annotation(session, v1_error, annotator, status=done, causes=[blurry])
    make_annotation(
        session, stayed_prediction, annotator, status=done, causes=[dark, old], label_error=True
    )
    old.archived_at = utcnow()
    session.flush()

    # v3 gets v2's verdict (the latest), without the cause retired since.
    assert carried_verdict(session, project, v3, stayed.id, seen_by=everything()) == Carried(
        run="v2", cause_ids=(dark.id,), causes=("dark",), label_error=True, suggested_label=None
    )
    assert carried_verdict(session, project, v2, stayed.id, seen_by=everything()) == Carried(
        run="v1",
        cause_ids=(blurry.id,),
        causes=("blurry",),
        label_error=False,
        suggested_label=None,
    )
    # Nothing earlier, or nothing examined earlier: nothing to carry.
    assert carried_verdict(session, project, v1, stayed.id, seen_by=everything()) is None
    assert carried_verdict(session, project, v3, fresh.id, seen_by=everything()) is None
    assert carried_verdict(session, project, v3, open_one.id, seen_by=everything()) is None
