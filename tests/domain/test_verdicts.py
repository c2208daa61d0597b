"""Stored verdicts stay what the rule says, whatever sequence of writes comes before.

Every write that can move an error's verdict (a save, restore, undo, adjudication, cause
merge or archive, an overlap change, a role change) refreshes it in its own transaction;
these tests run random sequences of them and compare what is stored with what `judge`
makes of the annotations from scratch, after every step: each error's verdict, the
run's sums of them that the unfiltered footer and the progress figures read, and the
sums of each facet (a true label, a predicted label, a metadata value) that the footer
of a sheet filtered by one of them reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import verdicts
from app.domain.errors import DomainError
from app.domain.projects.access import get_access
from app.domain.projects.causes import archive_cause, merge_causes
from app.domain.projects.settings import ProjectFields, update_project
from app.domain.projects.team import change_role
from app.domain.review import annotations as ann
from app.domain.review.adjudication import adjudicate
from app.domain.review.screen import undo
from app.models import (
    Annotation,
    AnnotationEvent,
    AnnotationStatus,
    Cause,
    Prediction,
    Project,
    ProjectRole,
    Run,
    RunFacetVerdicts,
    Sample,
    User,
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

ERRORS = 2
PEOPLE = 3  # the annotators; the lead is person 3 in the operations below
CAUSES = 3


@dataclass
class Team:
    project: Project
    run: Run
    lead: User
    people: list[User]
    causes: list[Cause]
    errors: list[Prediction]

    def person(self, index: int) -> User:
        return ([*self.people, self.lead])[index]


def build(session: Session) -> Team:
    lead = make_user(session)
    people = [make_user(session) for _ in range(PEOPLE)]
    project = make_project(session, lead, annotators=people, overlap=2)
    run = make_run(session, project)
    causes = [make_cause(session, project) for _ in range(CAUSES)]
    # Two errors that share some facets (predicted "dog", metadata time=night) and not
    # others (their true labels, a flag only one has).
    samples = [
        make_sample(session, project, label="cat", meta={"time": "night", "flag": True}),
        make_sample(session, project, label="fox", meta={"time": "night", "n": 3}),
    ]
    errors = [make_prediction(session, run, sample, label="dog") for sample in samples]
    return Team(project, run, lead, people, causes, errors)


def assert_current(session: Session, team: Team) -> None:
    ids = [e.id for e in team.errors]
    recomputed = verdicts.recompute(session, ids)
    assert verdicts.stored(session, ids) == recomputed
    # A refresh reads both in one query: the same as each read alone.
    together, facets = verdicts.stored_with_facets(session, ids)
    assert together == recomputed
    alone = verdicts.facets_of(session, ids)
    assert {p: set(f) for p, f in facets.items()} == {p: set(f) for p, f in alone.items()}
    assert sums_as_stored(session, team.run.id) == sums_worked_out(recomputed, team.run.id)
    annotators = verdicts.annotator_sums(session, team.run.id)
    assert annotators == verdicts.recount_annotators(session, team.run.id)
    assert facets_as_stored(session, team.run.id, ids) == facets_worked_out(
        session, recomputed, team.run.id, ids
    )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    # The coincidence sums are floats added and taken away write by write.
    return {k: round(v, 9) for k, v in values.items() if v}


def sums_as_stored(session: Session, run_id: int) -> dict[object, dict[str, float]]:
    return _as_values(verdicts.run_sums(session, run_id))


def _as_values(sums: verdicts.RunSums) -> dict[object, dict[str, float]]:
    run: dict[str, float] = {s.value: n for s, n in sums.statuses.items()}
    run |= {
        "label_errors": sums.label_errors,
        "pair_errors": sums.label.errors,
        "pair_values": sums.label.values,
        "label_coincidences": sums.label.coincidences,
        "label_marks": sums.label.marks,
        "label_unanimous": sums.label.unanimous,
    }
    out: dict[object, dict[str, float]] = {"run": _rounded(run)}
    for cause_id, (used, chosen, a) in sums.causes.items():
        cause = _rounded(
            {
                "used": used,
                "chosen": chosen,
                "errors": a.errors,
                "values": a.values,
                "coincidences": a.coincidences,
                "marks": a.marks,
                "unanimous": a.unanimous,
            }
        )
        if cause:
            out[cause_id] = cause
    return out


def sums_worked_out(
    recomputed: dict[int, verdicts.StoredVerdict], run_id: int
) -> dict[object, dict[str, float]]:
    change = verdicts.RunChange()
    for verdict in recomputed.values():
        change.add(verdict, +1)
    out: dict[object, dict[str, float]] = {"run": _rounded(change.runs.get(run_id, {}))}
    for (_, cause_id), amounts in change.causes.items():
        if _rounded(amounts):
            out[cause_id] = _rounded(amounts)
    return out


def facets_as_stored(
    session: Session, run_id: int, ids: list[int]
) -> dict[object, dict[object, dict[str, float]]]:
    facets = {f for found in verdicts.facets_of(session, ids).values() for f in found}
    # A facet none of the errors is in any more (their metadata changed) must add up to
    # nothing: its filter would show the footer of errors it no longer has.
    facets |= {
        (row.facet, row.key, row.value)
        for row in session.execute(
            select(RunFacetVerdicts).where(RunFacetVerdicts.run_id == run_id)
        ).scalars()
    }
    out: dict[object, dict[object, dict[str, float]]] = {}
    for facet in facets:
        stored = verdicts.facet_sums(session, run_id, facet)
        out[facet] = {"errors": {"n": stored.errors}, **_as_values(stored.sums)}
    return out


def facets_worked_out(
    session: Session, recomputed: dict[int, verdicts.StoredVerdict], run_id: int, ids: list[int]
) -> dict[object, dict[object, dict[str, float]]]:
    facets = verdicts.facets_of(session, ids)
    change = verdicts.RunChange()
    for verdict in recomputed.values():
        change.add(verdict, +1, facets[verdict.prediction_id])
    out: dict[object, dict[object, dict[str, float]]] = {
        (row.facet, row.key, row.value): {"errors": {"n": 0}, "run": {}}
        for row in session.execute(
            select(RunFacetVerdicts).where(RunFacetVerdicts.run_id == run_id)
        ).scalars()
    }
    for pid in ids:
        for facet in facets[pid]:
            entry = out.setdefault(facet, {"errors": {"n": 0}, "run": {}})
            entry["errors"]["n"] += 1
    for (_, kind, key, value), amounts in change.facets.items():
        out[(kind, key, value)]["run"] = _rounded(amounts)
    for (_, kind, key, value, cause_id), amounts in change.facet_causes.items():
        if _rounded(amounts):
            out[(kind, key, value)][cause_id] = _rounded(amounts)
    return out


@dataclass(frozen=True)
class Step:
    """One write. Every step draws every parameter; each kind uses the ones it needs."""

    kind: str
    who: int  # 0..PEOPLE-1 the annotators, PEOPLE the lead
    error: int
    causes: frozenset[int]
    flag: bool
    status: AnnotationStatus
    n: int

    def __repr__(self) -> str:  # what hypothesis prints for a failing sequence
        return (
            f"{self.kind}(who={self.who}, error={self.error}, causes={set(self.causes)}, "
            f"flag={self.flag}, status={self.status.value}, n={self.n})"
        )


# Saves are most of what happens, and what the other writes need to act on.
KINDS = ["save"] * 6 + [
    "adjudicate",
    "restore",
    "undo",
    "merge",
    "archive",
    "overlap",
    "role",
    "metadata",
]
steps = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    who=st.integers(0, PEOPLE),
    error=st.integers(0, ERRORS - 1),
    causes=st.frozensets(st.integers(0, CAUSES - 1), max_size=3),
    flag=st.booleans(),
    # Finished reviews are what statuses, consensus and ties are made of.
    status=st.sampled_from([AnnotationStatus.DONE] * 3 + list(AnnotationStatus)),
    n=st.integers(0, 5),
)


def live(team: Team, chosen: frozenset[int]) -> frozenset[int]:
    """The chosen causes that are not archived (an archived cause cannot be chosen)."""
    return frozenset(team.causes[c].id for c in chosen if team.causes[c].archived_at is None)


def apply(session: Session, team: Team, step: Step) -> None:
    lead = get_access(session, team.lead, team.project.id)
    user = team.person(step.who)
    prediction = team.errors[step.error]
    if step.kind == "save":
        current = ann.find_annotation(session, prediction.id, user.id)
        ann.save(
            session,
            get_access(session, user, team.project.id),
            prediction,
            ann.Draft(
                cause_ids=live(team, step.causes),
                label_error=step.flag,
                suggested_label="fox" if step.flag else None,
                status=step.status,
            ),
            expected_version=current.version if current else 0,
        )
    elif step.kind == "adjudicate":
        existing = session.scalar(
            select(Annotation).where(
                Annotation.prediction_id == prediction.id, Annotation.kind == "adjudication"
            )
        )
        adjudicate(
            session,
            lead,
            team.run.name,
            prediction.id,
            ann.Draft(cause_ids=live(team, step.causes), label_error=step.flag),
            expected_version=existing.version if existing else 0,
        )
    elif step.kind in ("restore", "undo"):
        annotation = ann.find_annotation(session, prediction.id, user.id)
        if annotation is None:
            return
        if step.kind == "undo":
            access = get_access(session, user, team.project.id)
            undo(session, access, prediction, expected_version=annotation.version)
            return
        events = list(
            session.scalars(
                select(AnnotationEvent.id).where(AnnotationEvent.annotation_id == annotation.id)
            )
        )
        event_id = events[step.n % len(events)]
        ann.restore(session, lead, annotation, event_id, expected_version=annotation.version)
    elif step.kind == "merge":
        source, target = team.causes[step.n % CAUSES], team.causes[step.error % CAUSES]
        merge_causes(session, lead, source.id, target.id)
    elif step.kind == "archive":
        archive_cause(session, lead, team.causes[step.n % CAUSES].id)
    elif step.kind == "overlap":
        project = team.project
        fields = ProjectFields(
            name=project.name,
            kind=project.kind,
            description=project.description,
            labels=list(project.labels),
            overlap=1 + step.n % 3,
            annotators_may_add_causes=project.annotators_may_add_causes,
        )
        update_project(session, lead, fields)
    elif step.kind == "role":
        role = ProjectRole.LEAD if step.flag else ProjectRole.ANNOTATOR
        change_role(session, lead, team.people[step.who % PEOPLE].id, role)
    elif step.kind == "metadata":
        # An import giving the sample new metadata moves its error between facets, and
        # recounts the run's facets (`pipeline._apply`).
        sample = session.get(Sample, prediction.sample_id)
        assert sample is not None
        sample.meta = {"time": ["night", "day", "dusk"][step.n % 3], "n": step.n}
        if step.flag:
            sample.meta["flag"] = True
        session.flush()
        verdicts.recount_facets(session, [team.run.id])


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=st.lists(steps, min_size=8, max_size=30))
def test_stored_verdicts_equal_the_rule_after_any_sequence_of_writes(
    session: Session, writes: list[Step]
) -> None:
    team = build(session)
    for step in writes:
        savepoint = session.begin_nested()
        try:
            apply(session, team, step)
        except DomainError:
            # A refused write (a stale version, an archived target, the last lead) changes
            # nothing, as in a request that answers with an error.
            savepoint.rollback()
        else:
            savepoint.commit()
        assert_current(session, team)


def test_the_backfill_stores_what_the_rule_says(session: Session) -> None:
    team = build(session)
    first, second = team.errors[0], team.errors[1]
    make_annotation(session, first, team.people[0], status=AnnotationStatus.DONE)
    make_annotation(
        session, first, team.people[1], status=AnnotationStatus.DONE, causes=team.causes[:1]
    )
    make_annotation(session, second, team.people[0], causes=team.causes[1:3])
    verdicts.rebuild(session)
    stored = verdicts.stored(session, [e.id for e in team.errors])
    assert set(stored) == {first.id, second.id}  # an error nobody annotated has no row
    assert stored == verdicts.recompute(session, [e.id for e in team.errors])
    assert stored[first.id].status is verdicts.ErrorStatus.DONE
    assert stored[first.id].disagreement
    assert stored[second.id].status is verdicts.ErrorStatus.IN_PROGRESS
    assert [c.votes for c in stored[second.id].causes] == [1, 1]


def test_a_tie_moves_when_the_tie_breaker_stops_leading(session: Session) -> None:
    team = build(session)
    error, (ann_a, ann_b) = team.errors[0], team.people[:2]
    lead = get_access(session, team.lead, team.project.id)
    change_role(session, lead, ann_a.id, ProjectRole.LEAD)
    make_annotation(session, error, ann_a, status=AnnotationStatus.DONE, causes=team.causes[:1])
    make_annotation(session, error, ann_b, status=AnnotationStatus.DONE)
    assert verdicts.stored(session, [error.id])[error.id].chosen == {team.causes[0].id}
    change_role(session, lead, ann_a.id, ProjectRole.ANNOTATOR)
    assert verdicts.stored(session, [error.id])[error.id].chosen == frozenset()


def test_raising_the_overlap_reopens_errors_that_were_done(session: Session) -> None:
    team = build(session)
    error = team.errors[0]
    for who in team.people[:2]:
        make_annotation(session, error, who, status=AnnotationStatus.DONE)
    assert verdicts.stored(session, [error.id])[error.id].examined
    project = team.project
    update_project(
        session,
        get_access(session, team.lead, project.id),
        ProjectFields(name=project.name, kind=project.kind, overlap=3),
    )
    assert verdicts.stored(session, [error.id])[error.id].status is verdicts.ErrorStatus.PARTIAL


@pytest.mark.parametrize("pairs", [1, 3])
def test_a_merge_judges_each_error_once_with_every_annotation_moved(
    session: Session, pairs: int
) -> None:
    team = build(session)
    source, target = team.causes[0], team.causes[1]
    for error in team.errors[:pairs]:
        for who in team.people[:2]:
            make_annotation(session, error, who, status=AnnotationStatus.DONE, causes=[source])
    merge_causes(session, get_access(session, team.lead, team.project.id), source.id, target.id)
    stored = verdicts.stored(session, [e.id for e in team.errors])
    assert all(stored[e.id].chosen == {target.id} for e in team.errors[:pairs])
    assert stored == verdicts.recompute(session, [e.id for e in team.errors])
