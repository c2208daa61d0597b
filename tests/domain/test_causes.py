from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from app.domain.projects import causes
from app.domain.projects.access import ProjectAccess, get_access
from app.models import CauseGroup, GroupKind
from tests.factories import make_cause, make_project, make_user


def lead_access(session: Session, **project: Any) -> ProjectAccess:
    lead = make_user(session)
    return get_access(session, lead, make_project(session, lead, **project).id)


def test_new_causes_get_the_next_free_digit(session: Session) -> None:
    access = lead_access(session)
    first = causes.create_cause(session, access, "blurry")
    second = causes.create_cause(session, access, "dog", key=None)
    third = causes.create_cause(session, access, "great cat")
    assert (first.key, second.key, third.key) == ("1", None, "2")
    assert [c.name for c in causes.project_causes(session, access.project)] == [
        "blurry",
        "dog",
        "great cat",
    ]


def test_after_nine_keys_new_causes_get_none(session: Session) -> None:
    access = lead_access(session)
    names = [
        "dog",
        "blurry",
        "great cat",
        "filter",
        "dark",
        "cropped",
        "text overlay",
        "cartoon",
        "tiny",
    ]
    for name in names:
        causes.create_cause(session, access, name)
    assert causes.create_cause(session, access, "tenth and different").key is None


@pytest.mark.parametrize("typed", ["Blurry", "blurry ", " BLURRY", "blur-ry", "Blurry."])
def test_the_same_name_in_another_spelling_is_refused_and_offered(
    session: Session, typed: str
) -> None:
    access = lead_access(session)
    existing = causes.create_cause(session, access, "blurry")
    with pytest.raises(causes.SimilarCauseExists) as caught:
        causes.create_cause(session, access, typed, allow_similar=True)
    assert caught.value.similar == [existing]


def test_close_names_are_offered_but_can_be_insisted_on(session: Session) -> None:
    access = lead_access(session)
    existing = causes.create_cause(session, access, "motion blur")
    with pytest.raises(causes.SimilarCauseExists) as caught:
        causes.create_cause(session, access, "motion blurr")
    assert caught.value.similar == [existing]
    assert (
        causes.create_cause(session, access, "motion blurr", allow_similar=True).name
        == "motion blurr"
    )


def test_names_are_cleaned(session: Session) -> None:
    access = lead_access(session)
    assert causes.create_cause(session, access, "  instagram   filter ").name == "instagram filter"
    with pytest.raises(InvalidInput):
        causes.create_cause(session, access, "   ")


def test_annotators_add_causes_only_when_the_lead_allows(session: Session) -> None:
    lead, ann = make_user(session), make_user(session)
    closed = make_project(session, lead, annotators=[ann])
    opened = make_project(session, lead, annotators=[ann], annotators_may_add_causes=True)
    with pytest.raises(PermissionDenied):
        causes.create_cause(session, get_access(session, ann, closed.id), "dog")
    assert (
        causes.create_cause(session, get_access(session, ann, opened.id), "dog").created_by_id
        == ann.id
    )


def test_key_rules(session: Session) -> None:
    access = lead_access(session)
    make_cause(session, access.project, "blurry", key="1")
    with pytest.raises(Conflict, match="already used by 'blurry'"):
        causes.check_key(session, access.project, "1")
    with pytest.raises(InvalidInput, match="review-screen command"):
        causes.check_key(session, access.project, "l")
    with pytest.raises(InvalidInput):
        causes.check_key(session, access.project, "ab")
    assert causes.check_key(session, access.project, "D") == "d"


def test_causes_go_to_the_chosen_group_at_its_end(session: Session) -> None:
    access = lead_access(session)
    modules = CauseGroup(
        project_id=access.project.id, name="Module to blame", kind=GroupKind.SINGLE, position=1
    )
    session.add(modules)
    session.flush()
    detector = causes.create_cause(session, access, "detector", group_id=modules.id)
    classifier = causes.create_cause(session, access, "classifier", group_id=modules.id)
    assert (detector.group_id, detector.position, classifier.position) == (modules.id, 0, 1)
