from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, PermissionDenied
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.review import annotations as ann
from app.models import AnnotationKind, AnnotationStatus, CauseGroup, GroupKind, Prediction, User
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


def test_first_save_creates_version_one_and_an_event(session: Session, world: World) -> None:
    _, access, prediction = world
    blurry = make_cause(session, access.project, "blurry")
    result = ann.save(
        session, access, prediction, ann.Draft(cause_ids=frozenset({blurry.id})), expected_version=0
    )
    assert result.changed
    assert result.annotation.version == 1
    assert result.state.cause_names == ("blurry",)
    [event] = ann.history(session, result.annotation)
    assert event.before is None
    assert event.after["causes"] == [blurry.id]
    assert event.actor_id == access.user.id


def test_each_change_bumps_the_version_and_keeps_before_and_after(
    session: Session, world: World
) -> None:
    _, access, prediction = world
    a, b = make_cause(session, access.project, "a"), make_cause(session, access.project, "b")
    first = ann.save(
        session, access, prediction, ann.Draft(cause_ids=frozenset({a.id})), expected_version=0
    )
    second = ann.save(
        session,
        access,
        prediction,
        ann.Draft(cause_ids=frozenset({a.id, b.id}), note="two"),
        expected_version=1,
    )
    assert second.annotation is first.annotation
    assert second.annotation.version == 2
    events = ann.history(session, second.annotation)
    assert [e.version for e in events] == [1, 2]
    assert events[1].before is not None
    assert events[1].before["causes"] == [a.id]
    assert events[1].after["causes"] == sorted([a.id, b.id])
    assert events[1].after["note"] == "two"


def test_saving_the_same_state_again_changes_nothing(session: Session, world: World) -> None:
    _, access, prediction = world
    draft = ann.Draft(note="same")
    ann.save(session, access, prediction, draft, expected_version=0)
    again = ann.save(session, access, prediction, draft, expected_version=1)
    assert not again.changed
    assert again.annotation.version == 1
    assert len(ann.history(session, again.annotation)) == 1


def test_a_stale_version_is_refused_with_the_current_state(session: Session, world: World) -> None:
    _, access, prediction = world
    ann.save(session, access, prediction, ann.Draft(note="from tab A"), expected_version=0)
    with pytest.raises(ann.StaleAnnotation) as caught:
        ann.save(session, access, prediction, ann.Draft(note="from tab B"), expected_version=0)
    assert caught.value.version == 1
    assert caught.value.current.note == "from tab A"


def test_two_annotators_never_overwrite_each_other(session: Session, world: World) -> None:
    lead, access, prediction = world
    mine = ann.save(session, access, prediction, ann.Draft(note="annotator"), expected_version=0)
    theirs = ann.save(session, lead, prediction, ann.Draft(note="lead"), expected_version=0)
    assert mine.annotation.id != theirs.annotation.id
    assert ann.state_of(session, mine.annotation).note == "annotator"


def test_single_groups_take_at_most_one_cause(session: Session, world: World) -> None:
    _, access, prediction = world
    group = CauseGroup(
        project_id=access.project.id, name="Module", kind=GroupKind.SINGLE, position=1
    )
    session.add(group)
    session.flush()
    detector = make_cause(session, access.project, "detector", group=group)
    classifier = make_cause(session, access.project, "classifier", group=group)
    with pytest.raises(InvalidInput, match="at most one cause of 'Module'"):
        ann.save(
            session,
            access,
            prediction,
            ann.Draft(cause_ids=frozenset({detector.id, classifier.id})),
            expected_version=0,
        )


def test_causes_of_another_project_are_refused(session: Session, world: World) -> None:
    _, access, prediction = world
    foreign = make_cause(session, make_project(session), "elsewhere")
    with pytest.raises(InvalidInput, match="do not exist in this project"):
        ann.save(
            session,
            access,
            prediction,
            ann.Draft(cause_ids=frozenset({foreign.id})),
            expected_version=0,
        )


def test_label_errors_and_suggested_labels(session: Session, world: World) -> None:
    _, access, prediction = world
    result = ann.save(
        session,
        access,
        prediction,
        ann.Draft(label_error=True, suggested_label="dog"),
        expected_version=0,
    )
    assert result.state.suggested_label == "dog"
    with pytest.raises(InvalidInput, match="not one of the project's labels"):
        ann.save(
            session,
            access,
            prediction,
            ann.Draft(label_error=True, suggested_label="cow"),
            expected_version=1,
        )
    with pytest.raises(InvalidInput, match="is the current label"):
        ann.save(
            session,
            access,
            prediction,
            ann.Draft(label_error=True, suggested_label="cat"),
            expected_version=1,
        )
    cleared = ann.save(
        session,
        access,
        prediction,
        ann.Draft(label_error=False, suggested_label="dog"),
        expected_version=1,
    )
    assert cleared.state.suggested_label is None


def test_skips_keep_their_reason(session: Session, world: World) -> None:
    _, access, prediction = world
    result = ann.save(
        session,
        access,
        prediction,
        ann.Draft(status=AnnotationStatus.SKIPPED, skip_reason=" too dark to tell "),
        expected_version=0,
    )
    assert result.state.skip_reason == "too dark to tell"


def test_correct_predictions_are_not_annotated(session: Session, world: World) -> None:
    _, access, _ = world
    run = make_run(session, access.project)
    right = make_prediction(
        session, run, make_sample(session, access.project, label="cat"), label="cat"
    )
    with pytest.raises(InvalidInput, match="Only errors"):
        ann.save(session, access, right, ann.Draft(), expected_version=0)


def test_only_leads_adjudicate_and_touch_others_annotations(session: Session, world: World) -> None:
    lead, access, prediction = world
    with pytest.raises(PermissionDenied):
        ann.save(
            session,
            access,
            prediction,
            ann.Draft(),
            expected_version=0,
            kind=AnnotationKind.ADJUDICATION,
        )
    verdict = ann.save(
        session,
        lead,
        prediction,
        ann.Draft(label_error=True),
        expected_version=0,
        kind=AnnotationKind.ADJUDICATION,
    )
    assert verdict.annotation.kind is AnnotationKind.ADJUDICATION
    with pytest.raises(PermissionDenied):
        ann.save(session, access, prediction, ann.Draft(), expected_version=0, annotator=lead.user)


def test_admins_outside_the_team_cannot_annotate(session: Session, world: World) -> None:
    _, access, prediction = world
    admin: User = make_user(session, admin=True)
    with pytest.raises(PermissionDenied, match="join the team"):
        ann.save(
            session,
            get_access(session, admin, access.project.id),
            prediction,
            ann.Draft(),
            expected_version=0,
        )


def test_any_earlier_state_can_be_restored_and_the_restore_is_an_event(
    session: Session, world: World
) -> None:
    _, access, prediction = world
    a = make_cause(session, access.project, "a")
    first = ann.save(
        session,
        access,
        prediction,
        ann.Draft(cause_ids=frozenset({a.id}), note="v1"),
        expected_version=0,
    )
    ann.save(session, access, prediction, ann.Draft(note="v2"), expected_version=1)
    ann.save(
        session, access, prediction, ann.Draft(note="v3", label_error=True), expected_version=2
    )
    original = ann.history(session, first.annotation)[0]
    restored = ann.restore(session, access, first.annotation, original.id, expected_version=3)
    assert restored.state.note == "v1"
    assert restored.state.cause_ids == (a.id,)
    assert not restored.state.label_error
    events = ann.history(session, first.annotation)
    assert [e.action for e in events] == ["edit", "edit", "edit", "restore"]
    assert events[-1].before is not None
    assert events[-1].before["note"] == "v3"


def test_replacing_causes_moves_every_annotation_and_records_events(
    session: Session, world: World
) -> None:
    lead, access, prediction = world
    old, new = (
        make_cause(session, access.project, "blur"),
        make_cause(session, access.project, "blurry"),
    )
    mine = ann.save(
        session, access, prediction, ann.Draft(cause_ids=frozenset({old.id})), expected_version=0
    )
    theirs = ann.save(
        session,
        lead,
        prediction,
        ann.Draft(cause_ids=frozenset({old.id, new.id})),
        expected_version=0,
    )
    untouched = ann.save(
        session,
        access,
        make_prediction(
            session, make_run(session, access.project), make_sample(session, access.project)
        ),
        ann.Draft(note="x"),
        expected_version=0,
    )
    moved = ann.replace_causes(
        session,
        lead,
        [mine.annotation, theirs.annotation, untouched.annotation],
        {old.id: new.id},
        action="merge",
    )
    assert moved == 2
    assert ann.state_of(session, mine.annotation).cause_ids == (new.id,)
    assert ann.state_of(session, theirs.annotation).cause_ids == (new.id,)
    last = ann.history(session, mine.annotation)[-1]
    assert last.before is not None
    assert (last.action, last.actor_id, last.before["cause_names"]) == (
        "merge",
        lead.user.id,
        ["blur"],
    )


def test_state_round_trips_through_json() -> None:
    state = ann.AnnotationState((1, 2), ("a", "b"), True, "dog", "n", AnnotationStatus.UNSURE, "")
    assert ann.AnnotationState.from_json(state.to_json()) == state
    assert state.same_decision(replace(state, cause_names=("renamed", "b")))
