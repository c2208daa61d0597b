"""One rule for the names of projects, runs, causes and groups, however they arrive."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput
from app.domain.imports.plan import ImportOptions, check_options
from app.domain.names import MAX_NAME
from app.domain.projects.access import get_access
from app.domain.projects.causes import create_cause, create_group
from app.domain.projects.runs import RunFields, resolve_run
from app.domain.projects.settings import ProjectFields, create_project
from app.models import SampleKind
from tests.domain.test_imports import run_import
from tests.factories import make_project, make_user
from tests.importing import csv_bytes, image_rows, images_for, zip_media

TOO_LONG = "x" * (MAX_NAME + 1)


def problem(refusal: InvalidInput, field: str = "name") -> str:
    return refusal.fields[field]


def test_every_way_in_refuses_an_empty_or_over_long_name_alike(session: Session) -> None:
    lead = make_user(session)
    access = get_access(session, lead, make_project(session, lead).id)
    for text, ending in [("   ", "a name."), (TOO_LONG, f"name under {MAX_NAME} characters.")]:
        with pytest.raises(InvalidInput) as project_form:
            ProjectFields.checked(name=text, kind="image")
        with pytest.raises(InvalidInput) as project_direct:  # the demo's and the factories' way
            create_project(session, lead, name=text, kind=SampleKind.IMAGE)
        with pytest.raises(InvalidInput) as run:
            RunFields.checked(name=text)
        with pytest.raises(InvalidInput) as cause:
            create_cause(session, access, text)
        with pytest.raises(InvalidInput) as group:
            create_group(session, access, text, "multi")
        [imported] = check_options(ImportOptions(run=text))
        assert problem(project_form.value) == problem(project_direct.value)
        assert problem(project_form.value).endswith(ending)
        assert problem(run.value) == imported.message
        assert problem(run.value).endswith(ending)
        assert problem(cause.value).endswith(ending)
        assert problem(group.value, "group_name").endswith(ending)


def test_spacing_in_a_name_counts_once_whichever_way_it_arrives(
    session: Session, tmp_path: Path
) -> None:
    lead = make_user(session)
    project = create_project(session, lead, name="  Cats   and dogs ", kind=SampleKind.IMAGE)
    assert project.name == "Cats and dogs"
    assert RunFields.checked(name=" v2   final ").name == "v2 final"
    rows = image_rows(3, 2)
    run_import(
        session, project, csv_bytes(rows), zip_media(images_for(rows)), tmp_path, run="v2  final"
    )
    assert resolve_run(session, project, "v2 final").name == "v2 final"
