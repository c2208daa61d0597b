"""Names people give things: projects, runs, causes and cause groups.

One rule for all of them, whichever way they arrive (a form, the API, an import, the
command line, the demo): runs of whitespace count as one space, and a name is neither
empty nor longer than MAX_NAME. A run named "v2  final" by an import and "v2 final"
on the runs page is then one run, not two.
"""

from __future__ import annotations

from app.domain.errors import InvalidInput

MAX_NAME = 120


def clean_name(text: str) -> str:
    return " ".join(text.split())


def name_problem(name: str, thing: str) -> str | None:
    """What is wrong with an already cleaned name of a `thing` ("project", "run"...)."""
    if not name:
        return f"Give the {thing} a name."
    if len(name) > MAX_NAME:
        return f"Keep the {thing} name under {MAX_NAME} characters."
    return None


def checked_name(text: str, thing: str) -> str:
    """The cleaned name, or InvalidInput saying what is wrong with it."""
    name = clean_name(text)
    problem = name_problem(name, thing)
    if problem is not None:
        raise InvalidInput({"name": problem})
    return name
