"""Which module to blame: a run's errors per module of the project's pipeline, and each
module beside its human level.

The blame is read off the run's tally (`views.tally`): a module's share, interval and
ceiling are its cause's, computed by the one rule every cause follows. What this adds is
the method's reading of them: where the improvement lies, how many errors were too
unclear to blame, and whether the split into modules is itself the problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.domain.analysis.sheet import CauseTally, Tally, load_run, open_run
from app.domain.analysis.views import tally
from app.domain.projects.access import ProjectAccess
from app.domain.projects.pipeline import DESIGN_NAME, Module, PipelineInfo, pipeline_of
from app.domain.projects.runs import runs_of
from app.domain.review.visibility import visibility_of
from app.i18n import gettext as _
from app.i18n import lazy_gettext
from app.models import Project, Run

# Thresholds, not tests: accuracies are reported without the counts a test would need.
# A module within a point of people doing its sub-task is near human level; a whole more
# than two points short of people doing the whole task is poor.
NEAR_HUMAN = 0.01
POOR_WHOLE = 0.02

DECOMPOSITION_WARNING = lazy_gettext(
    "Every module is near human level, but the whole pipeline is not: the decomposition "
    "into modules is the problem. Rethink the split (what each module passes on), or "
    "train the task end to end."
)


@dataclass(frozen=True)
class Blamed:
    """A module (or pipeline design) and the errors blamed on it."""

    name: str
    cause_id: int
    module: Module | None  # None: pipeline design
    tally: CauseTally | None  # None: its cause is archived and no error of the run marks it


@dataclass(frozen=True)
class Level:
    """Accuracy beside human-level accuracy, of one module or of the whole."""

    name: str
    accuracy: float | None
    human_accuracy: float | None

    @property
    def gap(self) -> float | None:
        """How far short of people it falls (negative: better than people)."""
        if self.accuracy is None or self.human_accuracy is None:
            return None
        return self.human_accuracy - self.accuracy

    @property
    def near_human(self) -> bool:
        return self.gap is not None and self.gap <= NEAR_HUMAN


@dataclass(frozen=True)
class Comparison:
    modules: tuple[Level, ...]
    whole: Level  # from the run's eyeball error rate and its reported human-level error
    near_human: float = NEAR_HUMAN  # the threshold, for pages that state it

    @property
    def levels(self) -> tuple[Level, ...]:
        return (*self.modules, self.whole)

    @property
    def missing(self) -> tuple[str, ...]:
        """What lacks an accuracy or a human level, so the warning cannot be judged."""
        return tuple(level.name for level in self.levels if level.gap is None)

    @property
    def decomposition_suspect(self) -> bool | None:
        """Every module near human level while the whole is poor; None when unknown."""
        if self.missing or not self.modules:
            return None
        return all(m.near_human for m in self.modules) and (self.whole.gap or 0.0) > POOR_WHOLE


@dataclass(frozen=True)
class PipelineBlame:
    pipeline: PipelineInfo
    run: Run
    examined: int
    error_rate: float | None
    ceiling_note: str | None  # why ceilings are shares only, if they are
    modules: tuple[Blamed, ...]  # input side first
    design: Blamed | None
    ambiguous: CauseTally | None  # the share of errors the test could not settle
    comparison: Comparison
    hidden: str | None = None  # what blind review keeps out of the figures, in words

    @property
    def blamed(self) -> tuple[Blamed, ...]:
        return (*self.modules, *((self.design,) if self.design else ()))

    @property
    def largest(self) -> Blamed | None:
        """Where the improvement lies: the most blamed module (or design), if any is."""
        counted = [b for b in self.blamed if b.tally is not None and b.tally.share.count]
        return max(counted, key=lambda b: b.tally.share.count if b.tally else 0, default=None)

    @property
    def warning(self) -> str | None:
        return str(DECOMPOSITION_WARNING) if self.comparison.decomposition_suspect else None


def blame(pipeline: PipelineInfo, footer: Tally) -> PipelineBlame:
    """The pipeline's causes picked out of a run's tally."""
    by_cause = {c.column.id: c for c in footer.causes}
    modules = tuple(
        Blamed(m.name, m.cause_id, m, by_cause.get(m.cause_id)) for m in pipeline.modules
    )
    design = None
    if pipeline.design_cause_id is not None:
        found = by_cause.get(pipeline.design_cause_id)
        name = found.column.name if found else DESIGN_NAME
        design = Blamed(name, pipeline.design_cause_id, None, found)
    ambiguous = (
        by_cause.get(pipeline.ambiguous_cause_id)
        if pipeline.ambiguous_cause_id is not None
        else None
    )
    human_error = footer.run.human_error
    whole = Level(
        _("The whole pipeline"),
        None if footer.error_rate is None else 1 - footer.error_rate,
        None if human_error is None else 1 - human_error,
    )
    levels = tuple(Level(m.name, m.accuracy, m.human_accuracy) for m in pipeline.modules)
    return PipelineBlame(
        pipeline=pipeline,
        run=footer.run,
        examined=footer.examined,
        error_rate=footer.error_rate,
        ceiling_note=footer.missing,
        modules=modules,
        design=design,
        ambiguous=ambiguous,
        comparison=Comparison(levels, whole),
        hidden=footer.hidden_message,
    )


def blame_of(session: Session, project: Project, footer: Tally) -> PipelineBlame | None:
    """For a page that already has the run's tally (the dashboard)."""
    pipeline = pipeline_of(session, project)
    return None if pipeline is None else blame(pipeline, footer)


def run_blame(session: Session, access: ProjectAccess, run_name: str) -> PipelineBlame | None:
    data = open_run(session, access, run_name)
    return blame_of(session, access.project, tally(session, data))


def project_blame(
    session: Session, access: ProjectAccess
) -> tuple[PipelineInfo | None, list[PipelineBlame]]:
    """The pipeline and its blame in every run, oldest first (for notebooks)."""
    pipeline = pipeline_of(session, access.project)
    if pipeline is None:
        return None, []
    return pipeline, [
        blame(
            pipeline,
            tally(session, load_run(session, access.project, run, seen_by=visibility_of(access))),
        )
        for run in runs_of(session, access.project)
    ]
