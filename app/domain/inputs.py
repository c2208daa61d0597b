"""What any text or JSON sent to Eyeball may hold: the one rule, wherever it arrives.

A form field, a query parameter, a path segment, a JSON body, a manifest cell, a pushed
sample's record: each passes `text_problem` (strings) or `json_problem` (decoded JSON,
keys included). JSON is decoded by `load_json` only. Refused, never stored:

- a NUL character: PostgreSQL text cannot hold one (the driver fails, a 500), and SQLite
  would keep a value that no other copy of the data can;
- a lone surrogate (half of a UTF-16 pair, which JSON's `\\ud800` escape can carry): it is
  not text, and no UTF-8 file (an export, a page) can be written with it;
- in JSON: NaN and Infinity (not JSON: PostgreSQL refuses them, and so would any other
  reader of an export), whole numbers beyond 64 bits, and nesting deeper than
  `MAX_JSON_DEPTH` (which would exhaust the parser's stack here or PostgreSQL's).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from app.i18n import gettext as _

# Records and metadata are shallow; this leaves a notebook plenty of room.
MAX_JSON_DEPTH = 32
# The widest whole number a JSON column is read back as without loss (64-bit).
MAX_JSON_INT = 2**63 - 1

_BAD = re.compile("[\x00\ud800-\udfff]")


class JsonRefused(ValueError):
    """JSON that cannot be taken; the message says why (and where, when it can).
    `syntax`: it is not JSON at all (rather than JSON holding what is refused)."""

    def __init__(self, message: str, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.syntax = syntax


def text_problem(text: str) -> str | None:
    """What makes `text` unstorable, or None when it is fine."""
    found = _BAD.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return _("contains a NUL character (\\u0000), which cannot be stored")
    return _(
        "contains a lone surrogate (%(code)s), which is not text",
        code="\\u" + format(ord(found.group()), "04x"),
    )


def has_text_problem(text: str) -> bool:
    """Whether `text_problem` would find anything: one search, for many texts joined."""
    return _BAD.search(text) is not None


def json_problem(value: Any) -> tuple[str, str] | None:
    """The first thing wrong in decoded JSON, as (where, what): `where` is a dotted path
    such as `samples.3.metadata.colour` ('' for the value itself)."""
    if isinstance(value, str):  # most values (every CSV cell): one search, no walk
        problem = text_problem(value)
        return None if problem is None else ("", problem)
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            return ".".join(path[:MAX_JSON_DEPTH]), _(
                "nested deeper than %(most)s levels", most=MAX_JSON_DEPTH
            )
        problem = _scalar_problem(item)
        if problem is not None:
            return ".".join(path), problem
        if isinstance(item, dict):
            for key, inner in reversed(item.items()):
                key_problem = text_problem(str(key))
                if key_problem is not None:
                    return ".".join(path), _("a key %(problem)s", problem=key_problem)
                stack.append((inner, (*path, str(key))))
        elif isinstance(item, list):
            stack.extend((inner, (*path, str(i))) for i, inner in reversed(list(enumerate(item))))
    return None


def json_passes(value: Any) -> bool:
    """Whether `json_problem(value)` is None, found without building the path of every
    value (which only a refusal needs): a manifest's JSONL rows spent half of their
    check on that walk."""
    texts: list[str] = []
    return json_texts(value, texts) and not has_text_problem("".join(texts))


def json_texts(value: Any, texts: list[str], depth: int = 0) -> bool:
    """Whether `value` passes every rule of `json_problem` but the text rule, its
    strings and keys added to `texts` for the caller to search at once (joined, with
    `has_text_problem`: the rule is about single characters, which joining keeps)."""
    if depth > MAX_JSON_DEPTH:  # as deep a string is refused too
        return False
    kind = type(value)
    # The types JSON decodes to first, each judged as `_scalar_problem` judges it.
    if kind is str:
        texts.append(value)
        return True
    if kind is int:
        fits: bool = -MAX_JSON_INT <= value <= MAX_JSON_INT
        return fits
    if kind is float:
        return math.isfinite(value)
    if value is None or kind is bool:
        return True
    if isinstance(value, dict):
        for key, inner in value.items():
            texts.append(str(key))
            if not json_texts(inner, texts, depth + 1):
                return False
        return True
    if isinstance(value, list):
        for inner in value:  # noqa: SIM110 (all() over a generator costs more a value)
            if not json_texts(inner, texts, depth + 1):
                return False
        return True
    if isinstance(value, str):
        texts.append(value)
        return True
    return _scalar_problem(value) is None


def _scalar_problem(item: Any) -> str | None:
    if isinstance(item, str):
        return text_problem(item)
    if isinstance(item, bool):
        return None
    if isinstance(item, int) and abs(item) > MAX_JSON_INT:
        return _("a whole number beyond ±%(most)s (64 bits)", most=format(MAX_JSON_INT, ","))
    if isinstance(item, float) and not math.isfinite(item):
        return _("NaN or Infinity, which JSON cannot carry")
    return None


def _no_constant(name: str) -> Any:
    raise JsonRefused(_("%(name)s is not a JSON number", name=name))


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def parse_json(data: str | bytes) -> Any:
    """Decoded JSON, or JsonRefused when it is not JSON, holds NaN or Infinity, or is too
    deep or too long a number for the parser; the values are checked by `json_problem`."""
    try:
        if isinstance(data, str) and not data.startswith("\ufeff"):
            # What `json.loads` does with text, without building a decoder for each
            # value (a manifest's JSONL row is one).
            return _DECODER.decode(data)
        return json.loads(data, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonRefused(_("not valid JSON (%(why)s)", why=exc.msg), syntax=True) from None
    except RecursionError:
        raise JsonRefused(_("nested deeper than %(most)s levels", most=MAX_JSON_DEPTH)) from None
    except JsonRefused:
        raise
    except UnicodeDecodeError:
        raise JsonRefused(_("not UTF-8 text"), syntax=True) from None
    except ValueError:  # a number of more digits than Python will convert
        raise JsonRefused(_("a number too long to read")) from None


def load_json(data: str | bytes) -> Any:
    """Decoded JSON that passes `json_problem`, or JsonRefused saying what is wrong."""
    value = parse_json(data)
    problem = json_problem(value)
    if problem is not None:
        where, what = problem
        raise JsonRefused(f"{where}: {what}" if where else what)
    return value
