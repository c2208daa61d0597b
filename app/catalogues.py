"""Extracting the messages people read, and keeping each language's catalogue in step.

`make messages` runs this module: it extracts every message from the code (babel.cfg
says where and how) into app/locale/messages.pot and adds the new ones, untranslated,
to each language's catalogue, dropping those the code no longer says. The catalogue
test (tests/test_catalogue.py) extracts the same way and fails on any message missing
from a catalogue or left untranslated.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from app import i18n, resources

# The functions whose first arguments (and, for the plural ones, second) are messages.
KEYWORDS: dict[str, Any] = {
    "_": None,
    "pgettext": ((1, "c"), 2),
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "Eyeball.gettext": None,
    "Eyeball.ngettext": (1, 2),
}
TEMPLATE = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"
# Header lines that change on every run would only make merge conflicts.
_CHURN = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date|Generated-By): .*\n', re.MULTILINE)


def extracted(root: Path | None = None) -> Catalog:
    """Every message of the code under `root` (the checkout), as babel.cfg maps it."""
    root = root or resources.ROOT
    with open(root / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    catalogue = Catalog(domain=i18n.DOMAIN, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalogue.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalogue


def _write(path: Path, catalogue: Catalog, *, omit_header: bool = False) -> None:
    out = io.BytesIO()
    write_po(
        out,
        catalogue,
        width=0,
        omit_header=omit_header,
        sort_by_file=True,
        ignore_obsolete=True,
        include_lineno=False,  # a line number changes with every edit above it
    )
    path.write_bytes(_CHURN.sub(b"", out.getvalue()))


def update(root: Path | None = None) -> dict[str, int]:
    """Writes the template and brings every language's catalogue up to the code;
    returns how many messages each language still lacks."""
    template = extracted(root)
    _write(TEMPLATE, template, omit_header=True)
    lacking: dict[str, int] = {}
    for language in i18n.LANGUAGES:
        if language == i18n.ENGLISH:
            continue
        path = i18n.catalogue_path(language)
        with open(path, "rb") as po:
            catalogue = read_po(po, locale=language, domain=i18n.DOMAIN)
        catalogue.update(template, no_fuzzy_matching=True, update_header_comment=False)
        _write(path, catalogue)
        lacking[language] = len(untranslated(catalogue))
    return lacking


def untranslated(catalogue: Catalog) -> list[str]:
    """The messages of `catalogue` with no translation (or an empty plural form) or
    marked fuzzy: shown in English until someone translates them."""
    missing = []
    for message in catalogue:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple | list) else [message.string]
        if message.fuzzy or not all(forms):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def main() -> None:
    for language, count in update().items():
        path = i18n.catalogue_path(language).relative_to(resources.ROOT)
        note = f"{count} to translate in {path}" if count else "complete"
        print(f"{language}: {note}")
    sys.exit(0)


if __name__ == "__main__":
    main()
