"""Names people give things: projects, runs, causes and cause groups.

One rule for all of them, whichever way they arrive (a form, the API, an import, the
command line, the demo): runs of whitespace count as one space, and a name is neither
empty nor longer than MAX_NAME. A run named "v2  final" by an import and "v2 final"
on the runs page is then one run, not two.
"""

from __future__ import annotations

from app.domain.errors import InvalidInput
from app.i18n import lazy_gettext

MAX_NAME = 120


def clean_name(text: str) -> str:
    return " ".join(text.split())


# What each thing's name is refused with: the thing is part of the sentence, which reads
# differently in each language.
_NO_NAME = {
    "project": lazy_gettext("Give the project a name."),
    "run": lazy_gettext("Give the run a name."),
    "cause": lazy_gettext("Give the cause a name."),
    "group": lazy_gettext("Give the group a name."),
    "module": lazy_gettext("Give the module a name."),
}
_TOO_LONG = {
    "project": lazy_gettext("Keep the project name under %(most)s characters."),
    "run": lazy_gettext("Keep the run name under %(most)s characters."),
    "cause": lazy_gettext("Keep the cause name under %(most)s characters."),
    "group": lazy_gettext("Keep the group name under %(most)s characters."),
    "module": lazy_gettext("Keep the module name under %(most)s characters."),
}


def name_problem(name: str, thing: str) -> str | None:
    """What is wrong with an already cleaned name of a `thing` ("project", "run"...)."""
    if not name:
        known = _NO_NAME.get(thing)
        return str(known) if known is not None else f"Give the {thing} a name."
    if len(name) > MAX_NAME:
        long = _TOO_LONG.get(thing)
        if long is None:
            return f"Keep the {thing} name under {MAX_NAME} characters."
        return str(long) % {"most": MAX_NAME}
    return None


def checked_name(text: str, thing: str) -> str:
    """The cleaned name, or InvalidInput saying what is wrong with it."""
    name = clean_name(text)
    problem = name_problem(name, thing)
    if problem is not None:
        raise InvalidInput({"name": problem})
    return name
