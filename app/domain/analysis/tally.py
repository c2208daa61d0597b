"""The arithmetic of error analysis: shares, intervals, ceilings, consensus, agreement.

Plain functions on plain values, so every rule can be checked by hand. `consensus` is
applied per error by `app.domain.verdicts.judge` and stored; the sheet's footer feeds
`wilson` and `agreement_from_sums` with SQL aggregates of the stored verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.i18n import gettext as _

# Two-sided 95%: the normal quantile 0.975.
Z95 = 1.959963984540054
TARGET_HALF_WIDTH = 0.05

# The method's thresholds for the share of errors whose ground-truth label is wrong.
LABEL_ERRORS_IGNORABLE = 0.10
LABEL_ERRORS_DECISIVE = 0.30


@dataclass(frozen=True)
class Share:
    """`count` of `total`, with its 95% Wilson interval. `value` is None when total is 0."""

    count: int
    total: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.count / self.total if self.total else None


def wilson(count: int, total: int, z: float = Z95) -> Share:
    """Wilson score interval: honest for small samples and shares near 0 or 1,
    where the textbook p ± z·√(p(1-p)/n) leaves [0, 1] or collapses to a point."""
    if count < 0 or total < 0 or count > total:
        raise ValueError(f"need 0 <= count <= total, got {count} of {total}")
    if total == 0:
        return Share(0, 0, 0.0, 1.0)
    p = count / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    # Clamp rounding dust: at p = 0 the low end is exactly 0, at p = 1 the high end 1.
    low = 0.0 if count == 0 else max(0.0, centre - half)
    high = 1.0 if count == total else min(1.0, centre + half)
    return Share(count, total, low, high)


def wilson_half_width(p: float, n: float, z: float = Z95) -> float:
    z2 = z * z
    return z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))


def errors_needed(shares: Iterable[float | None], target: float = TARGET_HALF_WIDTH) -> int:
    """How many examined errors make the widest 95% interval at most ±target.

    Each observed share is assumed to stay where it is; with nothing observed yet
    the worst case (50%) is assumed. The widest interval is the one nearest 50%.
    """
    observed = [s for s in shares if s is not None]
    p = min(observed, key=lambda s: abs(s - 0.5)) if observed else 0.5
    low, high = 1, 1
    while wilson_half_width(p, high) > target:
        high *= 2
    # The half-width falls as n grows: bisect for the first n that is narrow enough.
    while low < high:
        mid = (low + high) // 2
        if wilson_half_width(p, mid) > target:
            low = mid + 1
        else:
            high = mid
    return low


@dataclass(frozen=True)
class Ceiling:
    """What a perfect fix of one cause could gain, with the share's interval carried through.

    With error rate e and share s, the error rate can fall at most to e·(1-s): a gain of
    at most e·s. The error rate itself is counted on the eyeball set and taken as exact.
    """

    error_rate: float
    share: Share

    @property
    def gain(self) -> float | None:
        s = self.share.value
        return None if s is None else self.error_rate * s

    @property
    def gain_low(self) -> float:
        return self.error_rate * self.share.low

    @property
    def gain_high(self) -> float:
        return self.error_rate * self.share.high

    @property
    def rate_if_fixed(self) -> float | None:
        s = self.share.value
        return None if s is None else self.error_rate * (1 - s)

    @property
    def rate_if_fixed_low(self) -> float:
        return self.error_rate * (1 - self.share.high)

    @property
    def rate_if_fixed_high(self) -> float:
        return self.error_rate * (1 - self.share.low)


def error_rate(errors: int, evaluated: int | None) -> float | None:
    """Errors over evaluated samples; None when the evaluated count is unknown (never
    guessed). The one definition: runs, imports, the sheet and the API all call this."""
    if not evaluated:
        return None
    return errors / evaluated


def label_error_advice(share: float | None) -> str:
    if share is None:
        return _("No error has been examined yet.")
    if share < LABEL_ERRORS_IGNORABLE:
        return _("Below about 10% of the errors: this does not change decisions; live with it.")
    if share > LABEL_ERRORS_DECISIVE:
        return _(
            "Above about 30% of the errors: fix the labels, in the validation AND the test set, "
            "so that both keep coming from one distribution."
        )
    return _(
        "Between about 10% and 30% of the errors: weigh the cost of relabelling "
        "against the gains the causes promise."
    )


# --- consensus ----------------------------------------------------------------------


@dataclass(slots=True)
class Vote:
    """One finished verdict on one error: the causes marked and the label-error flag."""

    annotator_id: int
    causes: frozenset[int]
    label_error: bool
    suggested_label: str | None = None


@dataclass(frozen=True)
class Verdict:
    causes: frozenset[int]
    label_error: bool
    suggested_label: str | None


def _majority(marked: int, voters: int, lead_marked: bool | None) -> bool:
    """More than half of the voters; at exactly half the lead's vote decides, if a lead voted."""
    if 2 * marked > voters:
        return True
    if 2 * marked == voters and lead_marked is not None:
        return lead_marked
    return False


def consensus(
    votes: Sequence[Vote], lead_ids: frozenset[int], adjudication: Vote | None = None
) -> Verdict | None:
    """The verdict that counts for an error, or None when nobody finished it.

    A lead's adjudication overrides the vote. Otherwise a cause (and the label-error
    flag) counts when more than half of the annotators who finished the error marked it;
    a tie goes to the lead's vote (when several leads voted, to their own majority).
    """
    if adjudication is not None:
        return Verdict(adjudication.causes, adjudication.label_error, adjudication.suggested_label)
    if not votes:
        return None
    voters = len(votes)
    lead_votes = [v for v in votes if v.annotator_id in lead_ids]
    marks: dict[int, int] = {}
    lead_marks: dict[int, int] = {}
    for vote in votes:
        for cause in vote.causes:
            marks[cause] = marks.get(cause, 0) + 1
    for vote in lead_votes:
        for cause in vote.causes:
            lead_marks[cause] = lead_marks.get(cause, 0) + 1

    def counts(marked: int, by_leads: int) -> bool:
        # The leads' own majority settles a tie (a tie among leads settles nothing).
        lead_decides = _majority(by_leads, len(lead_votes), None) if lead_votes else None
        return _majority(marked, voters, lead_decides)

    causes = frozenset(c for c, n in marks.items() if counts(n, lead_marks.get(c, 0)))
    flagged = [v for v in votes if v.label_error]
    label_error = bool(flagged) and counts(
        len(flagged), sum(1 for v in lead_votes if v.label_error)
    )
    suggestion = None
    if label_error:
        suggested = [v.suggested_label for v in flagged if v.suggested_label]
        # The most common suggestion; ties to the first given (votes come in a fixed order).
        suggestion = max(suggested, key=suggested.count) if suggested else None
    return Verdict(causes, label_error, suggestion)


def disagree(votes: Sequence[Vote]) -> bool:
    """Finished annotators differ on some cause or on the label-error flag."""
    if len(votes) < 2:
        return False
    first = votes[0]
    return any(v.causes != first.causes or v.label_error != first.label_error for v in votes[1:])


# --- agreement ----------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """Agreement on one binary column across errors with at least two finished verdicts."""

    alpha: float | None  # Krippendorff's alpha; None when every value is the same
    percent: float | None  # share of those errors on which all annotators agree
    errors: int  # how many errors it rests on


def binary_agreement(units: Iterable[Sequence[bool]]) -> Agreement:
    """Krippendorff's alpha for nominal (here binary) data, from the coincidence matrix.

    Each error with m >= 2 values adds, for every ordered pair of its values, 1/(m-1) to
    the coincidence count of that pair. alpha = 1 - (n-1)·(o01+o10) / (2·n0·n1).
    """
    return agreement_from_counts(
        (len(values), sum(1 for v in values if v)) for values in units if len(values) >= 2
    )


@dataclass(frozen=True)
class AgreementSums:
    """What Krippendorff's alpha needs of a binary column, added up over the errors with
    two or more finished verdicts: each error's coincidences of a mark with a non-mark
    (ones·(m-ones)/(m-1) for `ones` marks among m values), its marks, its values, the
    number of errors and how many of them were unanimous. Sums over errors add, so a
    database can aggregate them (see `views.tally`)."""

    coincidences: float
    marks: int
    values: int
    errors: int
    unanimous: int


def agreement_from_sums(sums: AgreementSums) -> Agreement:
    """alpha = 1 - (n-1)·(o01+o10) / (2·n0·n1), with o10 = o01 by symmetry."""
    if sums.errors == 0:
        return Agreement(None, None, 0)
    n, n1 = sums.values, sums.marks
    n0 = n - n1
    alpha = None if n0 == 0 or n1 == 0 else 1 - (n - 1) * (2 * sums.coincidences) / (2 * n0 * n1)
    return Agreement(alpha, sums.unanimous / sums.errors, sums.errors)


def agreement_from_counts(
    units: Iterable[tuple[int, int]], *, unmarked_units: int = 0, unmarked_values: int = 0
) -> Agreement:
    """The same from (values, marks) per error. Errors where nobody marked the cause can be
    given as totals only: they add no disagreement."""
    o01 = 0.0  # coincidences of a mark with a non-mark (o10 is the same by symmetry)
    n1 = 0
    n = unmarked_values
    rated = unmarked_units
    unanimous = unmarked_units
    for m, ones in units:
        if m < 2:
            continue
        rated += 1
        o01 += ones * (m - ones) / (m - 1)
        n1 += ones
        n += m
        unanimous += ones in (0, m)
    return agreement_from_sums(AgreementSums(o01, n1, n, rated, unanimous))
