"""Is the eyeball set still fit for error analysis? Big enough to show ~100 errors,
and not worn out by being looked at too often.

The method: an eyeball set should make the model get about 100 of its samples wrong (at
a 5 % error rate, 2,000 samples), and grow as the model improves. About 10 errors is
very small, 20 gives a rough idea of the main causes, 50 a good one, 100 a very good
one. Looking at the set over and over slowly overfits it: when a model improves on the
eyeball set clearly more than on the blackbox set, the set is worn out.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.domain.projects.access import ProjectAccess
from app.domain.projects.runs import resolve_run, runs_of
from app.models import Project, Run

ERRORS_WANTED = 100  # errors an eyeball set should show
BANNER_BELOW = 50  # fewer errors than a good idea of the causes: say so
WORN_OUT_ALPHA = 0.05  # one-sided


class Reading(enum.StrEnum):
    """The method's reading of how many errors the set shows."""

    VERY_SMALL = "very small"  # about 10
    ROUGH = "a rough idea"  # about 20
    GOOD = "a good idea"  # about 50
    VERY_GOOD = "a very good idea"  # about 100


def reading_of(errors: int) -> Reading:
    """The nearest of the method's marks, from below: 20 errors give a rough idea, 50 a
    good one, 100 a very good one; fewer than 20, very small."""
    if errors >= 100:
        return Reading.VERY_GOOD
    if errors >= 50:
        return Reading.GOOD
    if errors >= 20:
        return Reading.ROUGH
    return Reading.VERY_SMALL


def size_for(errors_wanted: int, error_rate: float | None) -> int | None:
    """The eyeball set that would show `errors_wanted` errors at this error rate; None
    when the rate is unknown or 0 (no set is large enough)."""
    if error_rate is None or error_rate <= 0:
        return None
    return math.ceil(errors_wanted / error_rate - 1e-9)


@dataclass(frozen=True)
class WornOut:
    """Did the eyeball error improve clearly more than the blackbox error?

    A two-proportion z-test on the eyeball set's counts of the two runs, of the null
    hypothesis that the eyeball error fell by just as much as the reported blackbox
    error (taken as exact: its set's size is not known here, and it is the larger set),
    against its having fallen by more. `likely` when the one-sided p-value is below 5 %.
    """

    before: str
    after: str
    eyeball_before: float
    eyeball_after: float
    blackbox_before: float
    blackbox_after: float
    z: float
    p_value: float

    @property
    def eyeball_gain(self) -> float:
        return self.eyeball_before - self.eyeball_after

    @property
    def blackbox_gain(self) -> float:
        return self.blackbox_before - self.blackbox_after

    @property
    def likely(self) -> bool:
        return self.p_value < WORN_OUT_ALPHA


def worn_out_test(before: Run, after: Run) -> WornOut | None:
    """The test between two runs, on their stored error counts; None unless both have an
    evaluated count and a reported blackbox error."""
    if not before.evaluated or not after.evaluated:
        return None
    if before.blackbox_error is None or after.blackbox_error is None:
        return None
    p_a, n_a = before.errors / before.evaluated, before.evaluated
    p_b, n_b = after.errors / after.evaluated, after.evaluated
    spread = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    excess = (p_a - p_b) - (before.blackbox_error - after.blackbox_error)
    if spread == 0:
        z = math.inf if excess > 0 else (-math.inf if excess < 0 else 0.0)
    else:
        z = excess / spread
    p_value = 0.5 * math.erfc(z / math.sqrt(2))  # P(Z >= z)
    return WornOut(
        before=before.name,
        after=after.name,
        eyeball_before=p_a,
        eyeball_after=p_b,
        blackbox_before=before.blackbox_error,
        blackbox_after=after.blackbox_error,
        z=z,
        p_value=p_value,
    )


@dataclass(frozen=True)
class Health:
    run: str
    errors: int  # in the eyeball set now, as this run scored it
    evaluated: int | None
    error_rate: float | None
    size_for_100: int | None
    reading: Reading
    worn_out: WornOut | None  # against the latest earlier run with a blackbox error

    @property
    def too_small(self) -> bool:
        return self.errors < BANNER_BELOW

    @property
    def advice(self) -> str:
        """The size advice in one plain sentence, for a terminal."""
        plural = "" if self.errors == 1 else "s"
        reading = self.reading.value
        text = f"The eyeball set shows {self.errors} error{plural}: {reading}"
        text += "" if self.reading is Reading.VERY_SMALL else " of the causes"
        if self.size_for_100:
            rate = f"{self.error_rate:.1%}" if self.error_rate is not None else ""
            text += f"; about 100 need {self.size_for_100:,} samples at {rate}"
        elif self.error_rate is None:
            text += "; give the run its evaluated count to know how large the set should be"
        return text + "."


def set_health(session: Session, access: ProjectAccess, run_name: str) -> Health:
    """The eyeball set as this run sees it; the run's errors and counts are stored on it
    (kept by every import), so this reads one row per run."""
    return run_health(session, access.project, resolve_run(session, access.project, run_name))


def run_health(session: Session, project: Project, run: Run) -> Health:
    rate = run.errors / run.evaluated if run.evaluated else None
    runs = runs_of(session, project)  # oldest first
    earlier = runs[: [r.id for r in runs].index(run.id)]
    reported = [r for r in earlier if r.blackbox_error is not None and r.evaluated]
    worn = worn_out_test(reported[-1], run) if reported else None
    return Health(
        run=run.name,
        errors=run.errors,
        evaluated=run.evaluated,
        error_rate=rate,
        size_for_100=size_for(ERRORS_WANTED, rate),
        reading=reading_of(run.errors),
        worn_out=worn,
    )
