"""The metadata keys and values a run's errors carry, offered as the sheet's filter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.analysis.metadata import (
    VALUES_OFFERED,
    MetaKey,
    MetaValue,
    meta_matches,
    meta_text,
)
from app.domain.analysis.sheet import load_run
from app.domain.analysis.views import Filters, metadata_choices, tally
from app.domain.review.visibility import everything
from app.models import Sample
from tests.factories import make_prediction, make_project, make_run, make_sample, make_user


def test_keys_and_values_with_counts_each_matching_its_filter(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    run = make_run(session, project)
    metas = [
        {"light": "night", "size": 3, "flag": True, "gone": None, "box": {"w": 1}},
        {"light": "night", "size": 3, "flag": False},
        {"light": "day", "size": 2.5},
        {},
    ]
    for meta in metas:
        make_prediction(session, run, make_sample(session, project, label="cat", meta=meta))
    # A correct prediction is no row of the sheet: its metadata is not offered.
    correct = make_sample(session, project, label="cat", meta={"light": "dusk"})
    make_prediction(session, run, correct, label="cat")

    data = load_run(session, project, run, seen_by=everything())
    choices = metadata_choices(session, data)
    box, *flat = choices
    # A nested value is offered as its JSON text, spaced as each database writes it.
    assert (box.key, [v.errors for v in box.values]) == ("box", [1])
    assert flat == [
        MetaKey("flag", (MetaValue("False", 1), MetaValue("True", 1)), 2),
        MetaKey("gone", (MetaValue("None", 1),), 1),
        MetaKey("light", (MetaValue("night", 2), MetaValue("day", 1)), 2),
        MetaKey("size", (MetaValue("3", 2), MetaValue("2.5", 1)), 2),
    ]
    # Every value offered filters the sheet to exactly the errors counted beside it.
    for key in choices:
        for value in key.values:
            filters = Filters(meta_key=key.key, meta_value=value.value)
            assert tally(session, data, filters).rows == value.errors, (key.key, value)


def test_only_the_most_common_values_of_a_key_are_offered(session: Session) -> None:
    lead = make_user(session)
    project = make_project(session, lead)
    run = make_run(session, project)
    for i in range(VALUES_OFFERED + 5):
        meta = {"file": f"f{i:03d}.png", "common": "yes" if i % 3 else "no"}
        make_prediction(session, run, make_sample(session, project, label="cat", meta=meta))
    data = load_run(session, project, run, seen_by=everything())
    by_key = {k.key: k for k in metadata_choices(session, data)}
    assert by_key["file"].distinct == VALUES_OFFERED + 5
    assert len(by_key["file"].values) == VALUES_OFFERED
    assert by_key["common"].values == (MetaValue("yes", 23), MetaValue("no", 12))


def test_a_metadata_filter_matches_the_text_it_shows_whatever_the_values_type(
    session: Session,
) -> None:
    """The filter's shortcut (`meta_matches`) keeps exactly the samples whose value reads
    as the filter's text (`meta_text`), which is Python's `str()` of a plain value: a
    number is not its text's boolean, a string "true" is not the boolean true."""
    lead = make_user(session)
    project = make_project(session, lead)
    values: list[object] = [
        "night", "1", "3", "true", "True", "None", "null", "", "[1]", "nan",
        1, 3, 3.0, 2.5, True, False, None, [1], {"w": 1},
    ]  # fmt: skip
    samples = [make_sample(session, project, meta={"k": v}) for v in values]
    samples.append(make_sample(session, project, meta={"other": 1}))
    dialect = session.get_bind().dialect.name
    ids = [s.id for s in samples]

    def kept(condition: Any) -> set[int]:
        return set(session.scalars(select(Sample.id).where(Sample.id.in_(ids), condition)))

    texts = {str(v) for v in values} | {"1.0", "3.0", "-0.0", "0", "false", "{}", "x"}
    for text in sorted(texts):
        shortcut = kept(meta_matches(dialect, "k", text))
        assert shortcut == kept(meta_text(dialect, "k") == text), text
        plain = {
            s.id for s, v in zip(samples, values, strict=False) if not isinstance(v, list | dict)
        }
        assert shortcut & plain == {
            s.id for s, v in zip(samples, values, strict=False) if s.id in plain and str(v) == text
        }, text
