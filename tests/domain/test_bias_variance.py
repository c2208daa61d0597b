"""Bias and variance from a run's reported error rates, worked by hand."""

from __future__ import annotations

import pytest

from app.domain.analysis.bias_variance import Term, breakdown
from app.models import Run


def values(run: Run) -> dict[Term, float | None]:
    return {p.term: p.value for p in breakdown(run).parts}


def test_without_extra_data_three_terms_in_the_methods_order() -> None:
    # The demo's run: human 1.0 %, training 0.8 %, blackbox 14.3 %, test 10.1 %.
    run = Run(
        name="v1", human_error=0.01, training_error=0.008, blackbox_error=0.143, test_error=0.101
    )
    result = breakdown(run)
    assert not result.augmented
    assert [p.term for p in result.parts] == [
        Term.AVOIDABLE_BIAS,
        Term.VARIANCE,
        Term.VALIDATION_OVERFIT,
    ]
    got = values(run)
    assert got[Term.AVOIDABLE_BIAS] == pytest.approx(-0.002)  # training beats people
    assert got[Term.VARIANCE] == pytest.approx(0.135)
    assert got[Term.VALIDATION_OVERFIT] == pytest.approx(-0.042)
    assert result.largest is not None
    assert result.largest.term is Term.VARIANCE
    assert result.next_steps == ("more training data", "regularisation", "early stopping")


def test_with_augmented_sets_data_mismatch_is_its_own_term() -> None:
    # human 1 %, augmented training 3 %, augmented validation 4 %, blackbox 9 %, test 9.5 %.
    run = Run(
        name="v2",
        human_error=0.01,
        augmented_training_error=0.03,
        augmented_validation_error=0.04,
        blackbox_error=0.09,
        test_error=0.095,
    )
    result = breakdown(run)
    assert result.augmented
    got = values(run)
    assert got == pytest.approx(
        {
            Term.AVOIDABLE_BIAS: 0.02,
            Term.VARIANCE: 0.01,
            Term.DATA_MISMATCH: 0.05,
            Term.VALIDATION_OVERFIT: 0.005,
        }
    )
    assert result.largest is not None
    assert result.largest.term is Term.DATA_MISMATCH


def test_a_missing_metric_is_missing_never_zero() -> None:
    run = Run(name="v3", training_error=0.05, blackbox_error=0.08)
    parts = {p.term: p for p in breakdown(run).parts}
    bias = parts[Term.AVOIDABLE_BIAS]
    assert (bias.value, bias.missing) == (None, ("human_error",))
    assert parts[Term.VARIANCE].value == pytest.approx(0.03)
    assert parts[Term.VALIDATION_OVERFIT].missing == ("test_error",)
    assert breakdown(Run(name="none")).largest is None
    assert breakdown(Run(name="none")).next_steps == ()
