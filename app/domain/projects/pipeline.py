"""A project's pipeline: its model as a chain of modules (detector -> classifier).

The method blames each error on a module: replace that module's output with a perfect
one by hand; if the rest then gets it right, that module is to blame. The blame is
marked with causes of one group, "Module to blame" (one cause per module, plus
"Pipeline design" and the "Ambiguous" mark), so the review screen, the sheet, its
consensus, filters and ceilings treat it as they treat any cause. The group allows
several causes per error: an error is sometimes blamed on two modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import DomainError, InvalidInput
from app.domain.names import clean_name, name_problem
from app.domain.numbers import whole_number
from app.domain.projects.access import ProjectAccess
from app.domain.projects.causes import (
    archive_cause,
    create_cause,
    fold,
    group_named,
    next_free_key,
    place_cause,
    project_causes,
    unarchive_cause,
    update_cause,
)
from app.domain.projects.runs import parse_percent
from app.i18n import gettext as _
from app.models import Cause, CauseGroup, Pipeline, PipelineModule, Project

GROUP_NAME = "Module to blame"
DESIGN_NAME = "Pipeline design"
AMBIGUOUS_NAME = "Ambiguous"
# One digit key each, at most, and a chain longer than this is rarely analysed by hand.
MAX_MODULES = 9

DESIGN_TEST = (
    "Every module's output, made perfect, still leaves it wrong: the split into modules "
    "is to blame, not one module."
)
AMBIGUOUS_TEST = (
    "The test does not settle it: what a perfect output of the module would be is unclear."
)


# The method's test, as the review screen puts it beside the modules.
BLAME_TEST = "Replace this module's output with a perfect one: does the rest get it right?"


def blame_test(module: str) -> str:
    """The method's test for one module, shown wherever a person blames it."""
    return (
        f"Replace {module}'s output with a perfect one: does the rest get it right? "
        f"Then {module} is to blame."
    )


# --- what the lead declares -------------------------------------------------------------


@dataclass(frozen=True)
class ModuleFields:
    row: int  # its row on the form, so a problem is shown beside it
    id: int | None  # the module it edits; None for a new one
    name: str  # blank: take the module out of the pipeline
    accuracy: float | None
    human_accuracy: float | None


@dataclass(frozen=True)
class PipelineFields:
    modules: tuple[ModuleFields, ...]  # input side first

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> PipelineFields:
        """Rows `module-N-id`, `module-N-name`, `module-N-accuracy`, `module-N-human`,
        accuracies typed as percentages ('97.5' or '97.5%')."""
        problems: dict[str, str] = {}
        rows = sorted(
            {int(m.group(1)) for key in form if (m := re.fullmatch(r"module-(\d+)-name", key))}
        )
        modules = []
        for row in rows:
            prefix = f"module-{row}-"
            raw_id = form.get(prefix + "id", "").strip()
            accuracies: list[float | None] = []
            for field in ("accuracy", "human"):
                try:
                    accuracies.append(parse_percent(form.get(prefix + field, "")))
                except ValueError:
                    problems[prefix + field] = _("A percentage between 0 and 100, or blank.")
                    accuracies.append(None)
            modules.append(
                ModuleFields(
                    row=row,
                    id=whole_number(raw_id),
                    name=clean_name(form.get(prefix + "name", "")),
                    accuracy=accuracies[0],
                    human_accuracy=accuracies[1],
                )
            )
        return cls.checked(modules, problems)

    @classmethod
    def checked(
        cls, modules: list[ModuleFields], problems: dict[str, str] | None = None
    ) -> PipelineFields:
        problems = dict(problems or {})
        seen: dict[str, str] = {
            fold(DESIGN_NAME): DESIGN_NAME,
            fold(AMBIGUOUS_NAME): AMBIGUOUS_NAME,
        }
        for module in modules:
            prefix = f"module-{module.row}-"
            if not module.name:
                if module.id is None and (module.accuracy, module.human_accuracy) != (None, None):
                    problems[prefix + "name"] = _("Name the module these accuracies are for.")
                continue
            if problem := name_problem(module.name, "module"):
                problems[prefix + "name"] = problem
            elif fold(module.name) in seen:
                problems[prefix + "name"] = _(
                    "%(name)s is already in the list.", name=repr(seen[fold(module.name)])
                )
            seen.setdefault(fold(module.name), module.name)
        if sum(1 for m in modules if m.name) > MAX_MODULES:
            problems["modules"] = _("At most %(most)s modules.", most=MAX_MODULES)
        if problems:
            raise InvalidInput(problems)
        return cls(tuple(modules))


# --- what is stored ---------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    id: int
    cause_id: int
    name: str  # its cause's name
    key: str | None
    archived: bool  # its cause was archived on the causes page
    position: int
    accuracy: float | None
    human_accuracy: float | None

    @property
    def test(self) -> str:
        return blame_test(self.name)


@dataclass(frozen=True)
class PipelineInfo:
    """A project's pipeline as the pages and the API show it."""

    group_id: int
    group_name: str
    modules: tuple[Module, ...]  # input side first
    design_cause_id: int | None
    ambiguous_cause_id: int | None

    @property
    def chain(self) -> str:
        return " → ".join(m.name for m in self.modules)

    @property
    def module_cause_ids(self) -> frozenset[int]:
        return frozenset(m.cause_id for m in self.modules)

    @property
    def blames(self) -> frozenset[int]:
        """The causes that blame a part (the modules and the design), not the mark."""
        design = {self.design_cause_id} if self.design_cause_id is not None else set()
        return self.module_cause_ids | design

    @property
    def test(self) -> str:
        return BLAME_TEST


def pipeline_of(session: Session, project: Project) -> PipelineInfo | None:
    """The project's pipeline, or None when it declares none (two small queries)."""
    row = session.execute(
        select(Pipeline, CauseGroup.name)
        .join(CauseGroup, CauseGroup.id == Pipeline.group_id)
        .where(Pipeline.project_id == project.id)
    ).first()
    if row is None:
        return None
    pipeline, group_name = row
    modules = tuple(
        Module(
            id=m.id,
            cause_id=c.id,
            name=c.name,
            key=c.key,
            archived=c.archived_at is not None,
            position=m.position,
            accuracy=m.accuracy,
            human_accuracy=m.human_accuracy,
        )
        for m, c in session.execute(
            select(PipelineModule, Cause)
            .join(Cause, Cause.id == PipelineModule.cause_id)
            .where(PipelineModule.project_id == project.id)
            .order_by(PipelineModule.position, PipelineModule.id)
        )
    )
    return PipelineInfo(
        group_id=pipeline.group_id,
        group_name=group_name,
        modules=modules,
        design_cause_id=pipeline.design_cause_id,
        ambiguous_cause_id=pipeline.ambiguous_cause_id,
    )


# --- declaring it -----------------------------------------------------------------------


def _live_cause(
    session: Session, access: ProjectAccess, group: CauseGroup, name: str, description: str
) -> Cause:
    """The group's cause called `name`, brought back if archived, else created with the
    next free key. A cause of that name in another group is not taken over: that would
    move someone's column without asking."""
    existing = next(
        (c for c in project_causes(session, access.project) if fold(c.name) == fold(name)), None
    )
    if existing is None:
        return create_cause(
            session, access, name, description=description, group_id=group.id, allow_similar=True
        )
    if existing.group_id != group.id:
        raise InvalidInput(
            {
                "name": _(
                    "A cause called %(name)s exists in another group; rename one.",
                    name=repr(existing.name),
                )
            }
        )
    return _keep(session, access, existing, name, description)


def _keep(
    session: Session, access: ProjectAccess, cause: Cause, name: str, description: str
) -> Cause:
    """A pipeline cause live under this name, with a key: archiving freed its key."""
    if cause.archived_at is not None:
        unarchive_cause(session, access, cause.id)
    if cause.name == name and cause.description == description and cause.key is not None:
        return cause
    return update_cause(
        session,
        access,
        cause.id,
        name=name,
        description=description,
        key=cause.key or next_free_key(session, access.project) or "",
        group_id=cause.group_id,
        allow_similar=True,
    )


def _on_row(module: ModuleFields, exc: DomainError) -> InvalidInput:
    message = exc.fields.get("name", exc.message) if isinstance(exc, InvalidInput) else exc.message
    return InvalidInput({f"module-{module.row}-name": message})


def declare_pipeline(
    session: Session, access: ProjectAccess, fields: PipelineFields
) -> PipelineInfo | None:
    """Store the chain as the lead lists it: modules added, renamed, reordered, given
    accuracies, or taken out (a blank name). A module taken out has its cause archived,
    never deleted: annotations that blamed it keep it. No module left: no pipeline."""
    access.require_open_lead()
    project = access.project
    pipeline = session.get(Pipeline, project.id)
    stored = {
        m.id: m
        for m in session.scalars(
            select(PipelineModule).where(PipelineModule.project_id == project.id)
        )
    }
    for module in fields.modules:
        if module.id is not None and module.id not in stored:
            raise InvalidInput(
                {f"module-{module.row}-name": _("This module was taken out meanwhile; reload.")}
            )
    kept = [m for m in fields.modules if m.name]
    dropped = [stored[m.id] for m in fields.modules if m.id is not None and not m.name]
    dropped += [m for i, m in stored.items() if i not in {f.id for f in fields.modules}]
    for module_row in dropped:
        archive_cause(session, access, module_row.cause_id)
        session.delete(module_row)
    session.flush()
    if not kept:
        if pipeline is not None:
            for cause_id in (pipeline.design_cause_id, pipeline.ambiguous_cause_id):
                if cause_id is not None:
                    archive_cause(session, access, cause_id)
            session.delete(pipeline)
            session.flush()
        return None

    if pipeline is None:
        group = group_named(session, access, GROUP_NAME)
        pipeline = Pipeline(project_id=project.id, group_id=group.id)
        session.add(pipeline)
        session.flush()
    else:
        found = session.get(CauseGroup, pipeline.group_id)
        assert found is not None  # the foreign key cascades
        group = found

    order: list[Cause] = []
    for position, module in enumerate(kept):
        row = stored.get(module.id) if module.id is not None else None
        try:
            if row is None:
                cause = _live_cause(session, access, group, module.name, blame_test(module.name))
            else:  # renamed in place, or unchanged: the same cause, its history with it
                current = session.get(Cause, row.cause_id)
                assert current is not None  # the foreign key cascades
                cause = _keep(session, access, current, module.name, blame_test(module.name))
        except DomainError as exc:
            raise _on_row(module, exc) from exc
        if row is None:
            row = PipelineModule(project_id=project.id, cause_id=cause.id, position=position)
            session.add(row)
        row.position = position
        row.accuracy = module.accuracy
        row.human_accuracy = module.human_accuracy
        order.append(cause)
    design = _live_cause(session, access, group, DESIGN_NAME, DESIGN_TEST)
    ambiguous = _live_cause(session, access, group, AMBIGUOUS_NAME, AMBIGUOUS_TEST)
    pipeline.design_cause_id, pipeline.ambiguous_cause_id = design.id, ambiguous.id
    session.flush()
    # The chain's order, then design, then the mark: the review screen lists them so.
    for place, cause in enumerate([*order, design, ambiguous]):
        place_cause(session, access, cause.id, place)
    info = pipeline_of(session, project)
    assert info is not None
    return info
