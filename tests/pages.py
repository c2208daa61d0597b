"""Pages parsed for assertions on elements: a missing element fails with its selector."""

from __future__ import annotations

from bs4 import BeautifulSoup, Tag


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def one(node: Tag, selector: str) -> Tag:
    """The first element under `node` that `selector` matches; the test fails if none does."""
    found = node.select_one(selector)
    assert found is not None, f"no element matches {selector!r}"
    return found


def attr(node: Tag, name: str) -> str:
    """A single-valued attribute (href, action, value...); `class` and its kind are lists."""
    value = node[name]
    assert isinstance(value, str), f"{name} of <{node.name}> is {value!r}"
    return value
