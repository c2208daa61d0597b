"""Plain words for what the database refused.

Domain functions check their rules before writing, but two requests can race past
a check; then the constraint is the last line of defence and its refusal must still
read as a sentence, on PostgreSQL (which names the constraint) and SQLite (which
names only the columns).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.db import Base
from app.i18n import lazy_gettext

MESSAGES: dict[str, Any] = {
    "uq_user_account_username": lazy_gettext("That username is taken."),
    "uq_project_name": lazy_gettext("A project with that name already exists."),
    "uq_sample_project_id_external_id": lazy_gettext(
        "The project already has a sample with that id."
    ),
    "uq_run_project_id_name": lazy_gettext("The project already has a run with that name."),
    "uq_run_default_per_project": lazy_gettext("Only one run can be the project's default."),
    "uq_prediction_run_id_sample_id": lazy_gettext(
        "The run already has a prediction for that sample."
    ),
    "uq_cause_group_project_id_name": lazy_gettext(
        "The project already has a cause group with that name."
    ),
    "uq_cause_project_id_name": lazy_gettext("The project already has a cause with that name."),
    "uq_cause_project_id_key": lazy_gettext("Another cause already uses that key."),
    "uq_annotation_prediction_id_annotator_id_kind": lazy_gettext(
        "That annotation already exists."
    ),
    "uq_annotation_one_adjudication": lazy_gettext("That error has already been adjudicated."),
    "uq_review_lease_prediction_id_user_id": lazy_gettext("That error is already claimed."),
    "fk_prediction_sample_project": lazy_gettext(
        "A prediction can only refer to a sample of its own project."
    ),
    "fk_prediction_run_project": lazy_gettext(
        "A prediction can only belong to a run of its own project."
    ),
    "fk_cause_group_project": lazy_gettext(
        "A cause can only belong to a group of its own project."
    ),
    "fk_annotation_membership": lazy_gettext(
        "Only members of the project can annotate its errors."
    ),
    "fk_annotation_prediction_project": lazy_gettext(
        "An annotation must refer to an error of its project."
    ),
}
GENERIC = lazy_gettext("The change conflicts with what is stored, so nothing was saved.")
SQLITE_FOREIGN_KEY = lazy_gettext(
    "The change refers to something that does not exist or belongs to another "
    "project (or to a non-member), so nothing was saved."
)

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w., ]+)")


def _unique_name_by_columns(table: str, columns: list[str]) -> str | None:
    metadata_table = Base.metadata.tables.get(table)
    if metadata_table is None:
        return None
    wanted = set(columns)
    for constraint in metadata_table.constraints:
        names = {c.name for c in getattr(constraint, "columns", [])}
        if names == wanted and constraint.name:
            return str(constraint.name)
    for index in metadata_table.indexes:
        if index.unique and {c.name for c in index.columns} == wanted and index.name:
            return str(index.name)
    return None


def constraint_name(exc: IntegrityError) -> str | None:
    """The refused constraint's name, from either database's error."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    if match:
        qualified = [c.strip() for c in match.group("columns").split(",")]
        table = qualified[0].split(".")[0]
        return _unique_name_by_columns(table, [c.split(".")[1] for c in qualified])
    return None


def describe(exc: IntegrityError) -> str:
    name = constraint_name(exc)
    if name in MESSAGES:
        return str(MESSAGES[name])
    if "FOREIGN KEY constraint failed" in str(exc.orig):
        return str(SQLITE_FOREIGN_KEY)
    return str(GENERIC)
