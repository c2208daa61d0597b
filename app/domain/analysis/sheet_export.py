"""The sheet as files: CSV for notebooks, an .xlsx workbook for people who keep working in
Excel (its footer rows are formulas over the rows, so edits in Excel recompute them),
and the list of suggested label corrections.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.domain.analysis.sheet import ErrorRow, RunData
from app.domain.analysis.tally import Z95
from app.domain.analysis.views import SheetPage

BASE_HEADERS = ("external_id", "label", "prediction", "confidence")
TAIL_HEADERS = ("label_error", "suggested_label", "note", "annotators", "status", "examined")


def headers(data: RunData) -> list[str]:
    return [*BASE_HEADERS, *(c.name for c in data.columns), *TAIL_HEADERS]


def _cells(data: RunData, row: ErrorRow) -> list[str | int | float | None]:
    return [
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


def sheet_csv(page: SheetPage) -> str:
    """One line per error of the (filtered, sorted) slice; causes as 0/1 consensus marks.

    No footer lines: a CSV is read into data frames, where a footer would be a bogus row.
    The footer is the tally endpoint's JSON.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers(page.data))
    for row in page.all_rows:
        writer.writerow(["" if v is None else v for v in _cells(page.data, row)])
    return out.getvalue()


def label_corrections_csv(rows: Sequence[ErrorRow]) -> str:
    """The errors whose consensus says the ground-truth label is wrong."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["external_id", "current_label", "suggested_label", "annotators"])
    for row in rows:
        if row.label_error:
            people = [m.annotator for m in row.finished if m.label_error]
            if row.adjudication is not None and row.adjudication.label_error:
                people.append(f"{row.adjudication.annotator} (adjudicated)")
            writer.writerow(
                [row.external_id, row.label, row.suggested_label or "", ", ".join(people)]
            )
    return out.getvalue()


# Rows of the footer, under the errors, in this order.
FOOTER = (
    "Count",
    "Share",
    "Share, 95% low",
    "Share, 95% high",
    "Gain at most (points)",
    "Gain, 95% low (points)",
    "Gain, 95% high (points)",
    "Error rate if fixed",
)


def sheet_xlsx(page: SheetPage) -> bytes:
    data = page.data
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Errors"
    names = headers(data)
    sheet.append(names)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in page.all_rows:
        sheet.append(_cells(data, row))
    first, last = 2, max(2, len(page.all_rows) + 1)

    run = book.create_sheet("Run")
    run.append(["Run", data.run.name])
    run.append(["Evaluated samples", data.run.evaluated])
    run.append(["Errors in the run", data.errors])
    # B4: the error rate; empty when the evaluated count is unknown.
    run.append(["Error rate", '=IF(B2>0,B3/B2,"")' if data.run.evaluated else None])
    # B5: every examined error of the run, also when this file holds a filtered slice,
    # because a ceiling is in points of the whole run's error rate.
    run.append(["Examined errors in the run", page.tally.examined_in_run])
    run.append(["Filters", "&".join(f"{k}={v}" for k, v in page.filters.query()) or "none"])
    run.append(["z (95%)", Z95])
    for cell in run["A"]:
        cell.font = Font(bold=True)

    examined_col = get_column_letter(names.index("examined") + 1)
    examined = f"{examined_col}{first}:{examined_col}{last}"
    label_col = names.index("external_id") + 1
    top = last + 2
    for offset, title in enumerate(FOOTER):
        sheet.cell(row=top + offset, column=label_col, value=title).font = Font(bold=True)
    sheet.cell(row=top, column=label_col + 1, value="Examined")
    sheet.cell(row=top, column=label_col + 2, value=f"=SUM({examined})")
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
            sheet.cell(row=top + offset, column=column, value=formula)
    sheet.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _wilson(count: str, n: str, sign: str) -> str:
    """One end of the 95% Wilson interval as a formula (z in Run!B7): no add-ins needed."""
    p = f"({count}/{n})"
    z = "Run!$B$7"
    mid = f"{p}+{z}^2/(2*{n})"
    half = f"{z}*SQRT({p}*(1-{p})/{n}+{z}^2/(4*{n}^2))"
    bound = "MAX(0," if sign == "-" else "MIN(1,"
    return f"{bound}({mid}{sign}{half})/(1+{z}^2/{n}))"
