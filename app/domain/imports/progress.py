"""An import's progress, reported from one place: the pipeline.

The pipeline (`pipeline.run_import`, with `manifests.read_manifest` for its reading
and image check) says which phase it is in and how far along; an `ImportProgress`
keeps that and times each phase. The import page's job, the CLI's bar and the REST
summary all read the same record: the page and the bar while the import runs
(`on_change`), the summary's `phases` when it is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.i18n import format_number, lazy_gettext
from app.i18n import gettext as _


class Phase(StrEnum):
    STARTING = "starting"
    READING = "reading"  # the manifest's rows, each checked
    CHECKING_IMAGES = "checking_images"  # verified, thumbnailed and staged
    SAVING = "saving"  # the one write transaction
    DONE = "done"


_LABELS = {
    Phase.STARTING: lazy_gettext("Starting"),
    Phase.READING: lazy_gettext("Reading the manifest"),
    Phase.CHECKING_IMAGES: lazy_gettext("Checking images"),
    Phase.SAVING: lazy_gettext("Saving"),
    Phase.DONE: lazy_gettext("Done"),
}

# What the pipeline calls: the phase, how many of its items are done, and of how many
# (0: not known yet, as while the manifest is still being read).
Progress = Callable[[Phase, int, int], None]

READ_REPORT_EVERY = 1_000  # rows: often enough for a bar, rare enough to cost nothing


def phase_label(phase: str) -> str:
    """The phase as a person reads it, in the request's language. A value that is no
    phase (a status file written by an older version) is shown as it is."""
    try:
        return str(_LABELS[Phase(phase)])
    except ValueError:
        return phase


def timings(phases: list[dict[str, Any]]) -> str:
    """An import's phases as one line, as the CLI and the import page show them:
    "Took 3.2 s: Reading the manifest 0.4 s, Checking images 2.1 s, Saving 0.7 s"."""
    if not phases:
        return ""
    total = sum(p["seconds"] for p in phases)
    parts = [
        _("%(phase)s %(seconds)s s", phase=phase_label(p["phase"]), seconds=_seconds(p["seconds"]))
        for p in phases
    ]
    return _("Took %(seconds)s s: %(phases)s.", seconds=_seconds(total), phases=_(", ").join(parts))


def _seconds(value: float) -> str:
    return format_number(value, 2 if value < 1 else 1)


@dataclass(frozen=True)
class PhaseTime:
    """A finished phase: how many items it went through and how long it took."""

    phase: Phase
    items: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"phase": self.phase.value, "items": self.items, "seconds": round(self.seconds, 3)}


class ImportProgress:
    """The record of one import's progress; call it as the pipeline's `Progress`.

    A phase ends when the next one is reported (or at `finish`), and is kept with its
    item count and time. `on_change`, if given, hears every report: the job writes its
    status file from it, the CLI moves its bar.
    """

    def __init__(self, on_change: Callable[[ImportProgress], None] | None = None) -> None:
        self.on_change = on_change
        self.phase: Phase = Phase.STARTING
        self.done = 0
        self.total = 0
        self.finished: list[PhaseTime] = []
        self._started = time.perf_counter()

    def __call__(self, phase: Phase, done: int, total: int) -> None:
        if phase is not self.phase:
            self._close()
            self.phase = phase
        self.done, self.total = done, total
        if self.on_change is not None:
            self.on_change(self)

    def finish(self) -> None:
        self(Phase.DONE, self.done, self.total)

    @property
    def label(self) -> str:
        return phase_label(self.phase)

    def phases(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.finished]

    def _close(self) -> None:
        now = time.perf_counter()
        if self.phase is not Phase.STARTING:
            self.finished.append(PhaseTime(self.phase, self.done, now - self._started))
        self._started = now
