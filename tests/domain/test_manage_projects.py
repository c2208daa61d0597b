"""Project settings, archive and delete, the team's rules, runs and site settings."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accounts import site
from app.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.domain.projects import runs, team
from app.domain.projects import settings as ps
from app.domain.projects.access import get_access, visible_projects
from app.domain.projects.runs import home_run
from app.models import (
    Annotation,
    AnnotationEvent,
    Cause,
    Membership,
    Project,
    ProjectRole,
    SampleKind,
)
from tests.factories import (
    make_annotation,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def fields(**overrides: str) -> ps.ProjectFields:
    form = {"name": "Pets", "kind": "image", "overlap": "1"}
    form.update(overrides)
    return ps.ProjectFields.from_form(form)


@pytest.mark.parametrize(
    ("typed", "labels"),
    [
        ("cat\ndog\n\n cat \nbird", ["cat", "dog", "bird"]),
        ("cat, dog,bird", ["cat", "dog", "bird"]),
        ("a, b\nc", ["a, b", "c"]),  # lines win: a label may hold a comma
        ("  ", []),
    ],
)
def test_labels_are_typed_or_pasted(typed: str, labels: list[str]) -> None:
    assert ps.parse_labels(typed) == labels


def test_the_project_form_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        ps.ProjectFields.from_form({"name": " ", "kind": "video", "overlap": "two"})
    assert set(caught.value.fields) == {"name", "kind", "overlap"}


def test_a_lead_may_start_a_project_and_becomes_its_lead(session: Session) -> None:
    lead = make_user(session)
    make_project(session, lead)
    project = ps.start_project(session, lead, fields(labels="cat\ndog", overlap="2"))
    access = get_access(session, lead, project.id)
    assert access.role is ProjectRole.LEAD
    assert (project.labels, project.overlap) == (["cat", "dog"], 2)


def test_plain_members_may_create_projects_only_when_admins_allow(session: Session) -> None:
    admin, member = make_user(session, admin=True), make_user(session)
    with pytest.raises(PermissionDenied):
        ps.start_project(session, member, fields())
    site.update_site_settings(session, admin, site.SiteSettings(members_may_create_projects=True))
    assert ps.start_project(session, member, fields()).name == "Pets"


def test_only_admins_change_site_settings(session: Session) -> None:
    with pytest.raises(PermissionDenied):
        site.update_site_settings(session, make_user(session), site.SiteSettings(True))
    assert site.site_settings(session).members_may_create_projects is False


def test_project_names_stay_unique(session: Session) -> None:
    lead = make_user(session, admin=True)
    make_project(session, name="Pets")
    with pytest.raises(Conflict) as caught:
        ps.start_project(session, lead, fields(name="pets"))
    assert caught.value.field == "name"


def test_settings_cannot_drop_labels_the_samples_use(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, labels=["cat", "dog"])
    make_sample(session, project, label="dog")
    access = get_access(session, lead, project.id)
    with pytest.raises(InvalidInput) as caught:
        ps.update_project(session, access, fields(labels="cat"))
    assert "dog" in caught.value.fields["labels"]
    with pytest.raises(InvalidInput) as kind:
        ps.update_project(session, access, fields(labels="cat\ndog", kind="text"))
    assert "kind" in kind.value.fields
    ps.update_project(session, access, fields(labels="cat\ndog\nbird", overlap="3"))
    assert (project.labels, project.overlap) == (["cat", "dog", "bird"], 3)


def test_archive_hides_makes_read_only_and_restores_with_history(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead, name="Old")
    run = make_run(session, project)
    cause = make_cause(session, project, "blurry")
    access = get_access(session, lead, project.id)
    ps.archive_project(session, access)
    assert [p.name for p, _ in visible_projects(session, lead)] == []
    assert [p.name for p, _ in visible_projects(session, lead, include_archived=True)] == ["Old"]
    with pytest.raises(PermissionDenied):
        ps.update_project(session, access, fields(name="Renamed"))
    with pytest.raises(PermissionDenied):
        team.add_member_by_username(session, access, make_user(session).username, ProjectRole.LEAD)
    ps.restore_project(session, access)
    assert session.get(Cause, cause.id) is not None
    assert home_run(session, project) == run
    assert [p.name for p, _ in visible_projects(session, lead)] == ["Old"]


def test_only_admins_delete_and_only_with_the_name_typed(session: Session) -> None:
    lead, admin = make_user(session), make_user(session, admin=True)
    project = make_project(session, lead, name="Doomed", annotators=[make_user(session)])
    run = make_run(session, project)
    prediction = make_prediction(session, run, make_sample(session, project))
    cause = make_cause(session, project)
    annotation = make_annotation(session, prediction, lead)
    from app.models import AnnotationCause

    session.add(AnnotationCause(annotation_id=annotation.id, cause_id=cause.id))
    session.flush()
    with pytest.raises(PermissionDenied):
        ps.delete_project(session, get_access(session, lead, project.id), "Doomed")
    admin_access = get_access(session, admin, project.id)
    with pytest.raises(InvalidInput):
        ps.delete_project(session, admin_access, "doomed")
    project_id = project.id
    assert ps.delete_project(session, admin_access, "Doomed") == "Doomed"
    session.expire_all()
    assert session.get(Project, project_id) is None
    assert session.scalar(select(func.count()).select_from(Annotation)) == 0
    assert session.scalar(select(func.count()).select_from(AnnotationEvent)) == 0
    with pytest.raises(NotFound):
        get_access(session, admin, project_id)


# --- the team ----------------------------------------------------------------------


def test_members_are_added_by_username(session: Session) -> None:
    lead, ann = make_user(session), make_user(session, "ann")
    project = make_project(session, lead)
    access = get_access(session, lead, project.id)
    team.add_member_by_username(session, access, " ANN ", ProjectRole.ANNOTATOR)
    assert get_access(session, ann, project.id).role is ProjectRole.ANNOTATOR
    with pytest.raises(Conflict):
        team.add_member_by_username(session, access, "ann", ProjectRole.LEAD)
    with pytest.raises(InvalidInput) as caught:
        team.add_member_by_username(session, access, "nobody", ProjectRole.LEAD)
    assert "nobody" in caught.value.fields["username"]


def test_annotators_cannot_change_the_team(session: Session) -> None:
    lead, ann = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann])
    with pytest.raises(PermissionDenied):
        team.remove_member(session, get_access(session, ann, project.id), lead.id)


def test_the_last_lead_cannot_leave_or_step_down(session: Session) -> None:
    lead, ann = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann])
    access = get_access(session, lead, project.id)
    with pytest.raises(Conflict):
        team.remove_member(session, access, lead.id)
    with pytest.raises(Conflict):
        team.change_role(session, access, lead.id, ProjectRole.ANNOTATOR)
    team.change_role(session, access, ann.id, ProjectRole.LEAD)
    team.change_role(session, access, lead.id, ProjectRole.ANNOTATOR)
    assert get_access(session, lead, project.id).role is ProjectRole.ANNOTATOR


def test_removal_keeps_the_annotations_attributed(session: Session) -> None:
    lead, ann = make_user(session), make_user(session)
    project = make_project(session, lead, annotators=[ann])
    run = make_run(session, project)
    annotation = make_annotation(
        session, make_prediction(session, run, make_sample(session, project)), ann
    )
    team.remove_member(session, get_access(session, lead, project.id), ann.id)
    with pytest.raises(NotFound):
        get_access(session, ann, project.id)
    membership = session.get(Membership, (project.id, ann.id))
    assert membership is not None
    assert membership.removed_at is not None
    assert session.get(Annotation, annotation.id) is not None
    # Adding them back restores their access with the new role.
    team.add_member_by_username(
        session, get_access(session, lead, project.id), ann.username, ProjectRole.LEAD
    )
    assert get_access(session, ann, project.id).role is ProjectRole.LEAD


# --- runs --------------------------------------------------------------------------


def test_run_metrics_are_typed_in_percent_and_stored_as_fractions(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    run = make_run(session, project, name="v1")
    form = {"name": "v1 final", "evaluated": "1,000", "human_error": "0.5%", "test_error": "12"}
    runs.update_run(
        session, get_access(session, lead, project.id), run.id, runs.RunFields.from_form(form)
    )
    assert (run.name, run.evaluated, run.human_error, run.test_error) == (
        "v1 final",
        1000,
        0.005,
        0.12,
    )
    assert run.training_error is None


def test_run_form_errors_are_by_field(session: Session) -> None:
    with pytest.raises(InvalidInput) as caught:
        runs.RunFields.from_form({"name": "", "evaluated": "-3", "test_error": "130"})
    assert set(caught.value.fields) == {"name", "evaluated", "test_error"}


def test_evaluated_cannot_be_below_the_imported_predictions(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    run = make_run(session, project)
    for _ in range(3):
        make_prediction(session, run, make_sample(session, project))
    with pytest.raises(InvalidInput) as caught:
        runs.update_run(
            session,
            get_access(session, lead, project.id),
            run.id,
            runs.RunFields.from_form({"name": run.name, "evaluated": "2"}),
        )
    assert "3" in caught.value.fields["evaluated"]


def test_one_default_run_at_a_time(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    first, second = make_run(session, project), make_run(session, project)
    access = get_access(session, lead, project.id)
    assert home_run(session, project) == second  # the newest by default
    runs.set_default_run(session, access, first.id)
    runs.set_default_run(session, access, first.id)
    assert home_run(session, project) == first
    runs.set_default_run(session, access, second.id)
    assert (first.is_default, second.is_default) == (False, True)
    runs.set_default_run(session, access, None)
    assert not second.is_default


def test_runs_of_another_project_are_not_found(session: Session) -> None:
    lead = make_user(session)
    mine, other = make_project(session, lead), make_project(session)
    run = make_run(session, other)
    with pytest.raises(NotFound):
        runs.set_default_run(session, get_access(session, lead, mine.id), run.id)


def test_kinds_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput):
        fields(kind="movie")
    assert fields(kind="text").kind is SampleKind.TEXT
