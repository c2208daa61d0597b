"""Pipelines of modules: declaring the chain, and blaming a run's errors on its modules."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.pipeline import Comparison, Level, run_blame
from app.domain.errors import InvalidInput
from app.domain.projects.access import ProjectAccess, get_access
from app.domain.projects.causes import cause_groups
from app.domain.projects.pipeline import (
    AMBIGUOUS_NAME,
    DESIGN_NAME,
    GROUP_NAME,
    ModuleFields,
    PipelineFields,
    declare_pipeline,
    pipeline_of,
)
from app.models import AnnotationStatus, Cause, GroupKind, PipelineModule, Run
from tests.factories import (
    make_annotation,
    make_cause,
    make_prediction,
    make_project,
    make_run,
    make_sample,
    make_user,
)


def _lead(session: Session) -> ProjectAccess:
    lead = make_user(session)
    return get_access(session, lead, make_project(session, lead).id)


def _chain(
    *modules: tuple[str, float | None, float | None], ids: list[int] | None = None
) -> PipelineFields:
    return PipelineFields.checked(
        [
            ModuleFields(row, (ids or [])[row] if ids and row < len(ids) else None, n, a, h)
            for row, (n, a, h) in enumerate(modules)
        ]
    )


def test_declaring_a_pipeline_makes_its_cause_group(session: Session) -> None:
    access = _lead(session)
    make_cause(session, access.project, "Blurry", key="1")
    info = declare_pipeline(
        session, access, _chain(("detector", 0.97, 0.975), ("classifier", None, None))
    )
    assert info is not None
    assert info.chain == "detector → classifier"
    assert [m.accuracy for m in info.modules] == [0.97, None]

    groups = {g.name: (g, causes) for g, causes in cause_groups(session, access.project)}
    group, causes = groups[GROUP_NAME]
    # Several per error: an error is sometimes blamed on two modules.
    assert group.kind is GroupKind.MULTI
    assert [c.name for c in causes] == ["detector", "classifier", DESIGN_NAME, AMBIGUOUS_NAME]
    # Keys from the causes' own rule: the next free digits ("1" is Blurry's).
    assert [c.key for c in causes] == ["2", "3", "4", "5"]
    assert causes[0].description.startswith("Replace detector's output with a perfect one")
    assert info.design_cause_id == causes[2].id
    assert info.ambiguous_cause_id == causes[3].id


def test_renaming_reordering_and_taking_out_modules_keeps_their_causes(session: Session) -> None:
    access = _lead(session)
    first = declare_pipeline(
        session, access, _chain(("detector", None, None), ("classifier", None, None))
    )
    assert first is not None
    detector, classifier = first.modules

    # Renamed in place: the same cause (and so the same annotations), new name and hint.
    second = declare_pipeline(
        session,
        access,
        PipelineFields.checked(
            [
                ModuleFields(0, classifier.id, "classifier", 0.9, 0.95),
                ModuleFields(1, detector.id, "cat detector", None, None),
            ]
        ),
    )
    assert second is not None
    assert [(m.cause_id, m.name) for m in second.modules] == [
        (classifier.cause_id, "classifier"),
        (detector.cause_id, "cat detector"),
    ]
    renamed = session.get(Cause, detector.cause_id)
    assert renamed is not None
    assert "cat detector's output" in renamed.description

    # Taken out: its cause archived (never deleted), its key freed.
    third = declare_pipeline(
        session,
        access,
        PipelineFields.checked(
            [
                ModuleFields(0, classifier.id, "classifier", 0.9, 0.95),
                ModuleFields(1, detector.id, "", None, None),
            ]
        ),
    )
    assert third is not None
    assert [m.name for m in third.modules] == ["classifier"]
    gone = session.get(Cause, detector.cause_id)
    assert gone is not None
    assert gone.archived_at is not None
    assert gone.key is None

    # Nothing left: no pipeline, every cause of it archived; declared again, they return.
    assert declare_pipeline(session, access, PipelineFields(())) is None
    assert pipeline_of(session, access.project) is None
    assert session.scalars(select(PipelineModule)).all() == []
    again = declare_pipeline(session, access, _chain(("classifier", None, None)))
    assert again is not None
    assert again.modules[0].cause_id == classifier.cause_id
    back = session.get(Cause, classifier.cause_id)
    assert back is not None
    assert back.archived_at is None
    assert back.key is not None


def test_the_form_says_what_is_wrong_beside_each_row() -> None:
    with pytest.raises(InvalidInput) as refused:
        PipelineFields.from_form(
            {
                "module-0-name": "detector",
                "module-0-accuracy": "101",
                "module-1-name": "Detector ",
                "module-1-human": "abc",
                "module-2-name": "",
                "module-2-accuracy": "90",
                "module-3-name": "pipeline design",
            }
        )
    assert refused.value.fields == {
        "module-0-accuracy": "A percentage between 0 and 100, or blank.",
        "module-1-human": "A percentage between 0 and 100, or blank.",
        "module-1-name": "'detector' is already in the list.",
        "module-2-name": "Name the module these accuracies are for.",
        "module-3-name": "'Pipeline design' is already in the list.",
    }
    fields = PipelineFields.from_form(
        {"module-1-name": "classifier", "module-0-name": "detector", "module-0-accuracy": "97.5%"}
    )
    assert [(m.name, m.accuracy) for m in fields.modules] == [
        ("detector", 0.975),
        ("classifier", None),
    ]


def test_a_module_named_like_a_cause_of_another_group_is_refused_on_its_row(
    session: Session,
) -> None:
    access = _lead(session)
    make_cause(session, access.project, "Detector")
    with pytest.raises(InvalidInput) as refused:
        declare_pipeline(
            session, access, _chain(("classifier", None, None), ("detector", None, None))
        )
    assert set(refused.value.fields) == {"module-1-name"}
    assert "exists in another group" in refused.value.fields["module-1-name"]


def test_blame_per_module_against_hand_worked_numbers(session: Session) -> None:
    access = _lead(session)
    project, lead = access.project, access.user
    info = declare_pipeline(
        session, access, _chain(("detector", 0.97, 0.975), ("classifier", 0.985, 0.99))
    )
    assert info is not None
    by_name = {c.name: c for c in session.scalars(select(Cause))}
    detector, classifier = by_name["detector"], by_name["classifier"]
    design, ambiguous = by_name[DESIGN_NAME], by_name[AMBIGUOUS_NAME]
    # 20 errors of 200 evaluated samples: a 10 % error rate; 10 of them examined.
    run = make_run(session, project, name="v1", evaluated=200, human_error=0.02)
    errors = [make_prediction(session, run, make_sample(session, project)) for _ in range(20)]
    blamed = (
        [[detector]] * 3
        + [[detector, ambiguous]] * 2
        + [[classifier]] * 3
        + [[detector, classifier]]  # blamed on two
        + [[design]]
    )
    for prediction, marked in zip(errors, blamed, strict=False):
        make_annotation(session, prediction, lead, causes=marked, status=AnnotationStatus.DONE)

    result = run_blame(session, access, "v1")
    assert result is not None
    assert result.examined == 10
    shares = {b.name: b.tally for b in result.blamed}
    d, c, p = shares["detector"], shares["classifier"], shares[DESIGN_NAME]
    assert d is not None
    assert c is not None
    assert p is not None
    # detector 6 of 10: Wilson 95 % (31.3 %, 83.2 %); ceiling 10 % x 60 % = 6 points.
    assert (d.share.count, d.share.total) == (6, 10)
    assert (d.share.low, d.share.high) == pytest.approx((0.3127, 0.8318), abs=1e-4)
    assert d.ceiling is not None
    assert d.ceiling.gain == pytest.approx(0.06)
    assert (d.ceiling.gain_low, d.ceiling.gain_high) == pytest.approx((0.03127, 0.08318), abs=1e-5)
    # classifier 4 of 10: (16.8 %, 68.7 %), at most 4 points; design 1 of 10.
    assert c.share.count == 4
    assert (c.share.low, c.share.high) == pytest.approx((0.1682, 0.6873), abs=1e-4)
    assert c.ceiling is not None
    assert c.ceiling.gain == pytest.approx(0.04)
    assert p.share.count == 1
    # Ambiguous on 2 of 10: (5.7 %, 51.0 %).
    assert result.ambiguous is not None
    assert result.ambiguous.share.count == 2
    assert (result.ambiguous.share.low, result.ambiguous.share.high) == pytest.approx(
        (0.0567, 0.5098), abs=1e-4
    )
    assert result.largest is not None
    assert result.largest.name == "detector"

    # Both modules within a point of people, the whole 90 % against people's 98 %.
    assert result.comparison.whole.gap == pytest.approx(0.08)
    assert result.comparison.decomposition_suspect is True
    assert result.warning is not None
    assert "decomposition" in result.warning


@pytest.mark.parametrize(
    ("modules", "whole", "suspect", "missing"),
    [
        # 0.5 points short each, the whole 8 points short: the split is the problem.
        ([(0.97, 0.975), (0.985, 0.99)], (0.90, 0.98), True, ()),
        # The classifier is 4 points short: work on it first, the split may be fine.
        ([(0.97, 0.975), (0.95, 0.99)], (0.90, 0.98), False, ()),
        # Near human everywhere and the whole only a point short: nothing is poor.
        ([(0.97, 0.975), (0.985, 0.99)], (0.97, 0.98), False, ()),
        # Better than people is near enough.
        ([(0.99, 0.98), (0.995, 0.99)], (0.90, 0.98), True, ()),
        # A module without its human level, a whole without the run's human error.
        ([(0.97, None), (0.985, 0.99)], (0.90, None), None, ("m0", "The whole")),
    ],
)
def test_the_decomposition_warning(
    modules: list[tuple[float | None, float | None]],
    whole: tuple[float | None, float | None],
    suspect: bool | None,
    missing: tuple[str, ...],
) -> None:
    comparison = Comparison(
        tuple(Level(f"m{i}", a, h) for i, (a, h) in enumerate(modules)), Level("The whole", *whole)
    )
    assert comparison.decomposition_suspect is suspect
    assert comparison.missing == missing


def test_a_project_without_a_pipeline_has_no_blame(session: Session) -> None:
    access = _lead(session)
    session.add(Run(project_id=access.project.id, name="v1", evaluated=10))
    session.flush()
    assert run_blame(session, access, "v1") is None
