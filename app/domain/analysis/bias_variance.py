"""Bias and variance from a run's reported error rates, in the method's terms.

With human-level error as the proxy for the best achievable (Bayes) error, and
without extra training data:
- avoidable bias = training error - human-level error;
- variance = blackbox-validation error - training error;
- overfitting the validation sets = test error - blackbox-validation error.

With extra data from another distribution added to training (an augmented training
set, and an augmented validation set held out from it):
- avoidable bias = augmented-training error - human-level error;
- variance = augmented-validation error - augmented-training error;
- data mismatch = blackbox-validation error - augmented-validation error;
- overfitting the validation sets = test error - blackbox-validation error.

Work on them in that order. A term whose inputs were not reported is missing, never 0.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.i18n import lazy_gettext
from app.models import Run


class Term(enum.StrEnum):
    AVOIDABLE_BIAS = "avoidable_bias"
    VARIANCE = "variance"
    DATA_MISMATCH = "data_mismatch"
    VALIDATION_OVERFIT = "validation_overfit"


# In the reader's language each time they are read (the API's are English).
TERM_LABELS = {
    Term.AVOIDABLE_BIAS: lazy_gettext("Avoidable bias"),
    Term.VARIANCE: lazy_gettext("Variance"),
    Term.DATA_MISMATCH: lazy_gettext("Data mismatch"),
    Term.VALIDATION_OVERFIT: lazy_gettext("Overfitting the validation sets"),
}

# The method's next steps for each term, in its order.
NEXT_STEPS = {
    Term.AVOIDABLE_BIAS: (
        lazy_gettext("a bigger model"),
        lazy_gettext("richer features"),
        lazy_gettext("less regularisation"),
        lazy_gettext("error analysis on training samples"),
    ),
    Term.VARIANCE: (
        lazy_gettext("more training data"),
        lazy_gettext("regularisation"),
        lazy_gettext("early stopping"),
    ),
    Term.DATA_MISMATCH: (
        lazy_gettext("find out which property of the data differs"),
        lazy_gettext("find training data that matches the validation data better"),
    ),
    Term.VALIDATION_OVERFIT: (lazy_gettext("a larger validation set"),),
}


@dataclass(frozen=True)
class Part:
    term: Term
    value: float | None  # in error rate (0.02 = 2 points); None when an input is missing
    missing: tuple[str, ...]  # the metrics it needs that the run does not report

    @property
    def label(self) -> str:
        return str(TERM_LABELS[self.term])


@dataclass(frozen=True)
class Breakdown:
    run: str
    augmented: bool  # the augmented-set terms (extra training data from elsewhere)
    human_error: float | None  # the Bayes proxy the terms start from
    parts: tuple[Part, ...]  # in the method's order

    @property
    def largest(self) -> Part | None:
        """The term to work on: the largest known one above 0."""
        known = [p for p in self.parts if p.value is not None and p.value > 0]
        return max(known, key=lambda p: p.value or 0.0) if known else None

    @property
    def next_steps(self) -> tuple[str, ...]:
        largest = self.largest
        return tuple(str(step) for step in NEXT_STEPS[largest.term]) if largest is not None else ()


def _difference(run: Run, minuend: str, subtrahend: str) -> tuple[float | None, tuple[str, ...]]:
    high, low = getattr(run, minuend), getattr(run, subtrahend)
    missing = tuple(m for m, v in ((minuend, high), (subtrahend, low)) if v is None)
    return (None if missing else high - low), missing


def breakdown(run: Run) -> Breakdown:
    """The run's error, term by term; the augmented terms when the run reports either
    augmented set's error."""
    augmented = (
        run.augmented_training_error is not None or run.augmented_validation_error is not None
    )
    pairs: tuple[tuple[Term, str, str], ...]
    if augmented:
        pairs = (
            (Term.AVOIDABLE_BIAS, "augmented_training_error", "human_error"),
            (Term.VARIANCE, "augmented_validation_error", "augmented_training_error"),
            (Term.DATA_MISMATCH, "blackbox_error", "augmented_validation_error"),
            (Term.VALIDATION_OVERFIT, "test_error", "blackbox_error"),
        )
    else:
        pairs = (
            (Term.AVOIDABLE_BIAS, "training_error", "human_error"),
            (Term.VARIANCE, "blackbox_error", "training_error"),
            (Term.VALIDATION_OVERFIT, "test_error", "blackbox_error"),
        )
    parts = []
    for term, minuend, subtrahend in pairs:
        value, missing = _difference(run, minuend, subtrahend)
        parts.append(Part(term, value, missing))
    return Breakdown(run.name, augmented, run.human_error, tuple(parts))
