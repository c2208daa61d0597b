"""Whole numbers typed by people: the one parser every form, query and id goes through.

`str.isdigit()` says yes to "²" (which `int()` then refuses, a 500), and
`int()` takes any length (which PostgreSQL's INTEGER then refuses, a 500): so only ASCII
digits are read, and only up to a bound the database can hold.
"""

from __future__ import annotations

import re

# The largest value of an INTEGER column, on SQLite and PostgreSQL alike.
MAX_INT = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)


def whole_number(text: str | None, *, most: int = MAX_INT) -> int | None:
    """The number `text` spells in ASCII digits (spaces around it allowed), from 0 to
    `most`; None for anything else (empty, signed, other digits, too large)."""
    if text is None:
        return None
    stripped = text.strip()
    if not _DIGITS.fullmatch(stripped):
        return None
    number = int(stripped)
    return number if number <= most else None
