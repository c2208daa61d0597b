"""Undo, a cause created during review, history for leads, and what the screen shows."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, NotFound, PermissionDenied
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.projects.causes import SimilarCauseExists
from app.domain.review import annotations as ann
from app.domain.review import screen as review
from app.models import AnnotationStatus, MediaBlob, Prediction, Project, Run, User
from tests.factories import (
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)

# The conftest fixture `world`: a lead's access, an annotator's, and their one error.
World = tuple[ProjectAccess, ProjectAccess, Prediction]


def causes_now(session: Session, access: ProjectAccess, prediction: Prediction) -> set[str]:
    state, _, _ = review.my_state(session, access, prediction)
    return set(state.cause_names)


def version_of(session: Session, access: ProjectAccess, prediction: Prediction) -> int:
    return review.my_state(session, access, prediction)[1]


def toggle_on(
    session: Session, access: ProjectAccess, prediction: Prediction, cause_id: int
) -> None:
    state, version, _ = review.my_state(session, access, prediction)
    draft = ann.Draft.of(state)
    ann.save(
        session,
        access,
        prediction,
        ann.Draft(cause_ids=draft.cause_ids | {cause_id}),
        expected_version=version,
    )


def test_repeated_undo_walks_back_one_change_at_a_time(session: Session, world: World) -> None:
    _, access, prediction = world
    a, b, c = (make_cause(session, access.project, n) for n in ("a", "b", "c"))
    for cause in (a, b, c):
        toggle_on(session, access, prediction, cause.id)
    assert causes_now(session, access, prediction) == {"a", "b", "c"}

    expected = [{"a", "b"}, {"a"}, set()]
    for wanted in expected:
        review.undo(
            session, access, prediction, expected_version=version_of(session, access, prediction)
        )
        assert causes_now(session, access, prediction) == wanted
    with pytest.raises(InvalidInput, match="Nothing left to undo"):
        review.undo(
            session, access, prediction, expected_version=version_of(session, access, prediction)
        )


def test_a_change_after_an_undo_is_what_the_next_undo_takes_back(
    session: Session, world: World
) -> None:
    _, access, prediction = world
    a, b, c = (make_cause(session, access.project, n) for n in ("a", "b", "c"))
    toggle_on(session, access, prediction, a.id)
    toggle_on(session, access, prediction, b.id)
    review.undo(
        session, access, prediction, expected_version=version_of(session, access, prediction)
    )
    toggle_on(session, access, prediction, c.id)
    assert causes_now(session, access, prediction) == {"a", "c"}
    review.undo(
        session, access, prediction, expected_version=version_of(session, access, prediction)
    )
    assert causes_now(session, access, prediction) == {"a"}
    review.undo(
        session, access, prediction, expected_version=version_of(session, access, prediction)
    )
    assert causes_now(session, access, prediction) == set()


def test_undo_is_recorded_and_refused_when_stale(session: Session, world: World) -> None:
    _, access, prediction = world
    a = make_cause(session, access.project, "a")
    toggle_on(session, access, prediction, a.id)
    with pytest.raises(ann.StaleAnnotation):
        review.undo(session, access, prediction, expected_version=0)
    result = review.undo(session, access, prediction, expected_version=1)
    assert [e.action for e in ann.history(session, result.annotation)] == ["edit", "undo"]


def test_undo_with_nothing_done_says_so(session: Session, world: World) -> None:
    _, access, prediction = world
    with pytest.raises(InvalidInput, match="Nothing to undo"):
        review.undo(session, access, prediction, expected_version=0)


def test_a_new_cause_is_created_with_the_next_key_and_applied(
    session: Session, world: World
) -> None:
    lead, _, prediction = world
    make_cause(session, lead.project, "Blurry", key="1")
    cause, result = review.create_and_apply(
        session, lead, prediction, "Occluded", ann.Draft(note="seen"), expected_version=0
    )
    assert cause.key == "2"
    assert result.state.cause_names == ("Occluded",)
    assert result.state.note == "seen"


def test_a_close_name_is_offered_instead_and_nothing_is_saved(
    session: Session, world: World
) -> None:
    lead, _, prediction = world
    make_cause(session, lead.project, "Blurry")
    with pytest.raises(SimilarCauseExists) as caught:
        review.create_and_apply(
            session, lead, prediction, "blurry ", ann.Draft(), expected_version=0
        )
    assert [c.name for c in caught.value.similar] == ["Blurry"]
    assert ann.find_annotation(session, prediction.id, lead.user.id) is None


def test_annotators_add_causes_only_when_the_project_allows(session: Session, world: World) -> None:
    _, access, prediction = world
    with pytest.raises(PermissionDenied):
        review.create_and_apply(session, access, prediction, "New", ann.Draft(), expected_version=0)
    access.project.annotators_may_add_causes = True
    cause, _ = review.create_and_apply(
        session, access, prediction, "New", ann.Draft(), expected_version=0
    )
    assert cause.name == "New"


def test_history_names_who_changed_what_and_a_lead_can_restore(
    session: Session, world: World
) -> None:
    lead, access, prediction = world
    a, b = make_cause(session, access.project, "a"), make_cause(session, access.project, "b")
    toggle_on(session, access, prediction, a.id)
    toggle_on(session, access, prediction, b.id)
    changes = review.error_history(session, lead, prediction)
    assert [c.summary for c in changes] == ["added b", "added a"]
    assert changes[0].actor == access.user.shown_name
    with pytest.raises(PermissionDenied):
        review.error_history(session, access, prediction)

    first = changes[-1].event.id
    review.restore(session, lead, prediction, first, expected_version=2)
    assert causes_now(session, access, prediction) == {"a"}
    assert review.error_history(session, lead, prediction)[0].event.action == "restore"
    with pytest.raises(PermissionDenied):
        review.restore(session, access, prediction, first, expected_version=3)


def test_finish_refuses_in_progress(session: Session, world: World) -> None:
    _, access, prediction = world
    with pytest.raises(InvalidInput):
        review.finish(
            session,
            access,
            session.get_one(Run, prediction.run_id),
            prediction,
            ann.Draft(status=AnnotationStatus.IN_PROGRESS),
            expected_version=0,
        )


def test_top_probabilities_always_show_the_true_label(session: Session, world: World) -> None:
    _, access, _ = world
    run = make_run(session, access.project)
    sample = make_sample(session, access.project, label="fox")
    probs = {"a": 0.5, "b": 0.2, "c": 0.1, "d": 0.08, "e": 0.07, "fox": 0.05}
    prediction = make_prediction(session, run, sample, label="a", probs=probs)
    shown = review.top_probabilities(prediction, sample, k=3)
    assert [p.label for p in shown] == ["a", "b", "c", "fox"]
    assert shown[0].is_predicted
    assert shown[-1].is_truth


def test_images_open_only_through_a_project_that_uses_them(session: Session, world: World) -> None:
    lead, access, _ = world
    session.add(
        MediaBlob(sha256="f" * 64, content_type="image/png", width=8, height=8, byte_size=10)
    )
    make_sample(session, lead.project, image_sha256="f" * 64)
    assert review.image_of(session, access, "f" * 64).width == 8
    other = make_project(session, make_user(session))
    outsider = get_access(session, session.get_one(User, _lead_of(session, other)), other.id)
    with pytest.raises(NotFound):
        review.image_of(session, outsider, "f" * 64)


def _lead_of(session: Session, project: Project) -> int:
    from sqlalchemy import select

    from app.models import Membership

    return session.scalars(
        select(Membership.user_id).where(Membership.project_id == project.id)
    ).one()
