"""`json_passes` is the input rule's verdict on JSON without the paths: it must agree
with `json_problem` on every value, refused or not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.inputs import MAX_JSON_DEPTH, MAX_JSON_INT, json_passes, json_problem


def _nested(depth: int, container: type) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value] if container is list else {"k": value}
    return value


class _Text(str):
    pass


class _Whole(int):
    pass


EDGES: list[Any] = [
    _Text("a\x00"),
    _Text("fine"),
    _Whole(2**64),
    _Whole(3),
    {"k": [_Whole(2**64)]},
    "plain",
    "a\x00b",
    "a\ud800b",
    {"a\x00": 1},
    {"ok": ["x", {"deep": "\udfff"}]},
    MAX_JSON_INT,
    MAX_JSON_INT + 1,
    -MAX_JSON_INT - 1,
    float("inf"),
    float("nan"),
    1.5,
    True,
    None,
    [],
    {},
    *(
        _nested(depth, kind)
        for depth in range(MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH + 3)
        for kind in (list, dict)
    ),
]


@pytest.mark.parametrize("value", EDGES)
def test_json_passes_agrees_with_json_problem_on_the_edges(value: Any) -> None:
    assert json_passes(value) == (json_problem(value) is None)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0xE000)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(JSON)
def test_json_passes_agrees_with_json_problem(value: Any) -> None:
    assert json_passes(value) == (json_problem(value) is None)
