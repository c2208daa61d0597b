"""Cells that stay text: the one rule every CSV and .xlsx writer applies to a person's text.

Sample ids, labels, metadata, notes and cause names are typed by people (an annotator,
a lead, whoever made the manifest) and read by others in Excel, LibreOffice or Google
Sheets, which run a cell that starts with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK("http://evil", "click")`, DDE). OWASP's rule: such a cell, and one that
starts with a tab or a carriage return (which some spreadsheets skip before looking for
`=`), is prefixed with `'`, which the spreadsheets read as "text follows".

Control characters are dropped too: XML 1.0 cannot hold most of them, so a single one in
a note would make openpyxl refuse the whole workbook, and a lone surrogate (which no
UTF-8 encoder accepts) would cut a streamed CSV short. Carriage returns become line
feeds: our CSVs end lines with `\n`, and Python's csv module quotes a field only for the
characters of its line terminator, so a bare `\r` would be written unquoted and split
the row for most readers.
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")

# What starts a formula, and what spreadsheets skip before looking for one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# C0 controls but tab, line feed and carriage return (text keeps its lines), DEL, and
# lone surrogates.
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def inert_text(text: str) -> str:
    """`text` as a cell no spreadsheet evaluates and every file format can hold."""
    text = _UNWRITABLE.sub("", text)
    prefix = "'" if text.startswith(FORMULA_STARTS) else ""
    return prefix + text.replace("\r\n", "\n").replace("\r", "\n")


def inert(value: T) -> T | str:
    """A cell of any type: strings made inert, numbers and the rest as they are (a
    negative confidence is a number, never a formula)."""
    if isinstance(value, str):
        return inert_text(value)
    return value
