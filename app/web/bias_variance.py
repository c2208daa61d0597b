"""The dashboard's bias / variance panel: the run's terms as a stacked bar, and the same
terms over the project's runs as lines (drawn here as SVG coordinates, so the template
only places them)."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.analysis.bias_variance import TERM_LABELS, Breakdown, Term, breakdown
from app.i18n import gettext as _
from app.models import Run

BAR_WIDTH = 560.0
CHART = (560.0, 160.0)  # width, height of the lines' plot area


@dataclass(frozen=True)
class Segment:
    label: str
    css: str
    x: float
    width: float
    value: float


@dataclass(frozen=True)
class Line:
    label: str
    css: str
    coords: tuple[tuple[float, float, float], ...]  # x, y, the value there

    @property
    def points(self) -> str:
        """For <polyline>: "x,y x,y ..."."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in self.coords)


@dataclass(frozen=True)
class Panel:
    breakdown: Breakdown
    segments: tuple[Segment, ...]  # Bayes proxy, then each known term above 0
    lines: tuple[Line, ...]  # one per term, over the runs that report it
    run_labels: tuple[tuple[float, str], ...]  # x, run name
    top: float  # the lines' scale: this error rate at the top


def _css(term: Term) -> str:
    return "term-" + term.value.replace("_", "-")


def panel(run: Run, runs: list[Run]) -> Panel:
    result = breakdown(run)
    pieces: list[tuple[str, str, float]] = []
    if result.human_error is not None:
        pieces.append((_("Human level (best achievable)"), "term-human", result.human_error))
    for part in result.parts:
        if part.value is not None and part.value > 0:
            pieces.append((part.label, _css(part.term), part.value))
    total = sum(v for _, _, v in pieces) or 1.0
    segments, x = [], 0.0
    for label, css, value in pieces:
        width = BAR_WIDTH * value / total
        segments.append(Segment(label, css, x, width, value))
        x += width

    history = [(r.name, breakdown(r)) for r in runs]
    known = [p.value for _, b in history for p in b.parts if p.value is not None]
    top = max([0.01, *known])
    width, height = CHART
    step = width / max(len(history) - 1, 1)
    lines = []
    for term in Term:
        coords = tuple(
            (i * step, height - height * max(p.value, 0.0) / top, p.value)
            for i, (_, b) in enumerate(history)
            for p in b.parts
            if p.term is term and p.value is not None
        )
        if coords:
            lines.append(Line(str(TERM_LABELS[term]), _css(term), coords))
    labels = tuple((i * step, name) for i, (name, _) in enumerate(history))
    return Panel(result, tuple(segments), tuple(lines), labels, top)
