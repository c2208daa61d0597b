"""The tally's arithmetic against hand-worked examples and a reference implementation."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.analysis.tally import (
    Ceiling,
    Vote,
    binary_agreement,
    consensus,
    disagree,
    errors_needed,
    label_error_advice,
    wilson,
    wilson_half_width,
)


def test_wilson_matches_hand_worked_values() -> None:
    # 5 of 100: centre (0.05 + 1.92/100)/(1.0384) = 0.06664, half 0.04511.
    share = wilson(5, 100)
    assert share.value == 0.05
    assert share.low == pytest.approx(0.02154, abs=1e-5)
    assert share.high == pytest.approx(0.11175, abs=1e-5)
    # 0 of 10: the low end is exactly 0, the high end z²/(n+z²) = 3.8415/13.8415.
    none = wilson(0, 10)
    assert none.low == 0.0
    assert none.high == pytest.approx(0.27753, abs=1e-5)
    every = wilson(10, 10)
    assert every.low == pytest.approx(0.72247, abs=1e-5)
    assert every.high == 1.0


def test_wilson_of_nothing_is_the_whole_unit_interval() -> None:
    share = wilson(0, 0)
    assert share.value is None
    assert (share.low, share.high) == (0.0, 1.0)


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="count <= total"):
        wilson(3, 2)


def test_ceiling_is_the_method_s_dog_example() -> None:
    # Error rate 10%, 5 of 100 errors are dogs: at best 9.5%, a gain of 0.5 points.
    ceiling = Ceiling(0.10, wilson(5, 100))
    assert ceiling.rate_if_fixed == pytest.approx(0.095)
    assert ceiling.gain == pytest.approx(0.005)
    assert ceiling.gain_low == pytest.approx(0.10 * 0.02154, abs=1e-6)
    assert ceiling.gain_high == pytest.approx(0.10 * 0.11175, abs=1e-6)
    assert ceiling.rate_if_fixed_low == pytest.approx(0.10 * (1 - 0.11175), abs=1e-6)
    assert ceiling.rate_if_fixed_high == pytest.approx(0.10 * (1 - 0.02154), abs=1e-6)


def test_errors_needed_for_five_points() -> None:
    # At 50% the Wilson half-width reaches 5 points at n = 381 (the normal rule gives 385).
    assert errors_needed([]) == errors_needed([0.5]) == 381
    assert wilson_half_width(0.5, 381) <= 0.05 < wilson_half_width(0.5, 380)
    # The widest interval is the share nearest one half.
    assert errors_needed([0.02, 0.3, None]) == errors_needed([0.3])
    assert errors_needed([0.02]) < errors_needed([0.3])


def test_label_error_advice_follows_the_method() -> None:
    assert "does not change decisions" in label_error_advice(0.05)
    assert "validation AND the test set" in label_error_advice(0.35)
    assert "weigh" in label_error_advice(0.2)
    assert "No error" in label_error_advice(None)


LEAD = 1
A, B, C = 2, 3, 4


def vote(who: int, *causes: int, label_error: bool = False, suggested: str | None = None) -> Vote:
    return Vote(who, frozenset(causes), label_error, suggested)


def test_consensus_counts_a_cause_marked_by_more_than_half() -> None:
    verdict = consensus([vote(A, 10, 11), vote(B, 10), vote(C, 12)], frozenset({LEAD}))
    assert verdict is not None
    assert verdict.causes == {10}


def test_a_tie_goes_to_the_lead() -> None:
    leads = frozenset({LEAD})
    with_lead = consensus([vote(LEAD, 10), vote(A, 11)], leads)
    assert with_lead is not None
    assert with_lead.causes == {10}
    # Without a lead among the voters, a tie is no majority.
    without = consensus([vote(A, 10), vote(B, 11)], leads)
    assert without is not None
    assert without.causes == frozenset()


def test_an_adjudication_overrides_the_vote() -> None:
    verdict = consensus(
        [vote(A, 10), vote(B, 10)],
        frozenset({LEAD}),
        adjudication=vote(LEAD, 11, label_error=True, suggested="7"),
    )
    assert verdict is not None
    assert (verdict.causes, verdict.label_error, verdict.suggested_label) == (
        frozenset({11}),
        True,
        "7",
    )


def test_label_error_follows_the_same_majority_with_the_most_common_suggestion() -> None:
    verdict = consensus(
        [
            vote(A, label_error=True, suggested="3"),
            vote(B, label_error=True, suggested="8"),
            vote(C, label_error=True, suggested="8"),
        ],
        frozenset(),
    )
    assert verdict is not None
    assert verdict.label_error
    assert verdict.suggested_label == "8"
    assert consensus([], frozenset()) is None


def test_disagreement_is_any_difference_between_finished_votes() -> None:
    assert not disagree([vote(A, 1)])
    assert not disagree([vote(A, 1), vote(B, 1)])
    assert disagree([vote(A, 1), vote(B, 1, label_error=True)])
    assert disagree([vote(A, 1), vote(B, 2)])


def test_alpha_hand_worked() -> None:
    # Two coders, four errors: (1,1) (0,0) (1,0) (0,0). Coincidences: o11=2, o00=4, o01=o10=1;
    # n1=3, n0=5, n=8; alpha = 1 - 7·2/(2·3·5) = 1 - 14/30.
    result = binary_agreement([[True, True], [False, False], [True, False], [False, False]])
    assert result.alpha == pytest.approx(1 - 14 / 30)
    assert result.percent == pytest.approx(3 / 4)
    assert result.errors == 4


def test_alpha_is_undefined_without_variation_and_ignores_single_ratings() -> None:
    result = binary_agreement([[True, True], [True, True], [False]])
    assert result.alpha is None
    assert result.percent == 1.0
    assert result.errors == 2
    assert binary_agreement([[True]]).errors == 0


units = st.lists(
    st.lists(st.sampled_from([True, False, None]), min_size=3, max_size=3), min_size=2, max_size=30
)


@settings(max_examples=200, deadline=None)
@given(units)
def test_alpha_matches_the_krippendorff_package(table: list[list[bool | None]]) -> None:
    rated = [[v for v in unit if v is not None] for unit in table]
    ours = binary_agreement(rated)
    pairable = [u for u in rated if len(u) >= 2]
    values = [v for u in pairable for v in u]
    if not pairable or all(values) or not any(values):
        assert ours.alpha is None
        return
    # The package wants coders as rows and errors as columns, NaN for "not rated".
    matrix = np.array(
        [[np.nan if v is None else float(v) for v in column] for column in zip(*table, strict=True)]
    )
    reference = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert ours.alpha == pytest.approx(reference, abs=1e-9)


@given(st.integers(0, 500), st.integers(0, 500))
def test_shares_and_intervals_stay_in_the_unit_interval(a: int, b: int) -> None:
    count, total = min(a, b), max(a, b)
    share = wilson(count, total)
    assert 0.0 <= share.low <= share.high <= 1.0
    if share.value is not None:
        assert share.low <= share.value <= share.high


@given(st.integers(0, 300), st.integers(1, 300), st.floats(0, 1))
def test_a_ceiling_is_never_above_the_error_rate(a: int, b: int, rate: float) -> None:
    count, total = min(a, b), max(a, b)
    ceiling = Ceiling(rate, wilson(count, total))
    assert ceiling.gain is not None
    assert ceiling.rate_if_fixed is not None
    for gain in (ceiling.gain, ceiling.gain_low, ceiling.gain_high):
        assert 0.0 <= gain <= rate + 1e-12
    assert 0.0 <= ceiling.rate_if_fixed_low <= ceiling.rate_if_fixed <= rate + 1e-12
    assert math.isclose(ceiling.gain + ceiling.rate_if_fixed, rate, abs_tol=1e-12)
