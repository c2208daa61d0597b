"""Samples' metadata as the sheet filters it: a value's text, and what a run's errors carry.

A filter `key=value` compares text, so a value is read as the text Python's `str()`
gives it on both databases (`True`, `None`, `3`, `night`). The choices the sheet
offers are read with the same conversion, so every value offered matches as shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.orm import Session

from app.domain.review.status import is_under_review
from app.models import Prediction, Sample

# Per key, the most common values offered: a key such as a file name or a score has as
# many values as samples, and a list of thousands helps nobody pick.
VALUES_OFFERED = 30


@dataclass(frozen=True)
class MetaValue:
    value: str
    errors: int  # the run's errors under review whose sample has it


@dataclass(frozen=True)
class MetaKey:
    key: str
    values: tuple[MetaValue, ...]  # most common first, at most VALUES_OFFERED
    distinct: int  # how many values the key has in all


def _as_text(
    dialect: str, kind: ColumnElement[str], text_value: ColumnElement[str]
) -> ColumnElement[str]:
    """A JSON value as Python's `str()` of it, from its JSON type and its text."""
    if dialect == "postgresql":
        return case(
            (kind == "boolean", func.initcap(text_value)),
            (kind == "null", literal("None")),
            else_=text_value,
        )
    return case(
        (kind == "true", literal("True")),
        (kind == "false", literal("False")),
        (kind == "null", literal("None")),
        else_=text_value,
    )


def meta_text(dialect: str, key: str) -> ColumnElement[str]:
    """A sample's metadata value under `key` as text, so a filter `light=night`, `size=3`
    or `flag=True` matches on both databases."""
    if dialect == "postgresql":
        value = Sample.meta.op("->")(key)
        return _as_text(dialect, func.json_typeof(value), Sample.meta.op("->>")(key))
    path = '$."' + key.replace('"', '""') + '"'
    return _as_text(
        dialect,
        func.json_type(Sample.meta, path),
        cast(func.json_extract(Sample.meta, path), String),
    )


# Values whose text `meta_text` gives from a JSON type of their own, not from the value.
_WORDS = {"True", "False", "None"}


def meta_matches(dialect: str, key: str, value: str) -> ColumnElement[bool]:
    """`meta_text(dialect, key) == value`, said so that the database reads a sample's
    metadata once or twice instead of four times where the value allows it: over a run
    of 10,000 errors that was most of a filtered page's time on either database."""
    if value in _WORDS:
        return meta_text(dialect, key) == value
    if dialect == "postgresql":
        text_value = Sample.meta.op("->>")(key)
        if value not in ("true", "false"):
            # Only a boolean or a null has a text of its own; neither gives this one.
            return text_value == value
        kind = func.json_typeof(Sample.meta.op("->")(key))
        return and_(text_value == value, kind.not_in(["boolean", "null"]))
    path = '$."' + key.replace('"', '""') + '"'
    extracted = func.json_extract(Sample.meta, path)
    if not _numeric(value) and value[:1] not in ("[", "{"):
        # SQLite compares a number with text as unequal, never converting either, and an
        # object or a list comes back as JSON text starting with a bracket: only a JSON
        # string can give this text.
        return extracted == value
    # Tried first, it rules most samples out with one read.
    return and_(
        cast(extracted, String) == value,
        func.json_type(Sample.meta, path).not_in(["true", "false", "null"]),
    )


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def meta_each(dialect: str) -> tuple[Any, Any, ColumnElement[str], list[ColumnElement[bool]]]:
    """Every key of a sample's metadata with its value's text (as `meta_text` gives it):
    a table-valued function to join to `Sample`, its key and value columns, and the
    conditions that keep it to metadata that is an object."""
    if dialect == "postgresql":
        # json_each refuses anything but an object, wherever the WHERE would drop it.
        meta = case(
            (func.json_typeof(Sample.meta) == "object", Sample.meta),
            else_=literal_column("'{}'::json"),
        )
        each = func.json_each(meta).table_valued("key", "value")
        # `#>> '{}'`: the value's text, unquoted for a string, as `->>` gives it.
        text_value = each.c.value.op("#>>", return_type=String)(literal_column("'{}'"))
        return each, each.c.key, _as_text(dialect, func.json_typeof(each.c.value), text_value), []
    each = func.json_each(Sample.meta).table_valued("key", "value", "type")
    value = _as_text(dialect, each.c.type, cast(each.c.value, String))
    # A scalar or an array would give rows without a key, or numbered ones.
    return each, each.c.key, value, [func.json_type(Sample.meta) == "object"]


def metadata_counts(session: Session, run_id: int) -> list[MetaKey]:
    """The metadata keys of the run's errors under review, each with its values and how
    many errors carry each: one grouped query over every key of every sample."""
    each, key, value, objects_only = meta_each(session.get_bind().dialect.name)
    rows = session.execute(
        select(key, value, func.count())
        .select_from(Prediction)
        .join(Sample, Sample.id == Prediction.sample_id)
        .join(each, literal(True))
        .where(is_under_review(run_id), *objects_only)
        .group_by(key, value)
    ).all()
    by_key: dict[str, list[MetaValue]] = {}
    for name, text, errors in rows:
        by_key.setdefault(str(name), []).append(MetaValue(str(text), int(errors)))
    return [
        MetaKey(
            name,
            tuple(sorted(values, key=lambda v: (-v.errors, v.value))[:VALUES_OFFERED]),
            len(values),
        )
        for name, values in sorted(by_key.items())
    ]
