"""The sheet as files: CSV for notebooks, an .xlsx workbook for people who keep working in
Excel (its footer rows are formulas over the rows, so edits in Excel recompute them),
and the list of suggested label corrections.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.domain.analysis.inert import inert, inert_text
from app.domain.analysis.sheet import ErrorRow, RunData
from app.domain.analysis.tally import Z95
from app.domain.analysis.views import SheetSlice
from app.i18n import gettext as _
from app.i18n import lazy_gettext

BASE_HEADERS = ("external_id", "label", "prediction", "confidence")
TAIL_HEADERS = ("label_error", "suggested_label", "note", "annotators", "status", "examined")


def headers(data: RunData) -> list[str]:
    return [*BASE_HEADERS, *(c.name for c in data.columns), *TAIL_HEADERS]


def _cells(data: RunData, row: ErrorRow) -> list[str | int | float | None]:
    # Every string here is someone's text (ids, labels, notes): inert in both formats.
    cells: list[str | int | float | None] = [
        row.external_id,
        row.label,
        row.predicted,
        row.confidence,
        *(int(c.id in row.causes) for c in data.columns),
        int(row.label_error),
        row.suggested_label,
        row.note,
        row.annotators,
        row.status.value,
        int(row.examined),
    ]
    return [inert(v) for v in cells]


def sheet_csv(page: SheetSlice) -> str:
    """One line per error of the (filtered, sorted) slice; causes as 0/1 consensus marks.

    No footer lines: a CSV is read into data frames, where a footer would be a bogus row.
    The footer is the tally endpoint's JSON.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([inert_text(name) for name in headers(page.data)])
    for row in page.rows:
        writer.writerow(["" if v is None else v for v in _cells(page.data, row)])
    return out.getvalue()


def label_corrections_csv(rows: Iterable[ErrorRow]) -> str:
    """The errors whose consensus says the ground-truth label is wrong."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["external_id", "current_label", "suggested_label", "annotators"])
    for row in rows:
        if row.label_error:
            people = [m.annotator for m in row.finished if m.label_error]
            if row.adjudication is not None and row.adjudication.label_error:
                people.append(f"{row.adjudication.annotator} (adjudicated)")
            cells = [row.external_id, row.label, row.suggested_label or "", ", ".join(people)]
            writer.writerow([inert_text(cell) for cell in cells])
    return out.getvalue()


# Rows of the footer, under the errors, in this order. Their titles, and those of the
# Run sheet, are for people: in the reader's language (the API's file is English); the
# column headers and the sheets' names (which the formulas name) stay English.
FOOTER = (
    lazy_gettext("Count"),
    lazy_gettext("Share"),
    lazy_gettext("Share, 95% low"),
    lazy_gettext("Share, 95% high"),
    lazy_gettext("Gain at most (points)"),
    lazy_gettext("Gain, 95% low (points)"),
    lazy_gettext("Gain, 95% high (points)"),
    lazy_gettext("Error rate if fixed"),
)


def sheet_xlsx(page: SheetSlice) -> bytes:
    """The slice as a workbook, written row by row (openpyxl's write-only mode), so a run
    of any size is written in bounded memory."""
    data = page.data
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Errors")
    run = book.create_sheet("Run")
    names = headers(data)
    sheet.freeze_panes = "B2"
    sheet.append([_bold(sheet, name) for name in names])
    for row in page.rows:
        sheet.append([_text(sheet, v) if isinstance(v, str) else v for v in _cells(data, row)])
    first, last = 2, max(2, page.tally.rows + 1)

    filters = "&".join(f"{k}={v}" for k, v in page.filters.query()) or _("none")
    for title, value in (
        (_("Run"), _text(run, inert_text(data.run.name))),
        (_("Evaluated samples"), data.run.evaluated),
        (_("Errors in the run"), data.errors),
        # B4: the error rate; empty when the evaluated count is unknown.
        (_("Error rate"), '=IF(B2>0,B3/B2,"")' if data.run.evaluated else None),
        # B5: every examined error of the run, also when this file holds a filtered
        # slice, because a ceiling is in points of the whole run's error rate.
        (_("Examined errors in the run"), page.tally.examined_in_run),
        (_("Filters"), _text(run, inert_text(filters))),
        (_("z (95%)"), Z95),
    ):
        run.append([_bold(run, title), value])

    examined_col = get_column_letter(names.index("examined") + 1)
    examined = f"{examined_col}{first}:{examined_col}{last}"
    label_col = names.index("external_id") + 1
    top = last + 2
    footer: list[list[Any]] = [[None] * len(names) for _ in FOOTER]
    for offset, title in enumerate(FOOTER):
        footer[offset][label_col - 1] = _bold(sheet, str(title))
    footer[0][label_col] = _("Examined")
    footer[0][label_col + 1] = f"=SUM({examined})"
    n = f"${get_column_letter(label_col + 2)}${top}"
    counted = [len(BASE_HEADERS) + i + 1 for i in range(len(data.columns))]
    counted.append(names.index("label_error") + 1)
    everything = "Run!$B$5"
    for column in counted:
        letter = get_column_letter(column)
        count, gain = f"{letter}{top}", f"{letter}{top + 4}"
        share_of_all = f"{count}/{everything}"
        formulas = [
            # Consensus marks are only set on examined rows, so a plain SUM is the count.
            f"=SUM({letter}{first}:{letter}{last})",
            f'=IF({n}>0,{count}/{n},"")',
            f'=IF({n}>0,{_wilson(count, n, "-")},"")',
            f'=IF({n}>0,{_wilson(count, n, "+")},"")',
            # Ceilings are points of the run's error rate: its share of ALL examined errors.
            f'=IF(AND(ISNUMBER(Run!$B$4),{everything}>0),100*Run!$B$4*{share_of_all},"")',
            f'=IF(ISNUMBER({gain}),100*Run!$B$4*{_wilson(count, everything, "-")},"")',
            f'=IF(ISNUMBER({gain}),100*Run!$B$4*{_wilson(count, everything, "+")},"")',
            f'=IF(ISNUMBER({gain}),Run!$B$4-{gain}/100,"")',
        ]
        for offset, formula in enumerate(formulas):
            footer[offset][column - 1] = formula
    # The rows end at `last` (an empty slice still leaves row 2 for the formulas' range).
    for _blank in range(last + 1 - (page.tally.rows + 1)):
        sheet.append([])
    for cells in footer:
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Excel's limit on a cell's text: a longer one makes it "repair" (empty) the workbook.
XLSX_CELL_CHARS = 32767


def _text(sheet: Any, value: str) -> Any:
    """A string cell that is never a formula (nor an error code such as `#N/A`), whatever
    it holds: only the footer's cells, written below, are formulas."""
    cell = WriteOnlyCell(sheet, value=value[:XLSX_CELL_CHARS])
    cell.data_type = "s"
    return cell


def _bold(sheet: Any, value: str) -> Any:
    # Headers hold cause names, which are people's text.
    cell = _text(sheet, inert_text(value))
    cell.font = Font(bold=True)
    return cell


def _wilson(count: str, n: str, sign: str) -> str:
    """One end of the 95% Wilson interval as a formula (z in Run!B7): no add-ins needed."""
    p = f"({count}/{n})"
    z = "Run!$B$7"
    mid = f"{p}+{z}^2/(2*{n})"
    half = f"{z}*SQRT({p}*(1-{p})/{n}+{z}^2/(4*{n}^2))"
    bound = "MAX(0," if sign == "-" else "MIN(1,"
    return f"{bound}({mid}{sign}{half})/(1+{z}^2/{n}))"
