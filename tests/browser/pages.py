"""A browser page signed in as someone, and watched for script errors: one way for every
browser test, so a change to the sign-in form is mended in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.domain.imports.demo import read_sign_ins


def demo_password(data_dir: Path, username: str) -> str:
    """The password `serve --demo` gave `username` (printed and kept in the data folder)."""
    return next(s.password for s in read_sign_ins(data_dir) if s.username == username)


def watch(page: Any, problems: list[str] | None = None) -> list[str]:
    """Script errors and Content-Security-Policy refusals on `page`, as they happen (added
    to `problems` when given, so several pages can share one list): a test asserts the
    list is empty when it ends."""
    problems = [] if problems is None else problems
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if "Refused to" in m.text else None)
    return problems


def sign_in(page: Any, base_url: str, username: str, password: str, *, home: bool = True) -> None:
    """Sign in through the form, as a person does; with `home`, wait for the projects page
    the form lands on (a first sign-in with a one-time password goes elsewhere). Found by
    their ids, not their words: the form is the same in every language."""
    page.goto(base_url + "/sign-in")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    if home:
        page.wait_for_url(base_url + "/")
