"""A lead tending causes: edit, reorder, groups, archive, delete and merge."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from app.domain.projects import causes
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.projects.settings import archive_project
from app.domain.review.annotations import Draft, history, save, state_of
from app.domain.review.visibility import everything
from app.models import Annotation, AnnotationEvent, Cause, GroupKind, Prediction, User
from tests.factories import make_prediction, make_project, make_run, make_sample, make_user


def setup(session: Session) -> tuple[ProjectAccess, User, User]:
    lead, ann = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann])
    return get_access(session, lead, project.id), lead, ann


def edit(session: Session, access: ProjectAccess, cause: Cause, **changes: Any) -> Cause:
    values: dict[str, Any] = {
        "name": cause.name,
        "description": cause.description,
        "key": cause.key or "",
        "group_id": cause.group_id,
    }
    values.update(changes)
    return causes.update_cause(session, access, cause.id, **values)


def errors(session: Session, access: ProjectAccess, n: int) -> list[Prediction]:
    run = make_run(session, access.project)
    return [make_prediction(session, run, make_sample(session, access.project)) for _ in range(n)]


def annotate(
    session: Session, access: ProjectAccess, prediction: Prediction, *picked: Cause
) -> Annotation:
    return save(
        session,
        access,
        prediction,
        Draft(cause_ids=frozenset(c.id for c in picked)),
        expected_version=0,
    ).annotation


def test_rename_describe_and_rekey(session: Session) -> None:
    access, _, _ = setup(session)
    blurry = causes.create_cause(session, access, "blurry")
    edit(session, access, blurry, name="Blurry photo", description="Focus or motion blur", key="b")
    assert (blurry.name, blurry.description, blurry.key) == (
        "Blurry photo",
        "Focus or motion blur",
        "b",
    )
    edit(session, access, blurry, key="")
    assert blurry.key is None


def test_renaming_refuses_the_same_idea_twice(session: Session) -> None:
    access, _, _ = setup(session)
    causes.create_cause(session, access, "blurry")
    dark = causes.create_cause(session, access, "dark")
    with pytest.raises(causes.SimilarCauseExists):
        edit(session, access, dark, name="Blurry", allow_similar=True)
    with pytest.raises(causes.SimilarCauseExists):
        edit(session, access, dark, name="blury")
    assert edit(session, access, dark, name="blury", allow_similar=True).name == "blury"


@pytest.mark.parametrize(
    ("key", "kind"), [("1", Conflict), ("n", InvalidInput), ("42", InvalidInput)]
)
def test_key_conflicts_and_reserved_keys_are_refused(
    session: Session, key: str, kind: type[Exception]
) -> None:
    access, _, _ = setup(session)
    causes.create_cause(session, access, "blurry")  # takes key 1
    dark = causes.create_cause(session, access, "dark", key=None)
    with pytest.raises(kind):
        edit(session, access, dark, key=key)
    assert dark.key is None


def test_reorder_by_steps_within_a_group(session: Session) -> None:
    access, _, _ = setup(session)
    a, b, c = (causes.create_cause(session, access, n) for n in ("alpha", "bravo", "charlie"))
    causes.move_cause(session, access, c.id, -1)
    causes.move_cause(session, access, c.id, -1)
    causes.move_cause(session, access, c.id, -1)  # already first: stays
    causes.move_cause(session, access, a.id, +1)
    order = [x.name for x in causes.taxonomy(session, access.project, everything()).active]
    assert order == ["charlie", "bravo", "alpha"]
    assert b.position == 1


def test_groups_and_moving_between_them(session: Session) -> None:
    access, _, _ = setup(session)
    quality = causes.create_group(session, access, "Image quality", "single")
    assert quality.kind is GroupKind.SINGLE
    with pytest.raises(Conflict):
        causes.create_group(session, access, "image  quality", "multi")
    with pytest.raises(InvalidInput):
        causes.create_group(session, access, "Other", "several")
    blurry = causes.create_cause(session, access, "blurry")
    edit(session, access, blurry, group_id=quality.id)
    groups = causes.taxonomy(session, access.project, everything()).groups
    assert [(g.name, [c.name for c in cs]) for g, cs in groups] == [
        ("Causes", []),
        ("Image quality", ["blurry"]),
    ]


def test_annotators_see_but_do_not_edit(session: Session) -> None:
    access, _, ann = setup(session)
    blurry = causes.create_cause(session, access, "blurry")
    theirs = get_access(session, ann, access.project.id)
    for attempt in (
        lambda: edit(session, theirs, blurry, name="fuzzy"),
        lambda: causes.move_cause(session, theirs, blurry.id, 1),
        lambda: causes.archive_cause(session, theirs, blurry.id),
        lambda: causes.merge_preview(session, theirs, blurry.id, blurry.id),
    ):
        with pytest.raises(PermissionDenied):
            attempt()


def test_archive_hides_from_review_keeps_history_and_frees_the_key(session: Session) -> None:
    access, _, _ = setup(session)
    blurry = causes.create_cause(session, access, "blurry")
    annotation = annotate(session, access, errors(session, access, 1)[0], blurry)
    causes.archive_cause(session, access, blurry.id)
    tax = causes.taxonomy(session, access.project, everything())
    assert tax.active == []
    assert tax.archived == [blurry]
    assert tax.counts == {blurry.id: 1}
    assert state_of(session, annotation).cause_names == ("blurry",)
    assert causes.create_cause(session, access, "dark").key == "1"  # the freed key
    causes.unarchive_cause(session, access, blurry.id)
    assert [c.name for c in causes.taxonomy(session, access.project, everything()).active] == [
        "dark",
        "blurry",
    ]


def test_unarchiving_gives_the_key_back_unless_a_live_cause_took_it(session: Session) -> None:
    access, _, _ = setup(session)
    blurry, dark = (causes.create_cause(session, access, n) for n in ("blurry", "dark"))
    assert (blurry.key, dark.key) == ("1", "2")
    causes.archive_cause(session, access, blurry.id)
    causes.unarchive_cause(session, access, blurry.id)
    assert blurry.key == "1"

    causes.archive_cause(session, access, blurry.id)
    causes.archive_cause(session, access, dark.id)
    fox = causes.create_cause(session, access, "fox")  # takes the first free key, "1"
    causes.unarchive_cause(session, access, blurry.id)
    causes.unarchive_cause(session, access, dark.id)
    assert fox.key == "1"
    assert dark.key == "2"
    assert blurry.key is None  # its key is fox's now


def test_only_unused_causes_can_be_deleted(session: Session) -> None:
    access, _, _ = setup(session)
    used, unused = (causes.create_cause(session, access, n) for n in ("blurry", "dark"))
    annotate(session, access, errors(session, access, 1)[0], used)
    with pytest.raises(Conflict):
        causes.delete_cause(session, access, used.id)
    assert causes.delete_cause(session, access, unused.id) == "dark"
    assert session.get(Cause, unused.id) is None


def test_merge_moves_every_annotation_and_records_events(session: Session) -> None:
    access, lead, ann = setup(session)
    blurry, fuzzy, dark = (
        causes.create_cause(session, access, n) for n in ("blurry", "fuzzy", "dark")
    )
    theirs = get_access(session, ann, access.project.id)
    one, two, three = errors(session, access, 3)
    mine_1 = annotate(session, access, one, fuzzy)
    mine_2 = annotate(session, access, two, fuzzy, blurry)  # already has the target
    theirs_1 = annotate(session, theirs, one, fuzzy, dark)
    untouched = annotate(session, theirs, three, dark)

    preview = causes.merge_preview(session, access, fuzzy.id, blurry.id)
    assert (preview.annotations, preview.errors) == (3, 2)

    causes.merge_causes(session, access, fuzzy.id, blurry.id)
    assert state_of(session, mine_1).cause_names == ("blurry",)
    assert state_of(session, mine_2).cause_names == ("blurry",)
    assert set(state_of(session, theirs_1).cause_names) == {"blurry", "dark"}
    assert fuzzy.archived_at is not None
    merges = session.scalars(select(AnnotationEvent).where(AnnotationEvent.action == "merge")).all()
    assert sorted(e.annotation_id for e in merges) == sorted([mine_1.id, mine_2.id, theirs_1.id])
    assert all(e.actor_id == lead.id for e in merges)
    assert [e.action for e in history(session, untouched)] == ["edit"]
    # The annotator's own annotation still belongs to them.
    assert theirs_1.annotator_id == ann.id


def test_a_merge_that_breaks_a_one_per_error_group_changes_nothing(session: Session) -> None:
    access, _, _ = setup(session)
    quality = causes.create_group(session, access, "Quality", "single")
    blurry = causes.create_cause(session, access, "blurry", group_id=quality.id)
    dark = causes.create_cause(session, access, "dark", group_id=quality.id)
    fuzzy = causes.create_cause(session, access, "fuzzy")
    one, two = errors(session, access, 2)
    first = annotate(session, access, one, fuzzy)
    second = annotate(session, access, two, fuzzy, dark)
    with pytest.raises(InvalidInput):
        causes.merge_causes(session, access, fuzzy.id, blurry.id)
    assert state_of(session, first).cause_names == ("fuzzy",)
    assert set(state_of(session, second).cause_names) == {"fuzzy", "dark"}
    assert fuzzy.archived_at is None


def test_merge_refuses_itself_and_archived_targets(session: Session) -> None:
    access, _, _ = setup(session)
    blurry, dark = (causes.create_cause(session, access, n) for n in ("blurry", "dark"))
    with pytest.raises(InvalidInput):
        causes.merge_preview(session, access, blurry.id, blurry.id)
    causes.archive_cause(session, access, dark.id)
    with pytest.raises(InvalidInput):
        causes.merge_preview(session, access, blurry.id, dark.id)


def test_an_admin_off_the_team_can_merge(session: Session) -> None:
    access, _, _ = setup(session)
    blurry, fuzzy = (causes.create_cause(session, access, n) for n in ("blurry", "fuzzy"))
    annotation = annotate(session, access, errors(session, access, 1)[0], fuzzy)
    admin = get_access(session, make_user(session, admin=True), access.project.id)
    assert causes.merge_causes(session, admin, fuzzy.id, blurry.id).annotations == 1
    assert state_of(session, annotation).cause_names == ("blurry",)


def test_archived_projects_refuse_cause_changes(session: Session) -> None:
    access, _, _ = setup(session)
    blurry = causes.create_cause(session, access, "blurry")
    archive_project(session, access)
    with pytest.raises(PermissionDenied):
        causes.create_cause(session, access, "dark")
    with pytest.raises(PermissionDenied):
        causes.archive_cause(session, access, blurry.id)


def test_taxonomy_changes_are_announced_to_open_pages(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.domain import live

    heard: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(live, "announce", lambda _s, _p, kind, **data: heard.append((kind, data)))
    access, _, _ = setup(session)
    blurry = causes.create_cause(session, access, "blurry")
    edit(session, access, blurry, name="blurry photo")
    causes.archive_cause(session, access, blurry.id)
    assert [(kind, data.get("change")) for kind, data in heard] == [
        ("cause", None),
        ("cause", "edited"),
        ("cause", "archived"),
    ]
    assert heard[1][1]["name"] == "blurry photo"
