"""Every message people read is in each language's catalogue, translated (issue 18).

Extracted exactly as `make messages` does (app/catalogues.py), so a message added to a
template, the Python code or a script without running `make messages` fails here, as
does one left untranslated, marked fuzzy, or translated with other placeholders.
"""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from app import catalogues, i18n

LANGUAGES = [language for language in i18n.LANGUAGES if language != i18n.ENGLISH]


@pytest.fixture(scope="module")
def in_the_code() -> set[str]:
    return {_key(message.id) for message in catalogues.extracted() if message.id}


def _key(msgid: str | tuple[str, ...] | list[str]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _read(language: str) -> object:
    with open(i18n.catalogue_path(language), "rb") as po:
        return read_po(po, locale=language, domain=i18n.DOMAIN)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_code_is_in_the_catalogue(
    language: str, in_the_code: set[str]
) -> None:
    listed = {_key(message.id) for message in _read(language) if message.id}  # type: ignore[attr-defined]
    missing = sorted(in_the_code - listed)
    assert not missing, f"not in {language}'s catalogue (run `make messages`): {missing[:20]}"
    stale = sorted(listed - in_the_code)
    assert not stale, f"{language}'s catalogue holds messages the code no longer has: {stale[:20]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(language: str) -> None:
    missing = catalogues.untranslated(_read(language))  # type: ignore[arg-type]
    assert not missing, f"{len(missing)} untranslated in {language}: {missing[:20]}"


PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders_of_their_message(language: str) -> None:
    wrong = []
    for message in _read(language):  # type: ignore[attr-defined]
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set().union(*(PLACEHOLDER.findall(text) for text in ids))
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        for form in forms:
            if form and set(PLACEHOLDER.findall(form)) != wanted:
                wrong.append((_key(message.id), form))
    assert not wrong, f"placeholders differ: {wrong[:10]}"


def test_the_catalogue_compiles_and_translates() -> None:
    with i18n.speaking(i18n.CHINESE):
        assert i18n.gettext("Save") == "保存"
    with i18n.speaking(i18n.ENGLISH):
        assert i18n.gettext("Save") == "Save"
